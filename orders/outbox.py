"""The order event table as an outbox: every event is published to the SNS topic
``order-events``, once, whatever crashes.

An event is committed with the change it records (``published_at`` empty). Then:

* right after the commit, the request that made it publishes it (``outbox_publish_events``);
* a schedule (``publish_pending_events``, every minute) publishes whatever is still
  unpublished: events whose request died between commit and publish, events written by
  set-based imports, events SNS refused.

Publishing locks the events it takes (``FOR UPDATE SKIP LOCKED``), publishes, and marks
them published in the same transaction, so concurrent relays never publish the same event
in the normal course. If the process dies after SNS accepted a message but before the mark
commits, the event is published again later: the duplicate carries the same ``eventId``
(in the body and as a message attribute), so consumers drop it. At least once, with
idempotent consumers, is what SNS offers anyway.

Each message: ``{"eventId", "aggregateId", "version", "eventType", "data", "timestamp",
"metadata": {"correlationId", "causationId", "actor"}}`` with the String message
attributes ``eventType`` (for subscription filter policies, as in the reference architecture's fan-out),
``eventId`` and ``orderId``. SNS standard topics do not keep order: consumers order an
order's events by ``version``.
"""

import logging
import time
from collections.abc import Iterable
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from console.aws import resources, sns
from orders.models import OrderEvent

logger = logging.getLogger(__name__)

BATCH_SIZE = 100


def event_message(event: OrderEvent) -> sns.Message:
    return sns.Message(
        id=event.pk.hex,
        body={
            "eventId": str(event.pk),
            "aggregateId": str(event.order_id),
            "version": event.version,
            "eventType": event.event_type,
            "data": event.data,
            "timestamp": event.created_at.isoformat(),
            "metadata": {
                "correlationId": event.correlation_id,
                "causationId": event.causation_id,
                "actor": event.actor_name,
            },
        },
        attributes={"eventType": event.event_type, "eventId": str(event.pk), "orderId": str(event.order_id)},
    )


def _publish_locked(events: list[OrderEvent]) -> int:
    """Publish events this transaction has locked and mark those SNS accepted."""
    if not events:
        return 0
    by_message_id = {event.pk.hex: event for event in events}
    published, failed = sns.publish_batch(
        topic_arn=resources.topic_arn(resources.ORDER_EVENTS_TOPIC),
        messages=[event_message(event) for event in events],
    )
    for message_id, code in failed.items():
        logger.warning("SNS refused event %s (%s); it stays in the outbox", by_message_id[message_id].pk, code)
    if published:
        OrderEvent.objects.filter(pk__in=[by_message_id[message_id].pk for message_id in published]).update(
            published_at=timezone.now()
        )
    return len(published)


def outbox_publish_events(*, event_ids: Iterable[UUID]) -> int:
    """Publish these events if still unpublished (after their commit). Returns how many."""
    with transaction.atomic():
        events = list(
            OrderEvent.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(event_ids), published_at__isnull=True)
            .order_by("created_at", "version")
        )
        return _publish_locked(events)


def outbox_publish_pending(*, batch_size: int = BATCH_SIZE, time_budget_seconds: float = 20.0) -> int:
    """Publish unpublished events, oldest first, batch by batch, until none is left or the
    time budget is spent. Returns how many were published."""
    deadline = time.monotonic() + time_budget_seconds
    total = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            events = list(
                OrderEvent.objects.select_for_update(skip_locked=True)
                .filter(published_at__isnull=True)
                .order_by("created_at", "version")[:batch_size]
            )
            published = _publish_locked(events)
        total += published
        if len(events) < batch_size or published == 0:
            break
    return total


def publish_after_commit(event: OrderEvent) -> None:
    """Queue the publication of ``event`` for when its transaction commits. A failure is
    logged, never raised: the schedule publishes what is left."""
    from django.conf import settings

    if not settings.ORDER_EVENTS_PUBLISH_ON_COMMIT:
        return
    event_id = event.pk

    def publish() -> None:
        try:
            outbox_publish_events(event_ids=[event_id])
        except Exception:
            logger.warning("event %s not published after commit; the schedule will", event_id, exc_info=True)

    transaction.on_commit(publish)


def publish_pending_events(event: dict, context=None) -> dict:
    """Scheduled (zappa_settings.json ``events``): publishes what is left in the outbox,
    within the invocation's remaining time."""
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 30.0
    return {"published": outbox_publish_pending(time_budget_seconds=max(1.0, remaining - 5.0))}
