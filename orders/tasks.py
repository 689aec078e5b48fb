"""Background jobs of the orders area (Celery finds them here): exports of the order list,
and the jobs of order CSV imports (``orders.imports.tasks``). Services queue them by name
(``console.runtime.jobs``); these import the services they run."""

from console.runtime.celery import app
from orders.exports import export_to_file
from orders.imports.tasks import import_chunk_job, import_plan_job, import_workflows_job  # noqa: F401


@app.task(name="orders.export_to_file")
def order_export_job(user_id: int, filters: str, key: str) -> int:
    """Not retried: a failed export is exported again by its operator, who is told."""
    return export_to_file(user_id=user_id, filters=filters, key=key)
