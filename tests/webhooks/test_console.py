"""The console's replay page: an order's events, or a time range's, sent again to one
endpoint, a queue subscriber or all, after a POST with CSRF, audited."""

import pytest
from django.test import Client

from console.models import AuditEntry
from console.platform import roles
from orders.lifecycle import OrderStatus
from orders.models import OrderEvent
from orders.services import order_transition
from tests.conftest import make_user
from tests.factories import OrderFactory
from webhooks import services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db
REPLAY = "/webhooks/endpoint/replay/"


@pytest.fixture
def endpoint(db):
    owner = make_user("shop-client", roles.API_CLIENT, staff=False)
    return services.endpoint_create(owner=owner, url="https://shop.example/hooks", event_types=[], actor=owner)


def logged_in(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_post(client: Client, path: str, data: dict):
    client.get(path)
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_support_replays_an_orders_events_to_one_endpoint(support_user, endpoint):
    order = OrderFactory(created_by=endpoint.owner)
    order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    client = logged_in(support_user)
    changelist = client.get("/webhooks/endpoint/").content.decode()
    assert f'href="{REPLAY}"' in changelist
    page = client.get(f"{REPLAY}?order={order.pk}").content.decode()
    assert f'value="{order.pk}"' in page and f'value="endpoint:{endpoint.pk}"' in page

    response = csrf_post(client, REPLAY, {"target": f"endpoint:{endpoint.pk}", "order_id": str(order.pk)})

    assert response.status_code == 302 and response["Location"] == "/webhooks/endpoint/"
    shown = client.get("/webhooks/endpoint/").content.decode()
    events = OrderEvent.objects.filter(order=order).count()
    assert f"Replayed {events} events: {events} webhook deliveries queued" in shown, shown[shown.find("messagelist") :][
        :300
    ]
    deliveries = Delivery.objects.filter(endpoint=endpoint)
    assert "OrderValidated" in {d.event_type for d in deliveries} and deliveries.count() == events
    assert {d.status for d in deliveries} == {Delivery.Status.PENDING}
    entry = AuditEntry.objects.get(action="webhook.replay")
    assert entry.actor == support_user and entry.source == AuditEntry.Source.CONSOLE
    assert entry.object_id == str(endpoint.pk) and entry.after["orderId"] == str(order.pk)


def test_bad_input_is_shown_on_the_form_and_replays_nothing(support_user, endpoint):
    client = logged_in(support_user)

    nothing = csrf_post(client, REPLAY, {"target": "all"})
    backwards = csrf_post(client, REPLAY, {"target": "all", "since": "2026-12-02T10:00", "until": "2026-12-01T10:00"})
    unknown = csrf_post(
        client, REPLAY, {"target": "endpoint:00000000-0000-0000-0000-000000000000", "since": "2026-12-01T10:00"}
    )

    assert nothing.status_code == 200 and "Give an order, or the start of a time range." in nothing.content.decode()
    assert backwards.status_code == 200 and "After the start." in backwards.content.decode()
    assert unknown.status_code == 200 and "Select a valid choice" in unknown.content.decode()
    assert not AuditEntry.objects.filter(action="webhook.replay").exists()


def test_only_those_who_may_redeliver_replay(support_user, endpoint):
    operator = logged_in(make_user("olga-operator", roles.OPERATOR))
    assert operator.get(REPLAY).status_code == 403
    operator.get("/")
    token = operator.cookies["csrftoken"].value
    refused = operator.post(REPLAY, {"target": "all", "since": "2026-12-01T10:00", "csrfmiddlewaretoken": token})
    assert refused.status_code == 403
    # Without the CSRF token, a POST is refused whoever sends it.
    assert logged_in(support_user).post(REPLAY, {"target": "all", "since": "2026-12-01T10:00"}).status_code == 403
    assert not AuditEntry.objects.filter(action="webhook.replay").exists()
