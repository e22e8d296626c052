"""The Snakemake workflow under the real CLI: DAG shape, config rejection, a tiny end-to-end run, rerun scope."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_workflow, workspace

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(*args, check=True, timeout=900, cwd=None):
    """The Snakemake CLI in ``cwd``; by default this process's workspace (conftest.workspace): the checkout's workflow
    with results/, resources/ and .snakemake/ of its own, so that nothing the user ran in the checkout is read and
    nothing is written there."""
    cwd = workspace() if cwd is None else cwd
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        [SNAKEMAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run ({} when there is nothing to do)."""
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:")[1]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M))
    counts.pop("total", None)
    return {k: int(v) for k, v in counts.items()}


def write_config(tmp_path: Path, **overrides) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(overrides))
    return path


def test_paper_dag_has_the_papers_jobs():
    proc = snakemake("-n", "all", "--cores", "1", "--resources", "gpu=1")
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["dataset"] == 2
    assert counts["pretrain_vae"] == 6 and counts["init_sae"] == 6
    assert counts["sparsify"] == 12 and counts["extend"] == 6
    assert counts["evaluate"] == 24 and counts["sweep"] == 1 and counts["summarize"] == 1
    assert counts["tables"] == counts["figures"] == counts["claims"] == 1
    out = proc.stdout + proc.stderr
    for n in range(1, 9):
        assert f"results/paper/tables/table{n}.csv" in out and f"results/paper/tables/table{n}.md" in out
    for n in range(1, 13):
        assert f"results/paper/figures/figure{n:02d}.png" in out
    assert "results/paper/claims.md" in out


def test_the_remedies_preset_plans_every_arm():
    """remedies.yaml adds the four remedies to the paper grid: each gets stage 3, extended training and evaluations."""
    proc = snakemake("-n", "all", "--cores", "1", "--resources", "gpu=1", "--configfile", "workflow/presets/remedies.yaml")
    counts = job_counts(proc.stdout + proc.stderr)
    runs = 2 * 3  # datasets x seeds
    assert counts["pretrain_vae"] == counts["init_sae"] == runs  # shared by every arm
    assert counts["sparsify"] == 6 * runs and counts["extend"] == 5 * runs  # every k-based method extends
    assert counts["evaluate"] == (1 + 6 + 5) * runs
    out = proc.stdout + proc.stderr
    for method in ("topk_auxk", "batchtopk", "jumprelu", "topk_centred"):
        for phase in (method, f"{method}_extended"):
            assert f"results/paper/runs/shapes3d/seed44/{phase}/model.pt" in out
            assert f"results/paper/eval/dsprites/seed42/{phase}.h5" in out


def test_the_stop_gradient_preset_plans_the_control_arm_on_the_quick_preset():
    """stop-gradient.yaml stacked on quick.yaml adds topk_detached (stage 3, extended training, evaluations) and
    reuses the quick preset's topk/l1 runs and results_dir."""
    proc = snakemake("-n", "all", "--cores", "2", "--configfile", "workflow/presets/quick.yaml",
                     "workflow/presets/stop-gradient.yaml")  # fmt: skip
    counts = job_counts(proc.stdout + proc.stderr)
    runs = 2 * 2  # datasets x the quick preset's seeds
    assert counts["pretrain_vae"] == counts["init_sae"] == runs
    assert counts["sparsify"] == 3 * runs and counts["extend"] == 2 * runs  # topk, l1, topk_detached; 2 extend
    assert counts["evaluate"] == (1 + 3 + 2) * runs
    out = proc.stdout + proc.stderr
    for ds in ("dsprites", "shapes3d"):
        for phase in ("topk_detached", "topk_detached_extended"):
            assert f"results/quick/runs/{ds}/seed43/{phase}/model.pt" in out
            assert f"results/quick/eval/{ds}/seed42/{phase}.h5" in out
    preset = yaml.safe_load((ROOT / "workflow/presets/stop-gradient.yaml").read_text())
    assert set(preset) == {"methods"} and "topk_detached" in preset["methods"]


