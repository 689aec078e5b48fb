"""Rehearse the documented deploy of a stage against a local AWS, and check what it made:
``make deploy-local`` (python -m infra.rehearse [--stage dev] [--keep]).

The steps of docs/deploying.md ("Deploying a stage"), as they are, against a moto
server this command starts (every AWS call goes to it: ``AWS_ENDPOINT_URL``, dummy
credentials, us-east-1):

1. the resources stack ``ops-console-<stage>-infra`` (``infra.deploy.deploy``: CloudFormation,
   then plain API calls for what moto's CloudFormation skips);
2. the secrets the stage's ``aws_environment_variables`` refer to (Secrets Manager and SSM,
   throwaway values);
3. ``make package``: the API function's and the worker function's packages, built for this
   machine's architecture (the local gateway runs them here; the functions are configured
   with the stage's, arm64);
4. ``.lambda/venv/bin/zappa deploy <stage> --zip ...`` and ``zappa deploy <stage>-worker
   --zip ...``, Zappa's own command in its own virtualenv, output captured.

Then it checks the result against zappa_settings.json and infra/template.yaml, one line
per check: ``ok``, ``FAILED``, or ``local AWS cannot: <what> (covered by <test>)`` where moto
cannot do what AWS does, and says which test covers that instead. It exits non-zero if a
check failed. ``--keep`` leaves the local AWS running afterwards (Ctrl-C stops it).

One thing Zappa does cannot work offline as it is: after creating the API, ``zappa deploy``
GETs ``https://<api>.execute-api.<region>.amazonaws.com/<stage>/`` and fails the deploy on an
error (before its ``post`` callback). That host does not resolve here, and moto runs
functions only in Docker. So the rehearsal runs Zappa with ``HTTPS_PROXY`` pointing at a
local gateway (``LocalGateway``) and ``REQUESTS_CA_BUNDLE`` at a throwaway CA that signed
its certificate for ``*.execute-api.<region>.amazonaws.com``: the gateway answers as API
Gateway would, from what the local AWS holds (the REST API, its stage, the resource and
its Lambda proxy integration), by running the function's code (the package whose SHA-256
the local Lambda reports) with the function's configuration (handler, environment,
timeout) in a fresh ``python -I -S -B`` process, as Lambda's runtime would. Zappa's own
code, its own request, its own verdict. Any other HTTPS request Zappa makes is refused and
reported.

Work files (the moto log, Zappa's output, the gateway's function logs) go to
``.lambda/rehearsal/``.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from console.devtools import devstack
from infra import deploy as infra
from infra import package as packaging

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "zappa_settings.json"
ZAPPA = packaging.VENV / "bin" / "zappa"
WORKDIR = packaging.WORKDIR / "rehearsal"
REGION = "us-east-1"
# The documented step 1 deploys the stack with AlertEmail=<address>: the alarms' subscription.
ALERT_EMAIL = "oncall@example.com"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Credentials or settings of a real account that must not leak into the rehearsal.
REAL_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_CA_BUNDLE")
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
# Zappa logs this when AddPermission answers anything but 201: moto answers 200.
ZAPPA_PERMISSION_ERROR = "Problem creating permission to invoke Lambda function"
API_HOST = re.compile(r"([a-z0-9]+)\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")

OK, FAILED, CANNOT = "ok", "FAILED", "local AWS cannot"

# Where each thing the local AWS cannot do is covered instead.
COVERED = {
    "outside-stack": "tests/infra covers the template with cfn-lint",
    "invoke": "tests/on_lambda/test_package.py (the package serves API Gateway and SQS events), "
    "tests/on_lambda/test_routing.py and tests/console/test_local_consumer.py (every event source and schedule)",
    "permission-201": "tests/infra/test_rehearsal.py, Zappa's AddPermission with AWS's answer (botocore Stubber)",
    "dead-letter-config": "tests/ops/test_wiring.py (dead_letter_arn is the stage's async DLQ) "
    "and tests/on_lambda/test_iam_policy.py (the role may send to it)",
    "binary-media-types": "tests/on_lambda/test_package.py (static bodies come back base64-encoded)",
    "iam": "tests/on_lambda/test_iam_policy.py (every AWS call of the test run against the role)",
}


@dataclass
class Check:
    what: str
    status: str = OK
    detail: str = ""
    covered_by: str = ""

    def line(self) -> str:
        if self.status == CANNOT:
            return f"local AWS cannot: {self.what} (covered by {self.covered_by})"
        return f"{self.status}: {self.what}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Findings:
    stage: str
    endpoint: str = ""
    steps: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def check(self, what: str, problems: list[str], *, detail: str = "") -> Check:
        """An ``ok`` check, or ``FAILED`` with the problems found."""
        found = Check(what, FAILED, "; ".join(problems)) if problems else Check(what, OK, detail)
        self.checks.append(found)
        return found

    def cannot(self, what: str, coverage: str) -> None:
        self.checks.append(Check(what, CANNOT, covered_by=COVERED[coverage]))

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.status == FAILED]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": len(self.failed)}


# --- the local AWS -------------------------------------------------------------------------


def start_local_aws(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A moto server process of our own (``console.devtools.localaws``), on a free port."""
    port = devstack.free_port()
    env = {**os.environ, **DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "MOTO_PORT": str(port)}
    env.pop("AWS_ENDPOINT_URL", None)
    log_path = workdir / "moto.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(devstack.moto_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    devstack.wait_for_port(port, process=process)
    deadline = time.monotonic() + 30
    while "ready" not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the local AWS did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def point_at(endpoint: str) -> None:
    """Every AWS call of this process and of the processes it starts goes to ``endpoint``."""
    for name in REAL_AWS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(DUMMY_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)


