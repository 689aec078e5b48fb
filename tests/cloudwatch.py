"""Reading back what the code published to CloudWatch (the local AWS stores PutMetricData)."""

from datetime import UTC, datetime, timedelta

from console.aws import clients as aws


def alarm_metric_maximums(alarm: dict, *, minutes: int = 5) -> list[float]:
    """Per-minute maximums of the metric ``alarm`` (a DescribeAlarms entry) watches, over
    the last ``minutes``."""
    now = datetime.now(UTC)
    metric = {key: alarm[key] for key in ("Namespace", "MetricName", "Dimensions")}
    return aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - timedelta(minutes=minutes),
        EndTime=now + timedelta(minutes=1),
    )["MetricDataResults"][0]["Values"]
