"""Shared fixtures: the tiny preset as plain params dicts, and small procedural datasets."""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# pytest -n N (`make test`): each worker gets its share of the cores as torch/OpenMP threads, it and every job it
# starts. Two workers of 2 threads each on 2 cores spend much of their CPU time in OpenMP's spin-waits.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))


STAGE_RULE = {"pretrain": "pretrain_vae", "init": "init_sae", "sparsify": "sparsify", "extend": "extend"}


def load_config(preset: str | None = "tiny", **overrides) -> dict:
    """config.yaml (+ a preset, + overrides), prepared exactly as the Snakefile prepares it (schema defaults, checks)."""
    from vaesae.workflow import load_config as load

    files = [ROOT / f"workflow/presets/{preset}.yaml"] if preset else []
    return load(*files, overrides=overrides, root=ROOT)


def stage_params(cfg: dict, stage: str, method: str | None = None, device: str = "cpu") -> dict:
    """The ``--params`` a training rule passes for ``stage`` (the workflow's own builder), on ``device``."""
    from vaesae.workflow import rule_params

    return dict(rule_params(cfg, STAGE_RULE[stage], method=method), device=device)


def shared_stages(cfg: dict, dataset_file, out, seed: int):
    """Stages 1-2 (pretrain, init: shared by every method) into ``out/{pretrain,init}/``; returns ``out``."""
    from vaesae.config.sections import StageConfig
    from vaesae.train.loop import StageRunner

    for stage, init in (("pretrain", None), ("init", out / "pretrain/model.pt")):
        StageRunner(StageConfig.from_params(stage, stage_params(cfg, stage)), dataset_file=str(dataset_file), seed=seed,
                    out_model=str(out / stage / "model.pt"), out_history=str(out / stage / "history.csv"),
                    init_checkpoint=None if init is None else str(init), progress=False).run()  # fmt: skip
    return out


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow (vaesae.workflow.copy_workflow: Snakefile, config, workflow/, src/, envs/) at
    ``dest``; returns ``dest``. A run in the copy imports the copy's ``src/`` and keeps its Snakemake metadata in the
    copy, so a test may edit, touch or extend the copy's sources while other tests run beside it."""
    from vaesae.workflow import copy_workflow as copy

    return copy(dest, ROOT)


@functools.cache
def workspace() -> Path:
    """This process's private copy of the workflow (copy_workflow), in a temporary folder removed when the process
    ends: where a test that names no folder of its own runs Snakemake (test_workflow.snakemake's default ``cwd``).

    A run there plans, writes and keeps its metadata as in a fresh clone, whatever the checkout's own results/,
    resources/ and .snakemake/ hold (a user's `make quick`, a stacked preset), and leaves nothing in the checkout
    (tests/checkout_guard.py checks). A copy, not links: Snakemake resolves a linked Snakefile to the checkout, and
    the rules' source inputs would then be paths into the checkout."""
    import atexit
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="vaesae-workspace-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return copy_workflow(path / "checkout")


@pytest.fixture(scope="session")
def tiny_cfg() -> dict:
    return load_config("tiny")


@pytest.fixture(scope="session")
def dsprites_small(tmp_path_factory) -> Path:
    from vaesae.data.generate import make_procedural

    path = tmp_path_factory.mktemp("data") / "dsprites.h5"
    make_procedural("dsprites", path, subset=800, subset_seed=0)
    return path


def write_dataset(path, *, images, factors, factor_values, index, name, factor_names, factor_sizes, source,
                  description, n_total, checksum="") -> None:  # fmt: skip
    """Arrays already in memory as one canonical file, through the package's only writer (write_dataset_chunked)."""
    import numpy as np

    from vaesae.data.canonical import write_dataset_chunked

    images = np.asarray(images)
    write_dataset_chunked(path, n=len(images), channels=images.shape[-1] if images.ndim == 4 else 0,
                          chunks=[(images, np.asarray(factors), np.asarray(factor_values), np.asarray(index))],
                          name=name, factor_names=factor_names, factor_sizes=factor_sizes, source=source,
                          description=description, n_total=n_total, checksum=checksum)  # fmt: skip


