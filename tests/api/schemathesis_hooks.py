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
