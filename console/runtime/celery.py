"""The Celery app: SQS broker (the local moto server in development).

Jobs run on the stage's worker function (``console.runtime.lambda_jobs``, the jobs queue's Lambda
event source) by default; a Celery worker (``celery -A console.runtime.celery worker -Q jobs``, on
ECS or EC2, or ``make run CELERY_WORKER=1``) runs the same messages where a team prefers
one. Web code imports this module only when it queues a job, so requests that queue nothing
never load Celery.
"""

import math
import os
from datetime import UTC, datetime

from celery import Celery
from celery.signals import before_task_publish

from console.aws.resources import resource_name

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.dev")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_configure.connect
def _on_configure(sender: Celery, **kwargs) -> None:
    configure_broker(sender)


def configure_broker(sender: Celery = app) -> None:
    """Point the broker at the configured SQS endpoint (called again if it changes)."""
    from django.conf import settings

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
# Orders: exports of the order list written to a file; order CSV imports' plan, chunk and
# workflow-start jobs.
app.autodiscover_tasks(["orders"])


# SQS delays a message by itself for up to 15 minutes: a task published with a countdown or
# an eta (``apply_async(countdown=...)``, ``self.retry(countdown=...)``) is sent with that
# delay, so no consumer has to hold it. A Lambda function cannot hold a message; a worker
# holding one keeps it invisible and in memory. A later eta is waited out by the consumer
# (``console.runtime.lambda_jobs`` sends it again with the longest delay).
MAX_SQS_DELAY_SECONDS = 900


@before_task_publish.connect
def _delay_until_eta(headers=None, properties=None, **kwargs) -> None:
    eta = (headers or {}).get("eta")
    if not eta or properties is None:
        return
    moment = datetime.fromisoformat(str(eta))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = math.ceil((moment - datetime.now(UTC)).total_seconds())
    if seconds > 0:
        # An explicit delay (``apply_async(delay_seconds=...)``) wins.
        properties.setdefault("delay_seconds", min(MAX_SQS_DELAY_SECONDS, seconds))
