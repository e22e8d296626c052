"""Reporting thresholds applied downstream of training (summary), the claims audit (bound, revival, forced claims),
the SAE loss reduction key."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT
from vaesae import summary
from vaesae.metrics import dead_pct, specialized_count
from vaesae.metrics.bound import specialization_bound
from vaesae.report import audit, claims
from vaesae.report.catalog import FIGURES
from vaesae.train import losses
from vaesae.train.history import HistoryParts, read_history

CLAIMS_CFG = yaml.safe_load((ROOT / "config.yaml").read_text())["claims"]
FACTORS = np.stack([np.arange(300) % 3, np.arange(300) % 5], axis=1)  # shape-like factor: 3 classes, H = ln 3


def write_eval(path, rates, rates_pre, mi, mi_pre, phase="topk", k=2):
    with h5py.File(path, "w") as f:
        f.create_dataset("factors", data=FACTORS)
        for group in ("conv_sae", "latent_sae"):
            f.create_dataset(f"{group}/activation_rate", data=rates)
            f.create_dataset(f"{group}/activation_rate_pre", data=rates_pre)
            f.create_dataset(f"{group}/mi", data=mi)
            f.create_dataset(f"{group}/mi_pre", data=mi_pre)
        f.attrs.update(dataset="dsprites", seed=1, phase=phase, method="topk", k=k, k_latent=1, n_neurons=len(rates),
                       n_latent_neurons=len(rates), n_eval=300, n_bins=20, mig=0.1, mse=0.02,
                       data_source="procedural", data_description="procedural dsprites")  # fmt: skip


RATES = np.array([0.0, 0.0005, 0.002, 0.5, 0.9])
RATES_PRE = np.array([0.1, 0.3, 0.4, 0.6, 0.95])
MI = np.array([[0.0, 0.0], [0.2, 0.1], [0.55, 0.3], [0.1, 0.45], [0.8, 0.2]])
MI_PRE = np.array([[0.6, 0.0], [0.7, 0.1], [0.55, 0.3], [0.1, 0.45], [0.8, 0.2]])


def test_summarize_evaluations_applies_the_thresholds_and_the_reading(tmp_path):
    write_eval(tmp_path / "e.h5", RATES, RATES_PRE, MI, MI_PRE)
    row = summary.summarize_evaluations([tmp_path / "e.h5"], dead_threshold=0.001, specialization_threshold=0.5)
    row = row.iloc[0]
    assert row["dead_pct"] == pytest.approx(40.0)  # rates 0 and 0.0005 are below 0.001
    assert row["specialized"] == 2 and row["specialized_topk"] == 2 and row["specialized_pre_topk"] == 4
    assert row["active_topk"] == pytest.approx(RATES.sum()) and row["active_pre_topk"] == pytest.approx(RATES_PRE.sum())
    assert row["bound_topk"] == specialization_bound(RATES.sum(), 0.5, FACTORS, 20, 5).bound
    assert row["h_min"] == pytest.approx(math.log(3))
    assert row["data_source"] == "procedural" and row["specialization_activations"] == "topk"
    pre = summary.summarize_evaluations([tmp_path / "e.h5"], dead_threshold=0.01, specialization_threshold=0.5,
                                        activations="pre_topk").iloc[0]  # fmt: skip
    assert pre["specialized"] == 4 and pre["dead_pct"] == pytest.approx(60.0)  # dead % stays on ã
    assert pre["specialized_bound"] == pre["bound_pre_topk"]
    with pytest.raises(ValueError, match="specialization_activations"):
        summary.summarize_evaluations([tmp_path / "e.h5"], dead_threshold=0.01, specialization_threshold=0.5,
                                      activations="post")  # fmt: skip


def test_summarize_names_a_missing_or_incomplete_file(tmp_path):
    with pytest.raises(summary.SummaryInputError, match="missing.h5"):
        summary.summarize_evaluations([tmp_path / "missing.h5"], dead_threshold=0.001, specialization_threshold=0.5)
    with h5py.File(tmp_path / "old.h5", "w") as f:  # an evaluation file without the pre-Top-k reading
        f.create_dataset("factors", data=FACTORS)
        f.attrs.update(dataset="dsprites", seed=1, phase="topk", method="topk", k=2, mig=0.1, mse=0.1, n_bins=20)
    with pytest.raises(summary.SummaryInputError, match=r"old\.h5 lacks dataset 'conv_sae/mi'"):
        summary.summarize_evaluations([tmp_path / "old.h5"], dead_threshold=0.001, specialization_threshold=0.5)


def test_one_reader_of_the_evaluation_file_names_the_file_and_the_problem(tmp_path):
    """vaesae.evalfile reads the file for summarize, sweep and global_metrics; each names what it needs."""
    from vaesae.cli import global_metrics
    from vaesae.evalfile import EvalFileError, read_eval

    write_eval(tmp_path / "e.h5", RATES, RATES_PRE, MI, MI_PRE)
    ev = read_eval(tmp_path / "e.h5", datasets=("factors", "conv_sae/mi_pre"))
    assert ev["attrs"]["seed"] == 1 and ev["attrs"]["dataset"] == "dsprites" and ev["factors"].shape == FACTORS.shape
    assert ev["conv_sae"]["mi_pre"] == pytest.approx(MI_PRE)
    assert ev["latent_sae"]["activation_rate"] == pytest.approx(RATES) and "vae_means" not in ev
    with pytest.raises(EvalFileError, match=r"e\.h5 lacks dataset 'vae_means'"):
        read_eval(tmp_path / "e.h5", datasets=("vae_means",))
    with pytest.raises(SystemExit, match=r"global_metrics: evaluation file \S*e\.h5 lacks dataset 'vae_means'"):
        global_metrics.main(["--eval", str(tmp_path / "e.h5"), "--params", "{}", "--out", str(tmp_path / "g.csv")])
    with pytest.raises(EvalFileError, match=r"e\.h5 lacks root attribute 'k_end'"):
        read_eval(tmp_path / "e.h5", attrs=("dataset", "k_end"))
    write_eval(tmp_path / "bad.h5", RATES, RATES_PRE, MI[:4], MI_PRE)
    with pytest.raises(EvalFileError, match=r"bad\.h5: 'conv_sae/mi' \(4, 2\) .* do not describe the same neurons"):
        read_eval(tmp_path / "bad.h5")


def _raw_run(tmp_path, reinit_rows, rates_rows):
    """history.csv + history.h5 of a 6-epoch run with the given reinit masks and eval rates."""
    run = tmp_path / "run"
    parts = HistoryParts(run / "parts")
    rows = []
    for e, (mask, rates) in enumerate(zip(reinit_rows, rates_rows)):
        rows.append({"dataset": "dsprites", "seed": 1, "phase": "topk", "stage": "sparsify", "method": "topk",
                     "epoch": e, "k": 2, "mig": 0.1, "mse": 0.01, "reinit": int(np.sum(mask)), "boosted": 1,
                     "boost_to_spread": 0.01})  # fmt: skip
        arrays = {"conv_sae/activation_rate": np.asarray(rates, np.float32), "conv_sae/mi": MI, "conv_sae/mi_pre": MI,
                  "conv_sae/active": np.float64(1.0), "conv_sae/active_pre": np.float64(2.0),
                  "latent_sae/activation_rate": np.asarray(rates, np.float32), "latent_sae/mi": MI,
                  "latent_sae/mi_pre": MI, "revival/reinit": np.asarray(mask, np.uint8)}  # fmt: skip
        parts.write(e, arrays, rows[-1])
    parts.assemble(run / "history.h5", len(rows), {"dataset": "dsprites", "seed": 1, "phase": "topk"})
    pd.DataFrame(rows).to_csv(run / "history.csv", index=False)
    return run


def test_summarize_history_counts_and_follows_reinitialised_neurons(tmp_path):
    none = [0, 0, 0, 0, 0]
    masks = [[1, 1, 0, 0, 0], none, none, none, none, none]  # neurons 0 and 1 re-initialised after epoch 0
    alive = [0.0, 0.0, 0.0, 0.5, 0.9]
    rates = [alive, [0.01, 0.0, 0, 0.5, 0.9]] + [[0.0, 0.01, 0, 0.5, 0.9]] * 3 + [[0.01, 0.01, 0, 0.5, 0.9]]
    run = _raw_run(tmp_path, masks, rates)
    raw = read_history(run / "history.h5")
    assert raw["epoch"].tolist() == list(range(6)) and raw["scalars/reinit"].tolist() == [2, 0, 0, 0, 0, 0]
    df = summary.summarize_history(run / "history.csv", run / "history.h5", dead_threshold=0.001,
                                   specialization_threshold=0.5)  # fmt: skip
    assert df["dead_pct"].tolist() == [dead_pct(r, 0.001) for r in rates]
    assert (df["specialized"] == specialized_count(MI, 0.5)).all()
    # of the two re-initialised after epoch 0: one alive after epoch 1, both after epoch 5
    assert df.loc[0, "reinit_alive_1"] == 1 and df.loc[0, "reinit_alive_5"] == 2
    assert df.loc[1, "reinit_alive_1"] == 0 and np.isnan(df.loc[5, "reinit_alive_1"])  # nothing after the last
    assert np.isnan(df.loc[1, "reinit_alive_5"])
    effect = audit.revival_effect(df)
    r = effect.iloc[0]
    assert (r.reinit, r.alive_1, r.checked_1, r.alive_5, r.checked_5) == (2, 1, 2, 2, 2)
    assert "50% of re-initialised neurons alive one epoch later, 100% five epochs later" == audit._revival_verdict(r)
    from vaesae.cli.sweep import epoch_sweep_table

    ep = epoch_sweep_table([run / "history.h5"], {"specialization_thresholds": [0.5], "dead_thresholds": [0.001]})
    dead = ep[(ep.sae == "conv") & (ep.kind == "dead")]
    assert dead["epoch"].tolist() == list(range(6)) and dead["value"].tolist() == df["dead_pct"].tolist()
    bad = run / "short.csv"
    pd.read_csv(run / "history.csv").head(3).to_csv(bad, index=False)
    with pytest.raises(summary.SummaryInputError, match="not the same run"):
        summary.summarize_history(bad, run / "history.h5", dead_threshold=0.001, specialization_threshold=0.5)


def test_paper_bounds_rule_out_table1_and_show_the_arithmetic():
    pb = audit.paper_bounds(CLAIMS_CFG).set_index(["dataset", "source"])
    t1 = pb.loc[("dsprites", "Table 1, Top-k")]
    assert t1["bound"] == 583 and t1["ruled_out"] and t1["paper"] == 1188
    assert t1["budget_needed"] == pytest.approx(1188 * 0.0857181314, rel=1e-6)  # active per sample it would need
    assert not pb.loc[("dsprites", "Table 2, k=50"), "ruled_out"]
    assert pb.loc[("shapes3d", "Table 2, k=500"), "bound"] == 4410
    lines = audit.contradictions(audit.paper_bounds(CLAIMS_CFG))
    assert any("reports 1,188, but at most 583" in c and "0.08572" in c for c in lines)
    assert audit.paper_bounds({"paper": {}}).empty


def test_c8_is_marked_forced_when_the_bound_at_k_end_is_below_the_count_at_k_start():
    rows = []
    for seed in (1, 2, 3):
        rows.append({"dataset": "dsprites", "seed": seed, "phase": "init", "specialized": 900.0,
                     "specialized_bound": 5000.0})  # fmt: skip
        rows.append({"dataset": "dsprites", "seed": seed, "phase": "topk", "specialized": 300.0,
                     "specialized_bound": 583.0})  # fmt: skip
    scalars = pd.DataFrame(rows)
    assert claims._c8_forced(scalars, "dsprites").startswith("forced by the metric: at k_end at most 583")
    scalars.loc[scalars.phase == "topk", "specialized_bound"] = 1000.0
    assert claims._c8_forced(scalars, "dsprites").startswith("finding")


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sae_loss_reduction(reduction):
    h, h_hat, a = torch.ones(4, 8), torch.zeros(4, 8), torch.full((4, 3), 2.0)
    got = losses.sae_loss(h, h_hat, a, 0.5, reduction).item()
    recon = 8.0 if reduction == "sum" else 1.0  # per-sample sum of 8 squared errors, or their per-element mean
    assert got == pytest.approx(recon + 0.5 * 6.0)  # the L1 term stays a per-sample sum in both
    with pytest.raises(ValueError, match="loss.sae_reduction"):
        losses.sae_loss(h, h_hat, a, 0.5, "median")


def test_every_output_names_its_data():
    from vaesae.report.style import data_source_note, data_source_short

    scalars = pd.DataFrame({"dataset": ["shapes3d", "dsprites", "dsprites"], "phase": ["topk", "topk", "topk_warmup"],
                            "data_source": ["procedural", "download", None],
                            "data_description": ["look-alike", "dSprites, converted from x.npz", None]})  # fmt: skip
    assert data_source_short(scalars) == "data: real dSprites, procedural Shapes3D"
    note = data_source_note(scalars)
    assert note.startswith("Data: dSprites: real (downloaded, checksum verified; dSprites, converted from x.npz)")
    assert "Shapes3D: procedural, not the real images (look-alike)" in note and "not recorded" not in note


# --------------------------------------------------------------------------------------------------- the dead floor
def test_the_dead_floor_reaches_the_summary_the_sweep_and_the_audit(tmp_path):
    """Issue 23 §2: the least dead % the activation budget allows, per evaluation (summary), per swept threshold
    (sweeps/thresholds.csv kind dead_floor) and at the paper's setting beside its Table 5 (claims audit)."""
    from vaesae.cli.sweep import sweep_table
    from vaesae.metrics.dead_floor import dead_floor_pct

    write_eval(tmp_path / "e.h5", RATES, RATES_PRE, MI, MI_PRE)
    row = summary.summarize_evaluations([tmp_path / "e.h5"], dead_threshold=0.5, specialization_threshold=0.5).iloc[0]
    # budget 1.4025 over 5 neurons at τ = 0.5: at most 2 alive, at least 60 % dead (measured: 80 %)
    assert row["dead_floor"] == pytest.approx(60.0) == dead_floor_pct(RATES.sum(), 5, 0.5)
    sw = sweep_table([tmp_path / "e.h5"], {"specialization_thresholds": [0.5], "dead_thresholds": [0.001, 0.5]})
    floor = sw[sw.kind == "dead_floor"].set_index("threshold")["value"]
    assert floor.to_dict() == pytest.approx({0.001: 0.0, 0.5: 60.0})
    assert set(sw.loc[sw.kind == "dead_floor", "sae"]) == {"conv"}
    # the paper's setting: k = 50 of 8,192 at τ = 0.01 forces 39.0 % of the 47.6 % Table 5 reports
    pf = audit.paper_floors(CLAIMS_CFG).set_index(["dataset", "threshold"])
    assert pf.loc[("dsprites", 0.01), "floor_k_end"] == pytest.approx(100 * (8192 - 5000) / 8192)
    assert pf.loc[("dsprites", 0.01), "paper"] == 47.6 and pf.loc[("dsprites", 0.01), "at_floor"]
    assert pf.loc[("dsprites", 0.001), "floor_k_end"] == 0.0 and (pf["floor_k_start"] == 0.0).all()
    sweep = pd.DataFrame([{"dataset": "dsprites", "seed": 1, "phase": "topk", "sae": "conv", "kind": kind,
                           "threshold": 0.01, "value": value}
                          for kind, value in (("dead", 45.0), ("dead_floor", 39.0))])
    md = "\n".join(audit.floor_markdown(CLAIMS_CFG, sweep))
    assert "| dSprites | 0.01 | 47.6 % | 0.0 % | 39.0 % | +8.6 points (mostly forced) |" in md
    assert "| dSprites | topk | 0.01 | 45.0 % | 39.0 % | +6.0 points |" in md


