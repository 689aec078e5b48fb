"""Starting order workflows at the pace Step Functions allows, whatever the creation rate.

An order's start is a *request*: its execution record, not yet started (``PENDING``, no
ARN), written after the order commits (``workflow_start_request``; imports hand their
orders on the same way, batch by batch). Requests wait in our own table, so a crash loses
none.

A *starter* (``workflow_starts_run``: the ``workflows.order_workflow_starts`` job, and the
scheduled sweep) claims requests in batches, oldest first, and starts them with parallel
StartExecution calls, each taking a token from one bucket in the database shared by every
process of the stage (``StartPacer``): ``WORKFLOW_STARTS_PER_SECOND`` at most, whoever
calls. A claim is the request's ``started_at`` set to the claim's moment, in a short
transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two starters never claim the same
request); the ARN is written once Step Functions answered. A claim not finished after
``CLAIM_SECONDS`` (its starter died) is taken again: StartExecution with the same name
and input answers with the same execution, and an already existing name with
``ExecutionAlreadyExists`` (``sfn.start_execution`` returns its ARN either way), so a start
made twice is one execution.

Producers do not queue a job per order: ``workflow_starts_signal`` makes sure a starter
runs after the caller's commit, and queues at most one job per ``SIGNAL_SECONDS`` for the
whole stage (one more token bucket) and, within a process, none while one it knows of is
still due. A job that finds another starter working (a claim made in the last
``ACTIVE_SECONDS``) leaves the work to it; a starter works until no request waits, and
stops between batches before its invocation's timeout, a continuation going on.
"""

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, DateTimeField, F, Max, Min, Q, QuerySet, Value, When
from django.utils import timezone

from console.api.throttling import bucket_take
from console.aws import resources
from console.runtime.jobs import enqueue
from workflows import sfn
from workflows.models import Execution

logger = logging.getLogger(__name__)

# Requests claimed at once: at AWS's pace a fraction of a second of starts, at the local
# engine's (about 10 a second) a few seconds, well inside ACTIVE_SECONDS.
START_BATCH = 50
# A claim older than this is abandoned (its starter died) and taken again.
CLAIM_SECONDS = 30
# A starter claims at least this often while it works; a claim this recent means one is.
ACTIVE_SECONDS = 10
# A request whose start failed is tried again this long after (its claim is backdated).
RETRY_SECONDS = 15
# At most one starter job is queued per this many seconds for the stage; each is queued
# to run this long after its signal, so it runs after every commit it stands for.
SIGNAL_SECONDS = 1
BUDGET_KEY = "workflows:start-execution"
# The starter's job (``workflows.tasks.order_workflow_starts``), queued by its name.
STARTER_JOB = "workflows.order_workflow_starts"
SIGNAL_KEY = "workflows:starter"


def execution_name(order_id: UUID) -> str:
    return f"order-{order_id}"


def workflow_policy() -> dict[str, int]:
    """The execution input's ``policy``: timings the definition reads with *Path fields."""
    return {
        "approvalTimeoutSeconds": settings.WORKFLOW_APPROVAL_TIMEOUT_SECONDS,
        "approvalHeartbeatSeconds": settings.WORKFLOW_APPROVAL_HEARTBEAT_SECONDS,
        "inventoryRecheckSeconds": settings.WORKFLOW_INVENTORY_RECHECK_SECONDS,
    }


def execution_input(order) -> dict[str, Any]:
    """What an order's execution starts with. Always the same for one order (and policy),
    so a repeated StartExecution is the same request to AWS."""
    return {
        "orderId": str(order.pk),
        "userId": order.user_id,
        "total": float(order.total),
        "policy": workflow_policy(),
    }


def requests_waiting() -> QuerySet[Execution]:
    """Start requests of order workflows not started yet (restarts are started by their
    own service and excluded). Found through the ``arn`` index: only these have none."""
    return Execution.objects.filter(
        arn="",
        status=Execution.Status.PENDING,
        state_machine=resources.ORDER_PROCESSING,
        restarted_from__isnull=True,
    )


# --- The rate budget ----------------------------------------------------------------------------


class StartPacer:
    """At most ``rate`` StartExecution calls a second (``WORKFLOW_STARTS_PER_SECOND``) for
    the whole stage: every call takes a token from one bucket row in the database
    (``console.api.throttling.bucket_take``, an atomic upsert), whichever process makes it.
    The bucket holds a tenth of a second of calls, far below AWS's own bucket (1,300 in
    the large regions), so no burst of ours can empty it. ``clock`` and ``sleep`` are
    for tests."""

    def __init__(self, *, rate: float | None = None, clock=time.time, sleep=time.sleep):
        self.rate = float(rate if rate is not None else settings.WORKFLOW_STARTS_PER_SECOND)
        self.burst = max(1, math.ceil(self.rate / 10))
        self.clock, self.sleep = clock, sleep

    def acquire(self) -> None:
        """Wait for a token and take it."""
        while (wait := bucket_take(key=BUDGET_KEY, rate=self.rate, burst=self.burst, now=self.clock())) > 0:
            # At least 0.1 ms: seconds since the epoch in a float resolve to about 0.2 us,
            # so a smaller wait could leave the clock where it was.
            self.sleep(max(wait, 0.0001))


