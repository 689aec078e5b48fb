"""The local stand-in for Lambda: the stage's functions from zappa_settings.json, their
execution environments, SQS event sources and schedules, against the local AWS."""

import json
import os
import threading
import time

import pytest

from console.aws import clients as aws
from console.devtools.local_consumer import (
    FunctionEnvironments,
    InvocationFailed,
    LocalFunction,
    QueuePoller,
    Schedule,
    Scheduler,
    SqsRoute,
    local_concurrency,
    sqs_routes,
    stage_functions,
)
from console.runtime.stage import zappa_stage_settings

# The poller closes stale database connections around each batch, as on Lambda.
pytestmark = [pytest.mark.stack, pytest.mark.django_db]


def test_routes_come_from_zappa_settings_for_every_stage():
    for stage in ("dev", "prod"):
        routes = {route.function: route.queue_name for route in sqs_routes(stage)}
        assert routes["workflows.handlers.step_tasks"] == f"ops-console-{stage}-steps"
        assert routes["workflows.handlers.approval_tasks"] == f"ops-console-{stage}-approvals"
        assert routes["console.runtime.lambda_jobs.celery_jobs"] == f"ops-console-{stage}-jobs"
    assert zappa_stage_settings("prod")["runtime"] == "python3.12"  # inherited from dev
    assert zappa_stage_settings("prod-worker")["memory_size"] == 1536  # inherited from prod, which extends dev


def test_a_stage_has_an_api_function_and_a_worker_function_as_zappa_deploys_them():
    api, worker = stage_functions("dev")
    assert (api.name, api.zappa_stage, api.timeout_seconds) == ("ops-console-dev", "dev", 30)
    assert (worker.name, worker.zappa_stage, worker.timeout_seconds) == ("ops-console-dev-worker", "dev-worker", 900)
    assert worker.reserved_concurrency == zappa_stage_settings("dev-worker")["lambda_concurrency"]
    assert {route.queue_name for route in worker.routes} >= {"ops-console-dev-jobs", "ops-console-dev-jobs-dlq"}
    assert [route.batch_size for route in worker.routes if route.queue_name == "ops-console-dev-jobs"] == [1]
    # Schedules that may run long run on the worker; the API function keeps API Gateway's 30 s.
    assert api.schedules == () and {s.function for s in worker.schedules} >= {
        "workflows.handlers.sweep_workflows",
        "orders.imports.handlers.resume_stalled_imports",
        "orders.outbox.publish_pending_events",
    }
    assert api.dead_letter_arn == worker.dead_letter_arn and api.dead_letter_arn.endswith(":ops-console-dev-async-dlq")


def test_local_concurrency_never_exceeds_the_reserved_concurrency(monkeypatch):
    function = LocalFunction("f", "dev-worker", 900, 1, "")
    monkeypatch.setenv("LOCAL_LAMBDA_CONCURRENCY", "4")
    assert local_concurrency(function) == 1
    assert local_concurrency(LocalFunction("g", "dev", 30, None, "")) == 4


TARGETS = "tests.console.local_lambda_targets"


@pytest.fixture
def environments():
    """A function with a 2 s timeout and two execution environments."""
    pool = FunctionEnvironments(LocalFunction("ops-console-test", "test", 2, None, ""), size=2)
    yield pool
    pool.close()


def test_invocations_run_in_warm_environments_of_their_own(environments):
    first = environments.invoke(f"{TARGETS}.pid", {}, source="test")
    second = environments.invoke(f"{TARGETS}.pid", {}, source="test")
    assert first["pid"] != os.getpid() and first["pid"] == second["pid"]  # reused, not started again
    assert first["name"] == "ops-console-test" and 0 < first["remaining_ms"] <= 2000


def test_at_most_the_pool_size_runs_at_once(environments):
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(environments.invoke(f"{TARGETS}.sleep", {"seconds": 0.8}, source="t"))
        )
        for _ in range(3)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len({r["pid"] for r in results}) == 2  # two environments served three invocations
    assert elapsed >= 1.6  # the third waited for a free one