# --- Running side by side (pytest -n 2, as `make test` does; docs/TESTS.md) -------------------------------------------
# pyproject.toml sets --dist loadscope --no-loadscope-reorder, and the scheduler below replaces xdist's notion of a
# scope by a group: every test of a group runs on one worker, in order, and the workers take the groups in collection
# order. A module is one group (its module-scoped fixtures, and any order its tests share, stay as written), except
# the modules below, whose tests are independent end-to-end runs: each of those tests is a group of its own. Tests
# that take the `tiny_run` fixture (the tiny preset run once) form one group whatever their module.
# (xdist's own --dist loadgroup cannot be used: it renames items through an attribute pytest 9.2 no longer reads.)
SPLIT_MODULES = ("test_workflow.py", "test_failures.py")
SHARED_RUNS = ("tiny_run",)
# The longest groups first, then the middling modules, longest first, so that neither worker is left with a long
# group at the end while the other idles (wall seconds under -n 2 on 2 cores, `pytest --durations`, 2026-12-06): the
# SLURM run (~190, mostly waiting on the scheduler), the tiny run with its ~30 rerun checks and every method (~330),
# the GPU runner's chain (~80), the GPU session's rehearsal (~60), the killed run (~30), the full disk (~26); then
# the report (~58), the workflow's contracts (~26), the GPU path's contracts (~23), training (~22), the paper
# config's no-op dry run (~21), the remedies (~19), their report (~15), the catalogs (~13). The short unit tests
# fill in on whichever worker is free.
HEAVY_FIRST = ("test_slurm.py", "tiny_run", "test_device_runner.py", "test_gpu_session.py", "test_killed_run",
               "test_full_disk", "test_report.py", "test_workflow_contract.py", "test_step_contract.py",
               "test_training.py", "test_noop_dry_run", "test_remedies.py", "test_remedies_report.py",
               "test_catalog.py")  # fmt: skip


@functools.cache
def _shared_run_tests(module: str) -> dict[str, str]:
    """{test function name: shared-run fixture it takes} for the test module ``module`` (read with ast, so that the
    controller, which collects nothing, groups exactly as the workers do)."""
    path = ROOT / "tests" / module
    if not path.is_file():
        return {}
    tree = ast.parse(path.read_text())
    return {node.name: arg.arg for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            for arg in node.args.args if arg.arg in SHARED_RUNS}  # fmt: skip


def group_of(nodeid: str) -> str:
    """The group of a test: a shared run's name, its module, or its own node id."""
    path, _, rest = nodeid.partition("::")
    module = Path(path).name
    function = rest.split("[")[0].split("::")[-1]
    if shared := _shared_run_tests(module).get(function):
        return shared
    return nodeid if module in SPLIT_MODULES else module


def pytest_configure(config):
    """The checkout guard (tests/checkout_guard.py): a session that leaves a file in the checkout fails, naming it.
    And a warning when SLURM's client waits on a controller that does not answer (``slurm_client_waits``)."""
    import checkout_guard

    if not config.pluginmanager.is_registered(checkout_guard):
        config.pluginmanager.register(checkout_guard, "checkout_guard")
    if not hasattr(config, "workerinput") and slurm_client_waits():
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            "SLURM's client is installed and configured, but `scontrol show config` gets no answer within 2 s: the "
            "SLURM executor plugin runs it at every Snakemake start (to word its help), so each of the suite's ~80 "
            "Snakemake starts waits about 9 s for the controller. Start the controller, or fix or remove the stale "
            "/etc/slurm/slurm.conf."), stacklevel=2)  # fmt: skip


def slurm_client_waits(timeout: float = 2.0) -> bool:
    """True when `sinfo` and `scontrol` are on PATH (so the SLURM executor plugin asks the controller at import) and
    `scontrol show config` does not return within ``timeout`` seconds (a configured controller that does not
    answer). Costs nothing where SLURM's client is absent, as on a fresh CI machine."""
    import shutil
    import subprocess

    scontrol = shutil.which("scontrol")
    if not scontrol or not shutil.which("sinfo"):
        return False
    try:
        subprocess.run([scontrol, "show", "config"], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True
    return False


def pytest_sessionstart(session):
    """Byte-compile the package once (the tests start a few hundred Python processes; where PYTHONDONTWRITEBYTECODE
    is set, each of them would compile every module it imports again). The copies of copy_workflow keep these files:
    the copied sources keep their mtimes, so the compiled files stay valid for them."""
    import compileall

    if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller, or a run without -n
        compileall.compile_dir(ROOT / "src", quiet=1)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        group = group_of(item.nodeid)
        return next((i for i, key in enumerate(HEAVY_FIRST) if key in group), len(HEAVY_FIRST))

    items.sort(key=rank)  # stable: within a rank, the collection order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log) if config.getvalue("dist") == "loadscope" else None
