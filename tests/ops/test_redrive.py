"""Archive and redrive on the local stack: the consumer archives each DLQ message as it
arrives, a redrive job runs on the worker function and moves messages back."""

import json
from decimal import Decimal

import pytest
from botocore.stub import Stubber

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.models import AuditEntry
from console.runtime import jobs as job_queue
from ops import archive, sqs
from ops.errors import OpsError
from ops.models import DeadLetter, RedriveJob
from ops.redrive import jobs, move_tasks, runner
from orders.services import order_create
from tests.conftest import wait_for
from tests.ops.conftest import archived, dead_letter_source, drain, fail_once, put_in_dlq, unique

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

WIDGET = [{"product_id": "p1", "name": "Widget", "quantity": 1, "price": Decimal("5.00")}]


def job_done(job: RedriveJob, timeout: float = 60) -> RedriveJob:
    return wait_for(
        lambda: (
            (fresh := RedriveJob.objects.get(pk=job.pk)).status
            in {RedriveJob.Status.SUCCEEDED, RedriveJob.Status.FAILED, RedriveJob.Status.CANCELLED}
            and fresh
        ),
        timeout=timeout,
        what=f"redrive job {job.pk} to end",
    )


def test_discovery_finds_each_dlq_from_redrive_policies_and_lambda(local_aws):
    queues = {q.name: q for q in sqs.dead_letter_queues(refresh=True)}
    steps = queues[resource_name("steps-dlq")]
    assert steps.sources == [resource_name("steps")] and steps.fed_by == ["sqs"] and steps.move_task_supported
    assert queues[resource_name("alarm-events-dlq")].sources == [resource_name("alarm-events")]
    # Zappa's dead_letter_arn: a DLQ no queue feeds; AWS's move task cannot serve it.
    async_dlq = queues[resource_name("async-dlq")]
    assert "lambda" in async_dlq.fed_by and not async_dlq.move_task_supported
    # Queues that are not DLQs are not listed.
    assert resource_name("steps") not in queues and resource_name("jobs") not in queues


def test_on_lambda_the_functions_dead_letter_queue_is_found_without_zappa_settings_json(local_aws, monkeypatch):
    """The package leaves zappa_settings.json out: the template's naming rule finds it."""
    from console.runtime import stage

    def missing(stage, path=None):
        raise FileNotFoundError("zappa_settings.json")

    monkeypatch.setattr(stage, "zappa_stage_settings", missing)
    assert sqs.lambda_dead_letter_arn().endswith(f":{resource_name('async-dlq')}")
    queues = {q.name: q for q in sqs.dead_letter_queues(refresh=True)}
    assert "lambda" in queues[resource_name("async-dlq")].fed_by


def test_a_dead_lettered_workflow_job_is_redriven_by_a_worker_job_and_runs_again(stack, support):
    from console.runtime.celery import app
    from workflows.models import Execution

    order = order_create(user_id="redrive-customer", items=WIDGET, start_workflow=False)
    url = dead_letter_source(resource_name("lost-jobs"), resource_name("jobs-dlq"))
    app.send_task("workflows.order_workflow_start", args=[str(order.pk)], queue="lost-jobs")
    fail_once(url)
    message = wait_for(
        lambda: DeadLetter.objects.filter(order_id=order.pk).first(), what="the job's message in the archive"
    )
    assert message.task == "workflows.order_workflow_start"

    plan = jobs.redrive_plan(
        queue_name=message.queue_name, mode="selected", message_ids=[message.pk], target_queue=resource_name("jobs")
    )
    assert plan.count == 1 and plan.targets == {resource_name("jobs"): 1} and plan.samples[0].pk == message.pk
    job = jobs.redrive_start(
        queue_name=message.queue_name,
        mode="selected",
        message_ids=[message.pk],
        target_queue=resource_name("jobs"),
        actor=support,
        reason="payment provider is back",
    )
    job = job_done(job)
    assert (job.status, job.moved, job.failed, job.total) == ("succeeded", 1, 0, 1)
    # The worker picked the redriven Celery message up as it was: the order's workflow started.
    wait_for(lambda: Execution.objects.filter(order=order).exclude(arn="").exists(), what="the workflow to start")
    message.refresh_from_db()
    assert message.state == DeadLetter.State.REDRIVEN and message.resolved_to == resource_name("jobs")
    started = AuditEntry.objects.get(action="dlq.redrive", object_id=str(job.pk))
    assert started.actor == support and started.after["messages"] == 1 and started.reason == "payment provider is back"
    assert AuditEntry.objects.get(action="dlq.redrive_succeeded", object_id=str(job.pk)).after["moved"] == 1


