"""Build the Lambda packages of a stage: ``make package`` (python -m infra.package --stage dev).

    python -m infra.package [--stage dev]                  # both functions of the stage
    python -m infra.package --only dev-worker [--output .lambda/ops-console-dev-worker.zip]

A stage has two functions, each a Zappa stage of zappa_settings.json with its own package
(the package carries the stage's settings: its event routing, its API stage): the API
function ``<stage>`` and the worker function ``<stage>-worker``. Both packages are built
from one virtualenv, one wheel cache and one ``collectstatic``, into
``.lambda/ops-console-<zappa stage>.zip``.

What it does, and why:

1. A virtualenv with the runtime requirements only (``.lambda/venv``, remade when
   requirements.txt changes). Zappa packs the site-packages of the virtualenv it runs
   in, so development tools (moto, pytest, ruff, ...) never enter the package.
2. Zappa replaces compiled packages by manylinux wheels it looks up at pypi.python.org,
   a host that does not resolve on a machine limited to the package registries; failing
   that, it silently packs the wheels built for the build machine. So its wheel cache
   (``<TMPDIR>/cached_wheels``) is filled first with ``pip download --only-binary=:all:
   --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --python-version 3.12``
   wheels of exactly the compiled packages installed, and TMPDIR points Zappa at it.
3. ``collectstatic`` with the production storage: the console's static files travel in
   the package and WhiteNoise serves them (``console.settings.production``).
4. ``zappa package <zappa stage>`` from that virtualenv, once per function. Its ``zip``
   callback (``infra/zappa_callbacks.py``) adds bytecode compiled for the read-only Lambda
   filesystem, where Python cannot write its caches at import.
5. Checks the result: at most 40 MB zipped and 150 MB unzipped, no development package,
   and every compiled package built for a glibc the Lambda runtime has (<= 2.34).

The build machine must run CPython 3.12 on Linux, like the Lambda runtime, because the
bytecode is compiled by the interpreter that builds the package.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from console.runtime.stage import function_stages as stage_functions

ROOT = Path(__file__).resolve().parent.parent
# Hidden on purpose: Zappa walks the project directory (looking for WebSocket handlers)
# and skips hidden folders, so the build virtualenv is not scanned or copied.
WORKDIR = ROOT / ".lambda"
VENV = WORKDIR / "venv"
ZAPPA_TMP = WORKDIR / "tmp"
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34) on x86_64 here: wheels for
# manylinux2014 (glibc 2.17) or manylinux_2_28 run on it. pip takes the best of either
# (Pillow, for one, publishes only manylinux_2_28 wheels now).
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
LAMBDA_GLIBC = (2, 34)
PYTHON_VERSION = "3.12"
LEGACY_MANYLINUX = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}
MAX_ZIPPED_BYTES = 40 * 1024 * 1024
MAX_UNZIPPED_BYTES = 150 * 1024 * 1024
# Installed with the runtime requirements (kombu's "sqs" extra) but used only by the Celery
# worker's consumer; built here from source against this machine's libcurl, it would not
# load on Lambda anyway. Producing jobs to SQS does not need it.
WORKER_ONLY = ("pycurl",)
# Top-level modules of development and worker-only packages; none may be in the package.
DEVELOPMENT_MODULES = ("moto", "pytest", "_pytest", "factory", "faker", "ruff", "cfnlint", "pycurl", "curl")


@dataclass
class PackageReport:
    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    files: int

    def as_dict(self) -> dict:
        return {
            "package": str(self.path),
            "zipped_mb": round(self.zipped_bytes / 1024 / 1024, 1),
            "unzipped_mb": round(self.unzipped_bytes / 1024 / 1024, 1),
            "files": self.files,
        }


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kwargs)


def pip(python: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return run([str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args], **kwargs)


def venv_python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def ensure_venv(python: str, requirements: Path, venv: Path = VENV) -> Path:
    """A virtualenv holding ``requirements`` and nothing else; reused while they are unchanged."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
    stamp = hashlib.sha256(requirements.read_bytes() + version.stdout.encode()).hexdigest()
    stamp_file = venv / ".requirements-sha256"
    if stamp_file.exists() and stamp_file.read_text() == stamp and venv_python(venv).exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", str(venv)])
    pip(venv_python(venv), "install", "-r", str(requirements))
    for name in WORKER_ONLY:
        pip(venv_python(venv), "uninstall", "-y", name)
    stamp_file.write_text(stamp)
    return venv


