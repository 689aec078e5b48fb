"""The executions: the list (status, state machine, restarts), and each execution's page:
its failure at the top, the state machine drawn with the path taken and the current state
(``workflows.graph``), its readable history from Step Functions, its step runs, approvals
and restarts, the restart button (``workflows.restart_execution``), the stop page
(``workflows.stop_execution``), the retry of a failed compensation (restart permission) and
the start of the order saga from an order's page (``workflows.start_saga``)."""

import logging
import re
from uuid import UUID

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from console.aws import resources
from console.pages.live import live_not_modified
from console.pages.readonly import ReadOnlyAdminMixin
from console.platform.timefmt import duration
from orders.models import Order
from workflows import selectors, sfn
from workflows.admin.filters import EndingFilter, RestartedFilter
from workflows.compensations import CompensationNotRetryable, compensation_retry
from workflows.executions import execution_refresh
from workflows.graph import definition_graph, execution_path, graph_svg
from workflows.models import CompensationStatus, Execution, StepRun
from workflows.restarts import RESTARTABLE_STATUSES, ExecutionNotRestartable, execution_restart, execution_resume_point
from workflows.saga import saga_start
from workflows.stops import ExecutionNotStoppable, execution_can_stop, execution_stop

logger = logging.getLogger(__name__)
RESTART_PERMISSION = "workflows.restart_execution"
STOP_PERMISSION = "workflows.stop_execution"
SAGA_PERMISSION = "workflows.start_saga"


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
    list_filter = ["status", EndingFilter, "compensation_status", "state_machine", RestartedFilter]
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
        "compensation_status",
        "compensation_error",
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
            ),
            path(
                "<int:execution_id>/retry-compensation/",
                self.admin_site.admin_view(self.compensation_retry_view),
                name="workflows_execution_compensation_retry",
            ),
            path(
                "start-saga/",
                self.admin_site.admin_view(self.saga_start_view),
                name="workflows_execution_start_saga",
            ),
            path(
                "<int:execution_id>/stop/",
                self.admin_site.admin_view(self.stop_view),
                name="workflows_execution_stop",
            ),
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
        can_restart = request.user.has_perm(RESTART_PERMISSION) and execution.status in RESTARTABLE_STATUSES
        graph_context = self._graph_context(execution, history)
        resume_at = ""
        if can_restart and history is not None and "graph" in graph_context:
            try:
                resume_at = execution_resume_point(execution=execution, definition=graph_context["definition"])
            except Exception as exc:  # the button still restarts; it only cannot name the step
                logger.warning("could not find where %s would resume: %s", execution.name, exc)
        return {
            "execution": execution,
            "history": history,
            "live_error": live_error,
            "failure": selectors.execution_failure(execution=execution, history=history),
            "restarts": list(execution.restarts.order_by("created_at")),
            "approvals": list(execution.approvals.select_related("decided_by").order_by("requested_at")),
            "can_restart": can_restart,
            "resume_at": resume_at,
            "can_stop": request.user.has_perm(STOP_PERMISSION) and execution_can_stop(execution),
            "compensations": list(execution.compensations.select_related("undoes").order_by("created_at", "id")),
            "can_retry_compensation": request.user.has_perm(RESTART_PERMISSION)
            and execution.compensation_status == CompensationStatus.FAILED
            and not execution.is_open,
            **graph_context,
        }

    def _graph_context(self, execution: Execution, history) -> dict:
        """The state machine drawn with the execution's path; the page goes on without it
        when no definition is to be had."""
        try:
            definition, live = selectors.execution_definition(execution=execution)
            graph = definition_graph(definition)
        except (LookupError, ValueError) as exc:
            return {"graph_error": str(exc)}
        path = execution_path(graph, history.visits if history else [])
        title = f"{execution.name}: the state machine {execution.state_machine}, with the path taken"
        return {
            "definition": definition,
            "graph": mark_safe(graph_svg(graph, path=path, title=title)),  # noqa: S308 (escaped in graph_svg)
            "graph_path": path,
            "graph_states": list(graph.nodes.values()),
            "graph_edges": graph.edges,
            "graph_live": live,
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
        elif running.resumed_at:
            messages.success(
                request, f"Started {running.name}: it resumes at {running.resumed_at}, the step that failed."
            )
        else:
            messages.success(
                request, f"Started {running.name} with the same input (the engine could not redrive {execution.name})."
            )
        return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[running.pk]))

    def compensation_retry_view(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        return require_POST(self._compensation_retry)(request, execution_id)

    def _compensation_retry(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        if not request.user.has_perm(RESTART_PERMISSION):
            raise PermissionDenied("You may not retry compensations.")
        execution = get_object_or_404(Execution, pk=execution_id)
        page = reverse("admin:workflows_execution_change", args=[execution.pk])
        try:
            execution = compensation_retry(execution_id=execution.pk, actor=request.user)
        except CompensationNotRetryable as exc:
            messages.warning(request, f"{execution.name}: {exc}")
            return HttpResponseRedirect(page)
        except Exception as exc:  # the compensation failed again: nothing was recorded
            logger.exception("compensation retry of %s failed", execution.name)
            messages.error(request, f"{execution.name}: the compensation failed again ({type(exc).__name__}: {exc}).")
            return HttpResponseRedirect(page)
        messages.success(request, f"{execution.name}: compensated; the order gave back what it took.")
        return HttpResponseRedirect(page)

    def saga_start_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._saga_start)(request)

    def _saga_start(self, request: HttpRequest) -> HttpResponse:
        """Start the order saga (``workflows.saga.saga_start``) for the posted order, from
        the order page; the new execution's page follows."""
        if not request.user.has_perm(SAGA_PERMISSION):
            raise PermissionDenied("You may not start the order saga.")
        try:
            order = Order.objects.filter(pk=UUID(request.POST.get("order_id", ""))).first()
        except ValueError:
            order = None
        if order is None:
            messages.error(request, "The saga was not started: no such order.")
            return HttpResponseRedirect(reverse("admin:orders_order_changelist"))
        try:
            execution = saga_start(order_id=order.pk, actor=request.user)
        except Exception as exc:  # Step Functions refused or did not answer
            logger.exception("could not start the saga of order %s", order.pk)
            messages.error(request, f"The saga was not started: {type(exc).__name__}: {exc}")
            return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        messages.success(request, f"Started {execution.name}, the order saga of this order.")
        return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[execution.pk]))

    def stop_view(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        return require_http_methods(["GET", "POST"])(self._stop)(request, execution_id)

    def _stop(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        """GET: the confirmation page, with a reason field. POST: stop it (``execution_stop``)."""
        if not request.user.has_perm(STOP_PERMISSION):
            raise PermissionDenied("You may not stop executions.")
        execution = get_object_or_404(Execution.objects.select_related("order"), pk=execution_id)
        page = reverse("admin:workflows_execution_change", args=[execution.pk])
        error, reason = "", ""
        if request.method == "POST":
            reason = request.POST.get("reason", "").strip()
            try:
                stopped = execution_stop(execution_id=execution.pk, actor=request.user, reason=reason)
            except ExecutionNotStoppable as exc:
                error = str(exc)
            except (sfn.StepFunctionsUnavailable, sfn.ExecutionNotFound) as exc:
                logger.warning("stop of %s: %s", execution.name, exc)
                error = f"{execution.name} was not stopped: {exc}"
            else:
                if stopped.status == Execution.Status.ABORTED:
                    messages.success(request, f"{execution.name} stopped (ABORTED); its order failed with your reason.")
                else:
                    messages.success(
                        request,
                        f"Stop of {execution.name} requested; its order failed with your reason. The local engine "
                        "ends the execution once the task it waits on is answered (its open tasks were answered).",
                    )
                return HttpResponseRedirect(page)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Stop {execution.name}?",
            "execution": execution,
            "stoppable": execution_can_stop(execution),
            "error": error,
            "reason": reason,
            "page": page,
        }
        # A refusal is shown on the form, as Django shows an invalid form (200), the reason kept.
        return TemplateResponse(request, "admin/workflows/execution/stop.html", context)
