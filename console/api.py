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
from knox.auth import TokenAuthentication
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response


class BearerTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>``; tokens are stored hashed (django-rest-knox)."""


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
