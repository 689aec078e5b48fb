"""The only module of ``ops`` that talks to SQS: finding the stage's dead-letter queues,
their depths, and the batch calls a redrive makes.

Dead-letter queues are found, not listed: the redrive policies of the stage's queues
name their DLQs, ``ListDeadLetterSourceQueues`` finds the sources of each (and DLQs whose
sources live outside the stage's name prefix), SNS subscriptions' redrive policies
(``ops.subscriptions``) and the Lambda function's dead-letter target (``dead_letter_arn``
in zappa_settings.json) add DLQs that no queue feeds.
"""

import json
import logging
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.cache import cache

from console.aws import clients as aws
from console.aws.resources import resource_name
from console.runtime import stage
from ops import subscriptions

logger = logging.getLogger(__name__)

BATCH = 10  # SQS's batch limit for send, receive and delete
_CACHE_KEY = "ops:dead-letter-queues"


def _sqs():
    return aws.client("sqs")


def name_of(url_or_arn: str) -> str:
    return url_or_arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def queue_url(name: str) -> str:
    return _queue_url(name, settings.AWS_ENDPOINT_URL)


@lru_cache(maxsize=128)
def _queue_url(name: str, endpoint: str | None) -> str:
    return _sqs().get_queue_url(QueueName=name)["QueueUrl"]


def reset_cache() -> None:
    _queue_url.cache_clear()
    cache.delete(_CACHE_KEY)


def stage_queue_urls() -> list[str]:
    """Every queue whose name carries the stage's prefix."""
    urls: list[str] = []
    for page in _sqs().get_paginator("list_queues").paginate(QueueNamePrefix=resource_name("")):
        urls.extend(page.get("QueueUrls", []))
    return sorted(urls)


def stage_queue_names() -> list[str]:
    return [name_of(url) for url in stage_queue_urls()]


def queue_attributes(url: str) -> dict[str, str]:
    return _sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


@dataclass
class DeadLetterQueue:
    name: str
    url: str
    arn: str
    fifo: bool
    # Names of the SQS queues whose redrive policy targets this queue.
    sources: list[str] = field(default_factory=list)
    # What feeds it: "sqs" (redrive policies), "sns" (subscriptions), "lambda" (async failures).
    fed_by: list[str] = field(default_factory=list)
    other_sources: list[str] = field(default_factory=list)  # topic subscriptions, functions
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0
    retention_seconds: int = 0

    @property
    def move_task_supported(self) -> bool:
        """AWS's StartMessageMoveTask moves messages back only to the SQS queues that
        dead-lettered them; it refuses DLQs fed by SNS or Lambda."""
        return bool(self.sources) and set(self.fed_by) == {"sqs"}

    @property
    def single_source(self) -> str:
        """The queue every message here came from, when only one SQS queue feeds it."""
        return self.sources[0] if len(self.sources) == 1 and set(self.fed_by) == {"sqs"} else ""


def dead_letter_queues(*, refresh: bool = False) -> list[DeadLetterQueue]:
    """The stage's DLQs with their SQS depths, reused for OPS_DISCOVERY_CACHE_SECONDS."""
    if not refresh:
        cached = cache.get(_CACHE_KEY)
        if cached is not None:
            return [DeadLetterQueue(**item) for item in cached]
    found = discover_dead_letter_queues()
    cache.set(_CACHE_KEY, [asdict(queue) for queue in found], settings.OPS_DISCOVERY_CACHE_SECONDS)
    return found


def discover_dead_letter_queues() -> list[DeadLetterQueue]:
    sqs = _sqs()
    urls = stage_queue_urls()
    attributes = {url: queue_attributes(url) for url in urls}
    by_arn = {attrs["QueueArn"]: url for url, attrs in attributes.items()}
    queues: dict[str, DeadLetterQueue] = {}

    def entry(url: str) -> DeadLetterQueue:
        if url not in queues:
            attrs = attributes.get(url) or queue_attributes(url)
            attributes[url] = attrs
            queues[url] = DeadLetterQueue(
                name=name_of(url),
                url=url,
                arn=attrs["QueueArn"],
                fifo=attrs.get("FifoQueue") == "true" or url.endswith(".fifo"),
                visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
                retention_seconds=int(attrs.get("MessageRetentionPeriod", 0)),
            )
        return queues[url]

    for url, attrs in attributes.items():
        policy = json.loads(attrs.get("RedrivePolicy") or "{}")
        target = policy.get("deadLetterTargetArn")
        if target and target in by_arn:
            dlq = entry(by_arn[target])
            dlq.sources.append(name_of(url))
            dlq.fed_by.append("sqs")
    # Sources outside the stage's prefix, and DLQs whose only sources are such queues.
    for url in urls:
        try:
            pages = sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=url)
            source_urls = [source for page in pages for source in page.get("queueUrls", [])]
        except ClientError as exc:
            logger.warning("ListDeadLetterSourceQueues %s: %s", name_of(url), aws.error_code(exc))
            continue
        for source_url in source_urls:
            dlq = entry(url)
            if name_of(source_url) not in dlq.sources:
                dlq.sources.append(name_of(source_url))
                dlq.fed_by.append("sqs")
    for dlq_arn, subscription in subscriptions.subscription_dead_letter_targets():
        if dlq_arn in by_arn:
            dlq = entry(by_arn[dlq_arn])
            dlq.fed_by.append("sns")
            dlq.other_sources.append(subscription)
    lambda_target = lambda_dead_letter_arn()
    if lambda_target and lambda_target in by_arn:
        dlq = entry(by_arn[lambda_target])
        dlq.fed_by.append("lambda")
        dlq.other_sources.append(f"lambda:{resource_name('').rstrip('-')}")
    for dlq in queues.values():
        dlq.sources.sort()
        dlq.fed_by = sorted(set(dlq.fed_by))
    return sorted(queues.values(), key=lambda queue: queue.name)


