"""Lambda events for tests, built from the real AWS samples in tests/aws_events (REST
API, SQS, S3) and from the shapes AWS documents for the others (HTTP API and function URL
payload 2.0, EventBridge schedules as Zappa configures them)."""

import copy
import uuid
from typing import Any

from tests.aws_samples import aws_event

API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
FUNCTION_URL_HOST = "xyz789.lambda-url.us-east-1.on.aws"


def sample(name: str) -> dict[str, Any]:
    return aws_event(name)


def rest_api_event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """API Gateway REST API (proxy integration, payload 1.0) through the stage's domain."""
    event = sample("apigw-rest-proxy.json")
    headers = {"Host": API_HOST, "X-Forwarded-Proto": "https", **(headers or {})}
    event.update(
        resource="/{proxy+}",
        path=path,
        httpMethod=method,
        headers=headers,
        multiValueHeaders={key: [value] for key, value in headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={key: [value] for key, value in query.items()} if query else None,
        pathParameters={"proxy": path.lstrip("/")},
        body=body,
        isBase64Encoded=False,
    )
    event["requestContext"].update(
        httpMethod=method, path=f"/dev{path}", resourcePath="/{proxy+}", stage="dev", requestId=str(uuid.uuid4())
    )
    return event


def _payload_v2(method: str, path: str, host: str, stage: str, headers, body, query) -> dict[str, Any]:
    headers = {"host": host, "x-forwarded-proto": "https", **{k.lower(): v for k, v in (headers or {}).items()}}
    raw_query = "&".join(f"{key}={value}" for key, value in (query or {}).items())
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "queryStringParameters": query,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": host.split(".", 1)[0],
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": stage,
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def http_api_event(method: str, path: str, *, headers=None, body=None, query=None) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) on its default stage."""
    return _payload_v2(method, path, API_HOST, "$default", headers, body, query)


def function_url_event(method: str, path: str, *, headers=None, body=None, query=None) -> dict[str, Any]:
    """Lambda function URL (payload 2.0)."""
    return _payload_v2(method, path, FUNCTION_URL_HOST, "$default", headers, body, query)


def sqs_event(queue_arn: str, bodies: list[str] | None = None) -> dict[str, Any]:
    """An SQS batch from the sample; ``bodies`` replace the sample's message bodies (one
    record each, new message ids)."""
    event = sample("sqs-batch.json")
    if bodies is not None:
        template = event["Records"][0]
        event["Records"] = [
            {**copy.deepcopy(template), "messageId": str(uuid.uuid4()), "body": body, "messageAttributes": {}}
            for body in bodies
        ]
    for record in event["Records"]:
        record["eventSourceARN"] = queue_arn
        record["awsRegion"] = queue_arn.split(":")[3]
    return event


def s3_event(bucket: str | None = None, key: str | None = None) -> dict[str, Any]:
    event = sample("s3-object-created.json")
    record = event["Records"][0]
    if bucket:
        record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    if key:
        record["s3"]["object"]["key"] = key
    return event


def schedule_event(rule_name: str, kwargs: dict | None = None) -> dict[str, Any]:
    """What EventBridge sends for a rule Zappa scheduled (its input template)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule_name}"],
        "detail": {},
        "kwargs": kwargs or {},
    }