def test_table5_and_figure10_show_the_floor():
    from vaesae.report import tables

    rows = []
    for seed in (1, 2):
        for t, dead, floor in ((0.001, 30.0, 0.0), (0.01, 45.0 + seed, 39.0)):
            rows += [{"dataset": "dsprites", "seed": seed, "phase": phase, "sae": "conv", "kind": kind, "threshold": t,
                      "value": v} for phase, kind, v in (("topk", "dead", dead), ("topk", "dead_floor", floor),
                                                          ("init", "dead", dead / 10))]  # fmt: skip
    sweep = pd.DataFrame(rows)
    t5 = tables._threshold_table(sweep, "dead", "table5", 0.001, ".1f", floor=True)
    cell = t5[(t5.dataset == "dsprites|floor") & (t5.threshold == 0.01)].iloc[0]
    assert cell["mean"] == 39.0 and cell["n"] == 2
    assert "Forced floor" in " ".join(t5.attrs["notes"])
    assert "dSprites, forced floor" in tables.to_markdown(t5)
    fig = FIGURES["figure10"].build({"sweep": sweep}, {"dead_threshold": 0.001, "specialization_threshold": 0.5})
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert any(label.startswith("forced floor at k_end") for label in labels)
    dead_ax = fig.axes[1]
    floor_line = next(line for line in dead_ax.get_lines() if line.get_label().startswith("forced floor"))
    assert list(floor_line.get_ydata()) == [0.0, 39.0]


