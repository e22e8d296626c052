"""The shipped Snakemake profiles, resolved by Snakemake itself (dry runs; no scheduler needed)."""

from __future__ import annotations

import re

import yaml

from vaesae.workflow import rule_resources

from conftest import ROOT, load_config
from test_workflow import snakemake

GPU_RULES = {"pretrain_vae", "init_sae", "sparsify", "extend", "evaluate"}


def _jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run prints."""
    jobs = []
    for block in re.split(r"^(?:local)?rule ", output, flags=re.M)[1:]:
        rule = block.split(":", 1)[0]
        res = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        pairs = res.group(1).split(", ") if res else []
        jobs.append((rule, dict(p.split("=", 1) for p in pairs)))
    return jobs


def test_slurm_profile_sends_gpu_rules_to_the_gpu_partition_with_a_gpu():
    profile = yaml.safe_load((ROOT / "workflow/profiles/slurm/profile.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["rerun-incomplete"] is True
    assert set(profile["set-resources"]) >= GPU_RULES
    proc = snakemake("-n", "all", "--profile", "workflow/profiles/slurm")
    jobs = _jobs(proc.stdout + proc.stderr)
    assert len(jobs) == 88  # the paper DAG
    for rule, res in jobs:
        if rule == "all":
            continue
        assert res["slurm_account"] == "your-account" and int(res["runtime"]) > 0 and int(res["mem_mb"]) > 0, rule
        if rule in GPU_RULES:
            assert res.get("gpu") == "1" and res["slurm_partition"] == "gpu", (rule, res)
        else:
            assert "gpu" not in res and res["slurm_partition"] == "cpu", (rule, res)
    # memory and time come from the rules, sized from the run (vaesae.workflow.rule_resources), not the profile
    cfg = load_config(None)
    for rule, res in jobs:
        if rule in ("sparsify", "extend", "evaluate", "global_metrics", "dataset"):
            expected = [rule_resources(cfg, rule, d) for d in cfg["datasets"]]
            assert {"mem_mb": int(res["mem_mb"]), "runtime": int(res["runtime"])} in expected, (rule, res)
    sparsify = [int(res["runtime"]) for rule, res in jobs if rule == "sparsify"]
    extend = [int(res["runtime"]) for rule, res in jobs if rule == "extend"]
    assert min(extend) > max(sparsify) > 60  # 100 extended epochs take longer than 50 stage-3 epochs


def test_cluster_settings_live_in_the_profile_not_in_the_config():
    text = (ROOT / "config.yaml").read_text() + (ROOT / "workflow/schemas/config.schema.yaml").read_text()
    for key in ("slurm", "partition", "runtime", "mem_mb", "account"):
        assert key not in text, key


def test_local_gpu_profile_runs_one_gpu_job_at_a_time():
    profile = yaml.safe_load((ROOT / "workflow/profiles/local-gpu/profile.yaml").read_text())
    assert profile["resources"] == ["gpu=1"] and profile["cores"] == "all"
    proc = snakemake("-n", "all", "--profile", "workflow/profiles/local-gpu")
    out = proc.stdout + proc.stderr
    assert "Using profile workflow/profiles/local-gpu" in out
    jobs = _jobs(out)
    assert {rule for rule, res in jobs if res.get("gpu") == "1"} == GPU_RULES
