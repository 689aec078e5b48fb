"""Settings for the benchmarks: the development settings on the benchmark database
(``DATABASE_URL``, PostgreSQL), with no AWS calls and no throttling in the way."""

from console.settings.dev import *  # noqa: F403
from console.settings.dev import ALLOWED_HOSTS

DEBUG = False
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
ROOT_URLCONF = "bench.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Events stay in the outbox: the benchmarks measure the database, not the local AWS.
ORDER_EVENTS_PUBLISH_ON_COMMIT = False
# One client sends every request: the per-client limit would stop the measurement.
API_THROTTLE_RATE = 1_000_000.0
API_THROTTLE_BURST = 1_000_000
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# Persistent connections, as a warm Lambda instance keeps its connection (RDS Proxy) across
# invocations: each request does not pay for a new connection.
DATABASES["default"]["CONN_MAX_AGE"] = 600  # noqa: F405
