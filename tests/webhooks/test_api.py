"""The webhooks REST API: an API client registers and runs its own endpoints."""

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from console.models import AuditEntry
from console.platform import roles
from tests.conftest import make_user
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def test_a_client_registers_an_endpoint_and_gets_its_secret_once(api, api_user):
    created = api.post(
        "/api/webhooks/endpoints",
        {"url": "https://shop.example/hooks", "eventTypes": ["OrderShipped", "OrderCancelled"]},
        format="json",
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["eventTypes"] == ["OrderCancelled", "OrderShipped"] and body["enabled"] is True
    shown = api.get(f"/api/webhooks/endpoints/{body['id']}").json()
    assert "secret" not in shown
    assert AuditEntry.objects.filter(action="webhook.endpoint.create", object_id=body["id"], actor=api_user).exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.7:8443/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://localhost/hooks",
        "https://db.internal/hooks",
    ],
)
def test_endpoints_on_local_and_private_addresses_are_refused(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False  # as on AWS
    refused = api.post("/api/webhooks/endpoints", {"url": url}, format="json")

    assert refused.status_code == 400 and "url" in refused.json()["errors"], refused.content
    assert not Endpoint.objects.exists()
    assert api.post("/api/webhooks/endpoints", {"url": "https://93.184.215.14/hooks"}, format="json").status_code == 201


def test_bad_input_names_its_field(api, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    plain = api.post("/api/webhooks/endpoints", {"url": "http://shop.example/hooks"}, format="json")
    unknown = api.post(
        "/api/webhooks/endpoints",
        {"url": "https://shop.example/hooks", "eventTypes": ["OrderTeleported"]},
        format="json",
    )

    assert plain.status_code == 400 and "url" in plain.json()["errors"]
    assert unknown.status_code == 400 and "eventTypes" in str(unknown.json()["errors"])
    assert not Endpoint.objects.exists()


def test_another_client_finds_the_endpoint_missing(api):
    endpoint_id = api.post("/api/webhooks/endpoints", {"url": "https://shop.example/hooks"}, format="json").json()["id"]
    other = client_for(make_user("other-shop", roles.API_CLIENT, staff=False))

    assert other.get(f"/api/webhooks/endpoints/{endpoint_id}").status_code == 404
    assert other.get("/api/webhooks/endpoints").json()["results"] == []
    assert other.post(f"/api/webhooks/endpoints/{endpoint_id}/rotate-secret").status_code == 404


def test_rotating_keeps_the_old_secret_for_the_grace_period(api, django_capture_on_commit_callbacks):
    first = api.post("/api/webhooks/endpoints", {"url": "https://shop.example/hooks"}, format="json").json()

    rotated = api.post(f"/api/webhooks/endpoints/{first['id']}/rotate-secret").json()

    endpoint = Endpoint.objects.get(pk=first["id"])
    assert rotated["secret"] != first["secret"] and endpoint.previous_secret == first["secret"]
    assert rotated["previousSecretExpiresAt"]


def test_disabling_and_enabling_are_audited_and_enabling_clears_the_failures(api):
    endpoint_id = api.post("/api/webhooks/endpoints", {"url": "https://shop.example/hooks"}, format="json").json()["id"]
    Endpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=7)

    off = api.patch(f"/api/webhooks/endpoints/{endpoint_id}", {"enabled": False}, format="json").json()
    on = api.patch(f"/api/webhooks/endpoints/{endpoint_id}", {"enabled": True}, format="json").json()

    assert off["enabled"] is False and on["enabled"] is True and on["consecutiveFailures"] == 0
    assert AuditEntry.objects.filter(action="webhook.endpoint.update", object_id=endpoint_id).count() == 2


def test_a_replay_needs_an_order_or_a_range(api):
    refused = api.post("/api/webhooks/replay", {}, format="json")
    backwards = api.post(
        "/api/webhooks/replay", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, format="json"
    )

    assert refused.status_code == 400 and "orderId" in refused.json()["errors"]
    assert backwards.status_code == 400 and "until" in backwards.json()["errors"]
