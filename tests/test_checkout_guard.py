"""The checkout guard (tests/checkout_guard.py): a pytest session that leaves a file behind fails and names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from checkout_guard import changes, snapshot

from conftest import ROOT

LEAKY = '''
from pathlib import Path

def test_leaves_a_file(request):
    (Path(request.config.rootpath) / "results" / "left-behind.txt").write_text("x")
'''
CLEAN = '''
def test_writes_nothing(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
'''


def _pytest_in(project: Path, test_source: str) -> subprocess.CompletedProcess:
    """pytest with the guard, in ``project`` (its own rootdir and ini file), on one test module."""
    (project / "results").mkdir(parents=True, exist_ok=True)
    (project / "results/README.md").write_text("kept\n")
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_it.py").write_text(test_source)
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "checkout_guard", "-p", "no:xdist",
                           "-p", "no:cacheprovider", "-c", str(project / "pytest.ini"), "--rootdir", str(project),
                           str(project / "test_it.py")], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_a_session_that_leaves_a_file_fails_and_names_it(tmp_path):
    proc = _pytest_in(tmp_path, LEAKY)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 passed" in out  # the test itself passed: the session failed because of what it left
    assert "the tests left the checkout changed" in out and "added    results/left-behind.txt" in out, out


def test_a_session_that_writes_only_to_its_own_folders_passes(tmp_path):
    proc = _pytest_in(tmp_path, CLEAN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "left the checkout" not in proc.stdout + proc.stderr


def test_changes_names_added_removed_and_changed_files(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("1")
    (tmp_path / ".venv").mkdir()
    (tmp_path / "src/pkg.egg-info").mkdir(parents=True)
    before = snapshot(tmp_path)
    assert set(before) == {"a", "b"}
    (tmp_path / "a").write_text("22")  # changed size
    (tmp_path / "b").unlink()
    (tmp_path / "results/quick").mkdir(parents=True)
    (tmp_path / "results/quick/new.csv").write_text("")
    (tmp_path / ".venv/ignored").write_text("")  # the ignored folders are never looked into
    (tmp_path / "src/pkg.egg-info/PKG-INFO").write_text("")
    assert changes(before, snapshot(tmp_path)) == ["changed  a", "removed  b", "added    results/quick/new.csv"]
    assert changes(before, before) == []


def test_the_slurm_client_check_tells_a_waiting_controller_from_an_answer_or_no_client(tmp_path, monkeypatch):
    """conftest.slurm_client_waits: a warning only where SLURM's client waits on its controller (every Snakemake
    start would wait with it); no cost where the client is absent."""
    from conftest import slurm_client_waits

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    import shutil

    for name, body in (("sinfo", "exit 0"), ("scontrol", f"exec {shutil.which('sleep')} 5")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert slurm_client_waits(timeout=0.5) is True
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho 'MinJobAge = 300 sec'\n")
    assert slurm_client_waits(timeout=0.5) is False
    (bin_dir / "sinfo").unlink()  # no SLURM client: the plugin asks nothing, and neither does the check
    assert slurm_client_waits(timeout=0.5) is False
