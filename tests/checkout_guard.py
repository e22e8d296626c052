"""Pytest plugin: the test suite leaves the checkout as it found it.

At the start of a session (on the controller under ``pytest -n``) every file under the root directory is recorded
with its size and modification time; at the end the checkout is read again, and any file added, removed or changed
fails the session and is named in a section of its own. Only what tests may legitimately leave is not looked at:
the version-control and virtual-environment folders, Python's byte-code caches, pytest's own cache and the
egg-info of an editable install (``IGNORED``). A user's ``results/``, ``resources/`` and ``.snakemake/`` are looked
at like everything else: a test that plans or runs the workflow does so in a folder of its own (docs/TESTS.md).

Loaded by tests/conftest.py (``pytest_plugins``); tests/test_checkout_guard.py runs it on a deliberately leaky test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Folder names never looked into, wherever they are.
IGNORED = frozenset({".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
IGNORED_SUFFIXES = (".egg-info",)

_SNAPSHOT = pytest.StashKey[dict]()
_LEFT = pytest.StashKey[list]()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """{path relative to ``root``: (size, mtime_ns)} of every file (or link) under ``root``, the ignored folders
    pruned."""
    files: dict[str, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in IGNORED and not d.endswith(IGNORED_SUFFIXES)]
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:  # removed while walking
                continue
            files[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return files


def changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """One line per file added, removed or changed between two snapshots, sorted by path."""
    lines = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            lines.append(f"added    {path}")
        elif path not in after:
            lines.append(f"removed  {path}")
        elif before[path] != after[path]:
            lines.append(f"changed  {path}")
    return lines


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")  # a pytest-xdist worker: the controller checks for the whole session


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    if not _is_worker(session.config):
        session.config.stash[_SNAPSHOT] = snapshot(session.config.rootpath)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _is_worker(config) or _SNAPSHOT not in config.stash:
        return
    left = changes(config.stash[_SNAPSHOT], snapshot(config.rootpath))
    config.stash[_LEFT] = left
    if left and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    left = config.stash.get(_LEFT, [])
    if left:
        terminalreporter.write_sep("=", "the tests left the checkout changed", red=True, bold=True)
        terminalreporter.write_line(f"{len(left)} file(s) under {config.rootpath} differ from the session's start:")
        for line in left[:50]:
            terminalreporter.write_line(f"  {line}")
        if len(left) > 50:
            folders: dict[str, int] = {}
            for line in left:
                top = "/".join(line.split(maxsplit=1)[1].split("/")[:2])
                folders[top] = folders.get(top, 0) + 1
            by_folder = ", ".join(f"{folder}: {n}" for folder, n in sorted(folders.items()))
            terminalreporter.write_line(f"  ... and {len(left) - 50} more (all {len(left)} by folder: {by_folder})")
