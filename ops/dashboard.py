"""Home page panels for dead-letter queues and alarms: read from the archive and our alarm
records (kept current by events and the minute schedule), never from AWS. And the home
page's charts, read from CloudWatch (``ops.metrics``; cached for every user at once)."""

from django.urls import reverse
from django.utils import timezone

from console.pages.dashboard import Row, register, register_chart
from console.platform.timefmt import ago, duration
from ops import metrics, selectors
from ops.models import Alarm


@register(
    key="dead-letters",
    title="Dead-letter messages waiting",
    order=20,
    permission="ops.view_deadletter",
    url=lambda: reverse("admin:ops_deadletter_changelist"),
    empty="No dead-letter message is waiting.",
)
def dead_letters(request) -> list[Row]:
    url = reverse("admin:ops_deadletter_changelist")
    now = timezone.now()
    return [
        Row(
            name,
            summary.waiting,
            f"{url}?queue_name={name}",
            tone="bad",
            detail=f"oldest {ago(summary.oldest_at, now)}" if summary.oldest_at else "",
        )
        for name, summary in selectors.dead_letter_counts().items()
    ]


@register(
    key="alarms",
    title="Alarms in ALARM",
    order=30,
    permission="ops.view_alarm",
    url=lambda: reverse("admin:ops_alarm_changelist") + "?state__exact=ALARM",
    empty="No alarm is going off.",
)
def alarms_in_alarm(request) -> list[Row]:
    rows = []
    for alarm in selectors.alarm_list(state=Alarm.State.ALARM):
        notes = []
        if alarm.muted_until and alarm.muted_until > timezone.now():
            notes.append(f"muted until {timezone.localtime(alarm.muted_until):%H:%M}")
        if alarm.acknowledged_by:
            notes.append(f"acknowledged by {alarm.acknowledged_by}")
        if alarm.owner:
            notes.append(f"owner {alarm.owner}")
        since = duration(alarm.state_changed_at) if alarm.state_changed_at else "?"
        rows.append(
            Row(
                alarm.name,
                f"for {since}",
                reverse("admin:ops_alarm_change", args=[alarm.pk]),
                tone="warn" if alarm.acknowledged_by else "bad",
                detail="; ".join(notes),
            )
        )
    return rows


register_chart(key="queue-depth", title="Queue depth (3 hours)", order=10, permission="ops.view_deadletter")(
    metrics.queue_depth_chart
)
register_chart(key="queue-age", title="Oldest message age (3 hours)", order=20, permission="ops.view_deadletter")(
    metrics.queue_age_chart
)
register_chart(
    key="approvals-waiting", title="Approvals waiting (3 hours)", order=30, permission="workflows.view_approval"
)(metrics.approvals_waiting_chart)
register_chart(
    key="decision-latency", title="Decision latency (24 hours)", order=40, permission="workflows.view_approval"
)(metrics.decision_latency_chart)
register_chart(key="orders-per-hour", title="Orders per hour (24 hours)", order=50, permission="orders.view_order")(
    metrics.orders_per_hour_chart
)
register_chart(
    key="redrive-throughput", title="Redrive throughput (24 hours)", order=60, permission="ops.view_redrivejob"
)(metrics.redrive_throughput_chart)
