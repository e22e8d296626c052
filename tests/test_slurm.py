"""The workflow on a real SLURM scheduler: a single-node cluster on 127.0.0.1 (tests/slurm/), the shipped profile.

Marked ``slurm``. Skipped, with the reason, only where no cluster can be started (not root, no apt, a scheduler
already bound to the ports). The cluster runs from its own state directory and exactly its daemons are stopped.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from test_workflow import snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SCRIPTS = ROOT / "tests" / "slurm"
GPU_RULES = ("pretrain_vae", "init_sae", "sparsify", "extend", "evaluate")
CONFS = [Path("/etc/slurm") / f for f in ("slurm.conf", "gres.conf", "cgroup.conf", "slurmdbd.conf")]


def _etc_slurm():
    return {p: p.read_bytes() if p.exists() else None for p in CONFS}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a local SLURM cluster needs root (apt-get install, daemons)")
    state = tmp_path_factory.mktemp("slurm-state")
    configs_before = _etc_slurm()
    env = dict(os.environ, SLURM_LOCAL_STATE=str(state), SLURM_LOCAL_FAKE_GPUS="1")
    start = subprocess.run(["bash", str(SCRIPTS / "start-local-slurm.sh")], env=env, capture_output=True, text=True,
                           timeout=900)  # fmt: skip
    if start.returncode != 0:
        subprocess.run(["bash", str(SCRIPTS / "stop-local-slurm.sh")], env=env, capture_output=True)
        pytest.skip(f"could not start a local SLURM cluster:\n{(start.stdout + start.stderr)[-1500:]}")
    pids = {p.stem: int(p.read_text()) for p in state.glob("*.pid")}
    yield pids
    subprocess.run(["bash", str(SCRIPTS / "stop-local-slurm.sh")], env=env, capture_output=True, timeout=120)
    for name, pid in pids.items():  # exactly the daemons this test started are gone
        assert not Path(f"/proc/{pid}").exists(), f"{name} ({pid}) still runs"
    assert not list(state.glob("*.pid"))
    # the machine's SLURM configs are back: a stale slurm.conf would make every later `snakemake` wait on scontrol
    assert _etc_slurm() == configs_before


def test_a_narrowed_tiny_run_goes_through_the_shipped_slurm_profile(cluster, tmp_path):
    """Only the account, the partitions and the polling cadence are edited: memory and time come from the rules, sized
    for the run."""
    assert {"munged", "slurmctld", "slurmd"} <= set(cluster)
    profile = yaml.safe_load((ROOT / "workflow/profiles/slurm/profile.yaml").read_text())
    assert profile["executor"] == "slurm"
    for section in ("default-resources", "set-resources"):  # no cluster-independent sizes in the profile
        assert "mem_mb" not in yaml.safe_dump(profile[section]) and "runtime" not in yaml.safe_dump(profile[section])
    # the values a user edits, set for this cluster (one partition, "debug"); everything else is the shipped profile
    profile["default-resources"].update(slurm_partition="debug", slurm_account="local")
    gpu_partition = {r for r, v in profile["set-resources"].items() if "slurm_partition" in v}
    assert gpu_partition == set(GPU_RULES)
    for rule in gpu_partition:
        profile["set-resources"][rule]["slurm_partition"] = "debug"
    # except the polling cadence, a courtesy to a shared scheduler that only costs time here. The plugin waits this long
    # for its first status check after a submission or a finished job (20 s shipped), then 10 s more per check that
    # finds nothing finished. A job here takes about 10 s (sbatch, Snakemake inside the job, the rule), so 1 s gives
    # checks at 1 and 12 s: measured 12 s per DAG wave against 14 s (2 s), 20 s (5 s) and 26 s (8 s)
    profile["slurm-init-seconds-before-status-checks"] = 1
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile/profile.yaml").write_text(yaml.safe_dump(profile))
    # the tiny preset (the quick preset's DAG with smaller jobs), narrowed on the command line to one dataset, one
    # seed and one method as a user would narrow a run (every rule still runs: Top-k has an extension stage)
    args = ("all", "--profile", str(tmp_path / "profile"), "--configfile", str(ROOT / "workflow/presets/tiny.yaml"),
            "--config", "datasets=[dsprites]", "seeds=[1]", "methods=[topk]", f"results_dir={tmp_path / 'results'}",
            f"resources_dir={tmp_path / 'resources'}")  # fmt: skip
    dry = snakemake("-n", *args)
    n_jobs = int(re.search(r"^total\s+(\d+)", dry.stdout + dry.stderr, flags=re.M).group(1)) - 1  # `all` is local
    proc = snakemake(*args, timeout=1200)
    out = proc.stdout + proc.stderr
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", out)
    assert len(submitted) == n_jobs and len(set(submitted)) == n_jobs, out[-3000:]
    assert f"{n_jobs + 1} of {n_jobs + 1} steps (100%) done" in out
    res = tmp_path / "results"
    assert (res / "claims.md").exists() and (res / "figures/figure01.png").exists()
    for rule in GPU_RULES:  # GPU rules were submitted with --gpus=1: SLURM allocated the fake GPU
        for log in (res / "logs" / rule).glob("*.log"):
            env = re.search(r"job environment: (.*)", log.read_text()).group(1)
            assert re.search(r"SLURM_JOB_ID=\d+", env) and "CUDA_VISIBLE_DEVICES=0 " in env, (log, env)
    assert len(list((res / "logs").glob("*/*.log"))) >= n_jobs - 3
    node_mb = int(re.search(r"RealMemory=(\d+)", subprocess.run(["scontrol", "show", "node"], capture_output=True,
                                                                   text=True).stdout).group(1))  # fmt: skip
    asked = [int(m) for m in re.findall(r"mem_mb=(\d+)", dry.stdout + dry.stderr)]
    assert asked and max(asked) <= node_mb, (max(asked), node_mb)  # sized for the run, so it fits this node
    for log in (res / "logs/global_metrics").glob("*.log"):  # a CPU rule: a SLURM job without a GPU
        env = re.search(r"job environment: (.*)", log.read_text()).group(1)
        assert re.search(r"SLURM_JOB_ID=\d+", env) and "CUDA_VISIBLE_DEVICES= " in env, (log, env)
    assert snakemake("-n", *args).stdout.count("submitted") == 0
    assert "Nothing to be done" in snakemake("-n", *args).stdout + snakemake("-n", *args).stderr
