"""Home page panels for dead-letter queues and alarms: read from the archive and our alarm
records (kept current by events and the minute schedule), never from AWS."""

from django.urls import reverse
from django.utils import timezone

from console.pages.dashboard import Row, register
from console.platform.timefmt import ago, duration
from ops import selectors
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
