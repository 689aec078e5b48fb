"""Build the Lambda packages of a stage: ``make package`` (python -m infra.package --stage dev).

    python -m infra.package [--stage dev]                  # both functions of the stage
    python -m infra.package --only dev-worker [--output .lambda/ops-console-dev-worker.zip]

A stage has two functions, each a Zappa stage of zappa_settings.json with its own package
(the package carries the stage's settings: its event routing, its API stage): the API
function ``<stage>`` and the worker function ``<stage>-worker``. Both packages are built
from one virtualenv, one wheel cache and one ``collectstatic``, into
``.lambda/ops-console-<zappa stage>.zip``.

What it does, and why:

1. A virtualenv of the runtime lock (requirements.txt: exact versions with hashes, the set
   the tests run with), ``.lambda/venv``, remade when the lock changes: it runs Zappa's own
   command and ``collectstatic``, so it is built for this machine.
2. The site-packages the package holds: the same lock installed for Lambda's platform of
   the stage's ``architecture`` (zappa_settings.json; arm64, Graviton, unless a stage says
   x86_64), ``.lambda/site-<architecture>``: manylinux wheels for that machine and
   CPython 3.12, by uv (``--python-platform``) or pip (``--platform``), hash-checked.
   Zappa packs the site-packages of ``VIRTUAL_ENV``, which points there; its own swap of
   compiled packages (``use_precompiled_packages``, off) would look them up at
   pypi.python.org, a host that does not resolve on a machine limited to the package
   registries, and silently keep what it had.
3. ``collectstatic`` with the production storage: the console's static files travel in
   the package and WhiteNoise serves them (``console.settings.production``).
4. ``zappa package <zappa stage>`` once per function. Its ``zip`` callback
   (``infra/zappa_callbacks.py``) adds bytecode compiled for the read-only Lambda
   filesystem, where Python cannot write its caches at import.
5. Checks the result: at most 40 MB zipped and 150 MB unzipped, no development package,
   every compiled package built for a glibc the Lambda runtime has (<= 2.34), and every
   compiled file (ELF: ``.so`` and the wheels' bundled libraries) built for the
   architecture's machine (``check_platform``: the ELF header's ``e_machine``).

``--architecture`` overrides the stage's: what runs the package on this machine (the
package tests, ``make deploy-local``, ``make bench-lambda``) builds it for this machine's
architecture (``host_architecture()``), since an arm64 package cannot run on x86_64.

The build machine must run CPython 3.12 on Linux, like the Lambda runtime, because the
bytecode is compiled by the interpreter that builds the package.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from console.runtime.stage import function_stages as stage_functions
from console.runtime.stage import zappa_stage_settings

ROOT = Path(__file__).resolve().parent.parent
# Hidden on purpose: Zappa walks the project directory (looking for WebSocket handlers)
# and skips hidden folders, so the build virtualenv is not scanned or copied.
WORKDIR = ROOT / ".lambda"
VENV = WORKDIR / "venv"
ZAPPA_TMP = WORKDIR / "tmp"
SITE = WORKDIR / "site-{architecture}"
PYTHON_VERSION = "3.12"
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34), on arm64 (Graviton) or
# x86_64: wheels for manylinux2014 (glibc 2.17) or manylinux_2_28 run on it. pip takes the
# best of either (Pillow, for one, publishes only manylinux_2_28 wheels now).
LAMBDA_GLIBC = (2, 34)
LEGACY_MANYLINUX = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}
MAX_ZIPPED_BYTES = 40 * 1024 * 1024
MAX_UNZIPPED_BYTES = 150 * 1024 * 1024
# Top-level modules of development and worker-only packages; none may be in the package.
DEVELOPMENT_MODULES = ("moto", "pytest", "_pytest", "factory", "faker", "ruff", "cfnlint", "pycurl", "curl")
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class Architecture:
    """A Lambda architecture: its wheels' platform tag and its ELF files' ``e_machine``."""

    name: str  # as Lambda and zappa_settings.json name it
    machine: str  # as wheel tags, uname and uv name it
    elf_machine: int

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        return (f"manylinux2014_{self.machine}", f"manylinux_2_28_{self.machine}")

    @property
    def uv_platform(self) -> str:
        return f"{self.machine}-manylinux_2_28"


ARCHITECTURES = {
    "arm64": Architecture("arm64", "aarch64", 183),
    "x86_64": Architecture("x86_64", "x86_64", 62),
}
ELF_MACHINES = {architecture.elf_machine: architecture.machine for architecture in ARCHITECTURES.values()}


@dataclass
class PackageReport:
    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    architecture: str = "x86_64"
    # ELF files in the package by machine (``check_platform``), e.g. {"aarch64": 41}.
    compiled_files: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "package": str(self.path),
            "architecture": self.architecture,
            "zipped_mb": round(self.zipped_bytes / 1024 / 1024, 1),
            "unzipped_mb": round(self.unzipped_bytes / 1024 / 1024, 1),
            "files": self.files,
            "compiled_files": self.compiled_files,
        }


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kwargs)


def pip(python: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return run([str(python), "-m", "pip", "--disable-pip-version-check", "-qq", *args], **kwargs)


def venv_python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def _uv() -> str | None:
    """uv beside the running interpreter (``make`` bootstraps it into .venv), if there."""
    return shutil.which("uv", path=str(Path(sys.executable).parent))


def _lock_stamp(requirements: Path, *salt: str) -> str:
    return hashlib.sha256(requirements.read_bytes() + "\n".join(salt).encode()).hexdigest()


def ensure_venv(python: str, requirements: Path, venv: Path = VENV) -> Path:
    """A virtualenv holding ``requirements`` and nothing else; reused while they are unchanged.
    A lock file (with hashes) is installed hash-checked."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
    stamp = _lock_stamp(requirements, version.stdout)
    stamp_file = venv / ".requirements-sha256"
    if stamp_file.exists() and stamp_file.read_text() == stamp and venv_python(venv).exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", str(venv)])
    hashes = ["--require-hashes"] if "--hash=" in requirements.read_text() else []
    uv = _uv()
    if uv:
        command = [uv, "pip", "install", "--quiet", "--native-tls", "--python", str(venv_python(venv))]
        run([*command, *hashes, "-r", str(requirements)])
    else:
        pip(venv_python(venv), "install", *hashes, "-r", str(requirements))
    stamp_file.write_text(stamp)
    return venv


