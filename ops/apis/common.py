"""What the ops endpoints answer when a service refuses a request (``ops.errors``)."""

from rest_framework import status
from rest_framework.response import Response

from console.api.rest import problem
from ops.errors import AwsRefused, OpsError


def ops_problem(exc: OpsError) -> Response:
    """400: the request can be fixed (the field it names is wrong)."""
    return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", str(exc), {exc.field: [str(exc)]})


def conflict(exc: OpsError) -> Response:
    """409: the request cannot be done in the state things are in (AWS's code where AWS refused)."""
    if isinstance(exc, AwsRefused):
        # AWS's code, as every AWS error the API answers carries (console.api.rest.aws_problem).
        return problem(
            status.HTTP_409_CONFLICT,
            "Conflict.",
            exc.code,
            str(exc),
            {exc.field: [str(exc)]},
            aws_request_id=exc.request_id,
        )
    return problem(status.HTTP_409_CONFLICT, "Conflict.", "conflict", str(exc), {exc.field: [str(exc)]})
