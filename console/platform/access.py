"""Who is calling: the client address behind API Gateway, the console's answer to a
locked-out login (django-axes counts failed logins in the database, which every Lambda
instance shares), and the console session's limits (its age and a second factor still
owed). Who may give which privileges to whom is ``console.platform.privileges``."""

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


# --- Which sessions reach the console ------------------------------------------------------
SESSION_STARTED_KEY = "console_session_started"


class ConsoleSessionMiddleware:
    """After authentication (and django-otp's middleware), for every request:

    * a session older than ``CONSOLE_SESSION_MAX_SECONDS`` is logged out, however active
      it was (the idle limit is the session cookie's age, renewed by every request);
    * a session that still owes its second factor (``console.platform.two_factor.pending_step``)
      reaches only the login, logout and second-factor pages: console pages redirect there,
      and on the API the session counts for nothing (bearer tokens are unaffected).

    Costs no query for requests without a session (API clients with tokens)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            response = self._check(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        import time

        from django.contrib.auth import logout
        from django.contrib.auth.models import AnonymousUser

        from console.platform import (
            two_factor,  # lazy: cold start (an API request never needs the second factor's forms)
        )

        started = request.session.setdefault(SESSION_STARTED_KEY, int(time.time()))
        if time.time() - started > settings.CONSOLE_SESSION_MAX_SECONDS:
            logout(request)
            return None
        step = two_factor.pending_step(request)
        if step is None:
            return None
        path = request.path_info
        if path.startswith("/api/"):
            request.user = AnonymousUser()
            return None
        if path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return None
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        page = reverse("admin:two_factor_verify" if step == two_factor.VERIFY else "admin:two_factor")
        if path in (page, reverse("admin:login"), reverse("admin:logout"), reverse("admin:jsi18n")):
            return None
        return redirect(f"{page}?{urlencode({'next': request.get_full_path()})}")