# --- Requests and the signal ---------------------------------------------------------------------


def workflow_start_request(*, order_ids: list[UUID]) -> None:
    """Record the start requests of these orders, in one insert; an order that has its
    execution record already (requested, started, or being started by ``workflow_start``)
    keeps it."""
    Execution.objects.bulk_create(
        [
            Execution(order_id=order_id, name=execution_name(order_id), state_machine=resources.ORDER_PROCESSING)
            for order_id in order_ids
        ],
        ignore_conflicts=True,
    )


class _SignalMemo:
    """Until when a starter job this process knows of is still to run (monotonic time)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.covered_until = 0.0

    def clear(self) -> None:
        with self.lock:
            self.covered_until = 0.0


_memo = _SignalMemo()


def workflow_starts_signal(*, countdown: float | None = None) -> bool:
    """Make sure a starter runs after the caller's commit; call it after the commit.
    Returns whether this call queued the job.

    Cheap enough for every order: within a process nothing is done while a job it queued
    or saw queued is still to run; across processes a token bucket lets one job through
    per ``SIGNAL_SECONDS``, queued to run ``SIGNAL_SECONDS`` later (``countdown``, if
    longer), so it runs after every commit whose signal was refused meanwhile. Never
    raises: a lost signal is made up by the next one or by the scheduled sweep."""
    delay = max(float(SIGNAL_SECONDS), countdown or 0.0)
    now = time.monotonic()
    if countdown is None and now < _memo.covered_until:
        return False
    try:
        wait = bucket_take(key=SIGNAL_KEY, rate=1 / SIGNAL_SECONDS, burst=1)
        if wait > 0:
            # Another signal took the token less than SIGNAL_SECONDS ago: its job runs
            # SIGNAL_SECONDS after that, at least ``wait`` from now.
            with _memo.lock:
                _memo.covered_until = max(_memo.covered_until, now + wait)
            return False
        enqueue(STARTER_JOB, countdown=delay)
    except Exception:
        logger.exception("could not queue the workflow starter; the next signal or the sweep will")
        return False
    with _memo.lock:
        _memo.covered_until = max(_memo.covered_until, now + delay)
    return True


# --- The starter --------------------------------------------------------------------------------


@dataclass
class StartsRun:
    """What one run of the starter did. ``again_in``: seconds after which a starter should
    look again (None: nothing waits); ``busy``: another starter was working."""

    started: int = 0
    failed: int = 0
    claims: int = 0
    busy: bool = False
    again_in: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def workflow_starts_run(
    *, deadline: float | None = None, pacer: StartPacer | None = None, parallelism: int | None = None
) -> StartsRun:
    """Start waiting requests, oldest first, batch after batch, until none waits or
    ``deadline`` (``time.monotonic()``) is passed; checked between batches, so it is never
    overrun by more than one batch. Leaves the work to another starter claiming right now.

    Each batch's calls run ``parallelism`` (``WORKFLOW_START_PARALLELISM``) at a time, each
    after its token from ``pacer``. A start that fails (throttled beyond botocore's
    retries, AWS unreachable) keeps its request, tried again after ``RETRY_SECONDS``, with
    the error on the record; a batch where every start failed ends the run. Safe to run
    anywhere, any number of times at once."""
    run = StartsRun()
    now = timezone.now()
    newest = requests_waiting().filter(started_at__gte=now - timedelta(seconds=ACTIVE_SECONDS))
    newest = newest.aggregate(newest=Max("started_at"))["newest"]
    if newest is not None:
        run.busy = True
        run.again_in = (newest - now).total_seconds() + ACTIVE_SECONDS + 1
        return run
    pacer = pacer or StartPacer()
    parallelism = max(1, parallelism or settings.WORKFLOW_START_PARALLELISM)
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="start") as pool:
        slots = threading.BoundedSemaphore(parallelism)
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                run.again_in = 0.0
                break
            batch = _claim(limit=START_BATCH)
            if not batch:
                run.again_in = _next_claim_expiry()
                break
            run.claims += 1
            started, failed = _start_batch(batch, pacer, pool, slots)
            run.started += started
            run.failed += failed
            if failed and not started:
                run.again_in = float(RETRY_SECONDS + 1)
                break
    return run


def workflow_starts_follow_up(run: StartsRun) -> None:
    """Queue what comes after a run: its continuation, or a look once the other starter's
    claims would be stale (through the signal, so such looks are not multiplied)."""
    if run.again_in is None:
        return
    if run.busy:
        workflow_starts_signal(countdown=run.again_in)
        return
    try:
        enqueue(STARTER_JOB, countdown=math.ceil(run.again_in))
    except Exception:
        logger.exception("could not queue the starter's continuation; the next signal or the sweep will")


def _claim(*, limit: int) -> list[Execution]:
    """Up to ``limit`` waiting requests, oldest first, now ours: unclaimed, or claimed
    longer than ``CLAIM_SECONDS`` ago. Their ``started_at`` becomes this claim's moment."""
    now = timezone.now()
    claimable = Q(started_at__isnull=True) | Q(started_at__lt=now - timedelta(seconds=CLAIM_SECONDS))
    with transaction.atomic():
        ids = list(
            requests_waiting()
            .filter(claimable)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        # The condition again: without row locks (SQLite) it keeps two claims apart.
        Execution.objects.filter(claimable, pk__in=ids).update(started_at=now)
    return list(Execution.objects.filter(pk__in=ids, arn="", started_at=now).select_related("order").order_by("pk"))


def _next_claim_expiry() -> float | None:
    """Seconds until the oldest claim still held goes stale (None: no claim is held)."""
    now = timezone.now()
    held = requests_waiting().filter(started_at__gte=now - timedelta(seconds=CLAIM_SECONDS))
    oldest = held.aggregate(oldest=Min("started_at"))["oldest"]
    if oldest is None:
        return None
    return max(0.0, (oldest - now).total_seconds() + CLAIM_SECONDS) + 1


def _start_batch(batch: list[Execution], pacer: StartPacer, pool, slots) -> tuple[int, int]:
    """Start the batch's executions (``slots`` calls in flight at most, each paced), then
    record them: one update for the started, one per failure. Returns (started, failed)."""
    try:
        # Looked up once (and cached) where no ARN is configured.
        state_machine_arn = resources.state_machine_arn(resources.ORDER_PROCESSING)
    except Exception as exc:
        _record_failures([(execution, exc) for execution in batch], batch_size=len(batch))
        return 0, len(batch)

    def start(execution: Execution) -> tuple[str, datetime]:
        try:
            arn = sfn.start_execution(
                state_machine_arn=state_machine_arn, name=execution.name, payload=execution_input(execution.order)
            )
            return arn, timezone.now()
        finally:
            slots.release()

    futures = {}
    for execution in batch:
        slots.acquire()
        try:
            pacer.acquire()
        except BaseException:
            slots.release()
            raise
        futures[pool.submit(start, execution)] = execution
    started: dict[int, tuple[str, datetime]] = {}
    failed: list[tuple[Execution, BaseException]] = []
    for future in as_completed(futures):
        execution = futures[future]
        try:
            started[execution.pk] = future.result()
        except Exception as exc:
            failed.append((execution, exc))
    if started:
        # The step handler may have recorded the ARN first (the same one: it is the name's).
        Execution.objects.filter(pk__in=started).update(
            arn=Case(*[When(pk=pk, then=Value(arn)) for pk, (arn, _) in started.items()], output_field=CharField()),
            started_at=Case(
                *[When(pk=pk, then=Value(at)) for pk, (_, at) in started.items()], output_field=DateTimeField()
            ),
            status=Case(
                When(status=Execution.Status.PENDING, then=Value(Execution.Status.RUNNING)),
                default=F("status"),
                output_field=CharField(),
            ),
            error="",
        )
    if failed:
        _record_failures(failed, batch_size=len(batch))
    return len(started), len(failed)


def _record_failures(failed: list[tuple[Execution, BaseException]], *, batch_size: int) -> None:
    """Keep the requests, with the error, and backdate their claims: taken again after
    ``RETRY_SECONDS`` (not ``CLAIM_SECONDS``), and not mistaken for a starter at work."""
    logger.warning(
        "%d of %d workflow starts failed (tried again in %d s); first: %s",
        len(failed),
        batch_size,
        RETRY_SECONDS,
        failed[0][1],
    )
    retry_at = timezone.now() - timedelta(seconds=CLAIM_SECONDS - RETRY_SECONDS)
    for execution, exc in failed:
        Execution.objects.filter(pk=execution.pk, arn="").update(
            started_at=retry_at, error=f"StartExecution failed: {type(exc).__name__}: {exc}"[:256]
        )


# --- The backlog ---------------------------------------------------------------------------------


def workflow_start_backlog(*, older_than_seconds: int | None = None) -> int:
    """How many start requests have waited longer than ``older_than_seconds``
    (``WORKFLOW_START_BACKLOG_SECONDS``): what the workflow-start-backlog alarm watches."""
    seconds = settings.WORKFLOW_START_BACKLOG_SECONDS if older_than_seconds is None else older_than_seconds
    return requests_waiting().filter(created_at__lt=timezone.now() - timedelta(seconds=seconds)).count()
