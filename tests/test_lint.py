"""The workflow is lint-clean and snakefmt-formatted."""

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from conftest import ROOT, workspace

BIN = Path(sys.executable).parent


def test_snakemake_lint_is_clean():
    # in this process's copy of the workflow (its sources are the checkout's): the lint's log stays out of the checkout
    proc = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=workspace(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "good condition" in proc.stdout + proc.stderr


def test_snakefmt_check_passes():
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _rule_blocks() -> dict[str, str]:
    blocks = {}
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")) + [ROOT / "Snakefile"]:
        parts = re.split(r"^rule (\w+):\n", smk.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            blocks[name] = re.split(r"^\S", body, maxsplit=1, flags=re.M)[0]  # up to the next top-level line
    return blocks


def test_every_rule_has_a_log_and_a_conda_env_and_training_rules_a_benchmark():
    blocks = _rule_blocks()
    assert {"dataset", "pretrain_vae", "init_sae", "sparsify", "extend", "evaluate", "tables", "figures"} <= set(blocks)
    for name, body in blocks.items():
        if name == "all":
            continue
        assert re.search(r"^    log:", body, flags=re.M), f"rule {name} has no log:"
        assert re.search(r"^    conda:\n        ENV$", body, flags=re.M), f"rule {name} has no conda: ENV"
    for name in ("pretrain_vae", "init_sae", "sparsify", "extend"):
        assert re.search(r"^    benchmark:", blocks[name], flags=re.M), f"training rule {name} has no benchmark:"


def test_the_conda_env_pins_exactly_what_the_project_installs():
    env = yaml.safe_load((ROOT / "envs/pipeline.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = dict(p.split("==") for p in pip)
    assert {"torch", "numpy", "h5py", "scikit-learn", "pandas", "seaborn", "pyyaml"} <= set(pins)
    installed = {name: version(name).split("+")[0] for name in pins}
    assert installed == pins
    # the rules' env file is the one every rule names
    assert re.search(r'^ENV = "\.\./\.\./envs/pipeline\.yaml"$', (ROOT / "workflow/rules/common.smk").read_text(),
                     flags=re.M)  # fmt: skip
