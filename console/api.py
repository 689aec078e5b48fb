"""REST framework plumbing shared by every endpoint: authentication, permissions and one
error shape.

Every error body has the same form (RFC 9457 problem details, as JSON)::

    {"type": "about:blank", "title": "Invalid input.", "status": 400,
     "code": "invalid", "detail": "...", "errors": {"items.0.quantity": ["..."]}}

``errors`` maps a field path to its messages; it is present for validation errors.
"""

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response


class BearerTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>``; tokens are stored hashed (django-rest-knox)."""

    def _cleanup_token(self, auth_token) -> bool:
        # knox also loads every other token of the user on each request, to delete expired
        # ones: a query per request that grows with the client's tokens. Only this token's
        # own expiry matters here (ours do not expire unless an admin sets an expiry).
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class ModelPermissions(permissions.DjangoModelPermissions):
    """Model permissions, reads included (an authenticated user without view permission
    sees nothing). Views may name extra permissions per method in ``required_permissions``."""

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        extra = getattr(view, "required_permissions", None)
        if extra is not None and request.method in extra:
            return request.user.has_perms(extra[request.method])
        return super().has_permission(request, view)


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = key if not prefix else f"{prefix}.{key}"
            if key == "non_field_errors":
                path = prefix or "_"
            for sub_path, messages in _flatten(value, path).items():
                flat.setdefault(sub_path, []).extend(messages)
    elif isinstance(errors, list):
        if all(not isinstance(item, (dict, list)) for item in errors):
            flat[prefix or "_"] = [str(item) for item in errors]
        else:
            for index, item in enumerate(errors):
                if item:
                    flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_"] = [str(errors)]
    return flat


def problem(
    status_code: int, title: str, code: str, detail: str = "", errors: dict | None = None, headers: dict | None = None
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status_code, "code": code}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    # Imported here: DRF imports this module while rest_framework.views is loading.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    headers = {key: value for key, value in response.items() if key in {"Retry-After", "WWW-Authenticate", "Allow"}}
    if isinstance(exc, exceptions.ValidationError):
        return problem(
            status.HTTP_400_BAD_REQUEST,
            "Invalid input.",
            "invalid",
            "Some fields are not valid.",
            _flatten(exc.detail),
            headers,
        )
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    title = HTTPStatus(response.status_code).phrase + "."
    return problem(response.status_code, title, code, str(detail), headers=headers)


# --- Orders at production depth: the problem shape for errors outside DRF views ----------
# Django answers some errors before any API view runs (no route, a request too large, a
# crash): under /api/ they get the same problem body as everything else; the console's
# pages keep Django's own error pages.

API_PREFIX = "/api/"


def _problem_json(request, status_code: int, code: str, detail: str):
    from django.http import JsonResponse

    body = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase + ".",
        "status": status_code,
        "code": code,
        "detail": detail,
    }
    return JsonResponse(body, status=status_code)


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception=None):
    if _is_api(request):
        return _problem_json(request, 400, "bad_request", "The request could not be understood.")
    from django.views.defaults import bad_request as default

    return default(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return _problem_json(request, 403, "permission_denied", "You do not have permission to perform this action.")
    from django.views.defaults import permission_denied as default

    return default(request, exception)


def not_found(request, exception=None):
    if _is_api(request):
        return _problem_json(request, 404, "not_found", "No API endpoint at this path.")
    from django.views.defaults import page_not_found as default

    return default(request, exception)


def not_found_view(request, *args, **kwargs):
    """A view for unknown paths under /api/ (a route, not just the 404 handler). CSRF-exempt
    like the API's views: a POST to a wrong path is a 404, not a CSRF failure."""
    return _problem_json(request, 404, "not_found", "No API endpoint at this path.")


not_found_view.csrf_exempt = True


def server_error(request):
    if _is_api(request):
        return _problem_json(
            request, 500, "error", "Something went wrong on our side; quote the X-Request-ID when reporting it."
        )
    from django.views.defaults import server_error as default

    return default(request)
