"""The orders app's home page panels (``console.pages.dashboard`` finds this module): the
imports' panel."""

from orders.imports import dashboard  # noqa: F401
