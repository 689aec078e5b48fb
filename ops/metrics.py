"""The console's metrics over time: what it publishes itself every minute (approvals
waiting, decision latency, orders created, completed and failed, redrive throughput), and
the series its charts read back from CloudWatch (those, and AWS/SQS's own queue metrics,
which the local AWS plays: console/devtools/localaws.py).

Counts are computed from the database, never sent where the thing happens: set-based
imports create orders without passing through any one place, and a metric call in a
request's path would slow every decision. Each minute is published once, one minute
late (so transactions open at its end have committed), under a row lock on its
``MetricMark``; a schedule that stopped for a while catches up on at most ``CATCH_UP``.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.aws.resources import resource_name
from console.pages.dashboard import Chart, Series
from ops import cloudwatch, selectors, sqs
from ops.cloudwatch import MetricQuery
from ops.models import Alarm, AlarmEvent, MetricMark
from orders.selectors import order_event_counts_per_minute
from workflows.selectors import approval_decision_seconds_per_minute, approval_waiting_count

APPROVALS_WAITING = "ApprovalsWaiting"
DECISION_SECONDS = "ApprovalDecisionSeconds"
REDRIVE_MOVED = "RedriveMessagesMoved"
# Order event type -> the metric counting it.
ORDER_EVENT_METRICS = {
    "OrderCreated": "OrdersCreated",
    "OrderCompleted": "OrdersCompleted",
    "OrderFailed": "OrdersFailed",
}
CATCH_UP = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
MARK = "app-metrics"

SQS_NAMESPACE = "AWS/SQS"
SQS_DEPTH = "ApproximateNumberOfMessagesVisible"
SQS_OLDEST_AGE = "ApproximateAgeOfOldestMessage"

# An alarm's state as a value on its timeline chart.
ALARM_STATE_VALUES = {Alarm.State.OK: 0, Alarm.State.INSUFFICIENT_DATA: 1, Alarm.State.ALARM: 2}
ALARM_STATE_LABELS = {0: "OK", 1: "Insufficient data", 2: "In alarm"}


def stage_dimensions() -> tuple[tuple[str, str], ...]:
    """The dimension of the console's own metrics: stages of one account share the namespace."""
    return (("Stage", resource_name("").rstrip("-")),)


def _datum(name: str, value: float, *, at: datetime, unit: str = "Count") -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in stage_dimensions()],
        "Timestamp": at,
        "Value": float(value),
        "Unit": unit,
    }


def app_metrics_publish(*, now: datetime | None = None) -> dict[str, int]:
    """Publish approvals waiting (now) and, for each whole minute not yet published,
    orders created, completed and failed, redriven messages (0 for a quiet minute) and the
    decisions' latency (minutes with decisions only). Returns the minutes published and
    the approvals waiting. Raises botocore's errors, and then nothing is marked."""
    now = now or timezone.now()
    until = now.replace(second=0, microsecond=0) - MINUTE
    waiting = approval_waiting_count()
    data = [_datum(APPROVALS_WAITING, waiting, at=now)]
    minutes = 0
    with transaction.atomic():
        mark, _ = MetricMark.objects.select_for_update().get_or_create(
            name=MARK, defaults={"published_until": until - MINUTE}
        )
        start = max(mark.published_until, until - CATCH_UP)
        if start < until:
            events = order_event_counts_per_minute(event_types=list(ORDER_EVENT_METRICS), start=start, end=until)
            moved = selectors.redrive_moved_per_minute(start=start, end=until)
            decisions = approval_decision_seconds_per_minute(start=start, end=until)
            minute = start
            while minute < until:
                for event_type, metric in ORDER_EVENT_METRICS.items():
                    data.append(_datum(metric, events.get((event_type, minute), 0), at=minute))
                data.append(_datum(REDRIVE_MOVED, moved.get(minute, 0), at=minute))
                if seconds := decisions.get(minute):
                    datum = _datum(DECISION_SECONDS, 0, at=minute, unit="Seconds")
                    del datum["Value"]
                    datum["StatisticValues"] = {
                        "SampleCount": float(len(seconds)),
                        "Sum": sum(seconds),
                        "Minimum": min(seconds),
                        "Maximum": max(seconds),
                    }
                    data.append(datum)
                minute += MINUTE
                minutes += 1
            mark.published_until = until
            mark.save(update_fields=["published_until"])
        # Sent inside the transaction: refused data leaves the mark where it was.
        cloudwatch.put_metrics(data)
    return {"minutes": minutes, "approvals_waiting": waiting}


# --- Reading back: the charts ----------------------------------------------------------------


def _window(*, hours: float, period: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) covering ``hours`` up to now, the start on a period boundary (as
    CloudWatch aligns periods), the end after the current period."""
    now = now or timezone.now()
    epoch = int(now.timestamp())
    end = datetime.fromtimestamp(epoch - epoch % period + period, tz=now.tzinfo)
    return end - timedelta(hours=hours) - timedelta(seconds=period), end


def _ms(stamp: datetime) -> int:
    return int(stamp.timestamp() * 1000)


def _chart(queries: list[tuple[str, MetricQuery]], *, hours: float, **options) -> Chart:
    """A chart of each (label, query)'s points over the last ``hours``."""
    period = max(query.period for _, query in queries) if queries else 300
    start, end = _window(hours=hours, period=period)
    found = cloudwatch.metric_series(queries=[query for _, query in queries], start=start, end=end)
    series = [Series(label, [(_ms(at), value) for at, value in found[query.id]]) for label, query in queries]
    return Chart(series, window=(_ms(start), _ms(end)), **options)


