"""Logs, metrics and traces: one small API for every area of the console.

* ``correlation(order_id=..., execution_arn=..., approval_id=...)``: a context manager that
  tags every log line written inside it (and, when tracing is on, the X-Ray subsegment)
  with those ids; ``@with_correlation("approval_id")`` does it for a service's arguments.
  The request id (``console.platform.context``) and the Lambda invocation (``invocation(...)``)
  are added to every line without asking.
* ``metric(name, value=1, unit="Count", **dimensions)``: a business metric. On Lambda (or
  with ``METRICS_EMF`` on) it is printed as one CloudWatch Embedded Metric Format line,
  which CloudWatch Logs turns into a metric without any API call; elsewhere it is only
  counted in memory (``recorded_metrics()``) and logged at DEBUG.
* ``traced(name)``: an X-Ray subsegment around a function when ``TRACING_ENABLED`` is on
  and aws-xray-sdk is in the package; otherwise the function is simply called.

Log lines are JSON on Lambda (Powertools' formatter, so CloudWatch Logs Insights can query
the ids) and human-readable elsewhere (``LOG_FORMAT`` chooses; see settings).

Cold starts: this module is imported while Django configures logging, so it imports
nothing beyond the standard library at import time. Powertools is imported by the first
JSON log line or metric, X-Ray only when tracing is on.
"""

import contextvars
import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from console.platform.context import current_request_id

logger = logging.getLogger(__name__)

# Ids that tie a log line to the work behind it; order matters only for plain-text lines.
CORRELATION_KEYS = ("request_id", "order_id", "execution_arn", "approval_id")

_correlation: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("correlation", default=None)
_invocation: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("invocation", default=None)
_local_metrics: Counter = Counter()
_cold_start = True


# --- Correlation ids ------------------------------------------------------------------


@contextmanager
def correlation(**ids: Any) -> Iterator[None]:
    """Tag what happens inside with ``ids`` (empty values are ignored; inner values win)."""
    added = {key: str(value) for key, value in ids.items() if value not in (None, "")}
    token = _correlation.set({**(_correlation.get() or {}), **added})
    if added:
        _annotate_trace(added)
    try:
        yield
    finally:
        _correlation.reset(token)


def with_correlation(*names: str) -> Callable[[Callable], Callable]:
    """Decorator for keyword-only services: tag the call with the named arguments, e.g.
    ``@with_correlation("approval_id")`` on ``approval_decide(*, approval_id, ...)``."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with correlation(**{name: kwargs.get(name) for name in names}):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def correlation_ids() -> dict[str, str]:
    """The ids in effect here: the request id, then those set with ``correlation``."""
    ids = {}
    request_id = current_request_id()
    if request_id:
        ids["request_id"] = request_id
    ids.update(_correlation.get() or {})
    return ids


class CorrelationFilter(logging.Filter):
    """Copies the correlation ids and the Lambda invocation onto every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in {**(_invocation.get() or {}), **correlation_ids()}.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class PlainFormatter(logging.Formatter):
    """Human-readable lines for local runs, with the correlation ids at the end."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in CORRELATION_KEYS if getattr(record, key, ""))
        return f"{text} [{ids}]" if ids else text


def json_formatter(**keys: Any) -> logging.Formatter:
    """Powertools' JSON formatter (used by the ``json`` LOG_FORMAT): level, location,
    message, timestamp, service, the X-Ray trace id, and every extra attribute of the
    record (the correlation ids and the invocation among them)."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    return LambdaPowertoolsFormatter(utc=True, use_rfc3339=True, **keys)


# --- Lambda invocations ------------------------------------------------------------------


