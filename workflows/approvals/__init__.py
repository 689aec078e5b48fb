"""Approvals: the operator's decision a workflow waits for.

* ``rules``: who may decide or reassign, how many approvals an order needs, the refusals;
* ``requests``: the workflow's approval task stored as a pending approval (approvers
  emailed: ``notifications``), or closed with its cancelled order;
* ``decisions``: approve or reject once, and the decision delivered to Step Functions;
* ``claims``: claim, release, assign to a colleague;
* ``bulk``: approve a selection, each under the same rules;
* ``sweep``: expiry, ended executions, heartbeats, undelivered decisions (scheduled).

The services are importable from here too; the modules import each other, never this
package's names.
"""

from workflows.approvals.bulk import BulkOutcome, TooManyForBulk, approval_bulk_approve
from workflows.approvals.claims import approval_assign, approval_claim, approval_unclaim
from workflows.approvals.decisions import approval_decide, approval_deliver
from workflows.approvals.requests import approval_request, workflow_order_cancelled
from workflows.approvals.rules import (
    ASSIGN_PERMISSION,
    DECIDE_PERMISSION,
    ApprovalActions,
    ApprovalNotPending,
    AssigneeNotAllowed,
    ClaimedByAnother,
    ReasonRequired,
    SecondApproverRequired,
    approval_actions,
    approval_required_count,
)
from workflows.approvals.sweep import approval_sweep

__all__ = [
    "ASSIGN_PERMISSION",
    "DECIDE_PERMISSION",
    "ApprovalActions",
    "ApprovalNotPending",
    "AssigneeNotAllowed",
    "BulkOutcome",
    "ClaimedByAnother",
    "ReasonRequired",
    "SecondApproverRequired",
    "TooManyForBulk",
    "approval_actions",
    "approval_assign",
    "approval_bulk_approve",
    "approval_claim",
    "approval_decide",
    "approval_deliver",
    "approval_request",
    "approval_required_count",
    "approval_sweep",
    "approval_unclaim",
    "workflow_order_cancelled",
]
