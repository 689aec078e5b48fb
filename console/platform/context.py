"""Per-request context (request id) that services read without being passed a request."""

import contextvars
import uuid

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    """Back to the request id before ``set_request_id`` returned ``token``."""
    _request_id.reset(token)


class RequestIdMiddleware:
    """Takes the request id from API Gateway (through Zappa) or X-Request-ID, else makes one,
    and echoes it back in the ``X-Request-ID`` response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lambda_context = request.META.get("lambda.context")
        request_id = (
            request.headers.get("X-Request-ID", "")[:64]
            or getattr(lambda_context, "aws_request_id", "")
            or uuid.uuid4().hex
        )
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
