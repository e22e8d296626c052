"""The GPU-machine runner (benchmarks/device/gpu.py) and its wheel fetcher, exercised on the CPU.

The runner's job on the lent GPU machine: install the carried wheels, start the real workflow detached, report its
progress across calls, and bring the results back in parts of at most 8 files a call. Here it runs the tiny preset,
narrowed to one dataset and one seed as the paper-scale device configs narrow the paper run.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"benchmarks/device/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu = _load("gpu")
fetch_wheels = _load("fetch_wheels")

# relative, as typed in a device call from the repository root: snakemake itself runs in the run folder
TINY = ["--configfile", "workflow/presets/tiny.yaml", "--config", "datasets=[dsprites]", "seeds=[1]", "methods=[topk]"]


@pytest.fixture(autouse=True)
def _site(tmp_path, monkeypatch):
    """The runner's install folder and `python` shim live in the test's folder, not /tmp/vaesae-site; the runner sees
    this process's copy of the workflow as its repository (Snakemake runs with --directory there and keeps its
    metadata there, not in the checkout)."""
    from conftest import workspace

    monkeypatch.chdir(workspace())
    monkeypatch.setattr(gpu, "ROOT", workspace())
    monkeypatch.setattr(gpu, "SITE", tmp_path / "site")
    monkeypatch.setattr(gpu, "SHIM", tmp_path / "site/bin")


def _follow(run, capsys, seconds=600):
    code = gpu.main(["follow", str(run), "--for", str(seconds), "--every", "2"])
    return code, capsys.readouterr().out


def _fake_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel: ``import name`` gives ``__version__ == version``."""
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f"__version__ = {version!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}  # fmt: skip
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(f"{info}/RECORD", "".join(f"{p},,\n" for p in [*files, f"{info}/RECORD"]))
    return wheel


@pytest.mark.slow
def test_the_runner_takes_a_narrowed_tiny_chain_from_start_to_unpacked_results(tmp_path, capsys):
    run = tmp_path / "run"
    assert gpu.main(["start", str(run), *TINY, "device=cpu", "--cores", "2", "--commit", "abc123",
                     "--wheels", str(tmp_path / "no-wheels")]) == 0  # fmt: skip
    started = capsys.readouterr().out
    assert "started snakemake" in started and "--resources gpu=1" in started
    with pytest.raises(SystemExit, match="already going"):  # one run per folder
        gpu.main(["start", str(run), *TINY, "--wheels", str(tmp_path / "no-wheels")])
    with pytest.raises(SystemExit, match="still going"):  # nothing is packed while it runs
        gpu.main(["pack", str(run), "--out", str(tmp_path / "early")])

    code, out = _follow(run, capsys)
    assert code == 0, out
    assert "steps (100%) done" in out and "state: done" in out
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["commit"] == "abc123" and len(manifest["source_sha256"]) == 64
    assert manifest["versions"]["snakemake"].startswith("9.") and manifest["versions"]["cuda"] is False
    assert "datasets=[dsprites]" in manifest["config_overrides"]
    res = run / "results"
    assert (res / "claims.md").exists() and (res / "tables/table1.md").exists()

    # per-stage times: one row per training job, its epochs as the tiny preset sets them
    tiny = yaml.safe_load((ROOT / "workflow/presets/tiny.yaml").read_text())
    assert gpu.main(["times", str(res)]) == 0
    rows = {line.split("|")[1].strip(): line.split("|")[2:5] for line in capsys.readouterr().out.splitlines()[2:]}
    expect = {"pretrain_dsprites_seed1_shared": tiny["pretrain"]["epochs"],
              "init_dsprites_seed1_shared": tiny["init"]["epochs"],
              "sparsify_dsprites_seed1_topk": tiny["sparsify"]["epochs"],
              "extend_dsprites_seed1_topk": tiny["extend"]["epochs"]}  # fmt: skip
    assert set(rows) == set(expect)
    for job, n in expect.items():
        wall, epochs, median = (c.strip() for c in rows[job])
        with open(res / "benchmarks" / f"{job}.tsv") as f:
            assert float(wall) == pytest.approx(float(next(csv.DictReader(f, delimiter="\t"))["s"]), abs=0.06)
        assert int(epochs) == n and float(median) > 0

    # parts of 0.1 MiB: more than one call's 8 files, so each call picks up where the last one stopped
    calls, skip = [], 0
    while True:
        out_dir = tmp_path / f"call{len(calls) + 1}"
        assert gpu.main(["pack", str(run), "--out", str(out_dir), "--skip", str(skip), "--part-mb", "0.1"]) == 0
        calls.append(out_dir)
        sent = sorted(p.name for p in out_dir.iterdir())
        assert len(sent) <= gpu.MAX_FILES and "INDEX.json" in sent
        assert sum(p.stat().st_size for p in out_dir.iterdir()) <= gpu.MAX_TOTAL_MB * 2**20
        more = re.search(r"--skip (\d+)", capsys.readouterr().out)
        if not more:
            break
        assert len(sent) == gpu.MAX_FILES and int(more.group(1)) == skip + len(sent) - 1
        skip = int(more.group(1))
    assert len(calls) >= 2 and "essentials.tar.gz.part001" in {p.name for p in calls[0].iterdir()}
    with pytest.raises(SystemExit, match="parts not fetched yet"):
        gpu.main(["unpack", *map(str, calls[:-1]), "--dest", str(tmp_path / "partial")])
    dest = tmp_path / "back"
    assert gpu.main(["unpack", *map(str, calls), "--dest", str(dest)]) == 0

    kept = {p.relative_to(run) for p in run.rglob("*") if p.is_file()
            and not p.is_relative_to(run / "pack") and not p.is_relative_to(run / "resources")}  # fmt: skip
    back = {p.relative_to(dest) for p in dest.rglob("*") if p.is_file()}
    assert not [p for p in back if p.suffix == ".pt"]  # checkpoints stay on the machine
    assert {p for p in kept if p.suffix != ".pt"} == back - {Path("times.md")}
    for p in back - {Path("times.md")}:
        assert (dest / p).read_bytes() == (run / p).read_bytes(), p
    assert (dest / "times.md").read_text().count("\n") == len(expect) + 2
    h5 = [p for p in back if p.suffix == ".h5"]
    assert {p.parent.name for p in h5 if p.parts[1] == "runs"} == {"vae", "init", "topk", "topk_extended"}


