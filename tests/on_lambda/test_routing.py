"""Every kind of event the function receives, through Zappa's handler as Lambda calls it.

The routing table is zappa_settings.json, turned into the module Zappa packs by Zappa's
own code (see conftest). HTTP events are served by Django on the test database.
"""

import json
import uuid

import pytest
from botocore.stub import Stubber
from knox.models import AuthToken

from console.platform import observability
from console.runtime.lambda_handler import UnroutedEvent
from orders.lifecycle import OrderStatus
from tests.factories import OrderFactory
from tests.on_lambda import events, targets
from workflows.models import Approval

STEPS_ARN = "arn:aws:sqs:us-east-1:123456789012:ops-console-dev-steps"
APPROVALS_ARN = "arn:aws:sqs:us-east-1:123456789012:ops-console-dev-approvals"
EXECUTIONS = "arn:aws:states:us-east-1:123456789012:execution:ops-console-dev-order-processing"

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(api_user) -> dict[str, str]:
    return {"Authorization": f"Bearer {AuthToken.objects.create(user=api_user)[1]}"}


@pytest.fixture(autouse=True)
def clear_targets():
    targets.received.clear()


def approval_message(order, token: str = "") -> str:
    return json.dumps(
        {
            "step": "RequestApproval",
            "orderId": str(order.pk),
            "total": float(order.total),
            "taskToken": token or f"token-{uuid.uuid4()}",
            "executionArn": f"{EXECUTIONS}:order-{order.pk}",
            "stateName": "RequestApproval",
            "enteredTime": "2026-01-01T10:00:00Z",
            "timeoutSeconds": 3600,
        }
    )


# --- HTTP ----------------------------------------------------------------------------------


def test_a_rest_api_request_is_served_by_django(zappa_handler, lambda_hosts, bearer, api_user):
    order = OrderFactory(created_by=api_user)
    context_request_id = "lambda-request-1"

    class Context:
        aws_request_id = context_request_id
        function_name = "ops-console-dev"

        def get_remaining_time_in_millis(self):
            return 30_000

    response = zappa_handler(events.rest_api_event("GET", "/api/orders", headers=bearer), Context())

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert [item["orderId"] for item in body["results"]] == [str(order.pk)]
    # The Lambda context reaches Django: its request id is the request's id.
    assert response["headers"]["X-Request-ID"] == context_request_id
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]


def test_a_rest_api_request_without_a_token_gets_the_problem_answer(zappa_handler, lambda_hosts):
    response = zappa_handler(events.rest_api_event("GET", "/api/orders"))

    assert response["statusCode"] == 401
    assert json.loads(response["body"])["status"] == 401


def test_an_http_api_request_is_served_by_django(zappa_handler, lambda_hosts, bearer, api_user):
    order = OrderFactory(created_by=api_user)

    response = zappa_handler(events.http_api_event("GET", f"/api/orders/{order.pk}", headers=bearer))

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["orderId"] == str(order.pk)


def test_a_function_url_request_creates_an_order(zappa_handler, lambda_hosts, bearer):
    body = json.dumps({"userId": "u-1", "items": [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 5}]})

    headers = {**bearer, "Content-Type": "application/json"}

    response = zappa_handler(events.function_url_event("POST", "/api/orders", headers=headers, body=body))

    assert response["statusCode"] == 201, response["body"]
    assert json.loads(response["body"])["total"] == 10


def test_a_host_the_stage_does_not_serve_is_refused(zappa_handler, lambda_hosts, bearer):
    event = events.rest_api_event("GET", "/api/orders", headers={**bearer, "Host": "evil.example.com"})

    assert zappa_handler(event)["statusCode"] == 400


# --- SQS ----------------------------------------------------------------------------------


