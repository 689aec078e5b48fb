"""The redrive engine when SQS says no, and when two jobs run at once: a refused message is
counted once, stays waiting with SQS's reason, is not sent again in a loop, and ends its
job "finished with failures"; each job counts its own messages. The engine runs here in
the test process (the stack tests run it on the worker function). SQS refusing single
entries of a batch is an answer moto never gives: botocore's Stubber gives AWS's."""

import base64
import threading
import time

import pytest
from botocore.stub import ANY, Stubber
from django.conf import settings
from django.db import connection
from django.test import override_settings

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.models import AuditEntry
from ops import sqs
from ops.models import DeadLetter, RedriveJob
from ops.redrive import jobs, runner
from tests.ops.conftest import drain, unique

pytestmark = pytest.mark.django_db

DLQ = "ops-console-test-steps-dlq"
# The runner stops once a round of batches ends past this: a runner that sent refused
# messages again would loop until then, and be caught still running.
BOUND_SECONDS = 5


def job_with_messages(count: int, *, target: str = "", sources: list[str] | None = None, **fields) -> RedriveJob:
    """A queued redrive job holding ``count`` archived messages (bodies ``m-0``, ``m-1``...)."""
    job = RedriveJob.objects.create(queue_name=DLQ, target_queue=target, mode="all", total=count, **fields)
    sources = sources or [""] * count
    DeadLetter.objects.bulk_create(
        DeadLetter(
            queue_name=DLQ,
            message_id=f"{job.pk.hex[:8]}-{n}",
            body=f"m-{n}",
            body_sha256="s",
            fingerprint="f",
            source_queue=sources[n],
            redrive_job=job,
        )
        for n in range(count)
    )
    return job


def run_to_the_end(job: RedriveJob) -> RedriveJob:
    claimed = runner.job_claim(job.pk)
    assert claimed is not None
    return runner.run(claimed, deadline=time.monotonic() + BOUND_SECONDS)


def states(job: RedriveJob) -> list[tuple[str, str, str]]:
    return list(job.messages.order_by("id").values_list("body", "state", "redrive_error"))


@pytest.fixture
def stubbed_sqs(monkeypatch):
    """The real SQS client with AWS's answers queued on it (no request leaves the process)."""
    client = aws._client.__wrapped__("sqs", settings.AWS_ENDPOINT_URL, settings.AWS_REGION)
    monkeypatch.setattr(sqs, "_sqs", lambda: client)
    with Stubber(client) as stub:
        yield stub


def sent(row: DeadLetter) -> dict:
    return {"Id": str(row.pk), "MessageId": f"sqs-{row.pk}", "MD5OfMessageBody": "0" * 32}


# --- SQS refusing messages -----------------------------------------------------------------


def test_a_message_sqs_refuses_is_counted_once_kept_waiting_and_not_sent_again(stubbed_sqs):
    bystander = job_with_messages(2, target="orders-retry")
    job = job_with_messages(3, target="orders-retry")
    first, refused, third = job.messages.order_by("id")
    reason = "Message contains characters outside the allowed set. " + "x" * 2500
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-retry"
    stubbed_sqs.add_response("get_queue_url", {"QueueUrl": url}, {"QueueName": "orders-retry"})
    stubbed_sqs.add_response(
        "send_message_batch",
        {
            "Successful": [sent(first), sent(third)],
            "Failed": [
                {"Id": str(refused.pk), "SenderFault": True, "Code": "InvalidMessageContents", "Message": reason}
            ],
        },
        {"QueueUrl": url, "Entries": ANY},
    )

    job = run_to_the_end(job)

    stubbed_sqs.assert_no_pending_responses()  # one batch: the refused message was not sent again
    error = f"InvalidMessageContents: {reason}"
    assert (job.status, job.moved, job.failed, job.total) == (RedriveJob.Status.FAILED, 2, 1, 3)
    assert job.last_error == error[:2000] and job.finished_at is not None
    assert states(job) == [
        ("m-0", DeadLetter.State.REDRIVEN, ""),
        ("m-1", DeadLetter.State.PRESENT, error[:2000]),
        ("m-2", DeadLetter.State.REDRIVEN, ""),
    ]
    assert set(job.messages.filter(state=DeadLetter.State.REDRIVEN).values_list("resolved_to", flat=True)) == {
        "orders-retry"
    }
    assert AuditEntry.objects.get(action="dlq.redrive_failed", object_id=str(job.pk)).after == {
        "queue": DLQ,
        "moved": 2,
        "failed": 1,
        "total": 3,
    }
    bystander.refresh_from_db()
    assert (bystander.status, bystander.moved, bystander.failed) == (RedriveJob.Status.QUEUED, 0, 0)


