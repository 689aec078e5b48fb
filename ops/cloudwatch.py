"""The only module of ``ops`` that talks to CloudWatch: the stage's alarms, their
history where AWS keeps it, muting their actions, the metrics the console's own alarms
watch (dead-letter depth, the outbox's oldest event age), the console's own metrics for
its charts, reading metrics back over time (GetMetricData) for the charts, and the age of
each queue's oldest message."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from console.aws import clients as aws
from console.aws.resources import resource_name


def _cloudwatch():
    return aws.client("cloudwatch")


def alarm_prefix() -> str:
    return settings.OPS_ALARM_PREFIX or resource_name("")


def describe_alarms(*, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Metric and composite alarms of the stage (or the named ones)."""
    arguments: dict[str, Any] = {"AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    if names:
        arguments["AlarmNames"] = names
    else:
        arguments["AlarmNamePrefix"] = alarm_prefix()
    alarms: list[dict[str, Any]] = []
    for page in _cloudwatch().get_paginator("describe_alarms").paginate(**arguments):
        alarms.extend(page.get("MetricAlarms", []))
        alarms.extend(page.get("CompositeAlarms", []))
    return alarms


def alarm_history(*, name: str, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
    """State changes AWS kept (about 14 days). Raises ClientError where it has none to give."""
    arguments: dict[str, Any] = {"AlarmName": name, "HistoryItemType": "StateUpdate"}
    if start:
        arguments["StartDate"] = start
    if end:
        arguments["EndDate"] = end
    items: list[dict[str, Any]] = []
    for page in _cloudwatch().get_paginator("describe_alarm_history").paginate(**arguments):
        items.extend(page.get("AlarmHistoryItems", []))
    return items


def disable_actions(*, name: str) -> str:
    response = _cloudwatch().disable_alarm_actions(AlarmNames=[name])
    return response.get("ResponseMetadata", {}).get("RequestId", "")


def enable_actions(*, name: str) -> str:
    response = _cloudwatch().enable_alarm_actions(AlarmNames=[name])
    return response.get("ResponseMetadata", {}).get("RequestId", "")


def put_dead_letter_depths(depths: dict[str, int]) -> None:
    """Publish each DLQ's depth (archived messages waiting plus any still in SQS) as
    ``DeadLetterDepth`` with a ``QueueName`` dimension: what the DLQ alarms watch."""
    data = [
        {
            "MetricName": "DeadLetterDepth",
            "Dimensions": [{"Name": "QueueName", "Value": name}],
            "Value": float(depth),
            "Unit": "Count",
        }
        for name, depth in sorted(depths.items())
    ]
    for start in range(0, len(data), 1000):
        _cloudwatch().put_metric_data(Namespace=settings.OPS_METRIC_NAMESPACE, MetricData=data[start : start + 1000])


def put_outbox_oldest_event_age(*, topic_name: str, seconds: float) -> None:
    """Publish the age of the oldest order event not yet published (0 when none waits) as
    ``OutboxOldestEventAge`` with a ``TopicName`` dimension, the topic the outbox feeds:
    what the outbox-age alarm watches."""
    _cloudwatch().put_metric_data(
        Namespace=settings.OPS_METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": "OutboxOldestEventAge",
                "Dimensions": [{"Name": "TopicName", "Value": topic_name}],
                "Value": float(seconds),
                "Unit": "Seconds",
            }
        ],
    )


def put_workflow_start_backlog(*, waiting: int) -> int:
    """Publish how many order workflow start requests have waited longer than
    ``WORKFLOW_START_BACKLOG_SECONDS`` as ``WorkflowStartBacklog`` with a
    ``StateMachineName`` dimension (the stage's order-processing machine): what the
    workflow-start-backlog alarm watches. Returns ``waiting``."""
    _cloudwatch().put_metric_data(
        Namespace=settings.OPS_METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": "WorkflowStartBacklog",
                "Dimensions": [{"Name": "StateMachineName", "Value": resource_name("order-processing")}],
                "Value": float(waiting),
                "Unit": "Count",
            }
        ],
    )
    return waiting


def put_metrics(data: list[dict[str, Any]]) -> None:
    """Publish ``data`` (PutMetricData ``MetricData`` entries) into the console's namespace,
    1,000 entries a call (AWS's limit)."""
    for start in range(0, len(data), 1000):
        _cloudwatch().put_metric_data(Namespace=settings.OPS_METRIC_NAMESPACE, MetricData=data[start : start + 1000])


@dataclass(frozen=True)
class MetricQuery:
    """One series to read: a metric (namespace, name, dimensions), its statistic and its
    period in seconds. ``id`` is the series' key in ``metric_series``'s answer."""

    id: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str = "Maximum"
    period: int = 300


Points = list[tuple[datetime, float]]


def metric_series(*, queries: list[MetricQuery], start: datetime, end: datetime) -> dict[str, Points]:
    """Each query's points between ``start`` and ``end`` (oldest first), one per period
    that has data: periods without data are left out, as CloudWatch leaves them out.
    500 queries a call (AWS's limit), pages followed. Raises botocore's errors."""
    found: dict[str, Points] = {query.id: [] for query in queries}
    for first in range(0, len(queries), 500):
        batch = [
            {
                "Id": query.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": query.namespace,
                        "MetricName": query.name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions],
                    },
                    "Period": query.period,
                    "Stat": query.stat,
                },
                "ReturnData": True,
            }
            for query in queries[first : first + 500]
        ]
        arguments = {"MetricDataQueries": batch, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
        for page in _cloudwatch().get_paginator("get_metric_data").paginate(**arguments):
            for result in page.get("MetricDataResults", []):
                points = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                found[result["Id"]].extend((stamp.astimezone(UTC), float(value)) for stamp, value in points)
    for points in found.values():
        points.sort()  # pages may split a series; AWS returns each page in ScanBy's order
    return found


# SQS publishes ApproximateAgeOfOldestMessage every minute; locally the stack's sampler
# publishes it to the local AWS under the same name. A queue without a datapoint in this
# window is shown without an age, not as empty.
QUEUE_AGE_WINDOW = timedelta(minutes=15)


def queue_oldest_message_ages(queue_names: list[str]) -> dict[str, float | None]:
    """The latest ``AWS/SQS`` ``ApproximateAgeOfOldestMessage`` (seconds) of each queue, or
    None where CloudWatch has no datapoint in the last ``QUEUE_AGE_WINDOW``."""
    # The minute under way included: its datapoint is the latest there is.
    end = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    queries = [
        MetricQuery(
            id=f"q{index}",
            namespace="AWS/SQS",
            name="ApproximateAgeOfOldestMessage",
            dimensions=(("QueueName", name),),
            stat="Maximum",
            period=60,
        )
        for index, name in enumerate(queue_names)
    ]
    series = metric_series(queries=queries, start=end - QUEUE_AGE_WINDOW, end=end)
    return {name: (series[f"q{i}"][-1][1] if series[f"q{i}"] else None) for i, name in enumerate(queue_names)}