class Aws:
    """Clients of the local AWS, made when first used."""

    def __init__(self, endpoint: str):
        import boto3

        self._session = boto3.session.Session(
            region_name=REGION,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        self._endpoint = endpoint
        self._clients: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        name = {"lambda_": "lambda"}.get(service, service)
        if name not in self._clients:
            self._clients[name] = self._session.client(name, endpoint_url=self._endpoint)
        return self._clients[name]


# --- the stage's settings, as Zappa reads them -----------------------------------------------


@dataclass
class Function:
    zappa_stage: str
    name: str
    config: dict[str, Any]  # the Zappa stage's settings, ``extends`` resolved by Zappa

    @property
    def sqs_events(self) -> list[dict[str, Any]]:
        return [
            event
            for event in self.config.get("events", [])
            if event.get("event_source", {}).get("arn", "").startswith("arn:aws:sqs:")
        ]

    @cached_property
    def schedules(self) -> list[tuple[str, dict[str, Any], str, int]]:
        """(rule name as Zappa makes it, event, expression, index) of each schedule."""
        from zappa.core import Zappa

        zappa = Zappa(load_credentials=False, aws_region=REGION)
        found = []
        for event in self.config.get("events", []):
            expressions = event.get("expressions") or ([event["expression"]] if "expression" in event else [])
            for index, expression in enumerate(expressions):
                name = zappa.get_scheduled_event_name(event, event["function"], self.name, index)
                found.append((name, event, expression, index))
        return found


def stage_functions(stage: str) -> list[Function]:
    """The stage's functions (API, then worker), read by Zappa's own settings loader."""
    from zappa.cli import ZappaCLI

    functions = []
    for zappa_stage in packaging.function_stages(stage, SETTINGS):
        cli = ZappaCLI()
        cli.api_stage = zappa_stage
        cli.load_credentials = False
        cli.load_settings(str(SETTINGS))
        functions.append(Function(zappa_stage, cli.lambda_name, dict(cli.stage_config)))
    return functions


# --- step 1: the resources stack ---------------------------------------------------------------


def applied_outside_the_stack(template: dict[str, Any]) -> list[str]:
    """What moto's CloudFormation cannot deploy, which ``infra.deploy`` applies with API calls."""
    kinds = Counter(
        resource["Type"] for resource in template["Resources"].values() if resource["Type"] in infra.LOCAL_APPLIERS
    )
    properties = [
        f"{logical_id}.{name}"
        for logical_id, resource in template["Resources"].items()
        for kind, name in infra.LOCAL_PROPERTY_APPLIERS
        if resource["Type"] == kind and name in resource.get("Properties", {})
    ]
    return [f"{kind} ×{count}" for kind, count in sorted(kinds.items())] + properties


def stack_snapshot(aws: Aws, name: str) -> dict[str, Any] | None:
    try:
        stack = aws.cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except aws.cloudformation.exceptions.ClientError:
        return None
    resources = aws.cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    body = aws.cloudformation.get_template(StackName=name)["TemplateBody"]
    body = body if isinstance(body, str) else json.dumps(body, sort_keys=True)
    return {
        "status": stack["StackStatus"],
        "last_updated": str(stack.get("LastUpdatedTime") or ""),
        "tags": {tag["Key"]: tag["Value"] for tag in stack.get("Tags", [])},
        "resource_types": dict(Counter(resource["ResourceType"] for resource in resources)),
        "queues": sorted(
            resource["PhysicalResourceId"].rsplit("/", 1)[-1]
            for resource in resources
            if resource["ResourceType"] == "AWS::SQS::Queue" and resource.get("PhysicalResourceId")
        ),
        "template_sha256": hashlib.sha256(body.encode()).hexdigest(),
    }


# --- step 2: the secrets -----------------------------------------------------------------------


def throwaway_value(name: str) -> str:
    if name == "DJANGO_SECRET_KEY":
        return secrets.token_urlsafe(50)
    if name == "DATABASE_URL":
        # A database nothing listens for, as before ``zappa manage <stage> migrate``: Zappa's
        # check of the new API must pass without one, as on a first deploy to AWS.
        return "postgres://rehearsal:throwaway@127.0.0.1:1/ops_console"
    if "EMAIL" in name:
        return "rehearsal@example.com"
    return f"rehearsal-{name.lower().replace('_', '-')}"


def create_secrets(aws: Aws, functions: list[Function]) -> tuple[dict[str, str], list[str]]:
    """The documented step 2 for the references in ``aws_environment_variables``: one
    Secrets Manager secret per secret id (a JSON object of its keys), one SSM String
    parameter per name. Returns the value each variable should get, and the calls made."""
    expected: dict[str, str] = {}
    secret_values: dict[str, dict[str, str]] = {}
    parameters: dict[str, str] = {}
    for function in functions:
        for variable, reference in function.config.get("aws_environment_variables", {}).items():
            if variable in expected:
                continue
            expected[variable] = throwaway_value(variable)
            if reference.startswith("secretsmanager:"):
                secret_id, _, key = reference[len("secretsmanager:") :].partition("#")
                secret_values.setdefault(secret_id, {})[key] = expected[variable]
            elif reference.startswith("ssm:"):
                parameters[reference[len("ssm:") :]] = expected[variable]
    calls = []
    for secret_id, values in secret_values.items():
        aws.secretsmanager.create_secret(Name=secret_id, SecretString=json.dumps(values))
        calls.append(f"secretsmanager create-secret --name {secret_id} ({', '.join(values)})")
    for name, value in parameters.items():
        aws.ssm.put_parameter(Name=name, Type="String", Value=value)
        calls.append(f"ssm put-parameter --name {name} --type String")
    return expected, calls


# --- step 4: zappa deploy ------------------------------------------------------------------------


@dataclass
class ZappaRun:
    zappa_stage: str
    command: list[str]
    returncode: int
    output: str
    seconds: float
    log: Path

    @property
    def errors(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("ERROR:")]


def zappa_deploy(function: Function, package: Path, *, gateway: "LocalGateway", workdir: Path) -> ZappaRun:
    """``zappa deploy <stage> --zip <package>`` from Zappa's virtualenv, in the project folder."""
    command = [str(ZAPPA), "deploy", function.zappa_stage, "--zip", _shown(package)]
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(packaging.VENV),
        "PATH": f"{packaging.VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        **gateway.client_environment(),
    }
    env.pop("PYTHONPATH", None)  # Zappa runs on its own virtualenv only, as documented
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    # Zappa writes its API stack's template into the project folder and leaves it there when
    # the stack fails: keep it with the logs.
    for leftover in ROOT.glob(f"{function.name}-template-*.json"):
        shutil.move(leftover, workdir / leftover.name)
    log = workdir / f"zappa-deploy-{function.zappa_stage}.log"
    log.write_text(output)
    return ZappaRun(function.zappa_stage, command, result.returncode, output, time.monotonic() - started, log)