# --------------------------------------------------------------------------------------------------- forced labels
def _labelled(**phases) -> pd.DataFrame:
    """Evaluation rows: phase=(dead %, floor, mig) for seeds 1-3."""
    return pd.DataFrame([{"dataset": "dsprites", "seed": s, "phase": phase, "dead_pct": dead + 0.1 * s,
                          "dead_floor": floor, "mig": mig * (1 + 0.001 * s), "specialized": 100.0,
                          "specialized_bound": 1000.0, "active_topk": 50.0}
                         for phase, (dead, floor, mig) in phases.items() for s in (1, 2, 3)])  # fmt: skip


def test_every_forced_label_is_computed_from_the_run():
    """C1: from the dead-% floor of its evaluations (forced / partly forced / finding); C3: untested without the
    stop-gradient control, forced by the architecture when the control's MIG change matches, a finding when not."""
    base = {"init": (2.0, 0.0, 0.20), "l1": (50.0, 0.0, 0.2)}
    forced = claims.evaluate_claims(_labelled(topk=(41.0, 39.0, 0.18), **base), None, None, CLAIMS_CFG)
    c1 = forced[(forced.claim == "C1") & (forced.level == "detail")].iloc[0]
    assert c1["forced"].startswith("forced by the metric: the budget forces at least 39.0 % dead")
    part = claims.evaluate_claims(_labelled(topk=(60.0, 39.0, 0.18), **base), None, None, CLAIMS_CFG)
    assert part[(part.claim == "C1") & (part.level == "detail")].iloc[0]["forced"].startswith("partly forced")
    free = claims.evaluate_claims(_labelled(topk=(60.0, 0.0, 0.18), **base), None, None, CLAIMS_CFG)
    assert free[(free.claim == "C1") & (free.level == "detail")].iloc[0]["forced"].startswith("finding")
    c3 = free[(free.claim == "C3") & (free.level == "detail")].iloc[0]
    assert c3["forced"].startswith("untested") and "stop-gradient" in c3["forced"]
    # with the control: MIG falls by 10 % jointly and by 9.5 % with the SAEs detached -> forced by the architecture
    ctrl = claims.evaluate_claims(_labelled(topk=(60.0, 0.0, 0.18), topk_detached=(60.0, 0.0, 0.181), **base), None,
                                  None, CLAIMS_CFG)  # fmt: skip
    assert ctrl[(ctrl.claim == "C3") & (ctrl.level == "detail")].iloc[0]["forced"].startswith(
        "forced by the architecture")
    moved = claims.evaluate_claims(_labelled(topk=(60.0, 0.0, 0.12), topk_detached=(60.0, 0.0, 0.20), **base), None,
                                   None, CLAIMS_CFG)  # fmt: skip
    assert moved[(moved.claim == "C3") & (moved.level == "detail")].iloc[0]["forced"].startswith("finding")
    assert "C9" not in set(ctrl["claim"])  # a control is not a remedy
    assert ctrl["forced"].notna().all() and (ctrl["forced"] != "").all()


