"""The console's ``web`` process as API Gateway and the API function behind it, for their
metrics: what API Gateway publishes for a REST API (AWS/ApiGateway Count, Latency,
4XXError and 5XXError by ApiName, and by ApiName and Stage) and what Lambda publishes for
the API function (AWS/Lambda Invocations, Duration and Errors by FunctionName), put into
the local AWS's CloudWatch every ``LOCAL_AWS_METRICS_SECONDS``.

The dev settings serve the console through ``application`` (``WSGI_APPLICATION``), so
``make run``'s ``web`` is counted as the deployed API is. The API is named as Zappa names
it, after the function: ``<project_name>-<stage>``.
"""

import atexit
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from console.aws import clients as aws
from console.devtools import local_metrics
from console.runtime.stage import zappa_stage_settings

API_GATEWAY = "AWS/ApiGateway"


class ApiGatewayMetrics:
    """WSGI middleware: each request counts as one API Gateway request and one invocation
    of the API function (a 5xx or an exception is a function error, as Zappa answers it)."""

    def __init__(self, app: Callable, *, api_name: str, stage: str, buffer: local_metrics.MetricBuffer):
        self.app = app
        self.api_name = api_name
        self.stage = stage
        self.buffer = buffer

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.monotonic()
        statuses: list[int] = []

        def capture(status: str, headers, exc_info=None):
            statuses.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, capture)
        except Exception:
            statuses.append(500)
            raise
        finally:
            self.record(status=statuses[-1] if statuses else 500, milliseconds=(time.monotonic() - started) * 1000)

    def record(self, *, status: int, milliseconds: float) -> None:
        for dimensions in ((("ApiName", self.api_name),), (("ApiName", self.api_name), ("Stage", self.stage))):
            self.buffer.count(API_GATEWAY, "Count", dimensions)
            self.buffer.add(API_GATEWAY, "Latency", dimensions, milliseconds, unit="Milliseconds")
            self.buffer.add(API_GATEWAY, "4XXError", dimensions, 1 if 400 <= status < 500 else 0)
            self.buffer.add(API_GATEWAY, "5XXError", dimensions, 1 if status >= 500 else 0)
        local_metrics.lambda_invocation(
            self.buffer, function_name=self.api_name, duration_ms=milliseconds, error=status >= 500
        )


def api_function_name() -> str:
    """``<project_name>-<stage>``: the API function's name, and Zappa's name for its API."""
    return f"{zappa_stage_settings(settings.STAGE)['project_name']}-{settings.STAGE}"


def with_metrics(app: Callable) -> ApiGatewayMetrics:
    """``app`` counted, its metrics put every ``LOCAL_AWS_METRICS_SECONDS`` by a thread of
    this process (and once more at exit)."""
    buffer = local_metrics.MetricBuffer(local_metrics.cloudwatch_put(lambda: aws.client("cloudwatch")))
    buffer.run(threading.Event())
    atexit.register(buffer.flush)
    return ApiGatewayMetrics(app, api_name=api_function_name(), stage=settings.STAGE, buffer=buffer)


def _application() -> ApiGatewayMetrics:
    from django.core.wsgi import get_wsgi_application

    return with_metrics(get_wsgi_application())


application = _application()
