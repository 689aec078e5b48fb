"""OpenAPI pieces drf-spectacular cannot infer from our own classes, and the generator.

Only schema generation imports this module (``SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]``):
importing it registers the extensions below, and nothing on the request path pays for
drf-spectacular's generator machinery.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator as SpectacularSchemaGenerator

from console.api import openapi


class SchemaGenerator(SpectacularSchemaGenerator):
    """drf-spectacular's generator, with our views' ``@extend_schema`` decorations made
    (``console.api.openapi``) before any view is read: at the start, and again before each
    view, since walking the URL patterns can import API modules for the first time."""

    def get_schema(self, request=None, public=False):
        openapi.apply_pending()
        return super().get_schema(request=request, public=public)

    def create_view(self, callback, method, request=None):
        openapi.apply_pending()
        return super().create_view(callback, method, request)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "console.api.rest.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from `manage.py issue_token USERNAME`."}


# --- The answers every API operation may give ---------------
_COMMON_PROBLEMS = {
    "401": "Missing or invalid bearer token.",
    "403": "The token's user may not do this.",
    "429": "Too many requests from this client: retry after the Retry-After header's seconds.",
}


def add_common_problem_responses(result, generator, request, public):
    """Every API operation may answer 401, 403 and 429 in the problem shape: say so in the
    schema, so generated clients know those answers and their body. Paths are written
    without their optional trailing slash."""
    # Routes answer with and without a trailing slash; the schema names the reference architecture's form.
    result["paths"] = {
        (path.rstrip("/") if path != "/" else path): item for path, item in result.get("paths", {}).items()
    }
    if "Problem" not in result.get("components", {}).get("schemas", {}):
        return result
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, description in _COMMON_PROBLEMS.items():
                if code not in responses:
                    responses[code] = {"content": problem, "description": description}
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before the next request.",
            }
    return result
