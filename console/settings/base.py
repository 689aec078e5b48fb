"""Settings shared by every environment, driven by environment variables.

Environment modules (dev, test, production) import this and change only what differs.
"""

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "console.apps.KnoxConfig",
    "drf_spectacular",
    # The second factor (TOTP, console.platform.two_factor) before the console, whose admin module
    # replaces django-otp's device admin.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "console.apps.ConsoleConfig",
    "orders",
    "workflows",
    "media",
    "realtime",
    "django_filters",
    "corsheaders",
    "drf_spectacular_sidecar",
    "console.apps.AxesConfig",
    "ops",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "console.platform.context.RequestIdMiddleware",
    # Django's, except that a live page's poll leaves the session alone (console.platform.live).
    "console.platform.live.SessionMiddleware",
    # CORS answers preflights before anything else handles the request.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "console.platform.access.ConsoleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Inside messages and the session: a live poll's page becomes its region (console.pages.live).
    "console.pages.live.LiveRegionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Login throttling goes last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The console's own templates come first, so its overrides of admin and
        # drf-spectacular pages (admin/base_site.html, drf_spectacular/swagger_ui.html) win.
        "DIRS": [BASE_DIR / "console" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# SQLite by default; DATABASE_URL (postgres://...) for PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several local processes (web, worker, consumer) share one file: wait for the write
    # lock instead of failing, and take it at BEGIN so read-then-write cannot deadlock.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "admin:login"

# Outgoing mail (approval requests, export links, notifications): Amazon SES's API with the
# function's own role (console.aws.ses; no SMTP password to store). Development prints mail to
# the console, tests keep it in memory.
MAILERS = {"default": {"BACKEND": env("MAIL_BACKEND", "console.aws.ses.EmailBackend")}}
# The sender of every mail: an address of the stage's SES identity (the stack's MailIdentity),
# the only one its role may send from (MailFromAddress).
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "ops-console@localhost")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.api.rest.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["console.api.rest.ModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser with a nesting limit (a deep body is a 400, not a RecursionError).
    "DEFAULT_PARSER_CLASSES": ["console.api.rest.JSONParser"],
    "EXCEPTION_HANDLER": "console.api.rest.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": False,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Operations console API",
    "DESCRIPTION": "Orders, approvals and operations of the serverless operations console.",
    "VERSION": "1.0.0",
}

# API tokens are hashed at rest; service clients keep them until revoked.
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
}

# --- AWS -------------------------------------------------------------------------------
# Read at call time by console.aws.clients and console.aws.resources, never at import in app code.
AWS_ENDPOINT_URL = env("AWS_ENDPOINT_URL") or None
AWS_REGION = env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1"
STAGE = env("STAGE", "dev")
RESOURCE_PREFIX = env("RESOURCE_PREFIX", "ops-console")
# The resources stack (infra/template.yaml); not "<prefix>-<stage>", which Zappa gives the
# API function's own stack (infra.deploy.infra_stack_name).
STACK_NAME = env("STACK_NAME") or f"{RESOURCE_PREFIX}-{STAGE}-infra"
# Explicit ARN wins (set by the deployment); otherwise it is looked up by name once.
ORDER_STATE_MACHINE_ARN = env("ORDER_STATE_MACHINE_ARN") or None

# --- Workflow policy --------------------------------------------------------------------
# Sent in each execution's input ("policy"); the definition reads them with
# TimeoutSecondsPath / SecondsPath, so they can change without redeploying the definition.
WORKFLOW_APPROVAL_TIMEOUT_SECONDS = env_int("WORKFLOW_APPROVAL_TIMEOUT_SECONDS", 7 * 24 * 3600)
WORKFLOW_INVENTORY_RECHECK_SECONDS = env_int("WORKFLOW_INVENTORY_RECHECK_SECONDS", 300)
# Orders whose total exceeds this fail validation in the workflow.
ORDER_VALIDATION_MAX_TOTAL = env("ORDER_VALIDATION_MAX_TOTAL", "1000000")
# Where the SendNotification step mails shipped orders ('' sends nothing).
ORDER_NOTIFICATION_EMAIL = env("ORDER_NOTIFICATION_EMAIL", "")

