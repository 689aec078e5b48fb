"""Every queue of the stage, as Sidekiq shows its queues: messages waiting, in flight and
delayed, the age of the oldest, who consumes it and its DLQ; and pausing and resuming a
queue's consumer (its Lambda event source mapping), with a reason."""

from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from console.aws import clients as aws
from console.models import AuditEntry
from console.pages.readonly import ReadOnlyAdminMixin
from console.platform.timefmt import duration
from ops import queues
from ops.admin.common import PAUSE_QUEUE, REDRIVE, require
from ops.errors import OpsError
from ops.models import Queue


def age_text(seconds: int | None) -> str:
    """ "4 min" for an age in seconds; "—" when CloudWatch has no datapoint yet."""
    if seconds is None:
        return "—"
    now = timezone.now()
    return duration(now - timedelta(seconds=seconds), now) if seconds else "0 s"


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A page of its own (no table behind the model): the list, pause and resume."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name="ops_queue_changelist"),
            path("pause/", view(self.pause_view), name="ops_queue_pause"),
            path("resume/", view(self.resume_view), name="ops_queue_resume"),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        return self._page(request, **(extra_context or {}))

    def _page(self, request: HttpRequest, *, status: int = 200, **extra) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            overview = queues.stage_queue_overview()
            error = ""
        except (ClientError, BotoCoreError) as exc:
            overview = queues.QueueOverview()
            error = f"SQS did not answer ({aws.error_code(exc) or type(exc).__name__}): no queues to show."
        rows = [
            {
                **row,
                "age": age_text(row["oldestAgeSeconds"]),
                # Only a consumer with an event source mapping can be paused.
                "pausable": any(consumer["mappingId"] for consumer in row["consumers"]),
            }
            for row in overview.rows
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Queues",
            "opts": self.model._meta,
            "rows": rows,
            "warnings": overview.warnings,
            "error": error,
            "can_pause": request.user.has_perm(PAUSE_QUEUE),
            "can_see_dead_letters": request.user.has_perm("ops.view_deadletter"),
            "can_redrive": request.user.has_perm(REDRIVE),
            **extra,
        }
        return TemplateResponse(request, "admin/ops/queue/change_list.html", context, status=status)

    def pause_view(self, request: HttpRequest) -> HttpResponse:
        return self._consumer_change(request, queues.queue_pause, "paused")

    def resume_view(self, request: HttpRequest) -> HttpResponse:
        return self._consumer_change(request, queues.queue_resume, "resumed")

    def _consumer_change(self, request: HttpRequest, change, done: str) -> HttpResponse:
        require(request, PAUSE_QUEUE)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        queue, reason = request.POST.get("queue", ""), request.POST.get("reason", "")
        try:
            change(queue_name=queue, actor=request.user, reason=reason, source=AuditEntry.Source.CONSOLE)
        except OpsError as exc:
            # The page again, the error beside the queue's form and the reason as typed.
            return self._page(request, status=400, form_error={"queue": queue, "message": str(exc), "reason": reason})
        messages.success(request, f"{queue} {done}. The reason is in the audit log.")
        return HttpResponseRedirect(reverse("admin:ops_queue_changelist") + f"#queue-{queue}")