def test_an_sqs_batch_reports_only_its_bad_messages_as_failed(zappa_handler):
    order = OrderFactory(status=OrderStatus.VALIDATED)
    event = events.sqs_event(APPROVALS_ARN, [approval_message(order), "Test message.", '{"message": "foo1"}'])
    good, *bad = event["Records"]

    result = zappa_handler(event)

    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in bad]}
    assert Approval.objects.get(order=order).status == Approval.Status.PENDING
    assert observability.recorded_metrics()["FailedMessages"] >= 2


def test_the_real_sqs_sample_on_the_steps_queue_is_failed_not_acknowledged(zappa_handler):
    event = events.sqs_event(STEPS_ARN)

    result = zappa_handler(event)

    assert sorted(item["itemIdentifier"] for item in result["batchItemFailures"]) == sorted(
        record["messageId"] for record in event["Records"]
    )


def test_an_sqs_batch_from_a_queue_no_function_handles_fails_loudly(zappa_handler):
    event = events.sqs_event("arn:aws:sqs:us-east-2:123456789012:my-queue")  # the sample's own queue
    errors = observability.recorded_metrics()["Errors"]

    with pytest.raises(UnroutedEvent, match="my-queue"):
        zappa_handler(event)

    assert observability.recorded_metrics()["Errors"] == errors + 1
    # What Zappa alone does with it: None, which Lambda would count as success.
    assert zappa_handler.zappas(event, None) is None


# --- S3 -------------------------------------------------------------------------------------


def test_an_s3_event_no_function_handles_fails_loudly(zappa_handler):
    with pytest.raises(UnroutedEvent, match="lambda-artifacts-deafc19498e3f2df"):
        zappa_handler(events.s3_event())


def test_an_s3_event_goes_to_the_function_mapped_to_its_bucket(zappa_handler_factory):
    bucket = "ops-console-dev-files-123456789012"
    handler = zappa_handler_factory(
        [
            {
                "function": "tests.on_lambda.targets.record_event",
                "event_source": {"arn": f"arn:aws:s3:::{bucket}", "events": ["s3:ObjectCreated:*"]},
            }
        ]
    )
    event = events.s3_event(bucket, key="incoming/orders.csv")

    assert handler(event) == {"handled": 1}
    assert targets.received == [("event", event)]


# --- Events Zappa has no route for -------------------------------------------------------------


def test_an_alarm_lambda_action_is_recorded_through_zappa(zappa_handler):
    from ops.models import AlarmEvent

    result = zappa_handler(events.sample("cloudwatch-alarm-lambda-action.json"))

    assert result == {"recorded": True}
    assert AlarmEvent.objects.get(alarm_name="Test alert").state == "ALARM"


def test_an_event_of_an_unknown_kind_fails_loudly(zappa_handler):
    event = {"source": "aws.codecommit", "detail": {}}

    with pytest.raises(UnroutedEvent, match="No route"):
        zappa_handler(event)
    assert zappa_handler.zappas(event, None) is None  # Zappa alone: dropped


# --- Schedules, commands, tasks ---------------------------------------------------------------


def test_a_schedule_runs_its_function(zappa_handler):
    rule = zappa_handler.rule_name("workflows.handlers.start_missing_executions")

    result = zappa_handler(events.schedule_event(rule))

    assert result == {"started": 0}


def test_a_schedule_with_arguments_reaches_its_function(zappa_handler_factory):
    target = "tests.on_lambda.targets.record_event"
    handler = zappa_handler_factory([{"function": target, "expression": "rate(1 hour)"}])
    event = events.schedule_event(handler.rule_name(target), kwargs={"window": 3600})

    handler(event)

    assert targets.received == [("event", event)]


def test_a_direct_command_calls_its_function(zappa_handler):
    result = zappa_handler({"command": "workflows.handlers.start_missing_executions"})

    assert result == {"started": 0}


def test_a_management_command_runs(zappa_handler, capsys):
    assert zappa_handler({"manage": "check --tag models"}) == {}
    assert "no issues" in capsys.readouterr().out