def compiled_distributions(venv: Path) -> dict[str, str]:
    """Name and version of every installed distribution that is not pure Python."""
    script = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    wheel = d.read_text('WHEEL') or ''\n"
        "    if 'Root-Is-Purelib: false' in wheel:\n"
        "        out[d.metadata['Name']] = d.version\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([str(venv_python(venv)), "-c", script], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def prefill_wheel_cache(venv: Path, cache: Path) -> list[Path]:
    """Download Lambda-platform wheels of the compiled packages into Zappa's wheel cache."""
    cache.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version}" for name, version in sorted(compiled_distributions(venv).items())]
    if pins:
        pip(
            venv_python(venv),
            "download",
            "--only-binary=:all:",
            "--no-deps",
            *[argument for platform in PLATFORMS for argument in ("--platform", platform)],
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--dest",
            str(cache),
            *pins,
        )
    return sorted(cache.glob("*.whl"))


def collect_static(venv: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings.production",
        # collectstatic signs nothing; production settings refuse to load without a key.
        "DJANGO_SECRET_KEY": "collectstatic-only-" + "x" * 40,
    }
    command = [str(venv_python(venv)), "manage.py", "collectstatic", "--noinput", "--clear", "-v", "0"]
    # DRF's browsable API is off (JSON renderer only): its assets would only be scanned by
    # WhiteNoise at every cold start.
    run([*command, "--ignore", "rest_framework"], cwd=ROOT, env=env)


def zappa_package(venv: Path, stage: str, output: Path, project: Path = ROOT) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(ZAPPA_TMP),
        # Zappa's look-ups of wheels it has no copy of fail fast instead of waiting.
        "PIP_TIMEOUT": "1",
    }
    env.pop("PYTHONPATH", None)
    run([str(venv / "bin" / "zappa"), "package", stage, "--output", str(output)], cwd=project, env=env)
    return output


