"""Celery jobs on Lambda (console.runtime.lambda_jobs): messages published by ``.delay()`` /
``apply_async()`` through kombu's SQS transport to a real queue of the local AWS, received
as Lambda's event source receives them, and run by the worker function's handler in this
process, as the worker function runs them."""

import json
import threading
import time
import uuid

import pytest
from celery.exceptions import Reject

from console.aws import clients as aws
from console.devtools.local_consumer import LambdaContext, lambda_sqs_event
from console.runtime import deadlines, lambda_jobs
from console.runtime.celery import app
from ops.models import TaskFailure

pytestmark = [pytest.mark.stack, pytest.mark.django_db]

RUNS: list[tuple] = []


@app.task(name="tests.lambda_jobs.record", bind=True)
def record(self, value, *, note=""):
    RUNS.append(("record", value, note, self.request.retries, self.request.id, deadlines.seconds_left()))
    return value


@app.task(name="tests.lambda_jobs.flaky", autoretry_for=(ConnectionError,), max_retries=2, default_retry_delay=1)
def flaky(value):
    RUNS.append(("flaky", value))
    raise ConnectionError(f"provider down for {value}")


@app.task(name="tests.lambda_jobs.requeue")
def requeue():
    RUNS.append(("requeue",))
    raise Reject("not now", requeue=True)


@pytest.fixture
def queue(local_aws):
    """A queue of the stage with its own dead-letter queue (kombu publishes to it by name),
    out of reach of the stack's consumer."""
    sqs = aws.client("sqs")
    name = f"lj-{uuid.uuid4().hex[:8]}"
    prefix = "ops-console-dev-"
    dlq_url = sqs.create_queue(QueueName=f"{prefix}{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=f"{prefix}{name}",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    RUNS.clear()
    lambda_jobs.reset_cache()
    yield {"name": name, "url": url, "dlq_url": dlq_url}
    RUNS.clear()


def receive(url: str, wait: int = 2) -> list[dict]:
    return (
        aws.client("sqs")
        .receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        .get("Messages", [])
    )


def deliver(queue: dict, messages: list[dict], remaining_seconds: float = 900) -> dict:
    """The worker function's invocation for a batch, as Lambda's event source makes it."""
    arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    event = lambda_sqs_event(messages, arn, "us-east-1")
    return lambda_jobs.celery_jobs(event, LambdaContext("ops-console-dev-worker", remaining_seconds))


def envelope(message: dict) -> dict:
    return lambda_jobs.decode_envelope(message["Body"])


def test_a_delayed_task_runs_with_its_arguments_and_request(queue):
    result = record.apply_async(args=[41], kwargs={"note": "hello"}, queue=queue["name"])
    [message] = receive(queue["url"])

    assert deliver(queue, [message]) == {"batchItemFailures": []}

    [(name, value, note, retries, task_id, left)] = RUNS
    assert (name, value, note, retries, task_id) == ("record", 41, "hello", 0, result.id)
    # The job knows how long its invocation has left (the function's 900 s timeout).
    assert 890 < left <= 900


def test_retries_follow_the_tasks_policy_through_sqs_delays_then_the_dead_letter_queue(queue):
    flaky.apply_async(args=["acme"], queue=queue["name"])
    attempts = []
    for _ in range(3):
        [message] = receive(queue["url"], wait=5)
        attempts.append(envelope(message)["headers"])
        published = time.monotonic()
        assert deliver(queue, [message]) == {"batchItemFailures": []}
        if len(attempts) < 3:
            # The next attempt is a new message, delayed by the retry's countdown (1 s) in SQS.
            assert receive(queue["url"], wait=0) == []
            assert time.monotonic() - published < 1
    assert [headers["retries"] for headers in attempts] == [0, 1, 2]
    assert len({headers["id"] for headers in attempts}) == 1
    assert RUNS == [("flaky", "acme")] * 3

    # Retries spent: the last message went to the queue's DLQ as it came, nothing is left.
    [dead] = receive(queue["dlq_url"])
    assert envelope(dead)["headers"]["retries"] == 2 and envelope(dead)["headers"]["task"] == "tests.lambda_jobs.flaky"
    assert receive(queue["url"], wait=1) == []
    failure = TaskFailure.objects.get(task_id=attempts[0]["id"])
    assert failure.task == "tests.lambda_jobs.flaky" and failure.error_type == "ConnectionError"


def test_a_countdown_beyond_sqs_delays_is_waited_out_in_hops(queue):
    sqs = aws.client("sqs")
    # Published without SQS's delay (as a message from another producer could be): due in an hour.
    record.apply_async(args=[1], countdown=3600, delay_seconds=0, queue=queue["name"])
    [message] = receive(queue["url"])

    assert deliver(queue, [message]) == {"batchItemFailures": []}

    assert RUNS == []
    attributes = sqs.get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["All"])["Attributes"]
    # Sent again with SQS's longest delay; the copy received here was done.
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_a_countdown_within_sqs_delays_is_sqs_own(queue):
    record.apply_async(args=[2], countdown=2, queue=queue["name"])
    assert receive(queue["url"], wait=0) == []
    [message] = receive(queue["url"], wait=5)
    deliver(queue, [message])
    assert [run[1] for run in RUNS] == [2]


