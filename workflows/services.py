"""Workflow state changes: starting executions, running step tasks, and approvals.

Decisions on approvals happen once: a conditional update (``status = PENDING``) lets one
request claim the approval, and only that request calls Step Functions. The decision is
committed before the call, so the workflow's next step always finds the order decided;
if the call fails for a transient reason, the recorded decision is delivered again later.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from console.aws import resources
from console.models import AuditEntry
from console.platform import observability
from console.platform.audit import audit_record
from orders.lifecycle import InvalidTransition, OrderStatus
from orders.models import Order
from orders.services import order_transition
from workflows import sfn
from workflows.models import Approval, Execution, StepRun, token_digest
from workflows.starts import (  # noqa: F401 - execution_name and workflow_policy are this module's API too
    StartPacer,
    execution_input,
    execution_name,
    requests_waiting,
    workflow_policy,
    workflow_start_request,
    workflow_starts_follow_up,
    workflow_starts_run,
    workflow_starts_signal,
)
from workflows.steps import STEPS, TERMINAL_STEPS, StepFailed

logger = logging.getLogger(__name__)


# --- Executions -------------------------------------------------------------------------


def workflow_enqueue_start(*, order_id: UUID) -> None:
    """Ask for the start of an order's workflow; called after the order's commit.

    Records the start request and makes sure a starter runs (``workflows.starts``: no job
    per order). Never fails the caller: a request that could not be recorded leaves the
    order without an execution record, and ``workflow_start_missing`` (scheduled) starts
    it later.
    """
    try:
        workflow_start_request(order_ids=[order_id])
    except Exception:
        logger.exception("could not record the workflow start of order %s; the sweep will start it", order_id)
        return
    workflow_starts_signal()


# Orders without any execution record after this long: their request was lost (a crash
# between the order's commit and the request) or an import has not handed them on yet.
UNREQUESTED_AFTER_SECONDS = 60
# At most this many of those a run: an import hands its orders on at its own pace
# (CSV_IMPORT_WORKFLOW_STARTS_PER_SECOND), which the sweep must not overtake wholesale.
UNREQUESTED_PER_RUN = 500


def workflow_start_missing(
    *, older_than_seconds: int = UNREQUESTED_AFTER_SECONDS, deadline: float | None = None
) -> int:
    """Scheduled safety net: start every workflow that should be running by now. Returns
    how many it started.

    When start requests have waited longer than ``older_than_seconds`` (their starter died,
    its job was lost, or no signal got through; the live path starts them within seconds),
    the batched starter runs here over every waiting request, at
    ``WORKFLOW_STARTS_PER_SECOND``, until ``deadline`` (``time.monotonic()``); a
    continuation goes on after it. Orders with no execution record at all, older than
    ``older_than_seconds``, are started one by one, ``UNREQUESTED_PER_RUN`` a run.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    orders = Order.objects.filter(
        status=OrderStatus.CREATED, created_at__lt=cutoff, executions__isnull=True
    ).values_list("pk", flat=True)[:UNREQUESTED_PER_RUN]
    started = 0
    for order_id in orders:
        try:
            workflow_start(order_id=order_id)
            started += 1
        except Exception:
            logger.exception("could not start the workflow of order %s", order_id)
    if not requests_waiting().filter(created_at__lt=cutoff).exists():
        return started
    run = workflow_starts_run(deadline=deadline)
    workflow_starts_follow_up(run)
    return started + run.started


def workflow_start(*, order_id: UUID) -> Execution:
    """Start the order's execution now, in this process (restarts and single starts; orders
    the API creates go through the batched starter). Takes its token from the same
    budget. Safe to repeat: the name is deterministic, so a second start finds the first
    execution instead of starting another."""
    order = Order.objects.get(pk=order_id)
    state_machine_arn = resources.state_machine_arn(resources.ORDER_PROCESSING)
    name = execution_name(order.pk)
    execution, _ = Execution.objects.get_or_create(
        name=name, defaults={"order": order, "state_machine": resources.ORDER_PROCESSING}
    )
    if execution.arn:
        return execution
    StartPacer().acquire()
    arn = sfn.start_execution(state_machine_arn=state_machine_arn, name=name, payload=execution_input(order))
    Execution.objects.filter(pk=execution.pk).update(
        arn=arn, status=Execution.Status.RUNNING, started_at=timezone.now(), error=""
    )
    execution.refresh_from_db()
    return execution


