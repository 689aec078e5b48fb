"""What orders tell the apps built on them. Orders never imports those apps: they connect
their receivers in their ``AppConfig.ready`` (workflows starts and ends order workflows).

* ``orders_submitted(order_ids=[...])``: sent after the orders' commit, for orders that
  should now be processed (an order made through the API or the console, or a batch of an
  import's orders handed on at the import's pace). Receivers must not fail the sender: an
  order whose processing could not be asked for is found later by the receiver's own sweep.
* ``order_cancelled(order=..., actor=..., reason=...)``: sent inside the cancel's
  transaction; a receiver that raises rolls the cancel back.
"""

from django.dispatch import Signal

orders_submitted = Signal()
order_cancelled = Signal()
