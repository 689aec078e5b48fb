"""The one definition of the stage's resources, and what the local deploy made of it."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.deploy import TEMPLATE, deploy, load_template, state_machine_definition

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
    from console.aws import clients as aws
    from console.aws import resources

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
    # The saga's compensation order: payment is refunded before the inventory is released.
    assert saga["States"]["ConfirmOrder"]["Catch"][0]["Next"] == "RollbackPayment"
    assert saga["States"]["RollbackPayment"]["Next"] == "RollbackInventory"
    assert saga["States"]["ProcessPayment"]["Catch"][0]["Next"] == "RollbackInventory"


def test_the_approval_task_heartbeats_from_the_execution_input():
    approval = definitions()["OrderProcessingStateMachine"]["States"]["RequestApproval"]
    assert approval["HeartbeatSecondsPath"] == "$.policy.approvalHeartbeatSeconds"
    assert approval["Parameters"]["MessageBody"]["heartbeatSeconds.$"] == "$.policy.approvalHeartbeatSeconds"


# --- Alerting: every work queue, state machine and the API watched; who hears it ------------


def _alarms(resources: dict) -> list[dict]:
    return [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]


def _dead_letter_queues(resources: dict) -> set[str]:
    """Queues some redrive policy dead-letters into, and Lambda's (named as they all are)."""
    targets = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in resources.values()
        if queue["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in queue["Properties"]
    }
    return targets | {logical_id for logical_id in resources if logical_id.endswith("DeadLetterQueue")}


def test_every_alarm_notifies_the_alert_topic_under_the_stages_name_and_says_what_to_look_at():
    for alarm in _alarms(load_template()["Resources"]):
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${Prefix}-${Stage}-"), alarm["AlarmName"]
        assert {"Ref": "AlertTopic"} in alarm["AlarmActions"], alarm["AlarmName"]
        assert len(alarm["AlarmDescription"]) > 20, alarm["AlarmName"]


def test_every_work_queue_has_an_age_alarm_and_callback_queues_are_held_to_minutes():
    resources = load_template()["Resources"]
    work_queues = {
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::SQS::Queue" and logical_id not in _dead_letter_queues(resources)
    }
    assert {"StepsQueue", "ApprovalsQueue", "JobsQueue", "SagaQueue", "FilesEventsQueue"} <= work_queues
    ages = {
        alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: alarm
        for alarm in _alarms(resources)
        if (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    }
    assert set(ages) == work_queues
    for logical_id, alarm in ages.items():
        assert alarm["Dimensions"][0]["Name"] == "QueueName", logical_id
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Statistic"] == "Maximum"
        assert {"Ref": "AlertTopic"} in alarm["OKActions"], f"{logical_id}: a drained backlog says so"
    # Callback queues are drained by the function within seconds; the jobs queue runs long jobs.
    for logical_id in ("StepsQueue", "ApprovalsQueue", "SagaQueue"):
        assert ages[logical_id]["Threshold"] <= 600, logical_id
    assert ages["JobsQueue"]["Threshold"] >= 900 + 900  # longer than a job the worker may run (15 min)


def test_every_state_machine_has_failed_timed_out_and_throttled_alarms():
    resources = load_template()["Resources"]
    machines = {k for k, v in resources.items() if v["Type"] == "AWS::StepFunctions::StateMachine"}
    assert machines == {"OrderProcessingStateMachine", "OrderSagaStateMachine"}
    watched: dict[str, set[str]] = {machine: set() for machine in machines}
    for alarm in _alarms(resources):
        if alarm["Namespace"] == "AWS/States":
            (dimension,) = alarm["Dimensions"]
            assert dimension["Name"] == "StateMachineArn"
            watched[dimension["Value"]["Ref"]].add(alarm["MetricName"])
    for machine, metrics in watched.items():
        assert metrics == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled"}, machine


def test_the_api_alarms_watch_zappas_rest_api_and_latency_stays_under_api_gateways_limit():
    template = load_template()
    resources = template["Resources"]
    api = {a["MetricName"]: a for a in _alarms(resources) if a["Namespace"] == "AWS/ApiGateway"}
    assert set(api) == {"5XXError", "Latency"}
    for alarm in api.values():
        # Zappa names the REST API after the function, and its stage after the Zappa stage.
        assert alarm["Dimensions"] == [
            {"Name": "ApiName", "Value": {"Ref": "FunctionName"}},
            {"Name": "Stage", "Value": {"Ref": "Stage"}},
        ]
    assert api["5XXError"]["Statistic"] == "Sum"
    latency = api["Latency"]
    assert latency["ExtendedStatistic"] == "p99" and "Statistic" not in latency
    parameter = template["Parameters"][latency["Threshold"]["Ref"]]
    assert parameter["Default"] < parameter["MaxValue"] < 30000


def test_the_outbox_alarm_watches_what_ops_refresh_publishes():
    (alarm,) = [a for a in _alarms(load_template()["Resources"]) if a["MetricName"] == "OutboxOldestEventAge"]
    assert alarm["Namespace"] == "OpsConsole" and alarm["TreatMissingData"] == "ignore"
    # The same dimension style as DeadLetterDepth: the resource, by name (here the topic the outbox feeds).
    assert alarm["Dimensions"] == [{"Name": "TopicName", "Value": {"Fn::GetAtt": ["OrderEventsTopic", "TopicName"]}}]
    assert alarm["Period"] * alarm["DatapointsToAlarm"] == 180


def test_an_alert_email_subscription_exists_only_when_the_parameter_is_given():
    template = load_template()
    assert template["Parameters"]["AlertEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    (subscription,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SNS::Subscription" and resource["Properties"]["TopicArn"] == {"Ref": "AlertTopic"}
    ]
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}