@pytest.mark.slow
def test_noop_dry_run_of_the_paper_config_takes_at_most_5_s():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_dry_run import main as bench_dry_run
    finally:
        sys.path.pop(0)
    result = bench_dry_run(["--repeats", "1"])  # stages a complete paper run; raises unless "Nothing to be done"
    assert result["jobs"] == 88 and result["output_files"] == 191  # 190 + gates.csv
    # CPU seconds, not wall: under `make test` the other worker shares the 2 cores (alone, the wall time is ~the same)
    assert result["noop_dry_run_cpu_s"] <= 5.0, result


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"seeds": []}, "seeds"),
        ({"methods": ["topk", "magnitude"]}, "methods"),
        ({"datasets": ["mnist"]}, "datasets"),
        ({"optim": {"batch_size": "large"}}, "batch_size"),
        ({"sparsify": {"k_start": 50, "k_end": 500}}, "sparsify.k_end"),
        ({"eval": {"n_bins": 20, "bogus_key": 1}}, "bogus_key"),
        ({"data": {"source": "path"}}, "data.path.dsprites"),
        ({"data": {"source": "path", "path": {"dsprites": "/no/such/dsprites.npz", "shapes3d": "/no/such.h5"}}},
         "/no/such/dsprites.npz"),
        ({"data": {"download": {"dsprites": {"url": "x", "md5": "not-a-checksum"}}}}, "md5"),
        ({"model": {"sae_bias": "both"}}, "config key model.sae_bias: 'both' is not one of ['none', 'decoder', 'centred']"),
        ({"revival": {"reinit_from": "copy"}}, "config key revival.reinit_from: 'copy' is not one of ['donor', 'distribution']"),
        ({"variant": "../elsewhere"}, "config key variant"),
    ],
)
def test_bad_config_stops_before_any_job_and_names_the_key(tmp_path, overrides, key):
    proc = snakemake("-n", "--configfile", str(write_config(tmp_path, **overrides)), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert key in out, out[-3000:]
    assert "Job stats" not in out


def test_command_line_overrides_narrow_the_run():
    """Snakemake hands nested --config values over as strings; they are coerced to the schema's types."""
    proc = snakemake("-n", "all", "--config", "datasets=[dsprites]", "seeds=[42]", "optim={lr: 0.0001}")
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["pretrain_vae"] == 1 and counts["sparsify"] == 2 and counts["evaluate"] == 4
    assert '"lr":0.0001' in snakemake("-n", "-p", "all", "--config", "optim={lr: 0.0001}").stdout


@pytest.mark.parametrize("override, message", [("optim={lr: fast}", "config key optim.lr: 'fast' is not of type"),
                                               ("seeds=[x]", "config key seeds.0:"),
                                               ("optim={lrr: 1}", "config key optim.lrr:")])  # fmt: skip
def test_a_bad_command_line_override_names_its_key_path(override, message):
    proc = snakemake("-n", "all", "--config", override, check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]


def test_dataset_rule_downloads_verifies_and_converts(tmp_path):
    from test_download import sha, write_dsprites_npz, write_shapes3d_h5

    npz, h5 = tmp_path / "dsprites.npz", tmp_path / "3dshapes.h5"
    write_dsprites_npz(npz)
    write_shapes3d_h5(h5)
    cfg = {
        "results_dir": str(tmp_path / "results"),
        "resources_dir": str(tmp_path / "resources"),
        "data": {
            "source": "download",
            "download": {
                "dsprites": {"url": npz.as_uri(), "md5": None, "sha256": sha(npz)},
                "shapes3d": {"url": h5.as_uri(), "md5": None, "sha256": sha(h5)},
            },
        },
    }
    targets = [str(tmp_path / f"resources/datasets/{d}.h5") for d in ("dsprites", "shapes3d")]
    snakemake(*targets, "--cores", "2", "--configfile", str(write_config(tmp_path, **cfg)))
    from vaesae.data.canonical import read_dataset

    for target, original in zip(targets, (npz, h5)):
        ds = read_dataset(target)
        assert ds.source == "download" and ds.checksum == sha(original)
    assert (tmp_path / "resources/raw/3dshapes.h5").exists()


def test_offline_paper_run_stops_at_the_dataset_rule_naming_both_alternatives(tmp_path):
    """config.yaml downloads the real files; offline, the first rule fails with how to work without a network."""
    from test_download import closed_port

    paper = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert paper["data"]["source"] == "download"  # the paper run trains on the real images
    for preset in ("quick", "tiny"):  # the presets stay offline
        assert yaml.safe_load((ROOT / f"workflow/presets/{preset}.yaml").read_text())["data"]["source"] == "procedural"
    url = f"http://127.0.0.1:{closed_port()}/dsprites.npz"
    cfg = {"datasets": ["dsprites"], "seeds": [42], "results_dir": str(tmp_path / "results"),
           "resources_dir": str(tmp_path / "resources"),
           "data": {"download": {"dsprites": {"url": url, "md5": "0" * 32, "sha256": None}}}}  # fmt: skip
    proc = snakemake("all", "--cores", "1", "--configfile", str(write_config(tmp_path, **cfg)), check=False)
    assert proc.returncode != 0
    log = (tmp_path / "results/logs/dataset/dsprites.log").read_text()
    assert url in log and "data.source: procedural" in log and "data.source: path" in log
    assert not (tmp_path / "resources/datasets/dsprites.h5").exists()
    assert not list((tmp_path / "results").glob("runs/**/model.pt"))  # nothing trained


TOY_KEYS = '''

@dataclass(frozen=True)
class FixedKKeys(SparsifyKeys):
    """``fixedk``: the toy method of tests/test_workflow.py."""

    epochs: int
    k_end: int
    topk_l1_coeff: float
'''
TOY_SPARSIFIER = '''"""A toy method: Top-k at k_end from the first epoch, with an auxiliary loss and a step counter as state."""

from vaesae.config.keys import FixedKKeys
from vaesae.sparsifiers.base import Sparsifier, Sparsity


class FixedK(Sparsifier):
    Keys = FixedKKeys

    def __init__(self, keys, conv_neurons, latent_neurons):
        self.k_end, self.l1 = keys.k_end, keys.topk_l1_coeff
        self.k_lat = max(1, round(self.k_end * latent_neurons / conv_neurons))
        self.steps = 0

    def sparsity(self, epoch):
        return Sparsity(self.k_end, self.k_lat, self.l1)

    def final(self):
        return self.sparsity(0)

    def aux_loss(self, conv, latent):
        self.steps += 1
        return {"aux_pre_l2": 1e-6 * conv.pre.pow(2).mean()}

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = int(state["steps"])
'''
TOY_ROW = '''
from vaesae.config.keys import FixedKKeys  # noqa: E402

register(Method(name="fixedk", sparsifier="vaesae.sparsifiers.fixedk:FixedK", keys_class=FixedKKeys, extended=True,
                label="Fixed k"))
'''


def add_toy_method(work: Path) -> Path:
    """Register the toy method ``fixedk`` in a copy of the workflow: one keys dataclass, one module, one row of the
    methods table (what README "Adding a method" asks of a researcher). Returns ``work``."""
    with open(work / "src/vaesae/config/keys.py", "a") as f:
        f.write(TOY_KEYS)
    (work / "src/vaesae/sparsifiers/fixedk.py").write_text(TOY_SPARSIFIER)
    with open(work / "src/vaesae/methods.py", "a") as f:
        f.write(TOY_ROW)
    return work


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny preset, run to the end in a private copy of the workflow: the rerun tests below edit and touch the
    copy's sources, never the repository's, so they are safe beside any other test (pytest -n).

    The copy also carries the toy method of the new-sparsifier test (registered before the run, unused by the tiny
    preset), so that test adds its methods to these runs instead of training dSprites seed 1 a second time."""
    tmp = tmp_path_factory.mktemp("tiny")
    work = add_toy_method(copy_workflow(tmp / "repo"))
    cfg = yaml.safe_load((ROOT / "workflow/presets/tiny.yaml").read_text())
    cfg["results_dir"] = str(tmp / "results")
    cfg["resources_dir"] = str(tmp / "resources")
    configfile = tmp / "tiny.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    snakemake("all", "--cores", "2", "--configfile", str(configfile), cwd=work)
    return {"res": Path(cfg["results_dir"]), "configfile": configfile, "cfg": cfg, "tmp": tmp, "work": work}


@pytest.mark.slow
def test_tiny_run_produces_every_output_with_sane_numbers(tiny_run):
    res = tiny_run["res"]
    for n in range(1, 9):
        assert (res / f"tables/table{n}.csv").stat().st_size > 0
        assert "±" in (res / f"tables/table{n}.md").read_text() or n in (6,)
    for n in range(1, 13):
        assert (res / f"figures/figure{n:02d}.png").read_bytes()[:4] == b"\x89PNG"
        assert (res / f"figures/figure{n:02d}.pdf").stat().st_size > 1000
    for ds in ("dsprites", "shapes3d"):
        assert (res / f"figures/dataset_{ds}.png").read_bytes()[:4] == b"\x89PNG"
    claims = pd.read_csv(res / "claims.csv")
    assert sorted(claims["claim"].unique()) == [f"C{i}" for i in range(1, 9)]
    assert set(claims["verdict"].str.split().str[0]) <= {"reproduced", "not", "inconclusive"}
    assert "contradictions" in (res / "claims.md").read_text().lower()
    n_neurons = tiny_run["cfg"]["model"]["conv_sae_neurons"]
    for ds in ("dsprites", "shapes3d"):
        for seed in tiny_run["cfg"]["seeds"]:
            for phase in ("init", "topk", "l1", "topk_extended"):
                with h5py.File(res / f"eval/{ds}/seed{seed}/{phase}.h5") as f:
                    assert "dead_pct" not in f.attrs and f.attrs["data_source"] == "procedural"
                    assert 0 <= f.attrs["mig"] <= 1 and 0 < f.attrs["mse"] < 1
                    for name in ("mi", "mi_pre"):
                        mi = f[f"conv_sae/{name}"][:]
                        assert mi.shape == (n_neurons, 5 if ds == "dsprites" else 6)
                        assert np.all((mi >= -1e-12) & (mi <= 1 + 1e-9))
                    indptr = f["conv_sae/indptr"][:]
                    assert indptr[-1] == len(f["conv_sae/values"]) and np.all(f["conv_sae/values"][:] > 0)
                    if phase in ("topk", "topk_extended"):
                        assert np.diff(indptr).max() <= tiny_run["cfg"]["sparsify"]["k_end"]
    globals_ = pd.concat([pd.read_csv(p) for p in res.glob("eval/*/seed*/*.global.csv")])
    assert len(globals_) == 16 and globals_[["sap", "dci_disentanglement"]].notna().all().all()
    assert ((globals_["dci_disentanglement"] >= 0) & (globals_["dci_disentanglement"] <= 1)).all()
    assert "SAP change" in (res / "tables/table2.md").read_text()
    sweep = pd.read_csv(res / "sweeps/thresholds.csv")
    assert set(sweep["kind"]) == {"specialization", "dead", "specialization_bound", "dead_floor"}
    spec = sweep[sweep["kind"] == "specialization"].set_index(["dataset", "seed", "phase", "sae", "threshold"])
    bound = sweep[sweep["kind"] == "specialization_bound"].set_index(["dataset", "seed", "phase", "sae", "threshold"])
    assert (spec.loc[bound.index, "value"] <= bound["value"]).all()  # the bound holds on every measured count
    epochs = pd.read_csv(res / "sweeps/epochs.csv")
    assert set(epochs["phase"]) == {"init", "topk", "l1", "topk_extended"}
    assert epochs.groupby("phase")["epoch"].min().to_dict() == {"init": -1, "topk": 0, "l1": 0, "topk_extended": 0}
    evaluations = pd.read_csv(res / "summary/evaluations.csv")
    assert len(evaluations) == 16 and (evaluations["dead_threshold"] == 0.001).all()
    assert ((evaluations["dead_pct"] >= 0) & (evaluations["dead_pct"] <= 100)).all()
    assert (evaluations["specialized"] <= evaluations["specialized_bound"]).all()
    history = pd.read_csv(res / "summary/history.csv")
    assert history[history["stage"] != "pretrain"]["dead_pct"].notna().all()
    assert {"reinit_alive_1", "reinit_alive_5", "boost_to_spread"} <= set(history.columns)
    bench = list((res / "benchmarks").glob("*.tsv"))
    assert len(bench) == 2 * 2 * 5


@pytest.mark.slow
def test_a_new_sparsifier_is_one_class_and_one_row_and_the_tiny_preset_runs_every_method(tiny_run, tmp_path):
    """The toy method (one keys dataclass, one module and one row of the methods table: ``add_toy_method``) and
    every method of the table, through the tiny preset with the remedies preset stacked (one dataset, one seed):
    each trains, extends, is evaluated and reaches Table 8, Figure 12 and claim C9 (one Snakemake run for both
    checks). The run starts from the tiny run's dSprites seed 1 outputs, copied with their times, in the copy of the
    workflow they were made with: only the new methods and the report run."""
    from vaesae import methods as method_table

    cfg = dict(tiny_run["cfg"], results_dir=str(tmp_path / "results"))
    remedies = yaml.safe_load((ROOT / "workflow/presets/remedies.yaml").read_text())
    controls = yaml.safe_load((ROOT / "workflow/presets/stop-gradient.yaml").read_text())["methods"]
    # the remedies preset runs every method of the table but the controls; the stop-gradient preset adds those
    assert remedies["methods"] == [m for m in method_table.METHODS if not method_table.get(m).control]
    assert set(method_table.controls()) <= set(controls)
    every = [*remedies["methods"], *method_table.controls()]
    assert every == list(method_table.METHODS)
    cfg.update(datasets=["dsprites"], seeds=[1], methods=[*every, "fixedk"])
    toy = tmp_path / "toy.yaml"
    toy.write_text(yaml.safe_dump(cfg))
    # the outputs of dSprites seed 1's jobs (a training job's benchmark file is one of them); copy2 keeps the
    # modification times that tell Snakemake they are up to date
    tiny = tiny_run["res"]
    outputs = [*tiny.glob("benchmarks/*_dsprites_seed1_*.tsv"), *tiny.glob("figures/dataset_dsprites.*")]
    for rel in ["runs/dsprites/seed1", "eval/dsprites/seed1", *(p.relative_to(tiny) for p in outputs)]:
        src, dst = tiny / rel, tmp_path / "results" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    proc = snakemake("all", "--cores", "2", "--configfile", str(toy), cwd=tiny_run["work"])
    paper = tiny_run["cfg"].get("methods", yaml.safe_load((ROOT / "config.yaml").read_text())["methods"])
    new = [m for m in cfg["methods"] if m not in paper]
    assert new == [*method_table.remedies(), *method_table.controls(), "fixedk"]
    ran = job_counts(proc.stdout + proc.stderr)
    assert ran["sparsify"] == ran["extend"] == len(new), ran  # dSprites seed 1's topk, l1 and their stages: reused
    assert ran["evaluate"] == ran["global_metrics"] == 2 * len(new) and "pretrain_vae" not in ran, ran
    res = tmp_path / "results"
    hist = pd.read_csv(res / "runs/dsprites/seed1/fixedk/history.csv")
    assert len(hist) == cfg["sparsify"]["epochs"] and (hist["k"] == cfg["sparsify"]["k_end"]).all()
    ext = pd.read_csv(res / "runs/dsprites/seed1/fixedk_extended/history.csv")
    assert len(ext) == cfg["extend"]["epochs"] and (ext["k"] == cfg["sparsify"]["k_end"]).all()
    import torch

    ckpt = torch.load(res / "runs/dsprites/seed1/fixedk_extended/model.pt", weights_only=True)
    assert ckpt["method"] == "fixedk" and ckpt["sparsifier"]["steps"] > 0  # its state travelled through extend
    for phase in ("fixedk", "fixedk_extended"):
        with h5py.File(res / f"eval/dsprites/seed1/{phase}.h5") as f:
            assert f.attrs["k"] == cfg["sparsify"]["k_end"] and f["conv_sae/mi_pre"].shape == f["conv_sae/mi"].shape
            assert np.diff(f["conv_sae/indptr"][:]).max() <= cfg["sparsify"]["k_end"]
    evaluations = pd.read_csv(res / "summary/evaluations.csv").set_index("phase")
    assert evaluations.loc[["fixedk", "fixedk_extended"], "dead_pct"].between(0, 100).all()
    assert (res / "claims.md").exists() and (res / "tables/table1.md").exists()
    # every method of the table, end to end
    history = pd.read_csv(res / "summary/history.csv")
    for method in every:
        for phase in method_table.phases([method])[1:]:
            assert (res / f"runs/dsprites/seed1/{phase}/history.h5").exists()
            assert 0 <= evaluations.loc[phase, "dead_pct"] <= 100
            assert evaluations.loc[phase, "specialized"] <= evaluations.loc[phase, "specialized_bound"]
        run = history[history["phase"] == method]
        assert len(run) == cfg["sparsify"]["epochs"]
        assert run[["l0", "l0_latent", "loss_aux", "active"]].notna().all().all()
        if method in ("topk", "topk_auxk", "topk_centred", "topk_detached"):
            assert (run["l0"] == run["k"]).all()  # a per-sample Top-k keeps exactly k(t) per sample
    table8 = pd.read_csv(res / "tables/table8.csv")
    assert list(dict.fromkeys(table8["method"])) == cfg["methods"]  # the paper's methods first, then the others
    assert (res / "figures/figure12.png").read_bytes()[:4] == b"\x89PNG"
    claims = pd.read_csv(res / "claims.csv")
    c9 = claims[claims["claim"] == "C9"]
    assert set(c9.loc[c9["level"] == "detail", "condition"]) == {*method_table.remedies(), "fixedk"}
    assert (c9["origin"] == "pipeline (beyond the paper)").all()
    assert (claims.loc[claims["claim"] != "C9", "origin"] == "paper").all()
    assert "beyond the paper" in (res / "claims.md").read_text().lower()


@pytest.mark.slow
def test_html_report_builds_with_every_result(tiny_run):
    report = tiny_run["tmp"] / "report.html"
    snakemake("--configfile", str(tiny_run["configfile"]), "--report", str(report), cwd=tiny_run["work"])
    html = report.read_text(errors="replace")
    assert report.stat().st_size > 200_000  # self-contained: the figures are embedded
    names = [f"table{n}.md" for n in range(1, 9)] + [f"figure{n:02d}.png" for n in range(1, 13)]
    names += ["claims.md", "dataset_dsprites.png", "dataset_shapes3d.png"]
    assert [n for n in names if n not in html] == []
    assert "recomputed from this run" in html and "redrawn from this run" in html  # the captions are in


def _dry(tiny_run, *extra, configfile=None):
    configfile = configfile or tiny_run["configfile"]
    proc = snakemake("-n", "all", "--cores", "2", "--configfile", str(configfile), *extra, cwd=tiny_run["work"])
    return job_counts(proc.stdout + proc.stderr)


def _edit(tiny_run, rel: str):
    """Append a comment to a module of the run's copy (Snakemake >= 9.18 reruns on content changes, not on a bare
    touch)."""
    path = tiny_run["work"] / rel
    original, st = path.read_bytes(), path.stat()
    path.write_bytes(original + b"\n# an edit made by test_workflow.py\n")
    return path, original, st


@pytest.mark.slow
def test_second_dry_run_has_nothing_to_do(tiny_run):
    assert _dry(tiny_run) == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    "module, expected",
    [
        ("src/vaesae/report/figures.py", {"figures", "all"}),
        ("src/vaesae/report/tables.py", {"tables", "all"}),
        ("src/vaesae/report/stats.py", {"tables", "claims", "all"}),
        ("src/vaesae/report/claims.py", {"claims", "all"}),
        ("src/vaesae/report/catalog.py", {"tables", "figures", "claims", "all"}),
        ("src/vaesae/metrics/specialization.py", {"evaluate", "global_metrics", "summarize", "sweep", "tables",
                                                  "figures", "claims", "all"}),
        ("src/vaesae/metrics/dci.py", {"global_metrics", "tables", "figures", "claims", "all"}),
        ("src/vaesae/models/sae.py", {"pretrain_vae", "init_sae", "sparsify", "extend", "evaluate",
                                      "global_metrics", "summarize", "sweep", "tables", "figures", "claims", "all"}),
        ("src/vaesae/sparsifiers/l1.py", {"sparsify", "evaluate", "global_metrics", "summarize", "sweep", "tables",
                                          "figures", "claims", "all"}),
        ("src/vaesae/summary.py", {"summarize", "tables", "figures", "claims", "all"}),
        ("src/vaesae/evalfile.py", {"evaluate", "global_metrics", "summarize", "sweep", "tables", "figures", "claims",
                                    "all"}),
    ],
)  # fmt: skip
def test_editing_a_module_reruns_only_what_depends_on_it(tiny_run, module, expected):
    path, original, st = _edit(tiny_run, module)
    try:
        proc = snakemake("-n", "all", "--cores", "2", "--configfile", str(tiny_run["configfile"]), cwd=tiny_run["work"])
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    counts = job_counts(proc.stdout + proc.stderr)
    assert set(counts) == expected, counts
    assert path.read_bytes() == original and path.stat().st_mtime_ns == st.st_mtime_ns
    if module.endswith("sparsifiers/l1.py"):  # only the L1 runs: 2 datasets x 2 seeds, and their evaluations
        assert counts["sparsify"] == counts["evaluate"] == 4
        assert set(re.findall(r"output: \S+/runs/\w+/seed\d+/(\w+)/model.pt", proc.stdout)) == {"l1"}
        assert _dry(tiny_run) == {}  # the dry run against the edit recorded nothing: restored, all is up to date


@pytest.mark.slow
@pytest.mark.parametrize(
    "module, expected",
    [
        ("src/vaesae/report/figures.py", {"figures", "all"}),
        ("src/vaesae/metrics/mig.py", {"evaluate", "global_metrics", "summarize", "sweep", "tables", "figures",
                                       "claims", "all"}),
    ],
)
def test_touching_a_module_reruns_its_dependents_only_when_mtime_alone_counts(tiny_run, module, expected):
    """Snakemake >= 9.18 skips inputs under --max-checksum-file-size whose content is unchanged, so a bare touch
    reruns nothing; with that size set to 0 a touch counts as a change (make's rule) and reruns the same scope."""
    path = tiny_run["work"] / module
    st = path.stat()
    try:
        os.utime(path)
        plain = _dry(tiny_run)
        make_rule = _dry(tiny_run, "--max-checksum-file-size", "0")
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert plain == {}
    assert set(make_rule) == expected, make_rule
    assert path.stat().st_mtime_ns == st.st_mtime_ns


@pytest.mark.slow
def test_editing_one_config_key_reruns_only_its_dependents(tiny_run):
    cfg = dict(tiny_run["cfg"], sparsify=dict(tiny_run["cfg"]["sparsify"], l1_end=0.05))
    edited = tiny_run["tmp"] / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "all", "--cores", "2", "--configfile", str(edited), cwd=tiny_run["work"])
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["sparsify"] == 4  # the L1 runs only: 2 datasets x 2 seeds
    assert counts["evaluate"] == 4
    assert "pretrain_vae" not in counts and "init_sae" not in counts and "extend" not in counts
    assert re.findall(r"output: \S+/runs/\w+/seed\d+/(\w+)/model.pt", proc.stdout) == ["l1"] * 4


