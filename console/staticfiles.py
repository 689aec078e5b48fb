"""Static files storage for Lambda: WhiteNoise's compressed manifest storage, with URLs
under the path the request came in on.

Behind API Gateway's default URL every path starts with the stage (``/dev/...``), which
Zappa passes to Django as SCRIPT_NAME; through a custom domain or a function URL it does
not. Django's own storage fixes its base URL once per process (settings cache STATIC_URL
with the script prefix of their first read, which happens at start-up, before any
request), so links would miss the stage. Here the prefix of the current request is added
to each URL instead; WhiteNoise serves the files from the path without it either way.
"""

from django.urls import get_script_prefix
from whitenoise.storage import CompressedManifestStaticFilesStorage


class ScriptPrefixedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def url(self, name: str, force: bool = False) -> str:
        url = super().url(name, force)
        prefix = get_script_prefix().rstrip("/")
        if prefix and url.startswith("/") and not url.startswith(prefix + "/"):
            return prefix + url
        return url
