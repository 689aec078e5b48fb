"""The queue subscribers of the order events topic, and replaying events to them.

A queue subscriber is an SQS queue subscribed to ``order-events`` that none of the stage's
functions reads: a service outside the console (the ``order-notifications`` queue, read by
the customer notification service, is one). The console's own subscribers (the webhooks
and real-time pushes queues) are not: their consumers are functions of the stage, found by
their event source mappings, and a replay reaches their receivers through the webhook
endpoints instead (``webhooks.services.events_replay``); a status push replayed to a
WebSocket would show an old status as the current one.

A replay sends a queue exactly what SNS delivered to it the first time: the message as
raw message delivery gives it (the event's JSON, with the ``eventType``, ``eventId`` and
``orderId`` String attributes), filtered by the subscription's filter policy, oldest
first. Event ids are unchanged, so a consumer that drops duplicates by ``eventId`` (as
docs/api.md asks) handles a replay like a redelivery.

Only what SNS would deliver the same way is replayed: subscriptions with raw message
delivery and a filter policy on message attributes made of exact string values. Others are
listed with the reason they cannot be replayed to.
"""

import json
from dataclasses import dataclass
from typing import Any

from console.aws import clients as aws
from console.aws import resources, sns
from console.aws.resources import resource_name

# SQS takes at most 10 messages per SendMessageBatch call.
BATCH_LIMIT = 10


class ReplayRefused(Exception):
    """A replay the subscriber cannot take as SNS would have delivered it."""


@dataclass(frozen=True)
class QueueSubscriber:
    subscription_arn: str
    queue_arn: str
    raw: bool
    filter_policy: dict[str, Any] | None
    filter_scope: str  # MessageAttributes (the default) or MessageBody

    @property
    def name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def unsupported(self) -> str:
        """Why a replay cannot reach it as SNS would, or "" when it can."""
        if not self.raw:
            return "Replay needs raw message delivery: SNS's envelope is signed by SNS alone."
        if self.filter_policy is None:
            return ""
        if self.filter_scope != "MessageAttributes":
            return "Replay matches filter policies on message attributes only."
        if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in self.filter_policy.values()):
            return "Replay matches filter policies of exact string values only."
        return ""

    def wants(self, message: sns.Message) -> bool:
        """Whether SNS delivers ``message`` to it (its filter policy on the attributes)."""
        if not self.filter_policy:
            return True
        return all(message.attributes.get(name) in values for name, values in self.filter_policy.items())


def _stage_function(function_arn: str) -> bool:
    function = function_arn.split(":function:", 1)[-1].split(":", 1)[0]
    base = resource_name("").rstrip("-")
    return function == base or function.startswith(base + "-")


def _read_by_the_stage(queue_arn: str) -> bool:
    pages = aws.client("lambda").get_paginator("list_event_source_mappings").paginate(EventSourceArn=queue_arn)
    return any(_stage_function(item["FunctionArn"]) for page in pages for item in page.get("EventSourceMappings", []))


def queue_subscribers() -> list[QueueSubscriber]:
    """The confirmed SQS subscriptions of the order events topic that no function of the
    stage reads, by queue name."""
    topic = resources.topic_arn(resources.ORDER_EVENTS_TOPIC)
    found = []
    for item in sns.topic_subscriptions(topic_arn=topic):
        arn = item["SubscriptionArn"]
        if item.get("Protocol") != "sqs" or not arn.startswith("arn:") or _read_by_the_stage(item["Endpoint"]):
            continue
        attributes = sns.subscription_attributes(subscription_arn=arn)
        policy = attributes.get("FilterPolicy")
        found.append(
            QueueSubscriber(
                subscription_arn=arn,
                queue_arn=item["Endpoint"],
                raw=attributes.get("RawMessageDelivery", "false").lower() == "true",
                filter_policy=json.loads(policy) if policy else None,
                filter_scope=attributes.get("FilterPolicyScope") or "MessageAttributes",
            )
        )
    return sorted(found, key=lambda subscriber: subscriber.name)


def _queue_url(queue_arn: str) -> str:
    _, _, _, _, account, name = queue_arn.split(":", 5)
    return aws.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def queue_replay(*, subscriber: QueueSubscriber, messages: list[sns.Message]) -> int:
    """Send ``messages`` (oldest first) that the subscriber's filter policy lets through to
    its queue, as raw message delivery does. Returns how many were sent. Raises
    ReplayRefused for a subscriber it cannot reach as SNS would, and RuntimeError when SQS
    refuses a message twice (what was sent before stays sent: a replay is idempotent for
    receivers, so running it again is safe)."""
    if subscriber.unsupported:
        raise ReplayRefused(subscriber.unsupported)
    wanted = [message for message in messages if subscriber.wants(message)]
    url = _queue_url(subscriber.queue_arn)
    client = aws.client("sqs")
    for start in range(0, len(wanted), BATCH_LIMIT):
        entries = [
            {
                "Id": message.id,
                "MessageBody": message.text,
                "MessageAttributes": message.message_attributes,
            }
            for message in wanted[start : start + BATCH_LIMIT]
        ]
        for attempt in (1, 2):
            failed = client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            if not failed:
                break
            refused = {item["Id"] for item in failed}
            entries = [entry for entry in entries if entry["Id"] in refused]
            if attempt == 2:
                raise RuntimeError(f"SQS refused {len(entries)} messages for {subscriber.name}: {failed[0]}")
    return len(wanted)
