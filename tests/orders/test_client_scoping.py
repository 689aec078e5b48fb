"""API clients reach only their own orders (issue 14: client B could read, list and cancel
client A's): every read and change, filters, search and idempotent replays included,
unless a permission widens it (a reporting client; the console's roles)."""

import pytest
from django.contrib.auth.models import Permission
from knox.models import AuthToken
from rest_framework.test import APIClient

from console.models import AuditEntry
from console.platform import roles
from orders.lifecycle import OrderStatus
from orders.models import Order, OrderEvent
from tests.conftest import make_user
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

WIDGETS = {"userId": "ana", "items": [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 10}]}


@pytest.fixture(autouse=True)
def no_workflow_start(submitted_orders):
    # Orders tells of its submissions; no workflow listens here.
    return submitted_orders


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def api_client_user(name: str, *extra_permissions: str):
    user = make_user(name, roles.API_CLIENT, staff=False)
    for dotted in extra_permissions:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture
def other_user(db):
    return api_client_user("other-shop")


@pytest.fixture
def other(other_user) -> APIClient:
    """Client B: a second API client, with the same role as ``api`` (client A)."""
    return client_for(other_user)


def create(client: APIClient, body: dict = WIDGETS, **headers) -> dict:
    response = client.post("/api/orders", body, format="json", **headers)
    assert response.status_code == 201, response.content
    return response.json()


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [order["orderId"] for order in response.json()["results"]]


def test_an_order_created_through_the_api_records_its_client(api, api_user):
    order = create(api)
    assert Order.objects.get(pk=order["orderId"]).created_by == api_user


def test_another_clients_order_is_a_404_to_read_change_or_cancel_and_nothing_changes(api, other):
    order_id = create(api)["orderId"]
    Order.objects.filter(pk=order_id).update(status=OrderStatus.COMPLETED)

    attempts = [
        other.get(f"/api/orders/{order_id}"),
        other.put(f"/api/orders/{order_id}/status", {"status": "DELIVERED"}, format="json"),
        other.put(f"/api/orders/{order_id}/status", {"status": "DELIVERED", "expectedVersion": 1}, format="json"),
        # A wrong version must not tell B the order exists (a 409 would).
        other.put(f"/api/orders/{order_id}/status", {"status": "DELIVERED", "expectedVersion": 7}, format="json"),
        other.delete(f"/api/orders/{order_id}"),
    ]
    for response in attempts:
        assert response.status_code == 404, (response.request, response.content)
        assert response.json()["code"] == "not_found"
        assert order_id not in response.content.decode()

    order = Order.objects.get(pk=order_id)
    assert (order.status, order.version) == (OrderStatus.COMPLETED, 1)
    assert OrderEvent.objects.filter(order=order).count() == 1
    assert not AuditEntry.objects.filter(object_id=order_id).exclude(action="order.create").exists()
    # Its own client still reaches it.
    assert api.get(f"/api/orders/{order_id}").status_code == 200
    assert api.put(f"/api/orders/{order_id}/status", {"status": "DELIVERED"}, format="json").status_code == 200


def test_lists_show_only_the_clients_own_orders_whatever_the_filters_or_search(api, other):
    mine = {create(api)["orderId"], create(api)["orderId"]}
    theirs = create(other)["orderId"]  # for the same customer, "ana"
    OrderFactory(user_id="ana")  # no API client (a console or system order)

    assert set(ids(api.get("/api/orders"))) == mine
    assert ids(other.get("/api/orders")) == [theirs]
    assert ids(other.get("/api/orders?userId=ana")) == [theirs]
    assert ids(other.get("/api/orders?status=CREATED&ordering=-total&totalMin=0")) == [theirs]
    a_mine = sorted(mine)[0]
    assert ids(other.get("/api/orders", {"search": a_mine})) == []
    assert ids(other.get("/api/orders", {"search": a_mine[:8]})) == []
    assert ids(api.get("/api/orders", {"search": a_mine[:8]})) == [a_mine]


