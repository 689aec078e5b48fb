"""Background jobs of the workflow app. They take ids only and are safe to run twice."""

from console.celery import app


@app.task(
    name="workflows.order_workflow_start",
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=12,
)
def order_workflow_start(order_id: str) -> str:
    from workflows.services import workflow_start

    return workflow_start(order_id=order_id).arn