def test_conditions_are_evaluated_over_the_parameters():
    from infra.deploy import Resolver, evaluate_conditions

    resolver = Resolver(None, {"AlertEmail": "", "Stage": "prod", "InVpc": "true"}, {}, {}, "stack")
    conditions = evaluate_conditions(
        {
            "HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]},
            "Production": {"Fn::Equals": [{"Fn::Sub": "${Stage}"}, "prod"]},
            "InVpc": {"Fn::Equals": [{"Ref": "InVpc"}, True]},
            "ProductionInVpc": {"Fn::And": [{"Condition": "Production"}, {"Condition": "InVpc"}]},
            "Loud": {"Fn::Or": [{"Condition": "HasAlertEmail"}, {"Fn::Not": [{"Condition": "Production"}]}]},
        },
        resolver,
    )
    assert conditions == {
        "HasAlertEmail": False,
        "Production": True,
        "InVpc": True,
        "ProductionInVpc": True,
        "Loud": False,
    }
    with pytest.raises(ValueError, match="depends on itself"):
        evaluate_conditions({"A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Condition": "A"}}, resolver)
    with pytest.raises(NotImplementedError):
        evaluate_conditions({"A": {"Fn::If": ["B", "x", "y"]}}, resolver)


@pytest.mark.stack
def test_the_local_deploy_subscribes_the_alert_email_only_when_given(local_aws):
    from console.aws import clients as aws

    sns = aws.client("sns")
    # The session's stage was deployed without one: the alarms notify nobody.
    assert sns.list_subscriptions_by_topic(TopicArn=local_aws.outputs["AlertTopicArn"])["Subscriptions"] == []

    outputs = deploy(endpoint_url=local_aws.endpoint, stage="alerting", alert_email="on-call@example.com")

    subscriptions = sns.list_subscriptions_by_topic(TopicArn=outputs["AlertTopicArn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "on-call@example.com")]
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNamePrefix="ops-console-alerting-")["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} >= {"ops-console-alerting-outbox-age", "ops-console-alerting-api-5xx"}


@pytest.mark.stack
def test_resources_whose_condition_is_false_are_left_out_of_the_stack_and_of_what_is_applied(local_aws, tmp_path):
    from console.aws import clients as aws

    template = {
        "Parameters": {
            "Prefix": {"Type": "String"},
            "Stage": {"Type": "String"},
            "ApiUrl": {"Type": "String", "Default": ""},
            "AlertEmail": {"Type": "String", "Default": ""},
        },
        "Conditions": {"HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}},
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Sub": "${Prefix}-${Stage}-t"}}},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Condition": "HasAlertEmail",
                "Properties": {"QueueName": {"Fn::Sub": "${Prefix}-${Stage}-q"}},
            },
            "Subscription": {
                "Type": "AWS::SNS::Subscription",
                "Condition": "HasAlertEmail",
                "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": {"Ref": "AlertEmail"}},
            },
        },
        "Outputs": {
            "TopicArn": {"Value": {"Ref": "Topic"}},
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "Email": {"Condition": "HasAlertEmail", "Value": {"Ref": "AlertEmail"}},
        },
    }
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps(template))
    sqs, sns = aws.client("sqs"), aws.client("sns")

    without = deploy(endpoint_url=local_aws.endpoint, prefix="cond", stage="off", template_path=path)
    assert set(without) == {"TopicArn"}
    assert not sqs.list_queues(QueueNamePrefix="cond-off-").get("QueueUrls")
    assert sns.list_subscriptions_by_topic(TopicArn=without["TopicArn"])["Subscriptions"] == []

    given = deploy(
        endpoint_url=local_aws.endpoint, prefix="cond", stage="on", alert_email="a@example.com", template_path=path
    )
    assert given["Email"] == "a@example.com" and given["QueueUrl"].endswith("/cond-on-q")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=given["TopicArn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "a@example.com")]


def test_deploy_infra_passes_the_alert_email_setting(settings, monkeypatch):
    from django.core.management import call_command

    import infra.deploy

    calls = []
    monkeypatch.setattr(infra.deploy, "deploy", lambda **kwargs: calls.append(kwargs) or {})
    settings.ALERT_EMAIL = "ops@example.com"
    settings.DEFAULT_FROM_EMAIL = "Ops Console <console@ops.example.com>"
    call_command("deploy_infra")
    call_command("deploy_infra", "--alert-email", "")
    assert [call["alert_email"] for call in calls] == ["ops@example.com", ""]
    # The stage's identity and the one address its role may send from.
    assert {call["mail_from_address"] for call in calls} == {"Ops Console <console@ops.example.com>"}


def test_the_functions_may_send_mail_only_as_the_stages_identity_and_address():
    template = load_template()
    parameters = template["Parameters"]
    # No default: a stage on AWS names its own identity and sender.
    assert "Default" not in parameters["MailIdentity"] and "Default" not in parameters["MailFromAddress"]
    identity = template["Resources"]["MailSendingIdentity"]
    assert identity["Type"] == "AWS::SES::EmailIdentity" and identity["Condition"] == "CreateMailIdentity"
    assert identity["Properties"] == {"EmailIdentity": {"Ref": "MailIdentity"}}
    policy = template["Resources"]["FunctionMailPolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "FunctionRole"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "ses:SendEmail"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${MailIdentity}"
    }
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "MailFromAddress"}}}


