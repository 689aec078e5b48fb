"""Webhooks' writes: endpoints (create, change, delete, rotate the secret), the fan-out of
an order event to the endpoints that want it, one delivery attempt, redelivery and replay.
Each change made by a person is atomic and audited; messages are sent after the commit.
"""

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from orders.models import Order, OrderEvent
from orders.outbox import event_message
from orders.services import EVENT_TYPES
from orders.subscribers import QueueSubscriber, queue_replay
from webhooks import queue, signing
from webhooks.models import Delivery, Endpoint

logger = logging.getLogger(__name__)

Source = AuditEntry.Source


class WebhookRefused(Exception):
    """Input the services refuse: ``field`` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _endpoint_state(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "eventTypes": endpoint.event_types,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "owner": endpoint.owner_id,
    }


# The order events' types an endpoint may ask for: the status changes', and notes.
ORDER_EVENT_TYPES = sorted({*EVENT_TYPES.values(), "OrderStatusChanged", "OrderNoteAdded"})


def check_event_types(event_types: list[str]) -> None:
    unknown = sorted(set(event_types) - set(ORDER_EVENT_TYPES))
    if unknown:
        raise WebhookRefused("eventTypes", f"Unknown event types: {', '.join(unknown)}.")


def check_url(url: str) -> None:
    if not url.startswith("https://") and not (settings.WEBHOOK_ALLOW_HTTP and url.startswith("http://")):
        raise WebhookRefused("url", "An HTTPS URL.")
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        raise WebhookRefused("url", "A URL with a host name.")
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return
    if host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
        raise WebhookRefused("url", "An address on the public internet, not a local or internal name.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: its addresses are checked at each attempt (private_address)
    if not address.is_global:
        raise WebhookRefused("url", f"An address on the public internet: {address} is not one.")


def private_address(url: str) -> str:
    """Why a delivery must not go to ``url`` (a name that resolves to a private, loopback,
    link-local or otherwise non-public address: the function's own network, the Lambda
    runtime API, an instance metadata service), or "" when it may. Checked at every attempt,
    as a name may point elsewhere than when it was registered."""
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return ""
    parts = urlsplit(url)
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"{parts.hostname} does not resolve: {exc}"
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not address.is_global:
            return f"{parts.hostname} resolves to {address}, not a public address: not sent"
    return ""


def endpoint_create(
    *,
    owner,
    url: str,
    event_types: list[str],
    description: str = "",
    enabled: bool = True,
    actor,
    source: str = Source.API,
) -> Endpoint:
    check_url(url)
    check_event_types(event_types)
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            owner=owner,
            url=url,
            event_types=sorted(set(event_types)),
            description=description,
            enabled=enabled,
            disabled_reason="" if enabled else "Registered disabled.",
            secret=signing.new_secret(),
        )
        audit_record(
            action="webhook.endpoint.create", obj=endpoint, actor=actor, source=source, after=_endpoint_state(endpoint)
        )
    return endpoint


def endpoint_update(*, endpoint: Endpoint, actor, source: str = Source.API, **changes: Any) -> Endpoint:
    """Change ``url``, ``event_types``, ``description`` or ``enabled``. Enabling an endpoint
    clears its failure count."""
    if "url" in changes:
        check_url(changes["url"])
    check_event_types(changes.get("event_types", []))
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _endpoint_state(endpoint)
        for name, value in changes.items():
            setattr(endpoint, name, sorted(set(value)) if name == "event_types" else value)
        if changes.get("enabled"):
            endpoint.consecutive_failures = 0
            endpoint.disabled_reason = ""
        elif changes.get("enabled") is False:
            endpoint.disabled_reason = f"Disabled by {actor.get_username()}."
        endpoint.save()
        audit_record(
            action="webhook.endpoint.update",
            obj=endpoint,
            actor=actor,
            source=source,
            before=before,
            after=_endpoint_state(endpoint),
        )
    return endpoint


def endpoint_delete(*, endpoint: Endpoint, actor, source: str = Source.API) -> None:
    with transaction.atomic():
        audit_record(
            action="webhook.endpoint.delete", obj=endpoint, actor=actor, source=source, before=_endpoint_state(endpoint)
        )
        endpoint.delete()


def endpoint_rotate_secret(*, endpoint: Endpoint, actor, source: str = Source.API) -> Endpoint:
    """A new secret signs from now on; the old one signs too (both signatures in
    ``webhook-signature``) for WEBHOOK_SECRET_ROTATION_GRACE_SECONDS, so receivers can
    switch without losing a delivery."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(
            seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS
        )
        endpoint.secret = signing.new_secret()
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        audit_record(
            action="webhook.endpoint.rotate_secret",
            obj=endpoint,
            actor=actor,
            source=source,
            after={"previousSecretExpiresAt": endpoint.previous_secret_expires_at.isoformat()},
        )
    return endpoint


def _send_on_commit(delivery_ids: list[UUID]) -> None:
    if delivery_ids:
        transaction.on_commit(lambda: queue.send_deliveries(delivery_ids))


