"""The WebSocket API on the local stack, with a real WebSocket client: the dev stack's
gateway turns frames into API Gateway's events for realtime.handlers.websocket_event, order
events reach realtime.handlers.order_status_pushes through SNS and the realtime-pushes
queue (the consumer plays Lambda), and pushes go back through the gateway's @connections."""

import json
import time

import pytest
from knox.models import AuthToken
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from console.platform import roles
from orders import services
from orders.lifecycle import OrderStatus
from realtime.models import Connection
from tests.conftest import make_user, wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

ITEMS = [{"product_id": "p1", "name": "Widget", "quantity": 1, "price": 10}]


@pytest.fixture(autouse=True)
def publish_on_commit(settings):
    """As deployed: a request publishes its events right after its commit (the tests' settings
    leave that to the relay)."""
    settings.ORDER_EVENTS_PUBLISH_ON_COMMIT = True


def token_for(user) -> str:
    return AuthToken.objects.create(user=user)[1]


def frames(ws, until, timeout: float = 30.0) -> list[dict]:
    """Messages received until ``until(received)`` holds (or the timeout passes)."""
    received: list[dict] = []
    deadline = time.monotonic() + timeout
    while not until(received) and time.monotonic() < deadline:
        try:
            received.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
        except TimeoutError:
            break
    return received


def changes_of(received: list[dict], order) -> list[str]:
    return [m["eventType"] for m in received if m.get("type") == "orderStatusChanged" and m["orderId"] == str(order.pk)]


def new_order(user):
    return services.order_create(user_id="customer-1", items=ITEMS, created_by=user, start_workflow=False)


@pytest.fixture
def other_api_user(db):
    return make_user("other-backend", roles.API_CLIENT, staff=False)


def test_a_client_hears_its_own_orders_changes_and_not_anothers(websocket_gateway, api_user, other_api_user):
    with (
        connect(f"{websocket_gateway}/?token={token_for(api_user)}") as mine,
        connect(
            websocket_gateway, additional_headers={"Authorization": f"Bearer {token_for(other_api_user)}"}
        ) as theirs,
    ):
        wait_for(lambda: Connection.objects.count() == 2, what="both connections recorded")
        own, other = new_order(api_user), new_order(other_api_user)
        services.order_transition(order_id=own.pk, to_status=OrderStatus.VALIDATED)

        heard = frames(mine, lambda r: "OrderValidated" in changes_of(r, own))
        # SNS keeps no order: a client orders an order's events by version.
        assert sorted(changes_of(heard, own)) == ["OrderCreated", "OrderValidated"]
        validated = next(m for m in heard if m["eventType"] == "OrderValidated")
        assert validated["status"] == "VALIDATED" and validated["previousStatus"] == "CREATED"
        heard_by_them = frames(theirs, lambda r: "OrderCreated" in changes_of(r, other))
        assert changes_of(heard_by_them, other) == ["OrderCreated"]
        # Nothing of the other's orders, either way (their OrderCreated came after ours).
        assert changes_of(heard_by_them, own) == []
        assert changes_of(heard + frames(mine, lambda r: False, timeout=1), other) == []


def test_a_bad_or_missing_token_is_refused(websocket_gateway):
    for address in (f"{websocket_gateway}/?token=not-a-token", websocket_gateway):
        with pytest.raises(InvalidStatus) as refused:
            connect(address)
        assert refused.value.response.status_code == 401
    assert not Connection.objects.exists()


def test_a_client_without_order_permission_is_refused(websocket_gateway, db):
    nobody = make_user("no-role", None, staff=False)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{websocket_gateway}/?token={token_for(nobody)}")
    assert refused.value.response.status_code == 403


def test_disconnecting_forgets_the_connection(websocket_gateway, api_user):
    with connect(f"{websocket_gateway}/?token={token_for(api_user)}"):
        wait_for(lambda: Connection.objects.filter(user=api_user).exists(), what="the connection recorded")
    wait_for(lambda: not Connection.objects.exists(), what="the connection forgotten")


def test_a_connection_answered_gone_is_removed(websocket_gateway, api_user):
    with connect(f"{websocket_gateway}/?token={token_for(api_user)}") as live:
        connection = wait_for(lambda: Connection.objects.filter(user=api_user).first(), what="the connection")
        # One API Gateway no longer holds: same API, an id it answers 410 for.
        Connection.objects.create(connection_id="gone-connection=", user=api_user, endpoint=connection.endpoint)
        order = new_order(api_user)

        assert changes_of(frames(live, lambda r: changes_of(r, order)), order) == ["OrderCreated"]
        wait_for(lambda: not Connection.objects.filter(connection_id="gone-connection=").exists(), what="gone removed")
        assert Connection.objects.filter(pk=connection.pk).exists()


def test_a_subscription_narrows_to_named_orders_of_ones_own(websocket_gateway, api_user, other_api_user):
    watched, unwatched = new_order(api_user), new_order(api_user)
    theirs = new_order(other_api_user)
    with connect(f"{websocket_gateway}/?token={token_for(api_user)}") as ws:
        ws.send(json.dumps({"action": "subscribe", "orders": [str(theirs.pk)]}))
        assert json.loads(ws.recv(timeout=10)) == {
            "type": "error",
            "errors": {"orders": [f"No order {theirs.pk} of yours."]},
        }
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10))["errors"] == {"body": ["Not JSON."]}
        ws.send(json.dumps({"action": "subscribe", "orders": [str(watched.pk)]}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "subscribed", "orders": [str(watched.pk)]}

        services.order_transition(order_id=unwatched.pk, to_status=OrderStatus.VALIDATED)
        services.order_transition(order_id=watched.pk, to_status=OrderStatus.VALIDATED)

        heard = frames(ws, lambda r: changes_of(r, watched))
        assert changes_of(heard, watched) == ["OrderValidated"]
        assert changes_of(heard + frames(ws, lambda r: False, timeout=1), unwatched) == []
