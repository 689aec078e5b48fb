"""schemathesis hooks for tests/api/test_schemathesis.py (loaded by the ``st`` process
through its config file's ``hooks``).

Each hook keeps the run away from one known answer that is not this run's to judge, and
says why. A hook for a bug names the module that must fix it: delete the hook with the fix.
They are case hooks (``filter_case``, ``map_case``): the coverage phase applies no others.
"""

import schemathesis

# Moto has no message move tasks: StartMessageMoveTask answers 500, which the API rightly
# turns into a 502 (console.api.rest.aws_problem). Mode move_task is tested against AWS's
# documented answers with botocore's Stubber (tests/ops/test_move_tasks.py, test_api.py).


@schemathesis.hook("filter_case").apply_to(operation_id="dlqs_redrive")
def no_move_tasks_on_moto(context, case):
    return not (isinstance(case.body, dict) and case.body.get("mode") == "move_task")


# Pausing one of the stage's own queues (the stack's consumer reads them) would stop its
# consumer for every test after this run. Pause and resume are tested on queues of their
# own in tests/ops/test_queues.py; here they meet every other name (404) and bad bodies.


@schemathesis.hook("filter_case").apply_to(operation_id="queues_pause")
def no_pausing_the_stacks_own_queues(context, case):
    return not str((case.path_parameters or {}).get("name", "")).startswith("ops-console-")


# Webhook endpoints the fuzzer registers must never be delivered to: the stack's consumer
# would spend each attempt's timeout on a made-up host, for every test after this run.
# They are registered disabled (no delivery is made for a disabled endpoint, and replay
# skips them) and kept disabled; the webhook tests enable their own.


@schemathesis.hook("map_case").apply_to(operation_id="webhook_endpoints_create")
def webhook_endpoints_registered_disabled(context, case):
    if isinstance(case.body, dict):
        case.body["enabled"] = False
    return case


@schemathesis.hook("map_case").apply_to(operation_id="webhook_endpoints_update")
def webhook_endpoints_kept_disabled(context, case):
    if isinstance(case.body, dict) and "enabled" in case.body:
        case.body["enabled"] = False
    return case
