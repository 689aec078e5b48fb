"""GET /api/orders/{id}/events: an order's event history over REST, in pages, with the
same visibility as the order itself (another client's order is a 404)."""

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from console.platform import roles
from orders.lifecycle import OrderStatus
from orders.models import OrderEvent
from orders.services import order_transition
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

WIDGETS = {"userId": "ana", "items": [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 10}]}


@pytest.fixture(autouse=True)
def no_workflow_start(submitted_orders):
    return submitted_orders


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


@pytest.fixture
def order_id(api) -> str:
    """An order of the ``api`` client with four events: created, validated, awaiting
    approval, approved."""
    response = api.post("/api/orders", WIDGETS, format="json")
    assert response.status_code == 201, response.content
    order_id = response.json()["orderId"]
    for status in (OrderStatus.VALIDATED, OrderStatus.AWAITING_APPROVAL, OrderStatus.APPROVED):
        order_transition(order_id=order_id, to_status=status, reason="test")
    return order_id


def test_the_history_comes_oldest_first_in_the_body_published_on_sns(api, order_id):
    response = api.get(f"/api/orders/{order_id}/events")

    assert response.status_code == 200, response.content
    body = response.json()
    events = body["results"]
    assert [e["eventType"] for e in events] == ["OrderCreated", "OrderValidated", "OrderStatusChanged", "OrderApproved"]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    first = OrderEvent.objects.get(order_id=order_id, version=1)
    assert events[0] == {
        "eventId": str(first.pk),
        "aggregateId": order_id,
        "version": 1,
        "eventType": "OrderCreated",
        "data": first.data,
        "timestamp": events[0]["timestamp"],
        "metadata": {
            "correlationId": first.correlation_id,
            "causationId": first.causation_id,
            "actor": "shop-backend",
        },
    }
    assert body["next"] is None and body["previous"] is None


def test_newest_first_and_cursor_pages_walk_the_whole_history_once(api, order_id):
    seen, url = [], f"/api/orders/{order_id}/events?order=newest&limit=3"
    while url:
        page = api.get(url).json()
        seen += [e["version"] for e in page["results"]]
        url = page["next"]
    assert seen == [4, 3, 2, 1]

    first = api.get(f"/api/orders/{order_id}/events?limit=2").json()
    second = api.get(first["next"]).json()
    assert [e["version"] for e in second["results"]] == [3, 4] and second["next"] is None
    back = api.get(second["previous"]).json()
    assert [e["version"] for e in back["results"]] == [1, 2]


def test_another_client_finds_the_order_and_its_history_missing(order_id):
    other = token_client(make_user("other-shop", roles.API_CLIENT, staff=False))

    for path in (f"/api/orders/{order_id}", f"/api/orders/{order_id}/events"):
        response = other.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


def test_console_roles_read_any_order_history(order_id, operator):
    response = token_client(operator).get(f"/api/orders/{order_id}/events")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 4


@pytest.mark.parametrize(
    ("query", "field"),
    [("order=sideways", "order"), ("limit=0", "limit"), ("limit=201", "limit"), ("cursor=nonsense", "cursor")],
)
def test_bad_parameters_are_400s_naming_the_field(api, order_id, query, field):
    response = api.get(f"/api/orders/{order_id}/events?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_cursor_of_the_other_direction_is_refused(api, order_id):
    newest = api.get(f"/api/orders/{order_id}/events?order=newest&limit=1").json()
    cursor = newest["next"].split("cursor=")[1].split("&")[0]
    response = api.get(f"/api/orders/{order_id}/events?cursor={cursor}")
    assert response.status_code == 400 and "cursor" in response.json()["errors"]


@pytest.mark.parametrize("order_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_orders_are_404s(api, order_id):
    assert api.get(f"/api/orders/{order_id}/events").status_code == 404


def test_without_a_token_it_is_401(client, order_id):
    assert APIClient().get(f"/api/orders/{order_id}/events").status_code == 401


def test_a_page_costs_the_same_queries_whatever_the_history(api, order_id, django_assert_max_num_queries):
    for status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        order_transition(order_id=order_id, to_status=status, reason="test")
    # Token, user and permissions, the order, the page of events.
    with django_assert_max_num_queries(8):
        response = api.get(f"/api/orders/{order_id}/events")
    assert len(response.json()["results"]) == 7
