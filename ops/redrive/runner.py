"""The redrive runner: sends a job's archived messages to their queue in batches of ten,
in parallel and within a rate limit, and marks each one redriven only after SQS accepted it.

Crash safety: a message is marked after the send, so a process killed between the two
sends that batch again when the job resumes (at-least-once, never lost). For FIFO
targets the deduplication id is the job and the archive row, so SQS itself drops the
second copy within its five-minute deduplication window; FIFO jobs send one batch at a
time, in arrival order, to keep each message group's order.
"""

import base64
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from ops import sqs
from ops.models import DeadLetter, RedriveJob

logger = logging.getLogger(__name__)

# A running job whose heartbeat is older than this was interrupted (its process died): the
# console offers Resume.
STALE_SECONDS = 30
# ... and after this long, the scheduled refresh takes it over by itself. A round (one batch
# per parallel sender, of at most ten and at most a second's worth at the job's rate limit)
# takes at most 8 s at the slowest settings (1 message a second, 8 senders), and the
# heartbeat is written after each.
TAKEOVER_SECONDS = 180


class RateLimiter:
    """A token bucket: at most ``rate`` messages a second across threads, in bursts of at
    most ``batch_size`` (no limit when rate is falsy).

    The bucket holds ``batch_size`` tokens (one SendMessageBatch, never more than a
    second's worth: ``min(10, rate)``) and starts full; a send takes one token per
    message and waits, before it is sent, until the tokens are there. So n messages take
    at least ``(n - batch_size) / rate`` seconds, the first batch included: at 1 message a
    second, 3 messages go one by one over 2 seconds. (The limiter this replaces sent first
    and spaced the *next* send, so a first batch of 3 left at once.) A slow send earns no
    credit beyond a full bucket. Waiting threads reserve their tokens in turn (the count
    goes below zero), so parallel senders share one rate.
    """

    def __init__(self, rate: int | None, *, clock=None, sleep=None):
        self.rate = float(rate) if rate else 0.0
        self.batch_size = max(1, min(sqs.BATCH, int(rate))) if rate else sqs.BATCH
        # Looked up now, not at import: tests give the module a clock of their own.
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self.tokens = float(self.batch_size)
        self.updated = self._clock()
        self.lock = threading.Lock()

    def acquire(self, count: int) -> None:
        if not self.rate:
            return
        if count > self.batch_size:
            raise ValueError(f"{count} messages at once is more than the bucket holds ({self.batch_size})")
        with self.lock:
            now = self._clock()
            self.tokens = min(self.batch_size, self.tokens + (now - self.updated) * self.rate) - count
            self.updated = now
            delay = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if delay > 0:
            self._sleep(delay)


def send_entry(message: DeadLetter, *, job: RedriveJob, fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(message.pk), "MessageBody": message.body}
    attributes = {}
    for name, value in (message.message_attributes or {}).items():
        item = {"DataType": value["DataType"]}
        if value.get("StringValue") is not None:
            item["StringValue"] = value["StringValue"]
        if value.get("BinaryValue") is not None:
            item["BinaryValue"] = base64.b64decode(value["BinaryValue"])
        if "StringValue" in item or "BinaryValue" in item:
            attributes[name] = item
    if attributes:
        entry["MessageAttributes"] = attributes
    trace = (message.attributes or {}).get("AWSTraceHeader")
    if trace:
        entry["MessageSystemAttributes"] = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
    if fifo:
        entry["MessageGroupId"] = message.group_id or "redrive"
        # Stable across resumes of this job: SQS drops a re-sent copy.
        entry["MessageDeduplicationId"] = f"{job.pk.hex}-{message.pk}"
    return entry


def job_claim(job_id, *, takeover: bool = False, continues: int | None = None) -> RedriveJob | None:
    """Mark the job running for this process; None if it is not ours to run.

    ``continues`` is the run a continuation takes over from: the job must still be running
    that run, so a continuation delivered twice runs once. A cancel asked for while the
    continuation was on its way stays asked: ``run`` carries it out (nothing else would)."""
    now = timezone.now()
    status = RedriveJob.Status.RUNNING
    runnable = RedriveJob.objects.filter(pk=job_id, status=RedriveJob.Status.QUEUED)
    if takeover:
        runnable = RedriveJob.objects.filter(
            pk=job_id, status__in=[RedriveJob.Status.QUEUED, RedriveJob.Status.RUNNING]
        )
    if continues is not None:
        runnable = RedriveJob.objects.filter(
            pk=job_id, status__in=[RedriveJob.Status.RUNNING, RedriveJob.Status.CANCELLING], runs=continues
        )
        status = F("status")
    claimed = runnable.update(status=status, heartbeat_at=now, runs=F("runs") + 1)
    if not claimed:
        return None
    RedriveJob.objects.filter(pk=job_id, started_at=None).update(started_at=now)
    return RedriveJob.objects.get(pk=job_id)


