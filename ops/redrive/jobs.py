"""Redrive jobs as support staff run them: the dry run, starting a job (its waiting messages
claimed), cancel, resume, and taking over a job whose runner died. Each change is atomic
and audited; the job runs in the background (``ops.redrive_run``, queued by the task's name
once the change commits: ``console.runtime.jobs``)."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from console.runtime import jobs as job_queue
from ops import selectors, sqs
from ops.errors import OpsError
from ops.models import DeadLetter, RedriveJob
from ops.redrive import runner
from ops.redrive.move_tasks import move_task_cancel

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 5
RUN_TASK = "ops.redrive_run"


@dataclass
class RedrivePlan:
    queue_name: str
    mode: str
    target_queue: str  # '' = each message's source queue
    count: int
    samples: list[DeadLetter]
    targets: dict[str, int]  # target queue → messages
    problems: list[str]
    filters: dict[str, Any]


def _selection(*, queue_name: str, mode: str, filters: dict[str, Any], message_ids: list[int]):
    if mode == RedriveJob.Mode.ALL:
        filters = {}
    elif mode == RedriveJob.Mode.SELECTED:
        if not message_ids:
            raise OpsError("Select at least one message.", "messageIds")
        filters = {"ids": [int(pk) for pk in message_ids]}
    elif mode == RedriveJob.Mode.FILTERED:
        filters = {
            key: value for key, value in filters.items() if key in selectors.FILTER_FIELDS and value not in ("", None)
        }
        if not filters:
            raise OpsError("A filtered redrive needs at least one filter.", "filter")
    else:
        raise OpsError(f"Unknown redrive mode {mode!r}.", "mode")
    selection = selectors.dead_letter_list(
        queue_name=queue_name, filters={**filters, "state": DeadLetter.State.PRESENT}
    )
    busy = selection.filter(redrive_job__status__in=RedriveJob.ACTIVE)
    return selection.exclude(pk__in=busy.values("pk")), filters


def _validate_target(*, queue_name: str, target_queue: str) -> None:
    if not target_queue:
        return
    names = sqs.stage_queue_names()
    if target_queue not in names:
        raise OpsError(f"{target_queue} is not one of the stage's queues.", "target")
    if target_queue == queue_name:
        raise OpsError("A queue cannot be redriven into itself.", "target")
    dead_letter_names = {queue.name for queue in sqs.dead_letter_queues()}
    if target_queue in dead_letter_names:
        raise OpsError(f"{target_queue} is a dead-letter queue; choose a queue that is consumed.", "target")


def redrive_plan(
    *,
    queue_name: str,
    mode: str,
    filters: dict[str, Any] | None = None,
    message_ids: list[int] | None = None,
    target_queue: str = "",
) -> RedrivePlan:
    """The dry run: how many messages would move where, with samples. Changes nothing."""
    _validate_target(queue_name=queue_name, target_queue=target_queue)
    selection, used_filters = _selection(
        queue_name=queue_name, mode=mode, filters=filters or {}, message_ids=message_ids or []
    )
    count = selection.count()
    problems = []
    targets: dict[str, int] = {}
    if target_queue:
        targets[target_queue] = count
    else:
        single = next((q.single_source for q in sqs.dead_letter_queues() if q.name == queue_name), "")
        by_source = selection.order_by().values("source_queue").annotate(n=Count("id"))
        for row in by_source:
            destination = row["source_queue"] or single
            key = destination or "(unknown: choose a target)"
            targets[key] = targets.get(key, 0) + row["n"]
            if not destination:
                problems.append(
                    f"{row['n']} message(s) have no known source queue (fed by SNS or Lambda, or by several "
                    "queues): choose a target queue."
                )
    if count == 0:
        problems.append("No waiting message matches.")
    return RedrivePlan(
        queue_name, mode, target_queue, count, list(selection[:SAMPLE_SIZE]), targets, problems, used_filters
    )


def redrive_start(
    *,
    queue_name: str,
    mode: str,
    actor,
    filters: dict[str, Any] | None = None,
    message_ids: list[int] | None = None,
    target_queue: str = "",
    rate_limit: int | None = None,
    parallelism: int = 1,
    reason: str = "",
    source: str = AuditEntry.Source.CONSOLE,
) -> RedriveJob:
    """Claim the selected waiting messages for a new job and queue it (after commit)."""
    if parallelism < 1 or parallelism > settings.OPS_REDRIVE_MAX_PARALLELISM:
        raise OpsError(f"Parallelism must be between 1 and {settings.OPS_REDRIVE_MAX_PARALLELISM}.", "parallelism")
    if rate_limit is not None and rate_limit < 1:
        raise OpsError("The rate limit must be at least 1 message a second (or empty for none).", "rateLimit")
    plan = redrive_plan(
        queue_name=queue_name, mode=mode, filters=filters, message_ids=message_ids, target_queue=target_queue
    )
    if plan.count == 0:
        raise OpsError("No waiting message matches: nothing to redrive.", "filter")
    if any("no known source" in problem for problem in plan.problems):
        raise OpsError(plan.problems[0], "target")
    with transaction.atomic():
        job = RedriveJob.objects.create(
            queue_name=queue_name,
            target_queue=target_queue,
            mode=mode,
            filters=plan.filters,
            rate_limit=rate_limit or settings.OPS_REDRIVE_DEFAULT_RATE or None,
            parallelism=parallelism,
            reason=reason,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            source=source,
        )
        selection, _ = _selection(
            queue_name=queue_name, mode=mode, filters=filters or {}, message_ids=message_ids or []
        )
        # Lock the candidates, then drop any another job claimed meanwhile (a concurrent
        # start waits for our lock and sees our claim): a message is in one job at a time.
        candidates = list(selection.select_for_update().values_list("pk", "redrive_job_id"))
        other_jobs = {job_id for _, job_id in candidates if job_id}
        busy = set(
            RedriveJob.objects.filter(pk__in=other_jobs, status__in=RedriveJob.ACTIVE).values_list("pk", flat=True)
        )
        ids = [pk for pk, job_id in candidates if job_id not in busy]
        total = 0
        for start in range(0, len(ids), 1000):
            total += DeadLetter.objects.filter(pk__in=ids[start : start + 1000]).update(redrive_job=job)
        if not target_queue:
            # A DLQ with one SQS source: that is where its messages came from (AWS names the
            # source in DeadLetterQueueSourceArn; the local engine does not).
            single = next((q.single_source for q in sqs.dead_letter_queues() if q.name == queue_name), "")
            if single:
                DeadLetter.objects.filter(redrive_job=job, source_queue="").update(source_queue=single)
        job.total = total
        job.save(update_fields=["total"])
        audit_record(
            action="dlq.redrive",
            obj=job,
            actor=actor,
            source=source,
            reason=reason,
            after={
                "queue": queue_name,
                "target": target_queue or "source queues",
                "mode": mode,
                "filters": plan.filters,
                "messages": total,
                "rateLimit": job.rate_limit,
                "parallelism": parallelism,
            },
        )
        _queue_run_on_commit(job.pk)
    return job


def redrive_selection_by_queue(*, message_ids: list[int]) -> dict[str, list[int]]:
    """The selected messages still waiting, by the queue they are in (queues sorted)."""
    rows = (
        DeadLetter.objects.filter(pk__in=[int(pk) for pk in message_ids], state=DeadLetter.State.PRESENT)
        .order_by("queue_name", "id")
        .values_list("queue_name", "pk")
    )
    by_queue: dict[str, list[int]] = {}
    for queue_name, pk in rows:
        by_queue.setdefault(queue_name, []).append(pk)
    return by_queue


def redrive_start_by_queue(
    *,
    message_ids: list[int],
    actor,
    rate_limit: int | None = None,
    parallelism: int = 1,
    reason: str = "",
    source: str = AuditEntry.Source.CONSOLE,
) -> list[RedriveJob]:
    """Redrive selected messages of several queues: one job per queue (each to its
    messages' source queues, each audited), started together or not at all: a queue whose
    redrive is refused (``redrive_start``'s OpsError) starts none."""
    by_queue = redrive_selection_by_queue(message_ids=message_ids)
    if not by_queue:
        raise OpsError("None of the selected messages is waiting: nothing to redrive.", "messageIds")
    with transaction.atomic():
        return [
            redrive_start(
                queue_name=queue_name,
                mode=RedriveJob.Mode.SELECTED,
                actor=actor,
                message_ids=ids,
                rate_limit=rate_limit,
                parallelism=parallelism,
                reason=reason,
                source=source,
            )
            for queue_name, ids in by_queue.items()
        ]


def _queue_run_on_commit(job_id) -> None:
    """Queue the job's run once the current transaction commits. A run that cannot be
    queued is logged and noted on the job, whose page then offers Resume."""

    def send() -> None:
        try:
            job_queue.enqueue(RUN_TASK, str(job_id))
        except Exception:
            logger.exception("could not queue redrive job %s; resume it from the console", job_id)
            RedriveJob.objects.filter(pk=job_id).update(last_error="Could not be queued; resume it.")

    transaction.on_commit(send)


def redrive_is_stale(job: RedriveJob) -> bool:
    """Whether a running job's runner stopped sending (its process died): Resume is offered."""
    if job.status != RedriveJob.Status.RUNNING or job.mode == RedriveJob.Mode.MOVE_TASK:
        return False
    return job.heartbeat_at is None or job.heartbeat_at < timezone.now() - timedelta(seconds=runner.STALE_SECONDS)


def redrive_cancel(*, job_id, actor, source: str = AuditEntry.Source.CONSOLE) -> RedriveJob:
    """Cancel a job: a move task at once (SQS cancels it), a queued or interrupted job at
    once, a running one after its current batch (its runner ends it cancelled)."""
    with transaction.atomic():
        job = RedriveJob.objects.select_for_update().get(pk=job_id)
        if not job.is_active:
            raise OpsError(f"The job has already ended ({job.get_status_display().lower()}).", "status")
        before = job.status
        if job.mode == RedriveJob.Mode.MOVE_TASK:
            job.moved = move_task_cancel(job=job)
            job.status, job.finished_at = RedriveJob.Status.CANCELLED, timezone.now()
        elif job.status == RedriveJob.Status.QUEUED or redrive_is_stale(job):
            job.status, job.finished_at = RedriveJob.Status.CANCELLED, timezone.now()
        else:
            job.status = RedriveJob.Status.CANCELLING  # the runner stops after its batch
        job.save(update_fields=["status", "finished_at", "moved"])
        audit_record(
            action="dlq.redrive_cancel",
            obj=job,
            actor=actor,
            source=source,
            before={"status": before},
            after={"status": job.status, "moved": job.moved, "total": job.total},
        )
    return job


def redrive_resume(*, job_id, actor, source: str = AuditEntry.Source.CONSOLE, enqueue: bool = True) -> RedriveJob:
    """Queue a cancelled, failed or interrupted job again for its messages still waiting."""
    with transaction.atomic():
        job = RedriveJob.objects.select_for_update().get(pk=job_id)
        resumable = job.status in {RedriveJob.Status.CANCELLED, RedriveJob.Status.FAILED} or redrive_is_stale(job)
        if job.mode == RedriveJob.Mode.MOVE_TASK or not resumable:
            raise OpsError("Only a cancelled, failed or interrupted redrive can be resumed.", "status")
        waiting = DeadLetter.objects.filter(redrive_job=job, state=DeadLetter.State.PRESENT).count()
        if not waiting:
            raise OpsError("Every message of this job has been redriven or removed.", "status")
        before = job.status
        job.status, job.finished_at, job.failed, job.last_error = RedriveJob.Status.QUEUED, None, 0, ""
        job.save(update_fields=["status", "finished_at", "failed", "last_error"])
        audit_record(
            action="dlq.redrive_resume",
            obj=job,
            actor=actor,
            source=source,
            before={"status": before},
            after={"waiting": waiting, "moved": job.moved},
        )
        if enqueue:
            _queue_run_on_commit(job.pk)
    return job


def redrives_take_over_stalled() -> int:
    """Queue a continuation for each redrive job whose runner died (its invocation timed out
    or was killed): its heartbeat is older than ``runner.TAKEOVER_SECONDS``. Without it the
    job would stay "running" (or "cancelling", if a cancel was asked) until someone resumes
    it: its first message, back after the jobs queue's visibility timeout, only starts jobs
    still queued. A cancelling job's continuation ends it cancelled. Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=runner.TAKEOVER_SECONDS)
    stalled = RedriveJob.objects.filter(
        status__in=[RedriveJob.Status.RUNNING, RedriveJob.Status.CANCELLING], heartbeat_at__lt=cutoff
    ).exclude(mode=RedriveJob.Mode.MOVE_TASK)
    count = 0
    for job_id, runs in stalled.values_list("pk", "runs"):
        logger.warning("redrive job %s stopped sending (run %d): a continuation takes over", job_id, runs)
        job_queue.enqueue(RUN_TASK, str(job_id), runs)
        count += 1
    return count
