#!/usr/bin/env python3
"""Download, into ``.whl/``, the wheels the GPU machine lacks: Snakemake and everything it needs, at the versions
installed in this checkout's ``.venv`` (the project's pins, ``make setup``), for that machine's Python.

    .venv/bin/python benchmarks/device/fetch_wheels.py                 # Python 3.12, x86-64 manylinux (the H100 image)
    .venv/bin/python benchmarks/device/fetch_wheels.py --python 3.11   # another interpreter (the runner's CPU test)

The GPU image has torch, numpy, pandas, h5py, scikit-learn, scipy, matplotlib, seaborn, PyYAML and tqdm; the runner
uses those and records their versions. Snakemake is not there and the machine has no network, so its whole
dependency closure travels (about 30 MB; the device tool carries up to 64 MiB a call with the working tree). A
project with only a source release on PyPI is built into a wheel here; it must come out pure Python. ``.whl/`` is
ignored by git; the device call names it in ``carry``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux_2_5_x86_64", "manylinux1_x86_64")  # fmt: skip


def closure(roots: list[str], python: str) -> dict[str, str]:
    """``{project: installed version}`` of ``roots`` and everything they require on Linux x86-64 CPython ``python``."""
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}  # fmt: skip
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"fetch_wheels: {name} is not installed in {sys.prefix}; run `make setup` first") from None
        found[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return found


def download(name: str, version: str, dest: Path, python: str) -> Path:
    """The wheel of ``name==version`` for the target interpreter, downloaded, or built here from the sdist."""
    tag = python.replace(".", "")
    pip = [sys.executable, "-m", "pip"]
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    cmd = [*pip, "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", python,
           "--implementation", "cp", "--abi", f"cp{tag}", "--abi", "abi3", "--abi", "none", *plat,
           "-d", str(dest), f"{name}=={version}"]  # fmt: skip
    before = set(dest.glob("*.whl"))
    if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
        built = subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(dest), f"{name}=={version}"],
                               capture_output=True, text=True)  # fmt: skip
        if built.returncode != 0:
            raise SystemExit(f"fetch_wheels: no wheel of {name}=={version} for CPython {python}:\n{built.stderr}")
    new = sorted(set(dest.glob("*.whl")) - before)
    wheel = new[0] if new else next(dest.glob(f"{name.replace('-', '_')}-{version}-*.whl"), None)
    if wheel is None:  # already there under a differently normalised name
        wheel = next(p for p in dest.glob("*.whl") if canonicalize_name(p.name.split("-")[0]) == name)
    tags = wheel.name.rsplit("-", 3)[1:]
    if tags[1] not in ("none", "abi3", f"cp{tag}") or not (tags[2].startswith("manylinux") or tags[2] == "any.whl"):
        raise SystemExit(f"fetch_wheels: {wheel.name} will not install on CPython {python} x86-64 Linux")
    return wheel


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default="3.12", help="the GPU machine's Python (major.minor; default 3.12)")
    ap.add_argument("--dest", default=str(ROOT / ".whl"))
    ap.add_argument("roots", nargs="*", default=["snakemake"], help="projects to carry with their closure")
    args = ap.parse_args(argv)
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    pins = closure(args.roots, args.python)
    keep = set()
    for name, version in sorted(pins.items()):
        keep.add(download(name, version, dest, args.python).name)
    for stale in dest.glob("*.whl"):  # one version per project: two make pip refuse the whole install
        if stale.name not in keep:
            stale.unlink()
    size = sum(p.stat().st_size for p in dest.glob("*.whl"))
    print(f"{len(keep)} wheels, {size / 2**20:.1f} MiB in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
