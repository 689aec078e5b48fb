"""Bulk approve: the inbox's selected approvals approved one by one, each under the same
rules as a single decision."""

import logging
from dataclasses import dataclass, field

from django.conf import settings

from console.models import AuditEntry
from workflows.approvals.decisions import approval_decide
from workflows.approvals.rules import ApprovalNotPending, not_pending_message
from workflows.models import Approval

logger = logging.getLogger(__name__)


@dataclass
class BulkOutcome:
    approved: list[Approval] = field(default_factory=list)
    first_approvals: list[Approval] = field(default_factory=list)
    refused: list[tuple[Approval, str]] = field(default_factory=list)


class TooManyForBulk(ValueError):
    pass


def approval_bulk_approve(
    *, approval_ids: list[int], actor, note: str = "", source: str = AuditEntry.Source.CONSOLE
) -> BulkOutcome:
    """Approve each approval in turn (oldest first), each through ``approval_decide``: the
    same once-only claims, four-eyes and claim rules as one by one. One refusal does not
    stop the others; each is reported with its plain reason."""
    if len(approval_ids) > settings.APPROVAL_BULK_MAX:
        raise TooManyForBulk(f"Approve at most {settings.APPROVAL_BULK_MAX} at once.")
    outcome = BulkOutcome()
    for approval in Approval.objects.filter(pk__in=approval_ids).order_by("requested_at", "id"):
        try:
            decided = approval_decide(approval_id=approval.pk, approve=True, actor=actor, reason=note, source=source)
        except ApprovalNotPending as exc:
            outcome.refused.append((exc.approval, str(exc)))
        except Exception as exc:
            logger.exception("bulk approve: approval %s could not be delivered", approval.pk)
            approval.refresh_from_db()
            outcome.refused.append(
                (
                    approval,
                    f"Step Functions could not be reached ({type(exc).__name__}); the decision is recorded "
                    "and will be delivered again."
                    if approval.status == Approval.Status.APPROVED
                    else f"Not approved: {type(exc).__name__}",
                )
            )
        else:
            if decided.status == Approval.Status.APPROVED:
                outcome.approved.append(decided)
            elif decided.needs_second_approval:
                outcome.first_approvals.append(decided)
            else:
                outcome.refused.append((decided, not_pending_message(decided)))
    return outcome