def test_unknown_tasks_and_foreign_messages_go_to_the_dead_letter_queue_unchanged(queue):
    sqs = aws.client("sqs")
    app.send_task("tests.lambda_jobs.not_deployed_yet", args=[1], queue=queue["name"])
    sqs.send_message(
        QueueUrl=queue["url"],
        MessageBody='{"hello": "not a celery task"}',
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "elsewhere"}},
    )
    messages = []
    while len(messages) < 2:
        messages += receive(queue["url"])

    assert deliver(queue, messages) == {"batchItemFailures": []}

    dead = {m["Body"]: m for m in receive(queue["dlq_url"]) + receive(queue["dlq_url"], wait=1)}
    assert set(dead) == {m["Body"] for m in messages}
    assert dead['{"hello": "not a celery task"}']["MessageAttributes"]["origin"]["StringValue"] == "elsewhere"


def test_an_expired_task_is_dropped_as_a_worker_revokes_it(queue):
    record.apply_async(args=[3], expires=1, queue=queue["name"])
    [message] = receive(queue["url"])
    time.sleep(1.2)
    assert deliver(queue, [message]) == {"batchItemFailures": []}
    assert RUNS == [] and receive(queue["dlq_url"], wait=0) == []


def test_a_requeued_rejection_and_too_little_time_leave_the_message_to_sqs(queue):
    requeue.apply_async(queue=queue["name"])
    record.apply_async(args=[4], queue=queue["name"])
    messages = []
    while len(messages) < 2:
        messages += receive(queue["url"])
    by_task = {envelope(m)["headers"]["task"]: m for m in messages}

    result = deliver(queue, [by_task["tests.lambda_jobs.requeue"]])
    assert result == {"batchItemFailures": [{"itemIdentifier": by_task["tests.lambda_jobs.requeue"]["MessageId"]}]}
    assert RUNS == [("requeue",)]

    # 20 s left: not enough to start a job (it would be killed halfway).
    result = deliver(queue, [by_task["tests.lambda_jobs.record"]], remaining_seconds=20)
    assert result == {"batchItemFailures": [{"itemIdentifier": by_task["tests.lambda_jobs.record"]["MessageId"]}]}
    assert RUNS == [("requeue",)]
    assert receive(queue["dlq_url"], wait=0) == []


def test_seconds_left_is_none_outside_a_lambda_invocation():
    assert deadlines.seconds_left() is None
    seen = []
    thread = threading.Thread(target=lambda: seen.append(deadlines.seconds_left()))
    thread.start()
    thread.join()
    assert seen == [None]
