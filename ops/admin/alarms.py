"""Alarms: their state and history, who they notify (the alert topic's subscriptions), and
refresh, fill history, mute, unmute, acknowledge and assign."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from console.aws.resources import resource_name
from console.pages.dashboard import chart_render
from console.pages.readonly import ReadOnlyAdminMixin
from console.pages.user_links import UserLinksMixin
from console.platform.timefmt import ago
from ops import alarms, metrics, selectors, subscriptions
from ops.admin.common import MANAGE_ALARM, require
from ops.errors import OpsError
from ops.models import Alarm, DeadLetter


@admin.register(Alarm)
class AlarmAdmin(UserLinksMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "short_name",
        "state_badge",
        "reason_line",
        "metric",
        "last_change",
        "muted",
        "acknowledged",
        "owner",
    ]
    list_display_links = ["short_name"]
    list_filter = ["state", "exists", "owner"]
    search_fields = ["name", "description"]
    list_select_related = ["owner", "acknowledged_by"]
    change_list_template = "admin/ops/alarm/change_list.html"
    change_form_template = "admin/ops/alarm/change_form.html"

    @admin.display(description="State", ordering="state")
    def state_badge(self, alarm: Alarm) -> str:
        colour = {"ALARM": "#ba2121", "OK": "#2e7d32"}.get(alarm.state, "#777")
        label = alarm.state if alarm.exists else f"{alarm.state} (deleted)"
        return format_html('<strong style="color:{}">{}</strong>', colour, label)

    @admin.display(description="Name", ordering="name")
    def short_name(self, alarm: Alarm) -> str:
        # The stage's alarms share its prefix (ops-console-dev-): shown without it, whole on hover.
        return format_html('<span title="{}">{}</span>', alarm.name, alarm.name.removeprefix(resource_name("")))

    @admin.display(description="Reason")
    def reason_line(self, alarm: Alarm) -> str:
        return (alarm.state_reason or "")[:120]

    @admin.display(description="Metric and threshold")
    def metric(self, alarm: Alarm) -> str:
        if not alarm.metric_name:
            return "-"
        threshold = "" if alarm.threshold is None else f" {alarm.comparison_symbol} {alarm.threshold:g}"
        return f"{alarm.namespace}/{alarm.metric_name} {alarm.statistic}{threshold}"

    @admin.display(description="Last change", ordering="state_changed_at")
    def last_change(self, alarm: Alarm) -> str:
        return ago(alarm.state_changed_at) if alarm.state_changed_at else "-"

    @admin.display(description="Muted until")
    def muted(self, alarm: Alarm) -> str:
        return timezone.localtime(alarm.muted_until).strftime("%Y-%m-%d %H:%M") if alarm.muted_until else "-"

    @admin.display(description="Acknowledged")
    def acknowledged(self, alarm: Alarm) -> str:
        return str(alarm.acknowledged_by) if alarm.acknowledged_by else "-"

    def changelist_view(self, request, extra_context=None):
        extra = {"alert_topic": subscriptions.alert_topic_name(), **_alert_routing()}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("refresh/", view(self.refresh_view), name="ops_alarm_refresh"),
            path("<int:alarm_id>/act/", view(self.act_view), name="ops_alarm_act"),
        ] + super().get_urls()

    def refresh_view(self, request):
        require(request, "ops.view_alarm")
        if request.method != "POST":
            return HttpResponse(status=405)
        count = alarms.alarms_sync()
        messages.success(request, f"{count} alarm(s) read from CloudWatch.")
        return HttpResponseRedirect(reverse("admin:ops_alarm_changelist"))

    def act_view(self, request, alarm_id: int):
        require(request, "ops.view_alarm")
        if request.method != "POST":
            return HttpResponse(status=405)
        alarm = get_object_or_404(Alarm, pk=alarm_id)
        action = request.POST.get("action", "")
        back = HttpResponseRedirect(reverse("admin:ops_alarm_change", args=[alarm.pk]))
        if action == "fill":
            added = alarms.alarm_history_fill(name=alarm.name)
            messages.success(request, f"{added} state change(s) added from CloudWatch's history.")
            return back
        require(request, MANAGE_ALARM)
        try:
            if action == "mute":
                minutes = int(request.POST.get("minutes") or 0)
                alarms.alarm_mute(
                    name=alarm.name, minutes=minutes, reason=request.POST.get("reason", ""), actor=request.user
                )
                messages.success(request, f"Notifications of {alarm.name} muted for {minutes} minute(s).")
            elif action == "unmute":
                alarms.alarm_unmute(name=alarm.name, actor=request.user)
                messages.success(request, f"Notifications of {alarm.name} are on again.")
            elif action == "acknowledge":
                alarms.alarm_acknowledge(name=alarm.name, actor=request.user, note=request.POST.get("note", ""))
                messages.success(request, "Acknowledged.")
            elif action == "assign":
                username = request.POST.get("owner", "")
                owner = get_user_model().objects.filter(username=username, is_staff=True).first() if username else None
                alarms.alarm_assign(name=alarm.name, owner=owner, actor=request.user)
                messages.success(request, f"Owner: {owner or 'nobody'}.")
            else:
                messages.error(request, "Unknown action.")
        except (OpsError, ValueError) as exc:
            messages.error(request, str(exc))
        return back

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        alarm = get_object_or_404(Alarm, pk=object_id)
        queue = selectors.alarm_dead_letter_queue(alarm)
        extra = {
            "alarm": alarm,
            "history": selectors.alarm_history(name=alarm.name, limit=100),
            "queue": queue,
            "queue_waiting": DeadLetter.objects.filter(queue_name=queue, state=DeadLetter.State.PRESENT).count()
            if queue
            else 0,
            "function": selectors.alarm_function(alarm),
            "orders": selectors.alarm_affected_orders(alarm),
            "can_manage": request.user.has_perm(MANAGE_ALARM),
            "staff": get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username"),
            "now": timezone.now(),
            "alarm_charts": _alarm_charts(alarm),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


def _alarm_charts(alarm: Alarm) -> list:
    """The alarm's metric with its threshold (from CloudWatch, cached a minute: every
    viewer of the page sees the same points) and its state over the same hours."""
    charts = []
    if alarm.metric_name and alarm.namespace:
        charts.append(
            chart_render(
                key="alarm-metric",
                title=f"{alarm.metric_name} and threshold (3 hours)",
                data=lambda: metrics.alarm_metric_chart(alarm=alarm, hours=3),
                cache_key=f"alarm-chart:{alarm.pk}:{alarm.threshold}:{alarm.period}:{alarm.statistic}",
            )
        )
    charts.append(
        chart_render(key="alarm-state", title="State (3 hours)", data=lambda: metrics.alarm_state_chart(alarm=alarm))
    )
    return charts


def _alert_routing() -> dict:
    """Where the stage's alarms notify, for the Alarms page: the alert topic's subscriptions,
    or why they are unknown (the page still lists the alarms when SNS does not answer)."""
    try:
        return {"alert_subscriptions": subscriptions.alert_subscriptions(), "alert_error": ""}
    except LookupError:
        return {"alert_subscriptions": [], "alert_error": "The alert topic is not deployed."}
    except Exception as exc:  # botocore's errors: the alarms themselves are still worth showing
        return {"alert_subscriptions": [], "alert_error": f"SNS did not answer ({type(exc).__name__})."}