def test_a_cursor_from_another_client_pages_only_through_ones_own_orders(api, other):
    mine = {create(api)["orderId"] for _ in range(3)}
    theirs = {create(other)["orderId"] for _ in range(3)}
    next_page = api.get("/api/orders?limit=1&ordering=createdAt").json()["next"]
    # A cursor is only a position in the list: B walks its own orders from there.
    seen, url = [], next_page
    while url:
        page = other.get(url)
        seen += ids(page)
        url = page.json()["next"]
    assert set(seen) == theirs and not set(seen) & mine


def test_an_idempotency_key_replays_only_for_the_client_that_sent_it(api, other, api_user, other_user):
    first = create(api, HTTP_IDEMPOTENCY_KEY="order-1")

    # B sends the same key and body: its own new order, not A's stored answer.
    response = other.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert response.status_code == 201 and not response.has_header("Idempotent-Replayed")
    assert response.json()["orderId"] != first["orderId"]
    assert Order.objects.get(pk=response.json()["orderId"]).created_by == other_user

    replayed = api.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert replayed["Idempotent-Replayed"] == "true" and replayed.json() == first
    again = other.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert again["Idempotent-Replayed"] == "true" and again.json() == response.json()
    assert Order.objects.filter(created_by=api_user).count() == Order.objects.filter(created_by=other_user).count() == 1


def test_a_reporting_client_sees_every_order_but_changes_only_its_own(api, other):
    a_order, b_order = create(api)["orderId"], create(other)["orderId"]
    console_order = str(OrderFactory(user_id="walk-in", status=OrderStatus.COMPLETED).pk)
    reporting = client_for(api_client_user("reporting", "orders.view_all_orders"))

    assert set(ids(reporting.get("/api/orders"))) == {a_order, b_order, console_order}
    assert set(ids(reporting.get("/api/orders?userId=ana"))) == {a_order, b_order}
    assert reporting.get(f"/api/orders/{b_order}").json()["orderId"] == b_order
    # Seeing is not changing: another's order is a 403 (it can see it exists), and stays.
    assert reporting.delete(f"/api/orders/{a_order}").status_code == 403
    refused = reporting.put(f"/api/orders/{console_order}/status", {"status": "DELIVERED"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert Order.objects.get(pk=a_order).status == OrderStatus.CREATED
    assert Order.objects.get(pk=console_order).status == OrderStatus.COMPLETED


def test_a_client_allowed_to_change_all_orders_cancels_another_clients_order(api, other):
    b_order = create(other)["orderId"]
    operations = client_for(api_client_user("back-office", "orders.change_all_orders"))
    assert operations.get(f"/api/orders/{b_order}").status_code == 200
    assert operations.delete(f"/api/orders/{b_order}").status_code == 204
    assert Order.objects.get(pk=b_order).status == OrderStatus.CANCELLED


@pytest.mark.parametrize(
    ("role", "sees_all", "changes_all"),
    [
        (roles.OPERATOR, True, False),
        (roles.SUPPORT, True, False),
        (roles.ADMIN, True, True),
        (roles.API_CLIENT, False, False),
    ],
)
def test_the_console_roles_read_every_order_and_admins_change_them(role, sees_all, changes_all):
    user = make_user(f"role-{role}", role, staff=role != roles.API_CLIENT)
    assert user.has_perm("orders.view_all_orders") is sees_all
    assert user.has_perm("orders.change_all_orders") is changes_all


def test_an_admin_in_the_api_sees_and_cancels_any_clients_order(api):
    a_order = create(api)["orderId"]
    admin = APIClient()
    admin.force_authenticate(make_user("ada-admin", roles.ADMIN))
    assert a_order in ids(admin.get("/api/orders"))
    assert admin.delete(f"/api/orders/{a_order}").status_code == 204


def test_a_deleted_clients_orders_reach_no_one_without_the_permissions(api, api_user, other):
    order_id = create(api)["orderId"]
    api_user.delete()  # created_by becomes NULL: such orders must not become everyone's
    assert Order.objects.get(pk=order_id).created_by is None
    assert other.get(f"/api/orders/{order_id}").status_code == 404
    assert ids(other.get("/api/orders")) == []