def run(job: RedriveJob, *, deadline: float | None = None) -> RedriveJob:
    """Move the job's waiting messages. Returns the job as it ended (or was left). With a
    ``deadline`` (``time.monotonic()``), it stops after the first round of batches that ends
    past it (so every run makes progress) and returns the job still running, for a
    continuation to take over."""
    targets = _targets(job)
    limiter = RateLimiter(job.rate_limit)
    # Batches no larger than the bucket: a batch is sent whole, so a larger one would
    # leave faster than the limit.
    batch_size = limiter.batch_size
    failed_here: set[int] = set()
    parallelism = max(1, min(job.parallelism, settings.OPS_REDRIVE_MAX_PARALLELISM))
    ordering = ["id"]
    if any(target.endswith(".fifo") for target in targets.values() if target):
        # One batch at a time, in the order the messages were first sent (SentTimestamp
        # survives the move to the DLQ), so each message group keeps its order.
        parallelism, ordering = 1, ["sent_at", "id"]
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="redrive") as pool:
        while True:
            status = RedriveJob.objects.filter(pk=job.pk).values_list("status", flat=True).first()
            if status == RedriveJob.Status.CANCELLING:
                return _finish(job, RedriveJob.Status.CANCELLED)
            if status != RedriveJob.Status.RUNNING:
                return RedriveJob.objects.get(pk=job.pk)
            pending = list(
                DeadLetter.objects.filter(redrive_job=job, state=DeadLetter.State.PRESENT)
                .exclude(pk__in=failed_here)
                .order_by(*ordering)[: batch_size * parallelism]
            )
            if not pending:
                return _finish(job, RedriveJob.Status.FAILED if job_failed(job) else RedriveJob.Status.SUCCEEDED)
            batches = _batches(pending, targets, size=batch_size)
            results = list(pool.map(lambda batch: _send(batch, job=job, limiter=limiter), batches))
            _record(job, results, failed_here)
            if deadline is not None and time.monotonic() >= deadline:
                return RedriveJob.objects.get(pk=job.pk)  # still running: a continuation goes on


def job_failed(job: RedriveJob) -> bool:
    return RedriveJob.objects.filter(pk=job.pk, failed__gt=0).exists()


def _targets(job: RedriveJob) -> dict[str, str]:
    """Source queue name → the queue its messages go to. Sources were settled when the
    job was created (``redrive_start``); a message without one fails with a reason."""
    if job.target_queue:
        return {"*": job.target_queue}
    sources = set(
        DeadLetter.objects.filter(redrive_job=job, state=DeadLetter.State.PRESENT)
        .values_list("source_queue", flat=True)
        .distinct()
    )
    return {source: source for source in sources | {""}}


def _batches(
    pending: list[DeadLetter], targets: dict[str, str], *, size: int = sqs.BATCH
) -> list[tuple[str, list[DeadLetter]]]:
    by_target: dict[str, list[DeadLetter]] = {}
    for message in pending:
        target = targets.get("*") or targets.get(message.source_queue) or targets.get("", "")
        by_target.setdefault(target, []).append(message)
    batches = []
    for target, messages in by_target.items():
        for start in range(0, len(messages), size):
            batches.append((target, messages[start : start + size]))
    return batches


def _send(batch: tuple[str, list[DeadLetter]], *, job: RedriveJob, limiter: RateLimiter):
    target, messages = batch
    if not target:
        error = "No source queue is known for this message: choose a target queue."
        return target, set(), {str(m.pk): error for m in messages}
    limiter.acquire(len(messages))
    try:
        url = sqs.queue_url(target)
        entries = [send_entry(message, job=job, fifo=target.endswith(".fifo")) for message in messages]
        sent, failed = sqs.send_batch(url, entries)
    except (ClientError, BotoCoreError) as exc:
        # Nothing is known sent: the batch stays waiting and is tried again.
        logger.warning("redrive %s: batch to %s failed: %s", job.pk, target, exc)
        return target, set(), {str(m.pk): f"{type(exc).__name__}: {exc}" for m in messages}
    return target, sent, failed


def _record(job: RedriveJob, results, failed_here: set[int]) -> None:
    now = timezone.now()
    moved = failed = 0
    last_error = ""
    with transaction.atomic():
        for target, sent, errors in results:
            if sent:
                moved += DeadLetter.objects.filter(
                    pk__in=[int(pk) for pk in sent], state=DeadLetter.State.PRESENT
                ).update(state=DeadLetter.State.REDRIVEN, resolved_at=now, resolved_to=target, redrive_error="")
            for pk, error in errors.items():
                DeadLetter.objects.filter(pk=int(pk)).update(redrive_error=error[:2000])
                failed_here.add(int(pk))
                failed += 1
                last_error = error
        updates: dict[str, Any] = {"moved": F("moved") + moved, "failed": F("failed") + failed, "heartbeat_at": now}
        if last_error:
            updates["last_error"] = last_error[:2000]
        RedriveJob.objects.filter(pk=job.pk).update(**updates)


def _finish(job: RedriveJob, status: str) -> RedriveJob:
    return redrive_job_finished(job_id=job.pk, status=status)


def redrive_job_finished(*, job_id, status: str) -> RedriveJob:
    """End the job with ``status`` (succeeded, failed or cancelled), audited with its counts."""
    with transaction.atomic():
        job = RedriveJob.objects.select_for_update().get(pk=job_id)
        job.status, job.finished_at = status, timezone.now()
        job.save(update_fields=["status", "finished_at"])
        audit_record(
            action=f"dlq.redrive_{status}",
            obj=job,
            source=AuditEntry.Source.SYSTEM,
            after={"queue": job.queue_name, "moved": job.moved, "failed": job.failed, "total": job.total},
        )
    return job


def redrive_job_run(
    *, job_id, takeover: bool = False, continues: int | None = None, deadline: float | None = None
) -> RedriveJob | None:
    """The background job's body: run the redrive if it is this process's to run, until it
    ends or ``deadline`` (``time.monotonic()``) passes; then the job is left running, and
    its caller queues a continuation (``continues=job.runs``)."""
    job = job_claim(job_id, takeover=takeover, continues=continues)
    if job is None:
        return None
    return run(job, deadline=deadline)
