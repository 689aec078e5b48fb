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