def site_packages(site: Path) -> Path:
    """Where Zappa, with ``VIRTUAL_ENV=site``, finds the site-packages it packs."""
    return site / "lib" / f"python{PYTHON_VERSION}" / "site-packages"


def ensure_site(venv: Path, requirements: Path, architecture: Architecture) -> Path:
    """``requirements`` installed for Lambda's CPython 3.12 on ``architecture``: manylinux
    wheels of that machine only, hash-checked, into the layout of a virtualenv (returned)
    whose site-packages Zappa packs. Reused while the lock is unchanged."""
    site = Path(str(SITE).format(architecture=architecture.name))
    stamp = _lock_stamp(requirements, architecture.name, PYTHON_VERSION)
    stamp_file = site / ".requirements-sha256"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return site
    shutil.rmtree(site, ignore_errors=True)
    target = site_packages(site)
    target.mkdir(parents=True)
    uv = _uv()
    if uv:
        command = [uv, "pip", "install", "--quiet", "--native-tls", "--require-hashes", "--target", str(target)]
        command += ["--python", str(venv_python(venv)), "--python-platform", architecture.uv_platform]
        run([*command, "--python-version", PYTHON_VERSION, "-r", str(requirements)])
    else:
        # --no-deps: the lock names every package; pip allows --platform only with it (or
        # with binaries only, which would refuse the lock's few pure-Python source archives).
        platforms = [argument for name in architecture.pip_platforms for argument in ("--platform", name)]
        pip(
            venv_python(venv),
            "install",
            "--require-hashes",
            "--no-deps",
            # The zip callback compiles the bytecode the package holds.
            "--no-compile",
            *platforms,
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--target",
            str(target),
            "-r",
            str(requirements),
        )
    # Console scripts (django-admin, zappa, ...) are for a shell, not for the function; uv
    # leaves its lock file of the target folder.
    shutil.rmtree(target / "bin", ignore_errors=True)
    (target / ".lock").unlink(missing_ok=True)
    stamp_file.write_text(stamp)
    return site


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


