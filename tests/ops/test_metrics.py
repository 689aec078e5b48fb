"""The console's metrics against the local AWS (moto's CloudWatch stores PutMetricData and
answers GetMetricData): what the minute schedule publishes, reading series back, the
AWS/SQS metrics the local AWS plays, and the alarm's state timeline."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.utils import timezone

from console.aws import clients as aws
from ops import cloudwatch, metrics
from ops.cloudwatch import MetricQuery
from ops.models import Alarm, AlarmEvent, DeadLetter, MetricMark
from orders.models import OrderEvent
from tests.conftest import LOCAL_SQS_METRICS_SECONDS, wait_for
from tests.factories import OrderFactory
from tests.workflows.conftest import make_pending_approval
from workflows.models import Approval

pytestmark = pytest.mark.django_db


def hours_ago(hours: int) -> datetime:
    """A minute well in the past, so that minutes the stack's own schedule publishes meanwhile
    (it runs ops.handlers.refresh every minute) never fall in the test's window."""
    return (timezone.now() - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def own(name: str, stat: str, period: int) -> MetricQuery:
    return MetricQuery("m", settings.OPS_METRIC_NAMESPACE, name, metrics.stage_dimensions(), stat, period)


def read(query: MetricQuery, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    return cloudwatch.metric_series(queries=[query], start=start, end=end)["m"]


def event(order, event_type: str, at: datetime, version: int) -> None:
    OrderEvent.objects.create(order=order, version=version, event_type=event_type, created_at=at)


def test_metric_series_reads_back_each_period_oldest_first(local_aws):
    base = hours_ago(30)
    name = "ChartsReadBack"
    data = [
        {"MetricName": name, "Dimensions": [{"Name": "Stage", "Value": "t"}], "Timestamp": at, "Value": value}
        for at, value in [
            (base, 1),
            (base + timedelta(minutes=1), 5),
            (base + timedelta(minutes=5), 2),
            (base + timedelta(minutes=12), 7),
        ]
    ]
    cloudwatch.put_metrics(data)
    query = MetricQuery("m", settings.OPS_METRIC_NAMESPACE, name, (("Stage", "t"),), "Maximum", 300)

    points = read(query, base, base + timedelta(minutes=15))

    # One point per 5-minute period that has data, at the period's start.
    assert points == [(base, 5.0), (base + timedelta(minutes=5), 2.0), (base + timedelta(minutes=10), 7.0)]
    assert read(replace(query, stat="Sum", period=900), base, base + timedelta(minutes=15)) == [(base, 15.0)]


def test_the_minute_schedule_publishes_each_minute_once_and_catches_up(local_aws):
    MetricMark.objects.all().delete()  # the stack's own schedule may have marked: this test's row
    base = hours_ago(5)
    order = OrderFactory()
    version = order.version
    for minutes, event_type in [(0, "OrderCreated"), (0, "OrderCreated"), (1, "OrderCompleted"), (2, "OrderFailed")]:
        version += 1
        event(order, event_type, base + timedelta(minutes=minutes, seconds=10), version)
    event(order, "OrderCreated", base + timedelta(minutes=3, seconds=5), version + 1)  # after the first run's window
    approval = make_pending_approval("metrics-latency")
    Approval.objects.filter(pk=approval.pk).update(
        status=Approval.Status.APPROVED,
        requested_at=base - timedelta(seconds=90),
        decided_at=base + timedelta(minutes=1, seconds=30),
    )
    DeadLetter.objects.create(
        queue_name="q",
        message_id="m",
        body="{}",
        body_sha256="b",
        fingerprint="f",
        state=DeadLetter.State.REDRIVEN,
        resolved_at=base + timedelta(minutes=2, seconds=1),
    )
    MetricMark.objects.create(name=metrics.MARK, published_until=base)

    # At base+4m30s, minutes base..base+2 are whole and a minute old: published.
    first = metrics.app_metrics_publish(now=base + timedelta(minutes=4, seconds=30))
    again = metrics.app_metrics_publish(now=base + timedelta(minutes=4, seconds=50))  # same minute: nothing new
    later = metrics.app_metrics_publish(now=base + timedelta(minutes=5, seconds=1))

    assert (first["minutes"], again["minutes"], later["minutes"]) == (3, 0, 1)
    assert first["approvals_waiting"] == Approval.objects.filter(status="PENDING").count()
    window = (base, base + timedelta(minutes=10))
    per_minute = {
        name: [value for _, value in read(own(name, "Sum", 60), *window)]
        for name in ("OrdersCreated", "OrdersCompleted", "OrdersFailed", "RedriveMessagesMoved")
    }
    assert per_minute == {
        "OrdersCreated": [2.0, 0.0, 0.0, 1.0],
        "OrdersCompleted": [0.0, 1.0, 0.0, 0.0],
        "OrdersFailed": [0.0, 0.0, 1.0, 0.0],
        "RedriveMessagesMoved": [0.0, 0.0, 1.0, 0.0],
    }
    # Decision latency: 90 s before base to 90 s after the next minute.
    assert read(own("ApprovalDecisionSeconds", "Average", 60), *window) == [(base + timedelta(minutes=1), 180.0)]
    assert MetricMark.objects.get(name=metrics.MARK).published_until == base + timedelta(minutes=4)


def test_a_schedule_that_stopped_catches_up_one_hour_at_most_and_a_refused_put_marks_nothing(local_aws, monkeypatch):
    MetricMark.objects.all().delete()
    base = hours_ago(9)
    MetricMark.objects.create(name=metrics.MARK, published_until=base - timedelta(hours=3))

    def refused(data):
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PutMetricData")

    monkeypatch.setattr(cloudwatch, "put_metrics", refused)
    with pytest.raises(ClientError):
        metrics.app_metrics_publish(now=base)
    assert MetricMark.objects.get().published_until == base - timedelta(hours=3)

    monkeypatch.undo()
    assert metrics.app_metrics_publish(now=base)["minutes"] == 60


def test_the_local_aws_puts_each_queues_sqs_metrics_as_aws_does(local_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="charts-sampled")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    now = datetime.now(UTC)

    def latest(metric: str) -> float | None:
        query = MetricQuery("m", "AWS/SQS", metric, (("QueueName", "charts-sampled"),), "Maximum", 60)
        points = read(query, now - timedelta(minutes=2), now + timedelta(minutes=2))
        return points[-1][1] if points else None

    wait_for(lambda: latest("ApproximateNumberOfMessagesVisible") == 2.0, timeout=6 * LOCAL_SQS_METRICS_SECONDS + 10)
    assert latest("ApproximateNumberOfMessagesNotVisible") == 1.0
    assert latest("ApproximateNumberOfMessagesDelayed") == 1.0
    wait_for(lambda: (latest("ApproximateAgeOfOldestMessage") or 0) >= 1.0, timeout=6 * LOCAL_SQS_METRICS_SECONDS + 10)


def test_the_alarm_state_timeline_holds_each_state_until_the_next_change():
    now = timezone.now().replace(microsecond=0)
    alarm = Alarm.objects.create(name="charts-state", state="OK", state_changed_at=now - timedelta(minutes=30))
    for minutes, state, previous in [(300, "OK", ""), (90, "ALARM", "OK"), (30, "OK", "ALARM")]:
        AlarmEvent.objects.create(
            alarm_name=alarm.name,
            state=state,
            previous_state=previous,
            occurred_at=now - timedelta(minutes=minutes),
            source="event",
        )

    chart = metrics.alarm_state_chart(alarm=alarm, hours=3, now=now)

    ms = lambda minutes: int((now - timedelta(minutes=minutes)).timestamp() * 1000)  # noqa: E731
    assert chart.series[0].stepped
    assert chart.series[0].points == [(ms(180), 0.0), (ms(90), 2.0), (ms(30), 0.0), (ms(0), 0.0)]
    assert chart.y_labels[2] == "In alarm"