# --- Fan-out ----------------------------------------------------------------------------------


def webhook_payload(message: dict[str, Any]) -> dict[str, Any]:
    """The body sent: the Standard Webhooks envelope (type, timestamp, data) around the
    order event exactly as the outbox publishes it."""
    return {"type": message["eventType"], "timestamp": message["timestamp"], "data": message}


def _deliveries_for(*, events: list[dict[str, Any]], endpoints_of: dict[Any, list[Endpoint]]) -> list[UUID]:
    """Deliveries (made where missing, made pending again where they exist) of ``events``
    (outbox messages) to the endpoints of each event's order's client that want its type."""
    wanted = []
    for message in events:
        owner_id = endpoints_of.get("order:" + message["aggregateId"])
        for endpoint in endpoints_of.get(owner_id, []):
            if endpoint.wants(message["eventType"]):
                wanted.append(
                    Delivery(
                        endpoint=endpoint,
                        event_id=UUID(message["eventId"]),
                        event_type=message["eventType"],
                        order_id=UUID(message["aggregateId"]),
                        payload=webhook_payload(message),
                        event_created_at=datetime.fromisoformat(message["timestamp"]),
                    )
                )
    if not wanted:
        return []
    Delivery.objects.bulk_create(wanted, ignore_conflicts=True)
    pairs = {(d.endpoint_id, d.event_id) for d in wanted}
    found = Delivery.objects.filter(
        endpoint_id__in={p[0] for p in pairs}, event_id__in={p[1] for p in pairs}
    ).values_list("pk", "endpoint_id", "event_id")
    return [pk for pk, endpoint_id, event_id in found if (endpoint_id, event_id) in pairs]


def _endpoint_index(order_ids: set[str], endpoints) -> dict[Any, Any]:
    """``{"order:<id>": owner id, owner id: [endpoints]}`` for these orders."""
    index: dict[Any, Any] = {}
    owners = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "created_by_id"))
    for order_id, owner_id in owners.items():
        index["order:" + str(order_id)] = owner_id
    for endpoint in endpoints.filter(owner_id__in={o for o in owners.values() if o is not None}):
        index.setdefault(endpoint.owner_id, []).append(endpoint)
    return index


def deliveries_fan_out(*, messages: list[dict[str, Any]]) -> int:
    """Deliveries of these order events (as the outbox published them) to the enabled
    endpoints that want them, queued after the commit. Safe to run twice: a delivery is
    unique per endpoint and event. Returns how many deliveries were queued."""
    index = _endpoint_index({m["aggregateId"] for m in messages}, Endpoint.objects.filter(enabled=True))
    with transaction.atomic():
        ids = _deliveries_for(events=messages, endpoints_of=index)
        # Only those not yet sent: a fan-out run again must not resend what was delivered.
        ids = list(
            Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING, attempts=0).values_list("pk", flat=True)
        )
        _send_on_commit(ids)
    return len(ids)


# --- One attempt --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    # False when there is nothing left to try (delivered, skipped, or the delivery is gone).
    retry: bool
    number: int


def _secrets_in_use(endpoint: Endpoint, now: datetime) -> list[str]:
    in_use = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        in_use.append(endpoint.previous_secret)
    return in_use


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer, a failure (HTTP 3xx), never followed: following
    it would send the event to an address nobody checked."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    refused = private_address(url)
    if refused:
        return None, refused
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={**headers, "content-type": "application/json", "user-agent": "ops-console-webhooks"},
    )
    try:
        with _OPENER.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:500]


def delivery_attempt(*, delivery_id: UUID, last_try: bool) -> AttemptOutcome:
    """POST the delivery to its endpoint, signed, with WEBHOOK_TIMEOUT_SECONDS; record the
    attempt. A 2xx delivers it; anything else counts a failure of the endpoint (which
    disables it at WEBHOOK_DISABLE_AFTER_FAILURES in a row), and ``last_try`` marks the
    delivery failed for good."""
    delivery = Delivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (Delivery.Status.SUCCEEDED, Delivery.Status.SKIPPED):
        logger.info("webhook delivery %s: nothing to send (%s)", delivery_id, delivery and delivery.status)
        return AttemptOutcome(delivered=delivery is not None, retry=False, number=0)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SKIPPED, last_error="endpoint disabled")
        return AttemptOutcome(delivered=False, retry=False, number=0)
    now = timezone.now()
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = signing.signed_headers(
        webhook_id=delivery.webhook_id, body=body, secrets_in_use=_secrets_in_use(endpoint, now), now=now
    )
    started = time.monotonic()
    status_code, error = _post(endpoint.url, body, headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    delivered = status_code is not None and 200 <= status_code < 300
    logger.info(
        "webhook delivery %s (%s) to endpoint %s: %s in %d ms",
        delivery.pk,
        delivery.webhook_id,
        endpoint.pk,
        status_code or error,
        duration_ms,
    )
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        delivery.attempts += 1
        delivery.attempt_set.create(
            number=delivery.attempts,
            started_at=now,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error,
            succeeded=delivered,
        )
        delivery.last_status_code = status_code
        delivery.last_error = error
        if delivered:
            delivery.status = Delivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            Endpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
        else:
            if last_try:
                delivery.status = Delivery.Status.FAILED
            _count_failure(endpoint)
        delivery.save()
    return AttemptOutcome(delivered=delivered, retry=not delivered and not last_try, number=delivery.attempts)


def _count_failure(endpoint: Endpoint) -> None:
    Endpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    disabled = Endpoint.objects.filter(pk=endpoint.pk, enabled=True, consecutive_failures__gte=limit).update(
        enabled=False, disabled_reason=f"{limit} failed attempts in a row."
    )
    if disabled:
        audit_record(
            action="webhook.endpoint.disable",
            obj=endpoint,
            reason=f"{limit} failed attempts in a row",
            source=Source.SYSTEM,
        )


def retry_delay_seconds(attempt: int) -> int:
    """Exponential: WEBHOOK_RETRY_BASE_SECONDS, doubled after each failed attempt."""
    return int(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1))