def zappa_package(venv: Path, stage: str, output: Path, project: Path = ROOT, site: Path | None = None) -> Path:
    """``zappa package`` run from ``venv``, packing the site-packages of ``site`` (default:
    ``venv``'s own)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    ZAPPA_TMP.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(site or venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(ZAPPA_TMP),
        # Zappa's look-ups of wheels it has no copy of fail fast instead of waiting.
        "PIP_TIMEOUT": "1",
    }
    env.pop("PYTHONPATH", None)
    run([str(venv / "bin" / "zappa"), "package", stage, "--output", str(output)], cwd=project, env=env)
    return output


def inspect_package(path: Path, architecture: str = "arm64") -> PackageReport:
    """Sizes of the package, after checking it holds what Lambda needs and nothing else, and
    that everything compiled in it is built for ``architecture``'s machine."""
    target = ARCHITECTURES[architecture]
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
        if "Root-Is-Purelib: false" in wheel and not _lambda_platform_tag(wheel, target)
    ]
    if not_lambda:
        raise SystemExit(
            f"{path} holds compiled packages not built for Lambda ({', '.join(target.pip_platforms)}): {not_lambda}"
        )
    report = PackageReport(
        path=path,
        zipped_bytes=path.stat().st_size,
        unzipped_bytes=sum(info.file_size for info in infos),
        files=len(infos),
        architecture=architecture,
        compiled_files=check_platform(path, architecture),
    )
    if report.zipped_bytes > MAX_ZIPPED_BYTES or report.unzipped_bytes > MAX_UNZIPPED_BYTES:
        raise SystemExit(f"{path} is too large: {report.as_dict()} (limits: 40 MB zipped, 150 MB unzipped)")
    return report


def elf_machine(header: bytes) -> int | None:
    """``e_machine`` of an ELF file from its first 20 bytes (in the byte order ``EI_DATA``
    names), or None when they are not an ELF header."""
    if len(header) < 20 or not header.startswith(ELF_MAGIC):
        return None
    byteorder = "big" if header[5] == 2 else "little"
    return int.from_bytes(header[18:20], byteorder)


def compiled_file_machines(path: Path) -> dict[str, int | None]:
    """Every compiled file in the zip ``path``, with its ELF machine: each member that starts
    as an ELF file does, and each named like a shared library (``.so``, ``.so.5``: None when
    it is no ELF file)."""
    machines: dict[str, int | None] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            with archive.open(info) as member:
                machine = elf_machine(member.read(20))
            if machine is not None or re.search(r"\.so(\.[\d.]+)?$", info.filename):
                machines[info.filename] = machine
    return machines


def check_platform(path: Path, architecture: str) -> dict[str, int]:
    """Fails (SystemExit) unless every compiled file in the package is an ELF file for
    ``architecture``'s machine (``e_machine`` 183 for arm64's aarch64, 62 for x86_64): a
    file for another machine would fail to load on Lambda, at the first import that needs
    it. Returns how many compiled files each machine has."""
    expected = ARCHITECTURES[architecture]
    counts: dict[str, int] = {}
    wrong = []
    for name, machine in sorted(compiled_file_machines(path).items()):
        label = ELF_MACHINES.get(machine, "not ELF" if machine is None else f"e_machine {machine}")
        counts[label] = counts.get(label, 0) + 1
        if machine != expected.elf_machine:
            wrong.append(f"{name} ({label})")
    if wrong:
        shown = ", ".join(wrong[:10]) + (f" and {len(wrong) - 10} more" if len(wrong) > 10 else "")
        raise SystemExit(f"{path}: compiled files not built for {expected.name} ({expected.machine}): {shown}")
    return counts


def _lambda_platform_tag(wheel_metadata: str, architecture: Architecture) -> bool:
    """Whether a wheel's tags include one installable on Lambda's ``architecture`` (glibc <= 2.34)."""
    tags = [line.split(":", 1)[1].strip() for line in wheel_metadata.splitlines() if line.startswith("Tag:")]
    for tag in tags:
        interpreter, _, platforms = tag.split("-", 2)
        if interpreter not in {"cp312", "py3"} and not interpreter.startswith("cp3"):
            continue
        for platform_tag in platforms.split("."):
            match = re.fullmatch(rf"manylinux(?:_(\d+)_(\d+)|(1|2010|2014))_{architecture.machine}", platform_tag)
            if not match:
                continue
            glibc = (int(match[1]), int(match[2])) if match[1] else LEGACY_MANYLINUX[match[3]]
            if glibc <= LAMBDA_GLIBC:
                return True
    return False


def host_architecture() -> str:
    """This machine's architecture as Lambda names it: what the package must be built for to
    run here (the package tests, the deploy rehearsal, the cold-start benchmark)."""
    machine = platform.machine()
    for architecture in ARCHITECTURES.values():
        if machine in (architecture.machine, architecture.name):
            return architecture.name
    raise SystemExit(f"no Lambda architecture for this machine ({machine})")


