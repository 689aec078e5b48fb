"""WebSocket connections of the API Gateway WebSocket API (docs/api.md, "Real-time updates").

A connection is one API client's open WebSocket, known by API Gateway's connection id. It
receives changes of the orders its user created: all of them (``all_orders``, the default
on connecting) or only those it subscribed to (``order_ids``).
"""

from django.conf import settings
from django.db import models


class Connection(models.Model):
    connection_id = models.CharField(max_length=128, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Where PostToConnection reaches it: https://<domain>/<stage> of the API it connected to.
    endpoint = models.CharField(max_length=512)
    all_orders = models.BooleanField(default=True)
    order_ids = models.JSONField(default=list, blank=True)
    connected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user"], name="realtime_connection_user")]

    def __str__(self) -> str:
        return self.connection_id
