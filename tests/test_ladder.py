"""The scale ladder (vaesae.studies.ladder): a rung's evidence folder, and the figure and table across rungs."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vaesae import workflow as wf
from vaesae.cli import ladder as cli
from vaesae.studies.ladder import (LadderError, collect_rung, ladder_frame, ladder_markdown, paper_value, read_rungs,
                                  render_ladder, rung_scale)

ROOT = Path(__file__).resolve().parents[1]
PRESETS = [ROOT / "workflow/presets/quick.yaml", ROOT / "workflow/presets/ladder/r1-steps.yaml"]
PAPER = wf.load_config()["claims"]["paper"]


def test_every_ladder_preset_resolves_and_keeps_the_papers_dead_meaning():
    rungs = sorted((ROOT / "workflow/presets/ladder").glob("*.yaml"))
    assert {p.stem for p in rungs} >= {"r0-base", "r0-paper-lr", "r1-steps", "r2-width", "r3-converged",
                                     "r4-paper-width"}
    for preset in rungs:
        cfg = wf.load_config(ROOT / "workflow/presets/quick.yaml", preset)
        s = rung_scale(cfg)
        # dead = fewer than 10 firings on the evaluation images, as 0.001 x 10,000 in the paper
        assert s["dead_threshold"] * s["eval_images"] == pytest.approx(10)
        assert np.array(cfg["sweep"]["dead_thresholds"]) * s["eval_images"] == pytest.approx([5, 10, 20, 50, 100])
        for dataset in cfg["datasets"]:  # every dataset has that many evaluation images
            n = wf.n_images(cfg, dataset)
            n_val = round(n * (cfg["data"]["shapes3d_n_val"] / 480_000 if dataset == "shapes3d"
                               else cfg["data"]["val_fraction"]))
            assert n_val >= s["eval_images"], (preset.stem, dataset)
        # k at the paper's ratios of the width: 500/8192 and 50/8192 (rounded down)
        assert s["k_start"] == int(500 / 8192 * s["width"]) and s["k_end"] == int(50 / 8192 * s["width"])
        # the learning-rate rule: steps x lr = the paper's per-stage product, capped at 1e-3 (or the paper's 1e-5)
        paper_steps = {"pretrain": 34_560, "init": 11_520, "sparsify": 57_600, "extend": 115_200}
        for stage, steps in paper_steps.items():
            lr = s[f"lr_{stage}"]
            if preset.stem.endswith("paper-lr"):
                assert lr == 1e-5
            elif preset.stem in ("r3-converged", "r4-paper-width") and stage == "pretrain":
                # stage 1 trained toward convergence at the cap, beyond the paper's steps x lr (stated in the preset)
                assert lr == 1e-3 and s["steps_pretrain"] * lr > steps * 1e-5
            else:
                assert lr == pytest.approx(min(1e-3, steps * 1e-5 / s[f"steps_{stage}"]), rel=0.03), (preset, stage)


def test_rung_scale_counts_the_steps_the_loop_runs():
    s = rung_scale(wf.load_config(*PRESETS))
    # 12,000 images, 80 % train for dSprites, batch 128, floor: 75 steps per epoch
    assert (s["steps_pretrain"], s["steps_init"], s["steps_sparsify"], s["steps_extend"]) == (750, 300, 1500, 750)
    assert s["width"] == 1024 and s["h_flat"] == 512


def _fake_results(res: Path, dead_topk: float) -> None:
    rows = []
    for dataset in ("dsprites", "shapes3d"):
        for seed in (42, 43):
            for phase, dead in (("init", 50.0), ("topk", dead_topk), ("l1", 70.0), ("topk_extended", dead_topk)):
                rows.append({"dataset": dataset, "seed": seed, "phase": phase, "dead_pct": dead + seed - 42.5,
                             "specialized": 10.0, "specialized_bound": 40.0, "mig": 0.1, "mse": 0.02})
    (res / "summary").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(res / "summary/evaluations.csv", index=False)
    pd.DataFrame({"claim": ["C1", "C1", "C2"], "level": ["claim", "detail", "claim"],
                  "verdict": ["not reproduced", "x", "inconclusive"]}).to_csv(res / "claims.csv", index=False)
    (res / "claims.md").write_text("# claims\n")
    pd.DataFrame({"gate": ["G1", "G1"], "dataset": ["dsprites", "shapes3d"], "seed": [42, 42],
                  "status": ["pass", "FAIL"]}).to_csv(res / "gates.csv", index=False)
    for sub in ("runs/dsprites/seed42/topk", "runs/dsprites/seed42/vae"):
        (res / sub).mkdir(parents=True)
        (res / sub / "history.csv").write_text("epoch\n0\n")
        (res / sub / "model.pt").write_bytes(b"checkpoint")
    (res / "figures").mkdir()
    (res / "figures/figure01.png").write_bytes(b"png")


def _collect(tmp_path, rung, preset_text, dead_topk):
    res = tmp_path / "results" / rung
    _fake_results(res, dead_topk)
    preset = tmp_path / f"{rung}.yaml"
    preset.write_text(preset_text + f"\nresults_dir: {res}\n")
    return collect_rung(rung, [str(PRESETS[0]), str(preset)], "snakemake all ...", 123.0, tmp_path / "ev" / rung)


def test_collect_copies_evidence_but_no_checkpoint(tmp_path):
    out = _collect(tmp_path, "r1", (ROOT / "workflow/presets/ladder/r1-steps.yaml").read_text(), 90.0)
    assert (out / "claims.md").is_file() and (out / "gates.csv").is_file()
    assert (out / "runs/dsprites/seed42/topk/history.csv").is_file()
    assert not list(out.rglob("*.pt"))
    assert not (tmp_path / "ev" / "r1.partial").exists()
    meta = yaml.safe_load((out / "rung.yaml").read_text())
    assert meta["wall_s"] == 123.0 and meta["scale"]["steps_sparsify"] == 1500
    assert (meta["gates_passed"], meta["gates_total"]) == (1, 2)
    assert yaml.safe_load((out / "config.resolved.yaml").read_text())["data"]["subset"] == 12000


def test_collect_chain_by_chain_keeps_every_chain_and_sums_their_wall(tmp_path):
    from vaesae.studies.ladder import _wall

    preset_text = (ROOT / "workflow/presets/ladder/r4-paper-width.yaml").read_text()
    res = tmp_path / "results" / "r4"
    _fake_results(res, 40.0)
    preset = tmp_path / "r4.yaml"
    preset.write_text(preset_text + f"\nresults_dir: {res}\n")
    presets = [str(PRESETS[0]), str(preset)]
    out = tmp_path / "ev" / "r4" / "reading-literal"  # a reading of a rung run reading by reading
    resumed = "resumed from the checkpoint of a run cut off after 500 s; this run 400 s; wall_s is their sum"
    for dataset, cores, wall, note in (("dsprites", 1, 600.0, None), ("shapes3d", 2, 900.0, resumed)):
        collect_rung("r4/reading-literal", presets, f"snakemake all --cores {cores} --config datasets=[{dataset}]",
                     wall, out, chain=dataset, note=note)
    assert [m["rung"] for m in read_rungs(tmp_path / "ev")] == ["r4/reading-literal"]  # the ladder finds it
    meta = yaml.safe_load((out / "rung.yaml").read_text())
    assert list(meta["chains"]) == ["dsprites", "shapes3d"]
    assert "note" not in meta["chains"]["dsprites"] and meta["chains"]["shapes3d"]["note"] == resumed
    assert meta["chains"]["dsprites"]["wall_s"] == 600.0 and meta["wall_s"] == 1500.0
    assert _wall(meta) == "dsprites 10.0 min (1 core), shapes3d 15.0 min (2 cores)"
    # the paper's network: 8,192 neurons on a 4,096-d h_flat, 10,000 evaluation images at the paper's threshold
    scale = meta["scale"]
    assert (scale["width"], scale["h_flat"], scale["k_start"], scale["k_end"]) == (8192, 4096, 500, 50)
    assert (scale["eval_images"], scale["dead_threshold"]) == (10000, 0.001)
    assert (scale["steps_pretrain"], scale["steps_init"], scale["steps_sparsify"], scale["steps_extend"]) == (
        3120, 234, 624, 312)


def test_collect_refuses_a_rung_that_has_not_run(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text(f"results_dir: {tmp_path / 'nothing'}\n")
    with pytest.raises(LadderError, match="claims.md is missing"):
        collect_rung("x", [str(preset)], "cmd", None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_ladder_across_rungs_orders_by_scale_and_marks_the_paper(tmp_path):
    _collect(tmp_path, "big", (ROOT / "workflow/presets/ladder/r2-width.yaml").read_text(), 80.0)
    _collect(tmp_path, "small", (ROOT / "workflow/presets/ladder/r0-base.yaml").read_text(), 95.0)
    root = tmp_path / "ev"
    assert [m["rung"] for m in read_rungs(root)] == ["small", "big"]
    df = ladder_frame(root)
    top = df[(df["metric"] == "dead_pct") & (df["phase"] == "topk") & (df["dataset"] == "dsprites")]
    assert list(top["rung"]) == ["small", "big"]
    assert list(top["mean"]) == pytest.approx([95.0, 80.0]) and list(top["std"]) == pytest.approx([np.sqrt(0.5)] * 2)
    assert set(df.loc[df["dataset"] == "shapes3d", "gates"]) == {"0/1"}
    text = ladder_markdown(root, PAPER)
    assert "| paper (8,192 neurons) |" in text and "34.4" in text and "62.7" in text
    assert "| C1 | not reproduced | not reproduced |" in text
    assert paper_value(PAPER, "topk", "mse", "dsprites") == pytest.approx((0.0163 + 0.0171) / 2)
    paths = render_ladder(root, PAPER, tmp_path / "out")
    assert all(Path(p).stat().st_size > 0 for p in paths)
    assert cli.main(["render", "--root", str(root), "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli/ladder.png").stat().st_size > 10_000


def test_reclaim_rejudges_a_committed_rung_with_the_current_gates(tmp_path):
    # The committed r0-paper-lr rung (lr 1e-5: the VAE's MSE sits at 0.24 from the first epoch): re-judged from its
    # evidence files alone, its VAE gates say it never learned, whatever its stored claims.md said.
    rung = tmp_path / "r0-paper-lr"
    shutil.copytree(ROOT / "evidence/ladder/r0-paper-lr", rung)
    (rung / "claims.md").write_text("stale\n")
    pd.DataFrame({"gate": ["G1"], "dataset": ["dsprites"], "seed": [42], "status": ["pass"]}).to_csv(
        rung / "gates.csv", index=False)
    assert cli.main(["reclaim", str(rung)]) == 0
    gates = pd.read_csv(rung / "gates.csv")
    g0 = gates[gates["gate"] == "G0"]
    assert len(g0) == 4 and set(g0["status"]) == {"FAIL"} and (g0["change"] < 0.05).all()
    assert set(gates.loc[gates["gate"] == "G1", "status"]) == {"pass"}  # flat reads as levelled off
    text = (rung / "claims.md").read_text()
    assert "## Convergence gates" in text and "| G0 |" in text and "gates did not pass" in text
    meta = yaml.safe_load((rung / "rung.yaml").read_text())
    assert (meta["gates_passed"], meta["gates_total"]) == (int((gates["status"] == "pass").sum()), len(gates))
    verdicts = pd.read_csv(rung / "claims.csv")
    assert set(verdicts.loc[verdicts["level"] == "claim", "claim"]) >= {f"C{i}" for i in range(1, 9)}
    (rung / "sweeps/thresholds.csv").unlink()
    with pytest.raises(SystemExit, match="thresholds.csv is missing"):
        cli.main(["reclaim", str(rung)])


def test_render_without_rungs_names_the_folder(tmp_path):
    with pytest.raises(SystemExit, match="no rung folder"):
        cli.main(["render", "--root", str(tmp_path), "--out", str(tmp_path / "o")])


def test_run_chain_refuses_a_resumed_time_that_is_not_whole_seconds():
    proc = subprocess.run(["bash", str(ROOT / "benchmarks/ladder/run_chain.sh"), "r4-paper-width", "dsprites",
                           "--resumed-after", "12min"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "--resumed-after takes whole seconds, got '12min'" in proc.stderr


def test_collect_takes_only_the_configs_datasets_and_seeds_from_a_shared_results_folder():
    from vaesae.studies.ladder import _of_run

    cfg = {"datasets": ["dsprites"], "seeds": [42, 43]}
    kept = ["eval/dsprites/seed43/topk.global.csv", "runs/dsprites/seed42/vae/history.csv", "claims.md",
            "benchmarks/init_dsprites_seed43_shared.tsv", "figures/dataset_dsprites.png", "summary/history.csv"]
    dropped = ["eval/shapes3d/seed42/topk.global.csv", "benchmarks/sparsify_shapes3d_seed42_l1.tsv",
               "figures/dataset_shapes3d.png", "runs/dsprites/seed44/topk/history.csv"]
    assert [p for p in kept if _of_run(p, cfg)] == kept
    assert [p for p in dropped if _of_run(p, cfg)] == []
