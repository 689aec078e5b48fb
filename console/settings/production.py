"""Production (Lambda behind API Gateway). Everything secret comes from the environment,
which Zappa fills from SSM Parameter Store / Secrets Manager references."""

from .base import *  # noqa: F403
from .base import env, env_bool, env_int, env_list

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set in production")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Running on Lambda: static files -------------------------------------------------------
# The console's static files travel in the package (`make package` runs collectstatic) and
# WhiteNoise serves them from the function: hashed names cached for a year, gzip variants.
# No bucket or CDN to keep in step with the code; API Gateway's binary support (Zappa's
# "binary_support") passes the compressed bodies through.
_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")
# Right after SecurityMiddleware, as WhiteNoise asks; ours reads the files on first use.
MIDDLEWARE = [
    *MIDDLEWARE[: _security + 1],
    "console.platform.staticfiles.WhiteNoiseMiddleware",
    *MIDDLEWARE[_security + 1 :],
]
STORAGES = {
    # Whatever default (media) storage the base settings chose stays.
    **globals().get("STORAGES", {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}),
    "staticfiles": {"BACKEND": "console.platform.staticfiles.ScriptPrefixedStaticFilesStorage"},
}
WHITENOISE_KEEP_ONLY_HASHED_FILES = True

# --- Running on Lambda: the database connection ----------------------------------------------
# A warm function keeps its connection (DATABASE_CONN_MAX_AGE, set for the stages in
# zappa_settings.json) instead of connecting for every invocation; a connection the
# database or RDS Proxy closed while the function was idle is noticed and replaced.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
