"""Failed jobs: Celery tasks that failed (for good, by default), searchable by their
arguments (an order id finds its jobs), with retry and discard one at a time from a job's
page, and in bulk for the selection or everything matching the filter, after a
confirmation page that says how many."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from console.models import AuditEntry
from console.pages.filters import InboxChoiceFilter
from console.pages.readonly import ReadOnlyAdminMixin
from console.pages.user_links import UserLinksMixin
from console.platform.timefmt import ago
from ops import failures, selectors
from ops.admin.common import DISCARD_JOB, RETRY_JOB, require
from ops.errors import OpsError
from ops.models import DeadLetter, TaskFailure

# One bulk action retries or discards at most this many jobs (each is its own transaction,
# audit entry and, for a retry, SQS message): a web request on Lambda has about 29 s.
BULK_LIMIT = 500


class StatusFilter(InboxChoiceFilter):
    """Jobs that failed for good by default: those wait for support staff."""

    title = "status"
    parameter_name = "status"
    field = "status"
    default = TaskFailure.Status.FAILED
    choices_list = TaskFailure.Status.choices


@admin.register(TaskFailure)
class TaskFailureAdmin(UserLinksMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["failed", "task_link", "arguments", "error_line", "attempts_label", "order_link", "status_label"]
    list_display_links = ["failed"]
    list_filter = [StatusFilter, "task", "worker"]
    search_fields = ["task"]  # the search itself is selectors.task_failure_search
    search_help_text = "Arguments, task, task id or error text: paste an order id to find its jobs."
    list_per_page = 50
    list_select_related = ["retried_by", "resolved_by"]
    actions = ["retry_selected", "discard_selected"]
    change_list_template = "admin/ops/taskfailure/change_list.html"
    change_form_template = "admin/ops/taskfailure/change_form.html"
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        return selectors.task_failure_search(queryset, search_term), False

    @admin.display(description="Failed", ordering="failed_at")
    def failed(self, failure: TaskFailure) -> str:
        return ago(failure.failed_at)

    @admin.display(description="Task", ordering="task")
    def task_link(self, failure: TaskFailure) -> str:
        url = reverse("admin:ops_taskfailure_changelist") + "?" + urlencode({"task": failure.task})
        return format_html('<a href="{}" title="Failures of this task">{}</a>', url, failure.task)

    @admin.display(description="Arguments")
    def arguments(self, failure: TaskFailure) -> str:
        return format_html('<code class="job-arguments">{}</code>', _arguments_line(failure)[:160])

    @admin.display(description="Error")
    def error_line(self, failure: TaskFailure) -> str:
        line = failure.error.strip().splitlines()[0][:140] if failure.error.strip() else ""
        return f"{failure.error_type}: {line}" if line else failure.error_type

    @admin.display(description="Attempts")
    def attempts_label(self, failure: TaskFailure) -> str:
        if failure.max_retries is None:
            return str(failure.attempts)
        return f"{failure.attempts} of {failure.max_retries + 1}"

    @admin.display(description="Order")
    def order_link(self, failure: TaskFailure) -> str:
        if not failure.order_id:
            return "-"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[failure.order_id]),
            str(failure.order_id)[:8],
        )

    @admin.display(description="Status", ordering="status")
    def status_label(self, failure: TaskFailure) -> str:
        # A retried job says so whatever its retry became (resolved, or failed again).
        retried = ""
        if failure.retry_task_id:
            who = f" by {failure.retried_by}" if failure.retried_by else ""
            retried = f" · retried{who} {ago(failure.retried_at)}" if failure.retried_at else f" · retried{who}"
        return format_html(
            '<span class="job-status" data-status="{}">{}</span><span class="job-retried">{}</span>',
            failure.status,
            failure.get_status_display(),
            retried,
        )

    # --- Permissions of the actions -------------------------------------------------------

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(RETRY_JOB)

    def has_discard_permission(self, request) -> bool:
        return request.user.has_perm(DISCARD_JOB)

    # --- The job's page -------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:failure_id>/retry/", view(self.retry_view), name="ops_taskfailure_retry"),
            path("<int:failure_id>/discard/", view(self.discard_view), name="ops_taskfailure_discard"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        failure = get_object_or_404(TaskFailure.objects.select_related("retried_by", "resolved_by"), pk=object_id)
        extra = {
            "failure": failure,
            "args_pretty": json.dumps(failure.args, indent=2),
            "kwargs_pretty": json.dumps(failure.kwargs, indent=2),
            "retry_failure": TaskFailure.objects.filter(task_id=failure.retry_task_id).first()
            if failure.retry_task_id
            else None,
            "dead_letters": DeadLetter.objects.filter(task_id=failure.task_id).order_by("-archived_at")[:10],
            "can_retry": request.user.has_perm(RETRY_JOB) and failure.status in failures.RETRYABLE,
            "can_discard": request.user.has_perm(DISCARD_JOB) and failure.status in failures.DISCARDABLE,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _act_one(self, request, failure_id: int, permission: str, operation, done: str) -> HttpResponse:
        require(request, permission)
        if request.method != "POST":
            return HttpResponse(status=405)
        get_object_or_404(TaskFailure, pk=failure_id)
        try:
            failure = operation(
                failure_id=failure_id,
                actor=request.user,
                source=AuditEntry.Source.CONSOLE,
                reason=request.POST.get("reason", "")[:2000],
            )
        except OpsError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done.format(failure=failure))
        return HttpResponseRedirect(reverse("admin:ops_taskfailure_change", args=[failure_id]))

    def retry_view(self, request, failure_id: int):
        return self._act_one(
            request,
            failure_id,
            RETRY_JOB,
            failures.task_failure_retry,
            "Sent {failure.task} again, as task {failure.retry_task_id}.",
        )

    def discard_view(self, request, failure_id: int):
        return self._act_one(request, failure_id, DISCARD_JOB, failures.task_failure_discard, "Discarded.")

    # --- Bulk: the selection, or everything matching the filter ---------------------------

    @admin.action(description="Retry selected failed jobs…", permissions=["retry"])
    def retry_selected(self, request, queryset):
        return self._bulk(request, queryset, "retry")

    @admin.action(description="Discard selected failed jobs…", permissions=["discard"])
    def discard_selected(self, request, queryset):
        return self._bulk(request, queryset, "discard")

    def _bulk(self, request, queryset, action: str):
        """First the confirmation page (how many, which); its form posts the same action
        back to the same list (filters and search in its address), confirmed. Only the jobs
        that matched when the page was shown are acted on (``upto``): failures arriving
        meanwhile wait for their own decision."""
        if request.POST.get("confirm") == "yes":
            try:
                upto = int(request.POST.get("upto", ""))
            except ValueError:
                self.message_user(request, "The confirmation was incomplete: nothing changed.", messages.ERROR)
                return None
            ids = list(queryset.filter(pk__lte=upto).order_by("pk").values_list("pk", flat=True)[:BULK_LIMIT])
            outcome = failures.task_failures_act(
                action=action,
                failure_ids=ids,
                actor=request.user,
                source=AuditEntry.Source.CONSOLE,
                reason=request.POST.get("reason", "")[:2000],
            )
            verb = "Retried" if action == "retry" else "Discarded"
            self.message_user(request, f"{verb} {len(outcome.done)} failed job(s).", messages.SUCCESS)
            if outcome.refused:
                reasons = sorted(set(outcome.refused.values()))
                self.message_user(
                    request,
                    f"{len(outcome.refused)} left as they were: " + " ".join(reasons[:3]),
                    messages.WARNING,
                )
            if outcome.stopped:
                self.message_user(request, f"Stopped: {outcome.stopped}", messages.ERROR)
            return None
        count = queryset.count()
        eligible = queryset.filter(status__in=failures.RETRYABLE if action == "retry" else failures.DISCARDABLE).count()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{'Retry' if action == 'retry' else 'Discard'} {count} failed job(s)?",
            "action": f"{action}_selected",
            "verb": action,
            "count": count,
            "eligible": eligible,
            "over_limit": count > BULK_LIMIT,
            "limit": BULK_LIMIT,
            "across": request.POST.get("select_across") == "1",
            "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "upto": queryset.aggregate(top=Max("pk"))["top"] or 0,
            "sample": queryset.order_by("pk")[:20],
            "filters_text": _filters_text(request),
        }
        return TemplateResponse(request, "admin/ops/taskfailure/confirm.html", context)


def _arguments_line(failure: TaskFailure) -> str:
    parts = [json.dumps(value) for value in failure.args]
    parts += [f"{key}={json.dumps(value)}" for key, value in failure.kwargs.items()]
    return ", ".join(parts)


def _filters_text(request) -> str:
    """The list's filter and search as words, for the confirmation page."""
    words = []
    status = request.GET.get("status") or TaskFailure.Status.FAILED
    words.append("every status" if status == "all" else f"status {TaskFailure.Status(status).label.lower()}")
    if request.GET.get("task"):
        words.append(f"task {request.GET['task']}")
    if request.GET.get("worker"):
        words.append(f"worker {request.GET['worker']}")
    if request.GET.get("q"):
        words.append(f"matching “{request.GET['q']}”")
    return ", ".join(words)
