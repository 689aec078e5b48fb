"""Four-eyes approvals, claims and assignment, bulk approve: each a conditional update, so
concurrent requests still make one decision and one Step Functions call."""

import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection

from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from tests.workflows.conftest import make_pending_approval
from workflows.approvals import (
    ApprovalNotPending,
    AssigneeNotAllowed,
    ClaimedByAnother,
    SecondApproverRequired,
    approval_assign,
    approval_bulk_approve,
    approval_claim,
    approval_decide,
    approval_unclaim,
)
from workflows.models import Approval

BIG = Decimal("9000.00")  # above the default four-eyes limit of 5000


@pytest.mark.django_db
def test_orders_above_the_limit_need_two_approvals(settings):
    settings.APPROVAL_FOUR_EYES_ABOVE = "5000"
    assert make_pending_approval("small", total=Decimal("5000.00")).required_approvals == 1
    assert make_pending_approval("big", total=Decimal("5000.01")).required_approvals == 2


@pytest.mark.django_db
def test_the_first_approval_is_recorded_without_resuming_the_workflow(operator):
    approval = make_pending_approval("t", total=BIG)
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        result = approval_decide(approval_id=approval.pk, approve=True, actor=operator, reason="looks fine")
    send.assert_not_called()
    assert result.status == Approval.Status.PENDING and result.needs_second_approval
    assert (result.first_approved_by, result.first_note) == (operator, "looks fine")
    assert result.order.status == OrderStatus.AWAITING_APPROVAL
    assert AuditEntry.objects.filter(action="approval.first_approve", actor=operator).exists()


@pytest.mark.django_db
def test_the_first_approver_cannot_give_the_second(operator):
    approval = make_pending_approval("t", total=BIG)
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
        with pytest.raises(SecondApproverRequired, match="second approval by a different operator"):
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    send.assert_not_called()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING


@pytest.mark.django_db
def test_a_second_operator_decides_and_the_output_names_both(operator, second_operator):
    approval = make_pending_approval("t", total=BIG)
    with mock.patch("workflows.sfn.send_task_success", return_value="req-2") as send:
        approval_decide(approval_id=approval.pk, approve=True, actor=operator, reason="first look")
        decided = approval_decide(approval_id=approval.pk, approve=True, actor=second_operator, reason="agreed")
    send.assert_called_once()
    output = send.call_args.kwargs["output"]
    assert output["approved"] is True and output["approvedBy"] == "oscar-operator"
    assert [(a["by"], a["note"]) for a in output["approvals"]] == [
        ("olivia-operator", "first look"),
        ("oscar-operator", "agreed"),
    ]
    assert decided.status == Approval.Status.APPROVED and decided.aws_request_id == "req-2"
    assert decided.order.status == OrderStatus.APPROVED
    entry = AuditEntry.objects.get(action="approval.approve")
    assert entry.after["approvers"] == ["olivia-operator", "oscar-operator"]


@pytest.mark.django_db
def test_anyone_may_reject_a_four_eyes_order_with_a_reason(operator, second_operator):
    approval = make_pending_approval("t", total=BIG)
    with (
        mock.patch("workflows.sfn.send_task_success", return_value="req") as send,
        mock.patch("workflows.sfn.send_task_failure", return_value="req") as fail,
    ):
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
        approval_decide(approval_id=approval.pk, approve=False, actor=second_operator, reason="card declined twice")
    send.assert_not_called()
    assert fail.call_args.kwargs["cause"] == "Rejected by oscar-operator: card declined twice"
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.REJECTED


@pytest.mark.django_db(transaction=True)
def test_concurrent_four_eyes_approvals_make_one_decision_and_one_call(operator, second_operator, third_operator):
    approval = make_pending_approval("t", total=BIG)
    people = [operator, second_operator, third_operator] * 3
    calls, outcomes = [], []
    barrier = threading.Barrier(len(people))

    def decide(person) -> None:
        barrier.wait()
        try:
            result = approval_decide(approval_id=approval.pk, approve=True, actor=person)
            outcomes.append("first" if result.is_pending else "decided")
        except ApprovalNotPending:
            outcomes.append("refused")
        finally:
            connection.close()

    with mock.patch("workflows.sfn.send_task_success", side_effect=lambda **kw: calls.append(kw) or "req"):
        threads = [threading.Thread(target=decide, args=(person,)) for person in people]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes.count("first") == 1 and outcomes.count("decided") == 1
    assert outcomes.count("refused") == len(people) - 2
    assert len(calls) == 1
    approval.refresh_from_db()
    assert approval.status == Approval.Status.APPROVED
    assert approval.first_approved_by != approval.decided_by


