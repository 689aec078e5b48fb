"""Console pages of the workflow app: the approvals inbox and its decision pages
(``approvals``, made of ``columns``, ``decisions``, ``claims`` and ``bulk``), the
executions (``executions``), and what workflows adds to the order page (``order_page``).

Every state change is a POST with CSRF, permission-checked here and in the services:
decide (``workflows.decide_approval``): approve, reject, claim, release, assign, bulk approve;
``workflows.assign_approval``: take a colleague's claim away; ``workflows.restart_execution``:
restart a failed execution. Links from approval emails only show a confirmation page.
"""

from workflows.admin import approvals, executions, order_page  # noqa: F401 (they register the pages)
