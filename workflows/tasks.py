"""Background jobs of the workflow app. They take ids only and are safe to run twice."""

from console.runtime.celery import app
from console.runtime.deadlines import stop_by
from workflows.executions import workflow_start
from workflows.starts import workflow_starts_follow_up, workflow_starts_run

# The starter stops between batches this long before its invocation's timeout and goes on
# in a new message (a continuation), so no batch is cut off halfway.
INVOCATION_MARGIN_SECONDS = 60


@app.task(
    name="workflows.order_workflow_start",
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=12,
)
def order_workflow_start(order_id: str) -> str:
    """One order's start, in this job (messages queued before the batched starter, and
    redriven dead letters of them); new orders go through ``order_workflow_starts``."""
    return workflow_start(order_id=order_id).arn


@app.task(name="workflows.order_workflow_starts", acks_late=True)
def order_workflow_starts() -> dict:
    """The batched starter (``workflows.starts``): starts waiting requests until none
    waits, then queues what comes next (its continuation when out of time)."""
    run = workflow_starts_run(deadline=stop_by(INVOCATION_MARGIN_SECONDS))
    workflow_starts_follow_up(run)
    return run.as_dict()
