"""Local development: SQLite and the local moto server unless told otherwise."""

import os

from .base import *  # noqa: F403
from .base import content_security_policy, env, env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env("DJANGO_SECRET_KEY") or "dev-only-not-secret"
AWS_ENDPOINT_URL = env("AWS_ENDPOINT_URL") or "http://127.0.0.1:5000"
# Thumbnails are presigned URLs of the local AWS.
SECURE_CSP = content_security_policy(AWS_ENDPOINT_URL)

# The local AWS accepts any credentials; libraries that build their own sessions
# (kombu, boto3 default session) need some to be present.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

# The console served as API Gateway serves the API function, counted in AWS/ApiGateway
# and AWS/Lambda metrics as AWS counts it (console/devtools/api_gateway.py).
WSGI_APPLICATION = "console.devtools.api_gateway.application"

# Mail is printed to the console; the stack tests set MAIL_BACKEND to SES's (console.aws.ses),
# which sends to the local AWS.
MAILERS = {"default": {"BACKEND": env("MAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")}}

# Failure drills of the order saga (its compensations) are allowed locally.
SAGA_FAILURE_DRILLS = env_bool("SAGA_FAILURE_DRILLS", True)

# Webhook receivers on this machine speak plain HTTP.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", True)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", True)
