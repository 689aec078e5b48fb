import json
import uuid

from django.core.management.base import BaseCommand

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.runtime.celery import app
from orders.models import Order


class Command(BaseCommand):
    help = "Dead-letter a few realistic messages and set off a DLQ alarm on the local AWS (make run's demo)."

    def handle(self, *args, **options):
        sqs = aws.client("sqs")
        order = Order.objects.order_by("created_at").first()
        order_id = str(order.pk) if order else str(uuid.uuid4())
        # A Celery job, exactly as the worker's broker carries it, parked in a queue whose
        # consumer gave up: it dead-letters into jobs-dlq on the next receive.
        dlq_arn = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=resource_name("jobs-dlq"))["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        lost = sqs.create_queue(
            QueueName=resource_name("demo-lost-jobs"),
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
            },
        )["QueueUrl"]
        for _ in range(3):
            app.send_task("workflows.order_workflow_start", args=[order_id], queue="demo-lost-jobs")
        for _ in range(3):
            sqs.receive_message(QueueUrl=lost, MaxNumberOfMessages=10)
        # A workflow step task whose handler kept failing.
        sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName=resource_name("steps-dlq"))["QueueUrl"],
            MessageBody=json.dumps(
                {
                    "step": "ProcessPayment",
                    "orderId": order_id,
                    "taskToken": "AAAAKgAAAAIAAAAAAAAAA" + uuid.uuid4().hex * 8,
                    "executionArn": "arn:aws:states:us-east-1:123456789012:execution:"
                    f"{resource_name('order-processing')}:order-{order_id}",
                }
            ),
        )
        alarm = resource_name("steps-dlq-depth")
        aws.client("cloudwatch").set_alarm_state(
            AlarmName=alarm, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [1.0] > 0.0"
        )
        aws.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.cloudwatch",
                    "DetailType": "CloudWatch Alarm State Change",
                    "Resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"],
                    "Detail": json.dumps(
                        {
                            "alarmName": alarm,
                            "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 datapoint [1.0] > 0.0"},
                            "previousState": {"value": "OK", "reason": ""},
                        }
                    ),
                }
            ]
        )
        self.stdout.write("  dead-lettered 3 Celery jobs and 1 step task; the steps DLQ alarm is in ALARM")
