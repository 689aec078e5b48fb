"""Console pages for media assets: a list with thumbnails, a page with the preview, and
an upload form (stored in S3 through django-storages; processed when S3 reports the
object). Lists and pages see what ``media.selectors`` lets the user see (console roles see
everything). Order CSV imports have their pages in the orders app (``orders.imports.admin``).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from console.aws import s3
from console.aws.resources import files_bucket
from console.pages.user_links import UserLinksMixin
from media import selectors, services
from media.models import MediaAsset


def _presigned(key: str, filename: str = "") -> str:
    try:
        return s3.presigned_get(bucket=files_bucket(), key=key, filename=filename)
    except Exception:  # the page still renders without a preview
        return ""


class MediaUploadForm(forms.Form):
    file = forms.FileField(help_text="Images get a thumbnail once processed.")


@admin.register(MediaAsset)
class MediaAssetAdmin(UserLinksMixin, admin.ModelAdmin):
    list_display = ["preview", "original_name", "content_type", "size", "status", "uploaded_by", "created_at"]
    list_filter = ["status", "content_type"]
    search_fields = ["=id", "original_name"]
    list_select_related = ["uploaded_by"]
    change_list_template = "admin/media/mediaasset/change_list.html"
    change_form_template = "admin/media/mediaasset/change_form.html"

    def get_queryset(self, request):
        return selectors.media_assets_visible_to(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Preview")
    def preview(self, asset: MediaAsset) -> str:
        if asset.thumbnail:
            return format_html(
                '<img src="{}" alt="" style="max-height:48px;max-width:64px">', _presigned(asset.thumbnail.name)
            )
        return "-"

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = MediaUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                asset = services.media_asset_upload(uploaded_file=form.cleaned_data["file"], actor=request.user)
            except services.UploadRefused as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(request, f"Uploaded {asset.original_name}; it is processed in a moment.")
                return HttpResponseRedirect(reverse("admin:media_mediaasset_change", args=[asset.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a media file",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/upload.html", context, status=400 if form.errors else 200)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        asset = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if asset is not None:
            extra_context["original_url"] = _presigned(asset.key, asset.original_name)
            extra_context["thumbnail_url"] = _presigned(asset.thumbnail.name) if asset.thumbnail else ""
        return super().change_view(request, object_id, form_url, extra_context)