@contextmanager
def invocation(context: Any) -> Iterator[bool]:
    """Wraps one Lambda invocation: its request id and function name go on every log line;
    the first invocation of the process records the ``ColdStart`` metric. Yields whether
    this is the cold start."""
    global _cold_start
    cold, _cold_start = _cold_start, False
    details = {
        "function_request_id": getattr(context, "aws_request_id", ""),
        "function_name": getattr(context, "function_name", ""),
        "cold_start": cold,
    }
    token = _invocation.set({key: value for key, value in details.items() if value != ""})
    try:
        if cold:
            metric("ColdStart")
        yield cold
    finally:
        _invocation.reset(token)


def restored() -> None:
    """The process was restored from a SnapStart snapshot: its next invocation is its cold
    start (console.runtime.snapstart)."""
    global _cold_start
    _cold_start = True


# --- Metrics ------------------------------------------------------------------------------


def metric(name: str, value: float = 1, unit: str = "Count", **dimensions: Any) -> None:
    """Record ``value`` of metric ``name`` (CloudWatch namespace ``METRICS_NAMESPACE``).

    Dimensions are few and low-cardinality (``decision="approved"``), never ids. Never
    raises: a metric that cannot be written is logged and dropped, the work goes on.
    """
    from django.conf import settings

    _local_metrics[name] += value
    if not getattr(settings, "METRICS_EMF", False):
        logger.debug("metric %s=%s %s %s", name, value, unit, dimensions or "")
        return
    try:
        _emit_emf(
            name,
            value,
            unit,
            namespace=settings.METRICS_NAMESPACE,
            dimensions={"service": f"{settings.RESOURCE_PREFIX}-{settings.STAGE}", **dimensions},
        )
    except Exception:
        logger.exception("could not write metric %s", name)


def count_request_error(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    """``got_request_exception`` receiver: one ``Errors`` (kind=request) per failed request."""
    metric("Errors", kind="request")


def _emit_emf(name: str, value: float, unit: str, *, namespace: str, dimensions: dict[str, Any]) -> None:
    # One EMF document per call: written at once, so it is never lost with a process
    # that ends (or a Lambda invocation that fails) before a flush.
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    provider = AmazonCloudWatchEMFProvider(namespace=namespace)
    provider.add_metric(name=name, unit=unit, value=value)
    for key, dimension in dimensions.items():
        provider.add_dimension(name=key, value=str(dimension))
    provider.flush_metrics()


def recorded_metrics() -> Counter:
    """What ``metric`` recorded in this process (for tests and local inspection)."""
    return _local_metrics


# --- Traces ----------------------------------------------------------------------------------


@functools.cache
def _tracer() -> Any:
    from django.conf import settings

    if not getattr(settings, "TRACING_ENABLED", False):
        return None
    try:
        from aws_lambda_powertools.tracing import Tracer

        # Only botocore is patched: AWS calls become subsegments; nothing else is wrapped.
        tracer = Tracer(service=f"{settings.RESOURCE_PREFIX}-{settings.STAGE}", auto_patch=False)
        tracer.patch(["botocore"])
        return tracer
    except ImportError:
        logger.warning("TRACING_ENABLED is on but aws-xray-sdk is not installed; tracing stays off")
        return None


def traced(name: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: run the function in an X-Ray subsegment named ``name`` when tracing is on.
    Whether it is on is decided at call time, so importing a traced module costs nothing."""

    def decorate(function: Callable) -> Callable:
        segment_name = name or f"## {function.__module__}.{function.__qualname__}"

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tracer = _tracer()
            if tracer is None:
                return function(*args, **kwargs)
            with tracer.provider.in_subsegment(name=segment_name) as subsegment:
                for key, value in (_correlation.get() or {}).items():
                    subsegment.put_annotation(key=key, value=value)
                return function(*args, **kwargs)

        return wrapper

    return decorate


def _annotate_trace(ids: dict[str, str]) -> None:
    tracer = _tracer()
    if tracer is None:
        return
    for key, value in ids.items():
        try:
            tracer.put_annotation(key=key, value=value)
        except Exception:  # no open segment (outside an invocation): nothing to annotate
            logger.debug("no open trace segment for %s", key)
