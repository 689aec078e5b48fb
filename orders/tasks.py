"""Background jobs of the orders area. Services queue them by name
(``console.runtime.jobs``); these import the services they run."""

from console.runtime.celery import app
from orders.exports import export_to_file


@app.task(name="orders.export_to_file")
def order_export_job(user_id: int, filters: str, key: str) -> int:
    """Not retried: a failed export is exported again by its operator, who is told."""
    return export_to_file(user_id=user_id, filters=filters, key=key)
