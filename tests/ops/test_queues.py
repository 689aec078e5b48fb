"""Every queue of the stage on the local AWS: depth, in flight, delayed, the oldest
message's age, its consumer (the event source mappings the local consumer registers, as
Zappa does on deploy) and its DLQ; pausing and resuming a consumer through the console and
the API, audited; and a paused queue the local consumer leaves alone until resumed."""

import io
import json
import time
import uuid
import zipfile
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from django.contrib.auth.models import Permission
from django.core.cache import cache

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.models import AuditEntry
from ops import event_sources, queues
from ops.errors import AwsRefused, OpsError
from ops.models import AlarmEvent
from tests.conftest import ARTIFACTS, csrf_post, log_name, make_user, wait_for
from tests.ops.test_alarms import state_change_event

PAGE = "/ops/queue/"
ROLE = "ops-console-dev-function"


def make_queue(suffix: str, **attributes: str) -> tuple[str, str, str]:
    """A queue of the stage (name, url, arn) made for one test."""
    sqs = aws.client("sqs")
    name = resource_name(f"qt-{uuid.uuid4().hex[:8]}-{suffix}")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return name, url, arn


def make_function(name: str) -> str:
    """A Lambda function in the local AWS (its code never runs: nothing runs Lambda here)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=f"arn:aws:iam::123456789012:role/{ROLE}",
        Handler="handler.handler",
        Code={"ZipFile": buffer.getvalue()},
    )["FunctionArn"]


def consumed_queue(suffix: str = "src") -> tuple[str, str, str]:
    """A queue with a DLQ (after 3 receives) and an enabled mapping to a function of the stage."""
    dlq, _, dlq_arn = make_queue(f"{suffix}-dlq")
    name, url, arn = make_queue(
        suffix, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    )
    function = make_function(resource_name(f"qt-fn-{uuid.uuid4().hex[:8]}"))
    aws.client("lambda").create_event_source_mapping(FunctionName=function, EventSourceArn=arn, BatchSize=5)
    return name, url, dlq


def row_of(name: str) -> dict:
    return next(row for row in queues.stage_queue_overview().rows if row["name"] == name)


def mapping_states(name: str) -> set[str]:
    return {consumer["state"] for consumer in row_of(name)["consumers"]}


@pytest.fixture(autouse=True)
def _fresh_queue_ages():
    """The page reads the ages of oldest messages once a minute (a cache): each test its own."""
    cache.clear()
    yield


@pytest.fixture
def viewer(db):
    """Sees the queues, may not pause them."""
    user = make_user("vic-viewer", None)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="ops", codename="view_queue"))
    return user


# --- The list ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_queue_shows_waiting_in_flight_delayed_oldest_consumer_and_dlq(local_aws, support, console_client):
    name, url, dlq = consumed_queue()
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="waits")
    sqs.send_message(QueueUrl=url, MessageBody="received")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]) == 1
    # What SQS publishes every minute on AWS (locally the stack's sampler does).
    aws.client("cloudwatch").put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": name}],
                "Value": 125.0,
                "Unit": "Seconds",
                "Timestamp": datetime.now(UTC),
            }
        ],
    )

    row = row_of(name)
    assert (row["messages"], row["inFlight"], row["delayed"]) == (1, 1, 1)
    assert row["oldestAgeSeconds"] == 125
    assert (row["deadLetterQueue"], row["maxReceiveCount"], row["isDeadLetterQueue"]) == (dlq, 3, False)
    [consumer] = row["consumers"]
    assert consumer["function"].startswith(resource_name("qt-fn-")) and consumer["state"] == "Enabled"
    assert consumer["batchSize"] == 5 and row["paused"] is False
    dlq_row = row_of(dlq)
    # The empty DLQ: no datapoint yet, or the local AWS's sampler's 0 (as SQS publishes for an
    # empty queue) when it has sampled since the stack started.
    assert dlq_row["isDeadLetterQueue"] is True and dlq_row["oldestAgeSeconds"] in (None, 0)
    # Queues routed in zappa_settings.json name their handler.
    steps = row_of(resource_name("steps"))
    assert {"function": "ops-console-dev", "handler": "workflows.handlers.step_tasks"}.items() <= steps["consumers"][
        0
    ].items()
    assert steps["deadLetterQueue"] == resource_name("steps-dlq")

    console_client.force_login(support)
    page = console_client.get(PAGE).content.decode()
    assert f'id="queue-{name}"' in page and "2\xa0minutes" in page
    assert f"?queue_name={dlq}" in page  # the DLQ links to its dead letters
    assert "—" in page  # no datapoint yet: no age, not zero
    assert "workflows.handlers.step_tasks" in page and f"Pause {name}" in page


def test_moto_leaves_messages_of_a_mapped_queue_to_the_local_consumer(local_aws):
    """moto's SQS would receive a new message itself for an enabled mapping (and, without
    Docker to run the function, put it back with a receive spent): the local AWS stores
    mappings without attaching them to their queue."""
    name, url, _ = consumed_queue("moto")
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="for the consumer")
    [message] = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"


# --- Pause and resume ---------------------------------------------------------------------


@pytest.mark.django_db
def test_support_pauses_and_resumes_a_queue_with_a_reason_audited(local_aws, support, console_client):
    name, _, _ = consumed_queue()
    console_client.force_login(support)

    # No reason: refused, the page again with the error, nothing changed.
    refused = csrf_post(console_client, PAGE, "/ops/queue/pause/", {"queue": name, "reason": "  "})
    assert refused.status_code == 400 and "Say why" in refused.content.decode()
    assert mapping_states(name) == {"Enabled"} and not AuditEntry.objects.filter(object_id=name).exists()

    response = csrf_post(console_client, PAGE, "/ops/queue/pause/", {"queue": name, "reason": "deploying the fix"})
    assert response.status_code == 302
    assert mapping_states(name) == {"Disabled"} and row_of(name)["paused"] is True
    entry = AuditEntry.objects.get(object_type="ops.queue", object_id=name, action="queue.pause")
    assert (entry.actor, entry.reason, entry.source) == (support, "deploying the fix", AuditEntry.Source.CONSOLE)
    assert set(entry.before["mappings"].values()) == {"Enabled"} and set(entry.after["mappings"].values()) == {
        "Disabled"
    }
    page = console_client.get(PAGE).content.decode()
    assert 'class="state-paused">Paused<' in page and "Paused by sue-support" in page and "deploying the fix" in page
    assert f"Resume {name}" in page

    # Twice: nothing to do, said so.
    with pytest.raises(queues.QueueConsumerUnchanged):
        queues.queue_pause(queue_name=name, actor=support, reason="again")

    response = csrf_post(console_client, PAGE, "/ops/queue/resume/", {"queue": name, "reason": "fix deployed"})
    assert response.status_code == 302 and mapping_states(name) == {"Enabled"}
    assert AuditEntry.objects.filter(object_id=name, action="queue.resume", reason="fix deployed").count() == 1


@pytest.mark.django_db
def test_a_viewer_sees_the_queues_but_cannot_pause_and_a_post_needs_csrf(
    local_aws, viewer, support, operator, console_client
):
    name, _, _ = consumed_queue()
    console_client.force_login(viewer)
    page = console_client.get(PAGE)
    assert page.status_code == 200 and f'id="queue-{name}"' in page.content.decode()
    assert "Pause…" not in page.content.decode()
    token = console_client.cookies["csrftoken"].value if "csrftoken" in console_client.cookies else ""
    refused = console_client.post("/ops/queue/pause/", {"queue": name, "reason": "x", "csrfmiddlewaretoken": token})
    assert refused.status_code == 403

    console_client.force_login(operator)
    assert console_client.get(PAGE).status_code == 403

    # Without the CSRF token even support staff are refused.
    console_client.force_login(support)
    assert console_client.post("/ops/queue/pause/", {"queue": name, "reason": "no token"}).status_code == 403
    assert mapping_states(name) == {"Enabled"} and not AuditEntry.objects.filter(object_id=name).exists()


@pytest.mark.django_db
def test_what_cannot_be_paused_is_refused_plainly(local_aws, support):
    with pytest.raises(queues.UnknownQueue):
        queues.queue_pause(queue_name=resource_name("no-such-queue"), actor=support, reason="x")
    unconsumed, _, _ = make_queue("idle")
    with pytest.raises(OpsError, match="nothing to pause"):
        queues.queue_pause(queue_name=unconsumed, actor=support, reason="x")


@pytest.mark.django_db
def test_lambda_refusing_the_change_is_reported_and_nothing_is_audited(local_aws, support):
    """AWS answers ResourceInUseException while a mapping is still changing (the local AWS
    changes it at once): the operator is told, the audit log records nothing done."""
    name, _, _ = consumed_queue()
    [mapping] = queues.queue_mappings(name)
    client = aws.client("lambda")
    with Stubber(client) as stub:
        stub.add_response(
            "list_event_source_mappings",
            {
                "EventSourceMappings": [
                    {
                        "UUID": mapping.uuid,
                        "FunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{mapping.function}",
                        "EventSourceArn": mapping.queue_arn,
                        "State": "Enabled",
                        "BatchSize": 5,
                    }
                ]
            },
        )
        stub.add_client_error(
            "update_event_source_mapping",
            service_error_code="ResourceInUseException",
            service_message="The operation cannot be performed at this time.",
            http_status_code=400,
            expected_params={"UUID": mapping.uuid, "Enabled": False},
        )
        with pytest.raises(AwsRefused) as refused:
            queues.queue_pause(queue_name=name, actor=support, reason="deploying")
    assert refused.value.code == "ResourceInUseException"
    assert not AuditEntry.objects.filter(object_id=name).exists()


def test_mappings_of_functions_outside_the_stage_are_not_the_stage_consumers(local_aws):
    _, _, arn = make_queue("other")
    aws.client("lambda").create_event_source_mapping(
        FunctionName=make_function(f"someone-else-{uuid.uuid4().hex[:6]}"), EventSourceArn=arn
    )
    assert event_sources.queue_mappings(arn) == []


# --- The API ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_lists_queues_and_pauses_with_a_reason(local_aws, support, support_api, api):
    name, _, dlq = consumed_queue()
    listed = support_api.get("/api/queues")
    assert listed.status_code == 200
    row = next(row for row in listed.json() if row["name"] == name)
    assert row["deadLetterQueue"] == dlq and row["consumers"][0]["state"] == "Enabled"

    missing_reason = support_api.post(f"/api/queues/{name}/pause", {}, format="json")
    assert missing_reason.status_code == 400 and "reason" in missing_reason.json()["errors"]
    paused = support_api.post(f"/api/queues/{name}/pause", {"reason": "incident 42"}, format="json")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert paused.json()["lastConsumerChange"]["reason"] == "incident 42"
    assert AuditEntry.objects.get(object_id=name, action="queue.pause").source == AuditEntry.Source.API
    again = support_api.post(f"/api/queues/{name}/pause", {"reason": "incident 42"}, format="json")
    assert again.status_code == 409
    assert (
        support_api.post(f"/api/queues/{resource_name('nope')}/pause", {"reason": "x"}, format="json").status_code
        == 404
    )
    resumed = support_api.post(f"/api/queues/{name}/resume", {"reason": "over"}, format="json")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    # An API client (no ops permissions) may do neither.
    assert api.get("/api/queues").status_code == 403
    assert api.post(f"/api/queues/{name}/pause", {"reason": "x"}, format="json").status_code == 403


# --- With the local consumer -------------------------------------------------------------------


def consumer_log() -> str:
    return (ARTIFACTS / log_name("consumer")).read_text()


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_paused_queue_is_not_consumed_until_resumed(stack, support):
    """The local consumer registered the stage's mappings (as Zappa does) and polls only
    the enabled ones: the alarm events queue, paused, keeps a new event; resumed, the
    event is recorded."""
    name = resource_name("alarm-events")
    row = row_of(name)
    assert [(c["function"], c["handler"], c["state"]) for c in row["consumers"]] == [
        ("ops-console-dev", "ops.handlers.alarm_state_changes", "Enabled")
    ]
    alarm = resource_name(f"paused-{uuid.uuid4().hex[:6]}")
    queues.queue_pause(queue_name=name, actor=support, reason="testing a pause")
    try:
        wait_for(
            lambda: f"event source mapping {name} -> ops-console-dev: Disabled" in consumer_log(),
            what="the consumer to see the pause",
        )
        time.sleep(2.5)  # a long poll started before the pause has ended
        aws.client("events").put_events(Entries=[state_change_event(alarm, "ALARM", "OK", datetime.now(UTC))])
        wait_for(lambda: row_of(name)["messages"] == 1, what="the event in the paused queue")
        time.sleep(5)  # more than two refreshes and long polls of the consumer
        assert row_of(name)["messages"] == 1 and not AlarmEvent.objects.filter(alarm_name=alarm).exists()
    finally:
        queues.queue_resume(queue_name=name, actor=support, reason="test over")
    wait_for(lambda: AlarmEvent.objects.filter(alarm_name=alarm).exists(), what="the event consumed after resuming")
    assert row_of(name)["messages"] == 0