def test_raw_mi_in_nats_is_a_downstream_choice(tmp_path):
    """eval.specialization_mi: nats reads the threshold in nats, MI = nMI · H(factor), from the same files."""
    from vaesae.cli.sweep import sweep_table
    from vaesae.metrics import factor_entropy
    from vaesae.metrics.specialization import in_unit

    write_eval(tmp_path / "e.h5", RATES, RATES_PRE, MI, MI_PRE)
    h = factor_entropy(FACTORS)  # ln 3, ln 5
    assert h == pytest.approx([math.log(3), math.log(5)])
    raw = in_unit(MI, h, "nats")
    assert raw == pytest.approx(MI * h)
    # threshold 0.5: normalised, neurons 2 and 4 (0.55, 0.8); in nats also neuron 3 (0.45 · ln 5 = 0.72 nats)
    norm = summary.summarize_evaluations([tmp_path / "e.h5"], dead_threshold=0.001, specialization_threshold=0.5)
    nats = summary.summarize_evaluations([tmp_path / "e.h5"], dead_threshold=0.001, specialization_threshold=0.5,
                                         mi_unit="nats")  # fmt: skip
    assert norm.iloc[0]["specialized"] == 2 and nats.iloc[0]["specialized"] == specialized_count(raw, 0.5) == 3
    assert nats.iloc[0]["specialization_mi"] == "nats"
    assert nats.iloc[0]["bound_topk"] == specialization_bound(RATES.sum(), 0.5, 1.0, 20, 5).bound
    params = {"specialization_thresholds": [0.5], "dead_thresholds": [0.001]}
    sw = sweep_table([tmp_path / "e.h5"], {**params, "specialization_mi": "nats"})
    assert sw[(sw.kind == "specialization") & (sw.sae == "conv")]["value"].iloc[0] == 3
    with pytest.raises(ValueError, match="specialization_mi"):
        summary.summarize_evaluations([tmp_path / "e.h5"], dead_threshold=0.001, specialization_threshold=0.5,
                                      mi_unit="bits")  # fmt: skip
    with pytest.raises(ValueError, match="specialization_mi"):
        sweep_table([tmp_path / "e.h5"], {**params, "specialization_mi": "bits"})


