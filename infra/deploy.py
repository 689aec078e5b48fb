"""Deploy ``infra/template.yaml`` to an AWS endpoint: the local moto server, or AWS.

    python -m infra.deploy --endpoint-url http://127.0.0.1:5000 [--stage dev]

On AWS the template goes through CloudFormation as it is (after ``aws cloudformation
package``). The local moto server deploys most of it through its CloudFormation too, but
skips or half-applies some resources; those are taken out of the stack and applied here
with plain API calls, from the same template:

* ``AWS::StepFunctions::StateMachine``: moto ignores DefinitionSubstitutions, and a machine
  the stack creates is invisible once state-machine execution is on.
* resource types in ``LOCAL_APPLIERS`` (other modules register theirs, e.g. alarms), and
  resources of ``LOCAL_DEPENDENT_APPLIERS`` types that name one of those (a role's policy);
* properties in ``LOCAL_PROPERTY_APPLIERS`` (a bucket's notification configuration),
  removed from the stack's copy of the resource and applied to the deployed resource.

A resource whose ``Condition`` is false (``Conditions`` evaluated over the parameters with
``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``) is left out of the stack's copy and is
not applied here, as CloudFormation leaves it out on AWS; so are outputs that name it.

The template stays the one definition; nothing here names a resource.
"""

import argparse
import json
import logging
import re
from collections.abc import Callable
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import boto3
import yaml

from console.runtime.stage import zappa_stage_settings

TEMPLATE = Path(__file__).resolve().parent / "template.yaml"
DEFAULT_PREFIX = "ops-console"
# The local stage's mail sender (console.settings' DEFAULT_FROM_EMAIL default) and its
# identity: a domain, as a stage on AWS would have.
LOCAL_MAIL_FROM_ADDRESS = "ops-console@localhost"
# The alias Zappa keeps on a SnapStart function's ready version (zappa.core.SNAPSTART_LAMBDA_ALIAS).
SNAPSTART_ALIAS = "snapstart"

logger = logging.getLogger(__name__)


def infra_stack_name(*, prefix: str = DEFAULT_PREFIX, stage: str = "dev") -> str:
    """The stage's resources stack: ``<prefix>-<stage>-infra``. Zappa names the CloudFormation
    stack of the API function's API Gateway ``<prefix>-<stage>`` (after the function) and
    replaces whatever that stack holds with its own template, so the two must differ."""
    return f"{prefix}-{stage}-infra"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