# --- Workflow starts (workflows.starts) ------------------------------------------------------
# Step Functions' StartExecution quota for standard workflows is a token bucket per account
# and region: 1,300 calls refilled at 300 a second in us-east-1, us-west-2 and eu-west-1
# (800 and 150 elsewhere). Every start of the stage (the batched starter and single starts)
# takes a token from one bucket in the database at this rate, holding a tenth of a second:
# never above the quota. Other stages or tools starting executions in the same account and
# region share the quota: give each a part.
WORKFLOW_STARTS_PER_SECOND = env_int("WORKFLOW_STARTS_PER_SECOND", 300)
# StartExecution calls in flight at once: AWS answers in tens of milliseconds, so 300 a
# second need several (the local engine is CPU-bound: more do not help it).
WORKFLOW_START_PARALLELISM = env_int("WORKFLOW_START_PARALLELISM", 8)
# Start requests waiting longer than this count in OpsConsole/WorkflowStartBacklog (the
# workflow-start-backlog alarm); they normally wait a second or two.
WORKFLOW_START_BACKLOG_SECONDS = env_int("WORKFLOW_START_BACKLOG_SECONDS", 60)

# --- Celery (SQS broker) ------------------------------------------------------------------
CELERY_TASK_DEFAULT_QUEUE = "jobs"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Approvals and workflow operations -------------------------------------------------------
# Orders whose total is above this need two approvals by two different operators.
APPROVAL_FOUR_EYES_ABOVE = env("APPROVAL_FOUR_EYES_ABOVE", "5000")
# Sent in the execution input (policy.approvalHeartbeatSeconds, read by HeartbeatSecondsPath):
# the approval task fails early if the console stops holding it; the sweep beats meanwhile.
WORKFLOW_APPROVAL_HEARTBEAT_SECONDS = env_int("WORKFLOW_APPROVAL_HEARTBEAT_SECONDS", 3600)
# Approval emails: who is told (operators with the decide permission and an address), the
# console's public address for the links, and how long a link stays valid at most.
APPROVAL_EMAILS = env_bool("APPROVAL_EMAILS", True)
CONSOLE_BASE_URL = env("CONSOLE_BASE_URL", "http://127.0.0.1:8000")
APPROVAL_LINK_MAX_AGE_SECONDS = env_int("APPROVAL_LINK_MAX_AGE_SECONDS", 7 * 24 * 3600)
# At most this many approvals in one bulk approve (each is one Step Functions call).
APPROVAL_BULK_MAX = env_int("APPROVAL_BULK_MAX", 50)
# Failure drills exercise the compensations: the order saga's (execution input "drill":
# {"failAt": STEP}) and order processing's (an execution's drill_fail_at); off in
# production unless asked for.
SAGA_FAILURE_DRILLS = env_bool("SAGA_FAILURE_DRILLS", False)

# --- REST API for clients, login throttling, order events -----------------------------------

AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "console.platform.auth_backend.ModelBackend"]

# Per API client (token user; source IP when anonymous): 50 requests/s with bursts of 100
# by default. The bucket lives in the database, the one thing every Lambda instance shares
# (see console/api/throttling.py).
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["console.api.throttling.ClientRateThrottle"]
API_THROTTLE_RATE = float(env("API_THROTTLE_RATE", "50"))
API_THROTTLE_BURST = env_int("API_THROTTLE_BURST", 100)
# How long a POST's Idempotency-Key is remembered.
IDEMPOTENCY_KEY_TTL_SECONDS = env_int("IDEMPOTENCY_KEY_TTL_SECONDS", 24 * 3600)

# Browsers may call the API only from these origins (none unless configured).
CORS_ALLOWED_ORIGINS = env_list("API_CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "idempotency-key", "x-request-id"]
CORS_EXPOSE_HEADERS = ["Location", "Retry-After", "X-Request-ID", "Idempotent-Replayed"]
CORS_ALLOW_CREDENTIALS = False  # bearer tokens, never cookies, cross-origin

# OpenAPI schema and docs, with the docs' JavaScript and CSS served by us (no CDN).
SPECTACULAR_SETTINGS.update(
    {
        "SERVE_INCLUDE_SCHEMA": False,
        "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
        "SCHEMA_PATH_PREFIX": r"/api",
        "COMPONENT_SPLIT_REQUEST": True,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        # Our generator makes the views' deferred @extend_schema decorations and registers
        # our extensions (the bearer scheme): nothing on the request path imports
        # drf-spectacular's generator machinery (console.api.openapi).
        "DEFAULT_GENERATOR_CLASS": "console.api.schema.SchemaGenerator",
        # Status enums named by their model: several components carry a "status" field.
        "ENUM_NAME_OVERRIDES": {
            "ExecutionStatusEnum": "workflows.models.Execution.Status",
            "MediaAssetStatusEnum": "media.models.MediaAsset.Status",
        },
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "console.api.schema.add_common_problem_responses",
            # 400/404/406/415/502/503 in the problem shape wherever the framework can answer them.
            "console.api.openapi.add_error_responses",
        ],
    }
)