def execution_for_message(*, order: Order, execution_arn: str) -> Execution:
    """Our record of the execution a task message came from (made if we never saw it)."""
    name = execution_arn.rsplit(":", 1)[-1]
    execution, created = Execution.objects.get_or_create(
        name=name,
        defaults={
            "order": order,
            "arn": execution_arn,
            "state_machine": execution_arn.rsplit(":", 2)[-2],
            "status": Execution.Status.RUNNING,
            "started_at": timezone.now(),
        },
    )
    if not created and (not execution.arn or execution.status == Execution.Status.PENDING):
        Execution.objects.filter(pk=execution.pk).update(arn=execution_arn, status=Execution.Status.RUNNING)
        execution.refresh_from_db()
    return execution


def execution_refresh(*, execution: Execution) -> Execution:
    """Bring our record in line with what Step Functions says now."""
    if not execution.arn:
        return execution
    described = sfn.describe_execution(execution_arn=execution.arn)
    execution.status = described["status"]
    execution.stopped_at = described.get("stopDate")
    execution.error = described.get("error", "")[:256]
    execution.cause = described.get("cause", "")
    if execution.status == Execution.Status.RUNNING:
        execution.current_state = sfn.current_state(execution_arn=execution.arn) or execution.current_state
    execution.save(update_fields=["status", "stopped_at", "error", "cause", "current_state", "updated_at"])
    return execution


# --- Step tasks -------------------------------------------------------------------------


@dataclass
class TaskMessage:
    """The body the state machine sends with each callback task."""

    step: str
    order_id: str
    task_token: str
    execution_arn: str
    raw: dict[str, Any]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> "TaskMessage":
        missing = [key for key in ("step", "orderId", "taskToken", "executionArn") if not body.get(key)]
        if missing:
            raise ValueError(f"task message lacks {', '.join(missing)}")
        return cls(body["step"], body["orderId"], body["taskToken"], body["executionArn"], body)


def step_task_run(
    *, message: TaskMessage, steps: dict[str, Any] | None = None, terminal_steps: dict[str, str] | None = None
) -> StepRun:
    """Run one step task and answer Step Functions.

    At-least-once delivery is expected: the run is keyed by its task token, so a redelivered
    message never runs the step twice; it re-sends the recorded answer if that was not
    acknowledged. A task that is no longer open (timed out, execution gone) is recorded
    and dropped. Any other exception propagates, so the message is retried and, in the end,
    lands in the dead-letter queue.
    """
    steps = STEPS if steps is None else steps
    step_function = steps.get(message.step)
    if step_function is None:
        raise ValueError(f"unknown workflow step {message.step!r}")
    order = Order.objects.get(pk=message.order_id)
    execution = execution_for_message(order=order, execution_arn=message.execution_arn)
    digest = token_digest(message.task_token)

    with transaction.atomic():
        run, created = StepRun.objects.select_for_update().get_or_create(
            token_sha256=digest, defaults={"execution": execution, "step": message.step}
        )
        if run.status == StepRun.Status.STARTED:
            Execution.objects.filter(pk=execution.pk).update(current_state=message.step)
            try:
                with transaction.atomic():
                    run.output = step_function(order, message.raw)
                    run.status = StepRun.Status.SUCCEEDED
            except StepFailed as failure:
                run.status, run.error, run.cause = StepRun.Status.FAILED, failure.error, failure.cause
            except InvalidTransition as exc:
                run.status, run.error, run.cause = StepRun.Status.FAILED, "InvalidOrderState", str(exc)
            run.finished_at = timezone.now()
            run.save()

    if run.answered_at is None:
        _step_answer(
            run=run,
            message=message,
            execution=execution,
            terminal_steps=TERMINAL_STEPS if terminal_steps is None else terminal_steps,
        )
    return run


def _step_answer(*, run: StepRun, message: TaskMessage, execution: Execution, terminal_steps: dict[str, str]) -> None:
    try:
        if run.status == StepRun.Status.SUCCEEDED:
            sfn.send_task_success(task_token=message.task_token, output=run.output or {})
        else:
            sfn.send_task_failure(task_token=message.task_token, error=run.error, cause=run.cause)
    except sfn.TaskNotOpen as exc:
        logger.warning("step %s of %s: task no longer open (%s)", run.step, execution.name, exc.aws_code)
        run.error = run.error or exc.aws_code
        run.cause = run.cause or f"Task no longer open: {exc}"
    run.answered_at = timezone.now()
    run.save(update_fields=["answered_at", "error", "cause"])
    terminal = terminal_steps.get(run.step)
    if terminal and run.status == StepRun.Status.SUCCEEDED:
        Execution.objects.filter(pk=execution.pk).update(status=terminal, stopped_at=timezone.now())


