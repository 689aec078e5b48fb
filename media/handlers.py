"""Lambda functions of the media app, wired in ``zappa_settings.json`` ``events``.

``files_events`` takes the files-events queue's SQS batches: the files bucket notifies the
queue of every ObjectCreated under ``media/`` and ``incoming/orders/`` (infra/template.yaml),
on AWS and on the local moto server alike; a message that fails is retried alone and ends
in the queue's dead-letter queue (partial batch failure, through Powertools'
``BatchProcessor``). It also accepts S3 events delivered to the function directly (an S3
event source), where a failure raises so that Lambda retries the invocation.
"""

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from console.aws import resources
from media.services import s3_object_created

logger = logging.getLogger(__name__)


def _object_created(record: dict[str, Any]) -> str:
    if not record.get("eventName", "").startswith("ObjectCreated"):
        return "ignored"
    bucket = record["s3"]["bucket"]["name"]
    if bucket != resources.files_bucket():
        logger.warning("an event of bucket %s, not the files bucket; ignored", bucket)
        return "ignored"
    return s3_object_created(bucket=bucket, key=record["s3"]["object"]["key"])


def files_events(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    records = event.get("Records", [])
    if records and records[0].get("eventSource") == "aws:s3":  # S3 invoked the function: no partial failure
        for record in records:
            _object_created(record)
        return {"batchItemFailures": []}
    # One processor per invocation (it holds the batch while it runs). A batch that fails
    # whole is reported, not raised: its messages count as FailedMessages, not as an error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=_files_event_message, processor=processor)


def _files_event_message(record: SQSRecord) -> None:
    try:
        body = json.loads(record.body)
        if body.get("Event") == "s3:TestEvent":  # sent once when the notification is set up
            return
        for s3_record in body.get("Records", []):
            _object_created(s3_record)
    except Exception:
        logger.exception("files event %s failed", record.message_id)
        raise
