"""The console's own error pages: a refusal (403) in the console's look, saying what was
refused and where to go from there. Under ``/api/`` the answer stays the API's problem
body (``console.api.rest``)."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from console.api import rest


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's ``handler403``: every ``PermissionDenied`` of a console page (the admin's
    own and our views') ends here. The refusal's message, when the code gave one, says
    what was refused; a bare one says which page."""
    if request.path.startswith(rest.API_PREFIX):
        return rest.permission_denied(request, exception)
    back = request.headers.get("Referer", "")
    if back == request.build_absolute_uri() or not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = ""
    context = {
        **admin.site.each_context(request),
        "title": "You may not do this",
        "refusal": str(exception or "").strip(),
        "refused_path": request.path,
        "refused_post": request.method == "POST",
        "back_url": back,
        "home_url": reverse("admin:index"),
    }
    return render(request, "403.html", context, status=403)
