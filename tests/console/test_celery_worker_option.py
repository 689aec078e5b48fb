"""The Celery worker option (``make run CELERY_WORKER=1``; workers on ECS or EC2): a real
worker process runs the app's jobs from SQS, and the consumer then leaves the jobs queue
to it, so each queue keeps exactly one consumer."""

import re
import subprocess
import threading

import pytest

from console.devtools import devstack
from console.devtools.local_consumer import consume
from orders.services import order_create
from tests.conftest import BASE_DIR, stack_env, wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_celery_worker_runs_the_apps_jobs_from_sqs(local_aws, artifacts_dir):
    from decimal import Decimal

    from workflows.models import Execution
    from workflows.tasks import order_workflow_start

    # Its own queue of the stage: the session's consumer (if running) reads the jobs queue.
    queue = "celery-option"
    log_path = artifacts_dir / "celery-worker.log"
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
        order = order_create(
            user_id="celery-option",
            items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": Decimal("5.00")}],
            start_workflow=False,
        )
        order_workflow_start.apply_async(args=[str(order.pk)], queue=queue)
        execution = wait_for(
            lambda: Execution.objects.filter(order=order).exclude(arn="").first(), timeout=60, what="the job to run"
        )
        assert execution.arn.endswith(f"order-{order.pk}")
        # The worker logs the task's end just after the task has written the execution.
        wait_for(
            lambda: re.search(r"Task workflows.order_workflow_start\[[0-9a-f-]+\] succeeded", log_path.read_text()),
            timeout=10,
            what="the worker to log the task's success",
        )
    finally:
        devstack.stop_process(worker)


def test_with_a_celery_worker_the_consumer_leaves_the_jobs_queue_to_it(local_aws):
    stop = threading.Event()
    started = consume(stop, skip_queues={"ops-console-dev-jobs"})
    try:
        polled = {item.route.queue_name for item in started if hasattr(item, "route")}
        assert "ops-console-dev-jobs" not in polled
        assert {"ops-console-dev-jobs-dlq", "ops-console-dev-steps"} <= polled
    finally:
        stop.set()
        for item in started:
            if isinstance(item, threading.Thread):
                item.join(5)
            else:
                item.close()
