"""Failures at the workflow level, under the real CLI: a killed run, a full disk, an unknown target.

A killed Snakemake leaves its incomplete markers (and its lock); the next run redoes only the job that was cut off,
and training resumes from its last epoch checkpoint. A job that fails on a full disk leaves no result-looking file,
and once there is space again only that job reruns.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow
from test_workflow import SNAKEMAKE, job_counts, snakemake

pytestmark = pytest.mark.slow


def _config(tmp: Path, results: Path, **sparsify) -> Path:
    cfg = yaml.safe_load((ROOT / "workflow/presets/tiny.yaml").read_text())
    cfg.update(datasets=["dsprites"], seeds=[1], results_dir=str(results), resources_dir=str(tmp / "resources"))
    cfg["sparsify"].update(sparsify)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def work(tmp_path) -> Path:
    """A private copy of the workflow to run in: its .snakemake (locks, incomplete markers) is this test's alone, so
    no other test's run or `--unlock` (pytest -n) can touch the lock a killed run leaves."""
    return copy_workflow(tmp_path / "repo")


def _incomplete_markers(work: Path) -> set[str]:
    """The output files Snakemake has marked incomplete (its file persistence backend: base64 names)."""
    root = work / ".snakemake/incomplete"
    found = set()
    for f in root.rglob("*"):
        if f.is_file() and f.name != "migration_underway":
            b64 = "".join(part.lstrip("@") for part in f.relative_to(root).parts)
            found.add(base64.urlsafe_b64decode(b64).decode())
    return found


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _dry(work: Path, configfile: Path, *targets: str) -> dict[str, int]:
    proc = snakemake("-n", *targets, "--cores", "2", "--configfile", str(configfile), cwd=work)
    return job_counts(proc.stdout + proc.stderr)


def test_killed_run_leaves_incomplete_markers_and_the_next_run_redoes_only_that_job(tmp_path, work):
    res = tmp_path / "results"
    configfile = _config(tmp_path, res, epochs=8)  # long enough to be killed after its first epoch checkpoint
    run = res / "runs/dsprites/seed1/topk"
    target = str(run / "model.pt")
    args = ("--cores", "2", "--configfile", str(configfile))
    snakemake(str(res / "runs/dsprites/seed1/init/model.pt"), *args, cwd=work)

    env = dict(os.environ, PATH=f"{Path(SNAKEMAKE).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen([SNAKEMAKE, target, *args], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    resume = run / "model.pt.resume"
    deadline = time.monotonic() + 300
    while not resume.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert resume.exists() and proc.poll() is None, "training never reached its first epoch checkpoint"
    for pid in _descendants(proc.pid):  # the whole tree at once, as when a node dies
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)

    # Snakemake's markers name the cut-off job's outputs; nothing that looks like a result was left
    assert {target, str(run / "history.csv")} <= _incomplete_markers(work)
    assert not (run / "model.pt").exists() and not (run / "history.csv").exists()
    assert not list(run.glob(".*.tmp"))

    # the killed run's lock is still there, and says how to go on
    locked = snakemake(target, *args, check=False, cwd=work)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    snakemake(target, "--unlock", *args, cwd=work)
    assert _dry(work, configfile, target) == {"sparsify": 1}  # only the job that was cut off

    snakemake(target, *args, cwd=work)
    log = (res / "logs/sparsify/dsprites_seed1_topk.log").read_text()
    assert "resuming sparsify from" in log  # from its last epoch checkpoint, not from epoch 0
    assert (run / "model.pt").exists() and not resume.exists()
    assert not {target, str(run / "history.csv")} & _incomplete_markers(work)
    assert _dry(work, configfile, target) == {}


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs for results_dir (needs root and mount; skipped where the machine allows neither)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True,
                          text=True)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_full_disk_fails_the_job_cleanly_and_the_next_run_redoes_only_it(tmp_path, small_disk, work):
    res = small_disk / "results"
    configfile = _config(tmp_path, res)
    run = res / "runs/dsprites/seed1/topk"
    target = str(run / "model.pt")
    args = ("--cores", "2", "--configfile", str(configfile))
    snakemake(str(res / "runs/dsprites/seed1/init/model.pt"), *args, cwd=work)
    upstream = {p: p.stat().st_mtime_ns for p in res.glob("runs/dsprites/seed1/*/model.pt")}

    filler = small_disk / "filler"  # leave ~100 kB: the log fits, a 1.8 MB checkpoint does not
    with open(filler, "wb", buffering=0) as f:  # unbuffered: closing it has nothing left to write to the full disk
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - 100_000))

    failed = snakemake(target, *args, check=False, cwd=work)
    assert failed.returncode != 0
    assert "No space left on device" in (res / "logs/sparsify/dsprites_seed1_topk.log").read_text()
    assert not (run / "model.pt").exists() and not (run / "history.csv").exists()
    assert not list(run.glob(".*.tmp"))  # no half-written temporary left behind
    assert {p: p.stat().st_mtime_ns for p in upstream} == upstream

    filler.unlink()
    assert _dry(work, configfile, target) == {"sparsify": 1}
    snakemake(target, *args, cwd=work)
    assert (run / "model.pt").stat().st_size > 0 and _dry(work, configfile, target) == {}


def test_unknown_target_lists_the_targets_that_exist(tmp_path):
    configfile = _config(tmp_path, tmp_path / "results")
    for target, hint in (("tabels", "did you mean: tables?"), (str(tmp_path / "results/tables/table9.csv"), None)):
        proc = snakemake("-n", target, "--cores", "1", "--configfile", str(configfile), check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert f"unknown target {target!r}" in out
        assert "rules you can ask for: all, claims, figures, summarize, sweep, tables" in out
        assert f"{tmp_path}/results/runs/{{dataset}}/seed{{seed}}/{{method}}/model.pt" in out
        assert "datasets are dsprites; seeds are 1" in out
        assert hint is None or hint in out
    # real targets still pass the check: a rule name, a file a rule makes, an existing file
    for target in ("tables", str(tmp_path / "results/tables/table1.csv"), "config.yaml"):
        proc = snakemake("-n", target, "--cores", "1", "--configfile", str(configfile), check=False)
        assert "unknown target" not in proc.stdout + proc.stderr, target
