"""SQS helpers of the redrive benchmarks: call counting, filling a queue with numbered
messages, draining one and checking what arrived."""

import json
import time
from collections import Counter


class CallCounter:
    """Counts the API calls a client makes while it is active, by operation (every call
    goes through the client's ``_make_api_call``)::

        with CallCounter(sqs) as counter:
            ...
        counter.total()
    """

    def __init__(self, client):
        self.client = client
        self.calls: Counter[str] = Counter()

    def __enter__(self) -> "CallCounter":
        self.calls.clear()
        original = self.client._make_api_call

        def counted(operation_name, api_params):
            self.calls[operation_name] += 1
            return original(operation_name, api_params)

        self.client._make_api_call = counted
        return self

    def __exit__(self, *exc) -> None:
        del self.client._make_api_call  # back to the class's method

    def total(self) -> int:
        return sum(self.calls.values())


def fill(sqs, url: str, count: int, tag: str) -> None:
    """``count`` messages with unique bodies and two message attributes, in batches of ten."""
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": f'{{"bench": "{tag}", "n": {n}}}',
                    "MessageAttributes": {
                        "tenant": {"DataType": "String", "StringValue": f"t{n % 7}"},
                        "attempt": {"DataType": "Number", "StringValue": "1"},
                    },
                }
                for n in range(start, min(start + 10, count))
            ],
        )


def drain_bodies(sqs, url: str) -> list[str]:
    bodies = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            # moto answers an empty receive while messages are in flight; check the depth.
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if (
                int(attributes["ApproximateNumberOfMessages"])
                + int(attributes["ApproximateNumberOfMessagesNotVisible"])
                == 0
            ):
                return bodies
            time.sleep(0.2)
            continue
        bodies.extend(m["Body"] for m in batch)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )


def check(bodies: list[str], expected: int, tag: str) -> tuple[int, int]:
    """(lost, duplicated) among the messages tagged ``tag``."""
    numbers = [json.loads(b)["n"] for b in bodies if f'"{tag}"' in b]
    seen = Counter(numbers)
    lost = sum(1 for n in range(expected) if n not in seen)
    duplicated = sum(c - 1 for c in seen.values() if c > 1)
    return lost, duplicated