# --- the local API Gateway edge and Lambda runtime (what moto cannot run) -------------------------


# Lambda's python runtime, for one invocation: the package is the working directory and the
# first import path; the handler gets the event and a context; the answer goes to a file.
RUNTIME = r"""
import importlib, json, os, sys, time, traceback
task, handler_name, event_path, out_path = sys.argv[1:5]
os.chdir(task)
sys.path.insert(0, task)

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = os.environ["REHEARSAL_FUNCTION_ARN"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    aws_request_id = os.environ["REHEARSAL_REQUEST_ID"]
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "rehearsal"
    _deadline = time.monotonic() + int(os.environ["REHEARSAL_TIMEOUT"])

    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)

module_name, _, function_name = handler_name.rpartition(".")
with open(event_path) as source:
    event = json.load(source)
try:
    handler = getattr(importlib.import_module(module_name), function_name)
    answer = {"response": handler(event, Context())}
except Exception as exc:
    answer = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": traceback.format_exc()}
with open(out_path, "w") as out:
    json.dump(answer, out, default=str)
"""


class LocalGateway:
    """API Gateway's edge and Lambda's invoke, for the requests Zappa itself sends.

    An HTTPS proxy (``client_environment()`` gives Zappa ``HTTPS_PROXY`` and a CA bundle):
    CONNECT to ``<api>.execute-api.<region>.amazonaws.com:443`` is answered with TLS under a
    throwaway CA, and each request is served as API Gateway's Lambda proxy integration
    would: the API, its stage, the resource and its integration are read from the local
    AWS, the event is the REST API payload 1.0, and the function runs from the package
    whose SHA-256 the local Lambda reports, with the function's configuration. Any other
    CONNECT is refused (the rehearsal is offline) and recorded.
    """

    def __init__(self, aws: Aws, *, endpoint: str, packages: list[Path], workdir: Path):
        self.aws = aws
        self.endpoint = endpoint
        self.workdir = workdir
        # CodeSha256 (base64, as Lambda reports it) -> the package with those bytes.
        self.packages = {_code_sha256(path): path for path in packages}
        self.served: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self._unpacked: dict[str, Path] = {}
        self._lock = threading.Lock()
        self.ca_bundle, certificate, key = _gateway_certificate(workdir / "gateway-tls", REGION)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(certificate, key)
        self.server = _ProxyServer(self)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "LocalGateway":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def client_environment(self) -> dict[str, str]:
        proxy = f"http://127.0.0.1:{self.server.server_address[1]}"
        return {
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
        }

    # -- API Gateway ---------------------------------------------------------------------

    def request(
        self, *, method: str, host: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        started = time.monotonic()
        api_id = host.split(".", 1)[0]
        url = urlsplit(target)
        stage, _, rest = url.path.lstrip("/").partition("/")
        path = "/" + rest
        record = {"method": method, "url": f"https://{host}{target}", "function": None}
        status, response_headers, payload = self._serve(
            record, api_id, stage, path, method, host, url.query, headers, body, source_ip
        )
        record.update(status=status, seconds=round(time.monotonic() - started, 2))
        with self._lock:
            self.served.append(record)
        return status, response_headers, payload

    def _serve(self, record, api_id, stage, path, method, host, query, headers, body, source_ip):
        apigateway = self.aws.apigateway
        try:
            apigateway.get_stage(restApiId=api_id, stageName=stage)
        except apigateway.exceptions.ClientError:
            return _json_answer(403, {"message": "Forbidden"})
        route = self._route(api_id, path, method)
        if route is None:
            return _json_answer(403, {"message": "Missing Authentication Token"})
        resource, method_key, proxy = route
        integration = apigateway.get_integration(restApiId=api_id, resourceId=resource["id"], httpMethod=method_key)
        target = re.search(r"functions/(arn:[^/]+)/invocations", integration.get("uri", ""))
        if integration.get("type") != "AWS_PROXY" or not target:
            return _json_answer(500, {"message": f"not a Lambda proxy integration: {integration.get('uri')}"})
        record["function"] = target[1].rsplit(":", 1)[-1]
        event = _rest_api_event(
            api_id=api_id,
            stage=stage,
            path=path,
            method=method,
            resource=resource,
            proxy=proxy,
            host=host,
            query=query,
            headers=headers,
            body=body,
            source_ip=source_ip,
        )
        answer = self.invoke(target[1], event)
        if "response" not in answer or not isinstance(answer["response"], dict):
            record["error"] = answer.get("errorType") or "no response"
            return _json_answer(502, {"message": "Internal server error"})
        return _http_answer(answer["response"])

    def _route(self, api_id: str, path: str, method: str) -> tuple[dict, str, str | None] | None:
        resources = self.aws.apigateway.get_resources(restApiId=api_id, limit=500)["items"]

        def method_of(resource: dict) -> str | None:
            methods = resource.get("resourceMethods", {})
            return method if method in methods else "ANY" if "ANY" in methods else None

        for resource in resources:
            if resource["path"] == path and method_of(resource):
                return resource, method_of(resource), None
        for resource in resources:
            if resource["path"].endswith("/{proxy+}") and method_of(resource):
                prefix = resource["path"][: -len("{proxy+}")]
                if path.startswith(prefix) and len(path) > len(prefix):
                    return resource, method_of(resource), path[len(prefix) :]
        return None

    # -- Lambda ----------------------------------------------------------------------------

    def invoke(self, function_arn: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run the function once, as Lambda would, from what the local Lambda holds."""
        configuration = self.aws.lambda_.get_function(FunctionName=function_arn)["Configuration"]
        package = self.packages.get(configuration["CodeSha256"])
        if package is None:
            return {"errorType": "UnknownCode", "errorMessage": "the function's code is no package of this rehearsal"}
        runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if configuration["Runtime"] != runtime:
            return {"errorType": "Runtime", "errorMessage": f"{configuration['Runtime']} cannot run on {runtime}"}
        task = self._unpack(configuration["CodeSha256"], package)
        request_id = str(uuid.uuid4())
        name = configuration["FunctionName"]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(task),
            "_HANDLER": configuration["Handler"],
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration["MemorySize"]),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **DUMMY_CREDENTIALS,
            # Its AWS calls go to the local AWS too.
            "AWS_ENDPOINT_URL": self.endpoint,
            **configuration.get("Environment", {}).get("Variables", {}),
            "REHEARSAL_FUNCTION_ARN": function_arn,
            "REHEARSAL_REQUEST_ID": request_id,
            "REHEARSAL_TIMEOUT": str(configuration["Timeout"]),
        }
        with tempfile.TemporaryDirectory(prefix="invoke-", dir=self.workdir) as tmp:
            event_path, out_path = Path(tmp) / "event.json", Path(tmp) / "out.json"
            event_path.write_text(json.dumps(event))
            command = [sys.executable, "-I", "-S", "-B", "-c", RUNTIME, str(task), configuration["Handler"]]
            try:
                process = subprocess.run(
                    [*command, str(event_path), str(out_path)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=configuration["Timeout"] + 5,
                )
            except subprocess.TimeoutExpired:
                return {"errorType": "TimedOut", "errorMessage": f"{name} ran past {configuration['Timeout']} s"}
            # What CloudWatch Logs would hold.
            with open(self.workdir / f"function-{name}.log", "a") as log:
                log.write(
                    f"START RequestId: {request_id}\n{process.stdout}{process.stderr}END RequestId: {request_id}\n"
                )
            if not out_path.exists():
                return {"errorType": "Runtime.ExitError", "errorMessage": process.stderr[-2000:]}
            return json.loads(out_path.read_text())

    def _unpack(self, sha: str, package: Path) -> Path:
        with self._lock:
            if sha not in self._unpacked:
                folder = self.workdir / f"task-{package.stem}"
                shutil.rmtree(folder, ignore_errors=True)
                with zipfile.ZipFile(package) as archive:
                    archive.extractall(folder)
                self._unpacked[sha] = folder
            return self._unpacked[sha]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _code_sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def _rest_api_event(
    *, api_id, stage, path, method, resource, proxy, host, query, headers, body, source_ip
) -> dict[str, Any]:
    """The REST API's Lambda proxy event (payload 1.0), with the headers API Gateway adds."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in [*headers, ("X-Forwarded-For", source_ip), ("X-Forwarded-Proto", "https")]:
        multi_headers.setdefault(name, []).append(value)
    multi_headers.setdefault("X-Forwarded-Port", ["443"])
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": resource["path"],
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": proxy} if proxy is not None else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": api_id,
            "domainName": host,
            "domainPrefix": api_id,
            "httpMethod": method,
            "identity": {"sourceIp": source_ip, "userAgent": dict(headers).get("User-Agent", "")},
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourceId": resource["id"],
            "resourcePath": resource["path"],
            "stage": stage,
        },
        "body": text or None,
        "isBase64Encoded": encoded,
    }


