"""The REST API as clients rely on it: filters, search, ordering, cursor pages that cost
the same at any depth, Idempotency-Key, optimistic locking (409), throttling (429), CORS,
OpenAPI schema and docs, and one error shape on every error path."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from console.models import IdempotencyKey
from console.platform import roles
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.conftest import make_user
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

WIDGETS = {"userId": "test-user", "items": [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 1000}]}
PROBLEM_KEYS = {"type", "title", "status", "code"}


@pytest.fixture(autouse=True)
def no_workflow_start(submitted_orders):
    # Orders tells of its submissions; no workflow listens here.
    return submitted_orders


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert PROBLEM_KEYS <= set(body) and body["status"] == status, body
    if code:
        assert body["code"] == code, body
    return body


def ids(response) -> list[str]:
    return [order["orderId"] for order in response.json()["results"]]


def make_orders(n: int, **fields) -> list[Order]:
    return [OrderFactory(**fields) for _ in range(n)]


# --- Filters, search, ordering ------------------------------------------------------------


def test_filters_by_status_customer_creation_time_and_total(api, api_user):
    now = timezone.now()
    old = OrderFactory(
        user_id="ana",
        status=OrderStatus.FAILED,
        items=[{"product_id": "p", "name": "n", "quantity": 1, "price": Decimal("5")}],
        created_by=api_user,
    )
    Order.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=10))
    big = OrderFactory(
        user_id="ana",
        items=[{"product_id": "p", "name": "n", "quantity": 1, "price": Decimal("5000")}],
        created_by=api_user,
    )
    other = OrderFactory(user_id="ben", created_by=api_user)

    assert ids(api.get("/api/orders?status=FAILED")) == [str(old.pk)]
    assert set(ids(api.get("/api/orders?userId=ana"))) == {str(old.pk), str(big.pk)}
    since = (now - timedelta(days=1)).isoformat()
    assert set(ids(api.get("/api/orders", {"createdFrom": since}))) == {str(big.pk), str(other.pk)}
    assert ids(api.get("/api/orders", {"createdTo": since})) == [str(old.pk)]
    assert ids(api.get("/api/orders?totalMin=1000")) == [str(big.pk)]
    assert set(ids(api.get("/api/orders?totalMax=20&userId=ana"))) == {str(old.pk)}


def test_search_by_order_id_or_its_first_characters(api, api_user):
    order, _other = make_orders(2, created_by=api_user)
    assert ids(api.get("/api/orders", {"search": str(order.pk)})) == [str(order.pk)]
    assert ids(api.get("/api/orders", {"search": str(order.pk)[:8]})) == [str(order.pk)]
    assert ids(api.get("/api/orders", {"search": str(order.pk)[:8].upper()})) == [str(order.pk)]
    body = assert_problem(api.get("/api/orders?search=abc"), 400, "invalid")
    assert "search" in body["errors"]


def test_ordering_by_total_both_ways(api, api_user):
    for price in (30, 10, 20):
        OrderFactory(
            items=[{"product_id": "p", "name": "n", "quantity": 1, "price": Decimal(price)}], created_by=api_user
        )
    totals = lambda r: [o["total"] for o in r.json()["results"]]  # noqa: E731
    assert totals(api.get("/api/orders?ordering=total")) == [10, 20, 30]
    assert totals(api.get("/api/orders?ordering=-total")) == [30, 20, 10]
    assert_problem(api.get("/api/orders?ordering=userId"), 400, "invalid")


@pytest.mark.parametrize("query", ["status=NOPE", "createdFrom=yesterday", "totalMin=lots", "limit=0", "limit=x"])
def test_bad_filter_values_are_400_with_the_field_named(api, query):
    body = assert_problem(api.get(f"/api/orders?{query}"), 400, "invalid")
    assert query.split("=")[0] in body["errors"]


# --- Cursor pagination --------------------------------------------------------------------


@pytest.mark.parametrize("ordering", ["-createdAt", "createdAt", "-total", "total"])
def test_cursor_pages_walk_every_order_once_forwards_and_backwards_even_with_ties(api, api_user, ordering):
    orders = make_orders(7, created_by=api_user)
    # Ties on the ordering key: the id breaks them, so no row is skipped or repeated.
    same_time = timezone.now()
    Order.objects.filter(pk__in=[o.pk for o in orders[:4]]).update(created_at=same_time)
    forward, pages, url = [], [], f"/api/orders?limit=3&ordering={ordering}"
    while url:
        page = api.get(url).json()
        pages.append(page)
        forward += [o["orderId"] for o in page["results"]]
        url = page["next"]
    assert sorted(forward) == sorted(str(o.pk) for o in orders) and len(forward) == 7
    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    assert pages[0]["previous"] is None
    backward, url = [], pages[-1]["previous"]
    while url:
        page = api.get(url).json()
        backward = [o["orderId"] for o in page["results"]] + backward
        url = page["previous"]
    assert backward == forward[:6]


def test_a_deep_page_costs_the_same_queries_as_the_first_and_nothing_counts(api, api_user):
    make_orders(12, created_by=api_user)
    with CaptureQueriesContext(connection) as first:
        page = api.get("/api/orders?limit=2").json()
    url = page["next"]
    for _ in range(4):
        url = api.get(url).json()["next"]
    with CaptureQueriesContext(connection) as deep:
        assert len(api.get(url).json()["results"]) == 2
    assert len(first.captured_queries) == len(deep.captured_queries)
    sql = " ".join(q["sql"].upper() for q in first.captured_queries + deep.captured_queries)
    assert "COUNT(" not in sql and "OFFSET" not in sql


def test_a_tampered_or_foreign_cursor_is_a_400(api, api_user):
    make_orders(3, created_by=api_user)
    next_url = api.get("/api/orders?limit=1").json()["next"]
    cursor = next_url.split("cursor=")[1].split("&")[0]
    assert_problem(api.get("/api/orders?cursor=not-a-cursor"), 400, "invalid")
    body = assert_problem(api.get(f"/api/orders?cursor={cursor}&ordering=total"), 400, "invalid")
    assert "another ordering" in body["errors"]["cursor"][0]


# --- Idempotency-Key ----------------------------------------------------------------------


def test_the_same_key_and_body_answers_with_the_first_result(api):
    first = api.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/orders/", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Location"] == first["Location"] and again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_the_same_key_with_another_body_is_a_422_and_changes_nothing(api):
    api.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    other = {**WIDGETS, "userId": "someone-else"}
    body = assert_problem(api.post("/api/orders", other, format="json", HTTP_IDEMPOTENCY_KEY="k-2"), 422)
    assert body["code"] == "idempotency_key_reused" and "Idempotency-Key" in body["errors"]
    assert Order.objects.count() == 1


def test_keys_are_per_client_and_failed_requests_keep_no_key(api, api_user):
    assert (
        api.post("/api/orders", {"userId": "u", "items": []}, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code
        == 400
    )
    assert api.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code == 201
    other_client = client_for(make_user("other-shop", roles.API_CLIENT, staff=False))
    assert other_client.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code == 201
    assert Order.objects.count() == 2
    assert not api.post("/api/orders", WIDGETS, format="json").has_header("Idempotent-Replayed")
    assert Order.objects.count() == 3


def test_expired_keys_are_forgotten(api):
    first = api.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="k-4").json()
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))
    second = api.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="k-4").json()
    assert second["orderId"] != first["orderId"]
    from console.api.idempotency import idempotency_keys_purge

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert idempotency_keys_purge() == 1 and not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\there"])
def test_an_unusable_key_is_a_400(api, key):
    assert_problem(api.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY=key), 400, "invalid")
    assert not Order.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_make_one_order(api_user):
    token = AuthToken.objects.create(user=api_user)[1]
    barrier, answers = threading.Barrier(6), []

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = client.post("/api/orders", WIDGETS, format="json", HTTP_IDEMPOTENCY_KEY="same")
            answers.append((response.status_code, response.json()["orderId"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Order.objects.count() == 1
    assert answers == [(201, str(Order.objects.get().pk))] * 6


# --- Optimistic locking over the API ------------------------------------------------------


def test_a_client_that_read_an_old_version_gets_409_and_nothing_changes(api, api_user):
    order = OrderFactory(status=OrderStatus.COMPLETED, created_by=api_user)
    version = api.get(f"/api/orders/{order.pk}").json()["version"]
    Order.objects.filter(pk=order.pk).update(version=version + 1)  # someone else changed it since
    body = assert_problem(
        api.put(f"/api/orders/{order.pk}/status", {"status": "DELIVERED", "expectedVersion": version}, format="json"),
        409,
        "version_conflict",
    )
    assert "expectedVersion" in body["errors"]
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    fresh = api.put(
        f"/api/orders/{order.pk}/status", {"status": "DELIVERED", "expectedVersion": version + 1}, format="json"
    )
    assert fresh.status_code == 200 and fresh.json()["version"] == version + 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clients_changing_the_same_version_at_once_one_wins_one_gets_409(api_user):
    order = OrderFactory(status=OrderStatus.COMPLETED, created_by=api_user)
    token = AuthToken.objects.create(user=api_user)[1]
    barrier, answers = threading.Barrier(2), []

    def deliver() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = client.put(
                f"/api/orders/{order.pk}/status", {"status": "DELIVERED", "expectedVersion": 1}, format="json"
            )
            answers.append((response.status_code, response.json().get("code")))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers, key=str) == [(200, None), (409, "version_conflict")]
    order.refresh_from_db()
    assert (order.status, order.version) == (OrderStatus.DELIVERED, 2)
    assert list(order.events.values_list("version", flat=True)) == [1, 2]


# --- Throttling -----------------------------------------------------------------------------


def test_bucket_refills_at_the_rate_and_caps_at_the_burst():
    from console.api.throttling import bucket_take

    assert [bucket_take(key="t", rate=50, burst=3, now=1000.0) for _ in range(3)] == [0, 0, 0]
    assert bucket_take(key="t", rate=50, burst=3, now=1000.0) == pytest.approx(0.02)
    assert bucket_take(key="t", rate=50, burst=3, now=1000.021) == 0  # a token back after 1/50 s
    assert bucket_take(key="t", rate=50, burst=3, now=2000.0) == 0  # idle: refilled, but only to the burst
    assert [bucket_take(key="t", rate=50, burst=3, now=2000.0) for _ in range(3)] == [0, 0, pytest.approx(0.02)]


@override_settings(API_THROTTLE_RATE=1.0, API_THROTTLE_BURST=3)
def test_a_client_over_its_rate_gets_429_with_retry_after_and_others_do_not(api, support_user):
    answers = [api.get("/api/orders").status_code for _ in range(3)]
    refused = api.get("/api/orders")
    assert answers == [200, 200, 200]
    assert_problem(refused, 429, "throttled")
    assert int(refused["Retry-After"]) >= 1
    other = APIClient()
    other.force_authenticate(support_user)
    assert other.get("/api/orders").status_code == 200


@override_settings(API_THROTTLE_RATE=1.0, API_THROTTLE_BURST=2)
def test_all_tokens_of_one_client_share_its_bucket(api_user):
    first, second = client_for(api_user), client_for(api_user)
    assert first.get("/api/orders").status_code == 200
    assert second.get("/api/orders").status_code == 200
    assert first.get("/api/orders").status_code == 429
    assert second.get("/api/orders").status_code == 429


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_processes_never_take_more_than_the_burst():
    from console.api.throttling import bucket_take

    barrier, taken = threading.Barrier(10), []

    def take() -> None:
        barrier.wait()
        try:
            taken.extend(bucket_take(key="shared", rate=0.001, burst=25) == 0 for _ in range(10))
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(True) == 25 and len(taken) == 100


# --- CORS -----------------------------------------------------------------------------------


@override_settings(CORS_ALLOWED_ORIGINS=["https://shop.example.com"])
def test_cors_answers_configured_origins_only(api):
    allowed = api.get("/api/orders", HTTP_ORIGIN="https://shop.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Retry-After" in allowed["Access-Control-Expose-Headers"]
    assert not api.get("/api/orders", HTTP_ORIGIN="https://evil.example.com").has_header("Access-Control-Allow-Origin")
    preflight = APIClient().options(
        "/api/orders",
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )
    assert preflight.status_code == 200
    assert "idempotency-key" in preflight["Access-Control-Allow-Headers"]
    # The console is not an API: no CORS there.
    assert (
        not APIClient().get("/login/", HTTP_ORIGIN="https://shop.example.com").has_header("Access-Control-Allow-Origin")
    )


# --- Schema and docs ------------------------------------------------------------------------


def test_the_openapi_schema_is_valid_and_needs_a_token(api):
    from openapi_spec_validator import validate

    assert APIClient().get("/api/schema").status_code == 401
    response = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"orders_list", "orders_create", "orders_retrieve", "orders_status_update", "orders_cancel"} <= operations
    create = schema["paths"]["/api/orders"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    assert {"201", "400", "401", "403", "422", "429"} <= set(create["responses"])


def test_the_docs_page_is_served_without_a_cdn(operator, client):
    assert client.get("/api/docs").status_code == 302  # to the console login
    client.force_login(operator)
    page = client.get("/api/docs").content.decode()
    assert "swagger-ui" in page
    assert "cdn." not in page and "unpkg" not in page
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


# --- One error shape ------------------------------------------------------------------------


def test_every_error_path_answers_in_the_problem_shape(api, api_user):
    order = OrderFactory(status=OrderStatus.PAID, created_by=api_user)
    assert_problem(api.get("/api/no-such-endpoint"), 404, "not_found")
    assert_problem(APIClient(enforce_csrf_checks=True).post("/api/no/such", {}), 404, "not_found")
    assert_problem(api.get(f"/api/orders/{uuid.uuid4()}"), 404, "not_found")
    assert_problem(api.patch(f"/api/orders/{order.pk}", {}, format="json"), 405, "method_not_allowed")
    assert_problem(api.post("/api/orders", "userId=x", content_type="application/x-www-form-urlencoded"), 415)
    assert_problem(api.post("/api/orders", "{", content_type="application/json"), 400, "parse_error")
    assert_problem(api.delete(f"/api/orders/{order.pk}"), 409, "conflict")
    assert_problem(APIClient().get("/api/orders"), 401, "not_authenticated")
    nobody = client_for(make_user("nobody", None, staff=False))
    assert_problem(nobody.get("/api/orders"), 403, "permission_denied")

    crashing = client_for(make_user("crash-test", roles.API_CLIENT, staff=False))
    crashing.raise_request_exception = False
    with mock.patch("orders.selectors.order_get", side_effect=RuntimeError("boom")):
        body = assert_problem(crashing.get(f"/api/orders/{order.pk}"), 500, "error")
    assert "boom" not in str(body)


def test_the_fast_order_representation_matches_the_declared_fields(api_user):
    from orders.apis import OrderOutputSerializer
    from orders.selectors import order_get

    order = OrderFactory(
        status_reason="why",
        items=[
            {"product_id": "p1", "name": "Widget", "quantity": 2, "price": Decimal("10.5")},
            {"product_id": "p2", "name": "Cable", "quantity": 1, "price": Decimal("0.99")},
        ],
        created_by=api_user,
    )
    serializer = OrderOutputSerializer()
    order = order_get(order_id=order.pk, user=api_user)
    assert serializer.to_representation(order) == serializer.declared_representation(order)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_bucket_commits_unflushed_alone_and_never_changes_a_callers_transaction():
    from django.db import transaction

    from console.api.throttling import bucket_take

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    assert bucket_take(key="alone", rate=1, burst=5) == 0
    assert synchronous_commit() == "on"  # only that statement's own transaction was unflushed
    with transaction.atomic():
        assert bucket_take(key="inside", rate=1, burst=5) == 0
        assert synchronous_commit() == "on"  # the caller's transaction still waits for the disk


def test_created_filters_take_any_iso_offset_and_compare_in_utc(api, api_user):
    from datetime import UTC, datetime
    from datetime import timezone as fixed_offset

    order = OrderFactory(created_by=api_user)
    moment = order.created_at.astimezone(UTC)
    # 23:30 ahead of UTC: the same instant, which PostgreSQL would refuse as an offset.
    far_east = moment.astimezone(fixed_offset(timedelta(hours=23, minutes=30))).isoformat()
    assert datetime.fromisoformat(far_east) == moment

    found = api.get("/api/orders", {"createdFrom": far_east}).json()["results"]
    before = api.get("/api/orders", {"createdTo": far_east}).json()["results"]

    assert [row["orderId"] for row in found] == [str(order.pk)] and before == []
