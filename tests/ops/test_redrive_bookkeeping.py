"""What a redrive run writes down, and for whom: a claim, a takeover or a continuation
touches its own job only; each round marks and counts only what this run moved (a message
another runner already marked is not counted twice), clears a past refusal, beats the
heartbeat; a job's outcome follows its own failures; the rate limit holds across a run;
a batch SQS fails whole is logged; a cancel asked for between two runs is carried out by
the continuation. The engine runs in the test process, as in test_redrive_failures."""

import logging
import time
from datetime import timedelta

import pytest
from botocore.stub import ANY, Stubber
from django.conf import settings
from django.db import connection
from django.utils import timezone

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.models import AuditEntry
from ops import sqs
from ops.models import DeadLetter, RedriveJob
from ops.redrive import jobs, runner
from tests.ops.conftest import drain, unique
from tests.ops.test_redrive_failures import BOUND_SECONDS, FakeClock, job_with_messages, run_to_the_end, sent

pytestmark = pytest.mark.django_db

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-retry"


@pytest.fixture
def stub(monkeypatch):
    """The real SQS client with AWS's answers queued on it (no request leaves the process)."""
    client = aws._client.__wrapped__("sqs", settings.AWS_ENDPOINT_URL, settings.AWS_REGION)
    monkeypatch.setattr(sqs, "_sqs", lambda: client)
    with Stubber(client) as stubber:
        yield stubber


def target_queue() -> str:
    name = resource_name(unique("kept"))
    aws.client("sqs").create_queue(QueueName=name)
    return name


def fresh(job: RedriveJob) -> RedriveJob:
    return RedriveJob.objects.get(pk=job.pk)


# --- Whose job a claim is ------------------------------------------------------------------------


def test_a_claim_a_takeover_and_a_continuation_each_touch_their_own_job_only():
    job = job_with_messages(1, target="anywhere")
    other = job_with_messages(1, target="anywhere")

    runner.job_claim(job.pk)
    other_now = fresh(other)
    assert (other_now.status, other_now.runs, other_now.started_at, other_now.heartbeat_at) == (
        RedriveJob.Status.QUEUED,
        0,
        None,
        None,
    )

    claimed_other = runner.job_claim(other.pk)  # both running, run 1 each
    runner.job_claim(job.pk, takeover=True)
    assert fresh(other).runs == 1
    runner.job_claim(job.pk, continues=2)
    RedriveJob.objects.filter(pk=other.pk).update(runs=3)  # the same run number as the job's now
    runner.job_claim(job.pk, continues=3)
    other_now = fresh(other)
    assert (other_now.runs, other_now.heartbeat_at, other_now.started_at) == (
        3,
        claimed_other.heartbeat_at,
        claimed_other.started_at,
    )
    assert fresh(job).runs == 4


def test_a_continuation_of_a_job_that_has_ended_does_nothing():
    job = job_with_messages(1, target="anywhere")
    claimed = runner.job_claim(job.pk)
    for status in (RedriveJob.Status.SUCCEEDED, RedriveJob.Status.FAILED, RedriveJob.Status.CANCELLED):
        RedriveJob.objects.filter(pk=job.pk).update(status=status)

        assert runner.job_claim(job.pk, continues=claimed.runs) is None
        assert (fresh(job).status, fresh(job).runs) == (status, claimed.runs)


# --- What a round writes down ----------------------------------------------------------------------


def test_a_sent_message_is_marked_with_when_and_where_its_old_refusal_is_cleared_and_the_heartbeat_beats(local_aws):
    target = target_queue()
    job = job_with_messages(12, target=target)
    job.messages.filter(body="m-1").update(redrive_error="RequestThrottled: try again")
    claimed = runner.job_claim(job.pk)
    long_ago = timezone.now() - timedelta(hours=1)
    RedriveJob.objects.filter(pk=job.pk).update(heartbeat_at=long_ago)
    before = timezone.now()

    job = runner.run(claimed, deadline=time.monotonic())  # one round: ten of the twelve

    after = timezone.now()
    assert (job.status, job.moved, job.failed) == (RedriveJob.Status.RUNNING, 10, 0)
    assert before <= job.heartbeat_at <= after
    moved = job.messages.filter(state=DeadLetter.State.REDRIVEN)
    assert moved.count() == 10
    for message in moved:
        assert before <= message.resolved_at <= after
        assert (message.resolved_to, message.redrive_error) == (target, "")
    assert list(job.messages.filter(state=DeadLetter.State.PRESENT).values_list("resolved_at", flat=True)) == [
        None,
        None,
    ]
    assert len(drain(target)) == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_message_another_runner_marked_meanwhile_is_counted_once(local_aws, monkeypatch):
    """A takeover while the first runner was still alive: both sent the batch; the one
    that marks a message second neither counts it nor overwrites where it went. (The
    other runner writes from the sender's thread, a connection of its own: committed.)"""
    target = target_queue()
    job = job_with_messages(4, target=target)
    first = job.messages.order_by("id").first()
    real_send = sqs.send_batch

    def send_then_the_other_runner_marks(url, entries):
        result = real_send(url, entries)
        DeadLetter.objects.filter(pk=first.pk).update(
            state=DeadLetter.State.REDRIVEN, resolved_to="the-other-runner", resolved_at=timezone.now()
        )
        RedriveJob.objects.filter(pk=job.pk).update(moved=1)
        connection.close()
        return result

    monkeypatch.setattr(sqs, "send_batch", send_then_the_other_runner_marks)

    job = run_to_the_end(job)

    assert (job.status, job.moved, job.total) == (RedriveJob.Status.SUCCEEDED, 4, 4)
    first.refresh_from_db()
    assert first.resolved_to == "the-other-runner"
    assert set(job.messages.exclude(pk=first.pk).values_list("resolved_to", flat=True)) == {target}


