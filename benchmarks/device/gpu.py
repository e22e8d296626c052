#!/usr/bin/env python3
"""Run the real workflow on a lent GPU machine that has torch but no Snakemake and no network.

The machine (the device tool's ``nvidia-h200``) starts bare, runs one command for at most 10 minutes, keeps
processes started in a new session while it stays warm, and returns at most 8 files of 16 MiB from ``$OUT``. This
script is the protocol for a whole workflow run (a 15-minute session measures with ``gpu_session.py`` instead); it
needs only the standard library, so it runs before anything is installed:

    python3 benchmarks/device/gpu.py env                      # install the carried wheels, print versions, check CUDA
    python3 benchmarks/device/gpu.py start /tmp/run --configfile benchmarks/device/dsprites-seed42.yaml
    python3 benchmarks/device/gpu.py follow /tmp/run --for 540   # print progress; exit 0 done, 1 failed, 3 running
    python3 benchmarks/device/gpu.py pack /tmp/run --out "$OUT"  # tar.gz parts of the results, <= 8 files a call
    python3 benchmarks/device/gpu.py stop /tmp/run
    python3 benchmarks/device/gpu.py unpack FETCHED_DIR... --dest docs/paper-scale/dsprites-seed42   # here, after
    python3 benchmarks/device/gpu.py times RESULTS_DIR        # per-stage and per-epoch seconds (markdown)

``start`` runs ``snakemake all --cores N --resources gpu=1`` with ``config.yaml`` plus the given config files,
detached (``setsid``), with ``results_dir`` and ``resources_dir`` under the run folder. Snakemake and the packages
it needs come from ``.whl/`` (``benchmarks/device/fetch_wheels.py`` downloads the versions pinned in ``.venv``);
everything else (torch, numpy, pandas, h5py, scikit-learn, matplotlib, seaborn) is the machine's own, and the
versions used are recorded in ``manifest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("VAESAE_DEVICE_SITE", "/tmp/vaesae-site"))  # where the carried wheels are installed
SHIM = SITE / "bin"  # `python` for the rules' shell commands, pointing at this interpreter
MAX_FILES, MAX_FILE_MB, MAX_TOTAL_MB = 8, 16, 64  # what one device call brings back from $OUT
PART_MB = 15  # tar parts stay under the 16 MiB per-file limit
EXIT_DONE, EXIT_FAILED, EXIT_RUNNING = 0, 1, 3
#: Kept out of the packed results: model checkpoints (hundreds of MB at paper scale), resume state, temporaries.
EXCLUDE = re.compile(r"(\.pt$|\.resume$|\.history-parts|/\.[^/]*\.tmp$)")
VERSIONED = ("torch", "numpy", "pandas", "h5py", "sklearn", "scipy", "matplotlib", "seaborn", "yaml", "tqdm",
             "snakemake")  # fmt: skip


class RunnerError(SystemExit):
    """An error the runner reports as one line (and exit status 2)."""

    def __init__(self, message: str):
        super().__init__(f"gpu.py: error: {message}")


# ------------------------------------------------------------------------------------------------- environment
def install_wheels(wheels: Path, site: Path = SITE) -> list[str]:
    """Install every wheel in ``wheels`` into ``site`` (no index, no dependencies); skipped when already done.

    Returns the wheel names. One version per project: two would make pip refuse the whole install.
    """
    files = sorted(wheels.glob("*.whl"))
    if not files:
        raise RunnerError(f"no wheels in {wheels}: run benchmarks/device/fetch_wheels.py here and carry .whl")
    projects: dict[str, str] = {}
    for f in files:
        name = f.name.split("-")[0].lower().replace("_", "-")
        if name in projects:
            raise RunnerError(f"two wheels of {name} in {wheels}: {projects[name]} and {f.name}; keep one")
        projects[name] = f.name
    stamp = hashlib.sha256("\n".join(f.name for f in files).encode()).hexdigest()
    marker = site / ".installed"
    if marker.exists() and marker.read_text() == stamp:
        return [f.name for f in files]
    site.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
           "--upgrade", "--target", str(site), *map(str, files)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RunnerError(f"installing the wheels from {wheels} failed:\n{proc.stdout}{proc.stderr}")
    marker.write_text(stamp)
    return [f.name for f in files]


def job_env(site: Path | None) -> dict:
    """The environment of Snakemake and its jobs: the carried site first, then this checkout's src/."""
    env = dict(os.environ)
    paths = ([str(site)] if site else []) + [str(ROOT / "src")] + [p for p in [env.get("PYTHONPATH")] if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    SHIM.mkdir(parents=True, exist_ok=True)
    python = SHIM / "python"  # the rules call `python`; the GPU image may only have `python3`. A script, not a
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # link: a venv is found by its own path
    python.chmod(0o755)
    env["PATH"] = os.pathsep.join([str(SHIM), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def versions(env: dict) -> dict:
    """Versions of the packages the pipeline imports, and the CUDA device torch sees, as the jobs will see them."""
    code = (
        "import importlib, json, platform\n"
        f"out = {{'python': platform.python_version()}}\n"
        f"for name in {VERSIONED!r}:\n"
        "    try:\n"
        "        out[name] = importlib.import_module(name).__version__\n"
        "    except Exception as err:\n"
        "        out[name] = f'missing ({type(err).__name__}: {err})'\n"
        "try:\n"
        "    import torch\n"
        "    out['cuda'] = torch.cuda.is_available()\n"
        "    out['device'] = torch.cuda.get_device_name(0) if out['cuda'] else None\n"
        "    out['torch_cuda'] = torch.version.cuda\n"
        "except Exception:\n"
        "    out['cuda'] = False\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RunnerError(f"cannot read the package versions:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare(args, required=VERSIONED) -> tuple[dict, dict]:
    """Install the wheels (if any are carried), then return the jobs' environment and the versions in it; a
    ``required`` package that is missing is an error."""
    site = None
    wheels = Path(args.wheels)
    if wheels.is_dir() and any(wheels.glob("*.whl")):
        install_wheels(wheels)
        site = SITE
    env = job_env(site)
    found = versions(env)
    missing = {k: v for k, v in found.items() if k in required and isinstance(v, str) and v.startswith("missing")}
    if missing:
        hint = "" if site else f" (no wheels in {wheels}: run benchmarks/device/fetch_wheels.py and carry .whl)"
        raise RunnerError(f"packages missing{hint}: " + "; ".join(f"{k}: {v}" for k, v in missing.items()))
    if args.require_gpu and not found.get("cuda"):
        raise RunnerError("torch sees no CUDA device (--require-gpu); this is not the GPU machine")
    return env, found


# ------------------------------------------------------------------------------------------------- the run
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is finished
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def state(run: Path) -> str:
    """``running``, ``done``, ``failed`` or ``absent``."""
    if (run / "exit_code").exists():
        return "done" if (run / "exit_code").read_text().strip() == "0" else "failed"
    pid_file = run / "snakemake.pid"
    if not pid_file.exists():
        return "absent"
    return "running" if _alive(int(pid_file.read_text())) else "failed"


def snakemake_command(run: Path, args) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", args.target, "--cores", str(args.cores), "--resources", "gpu=1",
           "--directory", str(ROOT), "--snakefile", str(ROOT / "Snakefile"),
           "--configfile", str(ROOT / "config.yaml"), *map(str, args.configfile),
           "--config", f"results_dir={run / 'results'}", f"resources_dir={run / 'resources'}", *args.config,
           "--printshellcmds", "--show-failed-logs"]  # fmt: skip
    if args.keep_going:
        cmd.append("--keep-going")
    return cmd


def source_fingerprint() -> str:
    """sha256 over the code and configuration that decide the results (src/, workflow/, Snakefile, config files)."""
    h = hashlib.sha256()
    files = [ROOT / "Snakefile", ROOT / "config.yaml", *sorted((ROOT / "src").rglob("*.py")),
             *sorted(p for p in (ROOT / "workflow").rglob("*") if p.is_file() and "__pycache__" not in p.parts),
             *sorted((ROOT / "benchmarks/device").glob("*.yaml"))]  # fmt: skip
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def start(args) -> int:
    run = Path(args.run_dir).resolve()
    if state(run) == "running":
        raise RunnerError(f"a run is already going in {run} (pid {(run / 'snakemake.pid').read_text()}); "
                          "follow it, or stop it first")  # fmt: skip
    for f in args.configfile:
        if not Path(f).is_file():
            raise RunnerError(f"config file {f} does not exist")
    args.configfile = [Path(f).resolve() for f in args.configfile]  # snakemake runs in the run folder
    if args.dry_run:  # the DAG the run would execute: needs Snakemake and the config's readers only
        env, _ = prepare(args, required=("snakemake", "yaml"))
        cmd = snakemake_command(run, args) + ["--dry-run", "--quiet", "rules"]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        print(proc.stdout + proc.stderr, end="")
        return EXIT_DONE if proc.returncode == 0 else EXIT_FAILED
    env, found = prepare(args)
    run.mkdir(parents=True, exist_ok=True)
    for stale in ("exit_code", "snakemake.pid", "snakemake.log", "pack"):
        path = run / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    cmd = snakemake_command(run, args)
    manifest = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": args.commit,
        "source_sha256": source_fingerprint(),
        "command": cmd,
        "configfiles": {str(f): Path(f).read_text() for f in args.configfile},
        "config_overrides": args.config,
        "versions": found,
        "host": os.uname().nodename,
        "nvidia_smi": _nvidia_smi(),
    }
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shell = f"{subprocess.list2cmdline(cmd)} > snakemake.log 2>&1; echo $? > exit_code.tmp && mv exit_code.tmp exit_code"
    with open(run / "runner.log", "a") as log:
        proc = subprocess.Popen(["/bin/sh", "-c", shell], cwd=run, env=env, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    (run / "snakemake.pid").write_text(str(proc.pid))
    print(f"started snakemake (pid {proc.pid}, process group {proc.pid}) in {run}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    print("command: " + subprocess.list2cmdline(cmd))
    return EXIT_DONE


def _nvidia_smi() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return proc.stdout.strip() or proc.stderr.strip()


def _last_progress(log: Path) -> str:
    """The last line of a job log, tqdm's carriage-return updates included."""
    with open(log, "rb") as f:
        f.seek(max(0, log.stat().st_size - 4096))
        tail = f.read().decode(errors="replace")
    parts = [p.strip() for p in re.split(r"[\r\n]", tail) if p.strip()]
    return parts[-1] if parts else ""


def follow(args) -> int:
    """Print the Snakemake log as it grows and the progress of the jobs writing now; exit when done or at --for."""
    run = Path(args.run_dir).resolve()
    if state(run) == "absent":
        raise RunnerError(f"no run in {run}: start one first")
    log = run / "snakemake.log"
    offset = int(args.from_byte)
    t0, last = time.monotonic(), time.time() - args.every
    while True:
        if log.exists():
            with open(log, "rb") as f:
                f.seek(offset)
                new = f.read()
            offset += len(new)
            for line in new.decode(errors="replace").splitlines():
                if re.search(r"steps \(|^rule |Error|error|Exception|Finished job|Removing|MissingOutput|Traceback",
                             line) or args.verbose:  # fmt: skip
                    print(line)
        s = state(run)
        if s != "running":
            break
        if time.monotonic() - t0 >= args.seconds:
            break
        logs = run / "results" / "logs"  # the job logs written to since the last report
        active = [p for p in logs.rglob("*.log") if p.stat().st_mtime >= last] if logs.exists() else []
        last = time.time()
        elapsed = time.monotonic() - t0
        for p in sorted(active):
            print(f"[{elapsed:6.0f} s] {p.relative_to(logs)}: {_last_progress(p)[-160:]}")
        sys.stdout.flush()
        time.sleep(min(args.every, max(0.1, args.seconds - elapsed)))
    s = state(run)
    print(f"state: {s} (log offset {offset}: pass --from-byte {offset} to continue from here)")
    if s == "failed":
        print(f"---- last lines of {log}")
        print("\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log)")
    return {"done": EXIT_DONE, "failed": EXIT_FAILED}.get(s, EXIT_RUNNING)


def stop(args) -> int:
    run = Path(args.run_dir).resolve()
    if state(run) != "running":
        print(f"nothing running in {run} ({state(run)})")
        return EXIT_DONE
    pid = int((run / "snakemake.pid").read_text())
    os.killpg(pid, signal.SIGTERM)  # snakemake removes the outputs of the jobs it interrupts
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    print(f"stopped the run in {run}")
    return EXIT_DONE


# ------------------------------------------------------------------------------------------------- times
def times_table(results: Path) -> str:
    """Markdown: each job's wall time (the rules' benchmark TSVs) and each run's per-epoch seconds (history.csv)."""
    lines = ["| job | wall s (benchmark) | epochs | s / epoch, median | s / epoch, first |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    epochs = {}
    for hist in sorted((results / "runs").glob("*/*/*/history.csv")):
        with open(hist) as f:
            rows = list(csv.DictReader(f))
        # training epochs only: stage 2's first row (epoch -1) is its evaluation before any step
        secs = [float(r["seconds"]) for r in rows if r.get("seconds") and int(r.get("epoch") or 0) >= 0]
        dataset, seed, phase = hist.parts[-4:-1]
        epochs[(dataset, seed, phase)] = secs
    for tsv in sorted((results / "benchmarks").glob("*.tsv")):
        with open(tsv) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        m = re.match(r"(\w+?)_(\w+)_(seed\d+)_(\w+)$", tsv.stem)
        secs: list[float] = []
        if m:
            rule, dataset, seed, what = m.groups()
            phase = {"pretrain": "vae", "init": "init"}.get(rule, f"{what}_extended" if rule == "extend" else what)
            secs = epochs.get((dataset, seed, phase), [])
        median = f"{statistics.median(secs):.2f}" if secs else ""
        first = f"{secs[0]:.2f}" if secs else ""
        lines.append(f"| {tsv.stem} | {float(row['s']):.1f} | {len(secs) or ''} | {median} | {first} |")
    return "\n".join(lines) + "\n"


def times(args) -> int:
    results = Path(args.results)
    if not (results / "benchmarks").is_dir():
        raise RunnerError(f"{results} has no benchmarks/ folder: pass a results_dir")
    print(times_table(results), end="")
    return EXIT_DONE


# ------------------------------------------------------------------------------------------------- pack / unpack
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _add_tree(tar: tarfile.TarFile, run: Path, files: list[Path]) -> None:
    for f in files:
        tar.add(f, arcname=str(f.relative_to(run)), recursive=False)


def _split(whole: Path, size: int) -> list[str]:
    """Cut ``whole`` into ``whole.partNNN`` files of ``size`` bytes (the last shorter); returns their names."""
    names = []
    with open(whole, "rb") as f:
        for i, chunk in enumerate(iter(lambda: f.read(size), b""), start=1):
            (whole.parent / f"{whole.name}.part{i:03d}").write_bytes(chunk)
            names.append(f"{whole.name}.part{i:03d}")
    whole.unlink()
    return names


def build_pack(run: Path, part_mb: float = PART_MB) -> list[dict]:
    """Pack a finished (or stopped) run into ``run/pack``: ``essentials.tar.gz.partNNN`` (everything but HDF5 and
    checkpoints: tables, figures, claims, sweeps, CSV histories, logs, benchmark TSVs, manifest, times) and then
    ``hdf5.tar.gz.partNNN`` (the HDF5 histories, then the evaluations). Returns the index rows, in that order."""
    pack = run / "pack"
    index_file = pack / "INDEX.json"
    if index_file.exists():
        return json.loads(index_file.read_text())
    tmp = run / ".pack.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    results = run / "results"
    files = sorted(p for p in run.rglob("*") if p.is_file() and not p.is_relative_to(run / "resources")
                   and not p.is_relative_to(tmp) and not EXCLUDE.search(str(p.relative_to(run))))  # fmt: skip
    if results.is_dir() and (results / "benchmarks").is_dir():
        (tmp / "times.md").write_text(times_table(results))
    h5 = sorted((f for f in files if f.suffix == ".h5"), key=lambda p: ("/eval/" in str(p), str(p)))
    rest = [f for f in files if f.suffix != ".h5"]
    names = []
    for archive, members in (("essentials.tar.gz", rest), ("hdf5.tar.gz", h5)):
        if not members:
            continue
        with tarfile.open(tmp / archive, "w:gz") as tar:
            _add_tree(tar, run, members)
            if archive == "essentials.tar.gz" and (tmp / "times.md").exists():
                tar.add(tmp / "times.md", arcname="times.md")
        names += _split(tmp / archive, int(part_mb * 2**20))
    index = [{"file": n, "bytes": (tmp / n).stat().st_size, "sha256": _sha256(tmp / n)} for n in names]
    (tmp / "INDEX.json").write_text(json.dumps(index, indent=2))
    shutil.rmtree(pack, ignore_errors=True)
    tmp.rename(pack)
    return index


def pack(args) -> int:
    run = Path(args.run_dir).resolve()
    s = state(run)
    if s == "running":
        raise RunnerError(f"the run in {run} is still going: pack it when `follow` says done (or `stop` it)")
    if not (run / "results").is_dir():
        raise RunnerError(f"{run} has no results/ to pack")
    index = build_pack(run, args.part_mb)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    budget, room = MAX_TOTAL_MB * 2**20, MAX_FILES - 1  # INDEX.json always goes
    shutil.copy2(run / "pack/INDEX.json", out / "INDEX.json")
    budget -= (out / "INDEX.json").stat().st_size
    sent = []
    for row in index[args.skip :]:
        if room == 0 or row["bytes"] > budget:
            break
        shutil.copy2(run / "pack" / row["file"], out / row["file"])
        sent.append(row["file"])
        room, budget = room - 1, budget - row["bytes"]
    total = sum(r["bytes"] for r in index)
    print(f"run state: {s}; pack: {len(index)} files, {total / 2**20:.1f} MiB; copied to {out}: {', '.join(sent)}")
    left = len(index) - args.skip - len(sent)
    if left:
        print(f"{left} more: run `pack {args.run_dir} --out $OUT --skip {args.skip + len(sent)}` in the next call")
    return EXIT_DONE


def unpack(args) -> int:
    """Check the fetched parts against INDEX.json, join the HDF5 parts, and extract everything into --dest."""
    dirs = [Path(d) for d in args.fetched]
    found = {f.name: f for d in dirs for f in d.iterdir() if f.is_file()}
    if "INDEX.json" not in found:
        raise RunnerError(f"no INDEX.json in {', '.join(map(str, dirs))}")
    index = json.loads(found["INDEX.json"].read_text())
    missing = [r["file"] for r in index if r["file"] not in found]
    if missing:
        raise RunnerError(f"parts not fetched yet: {', '.join(missing)}")
    for r in index:
        if _sha256(found[r["file"]]) != r["sha256"]:
            raise RunnerError(f"{found[r['file']]} does not match its sha256 in INDEX.json (a broken transfer?)")
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    for archive in ("essentials.tar.gz", "hdf5.tar.gz"):
        parts = [found[r["file"]] for r in index if r["file"].startswith(archive + ".part")]
        if parts:
            with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts)), mode="r:gz") as tar:
                tar.extractall(dest, filter="data")
    print(f"unpacked {len(index)} parts into {dest}")
    return EXIT_DONE


# ------------------------------------------------------------------------------------------------- command line
def env_cmd(args) -> int:
    _, found = prepare(args)
    print(json.dumps({**found, "nvidia_smi": _nvidia_smi()}, indent=2))
    return EXIT_DONE


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def setup_args(p):
        p.add_argument("--wheels", default=str(ROOT / ".whl"), help="folder of carried wheels (default .whl)")
        p.add_argument("--require-gpu", action="store_true", help="fail unless torch sees a CUDA device")

    p = sub.add_parser("env", help="install the carried wheels and print the versions the jobs will use")
    setup_args(p)
    p = sub.add_parser("start", help="start snakemake detached in RUN_DIR")
    p.add_argument("run_dir")
    p.add_argument("--configfile", nargs="+", default=[], help="config files laid over config.yaml, in order")
    p.add_argument("--config", nargs="+", default=[], help="KEY=VALUE overrides after the config files")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--target", default="all")
    p.add_argument("--keep-going", action="store_true", help="go on with independent jobs after a failure")
    p.add_argument("--commit", default=None, help="the git commit of this tree (the device machine has no .git)")
    p.add_argument("--dry-run", action="store_true", help="print the jobs the run would execute, start nothing")
    setup_args(p)
    p = sub.add_parser("follow", help="print progress until the run ends or SECONDS pass")
    p.add_argument("run_dir")
    p.add_argument("--for", dest="seconds", type=float, default=540.0)
    p.add_argument("--every", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--from-byte", type=int, default=0, help="skip this much of snakemake.log (printed by the last follow)")
    p.add_argument("--verbose", action="store_true", help="print every line of the Snakemake log")
    p = sub.add_parser("stop", help="stop the run (SIGTERM to its process group)")
    p.add_argument("run_dir")
    p = sub.add_parser("pack", help="pack the results and copy the next parts to --out")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True)
    p.add_argument("--skip", type=int, default=0, help="parts already brought back")
    p.add_argument("--part-mb", type=float, default=PART_MB)
    p = sub.add_parser("unpack", help="check and extract fetched parts (on this machine)")
    p.add_argument("fetched", nargs="+", help="folders holding INDEX.json and the parts")
    p.add_argument("--dest", required=True)
    p = sub.add_parser("times", help="per-job and per-epoch seconds of a results folder")
    p.add_argument("results")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return {"env": env_cmd, "start": start, "follow": follow, "stop": stop, "pack": pack, "unpack": unpack,
            "times": times}[args.cmd](args)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
