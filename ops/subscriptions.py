"""SNS subscriptions as ``ops`` reads them: which subscriptions of the stage's topics
dead-letter into a queue (how a DLQ fed by SNS is found), and who the alert topic (where
every alarm notifies) reaches. The SNS calls are the platform's (``console.aws.sns``)."""

import json
import logging
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.cache import cache

from console.aws import clients as aws
from console.aws import resources, sns
from console.aws.resources import resource_name

logger = logging.getLogger(__name__)


def subscription_dead_letter_targets() -> list[tuple[str, str]]:
    """``(dead-letter queue ARN, "topic → endpoint")`` for each subscription of a stage
    topic that has a redrive policy."""
    prefix = resource_name("")
    found = []
    try:
        subscriptions = sns.subscriptions()
    except ClientError as exc:
        logger.warning("ListSubscriptions: %s", aws.error_code(exc))
        return []
    for subscription in subscriptions:
        topic = subscription.get("TopicArn", "").rsplit(":", 1)[-1]
        arn = subscription.get("SubscriptionArn", "")
        if not topic.startswith(prefix) or not arn.startswith("arn:"):
            continue
        try:
            attributes = sns.subscription_attributes(subscription_arn=arn)
        except ClientError:
            continue
        target = json.loads(attributes.get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
        if target:
            endpoint = subscription.get("Endpoint", "").rsplit(":", 1)[-1]
            found.append((target, f"{topic} → {endpoint}"))
    return found


# --- Who the alarms notify -----------------------------------------------------------------
ALERT_TOPIC = "alerts"  # infra/template.yaml AlertTopic: <prefix>-<stage>-alerts
_ALERTS_CACHE_KEY = "ops:alert-subscriptions"
# SNS reports an email subscription nobody confirmed yet with this in place of its ARN.
PENDING_CONFIRMATION = "PendingConfirmation"


@dataclass(frozen=True)
class AlertSubscription:
    protocol: str  # email, https, sqs, lambda, ...
    endpoint: str  # shown to support staff: an address, a host, or a queue/function name
    pending: bool  # subscribed, but the recipient has not confirmed: it receives nothing yet


def alert_topic_name() -> str:
    return resource_name(ALERT_TOPIC)


def _shown_endpoint(protocol: str, endpoint: str) -> str:
    if protocol in {"http", "https"}:
        # Webhook URLs (chat, paging services) carry their secret in the path or query.
        return f"{protocol}://{urlsplit(endpoint).hostname or '?'}/…"
    if endpoint.startswith("arn:"):
        return endpoint.rsplit(":", 1)[-1]
    return endpoint


def alert_subscriptions(*, refresh: bool = False) -> list[AlertSubscription]:
    """The subscriptions of the stage's alert topic (ListSubscriptionsByTopic), reused for
    OPS_DISCOVERY_CACHE_SECONDS. An empty list: the alarms notify nobody.

    Raises LookupError when the topic is not deployed and botocore's ClientError or
    BotoCoreError when SNS does not answer; callers show that rather than "nobody"."""
    if not refresh:
        cached = cache.get(_ALERTS_CACHE_KEY)
        if cached is not None:
            return [AlertSubscription(**item) for item in cached]
    found = []
    for subscription in sns.topic_subscriptions(topic_arn=resources.topic_arn(ALERT_TOPIC)):
        protocol = subscription.get("Protocol", "")
        found.append(
            AlertSubscription(
                protocol=protocol,
                endpoint=_shown_endpoint(protocol, subscription.get("Endpoint", "")),
                pending=subscription.get("SubscriptionArn") == PENDING_CONFIRMATION,
            )
        )
    cache.set(_ALERTS_CACHE_KEY, [asdict(item) for item in found], settings.OPS_DISCOVERY_CACHE_SECONDS)
    return found
