"""Records every AWS API call our code makes, as the IAM action and resource it needs.

Each call is attributed by the innermost frame of the project's own code on the stack:
``app`` (console/, orders/, workflows/, ... : what the function's role must allow),
``event-source`` (console/devtools/local_consumer.py, which stands in for Lambda's SQS event source
mappings) or ``scaffolding`` (tests, infra deployment, the local AWS). Calls with no
project frame (a library's own, e.g. Celery's worker consuming its queue) are not ours.
Presigned URLs count as the call they sign; calls botocore's Stubber answers are marked
(their resources may be made up by the test). One JSON line per distinct call and process
in ``$OPS_AWS_CALL_LOG/<pid>.jsonl``.
"""

import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = os.environ.get("OPS_AWS_ACCOUNT_ID", "123456789012")
SCAFFOLDING = (
    "tests/",
    "infra/",
    "bench/",
    "console/devtools/localaws.py",
    "console/devtools/devstack.py",
    # Plays API Gateway's WebSocket API: finds its API as API Gateway knows itself.
    "console/devtools/websocket_gateway.py",
    "console/management/commands/deploy_infra.py",
)
EVENT_SOURCE = ("console/devtools/local_consumer.py",)
IGNORED_DIRS = (".venv", ".lambda")

# IAM prefixes that differ from botocore's service name.
IAM_PREFIX = {"stepfunctions": "states", "apigatewaymanagementapi": "execute-api", "sesv2": "ses"}
# Operations whose IAM action has another name.
IAM_ACTION = {
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "CopyObject"): "PutObject",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "PutBucketNotification",
    ("lambda", "Invoke"): "InvokeFunction",
    ("sns", "PublishBatch"): "Publish",
    ("apigatewaymanagementapi", "PostToConnection"): "ManageConnections",
    ("apigatewaymanagementapi", "GetConnection"): "ManageConnections",
    ("apigatewaymanagementapi", "DeleteConnection"): "ManageConnections",
}
# The HTTP method of each @connections call, part of its execute-api resource.
CONNECTIONS_METHOD = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}
# Calls no IAM permission is needed for.
UNAUTHORISED = {("sts", "GetCallerIdentity")}
S3_OBJECT_OPERATIONS = {
    "GetObject",
    "HeadObject",
    "PutObject",
    "DeleteObject",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "GetObjectTagging",
    "PutObjectTagging",
}

_lock = threading.Lock()
_seen: set[tuple] = set()


_ROOT_PREFIX = str(ROOT) + os.sep


def caller() -> tuple[str, str]:
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith("<"):  # frozen or generated code ("<frozen runpy>"), never ours
            frame = frame.f_back
            continue
        path = os.path.realpath(filename)
        relative = path[len(_ROOT_PREFIX) :].replace(os.sep, "/") if path.startswith(_ROOT_PREFIX) else ""
        if relative and not relative.startswith(IGNORED_DIRS) and not relative.startswith("tests/aws_calls/"):
            if relative.startswith(SCAFFOLDING):
                return "scaffolding", relative
            if relative.startswith(EVENT_SOURCE):
                return "event-source", relative
            return "app", f"{relative}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "library", ""


def iam_request(service: str, operation: str, params: dict, region: str) -> tuple[str, list[str]] | None:
    """The IAM action and resources a call needs, or None if it needs no permission."""
    if (service, operation) in UNAUTHORISED:
        return None
    action = f"{IAM_PREFIX.get(service, service)}:{IAM_ACTION.get((service, operation), operation)}"
    return action, resources(service, operation, params, region)


