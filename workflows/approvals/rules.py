"""The rules every approval service applies: who may decide or reassign approvals, how many
approvals an order needs, and the refusals (exceptions with plain messages) an operator
gets when an approval is not open to what they asked."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from workflows.models import Approval

DECIDE_PERMISSION = "workflows.decide_approval"
ASSIGN_PERMISSION = "workflows.assign_approval"


def approval_required_count(*, total: Decimal) -> int:
    """How many approvals an order of ``total`` needs (four-eyes above the threshold)."""
    return 2 if total > Decimal(str(settings.APPROVAL_FOUR_EYES_ABOVE)) else 1


class ApprovalNotPending(Exception):
    """The approval cannot be decided (already decided, expired, closed, cancelled), or not
    by this operator (claimed by a colleague, or they gave the first of two approvals)."""

    def __init__(self, approval: Approval, message: str):
        self.approval = approval
        super().__init__(message)


class ClaimedByAnother(ApprovalNotPending):
    """A colleague has claimed the approval; it is theirs to decide until released."""


class SecondApproverRequired(ApprovalNotPending):
    """Four-eyes: the operator who gave the first approval cannot give the second."""


class ReasonRequired(ValueError):
    pass


class AssigneeNotAllowed(ValueError):
    """The colleague cannot take this approval (no decide permission, inactive, or the
    first approver of a four-eyes order)."""


def when(moment) -> str:
    """A moment as refusals show it, in the console's time zone ("?" if unknown)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "?"


def claimed_message(approval: Approval) -> str:
    who = approval.claimed_by.get_username() if approval.claimed_by else "a colleague"
    return (
        f"Claimed by {who} since {when(approval.claimed_at)}: ask them to release it, "
        "or have it assigned to you. Nothing was sent."
    )


def not_pending_message(approval: Approval) -> str:
    who = approval.decided_by.get_username() if approval.decided_by else None
    decided = timezone.localtime(approval.decided_at).strftime("%Y-%m-%d %H:%M:%S %Z") if approval.decided_at else None
    match approval.status:
        case Approval.Status.APPROVED | Approval.Status.REJECTED:
            return f"Already {approval.status.lower()} by {who} at {decided}; nothing was sent again."
        case Approval.Status.EXPIRED:
            return "This approval has expired: the workflow stopped waiting for it. Nothing was sent."
        case Approval.Status.CLOSED:
            return f"The workflow no longer waits for this approval. {approval.outcome_detail}".strip()
        case Approval.Status.INVALID:
            return "Step Functions does not recognise this approval's task token. Nothing was sent."
        case Approval.Status.CANCELLED:
            return "The order was cancelled; the approval was closed with it."
    return f"The approval is {approval.status.lower()}."


# --- What an operator may do with an approval now ------------------------------------------


@dataclass(frozen=True)
class ApprovalActions:
    """For each action on an approval, "" when this operator may take it now, else the
    reason they may not. The pages show a button only with its reason beside it when it
    is unusable: the same rules as the services, read before the click instead of after."""

    approve: str = ""
    reject: str = ""
    claim: str = ""
    release: str = ""
    # False when none of them can be taken by anybody like this reader: the approval is
    # closed, or the reader may not decide approvals at all (pages then show no buttons).
    open_to_reader: bool = True


def approval_actions(*, approval: Approval, actor) -> ApprovalActions:
    """What ``actor`` may do with ``approval``: the refusals ``approval_decide``,
    ``approval_claim`` and ``approval_unclaim`` would answer, without asking them (reads
    only the approval's own fields: its claimant and first approver, already fetched by
    the inbox)."""
    if not approval.is_pending:
        refused = not_pending_message(approval)
        return ApprovalActions(approve=refused, reject=refused, claim=refused, release=refused, open_to_reader=False)
    if not actor.has_perm(DECIDE_PERMISSION):
        refused = "You may not decide approvals."
        return ApprovalActions(approve=refused, reject=refused, claim=refused, release=refused, open_to_reader=False)
    approve = reject = claim = release = ""
    if approval.claimed_by_id and approval.claimed_by_id != actor.pk:
        who = approval.claimed_by.get_username()
        approve = reject = f"Claimed by {who}: it is theirs to decide until released or assigned to you."
        claim = f"Already claimed by {who}."
        if not actor.has_perm(ASSIGN_PERMISSION):
            release = f"Claimed by {who}: only they or an admin can release it."
    elif approval.claimed_by_id:
        claim = "You claimed it."
    else:
        release = "Nobody has claimed it."
    if not approve and approval.needs_second_approval and approval.first_approved_by_id == actor.pk:
        approve = "You gave the first approval; a second approver must decide."
    return ApprovalActions(approve=approve, reject=reject, claim=claim, release=release)