def inspect_package(path: Path) -> PackageReport:
    """Sizes of the package, after checking it holds what Lambda needs and nothing else."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    names = {info.filename for info in infos}
    top_level = {name.split("/", 1)[0] for name in names}
    unwanted = sorted(top_level & set(DEVELOPMENT_MODULES))
    if unwanted:
        raise SystemExit(f"{path} contains development packages: {', '.join(unwanted)}")
    for required in (
        "handler.py",
        "zappa_settings.py",
        "console/runtime/lambda_handler.py",
        "staticfiles/staticfiles.json",
    ):
        if required not in names:
            raise SystemExit(f"{path} lacks {required}")
    with zipfile.ZipFile(path) as archive:
        wheel_tags = {
            name.split("/", 1)[0]: archive.read(name).decode() for name in names if name.endswith(".dist-info/WHEEL")
        }
    not_lambda = [
        dist_info
        for dist_info, wheel in wheel_tags.items()
        if "Root-Is-Purelib: false" in wheel and not _lambda_platform_tag(wheel)
    ]
    if not_lambda:
        raise SystemExit(f"{path} holds compiled packages not built for Lambda ({', '.join(PLATFORMS)}): {not_lambda}")
    report = PackageReport(
        path=path,
        zipped_bytes=path.stat().st_size,
        unzipped_bytes=sum(info.file_size for info in infos),
        files=len(infos),
    )
    if report.zipped_bytes > MAX_ZIPPED_BYTES or report.unzipped_bytes > MAX_UNZIPPED_BYTES:
        raise SystemExit(f"{path} is too large: {report.as_dict()} (limits: 40 MB zipped, 150 MB unzipped)")
    return report


def _lambda_platform_tag(wheel_metadata: str) -> bool:
    """Whether a wheel's tags include one installable on Lambda's x86_64 (glibc <= 2.34)."""
    tags = [line.split(":", 1)[1].strip() for line in wheel_metadata.splitlines() if line.startswith("Tag:")]
    for tag in tags:
        interpreter, _, platforms = tag.split("-", 2)
        if interpreter not in {"cp312", "py3"} and not interpreter.startswith("cp3"):
            continue
        for platform in platforms.split("."):
            match = re.fullmatch(r"manylinux(?:_(\d+)_(\d+)|(1|2010|2014))_x86_64", platform)
            if not match:
                continue
            glibc = (int(match[1]), int(match[2])) if match[1] else LEGACY_MANYLINUX[match[3]]
            if glibc <= LAMBDA_GLIBC:
                return True
    return False


def function_stages(stage: str, settings_path: Path = ROOT / "zappa_settings.json") -> list[str]:
    """The Zappa stages of deployment stage ``stage`` (``console.runtime.stage``)."""
    try:
        return stage_functions(stage, settings_path)
    except KeyError as error:
        raise SystemExit(error.args[0]) from None


def package_path(stage: str) -> Path:
    """Where ``make package`` writes the package of Zappa stage ``stage``."""
    return WORKDIR / f"ops-console-{stage}.zip"


def prepare(*, python: str | None = None) -> Path:
    """What the packages of every function are built from: the runtime virtualenv, Zappa's
    wheel cache filled with Lambda-platform wheels, the static files collected. Returns the
    virtualenv."""
    venv = ensure_venv(python or sys.executable, ROOT / "requirements.txt")
    prefill_wheel_cache(venv, ZAPPA_TMP / "cached_wheels")
    collect_static(venv)
    return venv


def package_stage(venv: Path, stage: str, output: Path | None = None) -> PackageReport:
    """``zappa package <stage>`` (and its ``zip`` callback) from a prepared virtualenv, checked."""
    output = output or package_path(stage)
    zappa_package(venv, stage, output)
    return inspect_package(output)


def build_stages(
    *, stages: list[str], outputs: dict[str, Path] | None = None, python: str | None = None
) -> dict[str, PackageReport]:
    """The package of each Zappa stage in ``stages``, from one ``prepare()``: only ``zappa
    package`` and its ``zip`` callback run per stage. Returns each stage's report."""
    venv = prepare(python=python)
    return {stage: package_stage(venv, stage, (outputs or {}).get(stage)) for stage in stages}


def build(*, stage: str = "dev", output: Path | None = None, python: str | None = None) -> PackageReport:
    """The package of one Zappa stage (``dev``, ``dev-worker``, ...)."""
    return build_stages(stages=[stage], outputs={stage: output} if output else None, python=python)[stage]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the Lambda packages of a stage with Zappa.")
    parser.add_argument("--stage", default="dev", help="the stage: builds <stage> and <stage>-worker")
    parser.add_argument("--only", default=None, metavar="ZAPPA_STAGE", help="build this Zappa stage only")
    parser.add_argument("--output", type=Path, default=None, help="where to write the package (with --only)")
    parser.add_argument("--python", default=None, help="the Python 3.12 to build the virtualenv with")
    args = parser.parse_args(argv)
    if args.output and not args.only:
        parser.error("--output needs --only: a stage has one package per function")
    stages = [args.only] if args.only else function_stages(args.stage)
    reports = build_stages(stages=stages, outputs={args.only: args.output} if args.output else None, python=args.python)
    print(json.dumps([report.as_dict() for report in reports.values()], indent=2))


if __name__ == "__main__":
    main()