# Console login: after 5 failures for one username from one address, that username is
# locked out from that address for 15 minutes. Keyed on the pair: colleagues behind the
# same NAT are not locked out by one person's typos, and a success resets only its own
# pair's count (axes deletes the attempts matching the lockout parameters), never another
# account's. Attempts are kept in the database, so every Lambda instance sees the same count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "console.platform.access.client_ip"
AXES_LOCKOUT_CALLABLE = "console.platform.access.lockout_response"
AXES_ENABLE_ADMIN = False  # the console registers its own, audited, lockout page
AXES_VERBOSE = False

# Order events (the outbox): published to SNS after each commit and by the schedule.
ORDER_EVENTS_TOPIC_ARN = env("ORDER_EVENTS_TOPIC_ARN") or None
ORDER_EVENTS_PUBLISH_ON_COMMIT = env_bool("ORDER_EVENTS_PUBLISH_ON_COMMIT", True)
# Console order list: counts above this many rows are PostgreSQL's estimate, not COUNT(*).
CONSOLE_EXACT_COUNT_LIMIT = env_int("CONSOLE_EXACT_COUNT_LIMIT", 10000)

# --- Dead-letter queues and alarms (ops) ----------------------------------------------------
# Redrive defaults; a job may ask for its own rate (messages/s) and parallelism within the caps.
OPS_REDRIVE_DEFAULT_RATE = env_int("OPS_REDRIVE_DEFAULT_RATE", 0)  # 0: no limit
OPS_REDRIVE_MAX_PARALLELISM = env_int("OPS_REDRIVE_MAX_PARALLELISM", 8)
# The stage's alarms are those whose names start with this (default: "<prefix>-<stage>-").
OPS_ALARM_PREFIX = env("OPS_ALARM_PREFIX", "")
# The CloudWatch namespace of the dead-letter depth metric the DLQ alarms watch.
OPS_METRIC_NAMESPACE = env("OPS_METRIC_NAMESPACE", "OpsConsole")
# How long discovered queues and their SQS depths are reused before asking SQS again.
OPS_DISCOVERY_CACHE_SECONDS = env_int("OPS_DISCOVERY_CACHE_SECONDS", 60)
# How long a chart's points (CloudWatch GetMetricData, billed per metric read) are reused.
CHART_CACHE_SECONDS = env_int("CHART_CACHE_SECONDS", 60)

# --- What the stage costs (ops.costs) -------------------------------------------------------
# List prices in USD, per region ("default": any region without its own entry; a region's
# entry replaces only the prices it names). Lambda's are the seed's §10 table: $0.20 per
# million requests and $0.0000000167 per ms at 1,024 MB, i.e. $0.0000166667 per GB-second
# on x86_64; arm64 (Graviton2) about 20 % less, as AWS lists it. The others are AWS's
# us-east-1 list prices (the seed gives none): Step Functions standard workflows per state
# transition, SQS standard queues per request, S3 Standard per GB-month and per request,
# API Gateway REST APIs per request. The free tier (per account, not per stage) is not
# subtracted. COST_PRICES_JSON (a JSON object of the same shape) changes or adds entries.
COST_PRICES: dict[str, dict[str, Any]] = {
    "default": {
        "lambda_requests_per_million": 0.20,
        "lambda_gb_second": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
        "states_transitions_per_thousand": 0.025,
        "sqs_requests_per_million": 0.40,
        "s3_gb_month": 0.023,
        "s3_put_copy_post_list_per_thousand": 0.005,
        "s3_get_and_other_per_thousand": 0.0004,
        "apigateway_requests_per_million": 3.50,
    },
}
for _region, _prices in json.loads(env("COST_PRICES_JSON") or "{}").items():
    COST_PRICES[_region] = {**COST_PRICES.get(_region, {}), **_prices}
# How long the cost page's figures (some 100 metrics read with GetMetricData) are reused.
COST_CACHE_SECONDS = env_int("COST_CACHE_SECONDS", 900)
# Step Functions bills standard workflows per state transition, which CloudWatch does not
# count per state machine: the page counts them in this many recent finished executions'
# histories and scales by AWS/States ExecutionsStarted.
COST_TRANSITION_SAMPLE = env_int("COST_TRANSITION_SAMPLE", 20)
# Subscribed to the stage's alert topic by `manage.py deploy_infra` (empty: nobody is).
ALERT_EMAIL = env("ALERT_EMAIL", "")

