"""What the Lambda cold start leaves for later, and that later it is all there: the views'
schema decorations (console.openapi), WhiteNoise's files (console.staticfiles) and DRF's
optional imports (console.lambda_handler.DeferredModule)."""

import importlib
import sys

import pytest
from django.test import RequestFactory
from drf_spectacular.openapi import AutoSchema
from rest_framework.response import Response
from rest_framework.views import APIView

from console import openapi
from console.lambda_handler import DeferredModule, defer_import
from console.staticfiles import WhiteNoiseMiddleware


def test_schema_decorations_wait_for_the_generator_and_are_made_in_order(monkeypatch):
    monkeypatch.setattr(openapi, "_pending", [])
    monkeypatch.setattr(openapi, "_applied", False)

    class Things(APIView):
        @openapi.extend_schema(operation_id="things_list", summary="List things")
        def get(self, request):
            return Response([])

    Things = openapi.extend_schema(tags=["things"])(Things)
    assert "schema" not in Things.__dict__ and not hasattr(Things.get, "kwargs")

    openapi.apply_pending()

    # As drf-spectacular's decorator leaves them: the method's schema over the class's.
    assert isinstance(Things.schema, AutoSchema)
    method_schema = Things.get.kwargs["schema"]
    schema = method_schema()
    schema.method, schema.view = "GET", Things()
    schema.view.request, schema.view.kwargs = None, {}
    assert schema.get_operation_id() == "things_list" and schema.get_tags() == ["things"]

    # Once the generator has run, decorations are made at once.
    @openapi.extend_schema(operation_id="later")
    class Later(APIView):
        pass

    assert isinstance(Later.schema, AutoSchema)


def test_whitenoise_reads_the_static_files_on_the_first_static_request(settings, tmp_path):
    (tmp_path / "app.css").write_text("body { color: red }")
    settings.STATIC_ROOT = tmp_path
    settings.STATIC_URL = "/static/"
    settings.DEBUG = False
    settings.WHITENOISE_AUTOREFRESH = False
    middleware = WhiteNoiseMiddleware(lambda request: "from the app")
    assert middleware.files == {}

    assert middleware(RequestFactory().get("/api/orders")) == "from the app"
    assert middleware.files == {}

    response = middleware(RequestFactory().get("/static/app.css"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"body { color: red }"
    assert "/static/app.css" in middleware.files
    assert middleware(RequestFactory().get("/static/missing.css")) == "from the app"


@pytest.fixture
def stand_in_module(tmp_path, monkeypatch):
    package = tmp_path / "optional_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("LOADED = True\nfrom .part import VALUE\n")
    (package / "part.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "optional_pkg"
    for name in ("optional_pkg", "optional_pkg.part"):
        sys.modules.pop(name, None)


def test_a_deferred_module_loads_on_first_use_and_then_is_the_real_one(stand_in_module):
    defer_import(stand_in_module)
    stand_in = importlib.import_module(stand_in_module)
    assert isinstance(stand_in, DeferredModule)
    assert f"{stand_in_module}.part" not in sys.modules  # imported, not run

    assert stand_in.VALUE == 42 and stand_in.LOADED is True
    real = sys.modules[stand_in_module]
    assert not isinstance(real, DeferredModule) and real.VALUE == 42
    # Whoever kept the stand-in keeps reading the real module, and sees its later changes.
    real.VALUE = 43
    assert stand_in.VALUE == 43 and sys.modules[stand_in_module] is real
    real.VALUE = 42
    from optional_pkg.part import VALUE

    assert VALUE == 42


def test_importing_a_submodule_first_loads_the_package(stand_in_module):
    defer_import(stand_in_module)
    part = importlib.import_module(f"{stand_in_module}.part")
    assert part.VALUE == 42
    assert not isinstance(sys.modules[stand_in_module], DeferredModule)
    assert sys.modules[stand_in_module].LOADED is True
