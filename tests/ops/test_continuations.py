"""Long ops jobs on the worker function stop before its timeout and go on in a new message:
a redrive (between rounds of batches) and "Archive now" (between batches). Run here in
the test process with the invocation's time left set as the worker function sets it."""

import time

import pytest

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.models import AuditEntry
from console.runtime import deadlines
from console.runtime import jobs as job_queue
from ops import archive, tasks
from ops.models import DeadLetter, RedriveJob
from ops.redrive import jobs, runner
from tests.ops.conftest import drain, put_in_dlq, queue_url, unique

pytestmark = [pytest.mark.stack, pytest.mark.django_db]


@pytest.fixture
def out_of_time():
    """An invocation whose time is up once its job has started (nothing beyond the margin
    the jobs keep for themselves)."""
    token = deadlines._deadline.set(time.monotonic() + tasks.INVOCATION_MARGIN_SECONDS)
    yield
    deadlines._deadline.reset(token)


@pytest.fixture
def continuations(monkeypatch):
    """What the jobs queue would receive: the continuation messages (task name and
    arguments, as ``console.runtime.jobs.enqueue`` is given them), captured."""
    queued = []
    monkeypatch.setattr(job_queue, "enqueue", lambda name, *args, countdown=None: queued.append((name, args)))
    return queued


def archived_job(local_aws, support, count: int) -> tuple[RedriveJob, str]:
    """``count`` archived messages claimed by a queued redrive job to a queue of their own
    (made directly, so no worker picks the job up)."""
    target = resource_name(unique("continued"))
    aws.client("sqs").create_queue(QueueName=target)
    dlq = resource_name("steps-dlq")
    archive.dead_letters_archive(
        queue_name=dlq,
        messages=[archive.IncomingMessage(f"m-{unique('id')}", f'{{"n": {n}}}') for n in range(count)],
    )
    job = RedriveJob.objects.create(
        queue_name=dlq, target_queue=target, mode="all", total=count, rate_limit=10, created_by=support
    )
    DeadLetter.objects.filter(queue_name=dlq, redrive_job=None, state=DeadLetter.State.PRESENT).update(redrive_job=job)
    return job, target


def test_a_redrive_out_of_time_stops_between_rounds_and_its_continuation_finishes_once(
    local_aws, support, out_of_time, continuations
):
    job, target = archived_job(local_aws, support, 25)

    result = tasks.redrive_run.run(str(job.pk))

    job.refresh_from_db()
    # One round (one batch of ten at parallelism 1), then the time was up.
    assert (job.status, job.moved, result["moved"]) == (RedriveJob.Status.RUNNING, 10, 10)
    assert continuations == [("ops.redrive_run", (str(job.pk), job.runs))]

    deadlines._deadline.set(None)  # the next invocation has all the time it needs
    tasks.redrive_run.run(str(job.pk), continues=job.runs)
    job.refresh_from_db()
    assert (job.status, job.moved, job.runs) == (RedriveJob.Status.SUCCEEDED, 25, 2)
    # The continuation delivered twice (SQS is at least once) runs once.
    assert tasks.redrive_run.run(str(job.pk), continues=1) == {"job": str(job.pk), "ran": False}
    assert sorted(m["Body"] for m in drain(target)) == sorted(f'{{"n": {n}}}' for n in range(25))


def test_archive_now_runs_in_the_background_and_goes_on_when_out_of_time(
    local_aws, support, out_of_time, continuations
):
    queue = resource_name(unique("unrouted-dlq"))
    aws.client("sqs").create_queue(QueueName=queue)
    put_in_dlq(queue, [f'{{"k": {n}}}' for n in range(23)])

    first = tasks.archive_drain.run(queue, support.pk)

    assert first == {"queue": queue, "archived": 10, "continued": True}
    assert continuations == [("ops.archive_drain", (queue, support.pk))]

    deadlines._deadline.set(None)
    assert tasks.archive_drain.run(queue, support.pk) == {"queue": queue, "archived": 13, "continued": False}
    assert DeadLetter.objects.filter(queue_name=queue).count() == 23
    entries = AuditEntry.objects.filter(action="dlq.archive", object_id=queue)
    assert sorted(e.after["archived"] for e in entries) == [10, 13] and {e.actor for e in entries} == {support}
    depth = aws.client("sqs").get_queue_attributes(QueueUrl=queue_url(queue), AttributeNames=["All"])["Attributes"]
    assert depth["ApproximateNumberOfMessages"] == "0" and depth["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_redrive_whose_runner_died_is_taken_over_by_the_scheduled_refresh(local_aws, support, continuations):
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - timedelta(seconds=runner.TAKEOVER_SECONDS + 5)
    dead, _ = archived_job(local_aws, support, 3)
    RedriveJob.objects.filter(pk=dead.pk).update(status=RedriveJob.Status.RUNNING, heartbeat_at=long_ago, runs=1)
    alive, _ = archived_job(local_aws, support, 3)
    RedriveJob.objects.filter(pk=alive.pk).update(status=RedriveJob.Status.RUNNING, heartbeat_at=timezone.now(), runs=1)
    RedriveJob.objects.create(
        queue_name="q", target_queue="", mode=RedriveJob.Mode.MOVE_TASK, status="running", heartbeat_at=long_ago
    )

    assert jobs.redrives_take_over_stalled() == 1
    assert continuations == [("ops.redrive_run", (str(dead.pk), 1))]

    # The continuation finishes the job; the dead run's own message, back later, does nothing.
    tasks.redrive_run.run(str(dead.pk), continues=1)
    dead.refresh_from_db()
    assert (dead.status, dead.moved) == (RedriveJob.Status.SUCCEEDED, 3)
    assert tasks.redrive_run.run(str(dead.pk)) == {"job": str(dead.pk), "ran": False}


def test_a_redrive_whose_runner_died_while_cancelling_is_taken_over_and_ends_cancelled(
    local_aws, support, continuations
):
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - timedelta(seconds=runner.TAKEOVER_SECONDS + 5)
    job, target = archived_job(local_aws, support, 3)
    RedriveJob.objects.filter(pk=job.pk).update(status=RedriveJob.Status.CANCELLING, heartbeat_at=long_ago, runs=2)

    assert jobs.redrives_take_over_stalled() == 1
    assert continuations == [("ops.redrive_run", (str(job.pk), 2))]

    tasks.redrive_run.run(str(job.pk), continues=2)
    job.refresh_from_db()
    assert (job.status, job.moved) == (RedriveJob.Status.CANCELLED, 0)
    assert drain(target) == []  # cancelled before it sent anything
