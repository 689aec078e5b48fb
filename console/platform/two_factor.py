"""A second factor for console logins: a TOTP authenticator app (django-otp's TOTP devices).

* Any staff user may enrol one on *Two-factor authentication* (top right of every page):
  the page shows the ``otpauth://`` URI as a QR code and the secret in text; a first code
  from the app confirms it. Enrolment and removal are audited.
* A user with an authenticator gives a code after the password, before any console page.
* ``CONSOLE_REQUIRE_2FA_FOR_ADMINS``: admins (the admin role, anyone who manages users,
  and superusers) must enrol, then verify, before any console page.
* API tokens are unaffected; a session that still owes its second factor counts for
  nothing on the API (``console.platform.access.ConsoleSessionMiddleware``).

Codes are checked under a row lock on the device: django-otp refuses a code already used
(``last_t``) and throttles failures (1, 2, 4, ... seconds), both kept on the row, so every
Lambda instance sees them.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin import site as console_site  # the console (ConsoleAdminSite)
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from console.models import AuditEntry
from console.platform.audit import audit_record
from console.platform.privileges import holds_admin_powers

VERIFY, ENROL = "verify", "enrol"


def _devices():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects


def confirmed_device(user):
    """The user's authenticator, or None."""
    return _devices().filter(user=user, confirmed=True).order_by("pk").first()


def second_factor_required(user) -> bool:
    return bool(settings.CONSOLE_REQUIRE_2FA_FOR_ADMINS) and holds_admin_powers(user)


def pending_step(request: HttpRequest) -> str | None:
    """What the session still owes before console pages: ``VERIFY`` (a code from the
    user's authenticator), ``ENROL`` (an admin without one where one is required), or None."""
    user = request.user
    if not user.is_authenticated or getattr(user, "is_verified", lambda: False)():
        return None
    if _devices().filter(user=user, confirmed=True).exists():
        return VERIFY
    if second_factor_required(user):
        return ENROL
    return None


# --- Services ----------------------------------------------------------------------------


def _check_code(device, token: str) -> tuple[bool, str]:
    """(accepted, why not): the device row locked, so concurrent guesses are counted and a
    code is used once."""
    with transaction.atomic():
        device = type(device).objects.select_for_update().get(pk=device.pk)
        allowed, details = device.verify_is_allowed()
        if not allowed:
            return False, "Too many wrong codes: wait a few seconds, then enter the current code."
        if device.verify_token(token.strip().replace(" ", "")):
            return True, ""
    return False, "That code is not right (or was already used): enter the current code from your app."


def two_factor_enrol_start(*, user):
    """An unconfirmed authenticator for ``user`` (a new secret unless one is pending)."""
    pending = _devices().filter(user=user, confirmed=False).order_by("-pk").first()
    return pending or _devices().create(user=user, name="Authenticator app", confirmed=False)


def two_factor_enrol_confirm(*, request: HttpRequest, device, token: str) -> str | None:
    """Confirms ``device`` with a code from the app; the session counts as verified.
    Returns why not, or None."""
    accepted, why = _check_code(device, token)
    if not accepted:
        return why
    from django_otp import login as otp_login

    with transaction.atomic():
        _devices().filter(user=request.user).exclude(pk=device.pk).delete()
        _devices().filter(pk=device.pk).update(confirmed=True)
        device.refresh_from_db()
        audit_record(
            action="auth.user.two_factor_enrol",
            obj=request.user,
            actor=request.user,
            source=AuditEntry.Source.CONSOLE,
            after={"two_factor": "authenticator app"},
        )
    otp_login(request, device)
    return None


def two_factor_remove(*, actor, user, reason: str = "") -> int:
    """Removes ``user``'s authenticators (audited); returns how many there were."""
    with transaction.atomic():
        removed, _ = _devices().filter(user=user).delete()
        if removed:
            audit_record(
                action="auth.user.two_factor_remove",
                obj=user,
                actor=actor,
                source=AuditEntry.Source.CONSOLE,
                reason=reason,
                before={"two_factor": "authenticator app"},
                after={"two_factor": None},
            )
    return removed


# --- Pages (console/pages/sites.py routes them; admin_view checks the login) ---------------------


class CodeForm(forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app",
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def _qr_svg(uri: str) -> str:
    import segno

    # An inline <svg> (no script, no data: URL); dark on light with a quiet zone, as
    # authenticator apps scan it best.
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")


def setup_view(request: HttpRequest) -> HttpResponse:
    """The user's own second factor: enrol (POST ``start``, then ``confirm`` with a code)
    or remove (POST ``remove`` with a current code)."""
    user = request.user
    device = confirmed_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "start" and device is None:
            two_factor_enrol_start(user=user)
            return redirect(_with_next("admin:two_factor", _next_url(request)))
        if action == "confirm" and device is None and form.is_valid():
            pending = _devices().filter(user=user, confirmed=False).order_by("-pk").first()
            why = "Start again: no authenticator is waiting for its first code."
            if pending is not None:
                why = two_factor_enrol_confirm(request=request, device=pending, token=form.cleaned_data["token"])
            if why is None:
                messages.success(request, "Two-factor authentication is on: logins now ask for a code.")
                return redirect(_next_url(request))
            form.add_error("token", why)
        elif action == "remove" and device is not None and form.is_valid():
            accepted, why = _check_code(device, form.cleaned_data["token"])
            if accepted:
                two_factor_remove(actor=user, user=user, reason="Removed by its owner")
                from django_otp import DEVICE_ID_SESSION_KEY

                request.session.pop(DEVICE_ID_SESSION_KEY, None)
                messages.success(request, "Two-factor authentication is off.")
                return redirect("admin:two_factor")
            form.add_error("token", why)
    pending = None if device else _devices().filter(user=user, confirmed=False).order_by("-pk").first()
    context = {
        **console_site.each_context(request),
        "title": "Two-factor authentication",
        "device": device,
        "pending": pending,
        "required": second_factor_required(user),
        "form": form,
        "next": _next_url(request),
    }
    if pending is not None:
        from base64 import b32encode

        uri = pending.config_url
        context.update(otpauth_uri=uri, qr_svg=_qr_svg(uri), secret=b32encode(pending.bin_key).decode())
    return TemplateResponse(request, "admin/two_factor/setup.html", context)


def verify_view(request: HttpRequest) -> HttpResponse:
    """The code after the password, for a user with an authenticator."""
    device = confirmed_device(request.user)
    if device is None:
        return redirect(_with_next("admin:two_factor", _next_url(request)))
    if request.user.is_verified():
        return redirect(_next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        accepted, why = _check_code(device, form.cleaned_data["token"])
        if accepted:
            from django_otp import login as otp_login

            device.refresh_from_db()
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("token", why)
    context = {
        **console_site.each_context(request),
        "title": "Enter your code",
        "form": form,
        "next": _next_url(request),
    }
    return TemplateResponse(request, "admin/two_factor/verify.html", context)
