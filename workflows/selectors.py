"""Reads for the approval inbox, the execution pages (history, definition, failure) and the
order page's timeline."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet
from django.utils import timezone

from orders.models import OrderItem
from orders.pages import TimelineEntry
from workflows import sfn
from workflows.models import Approval, Execution, StepRun

logger = logging.getLogger(__name__)


def order_workflow_timeline(*, order_id: UUID) -> list[TimelineEntry]:
    """An order's workflow, for its page's timeline (``orders.pages``): each step our
    handlers ran, each approval requested and decided (and by whom). Two queries, whatever
    the number of executions, steps and approvals."""
    entries = []
    steps = StepRun.objects.filter(execution__order_id=order_id).select_related("execution").order_by("started_at")
    for run in steps:
        detail = f"{run.error}: {run.cause}" if run.error else ""
        entries.append(
            TimelineEntry(run.started_at, "step", f"Step {run.step}: {run.get_status_display()}", "", detail)
        )
    approvals = Approval.objects.filter(order_id=order_id).select_related("decided_by").order_by("requested_at")
    for approval in approvals:
        entries.append(TimelineEntry(approval.requested_at, "approval", f"Approval requested ({approval.state_name})"))
        if approval.decided_at:
            who = approval.decided_by.get_username() if approval.decided_by else ""
            entries.append(
                TimelineEntry(
                    approval.decided_at,
                    "approval",
                    f"Approval {approval.get_status_display().lower()}",
                    who,
                    approval.reason or approval.outcome_detail,
                )
            )
    return entries


def approval_list(*, filters: dict | None = None, user=None) -> QuerySet[Approval]:
    """Approvals oldest first, with what the inbox shows fetched up front.

    Filters: ``status`` (default PENDING; "all" for every status), ``order_id`` (a full id or
    its first characters), ``claimed`` ("me", "unclaimed", "others"; "me"/"others" need
    ``user``), ``four_eyes`` (True/False), ``expires_within`` (a timedelta).
    """
    filters = filters or {}
    qs = Approval.objects.select_related("order", "claimed_by", "first_approved_by", "decided_by").prefetch_related(
        Prefetch("order__items", queryset=OrderItem.objects.order_by("id"))
    )
    status = filters.get("status") or Approval.Status.PENDING
    if status != "all":
        qs = qs.filter(status=status)
    if order_id := (filters.get("order_id") or "").strip():
        qs = qs.filter(order_id_filter(order_id))
    match filters.get("claimed"):
        case "me" if user is not None:
            qs = qs.filter(claimed_by=user)
        case "unclaimed":
            qs = qs.filter(claimed_by__isnull=True)
        case "others" if user is not None:
            qs = qs.filter(claimed_by__isnull=False).exclude(claimed_by=user)
    if filters.get("four_eyes") is not None:
        qs = qs.filter(required_approvals__gt=1) if filters["four_eyes"] else qs.filter(required_approvals=1)
    if within := filters.get("expires_within"):
        qs = qs.filter(expires_at__lte=timezone.now() + within)
    return qs.order_by("requested_at", "id")


@dataclass(frozen=True)
class PendingNeighbours:
    """Around one approval, in the inbox's order (oldest first): the pending approvals
    just before and after it, the oldest other one, and how many are waiting."""

    previous: Approval | None
    next: Approval | None
    oldest: Approval | None
    waiting: int


def approval_pending_neighbours(*, approval: Approval, open_to=None) -> PendingNeighbours:
    """The pending approvals just before and after ``approval`` in the inbox's order, for
    the approval page's previous/next and the landing after a decision. With ``open_to``
    (an operator), only those they could decide now: not claimed by a colleague, and not a
    four-eyes order they gave the first approval of. Four queries, each on the status index."""
    pending = Approval.objects.filter(status=Approval.Status.PENDING).exclude(pk=approval.pk)
    if open_to is not None:
        pending = pending.filter(Q(claimed_by__isnull=True) | Q(claimed_by=open_to)).exclude(
            required_approvals__gt=1, first_approved_by=open_to
        )
    at = approval.requested_at
    after = Q(requested_at__gt=at) | Q(requested_at=at, id__gt=approval.pk)
    before = Q(requested_at__lt=at) | Q(requested_at=at, id__lt=approval.pk)
    return PendingNeighbours(
        previous=pending.filter(before).order_by("-requested_at", "-id").first(),
        next=pending.filter(after).order_by("requested_at", "id").first(),
        oldest=pending.order_by("requested_at", "id").first(),
        waiting=pending.count() + (1 if approval.is_pending else 0),
    )


def order_id_filter(term: str) -> Q:
    """An order id, whole or its first characters (as the console shows it, e.g. 1a2b3c4d)."""
    term = term.strip().lower()
    try:
        return Q(order_id=UUID(term))
    except ValueError:
        pass
    compact = term.replace("-", "")
    if len(compact) >= 4 and all(c in "0123456789abcdef" for c in compact):
        # Hyphens where a UUID has them, so the prefix matches the stored text on every database.
        hyphenated = "-".join(
            part for part in (compact[:8], compact[8:12], compact[12:16], compact[16:20], compact[20:]) if part
        )
        return Q(order__id__startswith=hyphenated)
    return Q(pk__in=[])


def items_summary(items: list[OrderItem], limit: int = 3) -> str:
    shown = [f"{item.quantity} × {item.name}" for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"and {len(items) - limit} more")
    return ", ".join(shown) or "no items"


# --- Execution history, readable ---------------------------------------------------------------

_REDACTED = "(task token, hidden)"


def redact(value: Any) -> Any:
    """The value with every task token replaced (history parameters carry them)."""
    if isinstance(value, dict):
        return {
            key: _REDACTED if "tasktoken" in key.lower().replace("_", "") else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(redact(json.loads(value)))
        except ValueError:
            return value
    return value


def _pretty(text: str | None) -> str:
    if text in (None, ""):
        return ""
    try:
        return json.dumps(redact(json.loads(text)), indent=2, sort_keys=False)
    except (TypeError, ValueError):
        return str(text)


@dataclass
class StateVisit:
    """One state the execution entered, with what went in and out and how it ended."""

    name: str
    type: str
    entered_at: datetime
    input: str = ""
    exited_at: datetime | None = None
    output: str = ""
    outcome: str = "running"  # succeeded, failed, timed out, running
    error: str = ""
    cause: str = ""
    resource: str = ""
    sent: str = ""
    timeout_seconds: int | None = None
    heartbeat_seconds: int | None = None
    attempts: int = 0

    @property
    def duration(self) -> timedelta | None:
        return (self.exited_at - self.entered_at) if self.exited_at else None


@dataclass
class ExecutionHistory:
    visits: list[StateVisit] = field(default_factory=list)
    input: str = ""
    output: str = ""
    outcome: str = "running"
    error: str = ""
    cause: str = ""
    events: int = 0


_TASK_FAILURES = {"TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed"}


def execution_history(*, execution_arn: str) -> ExecutionHistory:
    """The execution's GetExecutionHistory as the states it passed, in order."""
    return history_from_events(sfn.execution_history_all(execution_arn=execution_arn))


