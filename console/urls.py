"""The console's routes: the REST API of each app under ``/api/``, the API's schema and
docs, and the console's pages (the admin site) at the root.

Apps are named by string here (the URL configuration is the composition root, above every
app): ``lazy_include`` imports an app's routes when a request first gets past those
before it.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, re_path

from console.api import audit as audit_api
from console.api import docs as api_docs


def lazy_include(module: str) -> tuple[str, None, None]:
    """Like ``include(module)``, except that the module is imported when a request first
    gets past the routes before it (Django's ``include`` imports it at once). A Lambda
    cold start that serves ``/api/orders`` then imports only what that route needs."""
    return (module, None, None)


def _moved_redirect(request, rest: str, prefix: str = "/"):
    """The page at ``prefix`` + ``rest``, with the request's query string."""
    # Leading slashes dropped: "/admin//example.com" must not become "//example.com",
    # which a browser reads as another site.
    query = request.META.get("QUERY_STRING", "")
    return redirect(prefix + rest.lstrip("/\\") + (f"?{query}" if query else ""))


def favicon(request):
    """Browsers ask for /favicon.ico wherever a page names no icon (the API's pages, a
    file): the console's, from the static files (its URL read per request, with the
    stage's path prefix)."""
    return redirect(static("console/favicon.ico"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    # The console is the admin site, served at the root: /admin/... (a Django habit, old
    # bookmarks) leads to the same page there, with its query string.
    re_path(r"^admin/(?P<rest>.*)$", _moved_redirect, name="admin-path-redirect"),
    # Order CSV imports moved from the media app to orders, and their pages with them:
    # links to the old pages (bookmarks, emails) lead to the same page, query string kept.
    re_path(
        r"^media/import/(?P<rest>.*)$", _moved_redirect, {"prefix": "/orders/import/"}, name="media-import-redirect"
    ),
    re_path(r"^api/schema/?$", api_docs.schema, name="api-schema"),
    # Docs for people: a console login (the page's requests then use that session).
    re_path(r"^api/docs/?$", login_required(api_docs.docs, login_url="admin:login"), name="api-docs"),
    re_path(r"^api/audit/?$", audit_api.AuditEntryListApi.as_view(), name="audit-list"),
    path("api/", include("orders.urls")),
    # Approvals (the inbox over REST)
    path("api/", lazy_include("workflows.urls")),
    # Dead-letter queues and alarms.
    path("api/", lazy_include("ops.urls")),
    # Uploads (media), and order CSV imports
    path("api/", lazy_include("media.urls")),
    path("api/", lazy_include("orders.imports.urls")),
    # Webhooks: API clients' endpoints, deliveries and replay.
    path("api/", lazy_include("webhooks.urls")),
    # The console's pages (the admin site, and on Lambda the apps' admin modules).
    path("", lazy_include("console.pages.urls")),
]

handler400 = "console.api.rest.bad_request"
handler403 = "console.pages.errors.permission_denied"
handler404 = "console.api.rest.not_found"
handler500 = "console.api.rest.server_error"