class Resolver:
    """Evaluates the intrinsic functions the template uses against deployed resources."""

    def __init__(
        self,
        clients: "Clients",
        parameters: dict[str, str],
        physical_ids: dict[str, str],
        resource_types: dict[str, str],
        stack_name: str,
    ):
        self.clients = clients
        self.parameters = parameters
        self.physical_ids = physical_ids
        self.resource_types = resource_types
        self.stack_name = stack_name

    def pseudo(self, name: str) -> str:
        match name:
            case "AWS::AccountId":
                return self.clients.account_id
            case "AWS::Region":
                return self.clients.region
            case "AWS::StackName":
                return self.stack_name
            case "AWS::Partition":
                return "aws"
            case "AWS::URLSuffix":
                return "amazonaws.com"
        raise KeyError(name)

    def ref(self, name: str) -> str:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        return self.physical_ids[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        physical = self.physical_ids[logical_id]
        kind = self.resource_types[logical_id]
        if kind == "AWS::SQS::Queue":
            if attribute == "Arn":
                return self.clients.sqs.get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"]
            if attribute == "QueueName":
                return physical.rsplit("/", 1)[-1]
            if attribute == "QueueUrl":
                return physical
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return self.clients.iam.get_role(RoleName=physical)["Role"]["Arn"]
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{physical}"
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return physical
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return physical.rsplit(":", 1)[-1]
        if kind == "AWS::StepFunctions::StateMachine" and attribute == "Arn":
            return physical
        if kind == "AWS::StepFunctions::StateMachine" and attribute == "Name":
            return physical.rsplit(":", 1)[-1]
        if kind == "AWS::Events::Rule" and attribute == "Arn":
            return self.clients.events.describe_rule(Name=physical)["Arn"]
        raise NotImplementedError(f"Fn::GetAtt {logical_id}.{attribute} ({kind})")

    def sub(self, text: str, variables: dict[str, Any] | None = None) -> str:
        variables = variables or {}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.evaluate(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def evaluate(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                if isinstance(argument, list):
                    return self.sub(argument[0], argument[1])
                return self.sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(self.evaluate(item)) for item in items)
        if isinstance(value, dict):
            return {key: self.evaluate(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.evaluate(item) for item in value]
        return value


def _condition_operand(value: Any) -> str:
    # CloudFormation compares strings: YAML's true/1 are "true"/"1" there.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def evaluate_conditions(conditions: dict[str, Any], resolver: Resolver) -> dict[str, bool]:
    """Each of the template's ``Conditions``, true or false for these parameters.

    Supports ``Fn::Equals`` (over anything the resolver evaluates: ``Ref`` to a parameter or
    a pseudo parameter, ``Fn::Sub``, ``Fn::Join``), ``Fn::Not``, ``Fn::And``, ``Fn::Or`` and
    ``{"Condition": name}``. Raises NotImplementedError for any other function and
    ValueError for a condition that depends on itself."""
    results: dict[str, bool] = {}

    def named(name: str, chain: tuple[str, ...]) -> bool:
        if name in chain:
            raise ValueError(f"condition {name} depends on itself: {' -> '.join((*chain, name))}")
        if name not in results:
            results[name] = holds(conditions[name], (*chain, name))
        return results[name]

    def holds(expression: Any, chain: tuple[str, ...]) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, argument),) = expression.items()
            if key == "Condition":
                return named(argument, chain)
            if key == "Fn::Equals":
                left, right = (_condition_operand(resolver.evaluate(item)) for item in argument)
                return left == right
            if key == "Fn::Not":
                (inner,) = argument
                return not holds(inner, chain)
            if key == "Fn::And":
                return all(holds(item, chain) for item in argument)
            if key == "Fn::Or":
                return any(holds(item, chain) for item in argument)
        raise NotImplementedError(f"condition {expression!r}")

    for name in conditions:
        named(name, ())
    return results


class Clients:
    def __init__(self, endpoint_url: str | None, region: str):
        self.region = region
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        name = {"sfn": "stepfunctions"}.get(service, service)
        if name not in self._clients:
            self._clients[name] = boto3.client(name, endpoint_url=self.endpoint_url, region_name=self.region)
        return self._clients[name]

    @property
    def account_id(self) -> str:
        if "_account" not in self._clients:
            self._clients["_account"] = self.sts.get_caller_identity()["Account"]
        return self._clients["_account"]


Applier = Callable[[str, dict[str, Any], Resolver, Path], str]


def apply_state_machine(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    """Create or update a state machine from its definition file and substitutions."""
    name = resolver.evaluate(properties["StateMachineName"])
    role_arn = resolver.evaluate(properties["RoleArn"])
    definition = state_machine_definition(properties, template_dir, resolver)
    sfn = resolver.clients.sfn
    arn = f"arn:aws:states:{resolver.clients.region}:{resolver.clients.account_id}:stateMachine:{name}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role_arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        arn = sfn.create_state_machine(name=name, definition=definition, roleArn=role_arn)["stateMachineArn"]
    return arn


def state_machine_definition(properties: dict[str, Any], template_dir: Path, resolver: Resolver | None = None) -> str:
    """The definition text with ``DefinitionSubstitutions`` applied (when a resolver is given)."""
    if "Definition" in properties:
        text = json.dumps(properties["Definition"])
    else:
        text = (template_dir / properties["DefinitionS3Location"]).read_text()
    if resolver is not None:
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(resolver.evaluate(value)))
    return text


# --- SNS subscriptions (moto's CloudFormation skips them) ----
_SUBSCRIPTION_ATTRIBUTES = {
    "RawMessageDelivery": lambda value: str(value).lower(),
    "FilterPolicy": json.dumps,
    "FilterPolicyScope": str,
    "RedrivePolicy": json.dumps,
    "DeliveryPolicy": json.dumps,
}


def apply_sns_subscription(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    """Subscribe (idempotent: the same endpoint gets its existing subscription) and set the
    subscription's attributes (filter policy, raw delivery) from the template."""
    sns = resolver.clients.sns
    topic_arn = resolver.evaluate(properties["TopicArn"])
    endpoint = resolver.evaluate(properties["Endpoint"])
    protocol = resolver.evaluate(properties["Protocol"])
    attributes = {
        name: convert(resolver.evaluate(properties[name]))
        for name, convert in _SUBSCRIPTION_ATTRIBUTES.items()
        if name in properties
    }
    arn = sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint, ReturnSubscriptionArn=True)[
        "SubscriptionArn"
    ]
    for name, value in attributes.items():
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=name, AttributeValue=value)
    return arn