def test_redrive_back_to_the_source_keeps_message_attributes_and_filters_by_error(stack, support):
    source = unique("src")
    url = dead_letter_source(resource_name(source), resource_name("steps-dlq"))
    sqs_client = aws.client("sqs")
    sqs_client.create_queue(QueueName=resource_name(source))  # exists already: same attributes
    for index in range(12):
        sqs_client.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": index, "source": source}),
            MessageAttributes={
                "tenant": {"DataType": "String", "StringValue": f"t{index % 3}"},
                "blob": {"DataType": "Binary", "BinaryValue": bytes([index, 0, 255])},
            },
        )
    fail_once(url, expected=12)
    rows = [r for r in archived(resource_name("steps-dlq"), 12) if source in r.body]
    assert len(rows) == 12
    # Two sources feed steps-dlq now: the plan asks for a target unless SQS named the source.
    DeadLetter.objects.filter(pk__in=[r.pk for r in rows]).update(source_queue=resource_name(source))
    DeadLetter.objects.filter(pk__in=[r.pk for r in rows[:4]]).update(
        error_type="Timeout", error="gateway 504 after 30s"
    )

    plan = jobs.redrive_plan(queue_name=resource_name("steps-dlq"), mode="filtered", filters={"error": "504"})
    assert plan.count == 4 and plan.targets == {resource_name(source): 4} and not plan.problems
    job = job_done(
        jobs.redrive_start(
            queue_name=resource_name("steps-dlq"), mode="filtered", filters={"error": "504"}, actor=support
        )
    )
    assert job.moved == 4
    arrived = drain(resource_name(source))
    assert sorted(json.loads(m["Body"])["n"] for m in arrived) == [0, 1, 2, 3]
    for m in arrived:
        n = json.loads(m["Body"])["n"]
        assert m["MessageAttributes"]["tenant"]["StringValue"] == f"t{n % 3}"
        assert m["MessageAttributes"]["blob"]["BinaryValue"] == bytes([n, 0, 255])
    waiting = DeadLetter.objects.filter(pk__in=[r.pk for r in rows], state=DeadLetter.State.PRESENT).count()
    assert waiting == 8


def test_a_fifo_redrive_keeps_groups_and_a_resumed_send_is_not_duplicated(stack, support):
    name = unique("orders") + ".fifo"
    dlq = name.replace(".fifo", "-dlq.fifo")
    sqs_client = aws.client("sqs")
    sqs_client.create_queue(QueueName=resource_name(dlq), Attributes={"FifoQueue": "true"})
    url = dead_letter_source(resource_name(name), resource_name(dlq), fifo=True)
    for index in range(6):
        sqs_client.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": index}),
            MessageGroupId=f"order-{index % 2}",
            MessageDeduplicationId=f"d{index}",
        )
    fail_once(url, expected=6)
    # This DLQ is not routed to the archiver: "Archive now" takes its messages in.
    assert archive.dead_letter_queue_drain(queue_name=resource_name(dlq), actor=support) == 6
    rows = list(DeadLetter.objects.filter(queue_name=resource_name(dlq)).order_by("id"))
    assert {r.group_id for r in rows} == {"order-0", "order-1"}

    job = jobs.redrive_start(queue_name=resource_name(dlq), mode="all", actor=support)
    job = job_done(job)
    assert job.moved == 6
    # A process killed after sending but before marking sends the same batch again on resume:
    # the deduplication id (job, archive row) makes SQS drop the copies.
    again = [runner.send_entry(r, job=job, fifo=True) for r in rows]
    sqs.send_batch(sqs.queue_url(resource_name(name)), again[:6])
    arrived = drain(resource_name(name))
    assert len(arrived) == 6
    by_group: dict[str, list[int]] = {}
    for m in arrived:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(json.loads(m["Body"])["n"])
    assert by_group == {"order-0": [0, 2, 4], "order-1": [1, 3, 5]}


