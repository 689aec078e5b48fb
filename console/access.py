"""Who is calling: the client address behind API Gateway, and the console's answer to a
locked-out login (django-axes counts failed logins in the database, which every Lambda
instance shares)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address: API Gateway's ``sourceIp`` on Lambda (set by AWS, not by the
    caller), otherwise ``REMOTE_ADDR`` (Zappa and local servers); None if there is none."""
    event = request.META.get("lambda.event") or {}
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return identity.get("sourceIp") or request.META.get("REMOTE_ADDR") or None


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 with ``Retry-After``, on the console's own login page layout."""
    from django.contrib import admin

    cooloff = settings.AXES_COOLOFF_TIME
    seconds = int(cooloff.total_seconds())
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "minutes": max(1, seconds // 60),
    }
    response = TemplateResponse(request, "admin/login_locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response.render()