def history_from_events(events: list[dict[str, Any]]) -> ExecutionHistory:
    history = ExecutionHistory(events=len(events))
    visit_of_event: dict[int, StateVisit] = {}
    open_visits: dict[str, StateVisit] = {}
    last_task: StateVisit | None = None
    for event in events:
        kind = event["type"]
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), {}) or {}
        visit = visit_of_event.get(event.get("previousEventId") or -1)
        if kind == "ExecutionStarted":
            history.input = _pretty(details.get("input"))
        elif kind.endswith("StateEntered"):
            visit = StateVisit(
                name=details.get("name", ""),
                type=kind.removesuffix("StateEntered"),
                entered_at=event["timestamp"],
                input=_pretty(details.get("input")),
            )
            history.visits.append(visit)
            open_visits[visit.name] = visit
            if visit.type == "Task":
                last_task = visit
        elif kind.endswith("StateExited"):
            visit = open_visits.pop(details.get("name", ""), None)
            if visit is not None:
                visit.exited_at = event["timestamp"]
                visit.output = _pretty(details.get("output"))
                if visit.outcome == "running":
                    visit.outcome = "succeeded"
        elif kind.startswith("Task"):
            visit = visit or last_task
            if visit is not None:
                if kind == "TaskScheduled":
                    visit.attempts += 1
                    visit.resource = details.get("resource", "")
                    visit.sent = _pretty(details.get("parameters"))
                    visit.timeout_seconds = details.get("timeoutInSeconds")
                    visit.heartbeat_seconds = details.get("heartbeatInSeconds")
                    # A retry after a failure runs again.
                    visit.outcome, visit.error, visit.cause = "running", "", ""
                elif kind in _TASK_FAILURES:
                    visit.outcome = "timed out" if kind == "TaskTimedOut" else "failed"
                    visit.error, visit.cause = details.get("error", ""), _pretty(details.get("cause"))
                elif kind == "TaskSucceeded":
                    visit.outcome = "succeeded"
        elif kind.startswith("Execution"):
            if kind == "ExecutionSucceeded":
                history.outcome, history.output = "succeeded", _pretty(details.get("output"))
            elif kind in {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}:
                history.outcome = {"ExecutionFailed": "failed", "ExecutionTimedOut": "timed out"}.get(kind, "aborted")
                history.error, history.cause = details.get("error", ""), _pretty(details.get("cause"))
                # A Fail state is where the execution failed.
                for open_visit in open_visits.values():
                    open_visit.outcome = "failed"
                    open_visit.exited_at = event["timestamp"]
                    open_visit.error = open_visit.error or history.error
                    open_visit.cause = open_visit.cause or history.cause
        if visit is not None:
            visit_of_event[event["id"]] = visit
    return history


