"""The WebSocket API of API Gateway, played locally (``python -m console.devtools.websocket_gateway``).

Accepts WebSocket connections and turns them into the same events API Gateway sends the
function (``requestContext.eventType`` CONNECT, MESSAGE, DISCONNECT; ``routeKey`` $connect,
$default, $disconnect), run by the function the entry point routes them to
(``LAMBDA_WEBSOCKET_FUNCTION``), imported in this process as the local consumer's execution
environments import theirs. As on AWS:

* $connect: the function's answer decides; a status other than 200 refuses the handshake
  with that status.
* $default: a ``body`` in the function's answer is sent back to the client (the route's
  ``RouteResponseSelectionExpression`` is ``$default`` in infra/template.yaml).
* $disconnect: after the client or the server closed; its answer is ignored.

It also serves the management API the function pushes with: ``POST /<api-id>/<stage>/@connections/<id>``
(PostToConnection, 410 ``GoneException`` for a connection not open here) and ``DELETE``
(DeleteConnection), on ``--management-port``: ``WEBSOCKET_MANAGEMENT_URL`` is
``http://127.0.0.1:<management-port>/<api-id>/<stage>``. The API's id is the one the local
deploy created (``--api-id``, or found by the stage's API name).
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

logger = logging.getLogger("websocket_gateway")

# API Gateway runs each event in an invocation of its own; these many at once here.
INVOCATION_THREADS = 8


def websocket_api_id(*, endpoint_url: str, name: str, region: str = "us-east-1") -> str:
    """The id of the WebSocket API named ``name`` at ``endpoint_url`` (the local deploy's)."""
    import boto3  # lazy: cold start (only the gateway and its starters need the SDK)

    client = boto3.client("apigatewayv2", endpoint_url=endpoint_url, region_name=region)
    for api in client.get_apis()["Items"]:
        if api["Name"] == name and api["ProtocolType"] == "WEBSOCKET":
            return api["ApiId"]
    raise LookupError(f"no WebSocket API {name!r} at {endpoint_url}")


def management_url(*, port: int, api_id: str, stage: str) -> str:
    return f"http://127.0.0.1:{port}/{api_id}/{stage}"


def gateway_command(*, port: int, management_port: int, api_id: str, stage: str) -> list[str]:
    import sys

    return [
        sys.executable,
        "-m",
        "console.devtools.websocket_gateway",
        f"--port={port}",
        f"--management-port={management_port}",
        f"--api-id={api_id}",
        f"--stage={stage}",
    ]


class Gateway:
    def __init__(self, *, api_id: str, stage: str, region: str, port: int, function):
        self.api_id = api_id
        self.stage = stage
        self.domain_name = f"{api_id}.execute-api.{region}.amazonaws.com"
        self.port = port
        self.function = function
        self.pool = ThreadPoolExecutor(INVOCATION_THREADS, thread_name_prefix="invocation")
        self.open: dict[str, Any] = {}  # connection id -> websockets connection
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- Lambda events --------------------------------------------------------------------

    def _request_context(self, connection_id: str, route: str, kind: str, connected_at: int) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "routeKey": route,
            "eventType": kind,
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": connected_at,
            "requestTimeEpoch": now,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
            "domainName": self.domain_name,
            "connectionId": connection_id,
            "apiId": self.api_id,
        }

    def _invoke_now(self, event: dict[str, Any]) -> dict[str, Any]:
        from django.db import close_old_connections  # lazy: app loading (Django is set up in main)

        from console.devtools.local_consumer import LambdaContext  # lazy: app loading (imports Django models)

        close_old_connections()
        try:
            return self.function(event, LambdaContext("websocket-gateway")) or {"statusCode": 200}
        except Exception:
            logger.exception("the function raised on a %s event", event["requestContext"]["eventType"])
            return {"statusCode": 500}
        finally:
            close_old_connections()

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._invoke_now, event)

    # --- WebSocket side -------------------------------------------------------------------

    async def process_request(self, connection, request):
        connection_id = base64.b64encode(secrets.token_bytes(10)).decode()
        connected_at = int(time.time() * 1000)
        query = dict(parse_qsl(urlsplit(request.path).query))
        headers = {name: value for name, value in request.headers.raw_items()}
        event = {
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
            "requestContext": self._request_context(connection_id, "$connect", "CONNECT", connected_at),
            "isBase64Encoded": False,
        }
        answer = await self.invoke(event)
        status = int(answer.get("statusCode", 200))
        if status != 200:
            return connection.respond(status, answer.get("body") or "Forbidden")
        connection.gateway_id = connection_id
        connection.connected_at = connected_at
        return None

    async def handler(self, connection) -> None:
        connection_id = connection.gateway_id
        self.open[connection_id] = connection
        try:
            async for frame in connection:
                body = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                context = self._request_context(connection_id, "$default", "MESSAGE", connection.connected_at)
                context["messageId"] = base64.b64encode(secrets.token_bytes(10)).decode()
                answer = await self.invoke({"requestContext": context, "body": body, "isBase64Encoded": False})
                if answer.get("body"):
                    await connection.send(answer["body"])
        except Exception as exc:  # a client that went away mid-frame is a disconnect like any other
            logger.info("connection %s ended: %s", connection_id, exc)
        finally:
            self.open.pop(connection_id, None)
            context = self._request_context(connection_id, "$disconnect", "DISCONNECT", connection.connected_at)
            context["disconnectStatusCode"] = connection.close_code or 1006
            context["disconnectReason"] = connection.close_reason or ""
            await self.invoke({"headers": {}, "requestContext": context, "isBase64Encoded": False})

    # --- Management API (@connections) ----------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> bool:
        connection = self.open.get(connection_id)
        if connection is None:
            return False
        text = data.decode("utf-8", "replace")
        future = asyncio.run_coroutine_threadsafe(connection.send(text), self.loop)
        try:
            future.result(timeout=5)
        except Exception:
            return False
        return True

    def close(self, connection_id: str) -> bool:
        connection = self.open.get(connection_id)
        if connection is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.close(), self.loop).result(timeout=5)
        return True

    def management_server(self, port: int) -> ThreadingHTTPServer:
        gateway = self
        prefix = f"/{self.api_id}/{self.stage}/@connections/"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _connection_id(self) -> str | None:
                path = urlsplit(self.path).path
                return unquote(path[len(prefix) :]) if path.startswith(prefix) else None

            def _reply(self, status: int, body: dict[str, Any] | None = None, error: str = "") -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.end_headers()
                self.wfile.write(data)

            def _gone(self) -> None:
                self._reply(410, {"message": None, "__type": "GoneException"}, "GoneException")

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection_id = self._connection_id()
                if connection_id is None:
                    return self._reply(404, {"message": "Not Found"}, "NotFoundException")
                if not gateway.post(connection_id, data):
                    return self._gone()
                return self._reply(200)

            def do_DELETE(self) -> None:  # noqa: N802
                connection_id = self._connection_id()
                if connection_id is None:
                    return self._reply(404, {"message": "Not Found"}, "NotFoundException")
                if not gateway.close(connection_id):
                    return self._gone()
                return self._reply(204)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                logger.debug(format, *args)

        return ThreadingHTTPServer(("127.0.0.1", port), Handler)

    async def serve(self, management_port: int) -> None:
        from websockets.asyncio.server import serve  # lazy: cold start (a development tool's package)

        self.loop = asyncio.get_running_loop()
        server = self.management_server(management_port)
        threading.Thread(target=server.serve_forever, name="management", daemon=True).start()
        async with serve(self.handler, "127.0.0.1", self.port, process_request=self.process_request) as ws:
            logger.info(
                "WebSocket API %s on ws://127.0.0.1:%d, @connections on http://127.0.0.1:%d/%s/%s",
                self.api_id,
                self.port,
                management_port,
                self.api_id,
                self.stage,
            )
            await ws.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Play API Gateway's WebSocket API locally.")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--management-port", type=int, default=8002)
    parser.add_argument("--api-id", default="", help="the WebSocket API's id (default: found by its name)")
    parser.add_argument("--stage", default="", help="the stage (default: the STAGE setting)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.dev")
    import django  # lazy: app loading (the gateway sets the environment first)

    django.setup()
    from django.conf import settings  # lazy: app loading (after django.setup)

    from console.devtools.local_consumer import import_function  # lazy: app loading (after django.setup)

    args.stage = args.stage or settings.STAGE
    api_id = args.api_id or websocket_api_id(
        endpoint_url=settings.AWS_ENDPOINT_URL,
        name=f"{settings.RESOURCE_PREFIX}-{args.stage}-websocket",
        region=settings.AWS_REGION,
    )
    os.environ["WEBSOCKET_MANAGEMENT_URL"] = management_url(port=args.management_port, api_id=api_id, stage=args.stage)
    settings.WEBSOCKET_MANAGEMENT_URL = os.environ["WEBSOCKET_MANAGEMENT_URL"]
    gateway = Gateway(
        api_id=api_id,
        stage=args.stage,
        region=settings.AWS_REGION,
        port=args.port,
        function=import_function(settings.LAMBDA_WEBSOCKET_FUNCTION),
    )
    asyncio.run(gateway.serve(args.management_port))


if __name__ == "__main__":
    main()