# --- Redelivery and replay ------------------------------------------------------------------------


def _requeue(ids: list[UUID]) -> None:
    Delivery.objects.filter(pk__in=ids).update(status=Delivery.Status.PENDING)
    _send_on_commit(ids)


def delivery_redeliver(*, delivery: Delivery, actor, source: str = Source.API) -> Delivery:
    """Send a delivery again (same ``webhook-id``), whatever its status."""
    with transaction.atomic():
        _requeue([delivery.pk])
        audit_record(action="webhook.delivery.redeliver", obj=delivery, actor=actor, source=source)
    delivery.refresh_from_db()
    return delivery


def endpoint_redeliver_failed(*, endpoint: Endpoint, actor, source: str = Source.API) -> int:
    """Send every failed or skipped delivery of the endpoint again. Returns how many."""
    with transaction.atomic():
        ids = list(
            endpoint.deliveries.filter(status__in=[Delivery.Status.FAILED, Delivery.Status.SKIPPED]).values_list(
                "pk", flat=True
            )
        )
        _requeue(ids)
        audit_record(
            action="webhook.endpoint.redeliver_failed",
            obj=endpoint,
            actor=actor,
            source=source,
            after={"deliveries": len(ids)},
        )
    return len(ids)


def events_replay(
    *,
    endpoints,
    actor,
    queues: list[QueueSubscriber] | tuple = (),
    order_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str = Source.API,
) -> dict[str, Any]:
    """Publish again the events of one order or of a time range, oldest first, to
    ``endpoints`` (a queryset: one endpoint, all a user may manage, or none) and to
    ``queues`` (queue subscribers of the order events topic, ``orders.subscribers``). Each
    event keeps its id, so receivers see the same ``webhook-id`` (and queues the same
    ``eventId``) as the first time. Only the events of the endpoints' own clients' orders go
    to them; a queue gets what its subscription's filter policy lets through. Raises
    WebhookRefused past WEBHOOK_REPLAY_MAX_EVENTS events, or for a queue the replay cannot
    reach as SNS would."""
    events = OrderEvent.objects.order_by("created_at", "version")
    if order_id is not None:
        events = events.filter(order_id=order_id)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    limit = settings.WEBHOOK_REPLAY_MAX_EVENTS
    chosen = list(events[: limit + 1])
    if len(chosen) > limit:
        raise WebhookRefused("since", f"More than {limit} events: replay a shorter range.")
    messages = [event_message(event) for event in chosen]
    for subscriber in queues:
        if subscriber.unsupported:
            raise WebhookRefused("queue", f"{subscriber.name}: {subscriber.unsupported}")
    # The queues first: a replay is idempotent for receivers, so one that fails half way is
    # run again; the audit entry records what was sent.
    sent = {subscriber.name: queue_replay(subscriber=subscriber, messages=messages) for subscriber in queues}
    bodies = [message.body for message in messages]
    index = _endpoint_index({m["aggregateId"] for m in bodies}, endpoints)
    targets = [*endpoints.values_list("pk", flat=True)[:2]]
    with transaction.atomic():
        ids = _deliveries_for(events=bodies, endpoints_of=index)
        _requeue(ids)
        if len(targets) == 1 and not queues:
            target = {"object_type": "webhooks.endpoint", "object_id": str(targets[0])}
        elif len(queues) == 1 and not targets:
            target = {"object_type": "orders.queue_subscriber", "object_id": queues[0].name}
        else:
            target = {"object_type": "webhooks.endpoint", "object_id": "all"}
        audit_record(
            action="webhook.replay",
            **target,
            actor=actor,
            source=source,
            after={
                "orderId": str(order_id) if order_id else None,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "events": len(messages),
                "deliveries": len(ids),
                "queues": sent,
            },
        )
    return {"events": len(messages), "deliveries": len(ids), "queues": sent}
