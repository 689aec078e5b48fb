"""Signing as the Standard Webhooks spec says (https://www.standardwebhooks.com), with the
``standardwebhooks`` package: ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``, space-separated
when more than one secret signs, as during a rotation)."""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 24 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(*, webhook_id: str, body: bytes, secrets_in_use: list[str], now: datetime) -> dict[str, str]:
    """The three headers for ``body``, signed with each secret in ``secrets_in_use``."""
    signatures = [Webhook(secret).sign(msg_id=webhook_id, timestamp=now, data=body) for secret in secrets_in_use]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
