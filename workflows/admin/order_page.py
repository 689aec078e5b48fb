"""What workflows adds to the order's console page (``orders.pages``): the workflow panel
(the order's latest execution, refreshed from Step Functions while it runs, linked to
its page with the graph, the earlier ones (restarts) linked too, and its approvals with their
decision buttons) and, in the timeline, its steps and approvals.

Registered here, with the console's pages: the order page is one of them, so these are in
place before it is first served, and an API cold start loads none of it.
"""

import logging
from uuid import UUID

from orders.pages import OrderPanel, register_panel, register_timeline_source
from workflows import selectors
from workflows.executions import execution_refresh
from workflows.models import Approval, Execution

logger = logging.getLogger(__name__)


def workflow_panel(order_id: UUID) -> OrderPanel:
    """The order's latest execution (described again while it runs: its status and current
    state are live), up to ten earlier ones, and its approvals, newest first. Two queries,
    and an update after a refresh; a refresh that fails shows what we recorded, with the
    error's name."""
    executions = list(Execution.objects.filter(order_id=order_id).order_by("-created_at", "-id")[:11])
    execution, earlier = (executions[0], executions[1:]) if executions else (None, [])
    live_error = ""
    if execution is not None and execution.is_open and execution.arn:
        try:
            execution = execution_refresh(execution=execution)
        except Exception as exc:  # the page still shows what we know
            logger.warning("could not refresh %s: %s", execution.name, exc)
            live_error = type(exc).__name__
    approvals = (
        Approval.objects.filter(order_id=order_id).select_related("decided_by", "order").order_by("-requested_at")
    )
    return OrderPanel(
        template="admin/workflows/order/_workflow_panel.html",
        context={
            "order_id": order_id,
            "execution": execution,
            "earlier": earlier,
            "approvals": list(approvals),
            "live_error": live_error,
        },
    )


def workflow_timeline(order_id: UUID) -> list:
    return selectors.order_workflow_timeline(order_id=order_id)


register_panel(key="workflow", panel=workflow_panel)
register_timeline_source(key="workflow", source=workflow_timeline)
