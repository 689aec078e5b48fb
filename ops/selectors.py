"""Reads for the dead-letter archive, alarms and queue pauses (no AWS calls unless a name
says so)."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMinute
from django.utils import timezone

from console.models import AuditEntry
from ops.models import Alarm, AlarmEvent, DeadLetter, RedriveJob, TaskFailure
from workflows.models import Execution

FILTER_FIELDS = ("order", "task", "error", "kind", "older_than_hours", "newer_than_hours", "fingerprint", "text")


def dead_letter_list(*, queue_name: str | None = None, filters: dict[str, Any] | None = None) -> QuerySet[DeadLetter]:
    """Archived messages, newest first. ``filters`` (all optional): ``state`` (default
    waiting; "all" for every state), ``order`` (order id), ``task`` and ``error``
    (case-insensitive contains; error matches type and text), ``kind``,
    ``older_than_hours`` / ``newer_than_hours`` (age since archived), ``fingerprint``
    (one group), ``ids`` (archive ids), ``text`` (anywhere: task, error, order, message id)."""
    filters = filters or {}
    messages = DeadLetter.objects.all()
    if queue_name:
        messages = messages.filter(queue_name=queue_name)
    state = filters.get("state") or DeadLetter.State.PRESENT
    if state != "all":
        messages = messages.filter(state=state)
    if filters.get("order"):
        messages = messages.filter(order_id=uuid.UUID(str(filters["order"])))
    if filters.get("task"):
        messages = messages.filter(task__icontains=filters["task"])
    if filters.get("error"):
        messages = messages.filter(Q(error__icontains=filters["error"]) | Q(error_type__icontains=filters["error"]))
    if filters.get("kind"):
        messages = messages.filter(kind=filters["kind"])
    if filters.get("fingerprint"):
        messages = messages.filter(fingerprint=filters["fingerprint"])
    now = timezone.now()
    if filters.get("older_than_hours") not in (None, ""):
        messages = messages.filter(archived_at__lte=now - timedelta(hours=float(filters["older_than_hours"])))
    if filters.get("newer_than_hours") not in (None, ""):
        messages = messages.filter(archived_at__gte=now - timedelta(hours=float(filters["newer_than_hours"])))
    if filters.get("ids"):
        messages = messages.filter(pk__in=[int(pk) for pk in filters["ids"]])
    if filters.get("text"):
        text = str(filters["text"]).strip()
        condition = Q(task__icontains=text) | Q(error__icontains=text) | Q(message_id=text) | Q(task_id=text)
        try:
            condition |= Q(order_id=uuid.UUID(text))
        except ValueError:
            pass
        messages = messages.filter(condition)
    return messages.order_by("-archived_at", "-id")


@dataclass
class QueueSummary:
    name: str
    waiting: int
    oldest_at: datetime | None
    newest_at: datetime | None


def dead_letter_counts() -> dict[str, QueueSummary]:
    """Waiting messages per queue, with the oldest and newest arrival (one indexed query)."""
    rows = (
        DeadLetter.objects.filter(state=DeadLetter.State.PRESENT)
        .values("queue_name")
        .annotate(waiting=Count("id"), oldest=Min("archived_at"), newest=Max("archived_at"))
        .order_by("queue_name")
    )
    return {
        row["queue_name"]: QueueSummary(row["queue_name"], row["waiting"], row["oldest"], row["newest"]) for row in rows
    }


def dead_letter_oldest_sent(*, queue_name: str) -> datetime | None:
    row = DeadLetter.objects.filter(queue_name=queue_name, state=DeadLetter.State.PRESENT).aggregate(
        oldest=Min("sent_at"), archived=Min("archived_at")
    )
    return row["oldest"] or row["archived"]


def dead_letter_groups(*, queue_name: str | None = None, filters: dict[str, Any] | None = None) -> list[dict]:
    """Waiting messages grouped by task and error, biggest group first."""
    rows = (
        dead_letter_list(queue_name=queue_name, filters=filters)
        .order_by()
        .values("fingerprint", "queue_name", "kind", "task", "error_type")
        .annotate(count=Count("id"), first=Min("archived_at"), last=Max("archived_at"), sample=Min("id"))
        .order_by("-count", "task")
    )
    groups = list(rows[:200])
    samples = dict(DeadLetter.objects.filter(pk__in=[g["sample"] for g in groups]).values_list("pk", "error"))
    orders = (
        dead_letter_list(queue_name=queue_name, filters=filters)
        .exclude(order_id=None)
        .order_by()
        .values("fingerprint")
        .annotate(orders=Count("order_id", distinct=True))
    )
    order_counts = {row["fingerprint"]: row["orders"] for row in orders}
    for group in groups:
        group["error"] = (
            (samples.get(group["sample"]) or "").strip().splitlines()[0][:300] if samples.get(group["sample"]) else ""
        )
        group["orders"] = order_counts.get(group["fingerprint"], 0)
    return groups


def redrive_job_get(*, job_id) -> RedriveJob:
    return RedriveJob.objects.get(pk=job_id)


def alarm_list(*, state: str | None = None, include_deleted: bool = False) -> QuerySet[Alarm]:
    alarms = Alarm.objects.select_related("owner", "acknowledged_by", "muted_by")
    if not include_deleted:
        alarms = alarms.filter(exists=True)
    if state:
        alarms = alarms.filter(state=state)
    return alarms.order_by("name")


def alarm_history(*, name: str, limit: int = 200) -> QuerySet[AlarmEvent]:
    return AlarmEvent.objects.filter(alarm_name=name).order_by("-occurred_at", "-id")[:limit]


def alarm_dead_letter_queue(alarm: Alarm) -> str:
    """The DLQ a depth alarm (``DeadLetterDepth``) watches, from its QueueName dimension; ''
    for other alarms (a work queue's age alarm names a queue that is not a DLQ)."""
    if alarm.metric_name != "DeadLetterDepth":
        return ""
    return str((alarm.dimensions or {}).get("QueueName", ""))


def alarm_function(alarm: Alarm) -> str:
    return str((alarm.dimensions or {}).get("FunctionName", ""))


def alarm_affected_orders(alarm: Alarm, limit: int = 50) -> list[uuid.UUID]:
    """Orders behind an alarm: those of the waiting messages of its DLQ, or for a function
    alarm, those of messages dead-lettered and executions failed since it went off."""
    queue = alarm_dead_letter_queue(alarm)
    if queue:
        ids = (
            DeadLetter.objects.filter(queue_name=queue, state=DeadLetter.State.PRESENT)
            .exclude(order_id=None)
            .values_list("order_id", flat=True)
            .distinct()[:limit]
        )
        return list(ids)
    if alarm.state != Alarm.State.ALARM or not alarm.state_changed_at:
        return []
    since = alarm.state_changed_at - timedelta(minutes=(alarm.period or 300) * (alarm.evaluation_periods or 1) // 60)
    ids = set(
        DeadLetter.objects.filter(archived_at__gte=since)
        .exclude(order_id=None)
        .values_list("order_id", flat=True)[:limit]
    )
    failed = Execution.objects.filter(
        status__in=[Execution.Status.FAILED, Execution.Status.TIMED_OUT, Execution.Status.ABORTED],
        updated_at__gte=since,
    ).values_list("order_id", flat=True)[:limit]
    ids.update(failed)
    return sorted(ids, key=str)[:limit]


QUEUE_CONSUMER_ACTIONS = ("queue.pause", "queue.resume")


def queue_last_consumer_changes(*, queue_names: list[str]) -> dict[str, AuditEntry]:
    """The latest pause or resume of each named queue's consumer (its audit entry), for
    the queue page's "paused by whom, since when, why": one query."""
    changes = AuditEntry.objects.filter(object_type="ops.queue", action__in=QUEUE_CONSUMER_ACTIONS)
    newest = changes.filter(object_id=OuterRef("object_id")).order_by("-created_at", "-pk").values("pk")[:1]
    entries = changes.filter(object_id__in=queue_names, pk=Subquery(newest))
    return {
        entry.object_id: entry for entry in entries.only("object_id", "action", "actor_name", "reason", "created_at")
    }

def redrive_moved_per_minute(*, start: datetime, end: datetime) -> dict[datetime, int]:
    """Archived messages a redrive sent back in each minute of [start, end):
    ``{minute: count}``, minutes without any left out."""
    rows = (
        DeadLetter.objects.filter(state=DeadLetter.State.REDRIVEN, resolved_at__gte=start, resolved_at__lt=end)
        .annotate(minute=TruncMinute("resolved_at"))
        .values("minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["minute"]: row["n"] for row in rows}


# --- Failed jobs --------------------------------------------------------------------------------


def task_failure_search(failures: QuerySet[TaskFailure], text: str) -> QuerySet[TaskFailure]:
    """Failures whose arguments (the stored args and kwargs, as JSON text), task, task id or
    error contain ``text`` (case-insensitive); an order id also finds the failures linked
    to that order, and a task id the retry it became."""
    text = text.strip()
    if not text:
        return failures
    condition = (
        Q(args__icontains=text)
        | Q(kwargs__icontains=text)
        | Q(task__icontains=text)
        | Q(error__icontains=text)
        | Q(task_id=text)
        | Q(retry_task_id=text)
    )
    try:
        condition |= Q(order_id=uuid.UUID(text))
    except ValueError:
        pass
    return failures.filter(condition)


def task_failure_list(*, filters: dict[str, Any] | None = None) -> QuerySet[TaskFailure]:
    """Failed jobs, latest failure first. ``filters`` (all optional): ``status`` (default
    failed for good; "all" for every status), ``task`` (exact name), ``order`` (order id),
    ``text`` (see ``task_failure_search``), ``ids``."""
    filters = filters or {}
    failures = TaskFailure.objects.select_related("retried_by", "resolved_by")
    status = filters.get("status") or TaskFailure.Status.FAILED
    if status != "all":
        failures = failures.filter(status=status)
    if filters.get("task"):
        failures = failures.filter(task=filters["task"])
    if filters.get("order"):
        failures = failures.filter(order_id=uuid.UUID(str(filters["order"])))
    if filters.get("ids"):
        failures = failures.filter(pk__in=[int(pk) for pk in filters["ids"]])
    if filters.get("text"):
        failures = task_failure_search(failures, str(filters["text"]))
    return failures.order_by("-failed_at", "-id")