def test_the_local_deploy_verifies_the_mail_identity_and_scopes_the_role_to_it(local_aws):
    from console.aws import clients as aws

    ses = aws.client("sesv2")
    deploy(endpoint_url=local_aws.endpoint, stage="mailer", mail_from_address="Ops <ops@mail.example.org>")
    assert ses.get_email_identity(EmailIdentity="mail.example.org")["IdentityType"] == "DOMAIN"
    iam = aws.client("iam")
    document = iam.get_role_policy(RoleName="ops-console-mailer-function", PolicyName="mail")["PolicyDocument"]
    [statement] = (json.loads(document) if isinstance(document, str) else document)["Statement"]
    assert statement["Resource"] == "arn:aws:ses:us-east-1:123456789012:identity/mail.example.org"
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": "ops@mail.example.org"}}


def test_the_websocket_api_calls_the_api_function_through_the_alias_the_rest_api_calls():
    from zappa.core import SNAPSTART_LAMBDA_ALIAS

    from infra.deploy import SNAPSTART_ALIAS, api_function_qualifier

    resources = load_template()["Resources"]
    uri = resources["WebSocketIntegration"]["Properties"]["IntegrationUri"]["Fn::Sub"]
    assert ":function:${FunctionName}${FunctionQualifier}/invocations" in uri
    permission = resources["WebSocketInvokePermission"]["Properties"]["FunctionName"]
    assert permission == {"Fn::Sub": "${FunctionName}${FunctionQualifier}"}
    # SnapStart's alias on prod (zappa_settings.json), $LATEST where there is none.
    assert SNAPSTART_ALIAS == SNAPSTART_LAMBDA_ALIAS
    assert api_function_qualifier("prod") == ":snapstart"
    assert api_function_qualifier("dev") == "" and api_function_qualifier("no-such-stage") == ""
