"""``Idempotency-Key`` for POST endpoints: a client that retries a request (timeout, lost
connection) gets the first result back instead of making a second order.

* The same key with the same body (and path) answers with the first response, marked
  ``Idempotent-Replayed: true``; the same key with another body is refused with 422.
* Keys belong to one API client (user) and are remembered for
  ``IDEMPOTENCY_KEY_TTL_SECONDS``.
* The key is written in the same transaction as the change, so it exists only if the
  change committed. A concurrent request with the same key waits on the key's unique index
  until the first one commits, then answers with its result: never two orders.
* Only successful (2xx) responses are kept; after an error the client may retry with the
  same key.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from console.api.rest import problem
from console.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_KEPT_HEADERS = ("Location",)


def fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    path = request.path.rstrip("/")
    return hashlib.sha256(f"{request.method} {path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyKey) -> Response:
    headers = {**record.response_headers, "Idempotent-Replayed": "true"}
    return Response(record.response_body, status=record.response_status, headers=headers)


def _mismatch(key: str) -> Response:
    return problem(
        status.HTTP_422_UNPROCESSABLE_ENTITY,
        "Idempotency key reused.",
        "idempotency_key_reused",
        f"The {HEADER} {key!r} was already used with a different request body or path.",
        {HEADER: ["Used before with another request; send a new key for a new request."]},
    )


def idempotent_post(request: Request, handle: Callable[[], Response]) -> Response:
    """Run ``handle`` once per (client, key); without the header, just run it."""
    key = request.headers.get(HEADER)
    if key is None:
        return handle()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        return problem(
            status.HTTP_400_BAD_REQUEST,
            "Invalid input.",
            "invalid",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.",
            {HEADER: [f"Send 1 to {MAX_KEY_LENGTH} printable characters, e.g. a UUID."]},
        )
    digest = fingerprint(request)
    expired_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    with transaction.atomic():
        existing = _claim(request.user, key, digest, expired_before)
        if existing is not None:
            return _replay(existing) if existing.fingerprint == digest else _mismatch(key)
        response = handle()
        if not status.is_success(response.status_code):
            # Nothing is remembered for a failed request: the key may be used again.
            transaction.set_rollback(True)
            return response
        IdempotencyKey.objects.filter(user=request.user, key=key).update(
            response_status=response.status_code,
            # As the client received it (numbers, dates and ids rendered to JSON).
            response_body=json.loads(JSONRenderer().render(response.data)) if response.data is not None else None,
            response_headers={name: response[name] for name in _KEPT_HEADERS if response.has_header(name)},
        )
    return response


def _claim(user, key: str, digest: str, expired_before) -> IdempotencyKey | None:
    """Insert the key (ours now: returns None) or return the committed record that has it."""
    for _attempt in range(2):
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    user=user, key=key, fingerprint=digest, response_status=0, response_body=None
                )
            return None
        except IntegrityError:
            existing = IdempotencyKey.objects.get(user=user, key=key)
            if existing.created_at >= expired_before:
                return existing
            # Remembered too long ago: forget it and take the key afresh.
            IdempotencyKey.objects.filter(pk=existing.pk).delete()
    raise IntegrityError(f"could not claim idempotency key {key!r}")


def idempotency_keys_purge(*, older_than_seconds: int | None = None) -> int:
    """Forget keys past their time to live. Returns how many."""
    ttl = settings.IDEMPOTENCY_KEY_TTL_SECONDS if older_than_seconds is None else older_than_seconds
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(seconds=ttl)).delete()
    return deleted


def purge_expired_keys(event: dict, context=None) -> dict:
    """Scheduled (zappa_settings.json ``events``): forgets expired idempotency keys."""
    return {"deleted": idempotency_keys_purge()}
