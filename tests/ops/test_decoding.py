"""Decoding dead letters: messages produced by the real producers (Celery's send_task on the
SQS broker, Zappa's own async dispatch, SNS, S3, the workflow), dead-lettered on the local
AWS and archived by the consumer the stack runs from zappa_settings.json."""

import json
import uuid
from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber

from console.aws import clients as aws
from console.aws.resources import resource_name
from ops import decoding
from ops.models import DeadLetter, TaskFailure
from orders.services import order_create
from tests.aws_samples import aws_event_text
from tests.conftest import wait_for
from tests.ops.conftest import archived, dead_letter_source, drain, fail_once, queue_url

WIDGET = [{"product_id": "p1", "name": "Widget", "quantity": 1, "price": Decimal("5.00")}]


def zappa_task_for_tests(order_id: str, *, note: str = "") -> None:
    """The function a Zappa @task would run (only its path is serialised)."""


# --- Without the stack: what the decoder makes of each envelope -----------------------------


def test_an_s3_event_decodes_to_its_objects_with_keys_unquoted():
    body = aws_event_text("s3-object-created.json")
    record = json.loads(body)
    record["Records"][0]["s3"]["object"]["key"] = "incoming/orders+batch%2F7.csv"
    decoded = decoding.decode(json.dumps(record))
    assert decoded.kind == "s3"
    assert decoded.task == "s3:ObjectCreated:Put"
    assert decoded.summary["objects"][0]["key"] == "incoming/orders batch/7.csv"


def test_a_step_functions_task_message_never_keeps_its_token():
    # The body the workflow's ValidateOrder task sends (workflows/definitions/order-processing.asl.json).
    order_id = str(uuid.uuid4())
    token = "AAAAKgAAAAIAAAAAAAAAA" + "x" * 600 + "tail"
    body = json.dumps(
        {
            "step": "ValidateOrder",
            "orderId": order_id,
            "taskToken": token,
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:"
            f"ops-console-dev-order-processing:order-{order_id}",
        }
    )
    decoded = decoding.decode(body)
    assert decoded.kind == "stepfunctions" and decoded.task == "ValidateOrder"
    assert decoded.order_candidates == [order_id]
    assert decoded.task_id == f"order-{order_id}"
    assert token not in json.dumps(decoded.summary)
    assert decoded.summary["taskToken"].startswith("AAAAKg…tail")
    assert token not in decoding.redact(body) and "AAAAKg…tail" in decoding.redact(body)


def test_unreadable_bodies_decode_as_text_and_group_by_normalised_error():
    decoded = decoding.decode("\x00 not json at all")
    assert decoded.kind == "unknown" and decoded.summary["text"].startswith("\x00")
    assert decoding.fingerprint("celery", "t", "KeyError", "key 123 missing") == decoding.fingerprint(
        "celery", "t", "KeyError", "key 456 missing"
    )
    assert decoding.fingerprint("celery", "t", "KeyError", "a") != decoding.fingerprint(
        "celery", "t", "ValueError", "a"
    )