def test_cancel_stops_a_rate_limited_redrive_and_resume_finishes_it(stack, support):
    target = unique("slow")
    sqs_client = aws.client("sqs")
    sqs_client.create_queue(QueueName=resource_name(target))
    put_in_dlq(resource_name("approvals-dlq"), [json.dumps({"slow": target, "n": n}) for n in range(30)])
    rows = [r for r in archived(resource_name("approvals-dlq"), 30) if target in r.body]
    assert len(rows) == 30

    job = jobs.redrive_start(
        queue_name=resource_name("approvals-dlq"),
        mode="filtered",
        filters={"text": ""} | {"task": ""} | {"error": ""} | {"kind": "unknown"},
        target_queue=resource_name(target),
        rate_limit=10,
        actor=support,
    )
    wait_for(lambda: RedriveJob.objects.get(pk=job.pk).moved >= 10, timeout=30, what="the first batches")
    jobs.redrive_cancel(job_id=job.pk, actor=support)
    job = job_done(job)
    assert job.status == "cancelled" and 10 <= job.moved < 30

    jobs.redrive_resume(job_id=job.pk, actor=support)
    job = job_done(job)
    assert job.status == "succeeded" and job.moved == 30 and job.runs == 2
    assert len(drain(resource_name(target))) == 30
    actions = set(AuditEntry.objects.filter(object_id=str(job.pk)).values_list("action", flat=True))
    assert {"dlq.redrive", "dlq.redrive_cancel", "dlq.redrive_cancelled", "dlq.redrive_resume"} <= actions


def test_bad_redrive_requests_are_refused_with_reasons(local_aws, support):
    dlq = resource_name("steps-dlq")
    with pytest.raises(OpsError, match="not one of the stage's queues"):
        jobs.redrive_plan(queue_name=dlq, mode="all", target_queue="somewhere-else")
    with pytest.raises(OpsError, match="dead-letter queue"):
        jobs.redrive_plan(queue_name=dlq, mode="all", target_queue=resource_name("jobs-dlq"))
    with pytest.raises(OpsError, match="Select at least one"):
        jobs.redrive_plan(queue_name=dlq, mode="selected", message_ids=[])
    with pytest.raises(OpsError, match="Parallelism"):
        jobs.redrive_start(queue_name=dlq, mode="all", actor=support, parallelism=99)


def test_delete_and_purge_need_confirmation_and_are_audited_with_counts(stack, support):
    put_in_dlq(resource_name("approvals-dlq"), [json.dumps({"purge": n}) for n in range(5)])
    rows = [r for r in archived(resource_name("approvals-dlq"), 5) if "purge" in r.body]
    deleted = archive.dead_letters_delete(
        queue_name=resource_name("approvals-dlq"),
        message_ids=[rows[0].pk, rows[1].pk],
        actor=support,
        reason="test data",
    )
    assert deleted == 2
    assert AuditEntry.objects.get(action="dlq.delete").after == {"requested": 2, "deleted": 2}

    with pytest.raises(OpsError, match="Type the queue's name"):
        archive.dead_letter_queue_purge(
            queue_name=resource_name("approvals-dlq"), confirm="yes", actor=support, reason="x"
        )
    result = archive.dead_letter_queue_purge(
        queue_name=resource_name("approvals-dlq"), confirm=resource_name("approvals-dlq"), actor=support, reason="x"
    )
    assert (
        result.archived
        == DeadLetter.objects.filter(queue_name=resource_name("approvals-dlq"), state="deleted").count() - 2
    )
    assert result.archived >= 3
    assert not DeadLetter.objects.filter(queue_name=resource_name("approvals-dlq"), state="present").exists()
    entry = AuditEntry.objects.get(action="dlq.purge")
    assert entry.actor == support and entry.after["archived"] == result.archived and entry.aws_request_id