def test_a_job_whose_every_message_was_accepted_succeeds(stubbed_sqs):
    job = job_with_messages(1, target="orders-retry")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-retry"
    stubbed_sqs.add_response("get_queue_url", {"QueueUrl": url}, {"QueueName": "orders-retry"})
    stubbed_sqs.add_response(
        "send_message_batch",
        {"Successful": [sent(job.messages.get())], "Failed": []},
        {"QueueUrl": url, "Entries": ANY},
    )

    job = run_to_the_end(job)

    assert (job.status, job.moved, job.failed, job.last_error) == (RedriveJob.Status.SUCCEEDED, 1, 0, "")


def test_a_batch_refused_whole_fails_each_of_its_messages_once_and_a_resume_sends_them(local_aws, support):
    target = resource_name(unique("not-yet"))  # no such queue yet
    job = job_with_messages(3, target=target)

    job = run_to_the_end(job)

    assert (job.status, job.moved, job.failed) == (RedriveJob.Status.FAILED, 0, 3)
    assert "QueueDoesNotExist" in job.last_error
    assert [(body, state) for body, state, _ in states(job)] == [
        ("m-0", "present"),
        ("m-1", "present"),
        ("m-2", "present"),
    ]
    assert all("QueueDoesNotExist" in error for _, _, error in states(job))

    # Nothing was lost: once the queue exists, resuming the job sends every one of them.
    aws.client("sqs").create_queue(QueueName=target)
    sqs.reset_cache()
    jobs.redrive_resume(job_id=job.pk, actor=support, enqueue=False)
    job = run_to_the_end(job)

    assert (job.status, job.moved, job.failed, job.runs) == (RedriveJob.Status.SUCCEEDED, 3, 0, 2)
    assert sorted(m["Body"] for m in drain(target)) == ["m-0", "m-1", "m-2"]
    assert [state for _, state, _ in states(job)] == ["redriven"] * 3


def test_a_message_without_a_known_source_fails_with_the_reason_and_the_others_go_home(local_aws):
    home = resource_name(unique("home"))
    aws.client("sqs").create_queue(QueueName=home)
    job = job_with_messages(3, sources=[home, "", home])

    job = run_to_the_end(job)

    assert (job.status, job.moved, job.failed) == (RedriveJob.Status.FAILED, 2, 1)
    reason = "No source queue is known for this message: choose a target queue."
    assert states(job) == [("m-0", "redriven", ""), ("m-1", "present", reason), ("m-2", "redriven", "")]
    assert job.last_error == reason
    assert sorted(m["Body"] for m in drain(home)) == ["m-0", "m-2"]


# --- Two jobs at once ----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_jobs_running_at_once_each_count_their_own_messages(local_aws):
    targets = [resource_name(unique("first")), resource_name(unique("second"))]
    for target in targets:
        aws.client("sqs").create_queue(QueueName=target)
    jobs = [job_with_messages(25, target=targets[0]), job_with_messages(13, target=targets[1])]
    barrier, errors = threading.Barrier(2), []

    def run(job: RedriveJob) -> None:
        try:
            barrier.wait()
            run_to_the_end(job)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    first, second = (RedriveJob.objects.get(pk=job.pk) for job in jobs)
    assert (first.status, first.moved, first.failed) == (RedriveJob.Status.SUCCEEDED, 25, 0)
    assert (second.status, second.moved, second.failed) == (RedriveJob.Status.SUCCEEDED, 13, 0)
    assert len(drain(targets[0])) == 25 and len(drain(targets[1])) == 13
    assert set(first.messages.values_list("resolved_to", flat=True)) == {targets[0]}


# --- Rounds, parallel senders, FIFO order ----------------------------------------------------


def test_each_round_sends_one_batch_per_sender_and_a_continuation_finishes(local_aws):
    target = resource_name(unique("rounds"))
    aws.client("sqs").create_queue(QueueName=target)
    job = job_with_messages(25, target=target, parallelism=2)

    # Out of time at once: one round, then the job is left running for a continuation.
    after_one_round = runner.run(runner.job_claim(job.pk), deadline=time.monotonic())

    assert (after_one_round.status, after_one_round.moved) == (RedriveJob.Status.RUNNING, 20)
    continued = runner.job_claim(job.pk, continues=after_one_round.runs)
    job = runner.run(continued, deadline=time.monotonic() + BOUND_SECONDS)
    assert (job.status, job.moved, job.runs) == (RedriveJob.Status.SUCCEEDED, 25, 2)
    assert len(drain(target)) == 25


