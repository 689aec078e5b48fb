"""Alarms: our records of the stage's CloudWatch alarms, kept in line with CloudWatch
(DescribeAlarms, state change events, the history AWS keeps), and what support staff do
with them: mute (the alarm's actions off for a while), unmute, acknowledge, assign. Each
change support staff make is atomic and audited."""

import json
import logging
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from console.aws import clients as aws
from console.models import AuditEntry
from console.platform.audit import audit_record
from ops import cloudwatch
from ops.errors import OpsError
from ops.models import Alarm, AlarmEvent

logger = logging.getLogger(__name__)


def _alarm_fields(described: dict[str, Any]) -> dict[str, Any]:
    dimensions = {d["Name"]: d["Value"] for d in described.get("Dimensions", [])}
    if not described.get("MetricName") and described.get("Metrics"):
        # Metric math: show the first metric the expression reads.
        for query in described["Metrics"]:
            stat = query.get("MetricStat")
            if stat:
                metric = stat["Metric"]
                described = {**described, "Namespace": metric.get("Namespace"), "MetricName": metric.get("MetricName")}
                dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                break
    return {
        "arn": described.get("AlarmArn", ""),
        "description": described.get("AlarmDescription", "") or "",
        "namespace": described.get("Namespace", "") or "",
        "metric_name": described.get("MetricName", "") or "",
        "dimensions": dimensions,
        "statistic": described.get("Statistic", "") or described.get("ExtendedStatistic", "") or "",
        "period": described.get("Period"),
        "evaluation_periods": described.get("EvaluationPeriods"),
        "threshold": described.get("Threshold"),
        "comparison": described.get("ComparisonOperator", "") or "",
        "actions_enabled": bool(described.get("ActionsEnabled", True)),
    }


def alarms_sync() -> int:
    """Bring our alarm rows in line with DescribeAlarms. Alarms gone from AWS are kept,
    marked deleted, with their history. Returns how many alarms AWS has."""
    described = cloudwatch.describe_alarms()
    now = timezone.now()
    seen = set()
    for alarm in described:
        name = alarm["AlarmName"]
        seen.add(name)
        fields = _alarm_fields(alarm)
        state = alarm.get("StateValue", Alarm.State.INSUFFICIENT_DATA)
        changed_at = alarm.get("StateUpdatedTimestamp") or alarm.get("StateTransitionedTimestamp")
        with transaction.atomic():
            row, created = Alarm.objects.select_for_update().get_or_create(name=name, defaults=fields)
            if not created:
                for key, value in fields.items():
                    setattr(row, key, value)
            # A state change event newer than what DescribeAlarms answers (it lags, and a
            # local alarm never changes state) is kept: the sync never turns it back.
            current = created or row.state_changed_at is None or (changed_at and changed_at >= row.state_changed_at)
            if current and not created and row.state != state:
                row.acknowledged_at, row.acknowledged_by = None, None
                if changed_at and (row.state_changed_at is None or changed_at > row.state_changed_at):
                    _event_create(
                        alarm_name=name,
                        state=state,
                        previous_state=row.state,
                        reason=alarm.get("StateReason", ""),
                        reason_data=_reason_data(alarm.get("StateReasonData")),
                        occurred_at=changed_at,
                        source=AlarmEvent.Source.HISTORY,
                    )
            if current:
                row.state, row.state_reason = state, alarm.get("StateReason", "")
                row.state_changed_at = changed_at or row.state_changed_at
            row.exists, row.synced_at = True, now
            row.save()
    Alarm.objects.filter(exists=True).exclude(name__in=seen).filter(name__startswith=cloudwatch.alarm_prefix()).update(
        exists=False, synced_at=now
    )
    return len(described)


def _reason_data(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"text": value}
    return value


def _event_create(**fields: Any) -> AlarmEvent | None:
    try:
        with transaction.atomic():
            return AlarmEvent.objects.create(**fields)
    except IntegrityError:
        return None  # the same change, already recorded from another source


def alarm_state_change_record(*, event: dict[str, Any]) -> AlarmEvent | None:
    """Record a state change from an EventBridge "CloudWatch Alarm State Change" event or
    the payload of an alarm's Lambda action. Idempotent. Returns the new event (None if
    known or not an alarm state change)."""
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        detail, source, arn = event.get("detail") or {}, AlarmEvent.Source.EVENT, (event.get("resources") or [""])[0]
    elif event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        detail, source, arn = event["alarmData"], AlarmEvent.Source.ACTION, event.get("alarmArn", "")
    else:
        return None
    name = detail.get("alarmName")
    state = (detail.get("state") or {}).get("value")
    if not name or not state:
        return None
    occurred = (
        parse_datetime(_iso((detail.get("state") or {}).get("timestamp") or event.get("time") or "")) or timezone.now()
    )
    previous = (detail.get("previousState") or {}).get("value", "")
    with transaction.atomic():
        recorded = _event_create(
            alarm_name=name,
            state=state,
            previous_state=previous,
            reason=(detail.get("state") or {}).get("reason", ""),
            reason_data=_reason_data((detail.get("state") or {}).get("reasonData")),
            occurred_at=occurred,
            source=source,
        )
        alarm, _ = Alarm.objects.select_for_update().get_or_create(name=name, defaults={"arn": arn})
        if alarm.state_changed_at is None or occurred >= alarm.state_changed_at:
            if alarm.state != state:
                alarm.acknowledged_at, alarm.acknowledged_by = None, None
            alarm.state, alarm.state_reason, alarm.state_changed_at = (
                state,
                (detail.get("state") or {}).get("reason", ""),
                occurred,
            )
            alarm.arn = alarm.arn or arn
            configuration = detail.get("configuration") or {}
            if configuration.get("description") and not alarm.description:
                alarm.description = configuration["description"]
            if not alarm.metric_name:
                for query in configuration.get("metrics", []):
                    metric = (query.get("metricStat") or {}).get("metric")
                    if metric:
                        alarm.namespace, alarm.metric_name = metric.get("namespace", ""), metric.get("name", "")
                        alarm.dimensions = metric.get("dimensions") or {}
                        break
            alarm.save()
    return recorded


