"""Restarting an execution when RedriveExecution fails (the saga's: order processing
resumes at its failed step instead, tests/workflows/test_stop_and_resume.py). Only the local
engine answers an operation it lacks with a bare HTTP 500 (code "500"), so only there does
that answer mean "start a new execution". On AWS a server error or throttling is a
transient fault: the execution may still be redrivable, so nothing starts, nothing changes
and the operator is told to try again. AWS's answers come from botocore's Stubber."""

import pytest
from botocore.stub import ANY, Stubber
from django.contrib.messages import get_messages
from django.urls import reverse

from console.aws import clients as aws
from console.models import AuditEntry
from tests.conftest import csrf_post
from tests.workflows.test_executions import ARN, MACHINE, NOW, SAGA_DEFINITION, failed_saga_execution, stub_failed
from workflows import sfn
from workflows.models import Execution
from workflows.restarts import execution_restart


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "code", "http_status"),
    [
        (None, "500", 500),  # on AWS a bare 500 is a server error too
        (None, "InternalServerError", 500),
        (None, "ServiceUnavailable", 503),
        (None, "ThrottlingException", 400),
        ("http://127.0.0.1:9", "ServiceUnavailable", 503),  # a named fault, even locally
    ],
)
def test_a_transient_redrive_error_is_reported_and_starts_nothing(settings, support_user, endpoint, code, http_status):
    settings.AWS_ENDPOINT_URL = endpoint
    execution = failed_saga_execution("States.Runtime")
    with Stubber(aws.client("stepfunctions")) as stubber:  # an unexpected StartExecution fails here
        stub_failed(stubber, "States.Runtime", SAGA_DEFINITION)
        stubber.add_client_error(
            "redrive_execution",
            service_error_code=code,
            http_status_code=http_status,
            expected_params={"executionArn": ARN},
        )
        with pytest.raises(sfn.StepFunctionsUnavailable) as raised:
            execution_restart(execution_id=execution.pk, actor=support_user)
        stubber.assert_no_pending_responses()

    assert raised.value.aws_code == code
    assert list(Execution.objects.values_list("name", "status")) == [("saga-x-1", "FAILED")]
    assert not AuditEntry.objects.filter(action__in=["execution.restart", "order.status_change"]).exists()


@pytest.mark.django_db
def test_the_local_engine_without_redrive_gets_a_new_execution(settings, support_user):
    assert settings.AWS_ENDPOINT_URL  # the test settings' local endpoint
    execution = failed_saga_execution("States.Runtime")
    with Stubber(aws.client("stepfunctions")) as stubber:
        stub_failed(stubber, "States.Runtime", SAGA_DEFINITION)
        stubber.add_client_error("redrive_execution", service_error_code="500", http_status_code=500)
        stubber.add_response(
            "start_execution",
            {"executionArn": ARN.replace("saga-x-1", "saga-x-1-restart-1"), "startDate": NOW},
            {"stateMachineArn": MACHINE, "name": "saga-x-1-restart-1", "input": ANY},
        )
        restarted = execution_restart(execution_id=execution.pk, actor=support_user)
        stubber.assert_no_pending_responses()

    assert (restarted.name, restarted.restart_method, restarted.restarted_from) == (
        "saga-x-1-restart-1",
        "new-execution",
        execution,
    )
    assert AuditEntry.objects.get(action="execution.restart").after["method"] == "new-execution"


@pytest.mark.django_db
def test_the_console_tells_the_operator_to_try_again_instead_of_failing(settings, support_user, console_client):
    settings.AWS_ENDPOINT_URL = None
    execution = failed_saga_execution("States.Runtime")
    console_client.force_login(support_user)
    with Stubber(aws.client("stepfunctions")) as stubber:
        stub_failed(stubber, "States.Runtime", SAGA_DEFINITION)
        stubber.add_client_error("redrive_execution", service_error_code="ServiceUnavailable", http_status_code=503)
        response = csrf_post(
            console_client,
            reverse("admin:workflows_execution_changelist"),
            reverse("admin:workflows_execution_restart", args=[execution.pk]),
        )
        stubber.assert_no_pending_responses()

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:workflows_execution_change", args=[execution.pk])
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "saga-x-1 was not restarted: Step Functions answered ServiceUnavailable" in message
    assert "Nothing was changed; try again" in message
    assert Execution.objects.count() == 1