# --- Approvals --------------------------------------------------------------------------


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


DECIDE_PERMISSION = "workflows.decide_approval"
ASSIGN_PERMISSION = "workflows.assign_approval"


def approval_required_count(*, total: Decimal) -> int:
    """How many approvals an order of ``total`` needs (four-eyes above the threshold)."""
    return 2 if total > Decimal(str(settings.APPROVAL_FOUR_EYES_ABOVE)) else 1


def approval_request(*, message: TaskMessage) -> Approval:
    """Store a pending approval for the task in ``message`` (idempotent per task token),
    and email the approvers once it is committed."""
    order = Order.objects.get(pk=message.order_id)
    execution = execution_for_message(order=order, execution_arn=message.execution_arn)
    entered = parse_datetime(message.raw.get("enteredTime") or "") or timezone.now()
    timeout = message.raw.get("timeoutSeconds")
    expires_at = entered + timedelta(seconds=int(timeout)) if timeout else None
    heartbeat = message.raw.get("heartbeatSeconds")
    try:
        with transaction.atomic():
            approval = Approval.objects.create(
                order=order,
                execution=execution,
                state_name=message.raw.get("stateName") or message.step,
                task_token=message.task_token,
                token_sha256=token_digest(message.task_token),
                expires_at=expires_at,
                required_approvals=approval_required_count(total=order.total),
                heartbeat_seconds=int(heartbeat) if heartbeat else None,
                checked_at=entered,
            )
            Execution.objects.filter(pk=execution.pk).update(current_state=approval.state_name)
            if order.status == OrderStatus.CANCELLED:
                _approval_cancel(approval=approval, reason=order.status_reason)
            else:
                order_transition(order_id=order.pk, to_status=OrderStatus.AWAITING_APPROVAL)
                approval_id = approval.pk
                transaction.on_commit(lambda: _approval_notify_quietly(approval_id))
    except IntegrityError:
        # The same task delivered again: the approval already exists.
        return Approval.objects.get(token_sha256=token_digest(message.task_token))
    return approval


def _approval_notify_quietly(approval_id: int) -> None:
    from workflows.notifications import approval_notify

    try:
        approval_notify(approval_id=approval_id)
    except Exception:
        # The approval is stored and in the inbox; a lost email must not lose the task.
        logger.exception("could not email the approvers of approval %s", approval_id)


@observability.with_correlation("approval_id")
def approval_decide(
    *,
    approval_id: int,
    approve: bool,
    actor,
    reason: str = "",
    source: str = AuditEntry.Source.CONSOLE,
) -> Approval:
    """Approve or reject, once. ``reason`` is the rejection's reason (required) or the
    approval's note (optional); both are stored, audited and sent to the workflow.

    Four-eyes orders (``required_approvals == 2``): the first approval is recorded and the
    approval stays pending (returned with ``needs_second_approval``); a second approval by a
    different operator decides. Anyone may reject. An approval claimed by a colleague is
    theirs to decide.

    Raises ``ApprovalNotPending`` (with a plain message; ``ClaimedByAnother`` and
    ``SecondApproverRequired`` are kinds of it) when the approval is not open for this
    decision, and ``ReasonRequired`` for a reject without reason. Every step is a
    conditional update, so of concurrent requests exactly one decides, and only that one
    calls Step Functions.
    """
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ReasonRequired("A rejection needs a reason.")
    approval = Approval.objects.select_related("order", "execution").get(pk=approval_id)
    _refuse_if_not_open(approval)
    decided = Approval.Status.APPROVED if approve else Approval.Status.REJECTED
    now = timezone.now()
    open_to_actor = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).filter(
        Q(claimed_by__isnull=True) | Q(claimed_by=actor)
    )
    if approve and approval.required_approvals > 1:
        with transaction.atomic():
            first = open_to_actor.filter(first_approved_by__isnull=True).update(
                first_approved_by=actor, first_approved_at=now, first_note=reason, claimed_by=None, claimed_at=None
            )
            if first:
                audit_record(
                    action="approval.first_approve",
                    obj=approval,
                    actor=actor,
                    source=source,
                    reason=reason,
                    before={"approvals": 0},
                    after={"approvals": 1, "required": approval.required_approvals, "order": str(approval.order_id)},
                )
        if first:
            approval.refresh_from_db()
            return approval
        # Someone gave the first approval: this one decides, unless it is the same person.
        open_to_actor = open_to_actor.filter(first_approved_by__isnull=False).exclude(first_approved_by=actor)
    try:
        with transaction.atomic():
            claimed = open_to_actor.update(
                status=decided, decided_by=actor, decided_at=now, reason=reason, claimed_by=None, claimed_at=None
            )
            if not claimed:
                approval.refresh_from_db()
                raise _refusal(approval, actor)
            order_transition(
                order_id=approval.order_id,
                to_status=OrderStatus.APPROVED if approve else OrderStatus.REJECTED,
                actor=actor,
                source=source,
                reason=reason,
            )
    except InvalidTransition as exc:
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, f"The order can no longer be decided: {exc}") from exc
    approval.refresh_from_db()
    observability.metric("ApprovalsDecided", decision=decided.lower())
    with observability.correlation(order_id=approval.order_id):
        return approval_deliver(approval=approval, source=source)


