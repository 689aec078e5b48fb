"""Static files on Lambda: WhiteNoise's compressed manifest storage, with URLs under the
path the request came in on, and WhiteNoise's middleware reading its files when first
asked for one.

Behind API Gateway's default URL every path starts with the stage (``/dev/...``), which
Zappa passes to Django as SCRIPT_NAME; through a custom domain or a function URL it does
not. Django's own storage fixes its base URL once per process (settings cache STATIC_URL
with the script prefix of their first read, which happens at start-up, before any
request), so links would miss the stage. Here the prefix of the current request is added
to each URL instead; WhiteNoise serves the files from the path without it either way.
"""

import os
import threading

from django.conf import settings
from django.urls import get_script_prefix
from whitenoise.middleware import WhiteNoiseMiddleware as BaseWhiteNoiseMiddleware
from whitenoise.storage import CompressedManifestStaticFilesStorage
from whitenoise.string_utils import ensure_leading_trailing_slash


class ScriptPrefixedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def url(self, name: str, force: bool = False) -> str:
        url = super().url(name, force)
        prefix = get_script_prefix().rstrip("/")
        if prefix and url.startswith("/") and not url.startswith(prefix + "/"):
            return prefix + url
        return url


class WhiteNoiseMiddleware(BaseWhiteNoiseMiddleware):
    """WhiteNoise, reading STATIC_ROOT when the first request under STATIC_URL comes rather
    than when the process starts. Walking the folder and building each file's headers is
    about 13 ms, paid by every cold start, and most cold starts serve the API or a queue;
    the first static request pays it instead. Serving is WhiteNoise's own. Under SnapStart
    (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``) the files are read at once: the
    middleware is made before the snapshot (console.runtime.snapstart), where it costs a
    restore nothing."""

    def __init__(self, get_response=None, settings=settings):
        self._deferred: list[tuple[str, str]] = []
        self._deferred_lock = threading.Lock()
        super().__init__(get_response, settings)

    def add_files(self, root, prefix=None):
        # With autorefresh WhiteNoise looks files up per request: nothing to read now.
        if self.autorefresh or os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            return super().add_files(root, prefix)
        with self._deferred_lock:
            self._deferred.append((root, ensure_leading_trailing_slash(prefix)))

    def __call__(self, request):
        if self._deferred and any(request.path_info.startswith(prefix) for _, prefix in self._deferred):
            with self._deferred_lock:
                while self._deferred:
                    super().add_files(*self._deferred.pop(0))
        return super().__call__(request)