def test_follow_reports_a_failed_run_with_the_end_of_its_log(tmp_path, capsys):
    run = tmp_path / "run"
    assert gpu.main(["start", str(run), *TINY, "sparsify={epochs: 1}", "--wheels", str(tmp_path / "none")]) == 0
    code, out = _follow(run, capsys, seconds=120)
    assert code == gpu.EXIT_FAILED and "state: failed" in out
    assert "sparsify" in out and "epochs" in out  # the schema's message, naming the key, is in the printed tail
    assert (run / "exit_code").read_text().strip() not in ("", "0")


def test_follow_stops_at_its_time_limit_and_says_the_run_goes_on(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        (run / "snakemake.pid").write_text(str(sleeper.pid))
        text = "rule pretrain_vae:\n1 of 21 steps (5%) done\n"
        (run / "snakemake.log").write_text(text)
        t0 = time.monotonic()
        code, out = _follow(run, capsys, seconds=1)
        assert code == gpu.EXIT_RUNNING and time.monotonic() - t0 < 10
        assert "1 of 21 steps (5%) done" in out and "state: running" in out
        assert f"--from-byte {len(text)}" in out  # the next call starts where this one stopped
        with open(run / "snakemake.log", "a") as log:
            log.write("2 of 21 steps (10%) done\n")
        assert gpu.main(["follow", str(run), "--for", "0", "--from-byte", str(len(text))]) == gpu.EXIT_RUNNING
        out = capsys.readouterr().out
        assert "2 of 21 steps (10%) done" in out and "1 of 21" not in out
        assert gpu.main(["stop", str(run)]) == 0
        assert sleeper.wait(timeout=10) != 0 and gpu.state(run) == "failed"
    finally:
        sleeper.kill()


def test_start_fails_early_on_a_missing_config_file(tmp_path):
    with pytest.raises(SystemExit, match="config file .*nope.yaml does not exist"):
        gpu.main(["start", str(tmp_path / "run"), "--configfile", str(tmp_path / "nope.yaml")])
    assert not (tmp_path / "run").exists()


def test_unpack_rejects_a_part_that_does_not_match_its_checksum(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "results/runs/d/seed1/topk").mkdir(parents=True)
    (run / "results/runs/d/seed1/topk/history.h5").write_bytes(bytes(range(256)) * 2000)
    (run / "results/runs/d/seed1/topk/model.pt").write_bytes(b"checkpoint")
    (run / "results/claims.md").write_text("# claims\n")
    (run / "exit_code").write_text("0\n")
    out = tmp_path / "out"
    assert gpu.main(["pack", str(run), "--out", str(out), "--part-mb", "0.2"]) == 0
    index = json.loads((out / "INDEX.json").read_text())
    assert [r["file"] for r in index][:2] == ["essentials.tar.gz.part001", "hdf5.tar.gz.part001"]
    part = out / "hdf5.tar.gz.part001"
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match="hdf5.tar.gz.part001 does not match its sha256"):
        gpu.main(["unpack", str(out), "--dest", str(tmp_path / "dest")])


