"""Recording failed jobs (ops.failures, through ops.tasks' Celery signals), from real task
runs in both runtimes: the worker function's handler (console.runtime.lambda_jobs, run
here on messages kombu published to a real queue of the local AWS) and a Celery worker
process (the ``make run CELERY_WORKER=1`` option)."""

import json
import re
import subprocess
import uuid
from decimal import Decimal

import pytest

from console.aws import clients as aws
from console.devtools import devstack
from console.devtools.local_consumer import LambdaContext, lambda_sqs_event
from console.runtime import lambda_jobs
from console.runtime.celery import app
from ops.failures import task_failure_record, task_failure_succeeded
from ops.models import TaskFailure
from orders.services import order_create
from tests.conftest import BASE_DIR, make_user, stack_env, wait_for

ATTEMPTS: dict[str, int] = {}


@app.task(name="tests.failures.charge")
def charge(order_id, amount, *, currency="EUR"):
    raise ValueError(f"card declined for {order_id}")


@app.task(name="tests.failures.flaky", autoretry_for=(ConnectionError,), max_retries=2, default_retry_delay=1)
def flaky(key):
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= int(key.split("-")[0]):
        raise ConnectionError(f"provider down (attempt {ATTEMPTS[key]})")
    return key


def _order():
    return order_create(
        user_id="failures",
        items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": Decimal("5.00")}],
        start_workflow=False,
    )


@pytest.fixture
def queue(local_aws):
    """A queue of the stage with its own DLQ, out of reach of the stack's consumer."""
    sqs = aws.client("sqs")
    name = f"fj-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"ops-console-dev-{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=f"ops-console-dev-{name}",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    lambda_jobs.reset_cache()
    ATTEMPTS.clear()
    yield {"name": name, "url": url, "dlq_url": dlq_url}


def _deliver_next(queue: dict, wait: int = 5) -> dict:
    """Receive the queue's next message and run it as the worker function does."""
    sqs = aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue["url"], MaxNumberOfMessages=1, WaitTimeSeconds=wait, AttributeNames=["All"]
    ).get("Messages", [])
    assert messages, "no message arrived"
    arn = sqs.get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return lambda_jobs.celery_jobs(
        lambda_sqs_event(messages, arn, "us-east-1"), LambdaContext("ops-console-dev-worker", 900)
    )


# --- The worker function -------------------------------------------------------------------------


@pytest.mark.stack
@pytest.mark.django_db
def test_a_task_that_fails_on_the_worker_function_is_recorded_failed_for_good_with_its_order(queue):
    order = _order()
    result = charge.apply_async(args=[str(order.pk), 12.5], kwargs={"currency": "USD"}, queue=queue["name"])

    assert _deliver_next(queue) == {"batchItemFailures": []}

    failure = TaskFailure.objects.get(task_id=result.id)
    assert failure.task == "tests.failures.charge"
    assert failure.status == TaskFailure.Status.FAILED
    assert (failure.args, failure.kwargs) == ([str(order.pk), 12.5], {"currency": "USD"})
    assert (failure.error_type, failure.error) == ("ValueError", f"card declined for {order.pk}")
    assert 'raise ValueError(f"card declined' in failure.traceback
    # It does not retry: Celery's default limit (3) is not its policy.
    assert (failure.attempts, failure.max_retries) == (1, 0)
    assert failure.order_id == order.pk
    assert failure.worker == "ops-console-dev-worker"


@pytest.mark.stack
@pytest.mark.django_db
def test_a_failure_celery_retries_is_told_apart_until_the_retries_are_spent(queue):
    result = flaky.apply_async(args=["9-always"], queue=queue["name"])

    _deliver_next(queue)
    failure = TaskFailure.objects.get(task_id=result.id)
    assert failure.status == TaskFailure.Status.RETRYING
    assert (failure.attempts, failure.error) == (1, "provider down (attempt 1)")

    _deliver_next(queue)
    _deliver_next(queue)
    failure.refresh_from_db()
    assert failure.status == TaskFailure.Status.FAILED
    assert (failure.attempts, failure.max_retries, failure.error) == (3, 2, "provider down (attempt 3)")
    # No order among its arguments.
    assert failure.order_id is None