def _iso(value: str) -> str:
    # CloudWatch writes offsets as +0000; Django's parser wants +00:00.
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        return value[:-2] + ":" + value[-2:]
    return value


def alarm_history_fill(*, name: str) -> int:
    """Add the state changes CloudWatch kept (DescribeAlarmHistory) that we did not
    record. Returns how many were added; 0 where AWS has no history to give."""
    try:
        items = cloudwatch.alarm_history(name=name)
    except ClientError as exc:
        logger.info("DescribeAlarmHistory %s: %s", name, aws.error_code(exc) or exc)
        return 0
    added = 0
    for item in items:
        data = _reason_data(item.get("HistoryData") or "{}") or {}
        new_state = (data.get("newState") or {}).get("stateValue")
        if not new_state:
            continue
        created = _event_create(
            alarm_name=name,
            state=new_state,
            previous_state=(data.get("oldState") or {}).get("stateValue", ""),
            reason=(data.get("newState") or {}).get("stateReason", item.get("HistorySummary", "")),
            reason_data=(data.get("newState") or {}).get("stateReasonData"),
            occurred_at=item["Timestamp"],
            source=AlarmEvent.Source.HISTORY,
        )
        added += created is not None
    return added


def alarm_mute(*, name: str, minutes: int, reason: str, actor, source: str = AuditEntry.Source.CONSOLE) -> Alarm:
    """Stop the alarm's notifications (its actions) for ``minutes``; they come back on
    their own (``alarms_unmute_expired``, scheduled)."""
    reason = (reason or "").strip()
    if not reason:
        raise OpsError("Muting needs a reason.", "reason")
    if minutes < 1 or minutes > 7 * 24 * 60:
        raise OpsError("Mute for between 1 minute and 7 days.", "minutes")
    alarm = Alarm.objects.get(name=name)
    request_id = cloudwatch.disable_actions(name=name)
    with transaction.atomic():
        until = timezone.now() + timedelta(minutes=minutes)
        Alarm.objects.filter(pk=alarm.pk).update(
            muted_until=until, mute_reason=reason, muted_by=actor, actions_enabled=False
        )
        audit_record(
            action="alarm.mute",
            obj=alarm,
            actor=actor,
            source=source,
            reason=reason,
            after={"mutedUntil": until.isoformat(), "minutes": minutes},
            aws_request_id=request_id,
        )
    alarm.refresh_from_db()
    return alarm


def alarm_unmute(*, name: str, actor=None, source: str = AuditEntry.Source.CONSOLE, reason: str = "") -> Alarm:
    """Turn the alarm's notifications (its actions) back on, where the alarm still exists."""
    alarm = Alarm.objects.get(name=name)
    request_id = cloudwatch.enable_actions(name=name) if alarm.exists else ""
    with transaction.atomic():
        Alarm.objects.filter(pk=alarm.pk).update(muted_until=None, mute_reason="", muted_by=None, actions_enabled=True)
        audit_record(
            action="alarm.unmute",
            obj=alarm,
            actor=actor,
            source=source,
            reason=reason,
            before={"mutedUntil": alarm.muted_until.isoformat() if alarm.muted_until else None},
            aws_request_id=request_id,
        )
    alarm.refresh_from_db()
    return alarm


def alarms_unmute_expired() -> int:
    """Unmute every alarm whose mute has run out (scheduled). Returns how many."""
    expired = list(Alarm.objects.filter(muted_until__lte=timezone.now()).values_list("name", flat=True))
    for name in expired:
        alarm_unmute(name=name, source=AuditEntry.Source.SYSTEM, reason="Mute period ended")
    return len(expired)


def alarm_acknowledge(*, name: str, actor, note: str = "", source: str = AuditEntry.Source.CONSOLE) -> Alarm:
    """Someone is on it: only an alarm in ALARM, until its state next changes."""
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().get(name=name)
        if alarm.state != Alarm.State.ALARM:
            raise OpsError("Only an alarm in ALARM can be acknowledged.", "state")
        alarm.acknowledged_at, alarm.acknowledged_by = timezone.now(), actor
        alarm.save(update_fields=["acknowledged_at", "acknowledged_by"])
        audit_record(action="alarm.acknowledge", obj=alarm, actor=actor, source=source, reason=note)
    return alarm


def alarm_assign(*, name: str, owner, actor, source: str = AuditEntry.Source.CONSOLE) -> Alarm:
    """Make ``owner`` (a staff user, or None for nobody) the alarm's owner."""
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().get(name=name)
        before = alarm.owner.get_username() if alarm.owner else None
        alarm.owner = owner
        alarm.save(update_fields=["owner"])
        audit_record(
            action="alarm.assign",
            obj=alarm,
            actor=actor,
            source=source,
            before={"owner": before},
            after={"owner": owner.get_username() if owner else None},
        )
    return alarm
