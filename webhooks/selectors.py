"""Webhooks' reads: whose endpoints a user reaches."""

from django.db.models import QuerySet

from orders.subscribers import QueueSubscriber, queue_subscribers
from webhooks.models import MANAGE_ALL_ENDPOINTS, Delivery, Endpoint


def endpoints_visible_to(user) -> QuerySet[Endpoint]:
    """An API client's own endpoints; every client's for those who manage them all."""
    endpoints = Endpoint.objects.all()
    return endpoints if user.has_perm(MANAGE_ALL_ENDPOINTS) else endpoints.filter(owner=user)


def deliveries_visible_to(user) -> QuerySet[Delivery]:
    return Delivery.objects.filter(endpoint__in=endpoints_visible_to(user))


def queue_subscribers_visible_to(user) -> list[QueueSubscriber]:
    """The order events topic's queue subscribers (services outside the console), for
    those who manage every endpoint; nobody else sees or replays to them."""
    return queue_subscribers() if user.has_perm(MANAGE_ALL_ENDPOINTS) else []
