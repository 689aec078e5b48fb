"""The REST API for dead-letter queues and alarms: permissions, the problem shape, the schema."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from console.aws.resources import resource_name
from ops.models import Alarm, AlarmEvent, DeadLetter, RedriveJob
from tests.conftest import wait_for
from tests.ops.conftest import archived, drain, put_in_dlq

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_client_without_ops_permissions_is_refused(local_aws, api):
    assert api.get("/api/dlqs").status_code == 403
    response = api.post(f"/api/dlqs/{resource_name('steps-dlq')}/redrive", {"mode": "all"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert api.get("/api/alarms").status_code == 403


def test_support_lists_dlqs_browses_decoded_messages_and_redrives_with_a_dry_run_first(stack, support_api):
    dlq = resource_name("steps-dlq")
    token = "AAAAKgAAAAIAAAAAAAAAAsecret" + "z" * 300
    put_in_dlq(
        dlq, [json.dumps({"step": "CheckInventory", "orderId": "o-1", "taskToken": token, "executionArn": "arn:x"})]
    )
    put_in_dlq(dlq, [json.dumps({"api": n}) for n in range(3)])
    archived(dlq, 4)

    queues = {q["name"]: q for q in support_api.get("/api/dlqs?refresh=true").json()}
    assert queues[dlq]["waiting"] >= 4 and queues[dlq]["sources"] == [resource_name("steps")]
    assert queues[dlq]["moveTaskSupported"] is True and queues[dlq]["oldestAgeSeconds"] >= 0

    page = support_api.get(f"/api/dlqs/{dlq}/messages", {"task": "CheckInventory"}).json()
    (step,) = page["results"]
    assert step["kind"] == "stepfunctions" and token not in json.dumps(step) and "AAAAKg…" in step["body"]
    groups = support_api.get(f"/api/dlqs/{dlq}/groups").json()
    assert sum(g["count"] for g in groups) >= 4

    bad = support_api.get(f"/api/dlqs/{dlq}/messages", {"order": "not-a-uuid", "olderThanHours": -1}).json()
    assert bad["status"] == 400 and set(bad["errors"]) == {"order", "olderThanHours"}
    assert support_api.get("/api/dlqs/no-such-queue/messages").status_code == 404

    listed = support_api.get(f"/api/dlqs/{dlq}/messages", {"kind": "unknown", "limit": 500}).json()["results"]
    ids = [m["id"] for m in listed if '"api"' in m["body"]]
    target = resource_name("approvals")
    dry = support_api.post(
        f"/api/dlqs/{dlq}/redrive",
        {"mode": "selected", "messageIds": ids, "target": target, "dryRun": True},
        format="json",
    )
    assert dry.status_code == 200 and dry.json()["count"] == 3 and dry.json()["targets"] == {target: 3}
    assert DeadLetter.objects.filter(pk__in=ids, state="present").count() == 3  # a dry run changes nothing

    refused = support_api.post(f"/api/dlqs/{dlq}/redrive", {"mode": "all", "target": "elsewhere"}, format="json")
    assert refused.status_code == 400 and "target" in refused.json()["errors"]

    # The approvals consumer would take these; a separate target keeps the test's view clean.
    from console.aws import clients as aws

    aws.client("sqs").create_queue(QueueName=resource_name("api-target"))
    started = support_api.post(
        f"/api/dlqs/{dlq}/redrive",
        {
            "mode": "selected",
            "messageIds": ids,
            "target": resource_name("api-target"),
            "rateLimit": 100,
            "parallelism": 2,
        },
        format="json",
    )
    assert started.status_code == 202, started.content
    job_url = started["Location"]
    assert job_url.endswith(f"/api/redrives/{started.json()['id']}")
    done = wait_for(
        lambda: (body := support_api.get(job_url).json())["status"] == "succeeded" and body, what="the redrive job"
    )
    assert done["moved"] == 3 and done["percent"] == 100
    assert len(drain(resource_name("api-target"))) == 3
    again = support_api.post(f"{job_url}/resume", format="json")
    assert again.status_code == 409 and again.json()["code"] == "conflict"


def test_alarms_filter_by_state_and_history_and_mute_over_rest(local_aws, support_api, support):
    Alarm.objects.create(name="ops-console-dev-a", state="ALARM", state_reason="boom")
    Alarm.objects.create(name="ops-console-dev-b", state="OK")
    AlarmEvent.objects.create(
        alarm_name="ops-console-dev-gone", state="ALARM", occurred_at="2026-01-01T00:00:00Z", source="event"
    )
    names = [a["name"] for a in support_api.get("/api/alarms", {"state": "ALARM"}).json()]
    assert names == ["ops-console-dev-a"]
    assert support_api.get("/api/alarms", {"state": "LOUD"}).json()["errors"] == {
        "state": ['"LOUD" is not a valid choice.']
    }
    # History outlives the alarm: known events answer even without an alarm row.
    history = support_api.get("/api/alarms/ops-console-dev-gone/history").json()
    assert [e["state"] for e in history] == ["ALARM"]
    assert support_api.get("/api/alarms/never-heard-of/history").status_code == 404

    errors = resource_name("lambda-errors")
    support_api.get("/api/alarms", {"refresh": "true"})
    muted = support_api.post(f"/api/alarms/{errors}/mute", {"minutes": 15, "reason": "known issue"}, format="json")
    assert muted.status_code == 200 and muted.json()["mutedUntil"] and muted.json()["actionsEnabled"] is False
    bad = support_api.post(f"/api/alarms/{errors}/mute", {"minutes": 0}, format="json").json()
    assert set(bad["errors"]) == {"minutes", "reason"}
    assigned = support_api.post(f"/api/alarms/{errors}/assign", {"owner": support.username}, format="json").json()
    assert assigned["owner"] == support.username


def test_the_ops_endpoints_are_in_the_openapi_schema(db):
    from drf_spectacular.settings import spectacular_settings

    # The project's generator (console.api.schema), as the schema view and command use.
    schema = spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)
    paths = schema["paths"]
    for route in (
        "/api/dlqs",
        "/api/dlqs/{name}/messages",
        "/api/dlqs/{name}/redrive",
        "/api/alarms",
        "/api/alarms/{name}/history",
    ):
        assert any(p.rstrip("/") == route for p in paths), route
    redrive = next(v for p, v in paths.items() if p.rstrip("/") == "/api/dlqs/{name}/redrive")["post"]
    assert {"200", "202", "400"} <= set(redrive["responses"])
    assert reverse("dlq-list") == "/api/dlqs"


def test_redrive_jobs_unknown_or_malformed_answer_404(db, support_api):
    assert support_api.get("/api/redrives/not-a-uuid").status_code == 404
    assert support_api.get("/api/redrives/7a1bd2fc-1111-4c1e-9a55-111111111111").status_code == 404
    assert RedriveJob.objects.count() == 0


# --- Issue 14: input beyond what can exist, and AWS errors, are problems, never 500s -----------


def test_ages_and_ids_beyond_what_can_exist_are_400s_naming_the_field(local_aws, support_api):
    dlq = resource_name("steps-dlq")
    for route in ("messages", "groups"):
        for field, value in (("olderThanHours", "1e9"), ("newerThanHours", "1e18"), ("newerThanHours", "nan")):
            response = support_api.get(f"/api/dlqs/{dlq}/{route}", {field: value})
            assert response.status_code == 400 and set(response.json()["errors"]) == {field}, (route, field)
        # A century is the most: older than any message the archive can hold.
        assert support_api.get(f"/api/dlqs/{dlq}/{route}", {"olderThanHours": 876000}).status_code == 200

    too_large = 2**63  # one past the largest 64-bit archive id
    deleted = support_api.post(f"/api/dlqs/{dlq}/delete", {"messageIds": [too_large]}, format="json")
    assert deleted.status_code == 400 and set(deleted.json()["errors"]) == {"messageIds.0"}
    redrive = support_api.post(
        f"/api/dlqs/{dlq}/redrive", {"mode": "selected", "messageIds": [1, too_large]}, format="json"
    )
    assert redrive.status_code == 400 and set(redrive.json()["errors"]) == {"messageIds.1"}
    largest = support_api.post(f"/api/dlqs/{dlq}/delete", {"messageIds": [too_large - 1]}, format="json")
    assert largest.status_code == 200 and largest.json() == {"deleted": 0}
    assert support_api.post(f"/api/dlqs/{dlq}/delete", {"messageIds": []}, format="json").status_code == 400

    assert support_api.get(f"/api/dlqs/{dlq}/messages", {"limit": 501}).json()["errors"] == {
        "limit": ["A whole number from 1 to 500."]
    }
    assert support_api.get("/api/dlqs", {"refresh": "maybe"}).json()["errors"] == {
        "refresh": ["Must be a valid boolean."]
    }
    AlarmEvent.objects.create(alarm_name="ops-console-dev-x", state="OK", occurred_at=timezone.now(), source="event")
    assert support_api.get("/api/alarms/ops-console-dev-x/history", {"fill": "null"}).json()["errors"] == {
        "fill": ["Must be a valid boolean."]
    }


def _raises(exc):
    def call(**kwargs):
        raise exc

    return call


def _sqs_error(code: str, http_status: int, message: str, operation: str):
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": code, "Message": message, "Type": "Sender"},
            "ResponseMetadata": {"RequestId": "sqs-req-1", "HTTPStatusCode": http_status},
        },
        operation,
    )


def test_a_move_task_aws_refuses_or_fails_is_a_problem_with_the_aws_code(local_aws, support_api, monkeypatch):
    from ops import sqs

    dlq = resource_name("steps-dlq")

    def move_task():
        return support_api.post(f"/api/dlqs/{dlq}/redrive", {"mode": "move_task", "reason": "r"}, format="json")

    # Moto has no message move tasks: it answers 500, an AWS-side failure.
    failed = move_task()
    assert failed.status_code == 502 and failed.json()["status"] == 502 and failed.json()["code"]

    # AWS's documented refusal (one move task per queue at a time): the queue's state, a 409.
    refusal = "There is already a task running. Only one active task is allowed for a source queue arn at a time."
    monkeypatch.setattr(
        sqs,
        "start_message_move_task",
        _raises(_sqs_error("AWS.SimpleQueueService.UnsupportedOperation", 400, refusal, "StartMessageMoveTask")),
    )
    refused = move_task()
    body = refused.json()
    assert refused.status_code == 409 and body["code"] == "AWS.SimpleQueueService.UnsupportedOperation"
    assert refusal in body["errors"]["mode"][0] and body["awsRequestId"] == "sqs-req-1"

    monkeypatch.setattr(
        sqs,
        "start_message_move_task",
        _raises(_sqs_error("RequestThrottled", 400, "slow down", "StartMessageMoveTask")),
    )
    throttled = move_task()
    assert throttled.status_code == 503 and throttled["Retry-After"] and throttled.json()["code"] == "RequestThrottled"
    assert not RedriveJob.objects.exists()


def test_cancelling_a_move_task_that_sqs_has_already_ended_is_a_409(db, support_api):
    from botocore.stub import Stubber

    from console.aws import clients as aws

    job = RedriveJob.objects.create(
        queue_name=resource_name("steps-dlq"),
        target_queue="",
        mode=RedriveJob.Mode.MOVE_TASK,
        status=RedriveJob.Status.RUNNING,
        total=7,
        move_task_handle="ended-task-handle",
    )
    with Stubber(aws.client("sqs")) as stub:
        stub.add_client_error(
            "cancel_message_move_task",
            service_error_code="ResourceNotFoundException",
            service_message="The task handle is not valid or the task is not running.",
            http_status_code=400,
            expected_params={"TaskHandle": "ended-task-handle"},
        )
        stub.add_client_error("cancel_message_move_task", service_error_code="RequestThrottled", http_status_code=400)
        ended = support_api.post(f"/api/redrives/{job.pk}/cancel", format="json")
        throttled = support_api.post(f"/api/redrives/{job.pk}/cancel", format="json")
        stub.assert_no_pending_responses()

    assert ended.status_code == 409 and ended.json()["code"] == "ResourceNotFoundException"
    assert "no longer running" in ended.json()["errors"]["status"][0]
    assert throttled.status_code == 503 and throttled.json()["code"] == "RequestThrottled"
    job.refresh_from_db()
    assert job.status == RedriveJob.Status.RUNNING  # nothing changed: the next refresh tells how it ended
