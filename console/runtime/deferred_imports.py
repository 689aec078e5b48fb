"""Modules that stand in ``sys.modules`` until something uses them (Lambda cold starts).

``defer_import(name)`` puts a ``DeferredModule`` in ``sys.modules`` for an installed module
that is not loaded yet. ``import name`` finds the stand-in (it has a ``__spec__``, so the
import system takes it as loaded); the first attribute anyone reads through it imports the
real module, which replaces it in ``sys.modules``, and the stand-in passes that read and
every later one on to the real module. Code that kept the stand-in (a module global bound
by ``import boto3``, as Zappa's utilities have) reads through it, without a lock or an
import once the real module is there. Not importlib's LazyLoader: the ``import``
statement itself reads ``__spec__`` through that, which loads the module at once.

A package's stand-in carries the real ``__path__``, and ``_SubmoduleFinder`` (first on
``sys.meta_path`` once a stand-in exists) loads the real package before any of its
submodules. Without it, ``import package.part`` would run ``package.part`` twice when the
package's ``__init__`` imports it too: once from there, once for the import that asked.

Two kinds of reads that happen at import time need not load the module:

* ``placeholders``: names read at import but not used then (Zappa's utilities read
  ``boto3.Session`` in the annotations of its functions). The stand-in answers with a
  ``Placeholder`` that resolves to the real attribute when called, subclassed, used in
  ``isinstance`` or read from. Once the module is loaded the stand-in drops it, so later
  reads give the real attribute.
* ``recorded_calls``: functions called at import whose effect is only needed once the
  module is used (Powertools registers a botocore session initializer when imported).
  Before the load the stand-in records the calls; the load replays them, in order, on the
  real module. Called after the load, they go straight to it.
"""

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from typing import Any

_lock = threading.RLock()


class DeferredModule(types.ModuleType):
    """A module's stand-in until first use (see the module docstring)."""

    def __getattr__(self, attribute: str) -> Any:
        # Only reached for names the stand-in lacks. Once loaded, the real module is in the
        # stand-in's own __dict__: later reads take no lock and import nothing.
        module = self.__dict__.get("_deferred_real")
        if module is None:
            module = self._deferred_load()
        return getattr(module, attribute)

    def _deferred_load(self) -> types.ModuleType:
        state = self.__dict__
        with _lock:
            if (module := state.get("_deferred_real")) is not None:
                return module
            name = state["__name__"]
            if sys.modules.get(name) is self:
                del sys.modules[name]
            module = importlib.import_module(name)
            for attribute in state.pop("_deferred_attributes"):  # placeholders and recorders
                del state[attribute]
            state["_deferred_real"] = module
            for function, args, kwargs in state.pop("_deferred_calls", ()):
                getattr(module, function)(*args, **kwargs)
        return module


class Placeholder:
    """A deferred module's attribute, read at import time before the module is loaded."""

    def __init__(self, stand_in: DeferredModule, name: str):
        self._stand_in, self._name = stand_in, name

    def resolve(self) -> Any:
        return getattr(self._stand_in._deferred_load(), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        if attribute in ("_stand_in", "_name"):  # not set yet (a copy being made)
            raise AttributeError(attribute)
        return getattr(self.resolve(), attribute)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self.resolve())

    def __subclasscheck__(self, subclass: type) -> bool:
        return issubclass(subclass, self.resolve())

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (self.resolve(),)

    def __repr__(self) -> str:
        return f"<placeholder for {self._stand_in.__name__}.{self._name}>"


def _recorder(stand_in: DeferredModule, function: str):
    def call(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            real = stand_in.__dict__.get("_deferred_real")
            if real is None:
                stand_in.__dict__["_deferred_calls"].append((function, args, kwargs))
                return None
        return getattr(real, function)(*args, **kwargs)

    call.__name__ = call.__qualname__ = function
    return call


def defer_import(name: str, *, placeholders: tuple[str, ...] = (), recorded_calls: tuple[str, ...] = ()) -> None:
    """Put a stand-in for the top-level module ``name`` in ``sys.modules``, unless it is
    loaded already or not installed."""
    if "." in name:
        raise ValueError("only top-level modules can be deferred")
    if name in sys.modules or (spec := importlib.util.find_spec(name)) is None:
        return
    stand_in = DeferredModule(name)
    state = stand_in.__dict__
    state["__spec__"] = spec
    if spec.submodule_search_locations is not None:
        state["__path__"] = list(spec.submodule_search_locations)
        _SubmoduleFinder.install()
    state["_deferred_attributes"] = placeholders + recorded_calls
    for attribute in placeholders:
        state[attribute] = Placeholder(stand_in, attribute)
    state["_deferred_calls"] = []
    for function in recorded_calls:
        state[function] = _recorder(stand_in, function)
    sys.modules[name] = stand_in


class _SubmoduleFinder:
    """First on ``sys.meta_path``: before a submodule of a deferred package is looked for,
    the real package is loaded. If the package's ``__init__`` imported the submodule, the
    import that asked gets that module (``_Loaded``) instead of running it a second time;
    otherwise the usual finders go on, with the same ``__path__``."""

    @classmethod
    def install(cls) -> None:
        if not any(finder is cls for finder in sys.meta_path):
            sys.meta_path.insert(0, cls)

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> Any:
        parent = sys.modules.get(fullname.rpartition(".")[0])
        if not isinstance(parent, DeferredModule) or parent.__dict__.get("_deferred_real") is not None:
            return None
        parent._deferred_load()
        # Out of sys.modules until the import system puts it back from _Loaded: found
        # there, the import system would run it again from its own spec.
        loaded = sys.modules.pop(fullname, None)
        if loaded is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loaded(loaded))


class _Loaded:
    """Loader of a module that is already loaded: hands it back as it is."""

    def __init__(self, module: types.ModuleType):
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: Any) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system has set the module's __spec__ (and nothing it already had) to
        # the one from find_spec: give it back its own.
        module.__spec__ = self.spec


def defer_aws_sdk() -> None:
    """boto3 and botocore until first use: about 60 ms of a cold start whose request makes
    no AWS call. Zappa's handler imports boto3 lazily itself, but its utilities module
    imports it at once and reads ``boto3.Session`` in the annotations of its functions;
    Powertools registers a botocore session initializer when imported (recorded, and
    replayed when botocore loads)."""
    defer_import("boto3", placeholders=("Session",))
    defer_import("botocore", recorded_calls=("register_initializer",))


# The deferrals the handler makes at start-up, by name. ``DEFERRED_IMPORTS_OFF`` (names
# separated by commas, or ``all``) switches some off: how bench/cold_start.py --deferrals
# measures what each one saves.
DEFERRALS = {"aws_sdk": defer_aws_sdk}


def defer_startup_imports(environ: dict[str, str] | None = None) -> list[str]:
    """Make the start-up deferrals that ``DEFERRED_IMPORTS_OFF`` leaves on; returns their
    names. Read from the environment at import on purpose: the choice must be made before
    anything imports the modules, and a Lambda function's environment is fixed."""
    environ = os.environ if environ is None else environ
    switched_off = {name.strip() for name in environ.get("DEFERRED_IMPORTS_OFF", "").split(",")}
    made = [name for name in DEFERRALS if not switched_off & {name, "all"}]
    for name in made:
        DEFERRALS[name]()
    return made
