"""Local stand-in for Lambda's SQS event source mappings.

Reads the SQS routes of ``zappa_settings.json`` ``events`` (one routing table for both
runtimes), long-polls each queue, and calls the routed function with a Lambda-shaped SQS
event. Like Lambda with ReportBatchItemFailures: messages the function reports in
``batchItemFailures`` stay on the queue (to be retried, then dead-lettered); the rest are
deleted; if the function raises, the whole batch stays.
"""

import importlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from console import aws

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqsRoute:
    function: str
    queue_name: str
    batch_size: int


def zappa_stage_settings(stage: str, path: Path | None = None) -> dict[str, Any]:
    """The settings of ``stage`` in zappa_settings.json, with ``extends`` resolved."""
    path = path or Path(settings.BASE_DIR) / "zappa_settings.json"
    all_stages = json.loads(path.read_text())
    if stage not in all_stages:
        raise KeyError(f"zappa_settings.json has no stage {stage!r}")
    stage_settings = dict(all_stages[stage])
    parent = stage_settings.pop("extends", None)
    if parent:
        merged = zappa_stage_settings(parent, path)
        merged.update(stage_settings)
        return merged
    return stage_settings


def sqs_routes(stage: str) -> list[SqsRoute]:
    routes = []
    for event in zappa_stage_settings(stage).get("events", []):
        source = event.get("event_source", {})
        arn = source.get("arn", "")
        if arn.startswith("arn:aws:sqs:") and source.get("enabled", True):
            routes.append(SqsRoute(event["function"], arn.rsplit(":", 1)[-1], int(source.get("batch_size", 10))))
    return routes


@dataclass(frozen=True)
class Schedule:
    function: str
    seconds: int


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedules(stage: str) -> list[Schedule]:
    """The ``rate(...)`` schedules of the stage (cron expressions are left to AWS)."""
    found = []
    for event in zappa_stage_settings(stage).get("events", []):
        match = _RATE.match(event.get("expression", ""))
        if match:
            found.append(Schedule(event["function"], int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]))
    return found


def import_function(dotted: str) -> Callable:
    module_name, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


class LambdaContext:
    """The parts of Lambda's context object our functions read."""

    def __init__(self, function_name: str, timeout_seconds: int = 30):
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _lambda_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in attributes.items():
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
    return converted


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": _lambda_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class QueuePoller(threading.Thread):
    def __init__(self, route: SqsRoute, stop: threading.Event, wait_seconds: int = 2):
        super().__init__(name=f"poll-{route.queue_name}", daemon=True)
        self.route = route
        self.stop_event = stop
        self.wait_seconds = wait_seconds

    def run(self) -> None:
        sqs = aws.client("sqs")
        function = import_function(self.route.function)
        queue_url = sqs.get_queue_url(QueueName=self.route.queue_name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        logger.info("polling %s for %s", self.route.queue_name, self.route.function)
        while not self.stop_event.is_set():
            try:
                self.poll_once(sqs, function, queue_url, queue_arn)
            except Exception:
                logger.exception("polling %s failed; retrying", self.route.queue_name)
                self.stop_event.wait(2)

    def poll_once(self, sqs, function: Callable, queue_url: str, queue_arn: str) -> int:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(self.route.batch_size, 10),
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = lambda_sqs_event(messages, queue_arn, settings.AWS_REGION)
        close_old_connections()
        try:
            result = function(event, LambdaContext(self.route.function))
        except Exception:
            logger.exception("%s raised; the batch of %d stays on the queue", self.route.function, len(messages))
            return 0
        finally:
            close_old_connections()
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(done)


class Scheduler(threading.Thread):
    """Calls a scheduled function every ``seconds`` with an EventBridge-shaped event."""

    def __init__(self, schedule: Schedule, stop: threading.Event):
        super().__init__(name=f"schedule-{schedule.function}", daemon=True)
        self.schedule = schedule
        self.stop_event = stop

    def run(self) -> None:
        function = import_function(self.schedule.function)
        while not self.stop_event.wait(self.schedule.seconds):
            event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
            close_old_connections()
            try:
                logger.info("%s: %s", self.schedule.function, function(event, LambdaContext(self.schedule.function)))
            except Exception:
                logger.exception("scheduled %s failed", self.schedule.function)
            finally:
                close_old_connections()


def consume(stop: threading.Event, stage: str | None = None) -> list[threading.Thread]:
    """Start a poller thread per routed queue and a thread per schedule; they run until
    ``stop`` is set."""
    stage = stage or settings.STAGE
    threads: list[threading.Thread] = [QueuePoller(route, stop) for route in sqs_routes(stage)]
    threads += [Scheduler(schedule, stop) for schedule in schedules(stage)]
    for thread in threads:
        thread.start()
    return threads
