"""The queue handlers, fed Lambda-shaped SQS events."""

import json
from unittest import mock

import pytest

from orders.lifecycle import OrderStatus
from tests.aws_samples import aws_event
from tests.factories import OrderFactory
from workflows import handlers
from workflows.models import Approval, StepRun

pytestmark = pytest.mark.django_db
EXECUTION_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:ops-console-dev-order-processing"


def sqs_event(*bodies: dict | str) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"r-{index}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ops-console-dev-steps",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def task(step: str, order, token: str = "tok", **extra) -> dict:
    return {
        "step": step,
        "orderId": str(order.pk),
        "taskToken": token,
        "executionArn": f"{EXECUTION_PREFIX}:order-{order.pk}",
        **extra,
    }


def test_the_real_sqs_sample_is_reported_as_failures_not_acknowledged():
    """Messages that are not workflow tasks must not be silently dropped."""
    event = aws_event("sqs-batch.json")
    result = handlers.step_tasks(event)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [r["messageId"] for r in event["Records"]]


def test_one_bad_message_does_not_fail_the_batch():
    order = OrderFactory()
    with mock.patch("workflows.sfn.send_task_success") as send:
        result = handlers.step_tasks(sqs_event("not json", task("ValidateOrder", order), task("Teleport", order, "t2")))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-2"}]}
    send.assert_called_once_with(task_token="tok", output={"valid": True})
    order.refresh_from_db()
    assert order.status == OrderStatus.VALIDATED


def test_a_redelivered_step_runs_once_and_reanswers_only_if_unanswered():
    from orders.models import StockLevel

    StockLevel.objects.create(product_id="p1", available=10)
    order = OrderFactory(status=OrderStatus.PAID)  # two units of p1
    event = sqs_event(task("UpdateDatabase", order))
    with mock.patch("workflows.sfn.send_task_success", side_effect=[Exception("network"), "ok"]) as send:
        first = handlers.step_tasks(event)
        second = handlers.step_tasks(event)
        third = handlers.step_tasks(event)
    assert first["batchItemFailures"] and not second["batchItemFailures"] and not third["batchItemFailures"]
    assert send.call_count == 2  # the failed answer was re-sent once, then never again
    assert StockLevel.objects.get(product_id="p1").available == 8  # the step itself ran once
    assert StepRun.objects.get().answered_at is not None


def test_a_business_failure_is_sent_as_the_task_error():
    order = OrderFactory(items=[])
    with mock.patch("workflows.sfn.send_task_failure") as fail:
        result = handlers.step_tasks(sqs_event(task("ValidateOrder", order)))
    assert result == {"batchItemFailures": []}
    fail.assert_called_once()
    assert fail.call_args.kwargs["error"] == "ValidationError"
    assert "no items" in fail.call_args.kwargs["cause"]


def test_steps_of_a_cancelled_order_fail_with_order_cancelled():
    order = OrderFactory(status=OrderStatus.CANCELLED)
    with mock.patch("workflows.sfn.send_task_failure") as fail:
        handlers.step_tasks(sqs_event(task("CheckInventory", order)))
    assert fail.call_args.kwargs["error"] == "OrderCancelled"


def test_a_task_that_timed_out_meanwhile_is_recorded_and_acknowledged():
    from workflows import sfn

    order = OrderFactory()
    with mock.patch("workflows.sfn.send_task_success", side_effect=sfn.TaskExpired("late", aws_code="TaskTimedOut")):
        result = handlers.step_tasks(sqs_event(task("ValidateOrder", order)))
    assert result == {"batchItemFailures": []}
    run = StepRun.objects.get()
    assert run.answered_at and run.error == "TaskTimedOut"


def test_record_failure_uses_our_own_cause_when_the_engine_drops_it():
    order = OrderFactory(items=[])
    with mock.patch("workflows.sfn.send_task_failure"), mock.patch("workflows.sfn.send_task_success"):
        handlers.step_tasks(sqs_event(task("ValidateOrder", order, "t1")))
        handlers.step_tasks(
            sqs_event(task("RecordFailure", order, "t2", failure={"Error": "ValidationError", "Cause": None}))
        )
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED
    assert order.status_reason.startswith("ValidationError: the order has no items")


def test_an_approval_task_is_stored_once_with_its_expiry():
    order = OrderFactory(status=OrderStatus.VALIDATED)
    body = task(
        "RequestApproval", order, stateName="RequestApproval", enteredTime="2026-01-01T10:00:00Z", timeoutSeconds=3600
    )
    assert handlers.approval_tasks(sqs_event(body)) == {"batchItemFailures": []}
    assert handlers.approval_tasks(sqs_event(body)) == {"batchItemFailures": []}
    approval = Approval.objects.get()
    assert approval.status == Approval.Status.PENDING
    assert approval.expires_at.isoformat() == "2026-01-01T11:00:00+00:00"
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_APPROVAL


def test_an_approval_task_for_a_cancelled_order_is_failed_at_once(django_capture_on_commit_callbacks):
    order = OrderFactory(status=OrderStatus.CANCELLED, status_reason="customer asked")
    with mock.patch("workflows.sfn.send_task_failure") as fail:
        with django_capture_on_commit_callbacks(execute=True):
            handlers.approval_tasks(sqs_event(task("RequestApproval", order)))
    assert Approval.objects.get().status == Approval.Status.CANCELLED
    assert fail.call_args.kwargs["error"] == "OrderCancelled"


def test_the_sweep_starts_orders_whose_start_job_was_lost(settings):
    from datetime import timedelta

    from django.utils import timezone

    from orders.models import Order
    from workflows.models import Execution

    stuck = OrderFactory()
    Order.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    fresh = OrderFactory()  # its start job may still be on its way
    started = OrderFactory()
    Order.objects.filter(pk=started.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    Execution.objects.create(order=started, name=f"order-{started.pk}", state_machine="order-processing")
    with mock.patch("workflows.executions.workflow_start") as start:
        assert handlers.start_missing_executions({"source": "aws.events"}) == {"started": 1}
    start.assert_called_once_with(order_id=stuck.pk)
    assert fresh.pk != stuck.pk


def test_every_completed_sweep_counts_for_its_alarm():
    from console.platform import observability

    before = observability.recorded_metrics()["WorkflowSweeps"]
    with mock.patch("workflows.handlers.approval_sweep", return_value={"heartbeats": 0}):
        handlers.sweep_workflows({"source": "aws.events"})
    assert observability.recorded_metrics()["WorkflowSweeps"] == before + 1

    # A sweep that fails counts nothing: the alarm sees it as missing.
    with mock.patch("workflows.handlers.approval_sweep", side_effect=RuntimeError("database down")):
        with pytest.raises(RuntimeError):
            handlers.sweep_workflows({"source": "aws.events"})
    assert observability.recorded_metrics()["WorkflowSweeps"] == before + 1
