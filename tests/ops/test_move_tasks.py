"""Move-task jobs follow their AWS message move task to its end. ListMessageMoveTasks gives
a TaskHandle only while a task is RUNNING, so an ended task is found by its
StartedTimestamp (epoch ms). AWS's documented answers come from botocore's Stubber; moto
has no message move tasks."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from console.aws import clients as aws
from console.models import AuditEntry
from ops import sqs
from ops.models import RedriveJob
from ops.redrive import jobs, move_tasks

QUEUE = "ops-console-dev-steps-dlq"
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{QUEUE}"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}"
HANDLE = "eyJ0YXNrSWQiOiJvdXJzIiwic291cmNlQXJuIjoiLi4uIn0="
STARTED_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def move_task(status: str, *, started: datetime, moved: int, to_move: int = 7, handle: str = "", reason: str = ""):
    """One result of ListMessageMoveTasks as AWS documents it."""
    task = {
        "Status": status,
        "SourceArn": QUEUE_ARN,
        "MaxNumberOfMessagesPerSecond": 50,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": to_move,
        "StartedTimestamp": epoch_ms(started),
    }
    if handle:
        task["TaskHandle"] = handle
    if reason:
        task["FailureReason"] = reason
    return task


def move_task_job(**fields) -> RedriveJob:
    """A job as redrive_move_task_start leaves it."""
    return RedriveJob.objects.create(
        queue_name=QUEUE,
        target_queue="",
        mode=RedriveJob.Mode.MOVE_TASK,
        status=RedriveJob.Status.RUNNING,
        total=7,
        move_task_handle=HANDLE,
        started_at=STARTED_AT,
        heartbeat_at=STARTED_AT,
        runs=1,
        **fields,
    )


def refreshed(job: RedriveJob, tasks: list[dict]) -> RedriveJob:
    """The job after a refresh to which SQS lists ``tasks`` (most recent first)."""
    sqs.reset_cache()
    with Stubber(aws.client("sqs")) as stub:
        stub.add_response("get_queue_url", {"QueueUrl": QUEUE_URL}, {"QueueName": QUEUE})
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": QUEUE_ARN}},
            {"QueueUrl": QUEUE_URL, "AttributeNames": ["All"]},
        )
        stub.add_response("list_message_move_tasks", {"Results": tasks}, {"SourceArn": QUEUE_ARN, "MaxResults": 10})
        move_tasks.redrive_move_task_refresh(job=job)
        stub.assert_no_pending_responses()
    return RedriveJob.objects.get(pk=job.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sqs_status", "reason", "job_status"),
    [
        ("COMPLETED", "", RedriveJob.Status.SUCCEEDED),
        ("FAILED", "AWS.SimpleQueueService.NonExistentQueue", RedriveJob.Status.FAILED),
        ("CANCELLED", "", RedriveJob.Status.CANCELLED),
    ],
)
def test_a_running_task_is_followed_to_its_end_though_sqs_then_lists_it_without_a_handle(
    sqs_status, reason, job_status
):
    job = move_task_job()
    started = STARTED_AT + timedelta(milliseconds=240)

    job = refreshed(job, [move_task("RUNNING", started=started, moved=3, handle=HANDLE)])
    assert (job.status, job.moved, job.move_task_started_ms) == ("running", 3, epoch_ms(started))

    job = refreshed(job, [move_task(sqs_status, started=started, moved=5, reason=reason)])
    assert (job.status, job.moved, job.last_error) == (job_status, 5, reason)
    assert job.finished_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sqs_clock_offset",
    [timedelta(seconds=1), timedelta(seconds=-3)],  # SQS's clock a little behind ours: still ours
)
def test_a_task_that_ended_before_the_first_refresh_is_found_by_its_start_time(sqs_clock_offset):
    job = move_task_job()
    ours = STARTED_AT + sqs_clock_offset
    tasks = [
        move_task("RUNNING", started=STARTED_AT + timedelta(minutes=5), moved=1, to_move=40, handle="someone-elses"),
        move_task("COMPLETED", started=STARTED_AT + timedelta(minutes=2), moved=40, to_move=40),
        move_task("COMPLETED", started=ours, moved=7),
        move_task("COMPLETED", started=STARTED_AT - timedelta(hours=1), moved=90, to_move=90),
    ]

    job = refreshed(job, tasks)

    assert (job.status, job.moved, job.total, job.move_task_started_ms) == ("succeeded", 7, 7, epoch_ms(ours))


@pytest.mark.django_db
def test_a_newer_task_of_someone_else_is_not_taken_for_ours():
    started = STARTED_AT + timedelta(milliseconds=240)
    job = move_task_job(move_task_started_ms=epoch_ms(started))
    theirs = move_task("COMPLETED", started=STARTED_AT + timedelta(minutes=3), moved=12, to_move=12)

    # Ours no longer among the ten SQS lists: nothing is known, the job waits.
    job = refreshed(job, [theirs])
    assert (job.status, job.moved) == ("running", 0)

    job = refreshed(job, [theirs, move_task("CANCELLED", started=started, moved=4)])
    assert (job.status, job.moved) == ("cancelled", 4)


@pytest.mark.django_db
def test_neither_an_older_task_nor_one_running_under_another_handle_is_taken_for_ours():
    job = move_task_job()
    tasks = [
        move_task("RUNNING", started=STARTED_AT + timedelta(seconds=2), moved=1, handle="someone-elses"),
        move_task("COMPLETED", started=STARTED_AT - timedelta(minutes=1), moved=9, to_move=9),
    ]

    job = refreshed(job, tasks)

    assert (job.status, job.moved, job.move_task_started_ms) == ("running", 0, None)


@pytest.mark.django_db
def test_cancelling_a_move_task_job_cancels_the_task_in_sqs(support):
    job = move_task_job()
    with Stubber(aws.client("sqs")) as stub:
        stub.add_response("cancel_message_move_task", {"ApproximateNumberOfMessagesMoved": 4}, {"TaskHandle": HANDLE})
        jobs.redrive_cancel(job_id=job.pk, actor=support)
        stub.assert_no_pending_responses()

    job.refresh_from_db()
    assert (job.status, job.moved) == ("cancelled", 4) and job.finished_at is not None
    entry = AuditEntry.objects.get(action="dlq.redrive_cancel", object_id=str(job.pk))
    assert entry.actor == support and entry.before == {"status": "running"}
    assert entry.after == {"status": "cancelled", "moved": 4, "total": 7}