def _http_answer(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [
        (name, str(value)) for name, values in (response.get("multiValueHeaders") or {}).items() for value in values
    ]
    named = {name.lower() for name, _ in headers}
    headers += [
        (name, str(value)) for name, value in (response.get("headers") or {}).items() if name.lower() not in named
    ]
    body = response.get("body") or ""
    payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return int(response.get("statusCode", 200)), headers, payload


def _json_answer(status: int, body: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, gateway: LocalGateway):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.gateway = gateway


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _ProxyServer

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        match = API_HOST.fullmatch(host)
        if not match or port != "443" or match[2] != REGION:
            self.server.gateway.refused.append(self.path)
            self.send_error(403, "offline: only the local API Gateway answers")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        try:
            tls = self.server.gateway.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            _ApiHandler(tls, self.client_address, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.gateway.request(
            method=self.command,
            host=self.headers.get("Host", "").split(":")[0],
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _gateway_certificate(folder: Path, region: str) -> tuple[Path, Path, Path]:
    """A throwaway CA (valid for a day) and the certificate it signs for the API hosts.
    Returns the CA bundle, the certificate and its key (PEM files in ``folder``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ops-console deploy rehearsal CA")])
    host = f"*.execute-api.{region}.amazonaws.com"

    def builder(subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
        )

    ca = (
        builder(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certificate = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]), key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "gateway.pem", folder / "gateway-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


# --- the checks --------------------------------------------------------------------------------


def check_functions(findings: Findings, aws: Aws, functions: list[Function], context: dict[str, Any]) -> None:
    lambda_ = aws.lambda_
    account = context["account"]
    dropped_dead_letters = []
    for function in functions:
        config = function.config
        observed: dict[str, Any] = {"zappa_stage": function.zappa_stage}
        findings.observed.setdefault("functions", {})[function.name] = observed
        try:
            answer = lambda_.get_function(FunctionName=function.name)["Configuration"]
        except lambda_.exceptions.ResourceNotFoundException:
            findings.check(f"function {function.name} exists", ["not found"])
            continue
        role_arn = f"arn:aws:iam::{account}:role/{config['role_name']}"
        expected = {
            "runtime": config["runtime"],
            "handler": config["lambda_handler"],
            "timeout": config["timeout_seconds"],
            "memory": config["memory_size"],
            "role": role_arn,
            "architecture": config.get("architecture", "x86_64"),
            "reserved_concurrency": config.get("lambda_concurrency"),
        }
        concurrency = lambda_.get_function_concurrency(FunctionName=function.name)
        actual = {
            "runtime": answer["Runtime"],
            "handler": answer["Handler"],
            "timeout": answer["Timeout"],
            "memory": answer["MemorySize"],
            "role": answer["Role"],
            "architecture": (answer.get("Architectures") or ["x86_64"])[0],
            "reserved_concurrency": concurrency.get("ReservedConcurrentExecutions"),
        }
        observed.update(actual)
        findings.check(
            f"function {function.name} (zappa stage {function.zappa_stage}): {actual['runtime']}, "
            f"{actual['handler']}, {actual['timeout']} s, {actual['memory']} MB, {actual['architecture']}, role "
            f"{config['role_name']}, reserved concurrency {actual['reserved_concurrency'] or 'none'}",
            [
                f"{key} is {actual[key]}, settings say {value}"
                for key, value in expected.items()
                if actual[key] != value
            ],
        )

        package = context["packages"][function.zappa_stage]
        observed["code_sha256"] = answer["CodeSha256"]
        findings.check(
            f"function {function.name}: its code is {_shown(package)} (CodeSha256)",
            []
            if answer["CodeSha256"] == context["package_sha256"][function.zappa_stage]
            else ["its CodeSha256 is not the package's of step 3"],
        )

        variables = answer.get("Environment", {}).get("Variables", {})
        names = sorted(config.get("aws_environment_variables", {}))
        findings.check(
            f"function {function.name}: {len(names)} aws_environment_variables resolved from Secrets Manager and SSM "
            "at deploy (settings callback)",
            [
                f"{name} is {'missing' if name not in variables else 'not the stored value'}"
                for name in names
                if variables.get(name) != context["secret_values"][name]
            ],
        )

        dead_letter = answer.get("DeadLetterConfig", {}).get("TargetArn")
        if dead_letter is None and config.get("dead_letter_arn"):
            dropped_dead_letters.append(function.name)
        else:
            findings.check(
                f"function {function.name}: dead-letter queue {config.get('dead_letter_arn')}",
                [] if dead_letter == config.get("dead_letter_arn") else [f"is {dead_letter}"],
            )
    if dropped_dead_letters:
        findings.cannot(
            f"keep a function's DeadLetterConfig (moto drops the dead_letter_arn Zappa sent for "
            f"{', '.join(dropped_dead_letters)})",
            "dead-letter-config",
        )


def check_event_sources(findings: Findings, aws: Aws, functions: list[Function], context: dict[str, Any]) -> None:
    lambda_ = aws.lambda_
    arns = {
        function.name: f"arn:aws:lambda:{REGION}:{context['account']}:function:{function.name}"
        for function in functions
    }
    mappings = lambda_.get_paginator("list_event_source_mappings").paginate().build_full_result()["EventSourceMappings"]
    queues = {queue.rsplit("/", 1)[-1] for queue in aws.sqs.list_queues(MaxResults=1000).get("QueueUrls", [])}
    for function in functions:
        mine = [mapping for mapping in mappings if mapping["FunctionArn"] == arns[function.name]]
        findings.observed["functions"].setdefault(function.name, {})["mappings"] = [
            {
                "queue": mapping["EventSourceArn"],
                "batch_size": mapping["BatchSize"],
                "function_response_types": mapping.get("FunctionResponseTypes", []),
                "state": mapping.get("State"),
            }
            for mapping in mine
        ]
        wanted = {
            event["event_source"]["arn"]: (
                event["event_source"].get("batch_size", 10),
                "Enabled" if event["event_source"].get("enabled", True) else "Disabled",
            )
            for event in function.sqs_events
        }
        have = {mapping["EventSourceArn"]: (mapping["BatchSize"], mapping.get("State")) for mapping in mine}
        problems = [f"no mapping for {arn.rsplit(':', 1)[-1]}" for arn in wanted if arn not in have]
        problems += [f"{arn.rsplit(':', 1)[-1]} is not in the settings" for arn in have if arn not in wanted]
        problems += [
            f"{arn.rsplit(':', 1)[-1]}: batch size, state {have[arn]}, settings say {wanted[arn]}"
            for arn in wanted
            if arn in have and have[arn] != wanted[arn]
        ]
        if len(mine) != len(have):
            problems.append(f"{len(mine) - len(have)} queues have more than one mapping")
        problems += [
            f"queue {arn.rsplit(':', 1)[-1]} does not exist" for arn in wanted if arn.rsplit(":", 1)[-1] not in queues
        ]
        sizes = ", ".join(
            f"{count}× batch {size}" for size, count in sorted(Counter(b for b, _ in wanted.values()).items())
        )
        findings.check(
            f"function {function.name}: {len(wanted)} SQS event source mappings as in zappa_settings.json "
            f"({sizes or 'none'}, enabled), on existing queues, no other",
            problems,
        )
        without = [
            mapping["EventSourceArn"].rsplit(":", 1)[-1]
            for mapping in mine
            if REPORT_BATCH_ITEM_FAILURES not in mapping.get("FunctionResponseTypes", [])
        ]
        if mine or wanted:
            findings.check(
                f"function {function.name}: {REPORT_BATCH_ITEM_FAILURES} on every SQS mapping (post callback)",
                [f"not on {', '.join(without)}"] if without else [],
            )
    strays = sorted({mapping["FunctionArn"] for mapping in mappings} - set(arns.values()))
    findings.check("no event source mapping on any other function", [f"mappings on {strays}"] if strays else [])


def check_schedules(findings: Findings, aws: Aws, functions: list[Function], context: dict[str, Any]) -> None:
    lambda_ = aws.lambda_
    rules = aws.events.get_paginator("list_rules").paginate().build_full_result()["Rules"]
    targets = {
        rule["Name"]: [target["Arn"] for target in aws.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
        for rule in rules
    }
    by_name = {rule["Name"]: rule for rule in rules}
    arns = {
        function.name: f"arn:aws:lambda:{REGION}:{context['account']}:function:{function.name}"
        for function in functions
    }
    permission_errors = sum(run.output.count(ZAPPA_PERMISSION_ERROR) for run in context["zappa_runs"])
    for function in functions:
        arn = arns[function.name]
        try:
            policy = json.loads(lambda_.get_policy(FunctionName=function.name)["Policy"])
        except lambda_.exceptions.ClientError:
            policy = {"Statement": []}
        allowed = {
            statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            for statement in policy["Statement"]
            if statement.get("Principal", {}).get("Service") == "events.amazonaws.com"
            and statement.get("Action") == "lambda:InvokeFunction"
        }
        observed = []
        problems, unpermitted = [], []
        for name, event, expression, _index in function.schedules:
            rule = by_name.get(name)
            observed.append(
                {
                    "rule": name,
                    "function": event["function"],
                    "expression": rule and rule.get("ScheduleExpression"),
                    "state": rule and rule.get("State"),
                    "targets": targets.get(name, []),
                    "permission": bool(rule and rule["Arn"] in allowed),
                }
            )
            if rule is None:
                problems.append(f"no rule {name}")
                continue
            if rule.get("ScheduleExpression") != expression or rule.get("State") != "ENABLED":
                problems.append(
                    f"{name}: {rule.get('ScheduleExpression')} {rule.get('State')}, settings say {expression}"
                )
            if targets.get(name) != [arn]:
                problems.append(f"{name} targets {targets.get(name)}")
            if rule["Arn"] not in allowed:
                unpermitted.append(name)
        wanted_names = {name for name, *_ in function.schedules}
        strays = [name for name, arns_ in targets.items() if arn in arns_ and name not in wanted_names]
        problems += [f"rule {name} is not in the settings" for name in strays]
        findings.observed["functions"].setdefault(function.name, {})["schedules"] = observed
        expressions = ", ".join(
            f"{count}× {e}" for e, count in sorted(Counter(e for _, _, e, _ in function.schedules).items())
        )
        if function.schedules:
            what = (
                f"function {function.name}: {len(function.schedules)} EventBridge schedule rules named as Zappa "
                f"names them ({expressions}), each targeting it, no other"
            )
        else:
            what = f"function {function.name}: no EventBridge rule targets it (its settings have no schedule)"
        findings.check(what, problems)
        if function.schedules:
            detail = ""
            if permission_errors:
                detail = (
                    f'Zappa logged "{ZAPPA_PERMISSION_ERROR}" {permission_errors}× because moto answers AddPermission '
                    "with HTTP 200 where AWS answers 201; the statements are stored"
                )
            findings.check(
                f"function {function.name}: EventBridge may invoke it for each of its {len(function.schedules)} rules "
                "(resource policy)",
                [f"no permission for {', '.join(unpermitted)}"] if unpermitted else [],
                detail=detail,
            )
    if permission_errors:
        findings.cannot("answer AddPermission with HTTP 201 as AWS does (moto: 200)", "permission-201")


def check_api_gateway(findings: Findings, aws: Aws, functions: list[Function], context: dict[str, Any]) -> None:
    apigateway = aws.apigateway
    apis = apigateway.get_rest_apis(limit=500)["items"]
    integrated: dict[str, list[dict[str, Any]]] = {function.name: [] for function in functions}
    for api in apis:
        stages = [
            stage["stageName"]
            for stage in apigateway.get_stages(restApiId=api["id"])["item"]
            if stage.get("deploymentId")
        ]
        summary = {
            "id": api["id"],
            "name": api["name"],
            "stages": stages,
            "binary_media_types": api.get("binaryMediaTypes", []),
        }
        for resource in apigateway.get_resources(restApiId=api["id"], limit=500)["items"]:
            for method in resource.get("resourceMethods", {}):
                uri = apigateway.get_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod=method).get(
                    "uri", ""
                )
                for function in functions:
                    if (
                        uri.endswith(f":function:{function.name}/invocations")
                        and summary not in integrated[function.name]
                    ):
                        integrated[function.name].append(summary)
    for function in functions:
        found = integrated[function.name]
        findings.observed["functions"].setdefault(function.name, {})["rest_apis"] = found
        if function.config.get("apigateway_enabled", True):
            problems = [] if len(found) == 1 else [f"{len(found)} REST APIs integrate it"]
            problems += [
                f"{api['name']} is not deployed to stage {function.zappa_stage}"
                for api in found
                if function.zappa_stage not in api["stages"]
            ]
            findings.check(
                f"API Gateway: REST API {function.name} proxies every path to function {function.name}, "
                f"deployed to stage {function.zappa_stage}",
                problems,
            )
            if found and function.config.get("binary_support", True):
                types = [t for api in found for t in api["binary_media_types"]]
                if "*/*" in types:
                    findings.check(f"API Gateway: REST API {function.name} passes binary bodies (*/*)", [])
                elif types == [""]:
                    findings.cannot(
                        "apply Zappa's binaryMediaTypes patch (add /binaryMediaTypes/*~1*: moto stores an empty "
                        "type instead of */*)",
                        "binary-media-types",
                    )
                else:
                    findings.check(
                        f"API Gateway: REST API {function.name} passes binary bodies (*/*)", [f"types {types}"]
                    )
        else:
            findings.check(
                f"API Gateway: no REST API for function {function.name} (apigateway_enabled false)",
                [f"integrated by {[api['name'] for api in found]}"] if found else [],
            )


def check_post_deploy_request(findings: Findings, functions: list[Function], context: dict[str, Any]) -> None:
    gateway: LocalGateway = context["gateway"]
    findings.observed["gateway_requests"] = gateway.served
    findings.observed["refused_connections"] = gateway.refused
    api_functions = [function for function in functions if function.config.get("apigateway_enabled", True)]
    for function in api_functions:
        if not function.config.get("touch", True):
            continue
        requests = [request for request in gateway.served if request["function"] == function.name]
        answers = ", ".join(f"{r['method']} {urlsplit(r['url']).path or '/'} → {r['status']}" for r in requests)
        run = next(run for run in context["zappa_runs"] if run.zappa_stage == function.zappa_stage)
        problems = [] if requests else ["Zappa's request never reached the gateway"]
        problems += [
            f"{r['url']} answered {r['status']} ({r.get('error', '')})" for r in requests if r["status"] >= 500
        ]
        findings.check(
            f"zappa deploy {function.zappa_stage}: its check of the new API ({answers or 'no request'}), "
            f"answered by the deployed code of {function.name} with its configuration",
            problems if run.returncode == 0 or problems else ["zappa deploy failed"],
        )
    if api_functions:
        findings.cannot(
            "run a Lambda function (moto needs Docker) nor serve an execute-api host: Zappa's post-deploy request "
            "went to the rehearsal's gateway, which ran the function's package with its configuration; "
            "SQS and schedule deliveries are not rehearsed",
            "invoke",
        )


def check_role(findings: Findings, aws: Aws, functions: list[Function], template: dict[str, Any]) -> None:
    role_names = {function.config["role_name"] for function in functions}
    resources = template["Resources"]
    declared = {
        resource["Properties"]["PolicyName"]: resource["Properties"]["PolicyDocument"]
        for resource in resources.values()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": "FunctionRole"} in resource["Properties"].get("Roles", [])
    }
    trust = resources["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"]
    principals = sorted(
        {service for statement in trust["Statement"] for service in _as_list(statement["Principal"]["Service"])}
    )
    for role_name in sorted(role_names):
        try:
            role = aws.iam.get_role(RoleName=role_name)["Role"]
        except aws.iam.exceptions.NoSuchEntityException:
            findings.check(f"role {role_name} exists (infra/template.yaml FunctionRole)", ["not found"])
            continue
        problems = []
        document = role["AssumeRolePolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        trusted = sorted(
            {s for statement in document["Statement"] for s in _as_list(statement["Principal"].get("Service", []))}
        )
        if trusted != principals:
            problems.append(f"trusts {trusted}, the template {principals}")
        names = aws.iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        if sorted(names) != sorted(declared):
            problems.append(f"policies {sorted(names)}, the template {sorted(declared)}")
        for name in set(names) & set(declared):
            stored = aws.iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            stored = json.loads(stored) if isinstance(stored, str) else stored
            if _statements(stored) != _statements(declared[name]):
                problems.append(f"policy {name}'s statements differ from the template's")
        findings.observed.setdefault("roles", {})[role_name] = {"trusted": trusted, "policies": sorted(names)}
        findings.check(
            f"role {role_name}: trusted by {', '.join(principals)}, with the template's {len(declared)} policies "
            f"({', '.join(sorted(declared))}), same statements and actions",
            problems,
        )
    findings.cannot("enforce the role's policies (moto does not evaluate IAM)", "iam")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> dict[str, list[str]]:
    return {statement.get("Sid", ""): sorted(_as_list(statement["Action"])) for statement in document["Statement"]}


def check_stacks(findings: Findings, aws: Aws, functions: list[Function], context: dict[str, Any]) -> None:
    infra_name = context["infra_stack"]
    before, after = context["infra_before"], stack_snapshot(aws, infra_name)
    queues = [
        logical_id
        for logical_id, resource in context["template"]["Resources"].items()
        if resource["Type"] == "AWS::SQS::Queue"
    ]
    stacks = {infra_name: after}
    problems = []
    if after is None:
        problems.append("it is gone")
    else:
        if after["template_sha256"] != before["template_sha256"] or after["last_updated"] != before["last_updated"]:
            problems.append(f"it was updated during the Zappa deploys ({after['status']})")
        if after["status"] not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
            problems.append(f"status {after['status']}")
        if len(after["queues"]) != len(queues) or after["queues"] != before["queues"]:
            problems.append(f"holds {len(after['queues'])} queues, the template {len(queues)}")
        existing = {url.rsplit("/", 1)[-1] for url in aws.sqs.list_queues(MaxResults=1000).get("QueueUrls", [])}
        problems += [f"queue {name} is gone" for name in after["queues"] if name not in existing]
    api_names = [function.name for function in functions if function.config.get("apigateway_enabled", True)]
    for name in {function.name for function in functions}:
        stacks[name] = stack_snapshot(aws, name)
    if infra_name in {function.name for function in functions}:
        problems.append("it has the name Zappa gives a function's own stack")
    findings.check(
        f"stack {infra_name} still holds its {len(queues)} queues, unchanged by the Zappa deploys "
        f"(Zappa's stacks are named after the functions: {', '.join(api_names)})",
        problems,
    )
    for function in functions:
        zappa_stack = stacks[function.name]
        if function.config.get("apigateway_enabled", True):
            findings.check(
                f"stack {function.name}: Zappa's API Gateway stack (ZappaProject tag, a RestApi) beside the "
                "resources stack",
                []
                if zappa_stack
                and zappa_stack["tags"].get("ZappaProject") == function.name
                and "AWS::ApiGateway::RestApi" in zappa_stack["resource_types"]
                else [f"found {zappa_stack and {k: zappa_stack[k] for k in ('tags', 'resource_types')}}"],
            )
        else:
            findings.check(
                f"no stack {function.name} (no API Gateway for the worker)",
                [f"found {zappa_stack}"] if zappa_stack else [],
            )
    findings.observed["stacks"] = stacks


def check_zappa_runs(findings: Findings, context: dict[str, Any]) -> None:
    for run in context["zappa_runs"]:
        unexplained = [line for line in run.errors if ZAPPA_PERMISSION_ERROR not in line]
        problems = [f"exit code {run.returncode}: {run.output.strip().splitlines()[-1:]}"] if run.returncode else []
        problems += unexplained
        if run.returncode == 0 and "Deployment complete" not in run.output:
            problems.append("no 'Deployment complete'")
        findings.check(
            f"zappa deploy {run.zappa_stage} completed ({run.seconds:.1f} s), no error but the known AddPermission one",
            problems,
        )


# --- the rehearsal -----------------------------------------------------------------------------


def rehearse(*, stage: str = "dev", build: bool = True, keep: bool = False, say=print) -> Findings:
    """Run the documented deploy against a local AWS this call starts, and check the result.

    Points this process's AWS environment at the local AWS (run it in a process of its
    own). ``build=False`` deploys the packages ``make package`` left in ``.lambda/``.
    ``keep`` leaves the local AWS running until Ctrl-C.
    """
    started = time.monotonic()
    findings = Findings(stage=stage)
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    functions = stage_functions(stage)
    template = infra.load_template()
    moto, endpoint = start_local_aws(WORKDIR)
    findings.endpoint = endpoint
    gateway = None
    try:
        point_at(endpoint)
        aws = Aws(endpoint)
        account = aws.sts.get_caller_identity()["Account"]
        say(f"Rehearsing the documented deploy of stage {stage} against a local AWS at {endpoint} (account {account})")

        def step(text: str) -> None:
            findings.steps.append(text)
            say(text)

        # 1. The resources stack.
        infra_stack = infra.infra_stack_name(stage=stage)
        began = time.monotonic()
        # Mail goes out as the stage's DEFAULT_FROM_EMAIL, its domain the SES identity.
        mail_from = functions[0].config["environment_variables"]["DEFAULT_FROM_EMAIL"]
        mail_identity = infra.mail_domain(mail_from)
        infra.deploy(
            endpoint_url=endpoint,
            region=REGION,
            stage=stage,
            alert_email=ALERT_EMAIL,
            mail_from_address=mail_from,
            mail_identity=mail_identity,
        )
        infra_before = stack_snapshot(aws, infra_stack)
        step(
            f"step 1: stack {infra_stack} deployed with Stage={stage} AlertEmail={ALERT_EMAIL} "
            f"MailIdentity={mail_identity} MailFromAddress={mail_from} "
            f"({sum(infra_before['resource_types'].values())} resources by CloudFormation, "
            f"{time.monotonic() - began:.1f} s)"
        )
        step(
            f"        local AWS could not: {', '.join(applied_outside_the_stack(template))} "
            f"(applied with API calls; {COVERED['outside-stack']})"
        )

        # 2. The secrets.
        secret_values, calls = create_secrets(aws, functions)
        step(f"step 2: secrets with throwaway values: {'; '.join(calls)}")

        # 3. The packages.
        packages = {function.zappa_stage: packaging.package_path(function.zappa_stage) for function in functions}
        began = time.monotonic()
        if build:
            build_log = WORKDIR / "make-package.log"
            with build_log.open("w") as log:
                # The local gateway runs the packages on this machine: built for its
                # architecture, while the functions are configured with the stage's.
                result = subprocess.run(
                    ["make", "package", f"STAGE={stage}", f"ARCHITECTURE={packaging.host_architecture()}"],
                    cwd=ROOT,
                    env={**os.environ, "ZAPPA_ACCOUNT_ID": account},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if result.returncode:
                raise SystemExit(f"make package failed: {build_log.read_text()[-3000:]}")
            how = (
                f"ZAPPA_ACCOUNT_ID={account} make package STAGE={stage} ARCHITECTURE={packaging.host_architecture()} "
                f"(this machine's, to run here): {time.monotonic() - began:.0f} s"
            )
        else:
            missing = [str(path) for path in packages.values() if not path.exists()]
            if missing:
                raise SystemExit(f"no package at {', '.join(missing)}: run make package")
            how = "built before, by make package"
        sizes = ", ".join(f"{_shown(path)} ({path.stat().st_size / 1024 / 1024:.1f} MB)" for path in packages.values())
        step(f"step 3: packages {sizes} ({how})")
        # The gateway runs the code the local Lambda reports, from copies: .lambda/ is shared.
        copies = [Path(shutil.copy(path, WORKDIR / path.name)) for path in packages.values()]
        package_sha256 = {name: _code_sha256(path) for name, path in zip(packages, copies, strict=True)}

        # 4. zappa deploy, API function first (as documented).
        gateway = LocalGateway(aws, endpoint=endpoint, packages=copies, workdir=WORKDIR).start()
        runs = []
        for function in functions:
            run = zappa_deploy(function, packages[function.zappa_stage], gateway=gateway, workdir=WORKDIR)
            runs.append(run)
            step(
                f"step 4: {' '.join(['zappa', *run.command[1:]])}: exit code {run.returncode} in {run.seconds:.1f} s "
                f"(output: {run.log.relative_to(ROOT)})"
            )
        if gateway.refused:
            step(
                f"        Zappa also tried {', '.join(sorted(set(gateway.refused)))} "
                "(refused: the rehearsal is offline)"
            )

        context = {
            "account": account,
            "packages": packages,
            "package_sha256": package_sha256,
            "secret_values": secret_values,
            "zappa_runs": runs,
            "gateway": gateway,
            "infra_stack": infra_stack,
            "infra_before": infra_before,
            "template": template,
        }
        check_zappa_runs(findings, context)
        check_functions(findings, aws, functions, context)
        check_event_sources(findings, aws, functions, context)
        check_schedules(findings, aws, functions, context)
        check_api_gateway(findings, aws, functions, context)
        check_post_deploy_request(findings, functions, context)
        check_role(findings, aws, functions, template)
        check_stacks(findings, aws, functions, context)
        findings.seconds = round(time.monotonic() - started, 1)
        report(findings, functions, say)
        if keep:
            say(f"The local AWS stays at {endpoint} (export AWS_ENDPOINT_URL={endpoint}); Ctrl-C stops it.")
            _wait_for_interrupt()
    finally:
        if gateway is not None:
            gateway.stop()
        devstack.stop_process(moto)
    return findings


def report(findings: Findings, functions: list[Function], say=print) -> None:
    observed = findings.observed.get("functions", {})
    mappings = sum(len(observed.get(function.name, {}).get("mappings", [])) for function in functions)
    rules = sum(len(observed.get(function.name, {}).get("schedules", [])) for function in functions)
    apis = [
        f"{api['name']} ({api['id']})"
        for function in functions
        for api in observed.get(function.name, {}).get("rest_apis", [])
    ]
    say(
        f"Created: functions {', '.join(function.name for function in functions)}; {mappings} SQS event source "
        f"mappings; {rules} schedule rules; REST API {', '.join(apis) or 'none'}; "
        f"stacks {', '.join(name for name, stack in findings.observed.get('stacks', {}).items() if stack)}."
    )
    say("Checks:")
    for check in findings.checks:
        say(f"  {check.line()}")
    counts = Counter(check.status for check in findings.checks)
    say(
        f"{counts[OK]} ok, {counts[FAILED]} failed, {counts[CANNOT]} the local AWS cannot do (covered by the tests "
        f"named); {findings.seconds:.0f} s."
    )


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rehearse the documented deploy against a local AWS, and check it.")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--keep", action="store_true", help="leave the local AWS running afterwards (Ctrl-C stops it)")
    parser.add_argument(
        "--use-packages",
        action="store_true",
        help="deploy the packages make package left in .lambda/ (no step 3 build)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the findings to this file")
    args = parser.parse_args(argv)
    findings = rehearse(stage=args.stage, build=not args.use_packages, keep=args.keep)
    if args.json:
        args.json.write_text(json.dumps(findings.as_dict(), indent=2, default=str))
    sys.exit(1 if findings.failed else 0)


if __name__ == "__main__":
    main()
