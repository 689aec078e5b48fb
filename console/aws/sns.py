"""The only module that talks to SNS: publishing (the order events outbox), and the reads
others build on: the topics (``console.aws.resources`` finds a stage topic's ARN by its
name) and subscriptions (``ops.subscriptions``: which dead-letter into a queue, who the
alert topic reaches)."""

import json
from dataclasses import dataclass, field
from typing import Any

from console.aws import clients as aws

# SNS takes at most 10 messages per PublishBatch call.
BATCH_LIMIT = 10


@dataclass
class Message:
    """One message: ``id`` is ours (unique within a batch), ``body`` is sent as JSON and
    ``attributes`` as String message attributes (what subscription filter policies match)."""

    id: str
    body: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The body as SNS sends it: compact JSON (raw message delivery gives it as is)."""
        return json.dumps(self.body, separators=(",", ":"))

    @property
    def message_attributes(self) -> dict[str, dict[str, str]]:
        """The attributes as SNS and SQS take them."""
        return {name: {"DataType": "String", "StringValue": value} for name, value in self.attributes.items()}


def publish_batch(*, topic_arn: str, messages: list[Message]) -> tuple[list[str], dict[str, str]]:
    """Publish ``messages`` in batches of 10. Returns (ids published, {id: error code} of
    those SNS refused). Transport errors propagate: nothing after them was sent."""
    published: list[str] = []
    failed: dict[str, str] = {}
    client = aws.client("sns")
    for start in range(0, len(messages), BATCH_LIMIT):
        chunk = messages[start : start + BATCH_LIMIT]
        response = client.publish_batch(
            TopicArn=topic_arn,
            PublishBatchRequestEntries=[
                {
                    "Id": message.id,
                    "Message": message.text,
                    "MessageAttributes": message.message_attributes,
                }
                for message in chunk
            ],
        )
        published += [entry["Id"] for entry in response.get("Successful", [])]
        failed.update({entry["Id"]: entry.get("Code", "Failed") for entry in response.get("Failed", [])})
    return published, failed


# --- Reads (every page; botocore's errors propagate) -------------------------------------------


def topic_arns() -> list[str]:
    """Every topic's ARN in the account and region (ListTopics)."""
    pages = aws.client("sns").get_paginator("list_topics").paginate()
    return [topic["TopicArn"] for page in pages for topic in page.get("Topics", [])]


def subscriptions() -> list[dict[str, Any]]:
    """Every subscription in the account and region (ListSubscriptions): TopicArn,
    SubscriptionArn, Protocol, Endpoint."""
    pages = aws.client("sns").get_paginator("list_subscriptions").paginate()
    return [item for page in pages for item in page.get("Subscriptions", [])]


def subscription_attributes(*, subscription_arn: str) -> dict[str, str]:
    """A subscription's attributes (GetSubscriptionAttributes), its RedrivePolicy among them."""
    return aws.client("sns").get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]


def topic_subscriptions(*, topic_arn: str) -> list[dict[str, Any]]:
    """The subscriptions of one topic (ListSubscriptionsByTopic); a subscription nobody
    confirmed yet has "PendingConfirmation" for its SubscriptionArn."""
    pages = aws.client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    return [item for page in pages for item in page.get("Subscriptions", [])]
