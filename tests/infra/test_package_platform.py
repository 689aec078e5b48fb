"""The package's compiled files are built for the stage's architecture: arm64 (Graviton) by
default, x86_64 where a stage says so (infra/package.py ``check_platform``)."""

import json
import struct
import sys
import zipfile
from pathlib import Path

import pytest

from infra import package as packaging
from tests.lambda_packages import arm64_package

ROOT = Path(__file__).resolve().parents[2]


def elf_header(machine: int, *, big_endian: bool = False) -> bytes:
    """The first 64 bytes of a 64-bit ELF shared object for ``machine``."""
    order = ">" if big_endian else "<"
    ident = b"\x7fELF" + bytes([2, 2 if big_endian else 1, 1]) + bytes(9)
    return ident + struct.pack(f"{order}HHI", 3, machine, 1) + bytes(40)


def package_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "package.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_every_stage_deploys_on_arm64():
    stages = json.loads((ROOT / "zappa_settings.json").read_text())

    assert {stage: packaging.stage_architecture(stage) for stage in stages} == dict.fromkeys(stages, "arm64")


def test_the_elf_machine_is_read_from_the_header_in_its_byte_order():
    assert packaging.elf_machine(elf_header(183)) == 183
    assert packaging.elf_machine(elf_header(62, big_endian=True)) == 62
    assert packaging.elf_machine(b"#!/bin/sh\n" + bytes(20)) is None


def test_this_interpreter_is_an_elf_file_of_this_machine():
    with open(sys.executable, "rb") as binary:
        machine = packaging.elf_machine(binary.read(20))

    assert machine == packaging.ARCHITECTURES[packaging.host_architecture()].elf_machine


def test_a_package_of_aarch64_files_passes_the_arm64_check(tmp_path):
    package = package_with(
        tmp_path,
        {
            "PIL/_imaging.cpython-312-aarch64-linux-gnu.so": elf_header(183),
            "pillow.libs/libjpeg-1a2b3c.so.62.4.0": elf_header(183),
            "django/__init__.py": b"",
        },
    )

    assert packaging.check_platform(package, "arm64") == {"aarch64": 2}


def test_an_x86_64_file_fails_the_arm64_check_and_is_named(tmp_path):
    package = package_with(
        tmp_path,
        {
            "PIL/_imaging.cpython-312-aarch64-linux-gnu.so": elf_header(183),
            "psycopg_binary.libs/libpq-9f8e7d.so.5.17": elf_header(62),
        },
    )

    with pytest.raises(SystemExit, match=r"not built for arm64 \(aarch64\): psycopg_binary.libs/libpq-9f8e7d.so.5.17"):
        packaging.check_platform(package, "arm64")


def test_a_shared_library_that_is_no_elf_file_fails(tmp_path):
    package = package_with(tmp_path, {"yaml/_yaml.cpython-312-aarch64-linux-gnu.so": b"not a binary"})

    with pytest.raises(SystemExit, match=r"_yaml.cpython-312-aarch64-linux-gnu.so \(not ELF\)"):
        packaging.check_platform(package, "arm64")


def test_x86_64_stays_a_setting(tmp_path):
    package = package_with(tmp_path, {"PIL/_imaging.cpython-312-x86_64-linux-gnu.so": elf_header(62)})

    assert packaging.check_platform(package, "x86_64") == {"x86_64": 1}
    with pytest.raises(SystemExit):
        packaging.check_platform(package, "arm64")


def test_the_arm64_package_holds_aarch64_files_only():
    """Built as ``make package`` builds a stage (its architecture, arm64), on this machine."""
    report = arm64_package()

    assert report.architecture == "arm64"
    assert set(report.compiled_files) == {"aarch64"} and report.compiled_files["aarch64"] >= 10
    with zipfile.ZipFile(report.path) as archive:
        names = archive.namelist()
    assert any(name.startswith("psycopg_binary/") and name.endswith("aarch64-linux-gnu.so") for name in names)
    assert not [name for name in names if "x86_64" in name and name.endswith(".so")]
    assert report.zipped_bytes <= packaging.MAX_ZIPPED_BYTES
