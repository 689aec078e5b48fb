"""One definition: every DLQ of the template has a depth alarm and an archive route in
zappa_settings.json for every stage, and the alarm events reach their recorder."""

import pytest

from console.devtools.local_consumer import schedules, sqs_routes
from console.runtime.stage import zappa_stage_settings
from infra.deploy import load_template


def _dead_letter_queues() -> dict[str, str]:
    resources = load_template()["Resources"]
    targets = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in resources.values()
        if queue["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in queue["Properties"]
    }
    targets.add("AsyncDeadLetterQueue")  # Lambda's dead-letter target (Zappa's dead_letter_arn)
    return {
        logical_id: resources[logical_id]["Properties"]["QueueName"]["Fn::Sub"]
        .split("}-", 1)[1]
        .replace("${Stage}-", "")
        for logical_id in targets
    }


def test_every_dead_letter_queue_has_a_depth_alarm():
    resources = load_template()["Resources"]
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm" and alarm["Properties"]["MetricName"] == "DeadLetterDepth"
    }
    assert watched == set(_dead_letter_queues())


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_dead_letter_queue_is_archived_and_alarm_events_are_recorded(stage):
    routes = {route.queue_name: route.function for route in sqs_routes(stage)}
    for suffix in _dead_letter_queues().values():
        assert routes.get(f"ops-console-{stage}-{suffix}") == "ops.handlers.dead_letters_archive", suffix
    assert routes[f"ops-console-{stage}-alarm-events"] == "ops.handlers.alarm_state_changes"
    assert any(s.function == "ops.handlers.refresh" and s.seconds == 60 for s in schedules(stage))
    assert zappa_stage_settings(stage)["dead_letter_arn"].endswith(f":ops-console-{stage}-async-dlq")


def test_the_seed_alarms_watch_the_function_named_by_a_parameter():
    template = load_template()
    assert "FunctionName" in template["Parameters"]
    for logical_id in ("LambdaErrorsAlarm", "LambdaThrottlesAlarm", "LambdaConcurrencyAlarm"):
        dimensions = template["Resources"][logical_id]["Properties"]["Dimensions"]
        assert dimensions == [{"Name": "FunctionName", "Value": {"Ref": "FunctionName"}}]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_sweep_alarm_goes_off_well_before_waiting_approvals_miss_a_heartbeat(stage, settings):
    alarm = load_template()["Resources"]["WorkflowSweepAlarm"]["Properties"]
    # It watches what the sweep emits: OpsConsole/WorkflowSweeps, dimension service=<prefix>-<stage>.
    assert (alarm["Namespace"], alarm["MetricName"]) == (settings.METRICS_NAMESPACE, "WorkflowSweeps")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Fn::Sub": "${Prefix}-${Stage}"}}]
    # No sweep at all (no data) must count as a sweep that stopped.
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Statistic"]) == ("LessThanThreshold", 1, "Sum")
    # The sweep runs every minute on every stage, and the alarm fires within half a heartbeat.
    assert any(s.function == "workflows.handlers.sweep_workflows" and s.seconds == 60 for s in schedules(stage))
    silence = alarm["Period"] * alarm["DatapointsToAlarm"]
    assert alarm["Period"] >= 60 and silence <= settings.WORKFLOW_APPROVAL_HEARTBEAT_SECONDS / 2