def _refusal(approval: Approval, actor) -> ApprovalNotPending:
    """Why a decision's conditional update found nothing to update, in plain words."""
    if approval.status != Approval.Status.PENDING:
        return ApprovalNotPending(approval, _not_pending_message(approval))
    if approval.claimed_by_id and approval.claimed_by_id != actor.pk:
        return ClaimedByAnother(approval, _claimed_message(approval))
    if approval.first_approved_by_id == actor.pk:
        return SecondApproverRequired(
            approval,
            f"You gave the first approval at {_when(approval.first_approved_at)}; this order needs a second "
            "approval by a different operator.",
        )
    return ApprovalNotPending(approval, "The approval changed while you decided; reload it and decide again.")


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "?"


def _claimed_message(approval: Approval) -> str:
    who = approval.claimed_by.get_username() if approval.claimed_by else "a colleague"
    return (
        f"Claimed by {who} since {_when(approval.claimed_at)}: ask them to release it, "
        "or have it assigned to you. Nothing was sent."
    )


def approval_deliver(*, approval: Approval, source: str = AuditEntry.Source.SYSTEM) -> Approval:
    """Send a recorded decision to Step Functions (at most once successfully).

    The task output (approve) carries who approved and their notes, both approvers for a
    four-eyes order; the failure (reject) carries the reason as its cause.

    A task that is no longer open turns the approval expired/closed/invalid and fails the
    order if it had been approved. Transient AWS errors propagate; the decision stays
    recorded and undelivered, so delivery can be retried (the sweep does).
    """
    if approval.delivered_at or approval.status not in {Approval.Status.APPROVED, Approval.Status.REJECTED}:
        return approval
    actor = approval.decided_by
    actor_name = actor.get_username() if actor else ""
    approvers = []
    try:
        if approval.status == Approval.Status.APPROVED:
            output: dict[str, Any] = {"approved": True, "approvedBy": actor_name, "note": approval.reason}
            if approval.required_approvals > 1:
                first = approval.first_approved_by
                approvers = [first.get_username() if first else "", actor_name]
                output["approvals"] = [
                    {"by": approvers[0], "at": _iso(approval.first_approved_at), "note": approval.first_note},
                    {"by": actor_name, "at": _iso(approval.decided_at), "note": approval.reason},
                ]
            request_id = sfn.send_task_success(task_token=approval.task_token, output=output)
        else:
            request_id = sfn.send_task_failure(
                task_token=approval.task_token,
                error="OrderRejected",
                cause=f"Rejected by {actor_name}: {approval.reason}",
            )
    except sfn.TaskNotOpen as exc:
        return _approval_task_gone(approval=approval, exc=exc)
    with transaction.atomic():
        approval.delivered_at = timezone.now()
        approval.aws_request_id = request_id
        approval.save(update_fields=["delivered_at", "aws_request_id"])
        after = {"status": approval.status, "order": str(approval.order_id)}
        if approvers:
            after["approvers"] = approvers
        audit_record(
            action="approval.approve" if approval.status == Approval.Status.APPROVED else "approval.reject",
            obj=approval,
            actor=actor,
            source=source,
            reason=approval.reason,
            before={"status": Approval.Status.PENDING},
            after=after,
            aws_request_id=request_id,
        )
    return approval


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _approval_task_gone(*, approval: Approval, exc: sfn.TaskNotOpen) -> Approval:
    status = {
        "expired": Approval.Status.EXPIRED,
        "invalid": Approval.Status.INVALID,
    }.get(exc.status, Approval.Status.CLOSED)
    decision = approval.status
    with transaction.atomic():
        approval.status = status
        approval.outcome_detail = (
            f"{decision.title()} by {approval.decided_by or 'someone'}, but Step Functions "
            f"answered {exc.aws_code}: the task is no longer open, so nothing was resumed."
        )
        approval.save(update_fields=["status", "outcome_detail"])
        if decision == Approval.Status.APPROVED:
            order = Order.objects.get(pk=approval.order_id)
            if order.status == OrderStatus.APPROVED:
                order_transition(
                    order_id=order.pk,
                    to_status=OrderStatus.FAILED,
                    reason=f"Approval task no longer open ({exc.aws_code})",
                )
        audit_record(
            action="approval.task_not_open",
            obj=approval,
            actor=approval.decided_by,
            reason=approval.outcome_detail,
            before={"status": decision},
            after={"status": status},
        )
    raise ApprovalNotPending(approval, approval.outcome_detail)