def resources(service: str, operation: str, params: dict, region: str) -> list[str]:
    if service == "sqs":
        if "SourceArn" in params:  # message move tasks: the dead-letter queue they move from
            return [params["SourceArn"]]
        if "QueueUrl" in params:
            account, name = urlsplit(params["QueueUrl"]).path.strip("/").split("/")[-2:]
            return [f"arn:aws:sqs:{region}:{account}:{name}"]
        if "QueueName" in params:
            account = params.get("QueueOwnerAWSAccountId", ACCOUNT_ID)
            return [f"arn:aws:sqs:{region}:{account}:{params['QueueName']}"]
        return ["*"]
    if service == "stepfunctions":
        for key in ("stateMachineArn", "executionArn", "mapRunArn", "activityArn"):
            if key in params:
                return [params[key]]
        return ["*"]
    if service == "s3" and "Bucket" in params:
        if operation in S3_OBJECT_OPERATIONS and "Key" in params:
            return [f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"]
        return [f"arn:aws:s3:::{params['Bucket']}"]
    if service == "sns":
        arn = params.get("TopicArn") or params.get("TargetArn") or params.get("SubscriptionArn")
        return [arn] if arn else ["*"]
    if service == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName", "default") for entry in params.get("Entries", [])}
        return sorted(
            bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{bus}" for bus in buses
        )
    if service == "cloudwatch" and ("AlarmName" in params or "AlarmNames" in params):
        names = params.get("AlarmNames") or [params["AlarmName"]]
        return [f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}" for name in names]
    if service == "lambda" and "UUID" in params:  # an event source mapping, by its id
        return [f"arn:aws:lambda:{region}:{ACCOUNT_ID}:event-source-mapping:{params['UUID']}"]
    if service == "lambda" and "FunctionName" in params:
        name = params["FunctionName"]
        return [name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"]
    if service == "sesv2" and operation == "SendEmail":
        # SES authorizes a send against the identity it sends as: the one named, else the
        # From address's domain (the stages send as a domain identity, MailIdentity).
        arn = params.get("FromEmailAddressIdentityArn")
        domain = params.get("FromEmailAddress", "").rpartition("@")[2].rstrip(">")
        return [arn or f"arn:aws:ses:{region}:{ACCOUNT_ID}:identity/{domain}"]
    if service == "dynamodb" and "TableName" in params:
        return [f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{params['TableName']}"]
    return ["*"]


def connections_resource(endpoint_url: str, operation: str, params: dict, region: str) -> str:
    """``arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<method>/@connections/<id>``.
    The endpoint is ``https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`` on AWS and
    ``http://127.0.0.1:<port>/<api-id>/<stage>`` at the local gateway."""
    parts = urlsplit(endpoint_url)
    path = parts.path.strip("/").split("/")
    if ".execute-api." in parts.hostname:
        api_id, stage = parts.hostname.split(".", 1)[0], path[0]
    else:
        api_id, stage = path[0], path[1]
    method = CONNECTIONS_METHOD.get(operation, "*")
    connection = params.get("ConnectionId", "*")
    return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{api_id}/{stage}/{method}/@connections/{connection}"


def stubbed(client) -> bool:
    """Whether botocore's Stubber answers this client: the call's action is real, its
    resource may be one a test made up."""
    emitter = getattr(client.meta.events, "_emitter", client.meta.events)
    return any(str(key).startswith("boto_stubber") for key in getattr(emitter, "_unique_id_handlers", {}))


def record(client, operation: str, params: dict, presigned: bool = False) -> None:
    kind, where = caller()
    if kind in {"library", "scaffolding"}:
        return
    service = client.meta.service_model.service_name
    request = iam_request(service, operation, params or {}, client.meta.region_name or "us-east-1")
    if request is None:
        return
    action, arns = request
    if service == "apigatewaymanagementapi":
        arns = [connections_resource(client.meta.endpoint_url, operation, params, client.meta.region_name)]
    is_stubbed = stubbed(client)
    key = (kind, action, tuple(arns), where, is_stubbed)
    with _lock:
        if key in _seen:
            return
        _seen.add(key)
        line = {
            "kind": kind,
            "action": action,
            "resources": arns,
            "caller": where,
            "presigned": presigned,
            "stubbed": is_stubbed,
        }
        folder = Path(os.environ["OPS_AWS_CALL_LOG"])
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{os.getpid()}.jsonl", "a") as log:
            log.write(json.dumps(line) + "\n")


def install(client_module=None) -> None:
    """Patch botocore (idempotent). ``client_module``: botocore.client while it is imported."""
    if client_module is None:
        import botocore.client as client_module
    import botocore.signers

    base_client = client_module.BaseClient
    if getattr(base_client._make_api_call, "_records_aws_calls", False):
        return
    original_call = base_client._make_api_call

    def _make_api_call(self, operation_name, api_params):
        try:
            record(self, operation_name, api_params)
        except Exception as exc:  # the recorder must never change what the code does
            sys.stderr.write(f"aws_call_recorder: {exc!r}\n")
        return original_call(self, operation_name, api_params)

    _make_api_call._records_aws_calls = True
    base_client._make_api_call = _make_api_call

    original_presign = botocore.signers.generate_presigned_url

    def generate_presigned_url(self, ClientMethod, Params=None, ExpiresIn=3600, HttpMethod=None):  # noqa: N803
        operation = self.meta.method_to_api_mapping.get(ClientMethod, ClientMethod)
        record(self, operation, Params or {}, presigned=True)
        return original_presign(self, ClientMethod, Params=Params, ExpiresIn=ExpiresIn, HttpMethod=HttpMethod)

    original_post = botocore.signers.generate_presigned_post

    def generate_presigned_post(self, Bucket, Key, Fields=None, Conditions=None, ExpiresIn=3600):  # noqa: N803
        record(self, "PutObject", {"Bucket": Bucket, "Key": Key}, presigned=True)
        return original_post(self, Bucket, Key, Fields=Fields, Conditions=Conditions, ExpiresIn=ExpiresIn)

    botocore.signers.generate_presigned_url = generate_presigned_url
    botocore.signers.generate_presigned_post = generate_presigned_post


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Installs the patch right after botocore.client is imported, so processes that never
    use AWS do not pay for importing botocore."""

    def find_spec(self, name, path, target=None):
        if name != "botocore.client":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module):
            original_exec(module)
            install(module)

        loader.exec_module = exec_module
        return spec


def install_when_imported() -> None:
    if "botocore.client" in sys.modules:
        install()
    else:
        sys.meta_path.insert(0, _PatchAfterImport())
