"""Lambda functions of the realtime app.

``websocket_event`` takes the WebSocket API's events ($connect, $disconnect, $default), routed
by our entry point (``LAMBDA_WEBSOCKET_FUNCTION``), on the API function and, locally, in the
dev stack's gateway. ``order_status_pushes`` takes the realtime-pushes queue's SQS batches
(zappa_settings.json): order events, raw from the order-events topic; a message that fails
is reported in ``batchItemFailures`` (Powertools' ``BatchProcessor``), retried alone and
ends in the queue's dead-letter queue.
"""

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from realtime import services
from realtime.models import Connection

logger = logging.getLogger(__name__)


def _answer(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"statusCode": status}
    if body is not None:
        answer["body"] = json.dumps(body)
    return answer


def _token(event: dict[str, Any]) -> str:
    query = event.get("queryStringParameters") or {}
    if query.get("token"):
        return query["token"]
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() in ("bearer", "token") else ""


def websocket_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request = event["requestContext"]
    connection_id = request["connectionId"]
    kind = request["eventType"]
    if kind == "CONNECT":
        try:
            services.connection_open(
                connection_id=connection_id,
                token=_token(event),
                endpoint=services.management_endpoint(domain_name=request["domainName"], stage=request["stage"]),
            )
        except services.ConnectRefused as refused:
            logger.info("connection %s refused: %s", connection_id, refused)
            return _answer(refused.status, {"error": str(refused)})
        return _answer(200)
    if kind == "DISCONNECT":
        services.connection_close(connection_id=connection_id)
        return _answer(200)
    return _message(connection_id, event.get("body") or "")


def _message(connection_id: str, body: str) -> dict[str, Any]:
    """A client's message: ``{"action": "subscribe", "orders": "mine" | [order ids]}``."""
    try:
        message = json.loads(body)
    except ValueError:
        return _answer(400, {"type": "error", "errors": {"body": ["Not JSON."]}})
    if not isinstance(message, dict) or message.get("action") != "subscribe":
        return _answer(400, {"type": "error", "errors": {"action": ['Only "subscribe".']}})
    try:
        connection = services.connection_subscribe(connection_id=connection_id, orders=message.get("orders", "mine"))
    except services.SubscriptionInvalid as invalid:
        return _answer(400, {"type": "error", "errors": invalid.errors})
    except Connection.DoesNotExist:
        return _answer(410, {"type": "error", "errors": {"connection": ["Not connected."]}})
    orders = "mine" if connection.all_orders else connection.order_ids
    return _answer(200, {"type": "subscribed", "orders": orders})


def order_status_pushes(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    # Imported here, not at the top: this module also answers WebSocket connects on the API
    # function, whose cold start should not load the batch utility (a few tens of ms).
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    # One processor per invocation (it holds the batch while it runs). A batch that fails
    # whole is reported, not raised: its messages count as FailedMessages, not as an error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=_order_event_push, processor=processor)


def _order_event_push(record: "SQSRecord") -> None:
    try:
        services.order_status_push(event=json.loads(record.body))
    except Exception:
        logger.exception("push of message %s failed", record.message_id)
        raise
