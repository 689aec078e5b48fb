"""Lambda functions of ``ops``, wired in ``zappa_settings.json`` ``events`` (and run
locally by the queue consumer from the same table).

* ``dead_letters_archive``: every dead-letter queue's event source. Stores each message
  in the archive; the event source mapping deletes it from the queue only when this
  returns without listing it in ``batchItemFailures``. A batch is archived in one bulk
  insert per queue first; then Powertools' ``BatchProcessor`` reports each message whose
  insert failed (all of its queue's in the batch).
* ``alarm_state_changes``: the alarm-events queue, fed by the EventBridge rule for
  "CloudWatch Alarm State Change"; a message that cannot be recorded is reported in
  ``batchItemFailures`` (Powertools' ``BatchProcessor``) and tried again alone.
* ``alarm_action``: target of an alarm's Lambda action (the payload is the alarm data).
* ``refresh``: scheduled; publishes DLQ depths, syncs alarms, ends expired mutes.

Zappa imports this module on the first event routed to one of these functions, after
Django is set up: by then the admin has loaded ``ops.archive`` and ``ops.alarms``, and
everything ``ops.refresh`` imports, so importing them at the top adds nothing to a cold
start. Powertools' batch utility is the one addition (a few tens of milliseconds, once per
execution environment).
"""

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ops import archive
from ops.alarms import alarm_state_change_record
from ops.refresh import ops_refresh

logger = logging.getLogger(__name__)


class NotArchived(Exception):
    """The message's bulk insert failed: it stays in its dead-letter queue."""


def _queue_name(record: dict[str, Any]) -> str:
    return record.get("eventSourceARN", "").rsplit(":", 1)[-1]


def dead_letters_archive(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for record in event.get("Records", []):
        by_queue.setdefault(_queue_name(record), []).append(record)
    not_archived = set()
    for queue_name, records in by_queue.items():
        try:
            archive.dead_letters_archive(
                queue_name=queue_name, messages=[archive.IncomingMessage.from_lambda_record(r) for r in records]
            )
        except Exception:
            logger.exception("could not archive %d message(s) of %s; they stay in the queue", len(records), queue_name)
            not_archived.add(queue_name)

    def each_message(record: SQSRecord) -> None:
        if _queue_name(record.raw_event) in not_archived:
            raise NotArchived(record.message_id)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=each_message, processor=processor)


def alarm_state_changes(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    # One processor per invocation (it holds the batch while it runs). A batch that fails
    # whole is reported, not raised: its messages count as FailedMessages, not as an error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=_alarm_event_record, processor=processor)


def _alarm_event_record(record: SQSRecord) -> None:
    try:
        alarm_state_change_record(event=json.loads(record.body))
    except Exception:
        logger.exception("alarm event %s could not be recorded", record.message_id)
        raise


def alarm_action(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    recorded = alarm_state_change_record(event=event)
    return {"recorded": recorded is not None}


def refresh(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    return ops_refresh()
