"""The only module of ``ops`` that talks to SNS: which subscriptions of the stage's topics
dead-letter into a queue."""

import json
import logging

from botocore.exceptions import ClientError

from console import aws
from console.resources import resource_name

logger = logging.getLogger(__name__)


def subscription_dead_letter_targets() -> list[tuple[str, str]]:
    """``(dead-letter queue ARN, "topic → endpoint")`` for each subscription of a stage
    topic that has a redrive policy."""
    sns = aws.client("sns")
    prefix = resource_name("")
    found = []
    try:
        pages = sns.get_paginator("list_subscriptions").paginate()
        subscriptions = [item for page in pages for item in page.get("Subscriptions", [])]
    except ClientError as exc:
        logger.warning("ListSubscriptions: %s", aws.error_code(exc))
        return []
    for subscription in subscriptions:
        topic = subscription.get("TopicArn", "").rsplit(":", 1)[-1]
        arn = subscription.get("SubscriptionArn", "")
        if not topic.startswith(prefix) or not arn.startswith("arn:"):
            continue
        try:
            attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        except ClientError:
            continue
        target = json.loads(attributes.get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
        if target:
            endpoint = subscription.get("Endpoint", "").rsplit(":", 1)[-1]
            found.append((target, f"{topic} → {endpoint}"))
    return found