@pytest.mark.slow
@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("sae_gradient", "detach", {"sparsify": 8, "extend": 4, "evaluate": 12}),  # stage 3 + extend, every method
        ("tied_sae", True, {"init_sae": 4, "sparsify": 8, "extend": 4, "evaluate": 16}),  # all but stage 1
    ],
)
def test_editing_an_sae_model_key_reruns_only_the_rules_that_read_it(tiny_run, key, value, expected):
    cfg = dict(tiny_run["cfg"], model=dict(tiny_run["cfg"]["model"], **{key: value}))
    edited = tiny_run["tmp"] / f"edited_model_{key}.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    counts = _dry(tiny_run, configfile=edited)
    assert {rule: n for rule, n in counts.items() if rule in ("pretrain_vae", "init_sae", "sparsify", "extend",
                                                              "evaluate")} == expected  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        ("eval", "dead_threshold", 0.01, {"summarize", "tables", "figures", "claims", "all"}),
        ("eval", "specialization_threshold", 0.3, {"summarize", "tables", "figures", "claims", "all"}),
        ("eval", "specialization_activations", "pre_topk", {"summarize", "sweep", "tables", "figures", "claims",
                                                            "all"}),
        ("sweep", "dead_thresholds", [0.001, 0.1], {"sweep", "tables", "figures", "claims", "all"}),
        ("claims", "mig_reference", "warmup", {"tables", "claims", "all"}),
    ],
)  # fmt: skip
def test_a_reporting_choice_never_retrains(tiny_run, section, key, value, expected):
    """A threshold, the specialization reading or a sweep list reruns only what reads the raw measurements."""
    cfg = dict(tiny_run["cfg"], **{section: dict(tiny_run["cfg"].get(section) or {}, **{key: value})})
    edited = tiny_run["tmp"] / f"edited_{key}.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    assert set(_dry(tiny_run, configfile=edited)) == expected


@pytest.mark.slow
def test_the_checkpoint_interval_reaches_the_training_jobs_and_retrains_nothing(tiny_run):
    """checkpoint_minutes is a Snakemake resource of the four training rules, not a param: editing it reruns nothing,
    and a job that does run gets it on its command line."""
    cfg = dict(tiny_run["cfg"], checkpoint_minutes=3)
    edited = tiny_run["tmp"] / "edited_checkpoint_minutes.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    assert _dry(tiny_run, configfile=edited) == {}
    forced = snakemake("-n", "-p", "all", "--cores", "2", "--configfile", str(edited), "--forcerun", "pretrain_vae",
                       "init_sae", "sparsify", "extend", cwd=tiny_run["work"])  # fmt: skip
    shells = [line for line in forced.stdout.splitlines() if "python -m vaesae.cli.train" in line]
    assert len(shells) == 2 * 2 * (2 + 2 + 1)  # datasets x seeds x (pretrain, init, topk, l1, extend)
    assert all("--checkpoint-minutes 3 " in line for line in shells), shells[0]