# The functions' dead-letter queue by the template's naming rule, where zappa_settings.json
# is not at hand: the Lambda package leaves it out (Zappa compiles it into its own module).
ASYNC_DEAD_LETTER_QUEUE = "async-dlq"


def lambda_dead_letter_arn() -> str:
    """Where Lambda puts failed async invocations of the stage's functions (Zappa's
    ``dead_letter_arn``; the account id is the deployment's, so match by queue name)."""
    try:
        configured = stage.zappa_stage_settings(settings.STAGE).get("dead_letter_arn", "")
    except (KeyError, FileNotFoundError):
        configured = resource_name(ASYNC_DEAD_LETTER_QUEUE)
    if not configured:
        return ""
    try:
        url = queue_url(name_of(configured))
    except ClientError:
        return ""
    return queue_attributes(url)["QueueArn"]


# --- Batch calls --------------------------------------------------------------------------


def receive(url: str, *, max_messages: int = BATCH, wait_seconds: int = 0, visibility_timeout: int | None = None):
    arguments: dict[str, Any] = {
        "QueueUrl": url,
        "MaxNumberOfMessages": max_messages,
        "WaitTimeSeconds": wait_seconds,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    if visibility_timeout is not None:
        arguments["VisibilityTimeout"] = visibility_timeout
    return _sqs().receive_message(**arguments).get("Messages", [])


def send_batch(url: str, entries: list[dict[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """Send up to ten entries. Returns the ids sent and {id: error} for those refused.
    A failed call (network, throttling after retries) raises: nothing is known sent."""
    response = _sqs().send_message_batch(QueueUrl=url, Entries=entries)
    sent = {item["Id"] for item in response.get("Successful", [])}
    failed = {item["Id"]: f"{item.get('Code', '')}: {item.get('Message', '')}" for item in response.get("Failed", [])}
    return sent, failed


def delete_batch(url: str, receipt_handles: list[str]) -> int:
    if not receipt_handles:
        return 0
    response = _sqs().delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(receipt_handles)]
    )
    return len(response.get("Successful", []))


def purge(url: str) -> str:
    """Purge a queue; returns the AWS request id."""
    response = _sqs().purge_queue(QueueUrl=url)
    return response.get("ResponseMetadata", {}).get("RequestId", "")


# --- AWS's own redrive (StartMessageMoveTask) ------------------------------------------------


def start_message_move_task(*, source_arn: str, destination_arn: str | None, rate: int | None) -> str:
    """Start AWS's move of every message in a DLQ back to its sources (or a destination).
    Returns the task handle."""
    arguments: dict[str, Any] = {"SourceArn": source_arn}
    if destination_arn:
        arguments["DestinationArn"] = destination_arn
    if rate:
        arguments["MaxNumberOfMessagesPerSecond"] = min(int(rate), 500)
    return _sqs().start_message_move_task(**arguments)["TaskHandle"]


def message_move_task(
    *, source_arn: str, task_handle: str, started_ms: int | None = None, not_before_ms: int | None = None
) -> dict[str, Any] | None:
    """Our move task among the source queue's most recent ten, as ListMessageMoveTasks
    reports it (Status, StartedTimestamp, ApproximateNumberOfMessagesMoved,
    ApproximateNumberOfMessagesToMove, FailureReason), or None when it is not listed.

    SQS gives a TaskHandle only while a task is RUNNING, so an ended task is found by its
    StartedTimestamp: ``started_ms`` when it was seen before, else the first task that
    started at or after ``not_before_ms`` (our request, less clock skew): SQS runs one move
    task per source queue at a time and ours started when we asked, so the first to start
    after the request is ours. A task running under another handle is never taken for ours.
    """
    tasks = _sqs().list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
    for task in tasks:
        if task_handle and task.get("TaskHandle") == task_handle:
            return task
    without_handle = [task for task in tasks if not task.get("TaskHandle") and task.get("StartedTimestamp") is not None]
    if started_ms is not None:
        return next((task for task in without_handle if task["StartedTimestamp"] == started_ms), None)
    if not_before_ms is None:
        return None
    candidates = [task for task in without_handle if task["StartedTimestamp"] >= not_before_ms]
    return min(candidates, key=lambda task: task["StartedTimestamp"], default=None)


def cancel_message_move_task(*, task_handle: str) -> int:
    return int(_sqs().cancel_message_move_task(TaskHandle=task_handle).get("ApproximateNumberOfMessagesMoved", 0))
