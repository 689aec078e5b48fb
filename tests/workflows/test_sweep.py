"""The scheduled sweep: plain statuses for approvals that can no longer be decided,
heartbeats while they wait, redelivery of decisions a transient error held back."""

from datetime import timedelta
from unittest import mock

import pytest
from botocore.stub import ANY, Stubber
from django.utils import timezone

from console.aws import clients as aws
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from tests.workflows.conftest import make_pending_approval
from workflows.approvals import approval_sweep
from workflows.models import Approval, Execution

pytestmark = pytest.mark.django_db


def test_approvals_past_their_timeout_expire_without_calling_aws():
    late = make_pending_approval("late")
    fresh = make_pending_approval("fresh")
    Approval.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    Approval.objects.filter(pk=fresh.pk).update(
        checked_at=timezone.now(), expires_at=timezone.now() + timedelta(days=1)
    )
    with Stubber(aws.client("stepfunctions")) as stubber:  # any AWS call would fail the test
        counts = approval_sweep()
        stubber.assert_no_pending_responses()
    assert counts["expired"] == 1
    late.refresh_from_db()
    assert late.status == Approval.Status.EXPIRED and "timed out" in late.outcome_detail
    assert Approval.objects.get(pk=fresh.pk).status == Approval.Status.PENDING
    assert AuditEntry.objects.filter(action="approval.expired", object_id=str(late.pk)).exists()


def test_an_approval_whose_execution_ended_is_closed():
    approval = make_pending_approval("t")
    Approval.objects.filter(pk=approval.pk).update(checked_at=timezone.now() - timedelta(minutes=10))
    arn = approval.execution.arn
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_response(
            "describe_execution",
            {
                "executionArn": arn,
                "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
                "status": "TIMED_OUT",
                "startDate": timezone.now(),
                "stopDate": timezone.now(),
                "error": "States.Timeout",
            },
            {"executionArn": arn},
        )
        counts = approval_sweep()
    assert counts["closed"] == 1
    approval.refresh_from_db()
    assert approval.status == Approval.Status.CLOSED
    assert approval.outcome_detail == "The execution has ended (TIMED_OUT: States.Timeout)."
    assert Execution.objects.get(pk=approval.execution_id).status == Execution.Status.TIMED_OUT


def test_heartbeats_are_sent_when_due_and_a_gone_task_is_marked():
    beating = make_pending_approval("beating")
    gone = make_pending_approval("gone")
    not_due = make_pending_approval("not-due")
    long_ago = timezone.now() - timedelta(seconds=400)
    Approval.objects.filter(pk__in=[beating.pk, gone.pk]).update(heartbeat_seconds=900, checked_at=long_ago)
    Approval.objects.filter(pk=not_due.pk).update(heartbeat_seconds=900, checked_at=timezone.now())
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_response("send_task_heartbeat", {}, {"taskToken": "beating"})
        stubber.add_client_error(
            "send_task_heartbeat", service_error_code="TaskTimedOut", expected_params={"taskToken": "gone"}
        )
        counts = approval_sweep()
        stubber.assert_no_pending_responses()
    assert counts["heartbeats"] == 1 and counts["expired"] == 1
    beating.refresh_from_db()
    assert beating.status == Approval.Status.PENDING and beating.checked_at > long_ago
    gone.refresh_from_db()
    assert gone.status == Approval.Status.EXPIRED and "TaskTimedOut" in gone.outcome_detail
    assert gone.order.status == OrderStatus.AWAITING_APPROVAL  # the workflow records its own failure


def test_a_decision_held_back_by_a_transient_error_is_delivered_once(operator):
    approval = make_pending_approval("t")
    Approval.objects.filter(pk=approval.pk).update(
        status=Approval.Status.APPROVED,
        decided_by=operator,
        decided_at=timezone.now() - timedelta(minutes=2),
        checked_at=timezone.now(),
    )
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_response("send_task_success", {}, {"taskToken": "t", "output": ANY})
        assert approval_sweep()["redelivered"] == 1
        assert approval_sweep()["redelivered"] == 0  # delivered: never sent again
    approval.refresh_from_db()
    assert approval.delivered_at is not None


def test_one_failing_approval_does_not_stop_the_sweep():
    broken = make_pending_approval("broken")
    fine = make_pending_approval("fine")
    long_ago = timezone.now() - timedelta(hours=1)
    Approval.objects.filter(pk__in=[broken.pk, fine.pk]).update(heartbeat_seconds=60, checked_at=long_ago)
    with mock.patch("workflows.sfn.send_task_heartbeat", side_effect=[RuntimeError("network"), "req"]):
        counts = approval_sweep()
    assert counts["errors"] == 1 and counts["heartbeats"] == 1


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_the_local_engine_accepts_heartbeats_for_a_waiting_approval(stack, live_server, api_token, operator):
    from tests.workflows.test_journeys import WIDGETS, create_order, pending_approval, wait_until_finished
    from workflows.approvals import approval_decide

    order_id = create_order(live_server, api_token, WIDGETS)
    approval = pending_approval(order_id)
    assert approval.heartbeat_seconds  # HeartbeatSecondsPath reached the message
    day_ago = timezone.now() - timedelta(days=1)
    Approval.objects.filter(pk=approval.pk).update(checked_at=day_ago)
    counts = approval_sweep()
    # (The consumer's own scheduled sweep may have sent this heartbeat a moment earlier.)
    assert counts["errors"] == 0 and counts["closed"] == 0 and counts["expired"] == 0, counts
    approval.refresh_from_db()
    assert approval.status == Approval.Status.PENDING and approval.checked_at > day_ago
    # End the workflow, so nothing writes to the database while the test's tables are flushed.
    approval_decide(approval_id=approval.pk, approve=False, actor=operator, reason="test over")
    assert wait_until_finished(order_id) == "FAILED"
