"""Redrive jobs: their progress, cancel and resume (a move task's progress as SQS reports it)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from console.pages.readonly import ReadOnlyAdminMixin
from console.pages.user_links import UserLinksMixin
from ops.admin.common import REDRIVE, require
from ops.errors import OpsError
from ops.models import DeadLetter, RedriveJob
from ops.redrive import jobs, move_tasks


@admin.register(RedriveJob)
class RedriveJobAdmin(UserLinksMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "queue_name", "target_label", "mode", "status_label", "progress", "created_by"]
    list_filter = ["status", "queue_name"]
    change_form_template = "admin/ops/redrivejob/change_form.html"
    list_select_related = ["created_by"]

    @admin.display(description="Target")
    def target_label(self, job: RedriveJob) -> str:
        return job.target_queue or "source queue(s)"

    @admin.display(description="Status", ordering="status")
    def status_label(self, job: RedriveJob) -> str:
        return "Interrupted" if jobs.redrive_is_stale(job) else job.get_status_display()

    @admin.display(description="Progress")
    def progress(self, job: RedriveJob) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}/{}{}',
            job.percent,
            job.moved,
            job.total,
            f" ({job.failed} failed)" if job.failed else "",
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<uuid:job_id>/cancel/", view(self.cancel_view), name="ops_redrivejob_cancel"),
            path("<uuid:job_id>/resume/", view(self.resume_view), name="ops_redrivejob_resume"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(RedriveJob, pk=object_id)
        if job.mode == RedriveJob.Mode.MOVE_TASK and job.is_active:
            try:
                job = move_tasks.redrive_move_task_refresh(job=job)
            except Exception as exc:
                messages.warning(request, f"SQS did not report the move task's progress ({type(exc).__name__}).")
        extra = {
            "job": job,
            "interrupted": jobs.redrive_is_stale(job),
            "can_act": request.user.has_perm(REDRIVE),
            "failed_messages": job.messages.filter(state=DeadLetter.State.PRESENT).exclude(redrive_error="")[:20],
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _act(self, request, job_id, operation, done: str) -> HttpResponse:
        require(request, REDRIVE)
        if request.method != "POST":
            return HttpResponse(status=405)
        try:
            operation(job_id=job_id, actor=request.user)
        except OpsError as exc:
            messages.warning(request, str(exc))
        else:
            messages.success(request, done)
        return HttpResponseRedirect(reverse("admin:ops_redrivejob_change", args=[job_id]))

    def cancel_view(self, request, job_id):
        return self._act(request, job_id, jobs.redrive_cancel, "Cancelling: the job stops after its current batch.")

    def resume_view(self, request, job_id):
        return self._act(request, job_id, jobs.redrive_resume, "Resumed: the job continues with what is left.")