# --- Media and CSV ingestion -------------------------------------------------------------
# The stage's files bucket (infra: FilesBucket). Empty: derived from the naming rule
# <prefix>-<stage>-files-<account id>, the account read once from STS.
FILES_BUCKET = env("FILES_BUCKET", "")
# Presigned POST uploads: how long the form is valid, and the limits its policy enforces.
UPLOAD_URL_EXPIRES_SECONDS = env_int("UPLOAD_URL_EXPIRES_SECONDS", 900)
MEDIA_UPLOAD_MAX_BYTES = env_int("MEDIA_UPLOAD_MAX_BYTES", 25 * 1024 * 1024)
CSV_UPLOAD_MAX_BYTES = env_int("CSV_UPLOAD_MAX_BYTES", 2 * 1024 * 1024 * 1024)
MEDIA_CONTENT_TYPES = env_list(
    "MEDIA_CONTENT_TYPES", "image/jpeg,image/png,image/gif,image/webp,application/pdf,text/plain"
)
# Thumbnails: longest side in pixels; images larger than this many pixels are not decoded.
MEDIA_THUMBNAIL_SIZE = env_int("MEDIA_THUMBNAIL_SIZE", 256)
MEDIA_MAX_IMAGE_PIXELS = env_int("MEDIA_MAX_IMAGE_PIXELS", 50_000_000)
# Order CSV ingestion: files are split into chunks of about this many bytes, each a job.
CSV_IMPORT_CHUNK_BYTES = env_int("CSV_IMPORT_CHUNK_BYTES", 16 * 1024 * 1024)
# "workflow": imported orders start the order workflow like API orders (throttled);
# "history": they are imported as already decided history (CSV_IMPORT_HISTORY_STATUS).
CSV_IMPORT_MODE = env("CSV_IMPORT_MODE", "workflow")
CSV_IMPORT_HISTORY_STATUS = env("CSV_IMPORT_HISTORY_STATUS", "APPROVED")
# Workflow starts of imported orders: this many per job, at most this many per second.
CSV_IMPORT_WORKFLOW_BATCH = env_int("CSV_IMPORT_WORKFLOW_BATCH", 50)
CSV_IMPORT_WORKFLOW_STARTS_PER_SECOND = env_int("CSV_IMPORT_WORKFLOW_STARTS_PER_SECOND", 20)
# A running chunk untouched for this long is considered lost and is queued again.
CSV_IMPORT_STALLED_SECONDS = env_int("CSV_IMPORT_STALLED_SECONDS", 15 * 60)
# --- Running on Lambda: logs, metrics, traces (console.platform.observability) ---------------------
# JSON log lines (Powertools' formatter) on Lambda, where CloudWatch Logs Insights queries
# them; human-readable lines elsewhere. Either way each line carries the correlation ids.
ON_LAMBDA = bool(env("AWS_LAMBDA_FUNCTION_NAME"))
LOG_FORMAT = env("LOG_FORMAT") or ("json" if ON_LAMBDA else "plain")
_LOG_FORMATTERS = {
    "plain": {
        "()": "console.platform.observability.PlainFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    },
    "json": {"()": "console.platform.observability.json_formatter", "service": f"{RESOURCE_PREFIX}-{STAGE}"},
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "console.platform.observability.CorrelationFilter"}},
    # Only the format in use is configured: logging builds every formatter it is given,
    # and the JSON one imports Powertools.
    "formatters": {LOG_FORMAT: _LOG_FORMATTERS[LOG_FORMAT]},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["correlation"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
# Business metrics as CloudWatch Embedded Metric Format lines on stdout (no API calls).
METRICS_EMF = env_bool("METRICS_EMF", ON_LAMBDA)

# The console's CSV export of the order list: streamed, or, where a response cannot carry
# a large list (Lambda behind API Gateway: 6 MB), written to the files bucket by a job
# and its link emailed (orders.exports). The link works this long.
ORDER_EXPORT_TO_FILE = env_bool("ORDER_EXPORT_TO_FILE", ON_LAMBDA)
ORDER_EXPORT_LINK_MAX_AGE = int(env("ORDER_EXPORT_LINK_MAX_AGE", str(7 * 24 * 3600)))
METRICS_NAMESPACE = env("METRICS_NAMESPACE", "OpsConsole")
# X-Ray subsegments (needs aws-xray-sdk in the package and "xray_tracing" in zappa_settings).
TRACING_ENABLED = env_bool("TRACING_ENABLED", False)
# Where an alarm's Lambda action goes (Zappa has no route for those events).
LAMBDA_ALARM_ACTION_FUNCTION = "ops.handlers.alarm_action"
# Where the WebSocket API's events go ($connect, $disconnect, messages): routed by our entry
# point before Zappa (console/runtime/lambda_handler.py).
LAMBDA_WEBSOCKET_FUNCTION = "realtime.handlers.websocket_event"
# The WebSocket API's management endpoint (PostToConnection), https://<api-id>.execute-api.
# <region>.amazonaws.com/<stage>; empty: the domain and stage each connection came in by.
# The local gateway's in development (console/devtools/websocket_gateway.py).
WEBSOCKET_MANAGEMENT_URL = env("WEBSOCKET_MANAGEMENT_URL", "")

# --- Hardening: content security policy, sessions, second factor ---------------------------


def content_security_policy(aws_endpoint_url: str | None) -> dict:
    """Scripts only from our origin or inline with the response's nonce (no inline event
    handlers, no eval); styles from our origin, inline ones allowed (the apps' templates
    use style attributes; they cannot run script); images from our origin, ``data:`` and
    the files bucket (presigned thumbnails); nothing framed, no plugins, forms post here."""
    if aws_endpoint_url:  # the local AWS: any port on its host
        from urllib.parse import urlsplit

        parts = urlsplit(aws_endpoint_url)
        files = [f"{parts.scheme}://{parts.hostname}:*"]
    else:
        files = ["https://*.s3.amazonaws.com", f"https://*.s3.{AWS_REGION}.amazonaws.com"]
    return {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF, CSP.NONCE],
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF, "data:", *files],
        "connect-src": [CSP.SELF],
        "font-src": [CSP.SELF],
        "object-src": [CSP.NONE],
        "base-uri": [CSP.NONE],
        "form-action": [CSP.SELF],
        "frame-ancestors": [CSP.NONE],
    }