def _refuse_if_not_open(approval: Approval) -> None:
    """Refuse, without calling AWS, a decision we already know cannot be delivered."""
    if approval.status != Approval.Status.PENDING:
        raise ApprovalNotPending(approval, _not_pending_message(approval))
    if approval.expires_at and approval.expires_at <= timezone.now():
        Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=Approval.Status.EXPIRED, outcome_detail="The approval's task timed out."
        )
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, _not_pending_message(approval))
    if approval.execution and not approval.execution.is_open:
        Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=Approval.Status.CLOSED,
            outcome_detail=f"The execution has ended ({approval.execution.status}).",
        )
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, _not_pending_message(approval))


def _not_pending_message(approval: Approval) -> str:
    who = approval.decided_by.get_username() if approval.decided_by else None
    when = timezone.localtime(approval.decided_at).strftime("%Y-%m-%d %H:%M:%S %Z") if approval.decided_at else None
    match approval.status:
        case Approval.Status.APPROVED | Approval.Status.REJECTED:
            return f"Already {approval.status.lower()} by {who} at {when}; nothing was sent again."
        case Approval.Status.EXPIRED:
            return "This approval has expired: the workflow stopped waiting for it. Nothing was sent."
        case Approval.Status.CLOSED:
            return f"The workflow no longer waits for this approval. {approval.outcome_detail}".strip()
        case Approval.Status.INVALID:
            return "Step Functions does not recognise this approval's task token. Nothing was sent."
        case Approval.Status.CANCELLED:
            return "The order was cancelled; the approval was closed with it."
    return f"The approval is {approval.status.lower()}."


def _approval_cancel(*, approval: Approval, reason: str) -> None:
    """Close a pending approval with its order and fail the task after commit."""
    claimed = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
        status=Approval.Status.CANCELLED, outcome_detail=reason or "Order cancelled"
    )
    if not claimed:
        return
    token = approval.task_token

    def fail_task() -> None:
        try:
            sfn.send_task_failure(task_token=token, error="OrderCancelled", cause=reason or "Order cancelled")
        except sfn.TaskNotOpen:
            pass
        except Exception:
            # The workflow will still end: its approval task times out into RecordFailure.
            logger.exception("could not fail the approval task of a cancelled order")

    transaction.on_commit(fail_task)


def workflow_order_cancelled(*, order: Order, actor=None, reason: str = "") -> None:
    """End the workflow of a cancelled order at its pending approval, if it has one."""
    for approval in Approval.objects.filter(order=order, status=Approval.Status.PENDING):
        _approval_cancel(approval=approval, reason=reason or "Order cancelled")


# --- Claims and assignment ------------------------------------------------------------------


def approval_claim(*, approval_id: int, actor, source: str = AuditEntry.Source.CONSOLE) -> Approval:
    """Take a pending approval: colleagues see it as yours and cannot decide it meanwhile.
    Claiming your own claim again is harmless. Raises ``ClaimedByAnother`` or
    ``ApprovalNotPending``."""
    now = timezone.now()
    with transaction.atomic():
        taken = Approval.objects.filter(pk=approval_id, status=Approval.Status.PENDING, claimed_by__isnull=True).update(
            claimed_by=actor, claimed_at=now
        )
        approval = Approval.objects.select_related("claimed_by", "decided_by").get(pk=approval_id)
        if taken:
            audit_record(
                action="approval.claim", obj=approval, actor=actor, source=source, after={"claimedBy": _name(actor)}
            )
            return approval
    if approval.status != Approval.Status.PENDING:
        raise ApprovalNotPending(approval, _not_pending_message(approval))
    if approval.claimed_by_id == actor.pk:
        return approval
    raise ClaimedByAnother(approval, _claimed_message(approval))


