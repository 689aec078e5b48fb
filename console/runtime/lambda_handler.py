"""The Lambda entry point: ``lambda_handler`` in zappa_settings.json.

Every event goes on to Zappa's handler (``zappa.handler.lambda_handler``): HTTP events
(API Gateway REST and HTTP APIs, function URLs) are served by Django; SQS, S3 and SNS
records are routed by their source ARN to the functions in ``events``; schedules, Zappa
async tasks, ``{"command": "module.function"}`` and ``{"manage": "..."}`` events are
dispatched as Zappa documents. This wrapper adds:

* An event with ``Records`` that no function is mapped to raises ``UnroutedEvent``, and
  so does an event of a kind Zappa has no route for (except a CloudWatch alarm's Lambda
  action, passed to ``LAMBDA_ALARM_ACTION_FUNCTION`` by Zappa's direct-command route).
  Zappa only logs such an event and returns None, which Lambda counts as success: an
  SQS batch would be deleted, an S3 notification dropped. Raised, the SQS messages stay
  on their queue (and reach its dead-letter queue after maxReceiveCount), and an S3
  event is retried by Lambda and then sent to the function's dead-letter queue.
* WebSocket API events (``requestContext.eventType`` CONNECT, DISCONNECT, MESSAGE) go to
  ``LAMBDA_WEBSOCKET_FUNCTION`` before Zappa sees them (realtime.handlers.websocket_event).
* Each invocation is observed (``console.platform.observability``): its request id and function
  name on every log line, the ``ColdStart`` metric once per process, ``Errors`` when an
  invocation fails and ``FailedMessages`` for records a batch handler reports failed.
* Database connections are checked around every invocation, not only HTTP ones.

Under SnapStart (the prod stage's API function) the handler's import registers the runtime
hooks of ``console.runtime.snapstart`` and defers no import; elsewhere it defers what
``console.runtime.deferred_imports`` lists.
"""

import gc
from typing import Any

from console.runtime import snapstart
from console.runtime.deferred_imports import defer_startup_imports

# A cold start builds hundreds of thousands of long-lived objects (modules, classes, URL
# patterns, Django's app registry): garbage collection passes over them repeatedly while
# they are being made, for nothing. Collection is off until the first invocation has set
# everything up (or, under SnapStart, until the snapshot is prepared), then that heap is
# frozen out of future collections and it is on again.
gc.disable()

if snapstart.enabled():
    # Everything is imported and set up before the snapshot (console.runtime.snapstart):
    # nothing to defer.
    snapstart.register_hooks()
else:
    # Modules imported at start-up that most requests never use, loaded on first use
    # instead (console.runtime.deferred_imports): boto3 and botocore (requests that call
    # AWS load them then).
    defer_startup_imports()

from zappa import handler as zappa_handler  # noqa: E402

from console.platform import observability  # noqa: E402


class UnroutedEvent(RuntimeError):
    """A record-carrying event that no function in zappa_settings.json ``events`` handles."""


def lambda_handler(event: Any, context: Any) -> Any:
    # Zappa's handler is a per-process singleton: the first call loads zappa_settings
    # (the generated module) and Django, later calls reuse them.
    app = zappa_handler.LambdaHandler()
    with observability.invocation(context):
        close_stale_connections()
        try:
            if isinstance(event, dict) and event.get("Records"):
                require_route(app, event["Records"][0])
            elif isinstance(event, dict) and not zappa_routes(event):
                event = route_outside_zappa(event)
            if isinstance(event, dict) and websocket_event(event):
                result = app.run_function(websocket_function(app), event, context)
            else:
                result = zappa_handler.lambda_handler(event, context)
        except Exception:
            observability.metric("Errors", kind="invocation")
            raise
        finally:
            close_stale_connections()
            if not gc.isenabled():  # the first invocation is over, whatever its outcome
                gc.freeze()
                gc.enable()
        if isinstance(result, dict) and result.get("batchItemFailures"):
            observability.metric("FailedMessages", len(result["batchItemFailures"]))
        return result


def close_stale_connections() -> None:
    """What Django does around each HTTP request, around every invocation: close database
    connections past DATABASE_CONN_MAX_AGE or broken (the database or RDS Proxy may drop
    them while the function is idle), so SQS, S3, schedule and task invocations never start
    on a dead one. Never inside an open transaction (a test's)."""
    from django.db import close_old_connections, connections

    if not any(connection.in_atomic_block for connection in connections.all(initialized_only=True)):
        close_old_connections()


# Keys by which Zappa's handler recognises an event (zappa.handler.LambdaHandler.handler).
_ZAPPA_EVENT_KEYS = ("httpMethod", "command", "raw_command", "manage", "Records", "bot", "triggerSource", "awslogs")


def zappa_routes(event: dict[str, Any]) -> bool:
    """Whether Zappa's handler has a route for ``event`` (else it returns None unseen)."""
    return bool(
        event.get("version") == "2.0"
        or any(event.get(key) for key in _ZAPPA_EVENT_KEYS)
        or event.get("detail-type") == "Scheduled Event"
        or event.get("type") == "TOKEN"
        or event.get("requestContext", {}).get("eventType") in ("CONNECT", "DISCONNECT", "MESSAGE")
    )


def websocket_event(event: dict[str, Any]) -> bool:
    """Whether ``event`` comes from an API Gateway WebSocket API ($connect, $disconnect or a
    message). Zappa's own route for these needs a module found at deploy time and wired by
    decorators; ours goes, with the whole event, to ``LAMBDA_WEBSOCKET_FUNCTION``."""
    context = event.get("requestContext")
    return isinstance(context, dict) and context.get("eventType") in ("CONNECT", "DISCONNECT", "MESSAGE")


def websocket_function(app: Any) -> Any:
    from django.conf import settings

    return app.import_module_and_get_function(settings.LAMBDA_WEBSOCKET_FUNCTION)


def route_outside_zappa(event: dict[str, Any]) -> dict[str, Any]:
    """An event Zappa has no route for: a CloudWatch alarm's Lambda action goes to
    ``LAMBDA_ALARM_ACTION_FUNCTION`` through Zappa's direct-command route (the function gets
    the alarm's payload); anything else raises ``UnroutedEvent`` instead of vanishing."""
    from django.conf import settings

    function = getattr(settings, "LAMBDA_ALARM_ACTION_FUNCTION", "")
    if event.get("source") == "aws.cloudwatch" and "alarmData" in event and function:
        return {**event, "command": function}
    raise UnroutedEvent(f"No route for an event with keys {sorted(event)[:10]}; it is failed, not dropped.")


def require_route(app: Any, record: dict[str, Any]) -> None:
    """Raise ``UnroutedEvent`` unless Zappa maps ``record`` to a function (Zappa decides,
    with the same rule it routes by: the first record's source)."""
    if app.get_function_for_aws_event(record):
        return
    source = (
        record.get("eventSourceARN")
        or record.get("EventSubscriptionArn")
        or record.get("s3", {}).get("bucket", {}).get("arn")
        or record.get("eventSource")
        or "an unknown source"
    )
    raise UnroutedEvent(
        f"No function in the {app.settings.API_STAGE!r} stage's events handles {source}; "
        "the event is failed so that it is retried and dead-lettered, not lost."
    )