SECURE_CSP = content_security_policy(AWS_ENDPOINT_URL)

# Live pages (console.pages.live) poll their regions this often while their tab is visible.
LIVE_POLL_SECONDS = env_int("LIVE_POLL_SECONDS", 3)

# Console sessions end after CONSOLE_SESSION_IDLE_SECONDS without a request (every request
# renews the cookie and the session row), and CONSOLE_SESSION_MAX_SECONDS after the login
# however active (console.platform.access.ConsoleSessionMiddleware).
CONSOLE_SESSION_IDLE_SECONDS = env_int("CONSOLE_SESSION_IDLE_SECONDS", 3600)
CONSOLE_SESSION_MAX_SECONDS = env_int("CONSOLE_SESSION_MAX_SECONDS", 12 * 3600)
SESSION_COOKIE_AGE = CONSOLE_SESSION_IDLE_SECONDS
SESSION_SAVE_EVERY_REQUEST = True
# Where a login goes when its "next" is missing or refused (another site): the console's home.
LOGIN_REDIRECT_URL = "admin:index"

# A second factor (TOTP authenticator apps, django-otp; console.platform.two_factor): its apps and
# middleware are in INSTALLED_APPS and MIDDLEWARE above.
# When set, admins (admin role, user managers, superusers) enrol and verify an authenticator
# before any console page.
CONSOLE_REQUIRE_2FA_FOR_ADMINS = env_bool("CONSOLE_REQUIRE_2FA_FOR_ADMINS", False)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Ops console")

# --- Webhooks (webhooks/): order events pushed to API clients' endpoints ----------------------
# How long one delivery attempt waits for the receiver's answer.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# Attempts of one delivery; keep equal to the webhooks queue's maxReceiveCount (infra/template.yaml).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
# The first retry's delay; each later one doubles it (30 s, 1 min, 2 min, ... about 1 h for the 8th).
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
# An endpoint is disabled after this many failed attempts in a row.
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 40)
# After a secret's rotation the old secret signs too, for this long.
WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = env_int("WEBHOOK_SECRET_ROTATION_GRACE_SECONDS", 24 * 3600)
# The most events one replay sends again.
WEBHOOK_REPLAY_MAX_EVENTS = env_int("WEBHOOK_REPLAY_MAX_EVENTS", 10000)
# Plain http:// endpoint URLs (local receivers); HTTPS only when off.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
# Endpoints on loopback, private, link-local and other non-public addresses (receivers on
# this machine). Off: such URLs are refused, and a name resolving to one is not sent to.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
