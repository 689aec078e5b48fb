"""Real-time updates: WebSocket connections and the pushes of order status changes.

Connections come and go with API Gateway's $connect and $disconnect; a connection receives
the status changes of the orders its user created (``Order.created_by``), all of them or
those it subscribed to. Pushes run off the request path: the order-events topic feeds the
realtime-pushes queue, whose handler calls ``order_status_push`` once per event (at least
once: a client tells a repeated push by its ``eventId``).
"""

import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from rest_framework.exceptions import AuthenticationFailed

from console.api.rest import BearerTokenAuthentication
from orders.models import Order
from orders.services import EVENT_TYPES
from realtime import connections
from realtime.models import Connection

logger = logging.getLogger(__name__)

# What a subscription may name at once.
MAX_SUBSCRIBED_ORDERS = 100
# The permission a token's user needs to connect (API clients have it).
CONNECT_PERMISSION = "orders.view_order"
STATUS_BY_EVENT_TYPE = {event_type: status for status, event_type in EVENT_TYPES.items()}


class ConnectRefused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class SubscriptionInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def management_endpoint(*, domain_name: str, stage: str) -> str:
    """Where PostToConnection reaches a connection that came in by ``domain_name``/``stage``."""
    return settings.WEBSOCKET_MANAGEMENT_URL or f"https://{domain_name}/{stage}"


def connection_open(*, connection_id: str, token: str, endpoint: str) -> Connection:
    """Authenticate ``token`` (an API token) and record the connection, subscribed to all of
    its user's orders. Raises ``ConnectRefused`` (401 for a missing or bad token, 403 for a
    user who may not read orders)."""
    if not token:
        raise ConnectRefused(401, "no token")
    try:
        user, _token = BearerTokenAuthentication().authenticate_credentials(token.encode())
    except AuthenticationFailed as exc:
        raise ConnectRefused(401, str(exc.detail)) from None
    if not user.has_perm(CONNECT_PERMISSION):
        raise ConnectRefused(403, "this user may not read orders")
    connection, _created = Connection.objects.update_or_create(
        connection_id=connection_id,
        defaults={"user": user, "endpoint": endpoint, "all_orders": True, "order_ids": []},
    )
    return connection


def connection_close(*, connection_id: str) -> bool:
    """Forget the connection ($disconnect, or a push answered 410). Safe to repeat."""
    deleted, _ = Connection.objects.filter(connection_id=connection_id).delete()
    return bool(deleted)


def connection_subscribe(*, connection_id: str, orders: Any) -> Connection:
    """Subscribe the connection to ``"mine"`` (all its user's orders, the default) or to a
    list of order ids, each one its user created. Raises ``SubscriptionInvalid`` with field
    errors, and ``Connection.DoesNotExist`` for an unknown connection."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(connection_id=connection_id)
        if orders == "mine":
            connection.all_orders, connection.order_ids = True, []
        else:
            connection.all_orders, connection.order_ids = False, _own_order_ids(connection, orders)
        connection.save(update_fields=["all_orders", "order_ids"])
    return connection


def _own_order_ids(connection: Connection, orders: Any) -> list[str]:
    if not isinstance(orders, list) or not orders:
        raise SubscriptionInvalid({"orders": ['"mine", or a list of order ids.']})
    if len(orders) > MAX_SUBSCRIBED_ORDERS:
        raise SubscriptionInvalid({"orders": [f"At most {MAX_SUBSCRIBED_ORDERS} orders."]})
    ids: list[str] = []
    for value in orders:
        try:
            ids.append(str(uuid.UUID(str(value))))
        except ValueError:
            raise SubscriptionInvalid({"orders": [f"{str(value)[:40]!r} is not an order id."]}) from None
    own = {
        str(pk) for pk in Order.objects.filter(pk__in=ids, created_by=connection.user_id).values_list("pk", flat=True)
    }
    unknown = [order_id for order_id in ids if order_id not in own]
    if unknown:
        # Another client's order and no order at all look alike.
        raise SubscriptionInvalid({"orders": [f"No order {order_id} of yours." for order_id in unknown[:10]]})
    return sorted(set(ids))


def order_status_push(*, event: dict[str, Any]) -> int:
    """Push one order event (the outbox's message body) to the connections of the order's
    owner subscribed to it. A connection answered 410 is deleted. Returns how many
    connections got it; other errors propagate, so the event is tried again (every
    connection may then get it twice)."""
    order_id = event["aggregateId"]
    owner_id = Order.objects.filter(pk=order_id).values_list("created_by_id", flat=True).first()
    if owner_id is None:
        return 0
    data = event.get("data") or {}
    message = {
        "type": "orderStatusChanged",
        "eventId": event["eventId"],
        "eventType": event["eventType"],
        "orderId": order_id,
        "status": data.get("status") or STATUS_BY_EVENT_TYPE.get(event["eventType"]),
        "previousStatus": data.get("previousStatus"),
        "version": event.get("version"),
        "timestamp": event.get("timestamp"),
    }
    pushed = 0
    for connection in Connection.objects.filter(user_id=owner_id).only(
        "connection_id", "endpoint", "all_orders", "order_ids"
    ):
        if not connection.all_orders and order_id not in connection.order_ids:
            continue
        try:
            connections.post_to_connection(
                endpoint=connection.endpoint, connection_id=connection.connection_id, message=message
            )
        except connections.ConnectionGone:
            logger.info("connection %s is gone; forgotten", connection.connection_id)
            connection_close(connection_id=connection.connection_id)
            continue
        pushed += 1
    return pushed
