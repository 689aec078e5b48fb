"""AWS clients: built when first needed, reused on warm invocations.

Every client honours ``settings.AWS_ENDPOINT_URL`` (the local moto server in development),
so local mode is a setting, not a code path.
"""

from functools import cache
from typing import Any

from django.conf import settings


def _service_config(service_name: str, endpoint_url: str | None) -> Any:
    # botocore is imported on first use: most cold starts (API reads) never call AWS.
    from botocore.config import Config

    # Explicit timeouts: a Lambda invocation must not hang on a slow endpoint until its
    # own timeout. Standard retry mode backs off on throttling and transient 5xx answers.
    config = Config(
        connect_timeout=3,
        read_timeout=25,  # above SQS long polling's 20 s
        retries={"mode": "standard", "max_attempts": 3},
    )
    if service_name == "apigatewaymanagementapi":
        # A push waits for nobody: a client that is slow to take it is tried again from the
        # queue, not held here.
        return config.merge(Config(read_timeout=5))
    if service_name == "s3":
        # Presigned URLs and POST forms signed with signature v4 (botocore still signs some
        # presigned S3 requests with v2 by default); a local endpoint is an IP address, so
        # buckets go in the path there.
        return config.merge(
            Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint_url else "auto"})
        )
    return config


@cache
def _client(service_name: str, endpoint_url: str | None, region_name: str) -> Any:
    import boto3

    return boto3.session.Session().client(
        service_name,
        endpoint_url=endpoint_url,
        region_name=region_name,
        config=_service_config(service_name, endpoint_url),
    )


def client(service_name: str) -> Any:
    """The shared client for ``service_name`` at the configured endpoint and region."""
    return _client(service_name, settings.AWS_ENDPOINT_URL, settings.AWS_REGION)


def client_at(service_name: str, endpoint_url: str) -> Any:
    """The shared client for ``service_name`` at an endpoint of its own (an API Gateway
    WebSocket API's management endpoint: one per API and stage)."""
    return _client(service_name, endpoint_url, settings.AWS_REGION)


def reset_clients() -> None:
    """Forget cached clients (after the endpoint changes, e.g. in tests)."""
    _client.cache_clear()


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")