def approval_unclaim(*, approval_id: int, actor, source: str = AuditEntry.Source.CONSOLE) -> Approval:
    """Release a claim: your own, or anyone's with ``workflows.assign_approval``."""
    with transaction.atomic():
        approval = Approval.objects.select_related("claimed_by").get(pk=approval_id)
        holder = approval.claimed_by
        if holder is None:
            return approval
        released = Approval.objects.filter(pk=approval_id, claimed_by=holder)
        if holder.pk != actor.pk and not actor.has_perm(ASSIGN_PERMISSION):
            raise ClaimedByAnother(
                approval, f"Claimed by {holder.get_username()}: only they or an admin can release it."
            )
        if released.update(claimed_by=None, claimed_at=None):
            audit_record(
                action="approval.unclaim",
                obj=approval,
                actor=actor,
                source=source,
                before={"claimedBy": holder.get_username()},
                after={"claimedBy": None},
            )
    approval.refresh_from_db()
    return approval


def approval_assign(*, approval_id: int, assignee, actor, source: str = AuditEntry.Source.CONSOLE) -> Approval:
    """Give a pending approval to a colleague who may decide it (as their claim).

    Anyone who may decide can pass on an unclaimed approval or their own claim; taking a
    colleague's claim away needs ``workflows.assign_approval``. Raises
    ``AssigneeNotAllowed``, ``ClaimedByAnother`` or ``ApprovalNotPending``.
    """
    approval = Approval.objects.select_related("claimed_by").get(pk=approval_id)
    if not assignee.is_active or not assignee.is_staff or not assignee.has_perm(DECIDE_PERMISSION):
        raise AssigneeNotAllowed(f"{assignee.get_username()} may not decide approvals.")
    if approval.required_approvals > 1 and approval.first_approved_by_id == assignee.pk:
        raise AssigneeNotAllowed(
            f"{assignee.get_username()} gave the first approval; the second must come from someone else."
        )
    before = approval.claimed_by.get_username() if approval.claimed_by else None
    with transaction.atomic():
        target = Approval.objects.filter(pk=approval_id, status=Approval.Status.PENDING)
        if not actor.has_perm(ASSIGN_PERMISSION):
            target = target.filter(Q(claimed_by__isnull=True) | Q(claimed_by=actor))
        assigned = target.update(claimed_by=assignee, claimed_at=timezone.now())
        approval.refresh_from_db()
        if assigned:
            audit_record(
                action="approval.assign",
                obj=approval,
                actor=actor,
                source=source,
                before={"claimedBy": before},
                after={"claimedBy": assignee.get_username()},
            )
            return approval
    if approval.status != Approval.Status.PENDING:
        raise ApprovalNotPending(approval, _not_pending_message(approval))
    raise ClaimedByAnother(approval, _claimed_message(approval))


def _name(user) -> str:
    return user.get_username() if user is not None else ""


# --- Bulk approve -------------------------------------------------------------------------------


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
                outcome.refused.append((decided, _not_pending_message(decided)))
    return outcome


# --- The sweep: expiry, ended executions, heartbeats, undelivered decisions ---------------------

# How often a pending approval without heartbeats has its execution described.
_CHECK_EVERY = timedelta(minutes=5)
# A decision recorded but not delivered this long ago is delivered again.
_REDELIVER_AFTER = timedelta(seconds=30)


