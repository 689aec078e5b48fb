"""Test settings: the dev defaults plus fast hashing and a file database processes share."""

from .base import env
from .dev import *  # noqa: F403
from .dev import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Worker and consumer processes open the test database too, so it must be a file.
    # TEST_DB_NAME keeps two runs in one checkout (two engineers, or a run and a benchmark)
    # apart.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(BASE_DIR / env("TEST_DB_NAME", ".test-db.sqlite3"))  # noqa: F405
    }

# Nothing listens here: a test that reaches for AWS without the local AWS fixture fails
# at once instead of talking to a developer's running `make run`.
AWS_ENDPOINT_URL = "http://127.0.0.1:9"
WORKFLOW_INVENTORY_RECHECK_SECONDS = 1

# --- Order events ---------------------------------------------------------------------
# Nothing listens at the test AWS endpoint: tests that publish order events turn this on
# with the local AWS fixture.
ORDER_EVENTS_PUBLISH_ON_COMMIT = False

# Media and CSV ingestion: the files bucket of the local AWS's account (moto's default),
# named here so that endpoints which only sign upload forms need no STS call.
FILES_BUCKET = "ops-console-dev-files-123456789012"

# Webhook retries in seconds, not minutes, so their schedule is observable (the stack's
# consumer gets the same through tests/conftest.py's stack_env).
WEBHOOK_RETRY_BASE_SECONDS = 1