def test_a_zappa_async_task_is_dispatched_and_run(zappa_handler, monkeypatch):
    """The sending side is Zappa's own (``zappa.asynchronous.run`` inside Lambda), up to the
    Lambda Invoke call, answered by botocore's Stubber; the payload it sent is then the
    event of the invocation that runs the task."""
    from zappa import asynchronous

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ops-console-dev")

    class Payload:
        def __eq__(self, other):
            self.sent = other
            return True

    payload = Payload()
    with Stubber(asynchronous.LAMBDA_CLIENT) as stubber:
        stubber.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "ops-console-dev", "InvocationType": "Event", "Payload": payload},
        )
        response = asynchronous.run(targets.remember, args=["order-1"], kwargs={"priority": 2})
        stubber.assert_no_pending_responses()
    assert response.sent

    result = zappa_handler(json.loads(payload.sent))

    assert result == {"args": ["order-1"], "kwargs": {"priority": 2}}
    assert targets.received == [("task", {"args": ["order-1"], "kwargs": {"priority": 2}})]


# --- The routing table itself ----------------------------------------------------------------


def test_every_routed_function_exists_and_takes_an_event(zappa_handler):
    import inspect

    from console.devtools.local_consumer import import_function

    mapping = zappa_handler.settings_module.AWS_EVENT_MAPPING
    assert mapping, "no event sources are routed"
    for source, functions in mapping.items():
        for dotted in functions:
            parameters = inspect.signature(import_function(dotted)).parameters
            assert len(parameters) >= 1, f"{dotted} (for {source}) cannot take the event"


@pytest.mark.django_db(transaction=True)
def test_an_invocation_closes_connections_past_their_age(zappa_handler):
    """Django does it around HTTP requests; the entry point around every event."""
    from django.db import connection

    age = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 0
    try:
        connection.ensure_connection()

        zappa_handler({"command": "workflows.handlers.start_missing_executions"})

        assert connection.connection is None
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = age


# --- The WebSocket API ---------------------------------------------------------------------


def websocket_event(kind: str, route: str, connection_id: str, **extra) -> dict:
    """An API Gateway WebSocket API event, in the shape AWS documents for a Lambda proxy
    integration (requestContext with eventType and routeKey)."""
    return {
        "requestContext": {
            "routeKey": route,
            "eventType": kind,
            "messageDirection": "IN",
            "stage": "dev",
            "connectedAt": 1767225600000,
            "requestTimeEpoch": 1767225600000,
            "requestId": "Ab1CdEFGoAMFT1g=",
            "identity": {"sourceIp": "192.0.2.1"},
            "domainName": "ws0123abcd.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection_id,
            "apiId": "ws0123abcd",
        },
        "isBase64Encoded": False,
        **extra,
    }


def test_websocket_events_go_to_the_realtime_function_before_zappa(zappa_handler, api_user):
    from realtime.models import Connection

    token = AuthToken.objects.create(user=api_user)[1]
    connect = websocket_event("CONNECT", "$connect", "c1=", headers={"Authorization": f"Bearer {token}"})

    assert zappa_handler(connect) == {"statusCode": 200}
    connection = Connection.objects.get(connection_id="c1=")
    assert connection.user == api_user
    assert connection.endpoint == "https://ws0123abcd.execute-api.us-east-1.amazonaws.com/dev"

    subscribe = websocket_event(
        "MESSAGE", "$default", "c1=", body=json.dumps({"action": "subscribe", "orders": "mine"})
    )
    assert json.loads(zappa_handler(subscribe)["body"]) == {"type": "subscribed", "orders": "mine"}

    assert zappa_handler(websocket_event("DISCONNECT", "$disconnect", "c1=", headers={})) == {"statusCode": 200}
    assert not Connection.objects.exists()
    refused = zappa_handler(websocket_event("CONNECT", "$connect", "c2=", queryStringParameters={"token": "nope"}))
    assert refused["statusCode"] == 401