def apply_queue_policy(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    """Set the policy on each queue (moto's CloudFormation leaves it out)."""
    policy = json.dumps(resolver.evaluate(properties["PolicyDocument"]))
    queue_urls = [resolver.evaluate(queue) for queue in properties["Queues"]]
    for queue_url in queue_urls:
        resolver.clients.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    return ",".join(queue_urls)


def apply_alarm(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    """Create or update a metric alarm (moto's CloudFormation does not create alarms)."""
    evaluated = resolver.evaluate(properties)
    arguments: dict[str, Any] = {
        key: evaluated[key]
        for key in (
            "AlarmName",
            "AlarmDescription",
            "ActionsEnabled",
            "OKActions",
            "AlarmActions",
            "InsufficientDataActions",
            "MetricName",
            "Namespace",
            "Statistic",
            "ExtendedStatistic",
            "Dimensions",
            "Period",
            "Unit",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "Metrics",
        )
        if key in evaluated
    }
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in arguments:
            arguments[key] = int(arguments[key])
    if "Threshold" in arguments:
        arguments["Threshold"] = float(arguments["Threshold"])
    resolver.clients.cloudwatch.put_metric_alarm(**arguments)
    return arguments["AlarmName"]


# --- The WebSocket API (moto's CloudFormation has no API Gateway V2) ----
def apply_websocket_api(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    """Create the API, or find the one of that name (a deploy run twice)."""
    api = resolver.clients.apigatewayv2
    evaluated = resolver.evaluate(properties)
    for existing in api.get_apis()["Items"]:
        if existing["Name"] == evaluated["Name"]:
            return existing["ApiId"]
    return api.create_api(
        Name=evaluated["Name"],
        ProtocolType=evaluated["ProtocolType"],
        RouteSelectionExpression=evaluated["RouteSelectionExpression"],
    )["ApiId"]


def apply_websocket_integration(
    logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path
) -> str:
    api = resolver.clients.apigatewayv2
    evaluated = resolver.evaluate(properties)
    for existing in api.get_integrations(ApiId=evaluated["ApiId"])["Items"]:
        if existing.get("IntegrationUri") == evaluated["IntegrationUri"]:
            return existing["IntegrationId"]
    return api.create_integration(
        ApiId=evaluated["ApiId"],
        IntegrationType=evaluated["IntegrationType"],
        IntegrationUri=evaluated["IntegrationUri"],
    )["IntegrationId"]


def apply_websocket_route(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    api = resolver.clients.apigatewayv2
    evaluated = resolver.evaluate(properties)
    for existing in api.get_routes(ApiId=evaluated["ApiId"])["Items"]:
        if existing["RouteKey"] == evaluated["RouteKey"]:
            return existing["RouteId"]
    optional = {k: evaluated[k] for k in ("AuthorizationType", "RouteResponseSelectionExpression") if k in evaluated}
    return api.create_route(
        ApiId=evaluated["ApiId"], RouteKey=evaluated["RouteKey"], Target=evaluated["Target"], **optional
    )["RouteId"]


def apply_websocket_route_response(
    logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path
) -> str:
    # moto has no GetRouteResponses (HTTP 500): a deploy run twice adds a second, alike.
    api = resolver.clients.apigatewayv2
    evaluated = resolver.evaluate(properties)
    return api.create_route_response(
        ApiId=evaluated["ApiId"], RouteId=evaluated["RouteId"], RouteResponseKey=evaluated["RouteResponseKey"]
    )["RouteResponseId"]


def apply_websocket_stage(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    api = resolver.clients.apigatewayv2
    evaluated = resolver.evaluate(properties)
    names = {stage["StageName"] for stage in api.get_stages(ApiId=evaluated["ApiId"])["Items"]}
    if evaluated["StageName"] not in names:
        api.create_stage(ApiId=evaluated["ApiId"], StageName=evaluated["StageName"], AutoDeploy=True)
    return evaluated["StageName"]


def apply_role_policy(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    """An inline policy of the roles, when it names a resource applied outside the stack
    (the stack could not resolve it)."""
    evaluated = resolver.evaluate(properties)
    for role in evaluated["Roles"]:
        resolver.clients.iam.put_role_policy(
            RoleName=role, PolicyName=evaluated["PolicyName"], PolicyDocument=json.dumps(evaluated["PolicyDocument"])
        )
    return evaluated["PolicyName"]


# --- The mail identity (moto's CloudFormation has no SES) ----
def apply_email_identity(logical_id: str, properties: dict[str, Any], resolver: Resolver, template_dir: Path) -> str:
    """Create the SES identity (SESv2 CreateEmailIdentity), or keep the one of that name (a
    deploy run twice). The local AWS counts it verified at once: a domain needs no DKIM
    records there, an address no link followed."""
    ses = resolver.clients.sesv2
    identity = resolver.evaluate(properties["EmailIdentity"])
    try:
        ses.get_email_identity(EmailIdentity=identity)
    except ses.exceptions.NotFoundException:
        ses.create_email_identity(EmailIdentity=identity)
    return identity


# Resource types the local engine cannot deploy through its CloudFormation.
LOCAL_APPLIERS: dict[str, Applier] = {
    "AWS::StepFunctions::StateMachine": apply_state_machine,
    "AWS::SNS::Subscription": apply_sns_subscription,
    "AWS::SQS::QueuePolicy": apply_queue_policy,
    "AWS::CloudWatch::Alarm": apply_alarm,
    "AWS::ApiGatewayV2::Api": apply_websocket_api,
    "AWS::ApiGatewayV2::Integration": apply_websocket_integration,
    "AWS::ApiGatewayV2::Route": apply_websocket_route,
    "AWS::ApiGatewayV2::RouteResponse": apply_websocket_route_response,
    "AWS::ApiGatewayV2::Stage": apply_websocket_stage,
    "AWS::SES::EmailIdentity": apply_email_identity,
}
# Types the stack deploys, except a resource that names one applied outside it: that one is
# applied outside too, after it (a role's policy scoped to the WebSocket API).
LOCAL_DEPENDENT_APPLIERS: dict[str, Applier] = {
    "AWS::IAM::Policy": apply_role_policy,
}


PropertyApplier = Callable[[str, str, Any, Resolver], None]


def apply_bucket_notifications(logical_id: str, bucket: str, configuration: Any, resolver: Resolver) -> None:
    """A bucket's ``NotificationConfiguration`` (queue targets), set with the S3 API."""
    queue_configurations = []
    for target in resolver.evaluate(configuration).get("QueueConfigurations", []):
        entry: dict[str, Any] = {"QueueArn": target["Queue"], "Events": [target["Event"]]}
        rules = target.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
        queue_configurations.append(entry)
    resolver.clients.s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queue_configurations}
    )


def apply_bucket_lifecycle(logical_id: str, bucket: str, configuration: Any, resolver: Resolver) -> None:
    """A bucket's ``LifecycleConfiguration`` (expiration and incomplete uploads), set with the S3 API."""
    rules = []
    for rule in resolver.evaluate(configuration).get("Rules", []):
        entry: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
        entry["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if "ExpirationInDays" in rule:
            entry["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in rule:
            days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            entry["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
        rules.append(entry)
    resolver.clients.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


# Properties the local engine's CloudFormation ignores on resources it otherwise deploys:
# taken out of the stack, then applied with plain API calls to the deployed resource.
LOCAL_PROPERTY_APPLIERS: dict[tuple[str, str], PropertyApplier] = {
    ("AWS::S3::Bucket", "NotificationConfiguration"): apply_bucket_notifications,
    ("AWS::S3::Bucket", "LifecycleConfiguration"): apply_bucket_lifecycle,
}


def _without_local_properties(resources: dict[str, Any]) -> dict[str, Any]:
    stripped = {}
    for logical_id, resource in resources.items():
        names = {name for kind, name in LOCAL_PROPERTY_APPLIERS if kind == resource["Type"]}
        if names & set(resource.get("Properties", {})):
            resource = {
                **resource,
                "Properties": {k: v for k, v in resource["Properties"].items() if k not in names},
            }
        stripped[logical_id] = resource
    return stripped


def _references(value: Any, names: set[str]) -> bool:
    text = json.dumps(value)
    return any(re.search(rf'"(Ref|Fn::GetAtt)": \[?"{re.escape(name)}[".]', text) for name in names) or any(
        "${" + name in text for name in names
    )


def _dependency_order(resources: dict[str, Any], logical_ids: set[str]) -> list[str]:
    """``logical_ids`` in an order that applies each after those of them it refers to or
    names in ``DependsOn`` (an alarm after the state machine it watches); otherwise by name."""
    ordered: list[str] = []
    pending = sorted(logical_ids)
    while pending:
        ready = []
        for logical_id in pending:
            others = set(pending) - {logical_id}
            depends_on = resources[logical_id].get("DependsOn", [])
            depends_on = {depends_on} if isinstance(depends_on, str) else set(depends_on)
            if not (depends_on & others) and not _references(resources[logical_id], others):
                ready.append(logical_id)
        if not ready:
            raise ValueError(f"resources applied outside the stack refer to each other in a circle: {pending}")
        ordered += ready
        pending = [logical_id for logical_id in pending if logical_id not in ready]
    return ordered


def api_function_qualifier(stage: str, settings_path: Path | None = None) -> str:
    """``:snapstart`` when the stage's API function has SnapStart (zappa_settings.json
    ``snap_start``): Zappa points the REST API at that alias, so the WebSocket API must call
    it too; empty otherwise, or for a stage zappa_settings.json does not have."""
    try:
        snap_start = zappa_stage_settings(stage, settings_path).get("snap_start", "None")
    except KeyError:
        return ""
    return f":{SNAPSTART_ALIAS}" if snap_start and snap_start != "None" else ""


def deploy(
    *,
    endpoint_url: str | None,
    region: str = "us-east-1",
    stage: str = "dev",
    prefix: str = DEFAULT_PREFIX,
    stack_name: str | None = None,
    api_url: str = "",
    alert_email: str = "",
    mail_from_address: str = LOCAL_MAIL_FROM_ADDRESS,
    mail_identity: str = "",
    template_path: Path = TEMPLATE,
) -> dict[str, str]:
    """Deploy the stack and the parts applied outside it. Returns the stack's outputs.

    ``alert_email``: subscribed to the stage's alert topic (the ``AlertEmail`` parameter);
    empty, nobody is. ``mail_from_address``: the address the functions send mail from
    (``MailFromAddress``; a display name is dropped), in ``mail_identity``
    (``MailIdentity``; empty: the address's domain). Resources whose condition is false
    are neither deployed nor applied."""
    clients = Clients(endpoint_url, region)
    template = load_template(template_path)
    stack_name = stack_name or infra_stack_name(prefix=prefix, stage=stage)
    parameters = {"Prefix": prefix, "Stage": stage, "ApiUrl": api_url}
    declared = template.get("Parameters", {})
    if "FunctionName" in declared:
        # Zappa names a function <project_name>-<stage>: the API's stage is <stage>, the
        # worker's <stage>-worker.
        parameters["FunctionName"] = f"{prefix}-{stage}"
    if "FunctionQualifier" in declared:
        parameters["FunctionQualifier"] = api_function_qualifier(stage)
    if "WorkerFunctionName" in declared:
        parameters["WorkerFunctionName"] = f"{prefix}-{stage}-worker"
    if "AlertEmail" in declared:
        parameters["AlertEmail"] = alert_email
    if "MailIdentity" in declared:
        parameters["MailIdentity"] = mail_identity or mail_domain(mail_from_address)
    if "MailFromAddress" in declared:
        parameters["MailFromAddress"] = parseaddr(mail_from_address)[1]
    # Parameters left at their defaults still resolve in the resources applied outside the stack.
    resolved_parameters = {
        **{key: str(spec["Default"]) for key, spec in declared.items() if "Default" in spec},
        **parameters,
    }

    # Filled in once the stack exists; conditions need only the parameters.
    physical_ids: dict[str, str] = {}
    resource_types: dict[str, str] = {}
    resolver = Resolver(clients, resolved_parameters, physical_ids, resource_types, stack_name)
    conditions = evaluate_conditions(template.get("Conditions", {}), resolver)
    left_out = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if "Condition" in resource and not conditions[resource["Condition"]]
    }
    for logical_id in sorted(left_out):
        logger.info("left out %s (condition %s is false)", logical_id, template["Resources"][logical_id]["Condition"])
    outputs = {
        key: output
        for key, output in template.get("Outputs", {}).items()
        if ("Condition" not in output or conditions[output["Condition"]]) and not _references(output, left_out)
    }

    applied_outside = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in LOCAL_APPLIERS and logical_id not in left_out
    }
    appliers = dict.fromkeys(applied_outside, LOCAL_APPLIERS)
    for logical_id, resource in template["Resources"].items():
        if (
            resource["Type"] in LOCAL_DEPENDENT_APPLIERS
            and logical_id not in left_out
            and _references(resource, applied_outside)
        ):
            appliers[logical_id] = LOCAL_DEPENDENT_APPLIERS
    applied_outside = set(appliers)
    stack_template = dict(template)
    stack_template["Resources"] = _without_local_properties(
        {
            logical_id: resource
            for logical_id, resource in template["Resources"].items()
            if logical_id not in applied_outside and logical_id not in left_out
        }
    )
    stack_template["Outputs"] = {
        key: output for key, output in outputs.items() if not _references(output, applied_outside)
    }
    _create_or_update_stack(clients.cloudformation, stack_name, stack_template, parameters)

    for resource in clients.cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]:
        if "PhysicalResourceId" not in resource:
            continue  # a resource moto skipped: nothing to refer to
        physical_ids[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
        resource_types[resource["LogicalResourceId"]] = resource["ResourceType"]

    for logical_id in _dependency_order(template["Resources"], applied_outside):
        resource = template["Resources"][logical_id]
        resource_types[logical_id] = resource["Type"]
        physical_ids[logical_id] = appliers[logical_id][resource["Type"]](
            logical_id, resource.get("Properties", {}), resolver, template_path.parent
        )
        logger.info("applied %s (%s) outside the stack", logical_id, resource["Type"])

    for logical_id, resource in template["Resources"].items():
        for (kind, name), apply in LOCAL_PROPERTY_APPLIERS.items():
            if resource["Type"] == kind and name in resource.get("Properties", {}) and logical_id in physical_ids:
                apply(logical_id, physical_ids[logical_id], resource["Properties"][name], resolver)
                logger.info("applied %s.%s outside the stack", logical_id, name)

    return {key: str(resolver.evaluate(output["Value"])) for key, output in outputs.items()}


def mail_domain(address: str) -> str:
    """The domain of ``address`` (``Name <user@domain>`` or ``user@domain``)."""
    return parseaddr(address)[1].rpartition("@")[2]


def _create_or_update_stack(cloudformation, stack_name: str, template: dict, parameters: dict[str, str]) -> None:
    arguments = {
        "StackName": stack_name,
        "TemplateBody": json.dumps(template),
        "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    }
    try:
        cloudformation.describe_stacks(StackName=stack_name)
        exists = True
    except cloudformation.exceptions.ClientError:
        exists = False
    if exists:
        try:
            cloudformation.update_stack(**arguments)
        except cloudformation.exceptions.ClientError as exc:
            if "No updates" not in str(exc):
                raise
        waiter = "stack_update_complete"
    else:
        cloudformation.create_stack(**arguments)
        waiter = "stack_create_complete"
    cloudformation.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deploy infra/template.yaml")
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--stack-name", default=None)
    parser.add_argument("--api-url", default="")
    parser.add_argument(
        "--alert-email", default="", help="subscribed to the stage's alert topic (AlertEmail); empty: nobody"
    )
    parser.add_argument(
        "--mail-from-address",
        default=LOCAL_MAIL_FROM_ADDRESS,
        help="the address the functions send mail from (MailFromAddress, DEFAULT_FROM_EMAIL)",
    )
    parser.add_argument(
        "--mail-identity",
        default="",
        help="the SES identity they send as (MailIdentity); default: the address's domain",
    )
    args = parser.parse_args(argv)
    outputs = deploy(
        endpoint_url=args.endpoint_url,
        region=args.region,
        stage=args.stage,
        prefix=args.prefix,
        stack_name=args.stack_name,
        api_url=args.api_url,
        alert_email=args.alert_email,
        mail_from_address=args.mail_from_address,
        mail_identity=args.mail_identity,
    )
    print(json.dumps(outputs, indent=2))


if __name__ == "__main__":
    main()