def test_a_job_succeeds_on_its_own_record_whatever_other_jobs_failed(stub):
    failing = job_with_messages(1, target="orders-retry")
    RedriveJob.objects.filter(pk=failing.pk).update(status=RedriveJob.Status.FAILED, failed=1)
    job = job_with_messages(1, target="orders-retry")
    stub.add_response("get_queue_url", {"QueueUrl": URL}, {"QueueName": "orders-retry"})
    stub.add_response(
        "send_message_batch",
        {"Successful": [sent(job.messages.get())], "Failed": []},
        {"QueueUrl": URL, "Entries": ANY},
    )

    job = run_to_the_end(job)

    assert (job.status, job.moved, job.failed) == (RedriveJob.Status.SUCCEEDED, 1, 0)
    assert AuditEntry.objects.get(action="dlq.redrive_succeeded", object_id=str(job.pk)).after == {
        "queue": job.queue_name,
        "moved": 1,
        "failed": 0,
        "total": 1,
    }
    assert not AuditEntry.objects.filter(action="dlq.redrive_failed", object_id=str(job.pk)).exists()


# --- How fast, and what is logged -----------------------------------------------------------------


class BoundedClock(FakeClock):
    """The fake clock, until the test has taken ``real_seconds``: then it is past any
    deadline, so a runner that loops without waiting ends instead of hanging the test."""

    def __init__(self, *, real_seconds: float):
        super().__init__()
        self.give_up_at = time.monotonic() + real_seconds

    def monotonic(self) -> float:
        return self.now if time.monotonic() < self.give_up_at else float("inf")


def test_a_run_keeps_to_the_jobs_rate_limit_batch_by_batch(local_aws, monkeypatch):
    clock = BoundedClock(real_seconds=BOUND_SECONDS * 4)
    monkeypatch.setattr(runner, "time", clock)
    target = target_queue()
    job = job_with_messages(25, target=target, rate_limit=10)

    # On the fake clock only the waits pass time: three rounds take two seconds, well
    # before this deadline (a runner that loops is stopped at it).
    job = runner.run(runner.job_claim(job.pk), deadline=clock.monotonic() + 5)

    # Batches of 10, 10 and 5 at ten messages a second (a token bucket of ten): the first at
    # once, the second when ten tokens are back (a second), the last when five are (half).
    assert clock.slept == [pytest.approx(1.0), pytest.approx(0.5)]
    assert (job.status, job.moved) == (RedriveJob.Status.SUCCEEDED, 25)
    assert len(drain(target)) == 25


def test_a_batch_sqs_fails_whole_is_logged_with_the_job_the_queue_and_the_reason(stub, caplog):
    job = job_with_messages(2, target="orders-retry")
    stub.add_response("get_queue_url", {"QueueUrl": URL}, {"QueueName": "orders-retry"})
    stub.add_client_error(
        "send_message_batch",
        service_error_code="RequestThrottled",
        service_message="Rate exceeded",
        http_status_code=400,
    )

    with caplog.at_level(logging.WARNING, logger="ops.redrive.runner"):
        job = run_to_the_end(job)

    assert (job.status, job.moved, job.failed) == (RedriveJob.Status.FAILED, 0, 2)
    [record] = [r for r in caplog.records if r.name == "ops.redrive.runner"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(f"redrive {job.pk}: batch to orders-retry failed: ")
    assert "RequestThrottled" in message and "Rate exceeded" in message
    reason = "An error occurred (RequestThrottled) when calling the SendMessageBatch operation: Rate exceeded"
    assert set(job.messages.values_list("redrive_error", flat=True)) == {f"RequestThrottled: {reason}"}


# --- A cancel between two runs ----------------------------------------------------------------------


def test_a_cancel_asked_for_between_two_runs_is_carried_out_by_the_continuation(local_aws, support):
    target = target_queue()
    job = job_with_messages(15, target=target)
    left = runner.redrive_job_run(job_id=job.pk, deadline=time.monotonic())  # out of time after a round
    assert (left.status, left.moved) == (RedriveJob.Status.RUNNING, 10)

    # Support cancels while the continuation is on its way (the runner is not stale).
    assert jobs.redrive_cancel(job_id=job.pk, actor=support).status == RedriveJob.Status.CANCELLING
    job = runner.redrive_job_run(job_id=job.pk, continues=left.runs, deadline=time.monotonic() + BOUND_SECONDS)

    assert job is not None, "the continuation left the job 'cancelling' for good"
    job = fresh(job)
    assert (job.status, job.moved) == (RedriveJob.Status.CANCELLED, 10) and job.finished_at is not None
    assert job.messages.filter(state=DeadLetter.State.PRESENT).count() == 5
    assert len(drain(target)) == 10
    assert AuditEntry.objects.filter(action="dlq.redrive_cancelled", object_id=str(job.pk)).count() == 1
    # The same continuation delivered again does nothing.
    assert runner.redrive_job_run(job_id=job.pk, continues=left.runs) is None
