"""What the Lambda cold start leaves for later, and that later it is all there: the views'
schema decorations (console.api.openapi), WhiteNoise's files (console.platform.staticfiles) and DRF's
optional imports and boto3 (console.runtime.deferred_imports)."""

import importlib
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from drf_spectacular.openapi import AutoSchema
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api import openapi
from console.platform.staticfiles import WhiteNoiseMiddleware
from console.runtime.deferred_imports import DeferredModule, Placeholder, defer_import


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
    (package / "__init__.py").write_text(
        "LOADED = True\n"
        "from .part import VALUE\n"
        "initializers = []\n"
        "def register_initializer(callback):\n"
        "    initializers.append(callback)\n"
        "class Session:\n"
        "    def __init__(self, region):\n"
        "        self.region = region\n"
    )
    # Every run of part.py adds a line to runs.log.
    (package / "part.py").write_text(
        "import pathlib\n"
        "with open(pathlib.Path(__file__).with_name('runs.log'), 'a') as log:\n"
        "    log.write('run\\n')\n"
        "VALUE = 42\n"
    )
    (package / "other.py").write_text("from . import part\nOTHER = part.VALUE + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    meta_path = list(sys.meta_path)
    yield "optional_pkg"
    sys.meta_path[:] = meta_path
    for name in ("optional_pkg", "optional_pkg.part", "optional_pkg.other"):
        sys.modules.pop(name, None)


def part_runs(package) -> int:
    return len((Path(package.__file__).parent / "runs.log").read_text().splitlines())


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


def test_importing_a_submodule_first_loads_the_package_and_runs_the_submodule_once(stand_in_module):
    defer_import(stand_in_module)
    # The package's __init__ imports .part: the import asking for it gets that module,
    # not a second run of it.
    part = importlib.import_module(f"{stand_in_module}.part")
    real = sys.modules[stand_in_module]
    assert not isinstance(real, DeferredModule) and real.LOADED is True
    assert part_runs(real) == 1 and part is real.part is sys.modules[f"{stand_in_module}.part"]
    assert part.__spec__.origin.endswith("part.py") and part.__spec__.loader.__class__.__name__ == "SourceFileLoader"
    # A submodule the package does not import loads as usual, on the real package.
    other = importlib.import_module(f"{stand_in_module}.other")
    assert other.OTHER == 43 and real.other is other


def test_a_submodule_imported_with_the_from_form_loads_the_package_first(stand_in_module):
    defer_import(stand_in_module)
    from optional_pkg import other

    assert other.OTHER == 43
    assert part_runs(sys.modules[stand_in_module]) == 1


def test_placeholders_answer_reads_at_import_time_without_loading(stand_in_module):
    defer_import(stand_in_module, placeholders=("Session",))
    stand_in = sys.modules[stand_in_module]

    def connect(session: stand_in.Session) -> None:  # read as an annotation, as Zappa does
        pass

    placeholder = connect.__annotations__["session"]
    assert isinstance(placeholder, Placeholder)
    assert isinstance(sys.modules[stand_in_module], DeferredModule)  # not loaded by that

    # Called, it is the real class; and once loaded, the stand-in gives the real one.
    session = placeholder("eu-west-1")
    real = sys.modules[stand_in_module]
    assert not isinstance(real, DeferredModule)
    assert isinstance(session, real.Session) and isinstance(session, placeholder)
    assert session.region == "eu-west-1"
    assert stand_in.Session is real.Session

    class Subclass(placeholder):
        pass

    assert issubclass(Subclass, real.Session)


def test_recorded_calls_are_replayed_on_the_real_module_in_order(stand_in_module):
    defer_import(stand_in_module, recorded_calls=("register_initializer",))
    stand_in = sys.modules[stand_in_module]
    kept = stand_in.register_initializer  # as a module that imported it by name keeps it

    assert hasattr(stand_in, "register_initializer")
    stand_in.register_initializer("first")
    kept("second")
    assert isinstance(sys.modules[stand_in_module], DeferredModule)

    real = importlib.import_module(f"{stand_in_module}.part") and sys.modules[stand_in_module]
    assert real.initializers == ["first", "second"]
    # After the load, calls go straight to the real module, through the stand-in or not.
    kept("third")
    stand_in.register_initializer("fourth")
    assert real.initializers == ["first", "second", "third", "fourth"]
    assert stand_in.register_initializer is real.register_initializer


def test_modules_already_loaded_or_not_installed_are_left_alone():
    defer_import("json")
    assert not isinstance(sys.modules["json"], DeferredModule)
    defer_import("no_such_module_here")
    assert "no_such_module_here" not in sys.modules
    with pytest.raises(ValueError):
        defer_import("os.path")
