"""AWS's own metrics, played locally: what Lambda, API Gateway, SQS, S3 and Step Functions
publish into CloudWatch by themselves on AWS, put into the local AWS's CloudWatch by the
local processes that play those services (the local AWS, the consumer, the console's
``web`` process), under AWS's namespaces, metric names and dimensions. So the console reads
them with the same code locally and on AWS (``ops.costs``, ``ops.metrics``).

A ``MetricBuffer`` adds up what happened per metric and per minute, as CloudWatch stores
one-minute statistics, and puts the sums every ``seconds`` (PutMetricData with
``StatisticValues``): one call a flush, never one per event. No Django here: the local AWS
process has no settings.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

Dimensions = tuple[tuple[str, str], ...]
Put = Callable[[str, list[dict[str, Any]]], None]

# How often the local processes put what they counted (AWS: every minute); the tests ask
# for every second or two.
DEFAULT_SECONDS = 60.0


def flush_seconds() -> float:
    return float(os.environ.get("LOCAL_AWS_METRICS_SECONDS", str(DEFAULT_SECONDS)))


class MetricBuffer:
    """One-minute statistics of metrics, waiting to be put."""

    def __init__(self, put: Put):
        self._put = put
        self._lock = threading.Lock()
        # (namespace, name, dimensions, unit, minute) -> [count, sum, min, max]
        self._stats: dict[tuple[str, str, Dimensions, str, int], list[float]] = {}

    def add(self, namespace: str, name: str, dimensions: Dimensions, value: float, *, unit: str = "Count") -> None:
        """One sample of a metric, now (``value`` for a count is how many happened)."""
        minute = int(time.time()) // 60 * 60
        key = (namespace, name, dimensions, unit, minute)
        with self._lock:
            stats = self._stats.get(key)
            if stats is None:
                self._stats[key] = [1.0, float(value), float(value), float(value)]
            else:
                stats[0] += 1
                stats[1] += value
                stats[2] = min(stats[2], value)
                stats[3] = max(stats[3], value)

    def count(self, namespace: str, name: str, dimensions: Dimensions, how_many: float = 1) -> None:
        """``how_many`` more of a count metric (Invocations, NumberOfMessagesSent): its
        Sum grows by that, as AWS's counts do."""
        if how_many:
            self.add(namespace, name, dimensions, how_many)

    def flush(self) -> int:
        """Put every statistic gathered since the last flush; returns how many. What the
        local AWS refuses is dropped (logged): metrics are not worth a retry loop here."""
        with self._lock:
            stats, self._stats = self._stats, {}
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for (namespace, name, dimensions, unit, minute), (count, total, low, high) in stats.items():
            by_namespace.setdefault(namespace, []).append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
                    "Timestamp": datetime.fromtimestamp(minute, tz=UTC),
                    "StatisticValues": {"SampleCount": count, "Sum": total, "Minimum": low, "Maximum": high},
                    "Unit": unit,
                }
            )
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), 1000):
                try:
                    self._put(namespace, data[start : start + 1000])
                except Exception:
                    logger.warning("putting %s metrics into the local AWS failed", namespace, exc_info=True)
        return len(stats)

    def run(self, stop: threading.Event, seconds: float | None = None) -> threading.Thread:
        """Flush every ``seconds`` (``LOCAL_AWS_METRICS_SECONDS``) in a daemon thread until
        ``stop`` is set, and once more then."""
        every = seconds if seconds is not None else flush_seconds()

        def loop() -> None:
            while not stop.wait(every):
                self.flush()
            self.flush()

        thread = threading.Thread(target=loop, name="local-metrics", daemon=True)
        thread.start()
        return thread


def cloudwatch_put(client_factory: Callable[[], Any]) -> Put:
    """A ``Put`` through the CloudWatch client ``client_factory`` returns."""

    def put(namespace: str, data: list[dict[str, Any]]) -> None:
        client_factory().put_metric_data(Namespace=namespace, MetricData=data)

    return put


# --- Lambda ----------------------------------------------------------------------------------

LAMBDA = "AWS/Lambda"


def lambda_invocation(buffer: MetricBuffer, *, function_name: str, duration_ms: float, error: bool) -> None:
    """What Lambda publishes for one invocation: Invocations, Duration (ms) and Errors, by
    FunctionName."""
    dimensions = (("FunctionName", function_name),)
    buffer.count(LAMBDA, "Invocations", dimensions)
    buffer.add(LAMBDA, "Duration", dimensions, duration_ms, unit="Milliseconds")
    buffer.add(LAMBDA, "Errors", dimensions, 1 if error else 0)