@pytest.mark.django_db
def test_a_claim_keeps_colleagues_from_deciding(operator, second_operator):
    approval = make_pending_approval("t")
    approval_claim(approval_id=approval.pk, actor=operator)
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        with pytest.raises(ClaimedByAnother, match="Claimed by olivia-operator"):
            approval_decide(approval_id=approval.pk, approve=True, actor=second_operator)
        with pytest.raises(ClaimedByAnother):
            approval_claim(approval_id=approval.pk, actor=second_operator)
        send.assert_not_called()
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    send.assert_called_once()
    approval.refresh_from_db()
    assert approval.claimed_by is None and approval.decided_by == operator


@pytest.mark.django_db
def test_only_the_holder_or_an_admin_releases_a_claim(operator, second_operator, admin_user):
    approval = make_pending_approval("t")
    approval_claim(approval_id=approval.pk, actor=operator)
    with pytest.raises(ClaimedByAnother):
        approval_unclaim(approval_id=approval.pk, actor=second_operator)
    assert approval_unclaim(approval_id=approval.pk, actor=admin_user).claimed_by is None
    approval_claim(approval_id=approval.pk, actor=operator)
    assert approval_unclaim(approval_id=approval.pk, actor=operator).claimed_by is None
    actions = list(AuditEntry.objects.filter(object_id=str(approval.pk)).values_list("action", "actor_name"))
    assert actions.count(("approval.claim", "olivia-operator")) == 2
    assert ("approval.unclaim", "ada-admin") in actions


@pytest.mark.django_db
def test_assigning_to_a_colleague(operator, second_operator, support_user, admin_user):
    approval = make_pending_approval("t", total=BIG)
    with pytest.raises(AssigneeNotAllowed, match="may not decide"):
        approval_assign(approval_id=approval.pk, assignee=support_user, actor=operator)
    assigned = approval_assign(approval_id=approval.pk, assignee=second_operator, actor=operator)
    assert assigned.claimed_by == second_operator
    # Now it is the colleague's: the first operator cannot pass it on again, an admin can.
    with pytest.raises(ClaimedByAnother):
        approval_assign(approval_id=approval.pk, assignee=operator, actor=operator)
    assert approval_assign(approval_id=approval.pk, assignee=operator, actor=admin_user).claimed_by == operator
    with mock.patch("workflows.sfn.send_task_success", return_value="req"):
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    # The first approver cannot be handed the second approval.
    with pytest.raises(AssigneeNotAllowed, match="first approval"):
        approval_assign(approval_id=approval.pk, assignee=operator, actor=admin_user)
    entry = AuditEntry.objects.filter(action="approval.assign").first()
    assert entry.after == {"claimedBy": "olivia-operator"} and entry.before == {"claimedBy": "oscar-operator"}


@pytest.mark.django_db
def test_bulk_approve_decides_what_it_may_and_says_why_not_for_the_rest(operator, second_operator):
    plain = make_pending_approval("a")
    big = make_pending_approval("b", total=BIG)
    claimed = make_pending_approval("c")
    done = make_pending_approval("d")
    approval_claim(approval_id=claimed.pk, actor=second_operator)
    Approval.objects.filter(pk=done.pk).update(status=Approval.Status.REJECTED, decided_by=second_operator)
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        outcome = approval_bulk_approve(
            approval_ids=[plain.pk, big.pk, claimed.pk, done.pk], actor=operator, note="weekly batch"
        )
    assert [a.pk for a in outcome.approved] == [plain.pk]
    assert [a.pk for a in outcome.first_approvals] == [big.pk]
    refused = {a.pk: reason for a, reason in outcome.refused}
    assert "Claimed by oscar-operator" in refused[claimed.pk] and "Already rejected" in refused[done.pk]
    assert send.call_count == 1 and send.call_args.kwargs["output"]["note"] == "weekly batch"


@pytest.mark.django_db(transaction=True)
def test_bulk_approve_racing_single_decisions_still_decides_each_once(operator, second_operator):
    approvals = [make_pending_approval(f"r{i}") for i in range(6)]
    calls = []
    barrier = threading.Barrier(2)

    def bulk() -> None:
        barrier.wait()
        approval_bulk_approve(approval_ids=[a.pk for a in approvals], actor=operator)
        connection.close()

    def one_by_one() -> None:
        barrier.wait()
        for approval in reversed(approvals):
            try:
                approval_decide(approval_id=approval.pk, approve=False, actor=second_operator, reason="no")
            except ApprovalNotPending:
                pass
        connection.close()

    record = mock.MagicMock(side_effect=lambda **kw: calls.append(kw["task_token"]) or "req")
    with mock.patch("workflows.sfn.send_task_success", record), mock.patch("workflows.sfn.send_task_failure", record):
        threads = [threading.Thread(target=bulk), threading.Thread(target=one_by_one)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(calls) == sorted(a.task_token for a in approvals)  # one call per approval
    statuses = set(Approval.objects.filter(pk__in=[a.pk for a in approvals]).values_list("status", flat=True))
    assert statuses <= {Approval.Status.APPROVED, Approval.Status.REJECTED}