# --- On the stack: real producers, real dead-lettering, the real archiver ---------------------


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_dead_lettered_celery_task_is_archived_decoded_with_its_last_exception(stack):
    from console.runtime.celery import app

    task_id = str(uuid.uuid4())
    # The worker function runs the task once and it fails for good (no retries): its failure
    # signal records the exception, and the message goes to the jobs DLQ as it came.
    app.send_task("ops.redrive_run", args=["not-a-job"], task_id=task_id)
    failure = wait_for(lambda: TaskFailure.objects.filter(task_id=task_id).first(), what="the worker's failure")
    assert failure.error_type == "ValidationError"

    # The same task message dead-letters from a queue whose consumer keeps failing.
    url = dead_letter_source(resource_name("decode-jobs"), resource_name("jobs-dlq"))
    app.send_task("ops.redrive_run", args=["not-a-job"], task_id=task_id, queue="decode-jobs")
    fail_once(url)

    copies = wait_for(
        lambda: len(rows := [m for m in archived(resource_name("jobs-dlq"), 1) if m.task_id == task_id]) == 2 and rows,
        what="both copies in the archive",
    )
    by_route = {m.summary["routingKey"]: m for m in copies}
    assert set(by_route) == {"jobs", "decode-jobs"}
    for message in copies:
        assert message.kind == DeadLetter.Kind.CELERY
        assert message.task == "ops.redrive_run"
        assert message.summary["args"] == ["not-a-job"] and message.summary["retries"] == 0
        assert message.error_type == "ValidationError" and "not-a-job" in message.error
    assert by_route["decode-jobs"].source_queue in ("", resource_name("decode-jobs"))
    # Archived, not left in SQS: browsing it costs no receive and hides nothing.
    assert drain(resource_name("jobs-dlq")) == []


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_zappa_async_payloads_from_lambda_and_from_sns_decode_to_their_task(stack, monkeypatch):
    from zappa.asynchronous import LambdaAsyncResponse, get_func_task_path, run

    order = order_create(user_id="zappa-customer", items=WIDGET, start_workflow=False)
    session = boto3.session.Session(region_name="us-east-1")
    task_path = get_func_task_path(zappa_task_for_tests)

    # 1. Lambda dispatch: Zappa invokes the function asynchronously (captured with a Stubber,
    # moto cannot run Lambda here); Lambda puts the failed event in its DLQ with the error.
    dispatcher = LambdaAsyncResponse(
        lambda_function_name="ops-console-dev", aws_region="us-east-1", boto_session=session
    )
    dispatcher.client = session.client("lambda", region_name="us-east-1")
    payloads = []
    dispatcher.client.meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: payloads.append(params["Payload"])
    )
    with Stubber(dispatcher.client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "ops-console-dev", "InvocationType": "Event", "Payload": ANY},
        )
        dispatcher.send(task_path, [str(order.pk)], {"note": "from lambda"})
    aws.client("sqs").send_message(
        QueueUrl=queue_url(resource_name("async-dlq")),
        MessageBody=payloads[0],
        MessageAttributes={
            "RequestID": {"DataType": "String", "StringValue": "4f5e-request"},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "KeyError: 'sku' in zappa_task_for_tests"},
        },
    )

    # 2. SNS dispatch: Zappa publishes to a topic; the subscribed queue dead-letters it.
    sns = aws.client("sns")
    topic_arn = sns.create_topic(Name=resource_name("zappa-tasks"))["TopicArn"]
    url = dead_letter_source(resource_name("zappa-tasks-queue"), resource_name("async-dlq"))
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    # boto3 honours AWS_ENDPOINT_URL: Zappa's own SNS client talks to the local AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)
    endpoint_session = boto3.session.Session(region_name="us-east-1")
    run(
        zappa_task_for_tests,
        [str(order.pk)],
        {"note": "from sns"},
        service="sns",
        arn=topic_arn,
        boto_session=endpoint_session,
        remote_aws_lambda_function_name="ops-console-dev",
        remote_aws_region="us-east-1",
    )
    fail_once(url)

    messages = {
        m.summary.get("kwargs", {}).get("note") or m.summary.get("inner", {}).get("kwargs", {}).get("note"): m
        for m in archived(resource_name("async-dlq"), 2)
    }
    from_lambda, from_sns = messages["from lambda"], messages["from sns"]
    assert from_lambda.kind == DeadLetter.Kind.ZAPPA and from_lambda.task == task_path
    assert from_lambda.summary["dispatch"] == "lambda" and from_lambda.summary["args"] == [str(order.pk)]
    assert (
        from_lambda.error == "KeyError: 'sku' in zappa_task_for_tests"
        and from_lambda.summary["lambdaRequestId"] == "4f5e-request"
    )
    assert from_lambda.order_id == order.pk
    assert from_sns.kind == DeadLetter.Kind.SNS and from_sns.task == task_path
    assert from_sns.summary["topic"] == resource_name("zappa-tasks") and from_sns.summary["inner"]["dispatch"] == "sns"
    assert from_sns.order_id == order.pk
    # A Lambda-fed DLQ keeps its message attributes for a redrive.
    assert from_lambda.message_attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
