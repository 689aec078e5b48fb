"""Console pages for order CSV imports: a list with status and progress, a page that
refreshes itself while the import runs and shows its warnings, the first rows, the
rejected rows (and their CSV), and an upload form with the strict, mode and dry-run
options (registered through ``orders.admin``). Every state change is a POST with CSRF,
checked against the model permissions. Lists, pages and actions see what
``orders.imports.selectors`` lets the user see (console roles see everything); history
mode needs ``orders.import_history``.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from console.pages.user_links import UserLinksMixin
from orders.imports import order_page as _order_page  # noqa: F401 (registers the order page's import panel)
from orders.imports import selectors, services
from orders.imports.apis import rejected_rows_response
from orders.imports.models import Import, ImportChunk
from orders.imports.options import ImportForbidden, ImportRefused, import_options_check


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="An order CSV: order_reference,user_id,product_id,name,quantity,price")
    mode = forms.ChoiceField(choices=Import.Mode.choices, help_text="What imported orders do next.")
    strict = forms.BooleanField(required=False, help_text="Import nothing if any row is rejected.")
    dry_run = forms.BooleanField(
        required=False, label="Dry run", help_text="Check the file and show its first rows; write no orders."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_mode(self) -> str:
        mode = self.cleaned_data["mode"]
        try:
            import_options_check(mode=mode, actor=self.user)
        except ImportForbidden as exc:
            raise forms.ValidationError(str(exc)) from None
        return mode


class ImportChunkInline(admin.TabularInline):
    model = ImportChunk
    fields = ["index", "first_line", "phase", "status", "attempts", "rows", "rows_rejected", "finished_at", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Import)
class ImportAdmin(UserLinksMixin, admin.ModelAdmin):
    # Short headings and compact times: the list fits a laptop's window beside its filters.
    list_display = ["name", "kind", "status", "progress", "rows", "imported", "rejected", "orders", "by", "created"]
    list_filter = ["status", "dry_run", "mode"]
    search_fields = ["=id", "original_name", "=key"]
    list_select_related = ["created_by"]
    inlines = [ImportChunkInline]
    change_list_template = "admin/orders/import/change_list.html"
    change_form_template = "admin/orders/import/change_form.html"
    # The summary above the form says what matters; the raw fields stay one click away.
    fieldsets = [
        (
            "Details",
            {
                "classes": ["collapse"],
                "fields": [
                    "id",
                    ("bucket", "key"),
                    ("version", "etag", "size"),
                    ("strict", "dry_run", "mode", "options_fixed", "chunk_bytes"),
                    ("status", "phase", "encoding"),
                    ("chunks_total", "chunks_done", "bytes_done"),
                    ("rows_total", "rows_ingested", "rows_rejected", "orders_created"),
                    ("workflows_started", "workflow_cursor"),
                    ("correlation_id", "created_by"),
                    ("created_at", "started_at", "finished_at", "updated_at"),
                ],
            },
        )
    ]

    def get_queryset(self, request):
        return selectors.imports_visible_to(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in {"preview", "columns"}]

    def has_change_permission(self, request, obj=None):
        # The page is read-only; Resume is its own POST with its own permission check.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="File", ordering="original_name")
    def name(self, import_run: Import) -> str:
        # Cut short, the whole name on hover: a long file name would push the counters out of sight.
        name = import_run.original_name or import_run.key
        return format_html('<span title="{}">{}</span>', name, Truncator(name).chars(60))

    @admin.display(description="Rows", ordering="rows_total")
    def rows(self, import_run: Import) -> int:
        return import_run.rows_total

    @admin.display(description="Imported", ordering="rows_ingested")
    def imported(self, import_run: Import) -> int:
        return import_run.rows_ingested

    @admin.display(description="Rejected", ordering="rows_rejected")
    def rejected(self, import_run: Import) -> int:
        return import_run.rows_rejected

    @admin.display(description="Orders", ordering="orders_created")
    def orders(self, import_run: Import) -> int:
        return import_run.orders_created

    @admin.display(description="By", ordering="created_by__username")
    def by(self, import_run: Import) -> str:
        return import_run.created_by.get_username() if import_run.created_by else "-"

    @admin.display(description="Created (UTC)", ordering="created_at")
    def created(self, import_run: Import) -> str:
        return import_run.created_at.strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Kind")
    def kind(self, import_run: Import) -> str:
        return "dry run" if import_run.dry_run else ("strict" if import_run.strict else "import")

    @admin.display(description="Progress")
    def progress(self, import_run: Import) -> str:
        if import_run.is_waiting:
            return format_html('<span class="import-waiting">{}</span>', "Waiting to start")
        percent = import_run.progress_percent
        if import_run.status == Import.Status.FAILED:
            # The part done, in the failure's colour: a full bar would read "all imported".
            return format_html(
                '<progress class="import-failed" max="100" value="{}" title="Failed after {}%"></progress> '
                '<span class="import-failed-label">failed at {}%</span>',
                percent,
                percent,
                percent,
            )
        return format_html('<progress max="100" value="{}" title="{}%"></progress> {}%', percent, percent, percent)

    def get_urls(self):
        custom = [
            path(
                "<uuid:import_id>/rejected-rows.csv",
                self.admin_site.admin_view(self.rejected_rows_view),
                name="orders_import_rejected_rows",
            ),
            path("<uuid:import_id>/resume/", self.admin_site.admin_view(self.resume_view), name="orders_import_resume"),
            path(
                "<uuid:import_id>/import-for-real/",
                self.admin_site.admin_view(self.promote_view),
                name="orders_import_promote",
            ),
        ]
        return custom + super().get_urls()

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            import_run = services.import_upload(
                uploaded_file=data["file"],
                actor=request.user,
                strict=data["strict"],
                dry_run=data["dry_run"],
                mode=data["mode"],
            )
            messages.success(
                request, f"{'Dry run' if import_run.dry_run else 'Import'} of {data['file'].name} started."
            )
            return HttpResponseRedirect(reverse("admin:orders_import_change", args=[import_run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import an order CSV",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/upload.html", context, status=400 if form.errors else 200)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        import_run = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if import_run is not None:
            extra_context.update(
                import_run=import_run,
                rejected_rows=selectors.rejected_rows_page(import_run=import_run),
                can_resume=request.user.has_perm("orders.change_import") and import_run.resumable,
                can_import=request.user.has_perm("orders.add_import"),
                preview_columns=["line", "order_reference", "user_id", "product_id", "name", "quantity", "price"],
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def rejected_rows_view(self, request: HttpRequest, import_id) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return rejected_rows_response(get_object_or_404(self.get_queryset(request), pk=import_id))

    def resume_view(self, request: HttpRequest, import_id) -> HttpResponse:
        return require_POST(self._resume)(request, import_id)

    def _resume(self, request: HttpRequest, import_id) -> HttpResponse:
        if not request.user.has_perm("orders.change_import"):
            raise PermissionDenied
        import_run = get_object_or_404(self.get_queryset(request), pk=import_id)
        try:
            import_run = services.import_resume(import_id=import_run.pk, actor=request.user)
        except ImportRefused as exc:
            messages.error(request, f"Nothing was resumed: {exc}")
            return HttpResponseRedirect(reverse("admin:orders_import_change", args=[import_run.pk]))
        messages.success(
            request, f"Resuming: whatever was not finished is queued again ({import_run.get_status_display()})."
        )
        return HttpResponseRedirect(reverse("admin:orders_import_change", args=[import_run.pk]))

    def promote_view(self, request: HttpRequest, import_id) -> HttpResponse:
        return require_POST(self._promote)(request, import_id)

    def _promote(self, request: HttpRequest, import_id) -> HttpResponse:
        if not request.user.has_perm("orders.add_import"):
            raise PermissionDenied
        dry_run = get_object_or_404(self.get_queryset(request), pk=import_id, dry_run=True)
        try:
            import_run = services.import_from_dry_run(dry_run=dry_run, actor=request.user)
        except ImportRefused as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:orders_import_change", args=[dry_run.pk]))
        messages.success(request, f"Importing {import_run.original_name}.")
        return HttpResponseRedirect(reverse("admin:orders_import_change", args=[import_run.pk]))
