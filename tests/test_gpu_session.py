"""The one-call GPU session script (benchmarks/device/gpu_session.py), rehearsed on the CPU with the tiny preset."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks/device/gpu_session.py"


@pytest.mark.slow
def test_the_session_runs_every_section_and_writes_its_json(tmp_path):
    out = tmp_path / "out"
    args = ["--out", str(out), "--device", "cpu", "--tiny", "--images", "1600", "--steps", "2", "--reserve-s", "0",
            "--budget-s", "600", "--methods", "jumprelu", "--commit", "abc123"]  # fmt: skip
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "session.json").read_text())
    sections = result["sections"]
    assert list(sections) == ["env", "steps", "graph_check", "eval_checkpoint", "resume", "chain"]
    assert all(s["status"] == "ok" for s in sections.values()), {k: s.get("error") for k, s in sections.items()}
    assert sections["env"]["commit"] == "abc123" and sections["env"]["imports"]["jsonschema"] == "image"
    rows = sections["steps"]["rows"]
    assert len(rows) == 2 * 2 * 2  # (k_start, k_end) x (tf32, bf16) x (graph, eager) for the one method asked for
    assert {(r["method"], r["k"]) for r in rows} == {("jumprelu", 16), ("jumprelu", 2)}
    assert all(r["status"] == "ok" and r["ms_per_step"] > 0 and not r["nonfinite"] for r in rows)
    assert all(r["paper_epoch_s"] == pytest.approx(r["ms_per_step"] * 1.152) for r in rows)
    assert not any(r["graph"] for r in rows)  # no CUDA here: eager steps whatever the key says
    counted = [r for r in rows if "ops" in r]
    assert len(counted) == 2 and all(r["ops"] > 100 and r["syncs"] == 0 for r in counted)
    check = sections["graph_check"]["methods"]["jumprelu"]  # no CUDA: both runs eager, so bit for bit
    assert check["max_rel_loss_diff"] == 0.0 and check["max_rel_param_diff"] == 0.0 and not check["suspicious"]
    assert check["graph_used"] is False
    ev = sections["eval_checkpoint"]
    assert ev["eval_images"] == 300 and ev["eval_s"] > 0 and ev["checkpoint_gb"] > 0
    assert sections["resume"]["resumed_at_epoch"] == 2 and sections["resume"]["epochs"] == 4
    assert max(sections["resume"]["max_abs_diff"].values()) == 0.0  # on the CPU, bit for bit
    chain = sections["chain"]
    assert set(chain["seconds_per_job"]) == {"vae", "init", "topk", "topk_extended", "evaluate"}
    assert chain["epochs"] == {"pretrain": 2, "init": 1, "sparsify": 4, "extend": 2}
    assert 0 <= chain["evaluation"]["mig"] <= 1 and chain["evaluation"]["n_eval"] == 300
    assert "| jumprelu | 16 | tf32 |" in proc.stdout  # the closing table


def test_a_section_over_budget_is_skipped_and_the_json_says_so(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    import gpu_session

    session = gpu_session.Session(tmp_path, budget_s=10.0)
    session.run("fast", lambda: {"x": 1})
    session.run("slow", lambda: {"x": 2}, needs_s=60)
    session.run("broken", lambda: 1 / 0)
    saved = json.loads((tmp_path / "session.json").read_text())["sections"]
    assert saved["fast"]["status"] == "ok" and saved["fast"]["x"] == 1
    assert saved["slow"]["status"] == "skipped" and "60 s needed" in saved["slow"]["why"]
    assert saved["broken"]["status"] == "failed" and "ZeroDivisionError" in saved["broken"]["error"]


def test_carried_wheels_are_unzipped_without_pip_and_come_after_the_images_packages(tmp_path, monkeypatch):
    sys.path.insert(0, str(SCRIPT.parent))
    import gpu_session

    wheels = tmp_path / "whl"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "carriedpkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("carriedpkg/__init__.py", "VALUE = 42\n")
    monkeypatch.setattr(gpu_session, "WHEEL_SITE", tmp_path / "site")
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert gpu_session.unpack_wheels(wheels) == ["carriedpkg-1.0-py3-none-any.whl"]
    assert sys.path[-1] == str(tmp_path / "site")
    import carriedpkg

    assert carriedpkg.VALUE == 42


def _python312() -> str | None:
    """A working Python 3.12 (pyenv's shim on PATH may name one that is installed but not selected)."""
    pyenv = sorted(map(str, Path.home().glob(".pyenv/versions/3.12*/bin/python3.12")))
    candidates = [shutil.which("python3.12"), *pyenv]
    for exe in filter(None, candidates):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if subprocess.run([exe, "--version"], capture_output=True, timeout=30).returncode == 0:
                return exe
    return None


PY312 = _python312()


@pytest.mark.skipif(PY312 is None, reason="needs a python3.12 (the GPU machine's version) on PATH")
def test_the_script_and_the_sources_compile_and_the_session_runs_under_python_3_12(tmp_path):
    """The GPU machine runs Python 3.12.3 with its own torch, which this machine cannot install for 3.12: so here the
    script and every source file are compiled by a 3.12, and the script's standard-library part (the session and its
    JSON, the wheel unpacking) runs under it."""
    files = [str(SCRIPT), *map(str, (ROOT / "src").rglob("*.py")), *map(str, (ROOT / "benchmarks").rglob("*.py"))]
    proc = subprocess.run([PY312, "-m", "py_compile", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    code = (f"import sys; sys.path.insert(0, {str(SCRIPT.parent)!r}); import gpu_session as g; "
            f"s = g.Session(__import__('pathlib').Path({str(tmp_path)!r}), 60); s.run('x', lambda: {{'v': 1}}); "
            "print(sys.version_info[:2])")  # fmt: skip
    proc = subprocess.run([PY312, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "(3, 12)" in proc.stdout, proc.stderr
    assert json.loads((tmp_path / "session.json").read_text())["sections"]["x"]["v"] == 1
