"""The one definition of the stage's resources, and what the local deploy made of it."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.deploy import TEMPLATE, load_template, state_machine_definition

ROOT = Path(__file__).resolve().parents[2]


def definitions() -> dict[str, dict]:
    template = load_template()
    return {
        logical_id: json.loads(state_machine_definition(resource["Properties"], TEMPLATE.parent))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }


def callback_tasks(states: dict) -> list[tuple[str, dict]]:
    found = []
    for name, state in states.items():
        if state["Type"] == "Task" and state["Resource"].endswith(".waitForTaskToken"):
            found.append((name, state))
        for branch in state.get("Branches", []):
            found.extend(callback_tasks(branch["States"]))
        if "ItemProcessor" in state:
            found.extend(callback_tasks(state["ItemProcessor"]["States"]))
    return found


def test_cfn_lint_accepts_the_template():
    cfn_lint = shutil.which("cfn-lint") or str(Path(__file__).resolve().parents[2] / ".venv/bin/cfn-lint")
    result = subprocess.run([cfn_lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_callback_task_has_a_timeout():
    tasks = [task for states in definitions().values() for task in callback_tasks(states["States"])]
    assert tasks
    for name, state in tasks:
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, f"{name} could wait forever"


def test_every_workflow_queue_has_a_dead_letter_queue():
    resources = load_template()["Resources"]
    queues = {k: v for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    for logical_id, queue in queues.items():
        if logical_id.endswith("DeadLetterQueue"):
            continue
        target = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert resources[target]["Type"] == "AWS::SQS::Queue"


def test_every_step_the_workflow_sends_has_a_handler():
    from workflows.steps import STEPS

    (order_processing,) = [d for k, d in definitions().items() if k == "OrderProcessingStateMachine"]
    sent = {state["Parameters"]["MessageBody"]["step"] for _, state in callback_tasks(order_processing["States"])}
    assert sent - {"RequestApproval"} == set(STEPS)


@pytest.mark.stack
def test_the_local_deploy_creates_queues_with_redrive_and_the_state_machine(local_aws):
    from console import aws, resources

    sqs = aws.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_url(resources.STEPS_QUEUE), AttributeNames=["All"])[
        "Attributes"
    ]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith("ops-console-dev-steps-dlq") and policy["maxReceiveCount"] == 5
    arn = resources.state_machine_arn()
    definition = json.loads(aws.client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"])
    queue_url = definition["States"]["ValidateOrder"]["Parameters"]["QueueUrl"]
    assert queue_url.endswith("/ops-console-dev-steps")  # substitutions applied
    assert local_aws.outputs["OrderProcessingStateMachineArn"] == arn


def test_every_step_the_saga_sends_has_a_handler_and_compensations_are_callback_tasks():
    from workflows.saga import SAGA_STEPS

    saga = definitions()["OrderSagaStateMachine"]
    sent = {state["Parameters"]["MessageBody"]["step"] for _, state in callback_tasks(saga["States"])}
    assert sent == set(SAGA_STEPS)
    # The seed's compensation order: payment is refunded before the inventory is released.
    assert saga["States"]["ConfirmOrder"]["Catch"][0]["Next"] == "RollbackPayment"
    assert saga["States"]["RollbackPayment"]["Next"] == "RollbackInventory"
    assert saga["States"]["ProcessPayment"]["Catch"][0]["Next"] == "RollbackInventory"


def test_the_approval_task_heartbeats_from_the_execution_input():
    approval = definitions()["OrderProcessingStateMachine"]["States"]["RequestApproval"]
    assert approval["HeartbeatSecondsPath"] == "$.policy.approvalHeartbeatSeconds"
    assert approval["Parameters"]["MessageBody"]["heartbeatSeconds.$"] == "$.policy.approvalHeartbeatSeconds"
