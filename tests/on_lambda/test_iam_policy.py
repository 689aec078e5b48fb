"""The function's role grants what the function uses, and only that.

The role and its policies come from infra/template.yaml as the local deploy made them
(CloudFormation resolved every reference); both functions of the stage (the API function
and the worker function) run as it. Statements whose Sid starts with "Lambda" are what AWS
does for the functions and are checked against zappa_settings.json; the others
against the AWS calls our code made during this test run, recorded in every process
(tests/aws_calls). These tests run last (see conftest).

When a check fails, its message says what to add to or remove from the template.
"""

import fnmatch
import json

import pytest

from infra.deploy import LOCAL_MAIL_FROM_ADDRESS, load_template, mail_domain
from tests.on_lambda.conftest import AWS_CALL_LOG, FULL_SUITE, zappa_cli

ROLE = "ops-console-dev-function"
FUNCTION = "ops-console-dev"
FUNCTIONS = {"dev": FUNCTION, "dev-worker": f"{FUNCTION}-worker"}
ACCOUNT, REGION = "123456789012", "us-east-1"
# The local deploy's mail identity (MailIdentity): the stage's, though its name is a domain.
MAIL_IDENTITY = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{mail_domain(LOCAL_MAIL_FROM_ADDRESS)}"
EVENT_SOURCE_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def statements(local_aws) -> list[dict]:
    from console.aws import clients as aws

    iam = aws.client("iam")
    found = []
    for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        found += [{**statement, "Policy": name} for statement in document["Statement"]]
    assert found, f"the role {ROLE} has no policies"
    return found


def recorded(kind: str) -> list[dict]:
    calls = []
    for log in sorted(AWS_CALL_LOG.glob("*.jsonl")):
        calls += [json.loads(line) for line in log.read_text().splitlines() if line]
    return [call for call in calls if call["kind"] == kind]


def allows(statement: dict, action: str, resource: str) -> bool:
    if statement["Effect"] != "Allow":
        return False
    actions = {a.lower() for a in as_list(statement["Action"])}
    return action.lower() in actions and any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement["Resource"]))


def of_the_stage(resource: str) -> bool:
    """Whether ``resource`` is one of the stage's (named ops-console-dev-..., or its mail
    identity), or any."""
    return resource == "*" or FUNCTION in resource or resource == MAIL_IDENTITY


def platform(statement: dict) -> bool:
    return statement.get("Sid", "").startswith("Lambda")


def test_no_statement_grants_a_wildcard_action():
    template = load_template()["Resources"]
    policies = [
        (logical_id, resource["Properties"]["PolicyDocument"])
        for logical_id, resource in template.items()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": "FunctionRole"} in resource["Properties"]["Roles"]
    ]
    assert policies
    for logical_id, document in policies:
        for statement in document["Statement"]:
            assert statement.get("Sid"), f"{logical_id}: every statement has a Sid saying what it is for"
            assert "NotAction" not in statement and "NotResource" not in statement, logical_id
            for action in as_list(statement["Action"]):
                assert "*" not in action and "?" not in action, f"{logical_id}/{statement['Sid']}: wildcard {action}"


def test_every_aws_call_our_code_made_is_allowed(statements, request):
    calls = recorded("app")
    if not calls and not request.config.stash.get(FULL_SUITE, False):
        pytest.skip("no test of this run made an AWS call of ours")
    assert calls, "no AWS call of ours was recorded: is tests/aws_calls on PYTHONPATH?"
    denied = sorted(
        {
            f"{call['action']} on {resource} (from {call['caller']})"
            for call in calls
            if not call.get("stubbed")
            for resource in call["resources"]
            if of_the_stage(resource)
            and not any(allows(statement, call["action"], resource) for statement in statements)
        }
    )
    # A call botocore's Stubber answered, or one on a resource a test made up (a state
    # machine of its own), shows the action the code uses: it must be granted, on the
    # stage's resources.
    granted_actions = {a.lower() for s in statements if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    denied += sorted(
        {
            f"{call['action']} (from {call['caller']}, on a resource a test made up)"
            for call in calls
            if (call.get("stubbed") or not all(map(of_the_stage, call["resources"])))
            and call["action"].lower() not in granted_actions
        }
    )
    assert not denied, "infra/template.yaml must allow (in the policy of the area making the call):\n" + "\n".join(
        denied
    )


def test_every_action_granted_to_our_code_was_used(statements, request):
    if not request.config.stash.get(FULL_SUITE, False):
        pytest.skip("only a run of the whole suite makes every call the code makes")
    used = {call["action"].lower() for call in recorded("app")}
    unused = sorted(
        f"{statement['Policy']}/{statement['Sid']}: {action}"
        for statement in statements
        if not platform(statement)
        for action in as_list(statement["Action"])
        if action.lower() not in used
    )
    assert not unused, "granted but never called by our code (remove, or test the code that calls it):\n" + "\n".join(
        unused
    )


def test_what_lambda_does_for_the_functions_matches_their_settings(statements):
    configs = {zappa_stage: zappa_cli(zappa_stage).stage_config for zappa_stage in FUNCTIONS}
    queues = {
        event["event_source"]["arn"]
        for config in configs.values()
        for event in config["events"]
        if event.get("event_source", {}).get("arn", "").startswith("arn:aws:sqs:")
    }
    mapping_statements = [s for s in statements if platform(s) and set(as_list(s["Action"])) & EVENT_SOURCE_ACTIONS]
    assert mapping_statements, "no statement lets Lambda's event source mappings read the queues"
    for statement in mapping_statements:
        assert set(as_list(statement["Action"])) == EVENT_SOURCE_ACTIONS, statement["Sid"]
    granted = {arn for s in mapping_statements for arn in as_list(s["Resource"])}
    assert granted == queues, (
        f"event source queues in zappa_settings.json: {sorted(queues)}; "
        f"readable by the role (Lambda* statements): {sorted(granted)}"
    )

    def platform_resources(action: str) -> set[str]:
        granting = [s for s in statements if platform(s) and action in as_list(s["Action"])]
        return {arn for s in granting for arn in as_list(s["Resource"])}

    assert platform_resources("sqs:SendMessage") == {config["dead_letter_arn"] for config in configs.values()}
    assert platform_resources("lambda:InvokeFunction") == {
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" for name in FUNCTIONS.values()
    }
    assert platform_resources("logs:PutLogEvents") == {
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:*" for name in FUNCTIONS.values()
    }
    for config in configs.values():
        assert config["role_name"] == ROLE and config["manage_roles"] is False
