"""The only module that talks to Step Functions.

AWS errors become our own exceptions with plain meanings. Note the engines differ: AWS
answers a used or expired token with ``TaskTimedOut``; the local engine answers
``InvalidToken``. Both mean the task is no longer open, and callers treat them alike.
"""

import json
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from console.aws import clients as aws


class TaskNotOpen(Exception):
    """The callback task can no longer be completed. ``status`` is the plain reason."""

    status = "closed"

    def __init__(self, message: str, aws_code: str = ""):
        self.aws_code = aws_code
        super().__init__(message)


class TaskExpired(TaskNotOpen):
    status = "expired"


class TaskClosed(TaskNotOpen):
    status = "closed"


class TaskTokenInvalid(TaskNotOpen):
    status = "invalid"


_TASK_ERRORS = {
    "TaskTimedOut": TaskExpired,
    "TaskDoesNotExist": TaskClosed,
    "InvalidToken": TaskTokenInvalid,
}


def _sfn():
    return aws.client("stepfunctions")


def _raise_task_error(exc: ClientError) -> None:
    code = aws.error_code(exc)
    error_class = _TASK_ERRORS.get(code)
    if error_class is not None:
        raise error_class(exc.response.get("Error", {}).get("Message", code), aws_code=code) from exc
    raise exc


