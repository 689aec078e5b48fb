"""Vendor front-end packages from the npm registry into our static files (never a CDN).

    python scripts/vendor_npm.py          # fetch what console/static/console/vendor/npm.json lists
    python scripts/vendor_npm.py --check  # exit 1 when a vendored file differs from its package

Each entry of ``npm.json`` names a package, an exact version, the registry's ``integrity``
of its tarball (sha512, checked before anything is written), and the files to copy out of
it (path in the package -> path under ``console/static/console/vendor/<package>/``, or
under ``into``, a directory of the repository, for a package only the tests use). The
package's licence file is copied beside them. ``"drop_source_map": true`` removes a
script's ``//# sourceMappingURL=`` line: Django's manifest storage refuses a reference to a
map that is not there, and a megabyte of map has no place in the Lambda package.

A version bump is: change the version, set ``integrity`` to "" once, run this, and commit
what it printed into ``integrity``.
"""

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "console" / "static" / "console" / "vendor"
MANIFEST = VENDOR_DIR / "npm.json"
REGISTRY = "https://registry.npmjs.org"
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license", "LICENSE-MIT")


def _tarball(package: str, version: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(f"{REGISTRY}/{package}/{version}", timeout=60) as response:
        dist = json.load(response)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=120) as response:
        data = response.read()
    return data, dist["integrity"]


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _files(entry: dict) -> dict[str, bytes]:
    data, registry_integrity = _tarball(entry["package"], entry["version"])
    actual = _integrity(data)
    if actual != registry_integrity:
        raise SystemExit(f"{entry['package']}@{entry['version']}: tarball does not match the registry's integrity")
    if entry.get("integrity") and entry["integrity"] != actual:
        raise SystemExit(f"{entry['package']}@{entry['version']}: integrity {actual} differs from npm.json's")
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = {member.name.split("/", 1)[1]: member for member in archive.getmembers() if "/" in member.name}
        for source, target in entry["files"].items():
            content = archive.extractfile(members[source]).read()
            if entry.get("drop_source_map") and target.endswith(".js"):
                content = re.sub(rb"\n//# sourceMappingURL=[^\n]*\s*$", b"\n", content)
            out[target] = content
        for name in LICENCE_NAMES:
            if name in members:
                out["LICENSE"] = archive.extractfile(members[name]).read()
                break
    print(f"{entry['package']}@{entry['version']} integrity {actual}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    differing = []
    for entry in json.loads(MANIFEST.read_text()):
        base = ROOT / entry["into"] if entry.get("into") else VENDOR_DIR
        directory = base / entry["package"].replace("/", "__").lstrip("@")
        for target, content in _files(entry).items():
            path = directory / target
            if args.check:
                if not path.exists() or path.read_bytes() != content:
                    differing.append(str(path))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    for path in differing:
        print(f"differs from its package: {path}", file=sys.stderr)
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