def _own(name: str, stat: str, period: int, id_: str) -> MetricQuery:
    return MetricQuery(id_, settings.OPS_METRIC_NAMESPACE, name, stage_dimensions(), stat, period)


def _queue_queries(metric: str) -> list[tuple[str, MetricQuery]]:
    prefix = resource_name("")
    return [
        (name.removeprefix(prefix), MetricQuery(f"q{i}", SQS_NAMESPACE, metric, (("QueueName", name),), "Maximum", 300))
        for i, name in enumerate(sqs.stage_queue_names())
    ]


def queue_depth_chart() -> Chart:
    return _chart(
        _queue_queries(SQS_DEPTH),
        hours=3,
        unit="messages",
        description="Messages waiting in each queue and dead-letter queue of the stage, highest in each 5 minutes.",
    )


def queue_age_chart() -> Chart:
    return _chart(
        _queue_queries(SQS_OLDEST_AGE),
        hours=3,
        unit="seconds",
        description="Age of the oldest message in each queue and dead-letter queue, highest in each 5 minutes.",
    )


def approvals_waiting_chart() -> Chart:
    return _chart(
        [("Approvals waiting", _own(APPROVALS_WAITING, "Maximum", 300, "waiting"))],
        hours=3,
        unit="approvals",
        description="Approvals waiting for a decision, highest in each 5 minutes.",
    )


def decision_latency_chart() -> Chart:
    queries = [
        ("Average", _own(DECISION_SECONDS, "Average", 3600, "avg")),
        ("Longest", _own(DECISION_SECONDS, "Maximum", 3600, "max")),
    ]
    return _chart(
        queries,
        hours=24,
        unit="seconds",
        description="Seconds from an approval's request to its decision, per hour over the last day.",
    )


def orders_per_hour_chart() -> Chart:
    labels = {"OrdersCreated": "Created", "OrdersCompleted": "Completed", "OrdersFailed": "Failed"}
    queries = [(label, _own(metric, "Sum", 3600, metric.lower())) for metric, label in labels.items()]
    return _chart(
        queries,
        hours=24,
        unit="orders",
        kind="bar",
        description="Orders created, completed and failed in each hour of the last day.",
    )


def redrive_throughput_chart() -> Chart:
    return _chart(
        [("Messages redriven", _own(REDRIVE_MOVED, "Sum", 3600, "moved"))],
        hours=24,
        unit="messages",
        kind="bar",
        description="Dead-letter messages sent back to their queues by redrives, per hour over the last day.",
    )


def alarm_metric_chart(*, alarm: Alarm, hours: float = 3) -> Chart | None:
    """The metric ``alarm`` watches over the last ``hours``, at the alarm's period and
    statistic, with its threshold as a dashed line; None for an alarm without one metric
    (a composite alarm, or one on metric math)."""
    if not alarm.metric_name or not alarm.namespace:
        return None
    period = alarm.period or 300
    query = MetricQuery(
        "alarm",
        alarm.namespace,
        alarm.metric_name,
        tuple(sorted((alarm.dimensions or {}).items())),
        alarm.statistic or "Average",
        period,
    )
    start, end = _window(hours=hours, period=period)
    points = cloudwatch.metric_series(queries=[query], start=start, end=end)["alarm"]
    series = [Series(alarm.metric_name, [(_ms(at), value) for at, value in points])]
    if alarm.threshold is not None:
        series.append(
            Series(
                f"Threshold ({alarm.comparison_symbol} {alarm.threshold:g})",
                [(_ms(start), alarm.threshold), (_ms(end), alarm.threshold)],
                dashed=True,
            )
        )
    return Chart(
        series,
        window=(_ms(start), _ms(end)),
        unit=alarm.metric_name,
        description=f"{alarm.namespace}/{alarm.metric_name} ({query.stat} per {period} s) over the last "
        f"{hours:g} hours, and the alarm's threshold.",
    )


def alarm_state_chart(*, alarm: Alarm, hours: float = 3, now: datetime | None = None) -> Chart:
    """The alarm's state over the last ``hours`` from its recorded state changes (a step
    line: each state holds until the next change). Database only."""
    now = now or timezone.now()
    start = now - timedelta(hours=hours)
    changes = list(
        AlarmEvent.objects.filter(alarm_name=alarm.name, occurred_at__gte=start, occurred_at__lte=now)
        .order_by("occurred_at", "id")
        .values_list("occurred_at", "state", "previous_state")
    )
    before = (
        AlarmEvent.objects.filter(alarm_name=alarm.name, occurred_at__lt=start)
        .order_by("-occurred_at", "-id")
        .values_list("state", flat=True)
        .first()
    )
    # Before the window's first change: the state it changed from (unknown: insufficient data).
    first = before or ((changes[0][2] or Alarm.State.INSUFFICIENT_DATA) if changes else alarm.state)
    points = [(_ms(start), first)] + [(_ms(at), state) for at, state, _ in changes] + [(_ms(now), alarm.state)]
    values = [(t, float(ALARM_STATE_VALUES.get(state, 1))) for t, state in points]
    return Chart(
        [Series("State", values, stepped=True)],
        window=(_ms(start), _ms(now)),
        unit="state",
        y_labels=ALARM_STATE_LABELS,
        description=f"The alarm's state over the last {hours:g} hours, from its {len(changes)} recorded change(s).",
    )
