"""The Celery app: SQS broker (the local moto server in development).

Started with ``celery -A console.celery worker``. Web code imports it only when it queues
a job, so requests that queue nothing never load Celery.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.dev")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_configure.connect
def _on_configure(sender: Celery, **kwargs) -> None:
    configure_broker(sender)


def configure_broker(sender: Celery = app) -> None:
    """Point the broker at the configured SQS endpoint (called again if it changes)."""
    from django.conf import settings

    from console.resources import resource_name

    endpoint = settings.AWS_ENDPOINT_URL
    if endpoint:
        # kombu builds the endpoint from the URL's host and port.
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        sender.conf.broker_url = f"sqs://{parts.hostname}:{parts.port or 80}"
        secure = parts.scheme == "https"
    else:
        sender.conf.broker_url = "sqs://"
        secure = True
    sender.conf.broker_transport_options = {
        "region": settings.AWS_REGION,
        "is_secure": secure,
        # Queues are named <prefix>-<stage>-<queue>; infra creates them, kombu only uses them.
        "queue_name_prefix": resource_name(""),
        "visibility_timeout": 900,
        "wait_time_seconds": 10,
        "polling_interval": 0.5,
    }
    sender.conf.broker_connection_retry_on_startup = True


app.autodiscover_tasks(["workflows"])
# Dead-letter queues: redrive jobs, and the failure records dead-lettered tasks are shown with.
app.autodiscover_tasks(["ops"])
# Media and CSV ingestion: import plan, chunk and workflow-start jobs.
app.autodiscover_tasks(["media"])
# Orders: exports of the order list written to a file.
app.autodiscover_tasks(["orders"])