@pytest.mark.parametrize(("asked", "per_round"), [(5, 20), (0, 10)])
@override_settings(OPS_REDRIVE_MAX_PARALLELISM=2)
def test_parallel_senders_are_kept_between_one_and_the_configured_maximum(local_aws, asked, per_round):
    target = resource_name(unique("capped"))
    aws.client("sqs").create_queue(QueueName=target)
    job = job_with_messages(30, target=target, parallelism=asked)

    after_one_round = runner.run(runner.job_claim(job.pk), deadline=time.monotonic())

    assert after_one_round.moved == per_round


def test_a_fifo_target_gets_one_batch_a_round_in_the_order_the_messages_were_first_sent(local_aws):
    from datetime import timedelta

    from django.utils import timezone

    target = resource_name(unique("ordered")) + ".fifo"
    aws.client("sqs").create_queue(QueueName=target, Attributes={"FifoQueue": "true"})
    job = job_with_messages(12, target=target, parallelism=4)
    start = timezone.now()
    for n, row in enumerate(job.messages.order_by("id")):
        # Archived in another order than they were sent: m-11 was sent first.
        row.sent_at = start - timedelta(seconds=n)
        row.attributes = {"MessageGroupId": "order-1"} if n % 2 else {}
        row.save(update_fields=["sent_at", "attributes"])

    after_one_round = runner.run(runner.job_claim(job.pk), deadline=time.monotonic())
    assert after_one_round.moved == 10
    job = runner.run(runner.job_claim(job.pk, continues=after_one_round.runs), deadline=time.monotonic() + 5)

    arrived = drain(target)
    by_group: dict[str, list[str]] = {}
    for m in arrived:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    # Each group in the order its messages were first sent; ungrouped ones in a group of their own.
    assert by_group == {
        "order-1": [f"m-{n}" for n in (11, 9, 7, 5, 3, 1)],
        "redrive": [f"m-{n}" for n in (10, 8, 6, 4, 2, 0)],
    }
    assert job.moved == 12


# --- Whose job it is to run ---------------------------------------------------------------------


def test_a_job_is_claimed_once_and_taken_over_or_continued_only_as_asked():
    job = job_with_messages(1, target="anywhere")

    claimed = runner.job_claim(job.pk)
    assert (claimed.status, claimed.runs) == (RedriveJob.Status.RUNNING, 1)
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert runner.job_claim(job.pk) is None  # a second delivery of the same job

    taken_over = runner.job_claim(job.pk, takeover=True)
    assert (taken_over.runs, taken_over.started_at) == (2, claimed.started_at)
    assert runner.job_claim(job.pk, continues=1) is None  # a continuation of a run that is over
    assert runner.job_claim(job.pk, continues=2).runs == 3
    RedriveJob.objects.filter(pk=job.pk).update(status=RedriveJob.Status.CANCELLED)
    assert runner.job_claim(job.pk, takeover=True) is None


def test_a_job_cancelled_before_its_first_round_sends_nothing(local_aws):
    target = resource_name(unique("cancelled"))
    aws.client("sqs").create_queue(QueueName=target)
    job = job_with_messages(3, target=target)
    claimed = runner.job_claim(job.pk)
    RedriveJob.objects.filter(pk=job.pk).update(status=RedriveJob.Status.CANCELLING)

    job = runner.run(claimed)

    assert (job.status, job.moved) == (RedriveJob.Status.CANCELLED, 0) and job.finished_at is not None
    assert drain(target) == []


def test_a_job_that_is_not_running_is_left_as_it_is():
    job = job_with_messages(3, target="anywhere")

    left = runner.run(job)  # never claimed: still queued

    assert (left.status, left.moved, left.runs) == (RedriveJob.Status.QUEUED, 0, 0)


# --- What is sent, and how fast ---------------------------------------------------------------


