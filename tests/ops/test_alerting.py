"""Where alerts go and what sets them off: the alert topic's subscriptions on the Alarms page,
the outbox's oldest event age published every minute for its alarm, and the alarms the
local deploy creates for the state machines, the API, the work queues and the outbox."""

from datetime import timedelta

import pytest
from botocore.stub import Stubber
from django.urls import reverse
from django.utils import timezone

from console.aws import clients as aws
from console.aws import resources
from console.aws.resources import resource_name
from ops import refresh
from ops import subscriptions as ops_subscriptions
from orders.models import OrderEvent
from orders.selectors import order_event_oldest_unpublished_age
from tests.cloudwatch import alarm_metric_maximums
from tests.factories import OrderFactory

NEW_ALARMS = {
    "order-processing-executions-failed": ("AWS/States", "ExecutionsFailed"),
    "order-processing-executions-timed-out": ("AWS/States", "ExecutionsTimedOut"),
    "order-processing-executions-throttled": ("AWS/States", "ExecutionThrottled"),
    "order-saga-executions-failed": ("AWS/States", "ExecutionsFailed"),
    "order-saga-executions-timed-out": ("AWS/States", "ExecutionsTimedOut"),
    "order-saga-executions-throttled": ("AWS/States", "ExecutionThrottled"),
    "api-5xx": ("AWS/ApiGateway", "5XXError"),
    "api-latency-p99": ("AWS/ApiGateway", "Latency"),
    "steps-queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "approvals-queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "jobs-queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "saga-queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "files-events-queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "alarm-events-queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "order-notifications-queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "outbox-age": ("OpsConsole", "OutboxOldestEventAge"),
}


def alert_topic_arn() -> str:
    return resources.topic_arn(ops_subscriptions.ALERT_TOPIC)


# --- The outbox's oldest event age -----------------------------------------------------------


@pytest.mark.django_db
def test_the_outbox_age_is_zero_when_every_event_is_published_and_counts_from_the_oldest_waiting_one(
    django_assert_num_queries,
):
    now = timezone.now()
    with django_assert_num_queries(1):
        assert order_event_oldest_unpublished_age(now=now) == 0

    published, waiting = OrderFactory(), OrderFactory()
    OrderEvent.objects.filter(order=published).update(created_at=now - timedelta(hours=3), published_at=now)
    OrderEvent.objects.filter(order=waiting).update(created_at=now - timedelta(minutes=12))
    OrderFactory()  # a newer unpublished event does not hide the older one

    with django_assert_num_queries(1):
        assert order_event_oldest_unpublished_age(now=now) == 12 * 60


@pytest.mark.stack
@pytest.mark.django_db
def test_ops_refresh_publishes_the_outbox_age_where_its_alarm_looks(local_aws):
    order = OrderFactory()
    OrderEvent.objects.filter(order=order).update(created_at=timezone.now() - timedelta(hours=2))

    result = refresh.ops_refresh()

    assert 7200 <= result["outbox_age"] < 7300
    cloudwatch = aws.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=[resource_name("outbox-age")])["MetricAlarms"][0]
    listed = cloudwatch.list_metrics(Namespace=alarm["Namespace"], MetricName=alarm["MetricName"])["Metrics"]
    assert alarm["Dimensions"] in [metric["Dimensions"] for metric in listed]
    assert alarm["Dimensions"] == [{"Name": "TopicName", "Value": resource_name(resources.ORDER_EVENTS_TOPIC)}]
    values = alarm_metric_maximums(alarm)
    # Other processes of the run publish their own (younger) ages: the maximum is this one.
    assert values and 7200 <= max(values) < 7300


# --- The alarms the local deploy creates ------------------------------------------------------