def stage_architecture(stage: str, settings_path: Path = ROOT / "zappa_settings.json") -> str:
    """The ``architecture`` of Zappa stage ``stage`` (``extends`` resolved), as Zappa reads it."""
    architecture = zappa_stage_settings(stage, settings_path).get("architecture", "x86_64")
    if architecture not in ARCHITECTURES:
        raise SystemExit(f"zappa_settings.json: stage {stage}: unknown architecture {architecture!r}")
    return architecture


def function_stages(stage: str, settings_path: Path = ROOT / "zappa_settings.json") -> list[str]:
    """The Zappa stages of deployment stage ``stage`` (``console.runtime.stage``)."""
    try:
        return stage_functions(stage, settings_path)
    except KeyError as error:
        raise SystemExit(error.args[0]) from None


def package_path(stage: str) -> Path:
    """Where ``make package`` writes the package of Zappa stage ``stage``."""
    return WORKDIR / f"ops-console-{stage}.zip"


@dataclass
class Prepared:
    """What the packages of every function are built from."""

    venv: Path  # runs Zappa and collectstatic: this machine's
    site: Path  # what the package holds: Lambda's platform of ``architecture``
    architecture: str


def prepare(*, architecture: str, python: str | None = None) -> Prepared:
    """The runtime virtualenv, the runtime lock installed for ``architecture``, the static
    files collected."""
    requirements = ROOT / "requirements.txt"
    venv = ensure_venv(python or sys.executable, requirements)
    site = ensure_site(venv, requirements, ARCHITECTURES[architecture])
    collect_static(venv)
    return Prepared(venv=venv, site=site, architecture=architecture)


def package_stage(prepared: Prepared, stage: str, output: Path | None = None) -> PackageReport:
    """``zappa package <stage>`` (and its ``zip`` callback) from a prepared build, checked."""
    output = output or package_path(stage)
    zappa_package(prepared.venv, stage, output, site=prepared.site)
    return inspect_package(output, prepared.architecture)


def build_stages(
    *,
    stages: list[str],
    outputs: dict[str, Path] | None = None,
    python: str | None = None,
    architecture: str | None = None,
) -> dict[str, PackageReport]:
    """The package of each Zappa stage in ``stages``, from one ``prepare()``: only ``zappa
    package`` and its ``zip`` callback run per stage. ``architecture`` overrides the
    stages' own (which must agree). Returns each stage's report."""
    if architecture is None:
        architectures = {stage_architecture(stage) for stage in stages}
        if len(architectures) > 1:
            raise SystemExit(f"the stages {stages} differ in architecture ({sorted(architectures)}): build them apart")
        (architecture,) = architectures
    prepared = prepare(architecture=architecture, python=python)
    return {stage: package_stage(prepared, stage, (outputs or {}).get(stage)) for stage in stages}


def build(
    *, stage: str = "dev", output: Path | None = None, python: str | None = None, architecture: str | None = None
) -> PackageReport:
    """The package of one Zappa stage (``dev``, ``dev-worker``, ...)."""
    outputs = {stage: output} if output else None
    return build_stages(stages=[stage], outputs=outputs, python=python, architecture=architecture)[stage]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the Lambda packages of a stage with Zappa.")
    parser.add_argument("--stage", default="dev", help="the stage: builds <stage> and <stage>-worker")
    parser.add_argument("--only", default=None, metavar="ZAPPA_STAGE", help="build this Zappa stage only")
    parser.add_argument("--output", type=Path, default=None, help="where to write the package (with --only)")
    parser.add_argument("--python", default=None, help="the Python 3.12 to build the virtualenv with")
    parser.add_argument(
        "--architecture",
        choices=sorted(ARCHITECTURES),
        default=None,
        help="build for this architecture instead of the stage's (zappa_settings.json); "
        f"to run the package on this machine: {host_architecture()}",
    )
    args = parser.parse_args(argv)
    if args.output and not args.only:
        parser.error("--output needs --only: a stage has one package per function")
    stages = [args.only] if args.only else function_stages(args.stage)
    reports = build_stages(
        stages=stages,
        outputs={args.only: args.output} if args.output else None,
        python=args.python,
        architecture=args.architecture,
    )
    print(json.dumps([report.as_dict() for report in reports.values()], indent=2))


if __name__ == "__main__":
    main()
