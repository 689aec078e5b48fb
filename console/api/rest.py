"""REST framework plumbing shared by every endpoint: authentication, permissions and one
error shape.

Every error body has the same form (RFC 9457 problem details, as JSON)::

    {"type": "about:blank", "title": "Invalid input.", "status": 400,
     "code": "invalid", "detail": "...", "errors": {"items.0.quantity": ["..."]}}

``errors`` maps a field path to its messages; it is present for validation errors.
An AWS error that reaches a view is answered here too (``aws_problem``): ``code`` is
AWS's own error code and ``awsRequestId`` the id AWS gave the failed call.

A method a route does not have answers 405 with ``Allow`` once the caller is
authenticated, whatever its permissions (``ModelPermissions``); an anonymous caller gets
401 first, and learns nothing about the routes.
"""

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import exceptions, parsers, permissions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


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
        if not _has_handler(view, request.method):
            # Let the view answer 405 with Allow: "you may not" would hide that the route
            # has no such method at all (and a permission the method needs does not exist).
            return True
        extra = getattr(view, "required_permissions", None)
        if extra is not None and request.method in extra:
            return request.user.has_perms(extra[request.method])
        return super().has_permission(request, view)


def _has_handler(view, method: str) -> bool:
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a limit on nesting. Python's decoder recurses once per level
    and raises RecursionError (a 500) somewhere below a thousand; no body of this API is
    nested more than a few levels, so anything deeper than ``max_depth`` is a 400."""

    max_depth = 32

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise self._too_deep() from None
        if _depth_exceeds(data, self.max_depth):
            raise self._too_deep()
        return data

    def _too_deep(self) -> exceptions.ParseError:
        return exceptions.ParseError(f"JSON parse error - nested deeper than {self.max_depth} levels.")


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests lists/objects more than ``limit`` deep (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


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
    status_code: int,
    title: str,
    code: str,
    detail: str = "",
    errors: dict | None = None,
    headers: dict | None = None,
    aws_request_id: str = "",
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status_code, "code": code}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if aws_request_id:
        body["awsRequestId"] = aws_request_id
    return Response(body, status=status_code, headers=headers)


# --- AWS errors ------------------------------------------------------------------------------
# Codes compared without the "AWS.SimpleQueueService." style prefix some services add.
AWS_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
# AWS found the parameters we passed on invalid: they come from the client's input.
AWS_INVALID_INPUT = frozenset(
    {
        "ValidationException",
        "ValidationError",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidParameterCombination",
        "InvalidParameterException",
        "InvalidInput",
        "InvalidArgument",
    }
)
# The resource is busy or in a state that refuses the call now.
AWS_CONFLICT = frozenset(
    {"ConflictException", "ResourceConflictException", "ResourceInUseException", "PurgeQueueInProgress"}
)


def aws_error_code(exc: Exception) -> str:
    """AWS's error code of a botocore ClientError, or the exception's class name for any
    other botocore error (no answer, no credentials, parameters botocore refused)."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") or type(exc).__name__


def _short_code(code: str) -> str:
    return code.rsplit(".", 1)[-1]


def _is_botocore_error(exc: Exception) -> bool:
    # botocore is imported on first use (console.aws.clients): a view that never called AWS cannot
    # raise one, and this check must not import it.
    return type(exc).__module__.startswith(("botocore.", "boto3."))


def aws_problem(exc: Exception) -> Response:
    """The answer to a botocore error that reached a view, carrying AWS's error code:

    * 503 (``Retry-After``) when AWS throttled us or could not be reached in time;
    * 400 when AWS refused parameters that came from the client's input (botocore's own
      ParamValidationError included), 409 when the resource is busy;
    * 502 for everything else: AWS failed, or refused our call (credentials, permissions,
      a missing resource of the stage): nothing the client can change.

    A view that knows what an AWS error means for its client maps it itself, first."""
    from botocore.exceptions import ClientError, ConnectionError, ParamValidationError, ReadTimeoutError

    code = aws_error_code(exc)
    short = _short_code(code)
    metadata = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {})
    request_id = metadata.get("RequestId", "")
    aws_status = int(metadata.get("HTTPStatusCode") or 0)
    headers = None
    if short in AWS_THROTTLING or isinstance(exc, (ConnectionError, ReadTimeoutError)):
        status_code, headers = status.HTTP_503_SERVICE_UNAVAILABLE, {"Retry-After": "5"}
        detail = f"AWS is busy or could not be reached ({code}); try again shortly."
    elif isinstance(exc, ParamValidationError) or (isinstance(exc, ClientError) and short in AWS_INVALID_INPUT):
        status_code = status.HTTP_400_BAD_REQUEST
        detail = f"AWS refused the request made from this input: {_aws_message(exc)}"
    elif isinstance(exc, ClientError) and short in AWS_CONFLICT and aws_status < 500:
        status_code = status.HTTP_409_CONFLICT
        detail = f"AWS cannot do this now: {_aws_message(exc)}"
    else:
        status_code = status.HTTP_502_BAD_GATEWAY
        # AWS's own message may name the account, roles and resources: it goes to the log only.
        detail = f"AWS answered {code}; quote the X-Request-ID when reporting it."
    log = logger.warning if status_code >= 500 else logger.info
    log("AWS error %s (request %s) answered %s", code, request_id or "-", status_code, exc_info=status_code >= 500)
    title = HTTPStatus(status_code).phrase + "."
    return problem(status_code, title, code, detail, headers=headers, aws_request_id=request_id)


def _aws_message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Message") or str(exc)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    # Imported here: DRF imports this module while rest_framework.views is loading.
    from rest_framework.views import exception_handler as drf_exception_handler
    from rest_framework.views import set_rollback

    if _is_botocore_error(exc):
        set_rollback()
        return aws_problem(exc)
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


# --- The problem shape for errors outside DRF views ----------
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
