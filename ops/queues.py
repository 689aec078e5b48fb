"""The stage's dead-letter queues with what waits in each: archived messages (the
database) and messages still in SQS. The console's list of queues, and the depth every
DLQ alarm watches (``DeadLetterDepth``)."""

import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.utils import timezone

from ops import cloudwatch, selectors, sqs

logger = logging.getLogger(__name__)


def dead_letter_queues_discovered(*, refresh: bool = False) -> list[sqs.DeadLetterQueue]:
    """The stage's DLQs, or none when SQS does not answer: the archive still does."""
    try:
        return sqs.dead_letter_queues(refresh=refresh)
    except (ClientError, BotoCoreError):
        logger.warning("SQS did not answer; answering from the archive only", exc_info=True)
        return []


def queue_rows(*, refresh: bool = False) -> list[dict]:
    """One row per DLQ, in the API's shape: the discovered queues (from SQS, reused for a
    minute unless ``refresh``) and any queue the archive still holds messages of."""
    counts = selectors.dead_letter_counts()
    now = timezone.now()
    rows = []
    seen = set()
    for queue in dead_letter_queues_discovered(refresh=refresh):
        seen.add(queue.name)
        summary = counts.get(queue.name)
        oldest = summary.oldest_at if summary else None
        rows.append(
            {
                "name": queue.name,
                "fifo": queue.fifo,
                "sources": queue.sources,
                "fedBy": queue.fed_by,
                "otherSources": queue.other_sources,
                "waiting": summary.waiting if summary else 0,
                "inSqs": queue.visible + queue.delayed,
                "inFlight": queue.in_flight,
                "oldestAt": oldest,
                "oldestAgeSeconds": int((now - oldest).total_seconds()) if oldest else None,
                "moveTaskSupported": queue.move_task_supported,
            }
        )
    # Archived messages of a queue no longer discovered (deleted, renamed) stay visible.
    for name, summary in counts.items():
        if name not in seen:
            rows.append(
                {
                    "name": name,
                    "fifo": name.endswith(".fifo"),
                    "sources": [],
                    "fedBy": [],
                    "otherSources": [],
                    "waiting": summary.waiting,
                    "inSqs": 0,
                    "inFlight": 0,
                    "oldestAt": summary.oldest_at,
                    "oldestAgeSeconds": int((now - summary.oldest_at).total_seconds()) if summary.oldest_at else None,
                    "moveTaskSupported": False,
                }
            )
    return rows


def dead_letter_depths() -> dict[str, int]:
    """Each DLQ's depth: archived messages waiting plus any still in SQS."""
    counts = {name: summary.waiting for name, summary in selectors.dead_letter_counts().items()}
    for queue in sqs.dead_letter_queues():
        counts[queue.name] = counts.get(queue.name, 0) + queue.visible + queue.delayed
    return counts


def dead_letter_depths_publish() -> dict[str, int]:
    """Publish each DLQ's depth to CloudWatch (what the DLQ alarms watch); returns them."""
    depths = dead_letter_depths()
    cloudwatch.put_dead_letter_depths(depths)
    return depths