def approval_sweep(*, now=None, limit: int = 200) -> dict[str, int]:
    """Scheduled: mark pending approvals whose timeout passed (EXPIRED) or whose execution
    ended (CLOSED), send heartbeats for tasks with HeartbeatSeconds, and deliver decisions
    a transient error left undelivered. Each approval is handled on its own: one failure
    is logged and the rest go on. Returns counts per outcome."""
    now = now or timezone.now()
    counts = {"expired": 0, "closed": 0, "heartbeats": 0, "checked": 0, "redelivered": 0, "errors": 0}

    for approval in Approval.objects.filter(status=Approval.Status.PENDING, expires_at__lte=now)[:limit]:
        if _approval_close_undecided(
            approval=approval,
            status=Approval.Status.EXPIRED,
            detail=f"The approval's task timed out at {_when(approval.expires_at)}: the workflow stopped waiting.",
        ):
            counts["expired"] += 1

    pending = (
        Approval.objects.filter(status=Approval.Status.PENDING)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("execution")
        .order_by("checked_at", "id")
    )
    for approval in pending[:limit]:
        try:
            if approval.heartbeat_seconds:
                due = (approval.checked_at or approval.requested_at) + timedelta(
                    seconds=max(approval.heartbeat_seconds // 3, 1)
                )
                if due > now:
                    continue
                counts[_approval_heartbeat(approval=approval, now=now)] += 1
            elif approval.execution and approval.execution.arn:
                if (approval.checked_at or approval.requested_at) + _CHECK_EVERY > now:
                    continue
                counts[_approval_check_execution(approval=approval, now=now)] += 1
        except Exception:
            logger.exception("sweep: approval %s could not be checked", approval.pk)
            counts["errors"] += 1

    undelivered = Approval.objects.filter(
        status__in=[Approval.Status.APPROVED, Approval.Status.REJECTED],
        delivered_at__isnull=True,
        decided_at__lte=now - _REDELIVER_AFTER,
    ).select_related("order", "decided_by", "first_approved_by")
    for approval in undelivered[:limit]:
        try:
            approval_deliver(approval=approval, source=AuditEntry.Source.SYSTEM)
            counts["redelivered"] += 1
        except ApprovalNotPending:
            counts["closed"] += 1
        except Exception:
            logger.exception("sweep: the decision on approval %s is still undelivered", approval.pk)
            counts["errors"] += 1
    return counts


def _approval_heartbeat(*, approval: Approval, now) -> str:
    try:
        sfn.send_task_heartbeat(task_token=approval.task_token)
    except sfn.TaskNotOpen as exc:
        status = {"expired": Approval.Status.EXPIRED, "invalid": Approval.Status.INVALID}.get(
            exc.status, Approval.Status.CLOSED
        )
        _approval_close_undecided(
            approval=approval,
            status=status,
            detail=f"Step Functions answered {exc.aws_code} to a heartbeat: the workflow no longer waits for it.",
        )
        return "closed" if status != Approval.Status.EXPIRED else "expired"
    Approval.objects.filter(pk=approval.pk).update(checked_at=now)
    return "heartbeats"


def _approval_check_execution(*, approval: Approval, now) -> str:
    execution = execution_refresh(execution=approval.execution)
    if execution.is_open:
        Approval.objects.filter(pk=approval.pk).update(checked_at=now)
        return "checked"
    detail = f"The execution has ended ({execution.status}{': ' + execution.error if execution.error else ''})."
    _approval_close_undecided(approval=approval, status=Approval.Status.CLOSED, detail=detail)
    return "closed"


def _approval_close_undecided(*, approval: Approval, status: str, detail: str) -> bool:
    """Mark a still-pending approval as no longer decidable (nothing is sent to AWS)."""
    with transaction.atomic():
        closed = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=status, outcome_detail=detail, claimed_by=None, claimed_at=None
        )
        if closed:
            audit_record(
                action=f"approval.{status.lower()}",
                obj=approval,
                reason=detail,
                before={"status": Approval.Status.PENDING},
                after={"status": status},
            )
    return bool(closed)


def execution_sweep(*, limit: int = 50, older_than: timedelta = timedelta(minutes=1)) -> int:
    """Bring executions we still think are running in line with Step Functions (the ones
    not looked at for longest first). Returns how many ended."""
    ended = 0
    stale = Execution.objects.filter(status=Execution.Status.RUNNING, updated_at__lt=timezone.now() - older_than)
    for execution in stale.exclude(arn="").order_by("updated_at")[:limit]:
        try:
            execution = execution_refresh(execution=execution)
        except Exception:
            logger.exception("sweep: could not describe %s", execution.name)
            continue
        ended += not execution.is_open
    return ended


# --- Restarting executions ----------------------------------------------------------------------


class ExecutionNotRestartable(Exception):
    """The execution (or its order) cannot be restarted; the message says why."""


RESTARTABLE_STATUSES = {Execution.Status.FAILED, Execution.Status.TIMED_OUT, Execution.Status.ABORTED}


