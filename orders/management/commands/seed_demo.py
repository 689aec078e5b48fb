import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from console.models import AuditEntry
from console.platform import roles
from orders.lifecycle import OrderStatus
from orders.models import StockLevel
from orders.services import order_cancel, order_create, order_transition

DEMO_USERS = [
    ("admin", roles.ADMIN, True),
    ("operator", roles.OPERATOR, False),
    ("support", roles.SUPPORT, False),
]

LIVE_ORDERS = [
    ("customer-ana", [{"product_id": "sku-widget", "name": "Widget", "quantity": 2, "price": 1000}]),
    (
        "customer-ben",
        [
            {"product_id": "sku-gadget", "name": "Gadget", "quantity": 1, "price": 249.90},
            {"product_id": "sku-cable", "name": "USB-C cable", "quantity": 3, "price": 9.99},
        ],
    ),
    ("customer-caro", [{"product_id": "sku-limited", "name": "Limited print", "quantity": 1, "price": 480}]),
    # Above the four-eyes limit (APPROVAL_FOUR_EYES_ABOVE): two operators must approve it.
    ("customer-hal", [{"product_id": "sku-rack", "name": "Server rack", "quantity": 1, "price": 7500}]),
    # Over the validation limit: the workflow fails it at ValidateOrder.
    ("customer-dan", [{"product_id": "sku-yacht", "name": "Yacht", "quantity": 1, "price": 2500000}]),
]

HISTORY = [
    (
        "customer-eve",
        [{"product_id": "sku-widget", "name": "Widget", "quantity": 1, "price": 1000}],
        OrderStatus.DELIVERED,
    ),
    (
        "customer-fay",
        [{"product_id": "sku-gadget", "name": "Gadget", "quantity": 2, "price": 249.90}],
        OrderStatus.CANCELLED,
    ),
    (
        "customer-gus",
        [{"product_id": "sku-cable", "name": "USB-C cable", "quantity": 10, "price": 9.99}],
        OrderStatus.REJECTED,
    ),
]

PATH_TO = {
    OrderStatus.DELIVERED: [
        OrderStatus.VALIDATED,
        OrderStatus.AWAITING_APPROVAL,
        OrderStatus.APPROVED,
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
        OrderStatus.DELIVERED,
    ],
    OrderStatus.REJECTED: [OrderStatus.VALIDATED, OrderStatus.AWAITING_APPROVAL, OrderStatus.REJECTED],
}


class Command(BaseCommand):
    help = "Create demo users (printing their passwords) and orders in several states."

    def handle(self, *args, **options):
        User = get_user_model()
        for username, role, superuser in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
            user.is_staff = True
            user.is_superuser = superuser
            # Approval emails (with their links) go to approvers with an address.
            user.email = user.email or f"{username}@example.com"
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=role))
            self.stdout.write(f"  {username:<9} password: {password}   ({role})")

        StockLevel.objects.update_or_create(product_id="sku-limited", defaults={"available": 5})
        with transaction.atomic():
            for user_id, items in LIVE_ORDERS:
                order_create(user_id=user_id, items=items, source=AuditEntry.Source.SYSTEM)
            for user_id, items, final in HISTORY:
                order = order_create(
                    user_id=user_id, items=items, source=AuditEntry.Source.SYSTEM, start_workflow=False
                )
                if final == OrderStatus.CANCELLED:
                    order_cancel(
                        order_id=order.pk,
                        actor=None,
                        reason="Customer changed their mind",
                        source=AuditEntry.Source.SYSTEM,
                    )
                    continue
                for status in PATH_TO[final]:
                    reason = "Demo history: duplicate order" if status == OrderStatus.REJECTED else ""
                    order_transition(order_id=order.pk, to_status=status, reason=reason)
        self.stdout.write(f"  {len(LIVE_ORDERS)} orders entering the workflow, {len(HISTORY)} finished ones")