def test_the_death_audit_says_what_moved_while_neurons_died():
    """First and last stage-3 epoch, mean over seeds: dead % in points, ‖h‖, decoder norms and ‖ã‖₁ in %."""
    rows = []
    for seed in (1, 2):
        for epoch, dead, h, dec, a in ((0, 10.0, 20.0, 1.0, 8.0), (1, 30.0, 20.0, 1.5, 6.0), (2, 50.0, 10.0, 2.0, 4.0)):
            rows.append({"dataset": "dsprites", "seed": seed, "phase": "topk", "stage": "sparsify", "epoch": epoch,
                         "dead_pct": dead + seed, "h_norm_mean": h, "dec_norm_median": dec, "dec_norm_max": 2 * dec,
                         "a_l1": a})  # fmt: skip
    rows.append({**rows[0], "stage": "init"})  # not stage 3: ignored
    df = audit.death_sources(pd.DataFrame(rows)).iloc[0]
    assert df["n"] == 2 and df["dead_pct_change"] == pytest.approx(40.0)
    assert df["h_norm_mean_change"] == pytest.approx(-50.0) and df["dec_norm_median_change"] == pytest.approx(100.0)
    assert df["a_l1_change"] == pytest.approx(-50.0)
    md = "\n".join(audit.death_markdown(pd.DataFrame(rows)))
    assert "| dSprites | topk | 2 | 11.5 → 51.5 (+40.0 points) | 20 → 10 (-50.0 %) | 1 → 2 (+100.0 %) |" in md
    assert "No stage-3 epochs" in "\n".join(audit.death_markdown(pd.DataFrame(rows)[["dataset", "stage"]]))
