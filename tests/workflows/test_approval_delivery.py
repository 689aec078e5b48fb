"""Delivering a recorded decision to Step Functions: once, however often delivery is asked
for (the decision itself, the sweep's redelivery, a retry), with who decided and why; and
what becomes of the approval and its order when the task is gone. AWS's answers come from
botocore's Stubber on the real client: any call not queued on it fails the test."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from botocore.stub import Stubber
from django.utils import timezone

from console.aws import clients as aws
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.workflows.conftest import make_pending_approval
from workflows.approvals import ApprovalNotPending, approval_deliver, approval_sweep
from workflows.models import Approval

pytestmark = pytest.mark.django_db

BIG = Decimal("9000.00")  # above the default four-eyes limit of 5000


@pytest.fixture
def step_functions():
    with Stubber(aws.client("stepfunctions")) as stub:
        yield stub
        stub.assert_no_pending_responses()


def decided(token: str, *, actor, status=Approval.Status.APPROVED, reason: str = "known customer", **fields):
    """An approval decided in our records and not yet delivered (its order moved on with it)."""
    approval = make_pending_approval(token, total=fields.pop("total", None))
    Approval.objects.filter(pk=approval.pk).update(
        status=status, decided_by=actor, decided_at=fields.pop("decided_at", timezone.now()), reason=reason, **fields
    )
    order_status = OrderStatus.APPROVED if status == Approval.Status.APPROVED else OrderStatus.REJECTED
    Order.objects.filter(pk=approval.order_id).update(status=order_status)
    return Approval.objects.select_related("order", "decided_by", "first_approved_by").get(pk=approval.pk)


def audit_actions(approval: Approval) -> list[str]:
    return list(AuditEntry.objects.filter(object_id=str(approval.pk)).values_list("action", flat=True))


# --- Once ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "operation", "action"),
    [
        (Approval.Status.APPROVED, "send_task_success", "approval.approve"),
        (Approval.Status.REJECTED, "send_task_failure", "approval.reject"),
    ],
)
def test_a_decision_is_delivered_once_however_often_delivery_is_asked_for(
    step_functions, operator, status, operation, action
):
    approval = decided("t-once", actor=operator, status=status)
    step_functions.add_response(operation, {"ResponseMetadata": {"RequestId": "req-1"}})

    first = approval_deliver(approval=approval)
    delivered_at = first.delivered_at
    # The same copy again (a retry), and a copy read afresh (the sweep, another process).
    approval_deliver(approval=first)
    again = approval_deliver(approval=Approval.objects.get(pk=approval.pk))

    assert delivered_at is not None and first.aws_request_id == "req-1"
    assert (again.delivered_at, again.aws_request_id) == (delivered_at, "req-1")
    assert audit_actions(approval) == [action]


@pytest.mark.parametrize(
    "status",
    [
        Approval.Status.PENDING,
        Approval.Status.EXPIRED,
        Approval.Status.CLOSED,
        Approval.Status.INVALID,
        Approval.Status.CANCELLED,
    ],
)
def test_only_a_decision_is_delivered(step_functions, operator, status):
    approval = decided("t-undecided", actor=operator, status=status)

    returned = approval_deliver(approval=approval)

    assert returned.delivered_at is None and returned.status == status
    assert audit_actions(approval) == []


# --- What is sent, and what is recorded -----------------------------------------------------------


def test_an_approval_sends_who_approved_and_their_note_and_is_audited(operator):
    approval = decided("t-approve", actor=operator)

    with mock.patch("workflows.sfn.send_task_success", return_value="req-7") as send:
        approval_deliver(approval=approval, source=AuditEntry.Source.API)

    send.assert_called_once_with(
        task_token="t-approve", output={"approved": True, "approvedBy": "olivia-operator", "note": "known customer"}
    )
    entry = AuditEntry.objects.get(object_id=str(approval.pk))
    assert (entry.action, entry.actor, entry.source, entry.reason, entry.aws_request_id) == (
        "approval.approve",
        operator,
        AuditEntry.Source.API,
        "known customer",
        "req-7",
    )
    assert (entry.before, entry.after) == (
        {"status": "PENDING"},
        {"status": "APPROVED", "order": str(approval.order_id)},
    )


def test_a_four_eyes_approval_sends_both_approvers_with_when_and_why(operator, second_operator):
    first_at = timezone.now() - timedelta(minutes=5)
    approval = decided(
        "t-four-eyes",
        actor=second_operator,
        reason="agreed",
        total=BIG,
        first_approved_by=operator,
        first_approved_at=first_at,
        first_note="first look",
    )

    with mock.patch("workflows.sfn.send_task_success", return_value="req-8") as send:
        approval_deliver(approval=approval)

    assert send.call_args.kwargs["output"] == {
        "approved": True,
        "approvedBy": "oscar-operator",
        "note": "agreed",
        "approvals": [
            {"by": "olivia-operator", "at": first_at.isoformat(), "note": "first look"},
            {"by": "oscar-operator", "at": approval.decided_at.isoformat(), "note": "agreed"},
        ],
    }
    entry = AuditEntry.objects.get(object_id=str(approval.pk))
    assert entry.after == {
        "status": "APPROVED",
        "order": str(approval.order_id),
        "approvers": ["olivia-operator", "oscar-operator"],
    }


def test_a_rejection_fails_the_task_with_the_reason_as_its_cause(operator):
    approval = decided("t-reject", actor=operator, status=Approval.Status.REJECTED, reason="card declined twice")

    with mock.patch("workflows.sfn.send_task_failure", return_value="req-9") as fail:
        approval_deliver(approval=approval)

    fail.assert_called_once_with(
        task_token="t-reject", error="OrderRejected", cause="Rejected by olivia-operator: card declined twice"
    )
    entry = AuditEntry.objects.get(object_id=str(approval.pk))
    assert (entry.action, entry.after) == ("approval.reject", {"status": "REJECTED", "order": str(approval.order_id)})


# --- The task is gone ----------------------------------------------------------------------------------


def test_a_rejection_whose_task_is_gone_leaves_the_order_rejected(step_functions, operator):
    approval = decided("t-gone", actor=operator, status=Approval.Status.REJECTED, reason="fraud")
    step_functions.add_client_error("send_task_failure", service_error_code="TaskTimedOut", service_message="gone")

    with pytest.raises(ApprovalNotPending) as refused:
        approval_deliver(approval=approval)

    approval.refresh_from_db()
    detail = (
        "Rejected by olivia-operator, but Step Functions answered TaskTimedOut: the task is no longer open, "
        "so nothing was resumed."
    )
    assert (approval.status, approval.outcome_detail, str(refused.value)) == (Approval.Status.EXPIRED, detail, detail)
    assert approval.delivered_at is None
    assert Order.objects.get(pk=approval.order_id).status == OrderStatus.REJECTED
    entry = AuditEntry.objects.get(object_id=str(approval.pk))
    assert (entry.action, entry.actor, entry.before, entry.after) == (
        "approval.task_not_open",
        operator,
        {"status": "REJECTED"},
        {"status": "EXPIRED"},
    )


def test_an_approval_whose_task_is_gone_fails_only_an_order_still_waiting_at_approved(step_functions, operator):
    waiting = decided("t-waiting", actor=operator)
    moved_on = decided("t-moved-on", actor=operator)
    Order.objects.filter(pk=moved_on.order_id).update(status=OrderStatus.PAID)
    for _ in range(2):
        step_functions.add_client_error("send_task_success", service_error_code="TaskDoesNotExist")

    for approval in (waiting, moved_on):
        with pytest.raises(ApprovalNotPending):
            approval_deliver(approval=approval)

    failed = Order.objects.get(pk=waiting.order_id)
    assert (failed.status, failed.status_reason) == (
        OrderStatus.FAILED,
        "Approval task no longer open (TaskDoesNotExist)",
    )
    assert Order.objects.get(pk=moved_on.order_id).status == OrderStatus.PAID
    assert set(Approval.objects.values_list("status", flat=True)) == {Approval.Status.CLOSED}


# --- Redelivery by the sweep -----------------------------------------------------------------------------


def test_the_sweep_redelivers_a_decision_from_thirty_seconds_after_it_was_made(step_functions, operator):
    now = timezone.now()
    due = decided("t-due", actor=operator, decided_at=now - timedelta(seconds=30), checked_at=now)
    decided("t-recent", actor=operator, decided_at=now - timedelta(seconds=29), checked_at=now)
    step_functions.add_response("send_task_success", {}, {"taskToken": "t-due", "output": mock.ANY})

    counts = approval_sweep(now=now)

    assert counts == {"expired": 0, "closed": 0, "heartbeats": 0, "checked": 0, "redelivered": 1, "errors": 0}
    assert set(Approval.objects.exclude(delivered_at=None).values_list("pk", flat=True)) == {due.pk}


def test_the_sweep_counts_a_redelivery_whose_task_is_gone_as_closed_and_an_aws_error_as_an_error(
    step_functions, operator
):
    long_ago = timezone.now() - timedelta(minutes=5)
    decided("t-a", actor=operator, decided_at=long_ago, checked_at=timezone.now())
    decided("t-b", actor=operator, decided_at=long_ago, checked_at=timezone.now())
    step_functions.add_client_error("send_task_success", service_error_code="TaskTimedOut")
    step_functions.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=503)

    counts = approval_sweep()

    assert (counts["closed"], counts["errors"], counts["redelivered"]) == (1, 1, 0)
    statuses = set(Approval.objects.values_list("status", "delivered_at"))
    assert statuses == {(Approval.Status.EXPIRED, None), (Approval.Status.APPROVED, None)}
