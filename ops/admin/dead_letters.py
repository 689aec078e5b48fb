"""The failure inbox: every DLQ's archived messages, grouped and searchable, and the pages
acting on them: redrive with a dry run, AWS's move task, "Archive now", delete and purge
with confirmation."""

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

from console.models import AuditEntry
from console.pages.filters import InboxChoiceFilter
from console.pages.readonly import ReadOnlyAdminMixin
from console.pages.user_links import UserLinksMixin
from console.platform.timefmt import ago
from ops import archive, decoding, selectors, sqs
from ops.admin.common import PURGE, REDRIVE, require
from ops.errors import OpsError
from ops.models import DeadLetter, RedriveJob
from ops.queues import queue_rows
from ops.redrive import jobs, move_tasks
from workflows.models import Approval, Execution, StepRun


class StateFilter(InboxChoiceFilter):
    """Waiting messages by default: that is the inbox."""

    title = "state"
    parameter_name = "state"
    field = "state"
    default = DeadLetter.State.PRESENT
    choices_list = DeadLetter.State.choices


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    SPANS = {"1h": ("Last hour", 1, None), "24h": ("Last day", 24, None), "old": ("Older than a day", None, 24)}

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _, _) in self.SPANS.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.SPANS:
            return queryset
        _, newer, older = self.SPANS[self.value()]
        now = timezone.now()
        if newer:
            queryset = queryset.filter(archived_at__gte=now - timedelta(hours=newer))
        if older:
            queryset = queryset.filter(archived_at__lt=now - timedelta(hours=older))
        return queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(UserLinksMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["arrived", "queue_name", "kind", "task_link", "error_line", "order_link", "receives", "state"]
    list_display_links = ["arrived"]
    list_filter = [StateFilter, "queue_name", "kind", AgeFilter]
    # The body too (icontains): a scan of the bodies of the rows the filters leave (waiting
    # messages by default, one queue when picked); docs/support.md gives the measured cost.
    search_fields = ["task", "error", "message_id", "task_id", "body"]
    search_help_text = (
        "Task, error text, message id, task id or text in the message body; paste an order id to find its messages."
    )
    list_per_page = 50
    list_select_related = False
    actions = ["redrive_selected", "delete_selected_messages"]
    change_list_template = "admin/ops/deadletter/change_list.html"
    change_form_template = "admin/ops/deadletter/change_form.html"
    show_full_result_count = False

    def lookup_allowed(self, lookup, value, request=None):
        # Links from the task and error columns filter on these exact values.
        return lookup in {"fingerprint", "task"} or super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if decoding.UUID_RE.fullmatch(term):
            return queryset.filter(order_id=term.lower()) | queryset.filter(message_id=term) | queryset.filter(
                task_id=term
            ), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Arrived", ordering="archived_at")
    def arrived(self, message: DeadLetter) -> str:
        if not message.archived_at:
            return "-"
        return format_html(
            '<span title="{}">{}</span>',
            message.archived_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            ago(message.archived_at),
        )

    @admin.display(description="Task", ordering="task")
    def task_link(self, message: DeadLetter) -> str:
        if not message.task:
            # Nothing decoded a task: a glimpse of the body says more than a dash.
            return format_html("<code>{}</code>", decoding.redact(message.body)[:80])
        url = reverse("admin:ops_deadletter_changelist") + "?" + urlencode({"task": message.task})
        # Cut short; the whole name on hover (a long one would widen the list past the window).
        return format_html(
            '<a href="{}" title="All messages of this task: {}">{}</a>',
            url,
            message.task,
            Truncator(message.task).chars(80),
        )

    @admin.display(description="Error")
    def error_line(self, message: DeadLetter) -> str:
        line = (message.error or "").strip().splitlines()[0][:140] if message.error else ""
        text = f"{message.error_type}: {line}" if message.error_type and line else message.error_type or line or "-"
        url = reverse("admin:ops_deadletter_changelist") + "?" + urlencode({"fingerprint": message.fingerprint})
        return format_html('<a href="{}" title="All messages with this task and error: {}">{}</a>', url, text, text)

    @admin.display(description="Order")
    def order_link(self, message: DeadLetter) -> str:
        if not message.order_id:
            return "-"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[message.order_id]),
            str(message.order_id)[:8],
        )

    @admin.display(description="Receives")
    def receives(self, message: DeadLetter) -> int:
        return message.receive_count

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        queue = request.GET.get("queue_name", "")
        filters = {k: request.GET[k] for k in ("fingerprint", "task") if request.GET.get(k)}
        if request.GET.get("kind__exact"):
            filters["kind"] = request.GET["kind__exact"]
        if request.GET.get("q") and decoding.UUID_RE.fullmatch(request.GET["q"].strip()):
            filters["order"] = request.GET["q"].strip()
        try:
            queues = queue_rows()
            queues_error = ""
        except Exception as exc:  # the archive still answers when SQS does not
            queues, queues_error = [], f"SQS did not answer ({type(exc).__name__}); showing the archive only."
        extra = {
            "title": f"Dead letters of {queue}" if queue else "Dead letters: every failure, every queue",
            "queues": queues,
            "queues_error": queues_error,
            "current_queue": queue,
            "groups": selectors.dead_letter_groups(queue_name=queue or None, filters=filters)[:15],
            "redrive_query": urlencode({"queue": queue, **filters}),
            "can_redrive": request.user.has_perm(REDRIVE),
            "can_purge": request.user.has_perm(PURGE),
            "active_jobs": RedriveJob.objects.filter(status__in=RedriveJob.ACTIVE).order_by("-created_at")[:5],
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        message = get_object_or_404(DeadLetter, pk=object_id)
        extra = {
            "message": message,
            "body_pretty": _pretty(decoding.redact(message.body)),
            "summary_pretty": json.dumps(message.summary, indent=2, default=str),
            "attribute_rows": decoding.sqs_attribute_rows(message.attributes),
            "message_attributes_pretty": json.dumps(message.message_attributes, indent=2),
            "workflow": _workflow_context(message),
            "earlier": DeadLetter.objects.filter(body_sha256=message.body_sha256).exclude(pk=message.pk)[:10],
            "can_redrive": request.user.has_perm(REDRIVE) and message.state == DeadLetter.State.PRESENT,
            "can_purge": request.user.has_perm(PURGE) and message.state == DeadLetter.State.PRESENT,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    # --- Actions and pages --------------------------------------------------------------

    @admin.action(description="Redrive selected messages…", permissions=["redrive"])
    def redrive_selected(self, request, queryset):
        return self._selected_to_page(request, queryset, "admin:ops_deadletter_redrive")

    @admin.action(description="Delete selected messages…", permissions=["purge"])
    def delete_selected_messages(self, request, queryset):
        return self._selected_to_page(request, queryset, "admin:ops_deadletter_delete_messages")

    def _selected_to_page(self, request, queryset, url_name: str):
        """The confirmation page of an action on the selected messages. A redrive of
        messages of several queues is split by queue (its page lists each); a deletion
        stays one queue at a time."""
        queues = set(queryset.values_list("queue_name", flat=True))
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        if len(queues) > 1 and url_name == "admin:ops_deadletter_redrive":
            return HttpResponseRedirect(reverse(url_name) + "?" + urlencode({"ids": ids}))
        if len(queues) != 1:
            self.message_user(request, "Select messages of one queue at a time.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse(url_name) + "?" + urlencode({"queue": queues.pop(), "ids": ids}))

    def has_redrive_permission(self, request) -> bool:
        return request.user.has_perm(REDRIVE)

    def has_purge_permission(self, request) -> bool:
        return request.user.has_perm(PURGE)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("redrive/", view(self.redrive_view), name="ops_deadletter_redrive"),
            path("delete/", view(self.delete_view_confirm), name="ops_deadletter_delete_messages"),
            path("purge/", view(self.purge_view), name="ops_deadletter_purge"),
            path("archive-now/", view(self.archive_now_view), name="ops_deadletter_archive_now"),
            path("move-task/", view(self.move_task_view), name="ops_deadletter_move_task"),
        ] + super().get_urls()

    def _context(self, request, title: str, **extra):
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **extra}

    def redrive_view(self, request: HttpRequest) -> HttpResponse:
        require(request, REDRIVE)
        source = request.POST if request.method == "POST" else request.GET
        queue = source.get("queue", "")
        ids = [int(pk) for pk in source.get("ids", "").split(",") if pk.strip().isdigit()]
        if ids and not queue:
            return self._redrive_by_queue(request, ids)
        filters = {k: source[k] for k in ("fingerprint", "task", "error", "kind", "order") if source.get(k)}
        mode = RedriveJob.Mode.SELECTED if ids else RedriveJob.Mode.FILTERED if filters else RedriveJob.Mode.ALL
        form = RedriveForm(request.POST or None, queue=queue)
        plan, error = None, ""
        target = form.cleaned_target() if request.method == "POST" and form.is_valid() else ""
        try:
            plan = jobs.redrive_plan(queue_name=queue, mode=mode, filters=filters, message_ids=ids, target_queue=target)
        except OpsError as exc:
            error = str(exc)
        if request.method == "POST" and form.is_valid() and request.POST.get("start") and not error:
            try:
                job = jobs.redrive_start(
                    queue_name=queue,
                    mode=mode,
                    actor=request.user,
                    filters=filters,
                    message_ids=ids,
                    target_queue=target,
                    rate_limit=form.cleaned_data["rate_limit"],
                    parallelism=form.cleaned_data["parallelism"],
                    reason=form.cleaned_data["reason"],
                    source=AuditEntry.Source.CONSOLE,
                )
            except OpsError as exc:
                error = str(exc)
            else:
                messages.success(request, f"Redrive of {job.total} message(s) from {queue} started.")
                return HttpResponseRedirect(reverse("admin:ops_redrivejob_change", args=[job.pk]))
        context = self._context(
            request,
            f"Redrive from {queue}",
            queue=queue,
            mode=mode,
            mode_label=RedriveJob.Mode(mode).label,
            ids=",".join(map(str, ids)),
            filters=filters,
            form=form,
            plan=plan,
            samples=[(m, decoding.redact(m.body)[:300]) for m in (plan.samples if plan else [])],
            error=error,
        )
        response = TemplateResponse(request, "admin/ops/redrive.html", context)
        if error and request.method == "POST":
            response.status_code = 400
        return response

    def _redrive_by_queue(self, request: HttpRequest, ids: list[int]) -> HttpResponse:
        """Selected messages of several queues: one redrive per queue, each with its dry
        run on one page, started together (to each message's source queue)."""
        form = RedriveByQueueForm(request.POST or None)
        error = ""
        if request.method == "POST" and form.is_valid() and request.POST.get("start"):
            try:
                started = jobs.redrive_start_by_queue(
                    message_ids=ids,
                    actor=request.user,
                    rate_limit=form.cleaned_data["rate_limit"],
                    parallelism=form.cleaned_data["parallelism"],
                    reason=form.cleaned_data["reason"],
                    source=AuditEntry.Source.CONSOLE,
                )
            except OpsError as exc:
                error = f"Nothing was started: {exc}"
            else:
                for job in started:
                    messages.success(request, f"Redrive of {job.total} message(s) from {job.queue_name} started.")
                return HttpResponseRedirect(reverse("admin:ops_redrivejob_changelist"))
        plans = []
        for queue_name, queue_ids in jobs.redrive_selection_by_queue(message_ids=ids).items():
            try:
                plan, problem = jobs.redrive_plan(queue_name=queue_name, mode="selected", message_ids=queue_ids), ""
            except OpsError as exc:
                plan, problem = None, str(exc)
            plans.append({"queue": queue_name, "plan": plan, "problem": problem, "count": len(queue_ids)})
        if not plans:
            error = error or "None of the selected messages is waiting: nothing to redrive."
        context = self._context(
            request,
            f"Redrive from {len(plans)} queues" if len(plans) > 1 else "Redrive the selected messages",
            plans=plans,
            ids=",".join(map(str, ids)),
            form=form,
            error=error,
        )
        status = 400 if request.method == "POST" and (error or form.errors) else 200
        return TemplateResponse(request, "admin/ops/redrive_by_queue.html", context, status=status)

    def delete_view_confirm(self, request: HttpRequest) -> HttpResponse:
        require(request, PURGE)
        source = request.POST if request.method == "POST" else request.GET
        queue = source.get("queue", "")
        ids = [int(pk) for pk in source.get("ids", "").split(",") if pk.strip().isdigit()]
        selected = DeadLetter.objects.filter(queue_name=queue, pk__in=ids, state=DeadLetter.State.PRESENT)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            deleted = archive.dead_letters_delete(
                queue_name=queue, message_ids=ids, actor=request.user, reason=request.POST.get("reason", "")
            )
            messages.success(request, f"Deleted {deleted} message(s) from {queue}.")
            return HttpResponseRedirect(reverse("admin:ops_deadletter_changelist") + f"?queue_name={queue}")
        context = self._context(
            request,
            f"Delete {selected.count()} message(s) from {queue}",
            queue=queue,
            ids=",".join(map(str, ids)),
            selected=selected[:50],
            count=selected.count(),
        )
        return TemplateResponse(request, "admin/ops/delete.html", context)

    def purge_view(self, request: HttpRequest) -> HttpResponse:
        require(request, PURGE)
        queue = (request.POST if request.method == "POST" else request.GET).get("queue", "")
        row = next((r for r in queue_rows() if r["name"] == queue), None)
        if row is None:
            raise PermissionDenied("Not a dead-letter queue of the stage.")
        error = ""
        if request.method == "POST":
            try:
                result = archive.dead_letter_queue_purge(
                    queue_name=queue,
                    confirm=request.POST.get("confirm", ""),
                    actor=request.user,
                    reason=request.POST.get("reason", ""),
                )
            except OpsError as exc:
                error = str(exc)
            else:
                messages.success(
                    request, f"Purged {queue}: {result.archived} archived message(s) and ~{result.in_sqs} in SQS."
                )
                return HttpResponseRedirect(reverse("admin:ops_deadletter_changelist"))
        context = self._context(request, f"Purge {queue}", queue=queue, row=row, error=error)
        response = TemplateResponse(request, "admin/ops/purge.html", context)
        if error:
            response.status_code = 400
        return response

    def archive_now_view(self, request: HttpRequest) -> HttpResponse:
        require(request, REDRIVE)
        if request.method != "POST":
            return HttpResponse(status=405)
        queue = request.POST.get("queue", "")
        if queue not in {q.name for q in sqs.dead_letter_queues()}:
            raise PermissionDenied("Not a dead-letter queue of the stage.")
        archive.dead_letter_queue_archive_request(
            queue_name=queue, actor=request.user, source=AuditEntry.Source.CONSOLE
        )
        messages.success(
            request,
            f"Archiving the messages still in {queue} in the background: they appear here as they are stored.",
        )
        return HttpResponseRedirect(reverse("admin:ops_deadletter_changelist") + f"?queue_name={queue}")

    def move_task_view(self, request: HttpRequest) -> HttpResponse:
        require(request, REDRIVE)
        if request.method != "POST":
            return HttpResponse(status=405)
        queue = request.POST.get("queue", "")
        try:
            job = move_tasks.redrive_move_task_start(
                queue_name=queue, actor=request.user, reason=request.POST.get("reason", "")
            )
        except OpsError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:ops_deadletter_changelist"))
        messages.success(request, f"AWS is moving the messages still in {queue} back to their source queues.")
        return HttpResponseRedirect(reverse("admin:ops_redrivejob_change", args=[job.pk]))


def _pretty(text: str) -> str:
    """JSON indented; a base64 JSON body (Celery on SQS) shown decoded, saying so."""
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        pass
    inner = decoding.base64_json(text)
    if inner is not None:
        return "(base64-decoded for reading; redrives send it as received)\n" + decoding.redact(
            json.dumps(inner, indent=2)
        )
    return text


def _workflow_context(message: DeadLetter) -> dict:
    """For a Step Functions task message: what became of its step run or approval, so
    support staff see whether redriving it can still resume the workflow."""
    digest = (message.summary or {}).get("taskTokenSha256")
    if message.kind != DeadLetter.Kind.STEP or not digest:
        return {}
    context = {
        "step_run": StepRun.objects.filter(token_sha256=digest).select_related("execution").first(),
        "approval": Approval.objects.filter(token_sha256=digest).first(),
        "execution": Execution.objects.filter(name=message.task_id).first() if message.task_id else None,
    }
    execution = context["execution"]
    if execution and not execution.is_open:
        context["warning"] = (
            f"The execution has ended ({execution.get_status_display().lower()}): its task token no longer "
            "resumes anything, so a redrive will be answered with an expired-token error."
        )
    return context


class RedriveForm(forms.Form):
    target = forms.ChoiceField(required=False, label="Send to")
    rate_limit = forms.IntegerField(
        required=False, min_value=1, max_value=10000, label="Rate limit (messages/s)", help_text="Empty: no limit."
    )
    parallelism = forms.IntegerField(initial=1, min_value=1, max_value=8, label="Parallel senders")
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    def __init__(self, *args, queue: str, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            dead = {q.name for q in sqs.dead_letter_queues()}
            names = [name for name in sqs.stage_queue_names() if name not in dead and name != queue]
        except Exception:
            names = []
        self.fields["target"].choices = [("", "Each message's source queue")] + [(n, n) for n in names]

    def cleaned_target(self) -> str:
        return self.cleaned_data.get("target") or ""


class RedriveByQueueForm(forms.Form):
    """A redrive split by queue: each message goes back to its source queue."""

    rate_limit = RedriveForm.base_fields["rate_limit"]
    parallelism = RedriveForm.base_fields["parallelism"]
    reason = RedriveForm.base_fields["reason"]
