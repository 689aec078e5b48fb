"""The bad-input corpus: inputs that once broke the API (or could), each answered with a 4xx
problem that names the field, and nothing written. A row is (what, method, path, body or
query, the status, the field named in ``errors``)."""

import json

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from rest_framework.test import APIClient

from console.models import AuditEntry
from orders.models import Order, OrderEvent

pytestmark = pytest.mark.django_db

ITEM = {"productId": "p1", "name": "Widget", "quantity": 1, "price": 1}


def order(**changes):
    return {"userId": "corpus", "items": [ITEM], **changes}


def items(*rows):
    return order(items=[{**ITEM, **row} for row in rows])


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


BIG = 2**63
DLQ = "/api/dlqs/ops-console-dev-jobs-dlq"
TOO_MUCH = {**ITEM, "quantity": 1_000_000, "price": 9_999_999}
UPLOAD = {"purpose": "media", "filename": "a.png", "contentType": "image/png", "size": 10}
EXE = "application/x-msdownload"
CORPUS = [
    # --- Amounts: an order whose total does not fit once broke every list (500s for everyone).
    ("quantity x price too large", "POST", "/api/orders", items({"quantity": 10**6, "price": 10**6}), 400, "items"),
    ("200 items in limits, too much in all", "POST", "/api/orders", order(items=[TOO_MUCH] * 200), 400, "items"),
    ("a price past its column", "POST", "/api/orders", items({"price": 10**13}), 400, "items.0.price"),
    ("a negative price", "POST", "/api/orders", items({"price": -1}), 400, "items.0.price"),
    ("a zero quantity", "POST", "/api/orders", items({"quantity": 0}), 400, "items.0.quantity"),
    ("a quantity past the limit", "POST", "/api/orders", items({"quantity": 1_000_001}), 400, "items.0.quantity"),
    ("a price with three decimals", "POST", "/api/orders", items({"price": "1.001"}), 400, "items.0.price"),
    ("a price that is no number", "POST", "/api/orders", items({"price": "NaN"}), 400, "items.0.price"),
    ("no items", "POST", "/api/orders", order(items=[]), 400, "items"),
    ("more items than allowed", "POST", "/api/orders", order(items=[ITEM] * 501), 400, "items"),
    ("a customer id past 128 characters", "POST", "/api/orders", order(userId="u" * 129), 400, "userId"),
    # --- Structure
    ("JSON nested 100,000 deep", "POST", "/api/orders", nested(100_000), 400, None),
    ("JSON nested 40 deep", "POST", "/api/orders", nested(40), 400, None),
    ("a body that is not JSON", "POST", "/api/orders", "{'items': ", 400, None),
    ("items that are not a list", "POST", "/api/orders", order(items={"0": ITEM}), 400, "items"),
    # --- Ids and query values
    ("an order id that is no UUID", "GET", "/api/orders/not-a-uuid", None, 404, None),
    ("a page of 201", "GET", "/api/orders", {"limit": 201}, 400, "limit"),
    ("a page of 0", "GET", "/api/orders", {"limit": 0}, 400, "limit"),
    ("a made-up cursor", "GET", "/api/orders", {"cursor": "bm90LWEtY3Vyc29y"}, 400, "cursor"),
    ("a total filter that is no number", "GET", "/api/orders", {"totalMin": "1e999999"}, 400, "totalMin"),
    ("a date that is no date", "GET", "/api/orders", {"createdFrom": "yesterday"}, 400, "createdFrom"),
    ("an unknown status", "GET", "/api/orders", {"status": "PAID'; DROP TABLE"}, 400, "status"),
    ("a DLQ age of a billion hours", "GET", f"{DLQ}/messages", {"olderThanHours": "1e9"}, 400, "olderThanHours"),
    ("a DLQ age of 1e18 hours", "GET", f"{DLQ}/messages", {"newerThanHours": "1e18"}, 400, "newerThanHours"),
    ("a message id of 2^63", "POST", f"{DLQ}/delete", {"messageIds": [BIG]}, 400, "messageIds.0"),
    ("2^63 to redrive", "POST", f"{DLQ}/redrive", {"mode": "selected", "messageIds": [BIG]}, 400, "messageIds.0"),
    ("an approval id past 64 bits", "GET", f"/api/approvals/{BIG * 4}", None, 404, None),
    ("an upload of an unknown type", "POST", "/api/uploads", {**UPLOAD, "contentType": EXE}, 400, "contentType"),
    ("an upload of a negative size", "POST", "/api/uploads", {**UPLOAD, "size": -1}, 400, "size"),
    ("an import of a key outside the import prefixes", "POST", "/api/imports", {"key": "../../etc/passwd"}, 400, "key"),
]  # fmt: skip


@pytest.fixture
def superuser_api(db) -> APIClient:
    user = get_user_model().objects.create_superuser("corpus-root", password="x-corpus-root")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


@pytest.mark.parametrize(("what", "method", "path", "given", "status", "field"), CORPUS, ids=[row[0] for row in CORPUS])
def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    request, superuser_api, what, method, path, given, status, field
):
    if path.startswith("/api/dlqs/"):
        request.getfixturevalue("local_aws")  # the DLQ routes find the stage's queues in AWS
    written_before = (Order.objects.count(), OrderEvent.objects.count(), AuditEntry.objects.count())
    if method == "GET":
        response = superuser_api.get(path, given)
    else:
        body = given if isinstance(given, str) else json.dumps(given)
        response = superuser_api.generic(method, path, body, content_type="application/json")

    assert response.status_code == status, response.content[:500]
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    if field:
        assert field in problem.get("errors", {}), problem
    assert (Order.objects.count(), OrderEvent.objects.count(), AuditEntry.objects.count()) == written_before
