"""What both ways of creating a chunk's orders share (``bulk_postgres``, ``bulk_generic``):
the rules they apply, how a problem is worded, and what every order of an import gets.

* a row failing a cell check is rejected with its line, column and reason;
* a row whose line total (quantity x price) is above ``orders.models.ORDER_TOTAL_MAX`` is
  rejected (``Order.total`` could not hold it);
* a row repeating another row of the same order exactly is rejected as a duplicate;
* a row that cannot be split into the header's fields is rejected, and counts against
  the order named in its ``order_reference`` position, when it has one;
* an order with any rejected row (a duplicate included), whose rows name different
  customers, or whose total is above the largest order total, is not imported, and its
  other rows are reported as such: no order is imported half;
* an order whose external reference was imported before is not imported again.
"""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from orders.imports import format as fmt
from orders.imports.models import Import
from orders.lifecycle import OrderStatus
from orders.models import ORDER_TOTAL_MAX

PREVIEW_ROWS = 20


@dataclass
class ChunkResult:
    rows: int = 0
    rows_ok: int = 0
    rows_rejected: int = 0
    orders_ok: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class OrderDefaults:
    """What every order of an import gets besides its CSV values."""

    status: str
    created_by_id: int | None
    actor_name: str
    correlation_id: str
    causation_id: str


def order_defaults(import_run: Import) -> OrderDefaults:
    if import_run.mode == Import.Mode.HISTORY:
        status = settings.CSV_IMPORT_HISTORY_STATUS
        if status not in OrderStatus.values:
            raise ValueError(f"CSV_IMPORT_HISTORY_STATUS={status!r} is not an order status")
    else:
        status = OrderStatus.CREATED
    creator = import_run.created_by
    return OrderDefaults(
        status=status,
        created_by_id=import_run.created_by_id,
        actor_name=creator.get_username() if creator else "",
        correlation_id=import_run.correlation_id or f"import-{import_run.pk}",
        causation_id=str(import_run.pk),
    )


def reason_text(code: int, detail: str = "") -> tuple[str, str]:
    """(column, reason) of a problem code; ``detail`` completes cross-row reasons."""
    check = fmt.CHECKS_BY_CODE.get(code)
    if check is not None:
        return check.column, f"{check.column} {check.reason}"
    if code in (fmt.LINE_TOTAL_TOO_LARGE, fmt.ORDER_TOTAL_TOO_LARGE):
        if code == fmt.LINE_TOTAL_TOO_LARGE:
            return fmt.PRICE, f"quantity x price is {detail}, more than an order may total ({ORDER_TOTAL_MAX})"
        return "", f"not imported: the order's total {detail} is more than an order may total ({ORDER_TOTAL_MAX})"
    return {
        fmt.DUPLICATE_ROW: ("", f"duplicate: repeats line {detail} of the same order"),
        fmt.CUSTOMER_CONFLICT: (fmt.USER, f"the rows of this order name different customers ({detail})"),
        fmt.ORDER_HAS_REJECTED_ROW: ("", f"not imported: line {detail} of the same order was rejected"),
        fmt.ALREADY_IMPORTED: (fmt.REFERENCE, f"order already imported ({detail})"),
    }.get(code, ("", detail))


def structural_reference(cells: list[str] | None, position: int) -> str:
    """The order a record that could not be split into the header's fields names in its
    ``order_reference`` position ("" when it has no cell there): its order is then not
    imported either. A record with a field too many or too few most often still starts
    with its reference; when it does not, the name found matches no order, or another
    order than intended, which is then reported, never imported half."""
    if not cells or position >= len(cells):
        return ""
    return cells[position].strip(" \t")