def start_execution(*, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    """Start an execution with a deterministic name; starting it again is harmless.

    Returns the execution ARN. If one with this name already exists, its ARN is returned.
    """
    try:
        response = _sfn().start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
        return response["executionArn"]
    except ClientError as exc:
        if aws.error_code(exc) != "ExecutionAlreadyExists":
            raise
        return execution_arn(state_machine_arn=state_machine_arn, name=name)


def execution_arn(*, state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def send_task_success(*, task_token: str, output: dict[str, Any]) -> str:
    """Complete a callback task. Returns the AWS request id. Raises TaskNotOpen."""
    try:
        response = _sfn().send_task_success(taskToken=task_token, output=json.dumps(output))
    except ClientError as exc:
        _raise_task_error(exc)
    return response.get("ResponseMetadata", {}).get("RequestId", "")


def send_task_failure(*, task_token: str, error: str, cause: str) -> str:
    """Fail a callback task. Returns the AWS request id. Raises TaskNotOpen."""
    try:
        response = _sfn().send_task_failure(taskToken=task_token, error=error[:256], cause=cause[:32768])
    except ClientError as exc:
        _raise_task_error(exc)
    return response.get("ResponseMetadata", {}).get("RequestId", "")


def describe_execution(*, execution_arn: str) -> dict[str, Any]:
    return _sfn().describe_execution(executionArn=execution_arn)


def execution_history(*, execution_arn: str, newest_first: bool = True, limit: int = 100) -> list:
    response = _sfn().get_execution_history(executionArn=execution_arn, reverseOrder=newest_first, maxResults=limit)
    return response["events"]


def current_state(*, execution_arn: str) -> str:
    """The name of the last state the execution entered ('' if none yet)."""
    for event in execution_history(execution_arn=execution_arn, newest_first=True, limit=50):
        for key, details in event.items():
            if key.endswith("StateEnteredEventDetails"):
                return details.get("name", "")
    return ""


# --- Heartbeats, redrive and full history (approvals and workflow operations) -------------


class RedriveUnsupported(Exception):
    """The engine has no RedriveExecution (the local engine answers a bare HTTP 500)."""


class ExecutionNotRedrivable(Exception):
    """AWS refuses to redrive this execution (e.g. it succeeded, or is older than 14 days)."""


class StepFunctionsUnavailable(Exception):
    """Step Functions answered a server error or throttled the call, still after the
    client's own retries (console/aws/clients.py). Nothing changed: ask again later."""

    def __init__(self, message: str, aws_code: str = ""):
        self.aws_code = aws_code
        super().__init__(message)


# Answers that mean "this engine does not implement the operation", whatever the engine.
_NOT_IMPLEMENTED_CODES = {"UnknownOperationException", "NotImplemented", "InvalidAction"}
# Step Functions' throttling answers come with HTTP 400, so the status alone misses them.
_THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


def _is_transient(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500 or status == 429 or aws.error_code(exc) in _THROTTLING_CODES


def _local_engine_lacks(exc: ClientError) -> bool:
    """The local engine (moto, at settings.AWS_ENDPOINT_URL) answers an operation it does
    not implement with a bare HTTP 500 whose code is the status. On AWS the same answer is
    a real server error, so it never means "not implemented" there."""
    return bool(settings.AWS_ENDPOINT_URL) and aws.error_code(exc).isdigit()


def send_task_heartbeat(*, task_token: str) -> str:
    """Tell Step Functions the task is still being worked on. Raises TaskNotOpen."""
    try:
        response = _sfn().send_task_heartbeat(taskToken=task_token)
    except ClientError as exc:
        _raise_task_error(exc)
    return response.get("ResponseMetadata", {}).get("RequestId", "")


def redrive_execution(*, execution_arn: str) -> str:
    """Redrive a failed, timed out or aborted execution from where it stopped.

    Returns the AWS request id. Raises ``ExecutionNotRedrivable`` when AWS refuses,
    ``RedriveUnsupported`` when the engine has no such operation (the local engine), and
    ``StepFunctionsUnavailable`` on a server error or throttling: the execution may well be
    redrivable, so the caller must not take that for a refusal.
    """
    try:
        response = _sfn().redrive_execution(executionArn=execution_arn)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "ExecutionNotRedrivable":
            raise ExecutionNotRedrivable(exc.response.get("Error", {}).get("Message", code)) from exc
        if code in _NOT_IMPLEMENTED_CODES or _local_engine_lacks(exc):
            raise RedriveUnsupported(f"RedriveExecution is not available here ({code})") from exc
        if _is_transient(exc):
            raise StepFunctionsUnavailable(
                f"Step Functions did not answer RedriveExecution ({code}); nothing changed, try again later.",
                aws_code=code,
            ) from exc
        raise
    return response.get("ResponseMetadata", {}).get("RequestId", "")


class ExecutionNotFound(Exception):
    """Step Functions knows no such execution (gone after its retention, or a wrong ARN)."""


def stop_execution(*, execution_arn: str, error: str, cause: str) -> str:
    """Stop a running execution (standard workflows), recording ``error`` and ``cause``.
    Returns the AWS request id.

    AWS ends it at once (ABORTED; a task token it waited on no longer works). The local
    engine answers the same but ends it only when the task it waits
    on is answered: callers answer their own open tasks to bring that about. Raises
    ``ExecutionNotFound``, and ``StepFunctionsUnavailable`` on a server error or throttling
    (nothing was stopped).
    """
    try:
        response = _sfn().stop_execution(executionArn=execution_arn, error=error[:256], cause=cause[:32768])
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "ExecutionDoesNotExist":
            raise ExecutionNotFound(exc.response.get("Error", {}).get("Message", code)) from exc
        if _is_transient(exc):
            raise StepFunctionsUnavailable(
                f"Step Functions did not answer StopExecution ({code}); nothing changed, try again later.",
                aws_code=code,
            ) from exc
        raise
    return response.get("ResponseMetadata", {}).get("RequestId", "")


def execution_history_all(*, execution_arn: str, max_events: int = 2000) -> list[dict[str, Any]]:
    """The execution's history, oldest first (at most ``max_events`` events)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000, "reverseOrder": False}
    while len(events) < max_events:
        response = _sfn().get_execution_history(**kwargs)
        events.extend(response["events"])
        if not response.get("nextToken"):
            break
        kwargs["nextToken"] = response["nextToken"]
    return events[:max_events]


def describe_state_machine(*, state_machine_arn: str) -> dict[str, Any]:
    return _sfn().describe_state_machine(stateMachineArn=state_machine_arn)


def execution_definition(*, execution_arn: str) -> str:
    """The definition (ASL JSON text) the execution runs: the version it started with,
    even if the state machine has been updated since."""
    return _sfn().describe_state_machine_for_execution(executionArn=execution_arn)["definition"]
