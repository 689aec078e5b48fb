"""Webhooks' reads: whose endpoints a user reaches."""

from django.db.models import QuerySet

from webhooks.models import MANAGE_ALL_ENDPOINTS, Delivery, Endpoint


def endpoints_visible_to(user) -> QuerySet[Endpoint]:
    """An API client's own endpoints; every client's for those who manage them all."""
    endpoints = Endpoint.objects.all()
    return endpoints if user.has_perm(MANAGE_ALL_ENDPOINTS) else endpoints.filter(owner=user)


def deliveries_visible_to(user) -> QuerySet[Delivery]:
    return Delivery.objects.filter(endpoint__in=endpoints_visible_to(user))