def execution_restart(
    *, execution_id: int, actor, reason: str = "", source: str = AuditEntry.Source.CONSOLE
) -> Execution:
    """Restart a failed, timed out or aborted execution; returns the execution now running.

    RedriveExecution continues an execution from its unsuccessful step, where the engine
    has it (AWS). When that step is one of the definition's own Fail states (the failure
    was already handled: recorded, compensated), redriving would only fail again; and the
    local engine has no RedriveExecution. In those cases a new execution starts with the
    same input, named ``<name>-restart-<n>`` and linked to this one. An order-processing
    restart starts the failed order over (FAILED -> CREATED) first. Audited either way.

    Raises ``ExecutionNotRestartable`` with the reason, and ``sfn.StepFunctionsUnavailable``
    when AWS answers RedriveExecution with a server error or throttling: the execution may
    still be redrivable, so nothing is started and the order stays as it is.
    """
    execution = Execution.objects.select_related("order").get(pk=execution_id)
    if execution.arn:
        execution = execution_refresh(execution=execution)
    if execution.status not in RESTARTABLE_STATUSES:
        raise ExecutionNotRestartable(
            f"Only failed, timed out or aborted executions can be restarted; this one is {execution.status}."
        )
    if execution.restarts.exclude(status__in=RESTARTABLE_STATUSES | {Execution.Status.SUCCEEDED}).exists():
        raise ExecutionNotRestartable("A restart of this execution is already running.")
    described = sfn.describe_execution(execution_arn=execution.arn)
    designed_end = execution.error in _fail_state_errors(described["stateMachineArn"])
    is_order_processing = execution.state_machine.endswith(resources.ORDER_PROCESSING)
    order = execution.order
    if is_order_processing and order.status != OrderStatus.FAILED:
        raise ExecutionNotRestartable(
            f"The order is {order.status}: only the workflow of a failed order can be restarted."
        )

    if not designed_end:
        try:
            request_id = sfn.redrive_execution(execution_arn=execution.arn)
        except (sfn.RedriveUnsupported, sfn.ExecutionNotRedrivable) as exc:
            logger.info("redrive of %s not possible (%s); starting a new execution", execution.name, exc)
        else:
            with transaction.atomic():
                Execution.objects.filter(pk=execution.pk).update(
                    status=Execution.Status.RUNNING,
                    stopped_at=None,
                    error="",
                    cause="",
                    redrive_count=execution.redrive_count + 1,
                    restart_method="redrive",
                )
                audit_record(
                    action="execution.restart",
                    obj=execution,
                    actor=actor,
                    source=source,
                    reason=reason,
                    before={"status": execution.status, "error": execution.error},
                    after={"status": Execution.Status.RUNNING, "method": "redrive"},
                    aws_request_id=request_id,
                )
            execution.refresh_from_db()
            return execution

    # Restarts of restarts keep one numbering: order-<id>-restart-1, -2, ...
    root_name = execution.name.split("-restart-")[0]
    name = f"{root_name}-restart-{Execution.objects.filter(name__startswith=f'{root_name}-restart-').count() + 1}"
    with transaction.atomic():
        restarted = Execution.objects.create(
            order=order,
            name=name,
            state_machine=execution.state_machine,
            restarted_from=execution,
            restart_method="new-execution",
        )
        if is_order_processing:
            order_transition(
                order_id=order.pk,
                to_status=OrderStatus.CREATED,
                actor=actor,
                source=source,
                reason=f"Workflow restarted ({name}){': ' + reason if reason else ''}",
            )
    try:
        arn = sfn.start_execution(
            state_machine_arn=described["stateMachineArn"],
            name=name,
            payload=json.loads(described.get("input") or "{}"),
        )
    except Exception:
        with transaction.atomic():
            Execution.objects.filter(pk=restarted.pk).delete()
            if is_order_processing:
                order_transition(
                    order_id=order.pk, to_status=OrderStatus.FAILED, reason=order.status_reason or "Restart failed"
                )
        raise
    with transaction.atomic():
        Execution.objects.filter(pk=restarted.pk).update(
            arn=arn, status=Execution.Status.RUNNING, started_at=timezone.now()
        )
        audit_record(
            action="execution.restart",
            obj=execution,
            actor=actor,
            source=source,
            reason=reason,
            before={"status": execution.status, "error": execution.error},
            after={"method": "new-execution", "newExecution": name, "newExecutionArn": arn},
        )
    restarted.refresh_from_db()
    return restarted


def _fail_state_errors(state_machine_arn: str) -> set[str]:
    """The errors of the definition's own Fail states (failures it ends on by design)."""
    definition = json.loads(sfn.describe_state_machine(state_machine_arn=state_machine_arn)["definition"])
    errors: set[str] = set()

    def collect(states: dict) -> None:
        for state in states.values():
            if state.get("Type") == "Fail" and state.get("Error"):
                errors.add(state["Error"])
            for branch in state.get("Branches", []):
                collect(branch.get("States", {}))

    collect(definition.get("States", {}))
    return errors
