"""The executions: the list (status, state machine, restarts), and each execution's page
with its readable history from Step Functions, its step runs, approvals and restarts, and
the restart button (``workflows.restart_execution``)."""

import logging
import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from console.aws import resources
from console.pages.live import live_not_modified
from console.pages.readonly import ReadOnlyAdminMixin
from console.platform.timefmt import duration
from workflows import selectors, sfn
from workflows.admin.filters import RestartedFilter
from workflows.executions import execution_refresh
from workflows.models import Execution, StepRun
from workflows.restarts import RESTARTABLE_STATUSES, ExecutionNotRestartable, execution_restart

logger = logging.getLogger(__name__)
RESTART_PERMISSION = "workflows.restart_execution"


class StepRunInline(admin.TabularInline):
    model = StepRun
    fields = ["step", "status", "output", "error", "cause", "started_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Step runs (our handlers' records)"

    def has_add_permission(self, request, obj=None):
        return False


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _short_uuid(match: re.Match) -> str:
    return match.group()[:8] + "\u2026"


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "short_name",
        "order_link",
        "machine",
        "status_badge",
        "current_state",
        "started_at",
        "took",
        "label",
    ]
    list_display_links = ["short_name"]
    list_filter = ["status", "state_machine", RestartedFilter]
    search_fields = ["name"]
    search_help_text = "An order id (whole or its first characters) or an execution name."
    list_select_related = ["order", "restarted_from"]
    show_full_result_count = False
    inlines = [StepRunInline]
    change_form_template = "admin/workflows/execution/change_form.html"
    change_list_template = "admin/workflows/execution/change_list.html"
    fields = [
        "name",
        "order",
        "state_machine",
        "status",
        "current_state",
        "arn",
        "error",
        "cause",
        "started_at",
        "stopped_at",
        "restarted_from",
        "restart_method",
        "redrive_count",
    ]

    def get_fieldsets(self, request, obj=None):
        # The page's summary and history above show these already: the record, folded.
        return [("Recorded fields", {"fields": self.fields, "classes": ["collapse"]})]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        by_order = selectors.order_id_filter(term)
        return queryset.filter(by_order) | queryset.filter(name=term), False

    @admin.display(description="Order")
    def order_link(self, execution: Execution) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[execution.order_id]),
            str(execution.order_id)[:8],
        )

    @admin.display(description="Name", ordering="name")
    def short_name(self, execution: Execution) -> str:
        # Names carry the order's whole id (order-<uuid>, order-<uuid>-restart-2): shown with
        # its first characters, as the order column shows it; the whole name on hover.
        return format_html('<span title="{}">{}</span>', execution.name, _UUID.sub(_short_uuid, execution.name))

    @admin.display(description="State machine", ordering="state_machine")
    def machine(self, execution: Execution) -> str:
        # Records made from a task message hold the full name (<prefix>-<stage>-<machine>).
        return execution.state_machine.removeprefix(resources.resource_name(""))

    @admin.display(description="Status", ordering="status")
    def status_badge(self, execution: Execution) -> str:
        return format_html(
            '<span class="execution-status status-{}">{}</span>', execution.status.lower(), execution.status
        )

    @admin.display(description="Took")
    def took(self, execution: Execution) -> str:
        if execution.started_at and execution.stopped_at:
            return duration(execution.started_at, execution.stopped_at, depth=2)
        return "-"

    @admin.display(description="")
    def label(self, execution: Execution) -> str:
        parts = []
        if execution.restarted_from_id:
            parts.append(f"restart of {execution.restarted_from.name}")
        if execution.redrive_count:
            parts.append(f"redriven {execution.redrive_count}×")
        return ", ".join(parts)

    def get_urls(self):
        custom = [
            path(
                "<int:execution_id>/restart/",
                self.admin_site.admin_view(self.restart_view),
                name="workflows_execution_restart",
            )
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        execution = Execution.objects.filter(pk=object_id).select_related("order", "restarted_from").first()
        if execution is not None and self.has_view_or_change_permission(request, execution):
            # A live poll: the page reads Step Functions, so it is rendered only when what the
            # console recorded changed (or, for an open execution, every 30 s).
            not_modified = live_not_modified(
                request, fingerprint=lambda: selectors.execution_page_fingerprint(execution=execution)
            )
            if not_modified is not None:
                return not_modified
        if execution is not None:
            extra_context.update(self._history_context(request, execution))
        return super().change_view(request, object_id, form_url, extra_context)

    def _history_context(self, request: HttpRequest, execution: Execution) -> dict:
        live_error, history = "", None
        if execution.arn:
            try:
                if execution.is_open:
                    execution = execution_refresh(execution=execution)
                history = selectors.execution_history(execution_arn=execution.arn)
            except Exception as exc:  # the page still shows what we recorded
                logger.warning("could not read the history of %s: %s", execution.name, exc)
                live_error = f"{type(exc).__name__}: {exc}"
        return {
            "execution": execution,
            "history": history,
            "live_error": live_error,
            "restarts": list(execution.restarts.order_by("created_at")),
            "approvals": list(execution.approvals.select_related("decided_by").order_by("requested_at")),
            "can_restart": request.user.has_perm(RESTART_PERMISSION) and execution.status in RESTARTABLE_STATUSES,
        }

    def restart_view(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        return require_POST(self._restart)(request, execution_id)

    def _restart(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        if not request.user.has_perm(RESTART_PERMISSION):
            raise PermissionDenied("You may not restart executions.")
        execution = get_object_or_404(Execution, pk=execution_id)
        try:
            running = execution_restart(
                execution_id=execution.pk, actor=request.user, reason=request.POST.get("reason", "")
            )
        except ExecutionNotRestartable as exc:
            messages.warning(request, f"{execution.name}: {exc}")
            return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[execution.pk]))
        except sfn.StepFunctionsUnavailable as exc:
            logger.warning("restart of %s: Step Functions answered %s", execution.name, exc.aws_code)
            messages.error(
                request,
                f"{execution.name} was not restarted: Step Functions answered {exc.aws_code or 'an error'} "
                "(a temporary fault on AWS's side). Nothing was changed; try again in a few minutes.",
            )
            return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[execution.pk]))
        if running.pk == execution.pk:
            messages.success(request, f"{execution.name} redriven: it continues from the step that failed.")
        else:
            messages.success(
                request, f"Started {running.name} with the same input (the engine could not redrive {execution.name})."
            )
        return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[running.pk]))