def test_a_message_is_sent_back_as_it_arrived():
    job = RedriveJob.objects.create(queue_name=DLQ, target_queue="t", mode="all")
    message = DeadLetter.objects.create(
        queue_name=DLQ,
        message_id="m",
        body='{"n": 1}',
        body_sha256="s",
        fingerprint="f",
        attributes={"AWSTraceHeader": "Root=1-abc", "MessageGroupId": "order-7", "SentTimestamp": "1"},
        message_attributes={
            "tenant": {"DataType": "String", "StringValue": "t1"},
            "blob": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x00\xff").decode()},
            "empty": {"DataType": "String"},
        },
    )

    plain = runner.send_entry(message, job=job, fifo=False)
    fifo = runner.send_entry(message, job=job, fifo=True)

    assert plain == {
        "Id": str(message.pk),
        "MessageBody": '{"n": 1}',
        "MessageAttributes": {
            "tenant": {"DataType": "String", "StringValue": "t1"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
        "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}},
    }
    assert fifo == plain | {"MessageGroupId": "order-7", "MessageDeduplicationId": f"{job.pk.hex}-{message.pk}"}
    bare = DeadLetter(pk=5, body="x")
    assert runner.send_entry(bare, job=job, fifo=True) == {
        "Id": "5",
        "MessageBody": "x",
        "MessageGroupId": "redrive",
        "MessageDeduplicationId": f"{job.pk.hex}-5",
    }


class FakeClock:
    def __init__(self):
        self.now, self.slept = 100.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_rate_limit_spaces_batches_to_the_messages_a_second_asked(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", clock)
    limiter = runner.RateLimiter(20)
    assert limiter.batch_size == 10  # one SendMessageBatch

    limiter.acquire(10)  # a full bucket: the first batch goes at once
    limiter.acquire(10)  # ten messages at 20 a second: half a second later
    clock.now += 2.0  # a slow send: it earns no more than a full bucket
    limiter.acquire(4)
    assert clock.slept == [pytest.approx(0.5)]
    limiter.acquire(6)
    limiter.acquire(1)  # the bucket is empty: 1/20 s
    assert clock.slept == [pytest.approx(0.5), pytest.approx(0.05)]


def test_at_one_message_a_second_the_first_batch_waits_its_turn_too(monkeypatch):
    # The reported case: 3 messages at 1/s went in 0.42 s, the first batch ignoring the limit.
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", clock)
    limiter = runner.RateLimiter(1)
    assert limiter.batch_size == 1  # a batch never holds more than a second's worth

    started = clock.now
    sent_at = []
    for _ in range(3):
        limiter.acquire(1)
        sent_at.append(clock.now - started)
    assert sent_at == [0, pytest.approx(1.0), pytest.approx(2.0)]
    with pytest.raises(ValueError, match="more than the bucket holds"):
        limiter.acquire(2)


def test_parallel_senders_share_one_rate(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", clock)
    clock.sleep = lambda seconds: clock.slept.append(seconds)  # senders reserve at once; none has slept yet
    limiter = runner.RateLimiter(5)

    for _ in range(4):
        limiter.acquire(5)
    # Each sender waits for its own five tokens, one after another: 1 s, 2 s, 3 s.
    assert clock.slept == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0)]


@pytest.mark.parametrize(("rate", "count"), [(1, 3), (4, 9)])
def test_a_rate_limited_redrive_takes_the_time_its_rate_asks(local_aws, monkeypatch, rate, count):
    """Measured in real time against the local SQS: every send's time and size."""
    target = resource_name(unique("paced"))
    aws.client("sqs").create_queue(QueueName=target)
    job = job_with_messages(count, target=target, rate_limit=rate, parallelism=2)
    sends: list[tuple[float, int]] = []
    real_send = sqs.send_batch

    def timed_send(url, entries):
        sends.append((time.monotonic(), len(entries)))
        return real_send(url, entries)

    monkeypatch.setattr(sqs, "send_batch", timed_send)
    started = time.monotonic()
    job = runner.run(runner.job_claim(job.pk), deadline=started + 30)
    elapsed = time.monotonic() - started

    assert (job.status, job.moved) == (RedriveJob.Status.SUCCEEDED, count)
    assert len(drain(target)) == count
    burst = min(rate, 10)
    assert all(size <= burst for _, size in sends)
    # A full bucket, then the rate: n messages take at least (n - burst) / rate seconds...
    assert elapsed >= (count - burst) / rate - 0.05
    # ... and no second-long window holds more than a bucket and a second's refill.
    for at, _ in sends:
        in_window = sum(size for when, size in sends if at <= when < at + 1.0)
        assert in_window <= burst + rate


def test_without_a_rate_limit_nothing_waits(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", clock)
    limiter = runner.RateLimiter(None)

    for _ in range(5):
        limiter.acquire(10)

    assert clock.slept == []
