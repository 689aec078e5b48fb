"""Running a workflow step's callback task and answering Step Functions: once per task
token, whatever the deliveries (the order workflow's steps, ``workflows.steps``, and the
saga's, ``workflows.saga``)."""

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.lifecycle import InvalidTransition
from orders.models import Order
from workflows import sfn
from workflows.executions import TaskMessage, execution_for_message
from workflows.models import Execution, StepRun, token_digest
from workflows.steps import STEPS, TERMINAL_STEPS, StepFailed

logger = logging.getLogger(__name__)


def step_task_run(
    *, message: TaskMessage, steps: dict[str, Any] | None = None, terminal_steps: dict[str, str] | None = None
) -> StepRun:
    """Run one step task and answer Step Functions.

    At-least-once delivery is expected: the run is keyed by its task token, so a redelivered
    message never runs the step twice; it re-sends the recorded answer if that was not
    acknowledged. A task that is no longer open (timed out, execution gone) is recorded
    and dropped. Any other exception propagates, so the message is retried and, in the end,
    lands in the dead-letter queue.
    """
    steps = STEPS if steps is None else steps
    step_function = steps.get(message.step)
    if step_function is None:
        raise ValueError(f"unknown workflow step {message.step!r}")
    order = Order.objects.get(pk=message.order_id)
    execution = execution_for_message(order=order, execution_arn=message.execution_arn)
    digest = token_digest(message.task_token)

    with transaction.atomic():
        run, created = StepRun.objects.select_for_update().get_or_create(
            token_sha256=digest, defaults={"execution": execution, "step": message.step}
        )
        if run.status == StepRun.Status.STARTED:
            Execution.objects.filter(pk=execution.pk).update(current_state=message.step)
            try:
                if execution.stop_requested_at is not None:
                    # An operator stopped the execution: none of its steps runs any more
                    # (the local engine ends it once this task is answered).
                    raise StepFailed("ExecutionStopped", f"The execution was stopped: {execution.stop_reason}")
                if message.step in execution.drill_fail_at.split(",") and settings.SAGA_FAILURE_DRILLS:
                    raise StepFailed("DrillFailure", f"Failure drill: {message.step} failed on purpose")
                with transaction.atomic():
                    run.output = step_function(order, message.raw)
                    run.status = StepRun.Status.SUCCEEDED
            except StepFailed as failure:
                run.status, run.error, run.cause = StepRun.Status.FAILED, failure.error, failure.cause
            except InvalidTransition as exc:
                run.status, run.error, run.cause = StepRun.Status.FAILED, "InvalidOrderState", str(exc)
            run.finished_at = timezone.now()
            run.save()

    if run.answered_at is None:
        _step_answer(
            run=run,
            message=message,
            execution=execution,
            terminal_steps=TERMINAL_STEPS if terminal_steps is None else terminal_steps,
        )
    return run


def _step_answer(*, run: StepRun, message: TaskMessage, execution: Execution, terminal_steps: dict[str, str]) -> None:
    try:
        if run.status == StepRun.Status.SUCCEEDED:
            sfn.send_task_success(task_token=message.task_token, output=run.output or {})
        else:
            sfn.send_task_failure(task_token=message.task_token, error=run.error, cause=run.cause)
    except sfn.TaskNotOpen as exc:
        logger.warning("step %s of %s: task no longer open (%s)", run.step, execution.name, exc.aws_code)
        run.error = run.error or exc.aws_code
        run.cause = run.cause or f"Task no longer open: {exc}"
    run.answered_at = timezone.now()
    run.save(update_fields=["answered_at", "error", "cause"])
    terminal = terminal_steps.get(run.step)
    if terminal and run.status == StepRun.Status.SUCCEEDED:
        Execution.objects.filter(pk=execution.pk).update(status=terminal, stopped_at=timezone.now())