def test_carried_wheels_are_installed_once_and_two_versions_of_one_project_are_refused(tmp_path, monkeypatch):
    wheels = tmp_path / "whl"
    wheels.mkdir()
    with pytest.raises(SystemExit, match="no wheels in"):
        gpu.install_wheels(wheels, tmp_path / "site")
    _fake_wheel(wheels, "vaesae_fake_dep", "1.2.3")
    assert gpu.install_wheels(wheels, tmp_path / "site") == ["vaesae_fake_dep-1.2.3-py3-none-any.whl"]
    env = gpu.job_env(tmp_path / "site")
    got = subprocess.run(["python", "-c", "import sys, vaesae_fake_dep as m; print(m.__version__, sys.executable)"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert got[0] == "1.2.3"  # the carried package, through the `python` the rules call
    assert Path(got[1]).resolve() == Path(sys.executable).resolve()

    def no_second_install(*a, **k):
        raise AssertionError("pip ran again for wheels already installed")

    monkeypatch.setattr(gpu.subprocess, "run", no_second_install)
    gpu.install_wheels(wheels, tmp_path / "site")
    monkeypatch.undo()
    _fake_wheel(wheels, "vaesae_fake_dep", "1.2.4")
    with pytest.raises(SystemExit, match="two wheels of vaesae-fake-dep"):
        gpu.install_wheels(wheels, tmp_path / "site")


def test_the_wheel_closure_is_snakemake_and_its_requirements_at_the_installed_versions():
    from importlib import metadata

    pins = fetch_wheels.closure(["snakemake"], "3.12")
    assert pins["snakemake"] == metadata.version("snakemake")
    for needed in ("pulp", "pyyaml", "jsonschema", "snakemake-interface-common", "connection-pool"):
        assert pins[needed] == metadata.version(needed)
    assert not {"torch", "numpy", "pandas"} & set(pins)  # the GPU image's own
    with pytest.raises(SystemExit, match="not installed"):
        fetch_wheels.closure(["a-project-that-is-not-installed"], "3.12")


def test_a_dry_run_of_a_paper_scale_device_config_lists_the_whole_chain_and_starts_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    code = gpu.main(["start", str(run), "--configfile", str(ROOT / "benchmarks/device/dsprites-seed42.yaml"), "--dry-run",
                     "--wheels", str(tmp_path / "none")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    stats = out.split("Job stats:")[1]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)\s*$", stats, flags=re.M)}
    assert counts == {"dataset": 1, "dataset_preview": 1, "pretrain_vae": 1, "init_sae": 1, "evaluate": 4,
                      "sparsify": 2, "extend": 1, "global_metrics": 4, "summarize": 1, "sweep": 1, "claims": 1,
                      "figures": 1, "tables": 1, "all": 1, "total": 21}  # fmt: skip
    assert not run.exists()
    for name in ("dsprites", "shapes3d"):  # the paper's scale: only the grid, the data source and the device differ
        cfg = yaml.safe_load((ROOT / f"benchmarks/device/{name}-seed42.yaml").read_text())
        assert cfg == {"datasets": [name], "seeds": [42], "device": "cuda", "data": {"source": "procedural"}}