def test_the_aws_message_move_task_path_against_aws_answers(local_aws, support, monkeypatch):
    """moto does not implement StartMessageMoveTask: AWS's documented answers via a Stubber."""
    queues = sqs.dead_letter_queues(refresh=True)
    steps = next(q for q in queues if q.name == resource_name("steps-dlq"))
    steps.visible = 7
    monkeypatch.setattr(sqs, "dead_letter_queues", lambda refresh=False: queues)
    stubbed = aws._client.__wrapped__("sqs", aws.settings.AWS_ENDPOINT_URL, "us-east-1")
    monkeypatch.setattr(sqs, "_sqs", lambda: stubbed)
    with Stubber(stubbed) as stub:
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "eyJ0YXNrSWQiOiJkYjE"},
            {"SourceArn": steps.arn, "MaxNumberOfMessagesPerSecond": 50},
        )
        job = move_tasks.redrive_move_task_start(queue_name=steps.name, actor=support, rate_limit=50)
        assert job.mode == "move_task" and job.status == "running" and job.total == 7
        stub.add_response("get_queue_url", {"QueueUrl": steps.url}, {"QueueName": steps.name})
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": steps.arn}},
            {"QueueUrl": steps.url, "AttributeNames": ["All"]},
        )
        stub.add_response(
            "list_message_move_tasks",
            {
                "Results": [
                    {
                        "TaskHandle": "eyJ0YXNrSWQiOiJkYjE",
                        "Status": "COMPLETED",
                        "SourceArn": steps.arn,
                        "ApproximateNumberOfMessagesMoved": 7,
                        "ApproximateNumberOfMessagesToMove": 7,
                    }
                ]
            },
            {"SourceArn": steps.arn, "MaxResults": 10},
        )
        sqs.reset_cache()
        job = move_tasks.redrive_move_task_refresh(job=job)
        stub.assert_no_pending_responses()
    assert (job.status, job.moved) == ("succeeded", 7)
    assert AuditEntry.objects.get(action="dlq.redrive", object_id=str(job.pk)).after["mode"] == "move_task"
    # A Lambda-fed DLQ is refused with the reason, before any AWS call.
    with pytest.raises(OpsError, match="only serves DLQs fed by SQS"):
        move_tasks.redrive_move_task_start(queue_name=resource_name("async-dlq"), actor=support)


def test_a_lambda_fed_dlq_is_redriven_to_a_chosen_queue(stack, support):
    """AWS's move task refuses DLQs no queue feeds; the archive path serves them."""
    dlq = resource_name("async-dlq")
    target = unique("retry")
    aws.client("sqs").create_queue(QueueName=resource_name(target))
    put_in_dlq(
        dlq,
        [json.dumps({"task_path": "orders.tasks.send_receipt", "args": [n], "kwargs": {}}) for n in range(2)],
        ErrorMessage={"DataType": "String", "StringValue": "SMTP timeout"},
    )
    rows = [r for r in archived(dlq, 2) if "send_receipt" in r.body]
    ids = [r.pk for r in rows]
    plan = jobs.redrive_plan(queue_name=dlq, mode="selected", message_ids=ids)
    assert plan.problems and "no known source queue" in plan.problems[0]
    with pytest.raises(OpsError, match="choose a target"):
        jobs.redrive_start(queue_name=dlq, mode="selected", message_ids=ids, actor=support)
    job = job_done(
        jobs.redrive_start(
            queue_name=dlq, mode="selected", message_ids=ids, target_queue=resource_name(target), actor=support
        )
    )
    assert job.moved == 2
    arrived = drain(resource_name(target))
    assert {m["MessageAttributes"]["ErrorMessage"]["StringValue"] for m in arrived} == {"SMTP timeout"}


