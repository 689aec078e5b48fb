"""Names and addresses of the stage's AWS resources.

``infra/template.yaml`` creates every resource as ``<prefix>-<stage>-<suffix>``; this module
is the application's side of that naming rule. Addresses (queue URLs, state machine ARNs)
are looked up once per process and cached.
"""

from functools import lru_cache

from django.conf import settings

from console.aws import clients as aws
from console.aws import sns

STEPS_QUEUE = "steps"
APPROVALS_QUEUE = "approvals"
JOBS_QUEUE = "jobs"
ORDER_PROCESSING = "order-processing"


def resource_name(suffix: str) -> str:
    return f"{settings.RESOURCE_PREFIX}-{settings.STAGE}-{suffix}"


def queue_url(suffix: str) -> str:
    return _queue_url(resource_name(suffix), settings.AWS_ENDPOINT_URL)


@lru_cache(maxsize=64)
def _queue_url(name: str, endpoint: str | None) -> str:
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def state_machine_arn(suffix: str = ORDER_PROCESSING) -> str:
    if suffix == ORDER_PROCESSING and settings.ORDER_STATE_MACHINE_ARN:
        return settings.ORDER_STATE_MACHINE_ARN
    return _state_machine_arn(resource_name(suffix), settings.AWS_ENDPOINT_URL)


@lru_cache(maxsize=16)
def _state_machine_arn(name: str, endpoint: str | None) -> str:
    paginator = aws.client("stepfunctions").get_paginator("list_state_machines")
    for page in paginator.paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    raise LookupError(f"state machine {name!r} is not deployed")


# --- Files bucket (media uploads, incoming CSV) ------------------------------------------
FILES_BUCKET = "files"
FILES_EVENTS_QUEUE = "files-events"


def files_bucket() -> str:
    """The stage's files bucket: ``FILES_BUCKET``, or ``<prefix>-<stage>-files-<account>``."""
    if settings.FILES_BUCKET:
        return settings.FILES_BUCKET
    return _files_bucket(resource_name(FILES_BUCKET), settings.AWS_ENDPOINT_URL)


@lru_cache(maxsize=16)
def _files_bucket(base_name: str, endpoint: str | None) -> str:
    account = aws.client("sts").get_caller_identity()["Account"]
    return f"{base_name}-{account}"


def reset_cache() -> None:
    _queue_url.cache_clear()
    _state_machine_arn.cache_clear()
    _topic_arn.cache_clear()
    _files_bucket.cache_clear()


# The order saga (the reference architecture's saga, with compensations) and its callback queue.
ORDER_SAGA = "order-saga"
SAGA_QUEUE = "saga"


# --- The order events topic -----------------------------------
ORDER_EVENTS_TOPIC = "order-events"


def topic_arn(suffix: str) -> str:
    if suffix == ORDER_EVENTS_TOPIC and settings.ORDER_EVENTS_TOPIC_ARN:
        return settings.ORDER_EVENTS_TOPIC_ARN
    return _topic_arn(resource_name(suffix), settings.AWS_ENDPOINT_URL)


@lru_cache(maxsize=16)
def _topic_arn(name: str, endpoint: str | None) -> str:
    for arn in sns.topic_arns():
        if arn.rsplit(":", 1)[-1] == name:
            return arn
    raise LookupError(f"SNS topic {name!r} is not deployed")
