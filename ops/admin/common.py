"""The permissions the ops pages check for their actions."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

REDRIVE = "ops.redrive_deadletter"
PURGE = "ops.purge_deadletter"
MANAGE_ALARM = "ops.manage_alarm"
PAUSE_QUEUE = "ops.pause_queue"
RETRY_JOB = "ops.retry_taskfailure"
DISCARD_JOB = "ops.discard_taskfailure"


def require(request: HttpRequest, permission: str) -> None:
    """Refuse (403) a user without ``permission``."""
    if not request.user.has_perm(permission):
        raise PermissionDenied