@pytest.mark.stack
def test_the_local_deploy_creates_the_alerting_alarms_notifying_the_alert_topic(local_aws):
    names = [resource_name(suffix) for suffix in NEW_ALARMS]
    described = {
        alarm["AlarmName"]: alarm
        for alarm in aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    }
    assert sorted(described) == sorted(names)
    topic = local_aws.outputs["AlertTopicArn"]
    for suffix, (namespace, metric) in NEW_ALARMS.items():
        alarm = described[resource_name(suffix)]
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric), suffix
        assert alarm["AlarmActions"] == [topic] and alarm["AlarmDescription"], suffix
    machine = {d["Name"]: d["Value"] for d in described[resource_name("order-saga-executions-failed")]["Dimensions"]}
    assert machine == {"StateMachineArn": resources.state_machine_arn(resources.ORDER_SAGA)}
    latency = described[resource_name("api-latency-p99")]
    assert latency["ExtendedStatistic"] == "p99" and latency["Threshold"] == 3000
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == {"ApiName": "ops-console-dev", "Stage": "dev"}
    jobs = described[resource_name("jobs-queue-age")]
    steps = described[resource_name("steps-queue-age")]
    assert jobs["Dimensions"] == [{"Name": "QueueName", "Value": resource_name("jobs")}]
    assert jobs["Threshold"] > steps["Threshold"]  # long jobs may wait longer than callbacks


# --- Where alerts go ---------------------------------------------------------------------------


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_the_alarms_page_says_who_the_alarms_notify_and_warns_when_nobody(local_aws, support, console_client):
    page_url = reverse("admin:ops_alarm_changelist")
    console_client.force_login(support)

    # Deployed without AlertEmail: the topic has no subscriber.
    assert ops_subscriptions.alert_subscriptions(refresh=True) == []
    page = console_client.get(page_url).content.decode()
    assert "alarms notify nobody" in page and "AlertEmail=" in page and resource_name("alerts") in page

    sns = aws.client("sns")
    arn = sns.subscribe(
        TopicArn=alert_topic_arn(), Protocol="email", Endpoint="on-call@example.com", ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    try:
        # Reused briefly: the page asks SNS again once the cached answer expires.
        assert "alarms notify nobody" in console_client.get(page_url).content.decode()
        assert ops_subscriptions.alert_subscriptions(refresh=True) == [
            ops_subscriptions.AlertSubscription(protocol="email", endpoint="on-call@example.com", pending=False)
        ]
        page = console_client.get(page_url).content.decode()
        assert "Alerts go to:" in page and "on-call@example.com" in page and "alarms notify nobody" not in page
        assert "pending confirmation" not in page
    finally:
        sns.unsubscribe(SubscriptionArn=arn)


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_an_unconfirmed_email_shows_as_pending_and_webhook_secrets_stay_hidden(local_aws, support, console_client):
    topic = alert_topic_arn()
    sns = aws.client("sns")
    answer = {
        "Subscriptions": [
            {
                "SubscriptionArn": "PendingConfirmation",
                "Owner": "123456789012",
                "Protocol": "email",
                "Endpoint": "new-hire@example.com",
                "TopicArn": topic,
            },
            {
                "SubscriptionArn": f"{topic}:6f1c",
                "Owner": "123456789012",
                "Protocol": "https",
                "Endpoint": "https://events.pagerduty.com/integration/SECRETKEY/enqueue",
                "TopicArn": topic,
            },
        ]
    }
    with Stubber(sns) as stub:
        stub.add_response("list_subscriptions_by_topic", answer, {"TopicArn": topic})
        found = ops_subscriptions.alert_subscriptions(refresh=True)
    assert [(s.protocol, s.endpoint, s.pending) for s in found] == [
        ("email", "new-hire@example.com", True),
        ("https", "https://events.pagerduty.com/…", False),
    ]

    console_client.force_login(support)
    page = console_client.get(reverse("admin:ops_alarm_changelist")).content.decode()
    assert "new-hire@example.com" in page and "pending confirmation" in page
    assert "events.pagerduty.com" in page and "SECRETKEY" not in page


@pytest.mark.django_db
def test_the_alarms_page_still_lists_the_alarms_when_sns_does_not_answer(support, client, monkeypatch):
    def refuse(**kwargs):
        raise LookupError("SNS topic 'ops-console-dev-alerts' is not deployed")

    monkeypatch.setattr(ops_subscriptions, "alert_subscriptions", refuse)
    client.force_login(support)
    response = client.get(reverse("admin:ops_alarm_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Where alerts go is unknown" in page and "not deployed" in page
