from decimal import Decimal

import factory

from orders.models import Order, OrderItem


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


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    product_id = "p1"
    name = "Widget"
    quantity = 1
    price = Decimal("10.00")