@pytest.mark.stack
@pytest.mark.django_db
def test_a_later_attempt_that_succeeds_resolves_the_recorded_failure(queue):
    result = flaky.apply_async(args=["1-then-fine"], queue=queue["name"])
    _deliver_next(queue)
    assert TaskFailure.objects.get(task_id=result.id).status == TaskFailure.Status.RETRYING

    _deliver_next(queue)

    failure = TaskFailure.objects.get(task_id=result.id)
    assert failure.status == TaskFailure.Status.RESOLVED
    assert failure.resolution == "Succeeded on attempt 2."


# --- A Celery worker process -----------------------------------------------------------------------


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_task_that_fails_in_a_celery_worker_is_recorded_the_same_way(local_aws, artifacts_dir):
    # An order export for someone who may not export: the job refuses (no retries).
    order = _order()
    user = make_user(f"no-export-{uuid.uuid4().hex[:6]}", None)
    queue = "failed-jobs-worker"
    log_path = artifacts_dir / "failed-jobs-worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            devstack.worker_command(concurrency=1, queue=queue),
            cwd=BASE_DIR,
            env=stack_env(local_aws),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "ready." in log_path.read_text(), timeout=60, what="the Celery worker")
        sent = app.send_task(
            "orders.export_to_file", args=[user.pk, f"q={order.pk}", "exports/orders/x.csv"], queue=queue
        )
        failure = wait_for(
            lambda: TaskFailure.objects.filter(task_id=sent.id).first(), timeout=60, what="the failure record"
        )
    finally:
        devstack.stop_process(worker)

    assert failure.task == "orders.export_to_file"
    assert failure.status == TaskFailure.Status.FAILED
    assert failure.error_type == "ExportRefused"
    assert failure.args == [user.pk, f"q={order.pk}", "exports/orders/x.csv"]
    # Its filter names the order: the job is linked to it, as on the worker function.
    assert failure.order_id == order.pk
    assert re.match(r"celery@", failure.worker)


# --- The rules of a record ----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_argument_named_order_id_wins_over_other_ids_and_unknown_ids_link_nothing():
    first, second = _order(), _order()

    named = task_failure_record(
        task_id="t-1",
        task="x.y",
        error_type="E",
        error="e",
        traceback="",
        retries=0,
        args=[str(first.pk), str(second.pk)],
        parameters=["customer_ref", "order_id"],
    )
    unknown = task_failure_record(
        task_id="t-2", task="x.y", error_type="E", error="e", traceback="", retries=0, args=[str(uuid.uuid4())]
    )

    assert named.order_id == second.pk
    assert unknown.order_id is None


@pytest.mark.django_db
def test_a_retry_that_fails_again_points_back_and_one_that_succeeds_resolves_the_original():
    original = task_failure_record(task_id="orig", task="x.y", error_type="E", error="e", traceback="", retries=0)
    TaskFailure.objects.filter(pk=original.pk).update(status=TaskFailure.Status.RETRIED, retry_task_id="again")

    again = task_failure_record(task_id="again", task="x.y", error_type="E", error="e2", traceback="", retries=0)
    assert again.retry_of == original

    TaskFailure.objects.filter(pk=original.pk).update(retry_task_id="third")
    assert task_failure_succeeded(task_id="third") == 1
    original.refresh_from_db()
    assert original.status == TaskFailure.Status.RESOLVED
    assert original.resolution == "Its retry (task third) succeeded."
    # The retry that failed is still failed: it is a job of its own.
    assert TaskFailure.objects.get(task_id="again").status == TaskFailure.Status.FAILED
