"""The only module that talks to an API Gateway WebSocket API's management endpoint
(``@connections``): PostToConnection. Locally the endpoint is the gateway of the dev stack
(console/devtools/websocket_gateway.py)."""

import json
from typing import Any

from console.aws import clients as aws


class ConnectionGone(Exception):
    """API Gateway answered 410: the client is no longer connected."""


def post_to_connection(*, endpoint: str, connection_id: str, message: dict[str, Any]) -> None:
    """Send ``message`` (as JSON) to one connection. Raises ``ConnectionGone`` for a
    connection that is gone; other AWS errors propagate (the caller retries)."""
    client = aws.client_at("apigatewaymanagementapi", endpoint)
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(message).encode())
    except client.exceptions.GoneException as exc:
        raise ConnectionGone(connection_id) from exc
