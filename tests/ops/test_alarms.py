"""Alarms on the local AWS: the template's alarms (applied outside moto's CloudFormation),
state changes recorded from EventBridge events through the consumer, history that outlives
the alarm, DescribeAlarmHistory where AWS has it, mute/acknowledge/assign, audited."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from django.utils import timezone

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.models import AuditEntry
from ops import alarms, cloudwatch, handlers, selectors
from ops.errors import OpsError
from ops.models import Alarm, AlarmEvent, DeadLetter
from tests.aws_samples import aws_event
from tests.conftest import wait_for
from tests.on_lambda.events import sqs_event

ALARMS = [
    "lambda-errors",
    "lambda-throttles",
    "lambda-concurrency",
    "workflow-sweep-stopped",
    "steps-dlq-depth",
    "approvals-dlq-depth",
    "jobs-dlq-depth",
    "async-dlq-depth",
    "alarm-events-dlq-depth",
]


def state_change_event(name: str, state: str, previous: str, when: datetime, reason: str = "Threshold Crossed") -> dict:
    return {
        "Source": "aws.cloudwatch",
        "DetailType": "CloudWatch Alarm State Change",
        "Resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
        "Detail": json.dumps(
            {
                "alarmName": name,
                "state": {
                    "value": state,
                    "reason": reason,
                    "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
                },
                "previousState": {"value": previous, "reason": "before"},
                "configuration": {"description": "test"},
            }
        ),
    }


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_the_stage_has_the_seed_alarms_and_one_depth_alarm_per_dlq(local_aws):
    assert alarms.alarms_sync() >= len(ALARMS)
    names = set(Alarm.objects.values_list("name", flat=True))
    assert {resource_name(n) for n in ALARMS} <= names
    errors = Alarm.objects.get(name=resource_name("lambda-errors"))
    assert (errors.namespace, errors.metric_name, errors.threshold, errors.period) == ("AWS/Lambda", "Errors", 5.0, 300)
    assert errors.dimensions == {"FunctionName": "ops-console-dev"}
    depth = Alarm.objects.get(name=resource_name("jobs-dlq-depth"))
    assert depth.dimensions == {"QueueName": resource_name("jobs-dlq")}
    assert selectors.alarm_dead_letter_queue(depth) == resource_name("jobs-dlq")


@pytest.mark.django_db
def test_a_sync_never_turns_back_a_newer_state_change_from_an_event(local_aws):
    name = resource_name("jobs-dlq-depth")
    alarms.alarms_sync()
    detail = json.loads(state_change_event(name, "ALARM", "OK", datetime.now(UTC))["Detail"])
    alarms.alarm_state_change_record(event={"detail-type": "CloudWatch Alarm State Change", "detail": detail})

    alarms.alarms_sync()  # DescribeAlarms still answers OK, as of before the event

    alarm = Alarm.objects.get(name=name)
    assert (alarm.state, alarm.state_reason) == ("ALARM", "Threshold Crossed")
    # A change AWS reports later than the event is taken.
    aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="OK", StateReason="Back to normal")
    alarms.alarms_sync()
    alarm.refresh_from_db()
    assert (alarm.state, alarm.state_reason) == ("OK", "Back to normal")


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_state_changes_from_eventbridge_are_recorded_and_outlive_a_deleted_alarm(stack, support):
    name = resource_name("jobs-dlq-depth")
    alarms.alarms_sync()
    DeadLetter.objects.create(
        queue_name=resource_name("jobs-dlq"),
        message_id="m1",
        body="{}",
        body_sha256="x",
        fingerprint="f",
        order_id="3f1c9a52-6a7e-4c1e-9a55-111111111111",
    )
    went_off = datetime.now(UTC)
    events = aws.client("events")
    events.put_events(Entries=[state_change_event(name, "ALARM", "OK", went_off)])
    recorded = wait_for(lambda: AlarmEvent.objects.filter(alarm_name=name, state="ALARM").first(), what="the event")
    assert recorded.previous_state == "OK" and recorded.source == "event"
    alarm = Alarm.objects.get(name=name)
    assert alarm.state == "ALARM" and alarm.state_reason == "Threshold Crossed"
    # What is behind it: its DLQ and the orders of the messages waiting there.
    assert [str(o) for o in selectors.alarm_affected_orders(alarm)] == ["3f1c9a52-6a7e-4c1e-9a55-111111111111"]

    # The same event delivered twice is one history entry.
    alarms.alarm_state_change_record(
        event={
            **json.loads(json.dumps({"detail-type": "CloudWatch Alarm State Change"})),
            "detail": json.loads(state_change_event(name, "ALARM", "OK", went_off)["Detail"]),
        }
    )
    assert AlarmEvent.objects.filter(alarm_name=name, state="ALARM").count() == 1

    aws.client("cloudwatch").delete_alarms(AlarmNames=[name])
    alarms.alarms_sync()
    alarm.refresh_from_db()
    assert alarm.exists is False
    assert [e.state for e in selectors.alarm_history(name=name)] == ["ALARM"]


@pytest.mark.django_db
def test_an_alarm_lambda_action_payload_is_recorded_like_an_event():
    payload = aws_event("cloudwatch-alarm-lambda-action.json")
    assert handlers.alarm_action(payload) == {"recorded": True}
    event = AlarmEvent.objects.get(alarm_name="Test alert")
    assert (event.state, event.previous_state, event.source) == ("ALARM", "OK", "action")
    assert event.occurred_at == datetime(2024, 2, 17, 11, 53, 8, 431000, tzinfo=UTC)
    assert event.reason_data["threshold"] == 10.0
    alarm = Alarm.objects.get(name="Test alert")
    assert (alarm.namespace, alarm.metric_name) == ("AWS/Lambda", "Invocations")
    assert alarm.description == "This is description **here**"
    # An older change arriving late is history, not the current state.
    older = copy.deepcopy(payload)
    older["alarmData"]["state"] = {"value": "OK", "reason": "fine", "timestamp": "2024-02-17T11:00:00.000+0000"}
    handlers.alarm_action(older)
    alarm.refresh_from_db()
    assert alarm.state == "ALARM" and AlarmEvent.objects.filter(alarm_name="Test alert").count() == 2
    assert handlers.alarm_action({"source": "aws.s3"}) == {"recorded": False}


@pytest.mark.django_db
def test_alarm_events_that_cannot_be_recorded_are_reported_alone_and_the_rest_recorded():
    change = state_change_event("orders-dlq-depth", "ALARM", "OK", datetime.now(UTC))
    delivered = {
        "detail-type": change["DetailType"],
        "resources": change["Resources"],
        "detail": json.loads(change["Detail"]),
    }
    broken = {"detail-type": "CloudWatch Alarm State Change", "detail": "not an object"}
    event = sqs_event(
        "arn:aws:sqs:us-east-1:123456789012:ops-console-dev-alarm-events",
        [json.dumps(delivered), "not json", json.dumps(broken)],
    )
    good, *bad = event["Records"]

    result = handlers.alarm_state_changes(event)

    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in bad]}
    assert Alarm.objects.get(name="orders-dlq-depth").state == "ALARM"
    # The good message again (SQS delivers at least once), with a bad one: recorded once.
    again = {"Records": [good, bad[0]]}
    assert handlers.alarm_state_changes(again) == {"batchItemFailures": [{"itemIdentifier": bad[0]["messageId"]}]}
    assert AlarmEvent.objects.filter(alarm_name="orders-dlq-depth").count() == 1


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_describe_alarm_history_fills_gaps_where_aws_has_it(local_aws, monkeypatch):
    name = resource_name("lambda-throttles")
    alarms.alarms_sync()
    # moto has no DescribeAlarmHistory (it answers 500): nothing is added, nothing breaks.
    assert alarms.alarm_history_fill(name=name) == 0

    client = aws._client.__wrapped__("cloudwatch", aws.settings.AWS_ENDPOINT_URL, "us-east-1")
    monkeypatch.setattr(cloudwatch, "_cloudwatch", lambda: client)
    went_off = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    history = {
        "AlarmHistoryItems": [
            {
                "AlarmName": name,
                "Timestamp": went_off,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": "Alarm updated from OK to ALARM",
                "HistoryData": json.dumps(
                    {
                        "version": "1.0",
                        "oldState": {"stateValue": "OK", "stateReason": "fine"},
                        "newState": {"stateValue": "ALARM", "stateReason": "Threshold Crossed: 3 throttles"},
                    }
                ),
            }
        ]
    }
    with Stubber(client) as stub:
        stub.add_response("describe_alarm_history", history, {"AlarmName": name, "HistoryItemType": "StateUpdate"})
        assert alarms.alarm_history_fill(name=name) == 1
        stub.add_response("describe_alarm_history", history, {"AlarmName": name, "HistoryItemType": "StateUpdate"})
        assert alarms.alarm_history_fill(name=name) == 0  # already known
    event = AlarmEvent.objects.get(alarm_name=name, occurred_at=went_off)
    assert (event.state, event.previous_state, event.source) == ("ALARM", "OK", "history")


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_mute_acknowledge_and_assign_are_audited_and_a_mute_ends_by_itself(local_aws, support, operator):
    name = resource_name("lambda-errors")
    alarms.alarms_sync()
    with pytest.raises(OpsError, match="reason"):
        alarms.alarm_mute(name=name, minutes=30, reason=" ", actor=support)
    alarms.alarm_mute(name=name, minutes=30, reason="deploying a fix", actor=support)
    described = aws.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert described["ActionsEnabled"] is False
    mute = AuditEntry.objects.get(action="alarm.mute")
    assert mute.actor == support and mute.reason == "deploying a fix" and mute.after["minutes"] == 30

    Alarm.objects.filter(name=name).update(muted_until=timezone.now() - timedelta(seconds=1))
    assert alarms.alarms_unmute_expired() == 1
    assert aws.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["ActionsEnabled"] is True
    assert AuditEntry.objects.filter(action="alarm.unmute", reason="Mute period ended").exists()

    with pytest.raises(OpsError, match="Only an alarm in ALARM"):
        alarms.alarm_acknowledge(name=name, actor=support)
    aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors")
    alarms.alarms_sync()
    alarms.alarm_acknowledge(name=name, actor=support, note="looking")
    alarms.alarm_assign(name=name, owner=operator, actor=support)
    alarm = Alarm.objects.get(name=name)
    assert alarm.acknowledged_by == support and alarm.owner == operator
    assert AuditEntry.objects.get(action="alarm.assign").after == {"owner": operator.username}
    # A new state episode needs a new acknowledgement.
    aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="OK", StateReason="recovered")
    alarms.alarms_sync()
    alarm.refresh_from_db()
    assert alarm.state == "OK" and alarm.acknowledged_by is None and alarm.owner == operator
    assert AlarmEvent.objects.filter(alarm_name=name, state="OK").exists()
