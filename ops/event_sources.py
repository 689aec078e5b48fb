"""The only module of ``ops`` that talks to Lambda: the event source mappings through which
the stage's functions consume its queues (Zappa creates them on deploy; locally the
consumer registers them in the local AWS), and turning one off and on again.

Mappings are listed by queue and matched to the stage's functions by the function's name
in ``FunctionArn``: AWS accepts a function's name or ARN in ListEventSourceMappings'
``FunctionName``, but Zappa creates mappings with the ARN and the local AWS matches that
parameter as written, so the filter is ours.
"""

from dataclasses import dataclass

from console.aws import clients as aws
from console.aws.resources import resource_name

# Lambda's states of a mapping that consumes nothing (or soon will not).
PAUSED_STATES = frozenset({"Disabled", "Disabling"})


@dataclass(frozen=True)
class Mapping:
    uuid: str
    function: str  # the Lambda function's name
    queue_arn: str
    state: str  # Enabled, Disabled, Enabling, Disabling, Creating, Updating, Deleting
    batch_size: int

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def paused(self) -> bool:
        return self.state in PAUSED_STATES


def _lambda():
    return aws.client("lambda")


def function_name(function_arn: str) -> str:
    """``my-fn`` of ``arn:aws:lambda:<region>:<account>:function:my-fn[:qualifier]``."""
    return function_arn.split(":function:", 1)[-1].split(":", 1)[0]


def of_the_stage(function: str) -> bool:
    """Whether a function is one of the stage's: ``<prefix>-<stage>`` (the API function)
    or ``<prefix>-<stage>-...`` (the worker function)."""
    base = resource_name("").rstrip("-")
    return function == base or function.startswith(base + "-")


def _mapping(described: dict) -> Mapping:
    return Mapping(
        uuid=described["UUID"],
        function=function_name(described["FunctionArn"]),
        queue_arn=described["EventSourceArn"],
        state=described.get("State", ""),
        batch_size=int(described.get("BatchSize") or 0),
    )


def stage_mappings() -> list[Mapping]:
    """Every event source mapping of the stage's functions (one paged listing)."""
    found = []
    for page in _lambda().get_paginator("list_event_source_mappings").paginate():
        found += [_mapping(item) for item in page.get("EventSourceMappings", [])]
    return [mapping for mapping in found if of_the_stage(mapping.function)]


def queue_mappings(queue_arn: str) -> list[Mapping]:
    """The stage's functions' mappings of one queue."""
    found = []
    for page in _lambda().get_paginator("list_event_source_mappings").paginate(EventSourceArn=queue_arn):
        found += [_mapping(item) for item in page.get("EventSourceMappings", [])]
    return [mapping for mapping in found if of_the_stage(mapping.function)]


def mapping_set_enabled(*, uuid: str, enabled: bool) -> tuple[Mapping, str]:
    """Turn a mapping on or off (UpdateEventSourceMapping). Returns it as Lambda answers
    (``Disabling`` or ``Enabling`` on AWS until done) and the AWS request id. Raises
    botocore's ClientError when Lambda refuses (ResourceInUseException while the mapping
    is changing, ResourceNotFoundException)."""
    response = _lambda().update_event_source_mapping(UUID=uuid, Enabled=enabled)
    return _mapping(response), response.get("ResponseMetadata", {}).get("RequestId", "")


@dataclass(frozen=True)
class FunctionSize:
    """What Lambda bills a function's duration by."""

    memory_mb: int
    architecture: str  # x86_64 or arm64


def function_size(name: str) -> FunctionSize:
    """A function's memory and architecture as Lambda runs it (GetFunctionConfiguration).
    Raises botocore's ClientError (ResourceNotFoundException for a function not deployed)."""
    described = _lambda().get_function_configuration(FunctionName=name)
    return FunctionSize(int(described["MemorySize"]), (described.get("Architectures") or ["x86_64"])[0])
