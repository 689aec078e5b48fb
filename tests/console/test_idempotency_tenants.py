"""Idempotency keys with more than one API client: a key belongs to the client that sent
it (its stored answer is replayed to that client only), forgetting an expired key forgets
that key alone, and a request that is answered with an error, raised or returned, leaves
no key behind."""

from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory

from console.api import idempotency
from console.models import IdempotencyKey
from console.platform import roles
from orders.models import Order
from tests.conftest import make_user
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

ANA = {"userId": "ana", "items": [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 10}]}
BEA = {"userId": "bea", "items": [{"productId": "p2", "name": "Gadget", "quantity": 1, "price": 99}]}
TTL = 60


@pytest.fixture(autouse=True)
def no_workflow_start(submitted_orders):
    # Orders tells of its submissions; no workflow listens here.
    return submitted_orders


@pytest.fixture
def shop_a(db):
    return make_user("shop-a", roles.API_CLIENT, staff=False)


@pytest.fixture
def shop_b(db):
    return make_user("shop-b", roles.API_CLIENT, staff=False)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def post(client: APIClient, body: dict, key: str):
    return client.post("/api/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def clock_at(moment):
    """``console.api.idempotency`` reading the time as ``moment`` (the rows' own timestamps and
    the API tokens' expiry keep the real clock)."""
    return mock.patch.object(idempotency, "timezone", SimpleNamespace(now=lambda: moment))


def age_key(user, key: str, *, created_at) -> None:
    assert IdempotencyKey.objects.filter(user=user, key=key).update(created_at=created_at) == 1


# --- Through the API: two clients ------------------------------------------------------------


def test_each_client_gets_its_own_answer_back_under_a_key_both_used(shop_a, shop_b):
    a, b = client_for(shop_a), client_for(shop_b)
    first_a, first_b = post(a, ANA, "order-1"), post(b, BEA, "order-1")
    assert first_a.status_code == first_b.status_code == 201

    again_a, again_b = post(a, ANA, "order-1"), post(b, BEA, "order-1")

    assert (again_a.status_code, again_a.json(), again_a["Location"]) == (201, first_a.json(), first_a["Location"])
    assert (again_b.status_code, again_b.json(), again_b["Location"]) == (201, first_b.json(), first_b["Location"])
    assert again_a["Idempotent-Replayed"] == again_b["Idempotent-Replayed"] == "true"
    # B's key holds B's request: A's body under it is another request, for B.
    assert post(b, ANA, "order-1").status_code == 422
    assert Order.objects.filter(created_by=shop_a).count() == Order.objects.filter(created_by=shop_b).count() == 1


@override_settings(IDEMPOTENCY_KEY_TTL_SECONDS=TTL)
def test_taking_back_an_expired_key_forgets_that_key_and_no_other(shop_a, shop_b):
    a, b = client_for(shop_a), client_for(shop_b)
    old_a, other_a, same_key_b = post(a, ANA, "k-1"), post(a, ANA, "k-2"), post(b, BEA, "k-1")
    age_key(shop_a, "k-1", created_at=timezone.now() - timedelta(seconds=TTL + 1))

    # A's k-1 has expired: the same key may now carry another request.
    renewed = post(a, BEA, "k-1")

    assert renewed.status_code == 201 and not renewed.has_header("Idempotent-Replayed")
    assert renewed.json()["orderId"] != old_a.json()["orderId"]
    assert IdempotencyKey.objects.count() == 3
    assert post(a, ANA, "k-2").json() == other_a.json()
    assert post(b, BEA, "k-1").json() == same_key_b.json()
    assert post(a, BEA, "k-1").json() == renewed.json()
    assert Order.objects.count() == 4


@override_settings(IDEMPOTENCY_KEY_TTL_SECONDS=TTL)
def test_a_key_is_remembered_for_exactly_its_time_to_live(shop_a):
    a = client_for(shop_a)
    first = post(a, ANA, "k-ttl").json()
    created = timezone.now() - timedelta(hours=1)
    age_key(shop_a, "k-ttl", created_at=created)

    with clock_at(created + timedelta(seconds=TTL)):
        at_the_limit = post(a, ANA, "k-ttl")
    with clock_at(created + timedelta(seconds=TTL, microseconds=1)):
        past_it = post(a, ANA, "k-ttl")

    assert at_the_limit["Idempotent-Replayed"] == "true" and at_the_limit.json() == first
    assert past_it.status_code == 201 and past_it.json()["orderId"] != first["orderId"]
    assert Order.objects.count() == 2


def test_the_same_fields_in_another_order_are_the_same_request(shop_a):
    a = client_for(shop_a)
    item = '{"productId": "p1", "name": "Widget", "quantity": 2, "price": 10}'
    as_sent = f'{{"userId": "ana", "items": [{item}]}}'
    reordered_body = f'{{"items": [{item}], "userId": "ana"}}'
    first = a.post("/api/orders", as_sent, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-order")
    reordered = a.post("/api/orders", reordered_body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-order")

    assert reordered.status_code == 201 and reordered["Idempotent-Replayed"] == "true"
    assert reordered.json() == first.json() and Order.objects.count() == 1


def test_a_key_of_the_longest_allowed_length_is_used_and_one_longer_is_refused(shop_a):
    a = client_for(shop_a)
    longest = "k" * idempotency.MAX_KEY_LENGTH

    first, again = post(a, ANA, longest), post(a, ANA, longest)
    too_long = post(a, ANA, longest + "k")

    assert first.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert too_long.json() == {
        "type": "about:blank",
        "title": "Invalid input.",
        "status": 400,
        "code": "invalid",
        "detail": "Idempotency-Key must be 1 to 255 printable characters.",
        "errors": {"Idempotency-Key": ["Send 1 to 255 printable characters, e.g. a UUID."]},
    }
    assert Order.objects.count() == 1


def test_a_key_reused_for_another_request_is_refused_in_words_the_client_can_act_on(shop_a):
    a = client_for(shop_a)
    post(a, ANA, "k-reused")

    refused = post(a, BEA, "k-reused")

    assert refused.json() == {
        "type": "about:blank",
        "title": "Idempotency key reused.",
        "status": 422,
        "code": "idempotency_key_reused",
        "detail": "The Idempotency-Key 'k-reused' was already used with a different request body or path.",
        "errors": {"Idempotency-Key": ["Used before with another request; send a new key for a new request."]},
    }
    assert Order.objects.count() == 1


# --- The contract itself, with handlers of our own ---------------------------------------------


def request_as(user, *, path: str = "/api/things", key: str | None = "k-direct", body: dict | None = None) -> Request:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    request = Request(
        APIRequestFactory().post(path, body or {"a": 1}, format="json", **headers), parsers=[JSONParser()]
    )
    request.user = user
    return request


def test_a_handler_that_returns_an_error_keeps_nothing_and_the_key_stays_usable(shop_a):
    answers = iter([409, 201])
    calls = []

    def handle() -> Response:
        # The handler writes, then answers; an error answer must undo the write.
        calls.append(OrderFactory(user_id="ana").pk)
        status = next(answers)
        return Response({"status": status}, status=status, headers={"Location": f"/api/things/{len(calls)}"})

    refused = idempotency.idempotent_post(request_as(shop_a), handle)

    assert refused.status_code == 409
    assert not Order.objects.exists() and not IdempotencyKey.objects.exists()

    created = idempotency.idempotent_post(request_as(shop_a), handle)
    replayed = idempotency.idempotent_post(request_as(shop_a), handle)

    assert created.status_code == 201 and len(calls) == 2 and Order.objects.count() == 1
    assert (replayed.status_code, replayed.data, replayed["Location"]) == (201, {"status": 201}, "/api/things/2")
    assert replayed["Idempotent-Replayed"] == "true"
    stored = IdempotencyKey.objects.get()
    assert (stored.user, stored.key, stored.response_status) == (shop_a, "k-direct", 201)


def test_a_handler_that_raises_keeps_nothing(shop_a):
    def handle() -> Response:
        OrderFactory(user_id="ana")
        raise RuntimeError("the payment provider hung up")

    with pytest.raises(RuntimeError):
        idempotency.idempotent_post(request_as(shop_a), handle)

    assert not Order.objects.exists() and not IdempotencyKey.objects.exists()


def test_the_same_key_and_body_on_another_path_is_another_request(shop_a):
    idempotency.idempotent_post(request_as(shop_a, path="/api/things"), lambda: Response({}, status=201))

    other_path = idempotency.idempotent_post(
        request_as(shop_a, path="/api/other-things"), lambda: Response({}, status=201)
    )

    assert other_path.status_code == 422


def test_without_a_key_every_request_runs(shop_a):
    calls = []

    def handle() -> Response:
        calls.append(1)
        return Response({}, status=201)

    for _ in range(2):
        answer = idempotency.idempotent_post(request_as(shop_a, key=None), handle)
        assert answer.status_code == 201 and not answer.has_header("Idempotent-Replayed")

    assert len(calls) == 2 and not IdempotencyKey.objects.exists()


@override_settings(IDEMPOTENCY_KEY_TTL_SECONDS=TTL)
def test_the_scheduled_purge_forgets_every_clients_expired_keys_and_keeps_the_rest(shop_a, shop_b):
    now = timezone.now()
    ages = {"expired-a": TTL + 1, "at-limit": TTL, "fresh": 0}
    for user in (shop_a, shop_b):
        for key, seconds in ages.items():
            IdempotencyKey.objects.create(user=user, key=key, fingerprint="f", response_status=201)
            age_key(user, key, created_at=now - timedelta(seconds=seconds))

    with clock_at(now):
        result = idempotency.purge_expired_keys({"source": "aws.events"})

    assert result == {"deleted": 2}
    kept = set(IdempotencyKey.objects.values_list("user__username", "key"))
    assert kept == {(user, key) for user in ("shop-a", "shop-b") for key in ("at-limit", "fresh")}
    with clock_at(now):
        assert idempotency.idempotency_keys_purge(older_than_seconds=TTL - 1) == 2
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"fresh"}