def test_an_invocation_past_the_timeout_is_killed_with_its_environment(environments):
    before = environments.invoke(f"{TARGETS}.pid", {}, source="test")["pid"]
    with pytest.raises(InvocationFailed, match="timed out"):
        environments.invoke(f"{TARGETS}.sleep", {"seconds": 30}, source="test")
    after = environments.invoke(f"{TARGETS}.pid", {}, source="test")["pid"]
    assert after != before
    with pytest.raises(ProcessLookupError):
        os.kill(before, 0)


def test_an_exception_fails_the_invocation_and_keeps_the_environment(environments):
    before = environments.invoke(f"{TARGETS}.pid", {}, source="test")["pid"]
    with pytest.raises(InvocationFailed, match="ValueError: bad event 7"):
        environments.invoke(f"{TARGETS}.fail", {"n": 7}, source="test")
    assert environments.invoke(f"{TARGETS}.pid", {}, source="test")["pid"] == before


def handler_failing_odd_bodies(event, context):
    handler_failing_odd_bodies.events.append(event)
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record in event["Records"] if int(record["body"]) % 2
        ]
    }


def test_a_batch_is_delivered_lambda_shaped_and_only_reported_failures_stay(local_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="consumer-test", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for number in range(4):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=str(number),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )
    handler_failing_odd_bodies.events = []
    poller = QueuePoller(SqsRoute(f"{__name__}.handler_failing_odd_bodies", "consumer-test", 10), threading.Event())
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    deleted = 0
    while sum(len(e["Records"]) for e in handler_failing_odd_bodies.events) < 4:
        deleted += poller.poll_once(sqs, handler_failing_odd_bodies, url, arn)

    record = handler_failing_odd_bodies.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "binaryValue": None,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert deleted == 2
    remaining = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert sorted(int(m["Body"]) for m in remaining) == [1, 3]


def handler_that_raises(event, context):
    raise RuntimeError("boom")


def test_a_function_that_raises_leaves_the_whole_batch(local_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="consumer-raise", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"x": 1}))
    poller = QueuePoller(SqsRoute(f"{__name__}.handler_that_raises", "consumer-raise", 10), threading.Event())
    assert poller.poll_once(sqs, handler_that_raises, url, "arn") == 0
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")


def test_schedules_come_from_zappa_settings():
    from console.devtools.local_consumer import schedules

    assert any(
        s.function == "workflows.handlers.start_missing_executions" and s.seconds == 300 for s in schedules("dev")
    )


def test_a_queue_gets_more_pollers_while_its_polls_come_back_full(local_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="consumer-scale")["QueueUrl"]
    for start in range(0, 30, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(start, start + 10)]
        )
    seen, threads = [], set()
    lock = threading.Lock()

    def slow(event, context):
        with lock:
            seen.extend(r["body"] for r in event["Records"])
            threads.add(threading.get_ident())
        time.sleep(0.3)
        return {"batchItemFailures": []}

    stop = threading.Event()
    poller = QueuePoller(SqsRoute("slow", "consumer-scale", 1), stop, wait_seconds=0, function=slow, max_pollers=3)
    poller.start()
    try:
        deadline = time.monotonic() + 30
        while len(set(seen)) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        poller.join(5)
    assert len(set(seen)) == 30
    assert len(threads) == 3  # the first poller and two extras, never more


def test_a_failed_scheduled_invocation_is_retried_then_dead_lettered_as_lambda_does(local_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="consumer-async-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    calls = []

    def failing(event, context):
        calls.append(event["id"])
        raise RuntimeError("database unreachable")

    scheduler = Scheduler(
        Schedule("ops.handlers.refresh", 60),
        threading.Event(),
        function=failing,
        dead_letter_arn=arn,
        retry_delays=(0.1, 0.2),
    )
    scheduler.invoke(failing, {"id": "evt-1", "source": "aws.events"}, attempt=0)

    messages = []
    deadline = time.monotonic() + 10
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
    assert calls == ["evt-1"] * 3  # the invocation and Lambda's two retries
    [message] = messages
    assert json.loads(message["Body"]) == {"id": "evt-1", "source": "aws.events"}
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"] == "database unreachable"
