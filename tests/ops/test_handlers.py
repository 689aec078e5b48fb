"""The dead-letter archive's Lambda handler: each queue's messages in one bulk insert, and
the partial batch response naming the messages whose insert failed."""

import json

import pytest

from ops.handlers import dead_letters_archive
from ops.models import DeadLetter

pytestmark = pytest.mark.django_db


def record(queue: str, message_id: str, body: str = '{"orderId": "o-1"}') -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "4", "SentTimestamp": "1764900000000"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
    }


def test_a_queue_whose_insert_fails_keeps_its_messages_and_the_others_are_archived():
    good = [record("ops-console-dev-steps-dlq", f"m-{i}") for i in range(3)]
    # A record without a body cannot be archived: its queue's bulk insert fails whole.
    broken = [record("ops-console-dev-jobs-dlq", "j-1"), record("ops-console-dev-jobs-dlq", "j-2")]
    del broken[1]["body"]
    batch = {"Records": [good[0], broken[0], good[1], broken[1], good[2]]}

    outcome = dead_letters_archive(batch)

    assert outcome == {"batchItemFailures": [{"itemIdentifier": "j-1"}, {"itemIdentifier": "j-2"}]}
    assert sorted(DeadLetter.objects.values_list("message_id", flat=True)) == ["m-0", "m-1", "m-2"]
    # Delivered again (the mapping's at-least-once), the archived ones are stored once.
    assert dead_letters_archive({"Records": good}) == {"batchItemFailures": []}
    assert DeadLetter.objects.count() == 3
    assert json.loads(DeadLetter.objects.get(message_id="m-0").body) == {"orderId": "o-1"}
