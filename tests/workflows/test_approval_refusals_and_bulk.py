"""What an operator is told when an approval cannot be decided (by anyone, or by them),
word for word with who and when; who may be handed an approval; and bulk approve: its
limit, order, note, source, and a plain reason for each one it could not approve."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from console.models import AuditEntry
from console.platform import roles
from tests.conftest import make_user
from tests.workflows.conftest import make_pending_approval
from workflows.approvals import (
    ApprovalNotPending,
    AssigneeNotAllowed,
    ClaimedByAnother,
    SecondApproverRequired,
    TooManyForBulk,
    approval_assign,
    approval_bulk_approve,
    approval_claim,
    approval_decide,
    approval_unclaim,
)
from workflows.models import Approval, Execution

pytestmark = pytest.mark.django_db

DECIDED_AT = datetime(2026, 3, 1, 11, 30, 5, tzinfo=UTC)  # settings.TIME_ZONE is UTC


# --- Refusals in plain words -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome_detail", "message"),
    [
        (
            Approval.Status.APPROVED,
            "",
            "Already approved by oscar-operator at 2026-03-01 11:30:05 UTC; nothing was sent again.",
        ),
        (
            Approval.Status.REJECTED,
            "",
            "Already rejected by oscar-operator at 2026-03-01 11:30:05 UTC; nothing was sent again.",
        ),
        (
            Approval.Status.EXPIRED,
            "timed out",
            "This approval has expired: the workflow stopped waiting for it. Nothing was sent.",
        ),
        (
            Approval.Status.CLOSED,
            "The execution has ended (ABORTED).",
            "The workflow no longer waits for this approval. The execution has ended (ABORTED).",
        ),
        (Approval.Status.CLOSED, "", "The workflow no longer waits for this approval."),
        (
            Approval.Status.INVALID,
            "InvalidToken",
            "Step Functions does not recognise this approval's task token. Nothing was sent.",
        ),
        (Approval.Status.CANCELLED, "customer asked", "The order was cancelled; the approval was closed with it."),
    ],
)
def test_an_approval_no_longer_open_is_refused_saying_why(operator, second_operator, status, outcome_detail, message):
    approval = make_pending_approval("t")
    decided = status in {Approval.Status.APPROVED, Approval.Status.REJECTED}
    Approval.objects.filter(pk=approval.pk).update(
        status=status,
        outcome_detail=outcome_detail,
        decided_by=second_operator if decided else None,
        decided_at=DECIDED_AT if decided else None,
    )

    with (
        mock.patch("workflows.sfn.send_task_success") as send,
        mock.patch("workflows.sfn.send_task_failure") as fail,
    ):
        with pytest.raises(ApprovalNotPending) as refused_decision:
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)
        with pytest.raises(ApprovalNotPending) as refused_claim:
            approval_claim(approval_id=approval.pk, actor=operator)

    assert str(refused_decision.value) == str(refused_claim.value) == message
    assert refused_decision.value.approval.pk == refused_claim.value.approval.pk == approval.pk
    send.assert_not_called()
    fail.assert_not_called()
    assert Approval.objects.get(pk=approval.pk).status == status


def test_an_approval_claimed_by_a_colleague_is_refused_saying_by_whom_and_since_when(operator, second_operator):
    approval = make_pending_approval("t")
    Approval.objects.filter(pk=approval.pk).update(
        claimed_by=second_operator, claimed_at=datetime(2026, 3, 1, 9, 15, tzinfo=UTC)
    )
    message = (
        "Claimed by oscar-operator since 2026-03-01 09:15:00 UTC: ask them to release it, "
        "or have it assigned to you. Nothing was sent."
    )

    with mock.patch("workflows.sfn.send_task_success") as send:
        with pytest.raises(ClaimedByAnother) as refused_decision:
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)
        with pytest.raises(ClaimedByAnother) as refused_claim:
            approval_claim(approval_id=approval.pk, actor=operator)

    assert str(refused_decision.value) == str(refused_claim.value) == message
    assert refused_decision.value.approval.pk == refused_claim.value.approval.pk == approval.pk
    send.assert_not_called()
    assert Approval.objects.get(pk=approval.pk).claimed_by == second_operator


# --- Who may be handed an approval -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "staff"),
    [(False, True), (True, False)],
    ids=["inactive operator", "operator without staff access"],
)
def test_an_approval_is_not_handed_to_someone_who_cannot_sign_in_to_decide_it(operator, active, staff):
    approval = make_pending_approval("t")
    colleague = make_user("carl-colleague", roles.OPERATOR, staff=staff)
    colleague.is_active = active
    colleague.save(update_fields=["is_active"])

    with pytest.raises(AssigneeNotAllowed, match="^carl-colleague may not decide approvals\\.$"):
        approval_assign(approval_id=approval.pk, assignee=colleague, actor=operator)

    assert Approval.objects.get(pk=approval.pk).claimed_by is None
    assert not AuditEntry.objects.filter(action="approval.assign").exists()


# --- Bulk approve ------------------------------------------------------------------------------------------


def test_bulk_approve_takes_at_most_the_configured_number_at_once(settings, operator):
    settings.APPROVAL_BULK_MAX = 2
    approvals = [make_pending_approval(f"bulk-{index}") for index in range(3)]

    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        with pytest.raises(TooManyForBulk, match=r"^Approve at most 2 at once\.$"):
            approval_bulk_approve(approval_ids=[a.pk for a in approvals], actor=operator)
        send.assert_not_called()
        outcome = approval_bulk_approve(approval_ids=[a.pk for a in approvals[:2]], actor=operator)

    assert [a.pk for a in outcome.approved] == [a.pk for a in approvals[:2]]


def test_bulk_approve_decides_oldest_first_without_a_note_unless_given_and_records_the_source(operator):
    newer = make_pending_approval("newer")
    older = make_pending_approval("older")
    Approval.objects.filter(pk=older.pk).update(requested_at=newer.requested_at - timedelta(minutes=1))

    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        outcome = approval_bulk_approve(approval_ids=[newer.pk, older.pk], actor=operator, source=AuditEntry.Source.API)

    assert [a.pk for a in outcome.approved] == [older.pk, newer.pk]
    assert [call.kwargs["task_token"] for call in send.call_args_list] == ["older", "newer"]
    assert {call.kwargs["output"]["note"] for call in send.call_args_list} == {""}
    assert set(Approval.objects.values_list("reason", flat=True)) == {""}
    sources = AuditEntry.objects.filter(action="approval.approve").values_list("source", flat=True)
    assert list(sources) == [AuditEntry.Source.API, AuditEntry.Source.API]


def test_bulk_approve_says_which_decisions_are_recorded_but_undelivered_and_which_were_not_made(operator, caplog):
    undelivered = make_pending_approval("undelivered")
    not_made = make_pending_approval("not-made")
    fine = make_pending_approval("fine")
    from orders.services import order_transition

    def transition(**kwargs):
        if kwargs["order_id"] == not_made.order_id:
            raise OperationalError("could not serialize access")
        return order_transition(**kwargs)

    def send(**kwargs):
        if kwargs["task_token"] == "undelivered":
            raise ConnectionError("Step Functions unreachable")
        return "req"

    with (
        mock.patch("workflows.sfn.send_task_success", side_effect=send),
        mock.patch("workflows.approvals.decisions.order_transition", side_effect=transition),
        caplog.at_level(logging.ERROR, logger="workflows.approvals.bulk"),
    ):
        outcome = approval_bulk_approve(approval_ids=[undelivered.pk, not_made.pk, fine.pk], actor=operator)

    assert [a.pk for a in outcome.approved] == [fine.pk]
    assert [(a.pk, a.status, reason) for a, reason in outcome.refused] == [
        (
            undelivered.pk,
            Approval.Status.APPROVED,
            "Step Functions could not be reached (ConnectionError); the decision is recorded and will be "
            "delivered again.",
        ),
        (not_made.pk, Approval.Status.PENDING, "Not approved: OperationalError"),
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "workflows.approvals.bulk"] == [
        f"bulk approve: approval {undelivered.pk} could not be delivered",
        f"bulk approve: approval {not_made.pk} could not be delivered",
    ]


def test_assigning_hands_over_that_approval_only_with_when_and_by_whom(operator, second_operator):
    approval = make_pending_approval("t")
    other = make_pending_approval("other")
    before = timezone.now()

    assigned = approval_assign(
        approval_id=approval.pk, assignee=second_operator, actor=operator, source=AuditEntry.Source.API
    )

    assert assigned.claimed_by == second_operator and before <= assigned.claimed_at <= timezone.now()
    assert Approval.objects.get(pk=other.pk).claimed_by is None
    [entry] = AuditEntry.objects.filter(action="approval.assign")
    assert (entry.object_type, entry.object_id, entry.actor, entry.source, entry.before, entry.after) == (
        "workflows.approval",
        str(approval.pk),
        operator,
        AuditEntry.Source.API,
        {"claimedBy": None},
        {"claimedBy": "oscar-operator"},
    )


def test_a_decided_approval_is_not_handed_to_anyone(operator, second_operator, admin_user):
    approval = make_pending_approval("t")
    Approval.objects.filter(pk=approval.pk).update(
        status=Approval.Status.APPROVED, decided_by=operator, decided_at=DECIDED_AT
    )

    with pytest.raises(ApprovalNotPending) as refused:
        approval_assign(approval_id=approval.pk, assignee=second_operator, actor=admin_user)

    assert str(refused.value) == (
        "Already approved by olivia-operator at 2026-03-01 11:30:05 UTC; nothing was sent again."
    )
    assert refused.value.approval.pk == approval.pk
    assert Approval.objects.get(pk=approval.pk).claimed_by is None
    assert not AuditEntry.objects.filter(action="approval.assign").exists()


# --- Claims ----------------------------------------------------------------------------------------------


def test_a_claim_is_recorded_once_with_when_by_whom_and_from_where(operator):
    approval = make_pending_approval("t")
    other = make_pending_approval("other")
    before = timezone.now()

    claimed = approval_claim(approval_id=approval.pk, actor=operator, source=AuditEntry.Source.API)
    again = approval_claim(approval_id=approval.pk, actor=operator)  # harmless: still theirs

    assert (claimed.claimed_by, again.claimed_by, again.claimed_at) == (operator, operator, claimed.claimed_at)
    assert before <= claimed.claimed_at <= timezone.now()
    assert Approval.objects.get(pk=other.pk).claimed_by is None
    [entry] = AuditEntry.objects.filter(action="approval.claim")
    assert (entry.object_id, entry.actor, entry.source, entry.after) == (
        str(approval.pk),
        operator,
        AuditEntry.Source.API,
        {"claimedBy": "olivia-operator"},
    )


def test_releasing_a_claim_is_recorded_with_whose_it_was_and_only_once(operator, admin_user):
    approval = make_pending_approval("t")
    other = make_pending_approval("other")
    approval_claim(approval_id=approval.pk, actor=operator)
    approval_claim(approval_id=other.pk, actor=operator)

    released = approval_unclaim(approval_id=approval.pk, actor=admin_user, source=AuditEntry.Source.API)
    again = approval_unclaim(approval_id=approval.pk, actor=admin_user)  # nothing left to release

    assert (released.claimed_by, released.claimed_at, again.claimed_by) == (None, None, None)
    assert Approval.objects.get(pk=other.pk).claimed_by == operator
    [entry] = AuditEntry.objects.filter(action="approval.unclaim")
    assert (entry.object_id, entry.actor, entry.source, entry.before, entry.after) == (
        str(approval.pk),
        admin_user,
        AuditEntry.Source.API,
        {"claimedBy": "olivia-operator"},
        {"claimedBy": None},
    )


def test_a_claim_held_by_a_colleague_is_not_released_by_an_operator(operator, second_operator):
    approval = make_pending_approval("t")
    approval_claim(approval_id=approval.pk, actor=second_operator)

    with pytest.raises(ClaimedByAnother) as refused:
        approval_unclaim(approval_id=approval.pk, actor=operator)

    assert str(refused.value) == "Claimed by oscar-operator: only they or an admin can release it."
    assert refused.value.approval.pk == approval.pk
    assert Approval.objects.get(pk=approval.pk).claimed_by == second_operator
    assert not AuditEntry.objects.filter(action="approval.unclaim").exists()


def test_an_operator_cannot_hand_over_a_colleagues_claim(operator, second_operator, third_operator):
    approval = make_pending_approval("t")
    Approval.objects.filter(pk=approval.pk).update(
        claimed_by=second_operator, claimed_at=datetime(2026, 3, 1, 9, 15, tzinfo=UTC)
    )

    with pytest.raises(ClaimedByAnother) as refused:
        approval_assign(approval_id=approval.pk, assignee=third_operator, actor=operator)

    assert str(refused.value) == (
        "Claimed by oscar-operator since 2026-03-01 09:15:00 UTC: ask them to release it, "
        "or have it assigned to you. Nothing was sent."
    )
    assert refused.value.approval.pk == approval.pk
    assert Approval.objects.get(pk=approval.pk).claimed_by == second_operator


def test_the_first_approver_is_told_when_they_gave_it_and_that_someone_else_must_give_the_second(operator):
    approval = make_pending_approval("t", total=Decimal("9000.00"))  # four-eyes
    Approval.objects.filter(pk=approval.pk).update(
        first_approved_by=operator, first_approved_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    )

    with mock.patch("workflows.sfn.send_task_success") as send:
        with pytest.raises(SecondApproverRequired) as refused:
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)

    assert str(refused.value) == (
        "You gave the first approval at 2026-03-01 10:00:00 UTC; this order needs a second approval by a "
        "different operator."
    )
    assert refused.value.approval.pk == approval.pk
    send.assert_not_called()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING


# --- Refused without calling AWS: what we already know cannot be delivered --------------------------------


def test_an_approval_whose_timeout_is_now_is_refused_and_only_it_expires(operator):
    approval = make_pending_approval("t")
    other = make_pending_approval("other")
    now = timezone.now()
    Approval.objects.filter(pk=approval.pk).update(expires_at=now)

    with (
        mock.patch("django.utils.timezone.now", return_value=now),
        mock.patch("workflows.sfn.send_task_success") as send,
    ):
        with pytest.raises(ApprovalNotPending) as refused:
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)

    assert str(refused.value) == "This approval has expired: the workflow stopped waiting for it. Nothing was sent."
    assert refused.value.approval.pk == approval.pk
    send.assert_not_called()
    approval.refresh_from_db()
    assert (approval.status, approval.outcome_detail) == (Approval.Status.EXPIRED, "The approval's task timed out.")
    assert Approval.objects.get(pk=other.pk).status == Approval.Status.PENDING


def test_an_approval_whose_execution_ended_is_refused_and_only_it_closes(operator):
    approval = make_pending_approval("t")
    other = make_pending_approval("other")
    Execution.objects.filter(pk=approval.execution_id).update(status=Execution.Status.ABORTED)

    with mock.patch("workflows.sfn.send_task_success") as send:
        with pytest.raises(ApprovalNotPending) as refused:
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)

    detail = "The execution has ended (ABORTED)."
    assert str(refused.value) == f"The workflow no longer waits for this approval. {detail}"
    assert refused.value.approval.pk == approval.pk
    send.assert_not_called()
    approval.refresh_from_db()
    assert (approval.status, approval.outcome_detail) == (Approval.Status.CLOSED, detail)
    assert Approval.objects.get(pk=other.pk).status == Approval.Status.PENDING
