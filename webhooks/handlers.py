"""Lambda handler of the webhooks queue (worker function, zappa_settings.json).

The queue carries two kinds of message:

* an order event, as the outbox publishes it to the order-events topic (SNS delivers it
  raw): fanned out into one delivery per endpoint that wants it, each queued as
* ``{"deliveryId": ...}``: one attempt, within WEBHOOK_TIMEOUT_SECONDS. A failed attempt
  stays on the queue, invisible for the retry's delay (WEBHOOK_RETRY_BASE_SECONDS, doubled
  each time: SQS's receive count is the attempt's number); after WEBHOOK_MAX_ATTEMPTS the
  delivery is failed and SQS moves the message to the webhooks dead-letter queue (the
  queue's maxReceiveCount).

Returns ``{"batchItemFailures": [...]}``: only the failed messages are tried again. The
list is built here rather than by Powertools' ``BatchProcessor``, whose unit is one message:
the batch's visibility is set in one call and its order events are fanned out together, in
one transaction.
"""

import json
import logging
from uuid import UUID

from django.conf import settings

from webhooks import queue, services

logger = logging.getLogger(__name__)


def webhooks_queue(event: dict, context=None) -> dict:
    failures = []
    events = []
    attempts = []
    for record in event.get("Records", []):
        try:
            body = _message(record["body"])
        except ValueError as exc:
            # One malformed message fails alone: the rest of the batch is worked on.
            logger.warning("webhooks: message %s %s; left for the dead-letter queue", record["messageId"], exc)
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        if "deliveryId" in body:
            attempts.append((record, UUID(body["deliveryId"])))
        else:
            events.append((record, body))
    # Held only as long as the work before each takes (attempts one after another, then
    # the fan-out), not the queue's 90 minutes: a crashed invocation's messages come back soon.
    held = [record["receiptHandle"] for record, _ in attempts] + [record["receiptHandle"] for record, _ in events]
    try:
        queue.hold_for_attempts(receipt_handles=held, seconds_each=settings.WEBHOOK_TIMEOUT_SECONDS + 5)
    except Exception:
        logger.warning("webhooks: the batch's visibility not set; the queue's applies", exc_info=True)
    for record, delivery_id in attempts:
        if not _attempt(record, delivery_id):
            failures.append({"itemIdentifier": record["messageId"]})
    if events:
        try:
            services.deliveries_fan_out(messages=[body for _, body in events])
        except Exception:
            # One at a time, so that an event that cannot be fanned out holds back no other.
            logger.warning("webhooks: fan-out of %d events failed; each is tried alone", len(events), exc_info=True)
            for record, body in events:
                try:
                    services.deliveries_fan_out(messages=[body])
                except Exception:
                    logger.exception("webhooks: fan-out of event %s failed; it stays on the queue", body["eventId"])
                    failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def _message(text: str) -> dict:
    """A message's body: a delivery (``deliveryId``) or an order event (``eventId``,
    ``aggregateId``, ``eventType``). Raises ValueError saying what is wrong."""
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("is not a JSON object")
    if "deliveryId" in body:
        UUID(str(body["deliveryId"]))
        return body
    for name in ("eventId", "aggregateId"):
        if name not in body:
            raise ValueError(f"has neither deliveryId nor {name}")
        UUID(str(body[name]))
    if not isinstance(body.get("eventType"), str):
        raise ValueError("has no eventType")
    return body


def _attempt(record: dict, delivery_id: UUID) -> bool:
    """One attempt of a delivery: True when the message is done with."""
    number = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    last_try = number >= settings.WEBHOOK_MAX_ATTEMPTS
    try:
        outcome = services.delivery_attempt(delivery_id=delivery_id, last_try=last_try)
    except Exception:
        logger.exception("webhooks: delivery %s could not be attempted", delivery_id)
        return False
    if outcome.delivered or outcome.number == 0:  # delivered, or nothing to try (skipped, gone)
        return True
    # Failed: tried again after the delay, or (the last try) moved to the dead-letter queue
    # by SQS at once.
    delay = 0 if last_try else services.retry_delay_seconds(number)
    try:
        queue.delay_retry(receipt_handle=record["receiptHandle"], seconds=delay)
    except Exception:
        logger.warning(
            "webhooks: delay of delivery %s not set; the queue's visibility applies", delivery_id, exc_info=True
        )
    return False