def execution_list(*, filters: dict | None = None) -> QuerySet[Execution]:
    filters = filters or {}
    qs = Execution.objects.select_related("order", "restarted_from")
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if machine := filters.get("state_machine"):
        qs = qs.filter(state_machine__endswith=machine)
    if order_id := filters.get("order_id"):
        qs = qs.filter(order_id_filter(order_id))
    return qs.order_by("-created_at", "-id")


def approval_inbox_fingerprint(*, now: datetime | None = None) -> str:
    """What the inbox of pending approvals shows, in one aggregate query over the pending
    rows (``status`` is indexed, and pending ones are few): it changes when an approval
    arrives, is decided, expires, is claimed, released or reassigned, or gets its first of
    two approvals, and every minute (the rows' "waiting" and "expires in" times). For a live
    poll's short cut (console.pages.live.live_not_modified)."""
    now = now or timezone.now()
    pending = Approval.objects.filter(status=Approval.Status.PENDING).aggregate(
        n=Count("id"),
        first=Min("id"),
        last=Max("id"),
        claimed=Count("claimed_by"),
        last_claim=Max("claimed_at"),
        halfway=Count("first_approved_by"),
        last_halfway=Max("first_approved_at"),
    )
    return json.dumps([pending, int(now.timestamp()) // 60], default=str, sort_keys=True)


def execution_page_fingerprint(*, execution: Execution, now: datetime | None = None) -> str:
    """What an execution's page shows from the database (its row, its steps, its approvals,
    its restarts), in three aggregate queries. An open execution's page also reads Step
    Functions, so its fingerprint also changes every 30 s: a live poll reaches AWS at most
    that often while nothing is recorded here."""
    now = now or timezone.now()
    steps = execution.steps.aggregate(n=Count("id"), last=Max("id"), done=Count("finished_at"))
    approvals = execution.approvals.aggregate(
        n=Count("id"), decided=Max("decided_at"), delivered=Max("delivered_at"), halfway=Max("first_approved_at")
    )
    restarts = execution.restarts.aggregate(n=Count("id"), changed=Max("updated_at"))
    row = [execution.status, execution.current_state, execution.updated_at, execution.error, execution.redrive_count]
    bucket = int(now.timestamp()) // 30 if execution.is_open else None
    return json.dumps([row, steps, approvals, restarts, bucket], default=str, sort_keys=True)


def approval_waiting_count() -> int:
    """Approvals waiting for a decision now."""
    return Approval.objects.filter(status=Approval.Status.PENDING).count()


def approval_decision_seconds_per_minute(*, start: datetime, end: datetime) -> dict[datetime, list[float]]:
    """Decisions made in each minute of [start, end) by an operator (approved or rejected),
    as seconds from request to decision: ``{minute: [seconds, ...]}``."""
    decided = (
        Approval.objects.filter(
            status__in=[Approval.Status.APPROVED, Approval.Status.REJECTED], decided_at__gte=start, decided_at__lt=end
        )
        .values_list("requested_at", "decided_at")
        .order_by()
    )
    found: dict[datetime, list[float]] = {}
    for requested_at, decided_at in decided:
        minute = decided_at.replace(second=0, microsecond=0)
        found.setdefault(minute, []).append(max(0.0, (decided_at - requested_at).total_seconds()))
    return found

# --- The execution page: its definition and its failure ------------------------------------------

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"


@lru_cache(maxsize=256)
def _definition_of(execution_arn: str) -> str:
    # An execution's definition never changes: one call per execution and warm process,
    # however often its page is opened (or polled).
    return sfn.execution_definition(execution_arn=execution_arn)


def execution_definition(*, execution: Execution) -> tuple[dict[str, Any], bool]:
    """The definition the execution runs, and whether it is the live one.

    From Step Functions (DescribeStateMachineForExecution) when it answers; otherwise the
    repository's definition of the same state machine (``False``: it may be newer than
    the one the execution ran). Raises ``LookupError`` when neither is to be had.
    """
    if execution.arn:
        try:
            return json.loads(_definition_of(execution.arn)), True
        except Exception as exc:  # the page still draws the repository's definition
            logger.warning("could not read the definition of %s: %s", execution.name, exc)
    for path in DEFINITIONS_DIR.glob("*.asl.json"):
        if execution.state_machine.endswith(path.name.removesuffix(".asl.json")):
            return json.loads(path.read_text()), False
    raise LookupError(f"no definition known for {execution.state_machine}")


@dataclass
class ExecutionFailure:
    """Why an execution ended badly, for the top of its page: where it first failed and
    with what, and how the execution itself ended. A cause that is JSON comes decoded."""

    state: str
    error: str
    cause: str
    cause_fields: list[tuple[str, str]]
    execution_error: str
    execution_cause: str
    outcome: str


def execution_failure(*, execution: Execution, history: ExecutionHistory | None) -> ExecutionFailure | None:
    """The failure of an execution that failed, timed out or was aborted (None otherwise).

    The first state that failed is where it went wrong (later ones, such as a Fail state
    reached through a Catch, only end it). The local engine drops the cause a task's
    failure carried; our step handler's own record supplies it.
    """
    outcome = history.outcome if history else execution.status.lower().replace("_", " ")
    if outcome not in {"failed", "timed out", "aborted"} and not execution.error:
        return None
    if execution.stop_requested_at is not None and outcome != "running":
        outcome = "aborted"  # an operator's stop (the local engine ends those FAILED)
    first = next((v for v in (history.visits if history else []) if v.outcome in {"failed", "timed out"}), None)
    state, error, cause = (first.name, first.error, first.cause) if first else (execution.current_state, "", "")
    if first is not None and not cause:
        run = execution.steps.filter(step=first.name, status=StepRun.Status.FAILED).order_by("-finished_at").first()
        if run is not None:
            error, cause = error or run.error, run.cause
    execution_error = (history.error if history else "") or execution.error
    execution_cause = (history.cause if history else "") or execution.cause
    if not cause and error and error == execution.error:
        cause = execution.cause  # e.g. an operator's stop, which we recorded with its reason
    if not error:
        error, cause = execution_error, execution_cause
    return ExecutionFailure(
        state=state,
        error=error,
        cause=_pretty(cause) if cause else "",
        cause_fields=_cause_fields(cause),
        execution_error=execution_error,
        execution_cause=_pretty(execution_cause) if execution_cause else "",
        outcome=outcome,
    )


def _cause_fields(cause: str) -> list[tuple[str, str]]:
    """A JSON object's fields, most telling first (a Lambda error's message and type)."""
    try:
        decoded = json.loads(cause)
    except (TypeError, ValueError):
        return []
    if not isinstance(decoded, dict):
        return []
    decoded = redact(decoded)
    first = [key for key in ("errorMessage", "errorType", "message", "Error", "Cause") if key in decoded]
    keys = first + [key for key in decoded if key not in first]
    return [
        (key, value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=False))
        for key in keys
        for value in [decoded[key]]
    ]
