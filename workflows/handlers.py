"""Lambda functions for the workflow queues, wired in ``zappa_settings.json`` ``events``.

Each takes an SQS batch event and reports partial batch failure (``batchItemFailures``,
through Powertools' ``BatchProcessor``): a message that could not be handled is retried
alone and, after the queue's maxReceiveCount, moves to its dead-letter queue. A batch that
fails whole is reported the same way, not raised.
"""

import json
import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from console.platform import observability
from console.runtime.deadlines import stop_by
from workflows.approvals import approval_request, approval_sweep
from workflows.executions import TaskMessage, execution_sweep, workflow_start_missing
from workflows.saga import SAGA_STEPS
from workflows.step_tasks import step_task_run

logger = logging.getLogger(__name__)


def _each_record(event: dict[str, Any], handle: Callable[[TaskMessage], Any]) -> dict[str, Any]:
    def task_record(record: SQSRecord) -> None:
        try:
            message = TaskMessage.parse(json.loads(record.body))
            with observability.correlation(order_id=message.order_id, execution_arn=message.execution_arn):
                handle(message)
        except Exception:
            logger.exception("message %s from %s failed", record.message_id, record.get("eventSourceARN"))
            raise

    # One processor per invocation (it holds the batch while it runs). A batch that fails
    # whole is reported, not raised: its messages count as FailedMessages, not as an error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=task_record, processor=processor)


def step_tasks(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Runs workflow steps (ValidateOrder, CheckInventory, ...) and answers Step Functions."""
    return _each_record(event, lambda message: step_task_run(message=message))


def approval_tasks(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Stores each approval task as a pending approval for operators."""
    return _each_record(event, lambda message: approval_request(message=message))


def start_missing_executions(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    """Scheduled: starts every workflow that should be running by now, the waiting ones
    all at once at the starts' pace (``workflow_start_missing``), and stops between batches
    a minute before the invocation's timeout, a continuation going on."""
    return {"started": workflow_start_missing(deadline=stop_by(60, context))}


def saga_tasks(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Runs the order saga's steps and compensations and answers Step Functions."""
    return _each_record(event, lambda message: step_task_run(message=message, steps=SAGA_STEPS, terminal_steps={}))


def sweep_workflows(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Scheduled: expired and closed approvals, heartbeats, undelivered decisions, and the
    status of executions we still think are running. Each completed run counts one
    ``WorkflowSweeps``: the stage's workflow-sweep-stopped alarm goes off when they stop."""
    result = {"approvals": approval_sweep(), "executions": execution_sweep()}
    observability.metric("WorkflowSweeps")
    return result
