from decimal import Decimal

import factory

from orders.models import Order, OrderEvent, OrderItem


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order
        skip_postgeneration_save = True

    user_id = factory.Sequence(lambda n: f"customer-{n}")
    total = Decimal("0")

    @factory.post_generation
    def items(order, create, extracted, **kwargs):
        specs = (
            extracted
            if extracted is not None
            else [{"product_id": "p1", "name": "Widget", "quantity": 2, "price": Decimal("10.00")}]
        )
        for spec in specs:
            OrderItemFactory(order=order, **spec)
        order.total = sum((Decimal(str(s["price"])) * s["quantity"] for s in specs), Decimal("0"))
        if create:
            order.save(update_fields=["total"])

    @factory.post_generation
    def history(order, create, extracted, **kwargs):
        """The order's event history, as the services would have written it: an
        ``OrderCreated`` (version 1, in the order's status) and, for an order made at a
        later version, status events up to it. ``history=False`` makes an order without
        any (as rows written before the history existed)."""
        if not create or extracted is False:
            return
        items = list(order.items.all())
        OrderEvent.objects.create(
            order=order,
            version=1,
            event_type="OrderCreated",
            data={
                "status": order.status,
                "reason": order.status_reason,
                "userId": order.user_id,
                "total": str(order.total),
                "items": [
                    {"productId": i.product_id, "name": i.name, "quantity": i.quantity, "price": str(i.price)}
                    for i in items
                ],
            },
            correlation_id=str(order.pk),
        )
        for version in range(2, order.version + 1):
            OrderEvent.objects.create(
                order=order,
                version=version,
                event_type="OrderStatusChanged",
                data={"status": order.status, "previousStatus": order.status, "reason": order.status_reason},
                correlation_id=str(order.pk),
            )


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    product_id = "p1"
    name = "Widget"
    quantity = 1
    price = Decimal("10.00")
