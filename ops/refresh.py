"""The minute schedule of ``ops`` (``ops.handlers.refresh``): the metrics the console's own
alarms watch and its charts show, the alarms brought in line with CloudWatch, and the
redrives kept going."""

from django.conf import settings

from console.aws import resources
from ops import alarms, cloudwatch, metrics, queues, sqs
from ops.redrive import jobs, move_tasks
from orders.selectors import order_event_oldest_unpublished_age
from workflows.starts import workflow_start_backlog


def ops_refresh() -> dict[str, int]:
    """Publish DLQ depths, the outbox's oldest event age, the workflow start backlog and the
    charts' own metrics (``ops.metrics``), sync alarms, end expired mutes, follow move tasks
    and take over stalled redrives. Returns what each step counted."""
    sqs.reset_cache()
    result = {"queues": len(queues.dead_letter_depths_publish())}
    # The outbox-age alarm watches it per topic the outbox feeds (the order events topic).
    topic = settings.ORDER_EVENTS_TOPIC_ARN or resources.resource_name(resources.ORDER_EVENTS_TOPIC)
    outbox_age = order_event_oldest_unpublished_age()
    cloudwatch.put_outbox_oldest_event_age(topic_name=topic.rsplit(":", 1)[-1], seconds=outbox_age)
    result["start_backlog"] = cloudwatch.put_workflow_start_backlog(waiting=workflow_start_backlog())
    result.update(outbox_age=int(outbox_age), alarms=alarms.alarms_sync(), unmuted=alarms.alarms_unmute_expired())
    move_tasks.redrive_move_tasks_refresh()
    result["redrives_taken_over"] = jobs.redrives_take_over_stalled()
    # Last: the charts' metrics must never hold up the alarms and redrives above.
    result["metric_minutes"] = metrics.app_metrics_publish()["minutes"]
    return result
