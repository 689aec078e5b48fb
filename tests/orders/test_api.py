import uuid

import pytest
from rest_framework.test import APIClient

from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

WIDGETS = {"userId": "test-user", "items": [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 1000}]}


@pytest.fixture(autouse=True)
def no_workflow_start(submitted_orders):
    # These tests are about the HTTP contract; the workflow has its own (stack) tests.
    return submitted_orders


def test_create_answers_201_with_the_seed_fields(api):
    response = api.post("/api/orders", WIDGETS, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"orderId", "userId", "items", "total", "status", "createdAt"}
    assert body["status"] == "CREATED"
    assert body["total"] == 2000 and isinstance(body["total"], (int, float))
    assert body["items"] == [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 1000}]
    assert response["Location"].endswith(body["orderId"])
    assert Order.objects.filter(pk=body["orderId"]).exists()


@pytest.mark.parametrize("path", ["/api/orders", "/api/orders/"])
def test_routes_work_with_and_without_a_trailing_slash(api, path):
    assert api.post(path, WIDGETS, format="json").status_code == 201
    assert api.get(path).status_code == 200


def test_get_returns_the_order_and_404s_unknown_or_malformed_ids(api, api_user):
    order = OrderFactory(created_by=api_user)
    assert api.get(f"/api/orders/{order.pk}").json()["orderId"] == str(order.pk)
    assert api.get(f"/api/orders/{order.pk}/").status_code == 200
    missing = api.get(f"/api/orders/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert api.get("/api/orders/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"items": WIDGETS["items"]}, "userId"),
        ({"userId": "u", "items": []}, "items"),
        ({"userId": "u", "items": [{"productId": "p", "name": "n", "quantity": 0, "price": 1}]}, "items.0.quantity"),
        ({"userId": "u", "items": [{"productId": "p", "name": "n", "quantity": -3, "price": 1}]}, "items.0.quantity"),
        ({"userId": "u", "items": [{"productId": "p", "name": "n", "price": 1}]}, "items.0.quantity"),
        ({"userId": "u", "items": [{"productId": "p", "name": "n", "quantity": 1, "price": -1}]}, "items.0.price"),
        ({"userId": "u", "items": [{"productId": "p", "name": "n", "quantity": 1, "price": "abc"}]}, "items.0.price"),
        ({"userId": "u", "items": [{"productId": "p", "name": "n", "quantity": 1.5, "price": 1}]}, "items.0.quantity"),
    ],
)
def test_bad_orders_get_400_with_field_errors_and_nothing_is_saved(api, payload, field):
    response = api.post("/api/orders", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid"
    assert field in body["errors"], body
    assert not Order.objects.exists()


def test_malformed_json_is_a_400_not_a_500(api):
    response = api.post("/api/orders", "{bad json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_status_change_for_client_owned_status(api, api_user):
    order = OrderFactory(status=OrderStatus.COMPLETED, created_by=api_user)
    response = api.put(f"/api/orders/{order.pk}/status", {"status": "DELIVERED"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "DELIVERED"


def test_unknown_status_value_is_a_400(api, api_user):
    order = OrderFactory(created_by=api_user)
    response = api.put(f"/api/orders/{order.pk}/status", {"status": "TELEPORTED"}, format="json")
    assert response.status_code == 400 and "status" in response.json()["errors"]


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (OrderStatus.CREATED, "DELIVERED"),  # invalid transition
        (OrderStatus.AWAITING_APPROVAL, "APPROVED"),  # approval is the workflow's, not a client's
    ],
)
def test_refused_status_changes_are_409_and_change_nothing(api, api_user, current, requested):
    order = OrderFactory(status=current, created_by=api_user)
    response = api.put(f"/api/orders/{order.pk}/status/", {"status": requested}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"]["status"]
    order.refresh_from_db()
    assert order.status == current


def test_delete_cancels_and_answers_204(api, api_user):
    order = OrderFactory(status=OrderStatus.VALIDATED, created_by=api_user)
    response = api.delete(f"/api/orders/{order.pk}")
    assert response.status_code == 204
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    # Cancelling again is harmless; the API reports the same result.
    assert api.delete(f"/api/orders/{order.pk}").status_code == 204


def test_delete_of_a_paid_order_is_a_409(api, api_user):
    order = OrderFactory(status=OrderStatus.PAID, created_by=api_user)
    response = api.delete(f"/api/orders/{order.pk}")
    assert response.status_code == 409
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_list_filters_by_status_and_user_and_pages_with_a_cursor(api, api_user):
    for _n in range(3):
        OrderFactory(user_id="ana", status=OrderStatus.CREATED, created_by=api_user)
    OrderFactory(user_id="ben", status=OrderStatus.FAILED, created_by=api_user)
    page = api.get("/api/orders?userId=ana&limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    failed = api.get("/api/orders?status=FAILED").json()["results"]
    assert [o["userId"] for o in failed] == ["ben"]
    assert api.get("/api/orders?status=NOPE").status_code == 400


def test_requests_without_a_valid_token_are_401():
    client = APIClient()
    assert client.get("/api/orders").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")
    response = client.get("/api/orders")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_user_without_order_permissions_gets_403(db):
    from knox.models import AuthToken

    from tests.conftest import make_user

    nobody = make_user("nobody", role=None, staff=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=nobody)[1]}")
    assert client.get("/api/orders").status_code == 403
    assert client.post("/api/orders", WIDGETS, format="json").status_code == 403


def test_support_staff_can_read_but_not_change_orders(support_user):
    order = OrderFactory()
    client = APIClient()
    client.force_authenticate(support_user)
    assert client.get(f"/api/orders/{order.pk}").status_code == 200
    assert client.delete(f"/api/orders/{order.pk}").status_code == 403
    assert client.post("/api/orders", WIDGETS, format="json").status_code == 403


def test_issue_token_creates_an_api_client_and_prints_only_the_token(capsys):
    from django.core.management import call_command

    call_command("issue_token", "storefront")
    token = capsys.readouterr().out.strip()
    assert len(token) >= 32 and " " not in token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/orders").status_code == 200
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="storefront")
    assert not user.is_staff and list(user.groups.values_list("name", flat=True)) == ["api-client"]