def test_a_message_is_in_one_redrive_job_at_a_time(local_aws, support, monkeypatch):
    monkeypatch.setattr(job_queue, "enqueue", lambda *args, **kwargs: None)  # jobs stay queued
    dlq = resource_name("steps-dlq")
    for n in range(3):
        DeadLetter.objects.create(
            queue_name=dlq, message_id=f"one-job-{n}", body="{}", body_sha256="s", fingerprint="f"
        )
    first = jobs.redrive_start(queue_name=dlq, mode="all", actor=support, target_queue=resource_name("jobs"))
    assert first.total == 3
    with pytest.raises(OpsError, match="nothing to redrive"):
        jobs.redrive_start(queue_name=dlq, mode="all", actor=support, target_queue=resource_name("jobs"))
    assert jobs.redrive_cancel(job_id=first.pk, actor=support).status == "cancelled"
    second = jobs.redrive_start(queue_name=dlq, mode="all", actor=support, target_queue=resource_name("jobs"))
    assert second.total == 3 and set(DeadLetter.objects.values_list("redrive_job", flat=True)) == {second.pk}


def test_an_sns_fed_dlq_is_found_from_the_subscription_and_kept_from_the_move_task(local_aws):
    sqs_client, sns = aws.client("sqs"), aws.client("sns")
    dlq_url = sqs_client.create_queue(QueueName=resource_name("sns-fed-dlq"))["QueueUrl"]
    dlq_arn = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    endpoint_url = sqs_client.create_queue(QueueName=resource_name("sns-fed-endpoint"))["QueueUrl"]
    endpoint_arn = sqs_client.get_queue_attributes(QueueUrl=endpoint_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=resource_name("sns-fed-topic"))["TopicArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=endpoint_arn, ReturnSubscriptionArn=True)
    sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RedrivePolicy",
        AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}),
    )
    queue = next(q for q in sqs.dead_letter_queues(refresh=True) if q.name == resource_name("sns-fed-dlq"))
    assert queue.fed_by == ["sns"] and queue.sources == []
    assert queue.other_sources == [f"{resource_name('sns-fed-topic')} → {resource_name('sns-fed-endpoint')}"]
    assert not queue.move_task_supported and queue.single_source == ""


def test_a_job_that_failed_for_good_on_the_worker_function_is_archived_then_redriven_and_runs(stack, support):
    """The jobs queue's whole loop on the Lambda path: a Celery job fails for good on the
    worker function, reaches the jobs DLQ with its envelope intact, is archived and decoded,
    and a redrive sends it back to run again once the cause is fixed."""
    from django.contrib.auth.models import Group

    from console.aws import resources
    from console.platform import roles
    from orders.exports import EXPORT_PREFIX
    from orders.tasks import order_export_job
    from tests.conftest import make_user

    clerk = make_user(unique("clerk"), None)  # may not export (yet)
    key = f"{EXPORT_PREFIX}redrive-test/{unique('export')}.csv"
    order_export_job.delay(clerk.pk, "", key)

    row = wait_for(
        lambda: DeadLetter.objects.filter(
            queue_name=resource_name("jobs-dlq"), task="orders.export_to_file", summary__args__2=key
        ).first(),
        timeout=60,
        what="the failed export job in the jobs DLQ's archive",
    )
    assert row.kind == DeadLetter.Kind.CELERY and row.summary["args"] == [clerk.pk, "", key]
    assert row.error_type == "ExportRefused" and "may no longer export" in row.error

    clerk.groups.add(Group.objects.get(name=roles.OPERATOR))
    # This session's tests also feed jobs-dlq from a queue of their own: name the target.
    job = job_done(
        jobs.redrive_start(
            queue_name=resource_name("jobs-dlq"),
            mode="selected",
            message_ids=[row.pk],
            target_queue=resource_name("jobs"),
            actor=support,
        )
    )
    assert (job.status, job.moved) == ("succeeded", 1)
    written = wait_for(
        lambda: AuditEntry.objects.filter(action="order.export.written", after__key=key).first(),
        timeout=60,
        what="the redriven export to run",
    )
    stored = aws.client("s3").head_object(Bucket=resources.files_bucket(), Key=key)
    assert stored["ContentLength"] == written.after["bytes"]
    row.refresh_from_db()
    assert row.state == DeadLetter.State.REDRIVEN and row.resolved_to == resource_name("jobs")
