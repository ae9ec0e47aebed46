"""Assemble the image's build context offline; print its content hash.

    python deploy/container/build_context.py CONTEXT_DIR WHEEL_CACHE

Run with the project's venv interpreter (scripts/build_image.sh does). It
1. pins the image's Python dependencies to the versions installed in this
   interpreter (the project's ``dependencies`` + the ``sandbox`` extra + tzdata,
   with their dependencies, read from the installed metadata): the image runs
   what the tests ran;
2. fetches the wheels it does not have yet into WHEEL_CACHE through pip
   (``pip wheel --no-deps``: from PyPI or pip's local indexes; a cached wheel is
   never fetched again);
3. copies the app's sources (backend/, gateway/, resources/, deploy/container/,
   pyproject.toml: the files git knows, else every file but bytecode), the
   Dockerfile, the wheels and the pins into CONTEXT_DIR;
4. prints the SHA-256 of everything in the context: the image's content hash.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("backend", "gateway", "resources", "deploy/container", "pyproject.toml")
EXTRAS = ("sandbox",)
ALSO = ("tzdata",)  # zoneinfo's fallback: a slim base may have no /usr/share/zoneinfo


def pins() -> dict[str, str]:
    """canonical name -> installed version, for the image's dependencies and theirs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    roots = [Requirement(r) for r in project["dependencies"]]
    for extra in EXTRAS:
        roots += [Requirement(r) for r in project["optional-dependencies"][extra]]
    roots += [Requirement(r) for r in ALSO]
    found: dict[str, str] = {}
    todo: list[tuple[Requirement, frozenset[str]]] = [(r, frozenset()) for r in roots]
    while todo:
        req, _ = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}) and req.name not in ALSO:
            continue
        name = canonicalize_name(req.name)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            sys.exit(f"build_context: {req.name} is not installed in {sys.executable}; run ./dev --version first")
        extras = set(req.extras)
        if name in found and not extras:
            continue
        found[name] = dist.version
        for raw in dist.requires or ():
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *extras)):
                sub.marker = None
                todo.append((sub, frozenset()))
    return dict(sorted(found.items()))


def cached_wheel(cache: Path, name: str, version: str, tags: set) -> Path | None:
    for wheel in cache.glob("*.whl"):
        try:
            wname, wversion, _, wtags = parse_wheel_filename(wheel.name)
        except Exception:
            continue
        if wname == name and str(wversion) == version and wtags & tags:
            return wheel
    return None


def fetch(cache: Path, wanted: dict[str, str]) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    tags = set(sys_tags())
    missing = [f"{n}=={v}" for n, v in wanted.items() if cached_wheel(cache, n, v, tags) is None]
    if missing:
        print(f"build_context: fetching {len(missing)} wheel(s): {' '.join(missing)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(cache),
                        *missing], check=True)
    out = {}
    for name, version in wanted.items():
        wheel = cached_wheel(cache, name, version, tags)
        if wheel is None:
            sys.exit(f"build_context: no wheel of {name}=={version} for this platform in {cache}")
        out[name] = wheel
    return out


def source_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard", "--", *SOURCES],
                                check=True, capture_output=True).stdout.decode().split("\0")
        files = [ROOT / p for p in listed if p]
    except (OSError, subprocess.CalledProcessError):
        files = [p for s in SOURCES for p in ([ROOT / s] if (ROOT / s).is_file() else (ROOT / s).rglob("*"))]
    return sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def main(context: Path, cache: Path) -> int:
    wanted = pins()
    wheels = fetch(cache, {**wanted, "pip": md.version("pip")})
    if context.exists():
        shutil.rmtree(context)
    (context / "wheels").mkdir(parents=True)
    for name, wheel in wheels.items():
        shutil.copy2(wheel, context / "wheels" / ("pip.whl" if name == "pip" else wheel.name))
    (context / "wheels" / "requirements.txt").write_text(
        "".join(f"{n}=={v}\n" for n, v in wanted.items()), encoding="utf-8")
    for src in source_files():
        rel = src.relative_to(ROOT)
        (context / "app" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, context / "app" / rel)
    shutil.copy2(ROOT / "deploy" / "container" / "Dockerfile", context / "Dockerfile")
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context).as_posix()
        digest.update(rel.encode() + b"\0")
        # Wheels are named by version (and their bytes fixed by PyPI): the name is enough.
        digest.update(b"" if rel.startswith("wheels/") and rel.endswith(".whl") else path.read_bytes())
        digest.update(b"\0")
    print(digest.hexdigest())
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]).absolute(), Path(sys.argv[2]).absolute()))
