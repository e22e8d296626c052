"""The readings of the paper's text as config keys (method-notes "Readings"): the SAE bias (``model.sae_bias``), the
re-initialisation source (``revival.reinit_from``) and the optimizer state of a re-initialised neuron; the input
geometry γ and the evaluation before stage 2's first step that tell how much death is there before any SAE step."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from vaesae.config.sections import ModelConfig, RevivalConfig
from vaesae.metrics import input_geometry
from vaesae.models.hybrid import HybridVAESAE
from vaesae.models.sae import SparseAutoencoder, relu_topk
from vaesae.train.revival import Revival, reinit_neurons, reset_moments

from conftest import load_config, shared_stages


# ------------------------------------------------------------------------------------------------ geometry
def slow_geometry(x: np.ndarray) -> tuple[float, float, float]:
    """γ the obvious way: per-dimension mean and (ddof 0) std in Python loops, then their norms."""
    n, d = x.shape
    means = [sum(float(x[i, j]) for i in range(n)) / n for j in range(d)]
    stds = [math.sqrt(sum((float(x[i, j]) - means[j]) ** 2 for i in range(n)) / n) for j in range(d)]
    mean_norm, std_norm = math.sqrt(sum(v * v for v in means)), math.sqrt(sum(v * v for v in stds))
    return mean_norm, std_norm, mean_norm / std_norm


def test_gamma_matches_the_slow_obvious_implementation_on_numpy_and_torch():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(0.3, 1.0, size=(40, 7)), 0.0)  # a ReLU output: non-negative, far from centred
    expect = slow_geometry(x)
    for got in (input_geometry(x), input_geometry(torch.from_numpy(x).float())):
        assert np.allclose(got, expect, rtol=1e-6)
    assert input_geometry(x).gamma > 0.5


def test_gamma_is_zero_for_a_centred_input_and_infinite_for_a_constant_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 6))
    assert input_geometry(x - x.mean(0)).gamma < 1e-12
    const = np.full((10, 3), 2.0)
    assert input_geometry(const) == (math.sqrt(12.0), 0.0, math.inf)
    assert input_geometry(np.zeros((5, 4))).gamma == 0.0  # no mean to speak of
    with pytest.raises(ValueError, match="2-D"):
        input_geometry(np.zeros(4))


# ------------------------------------------------------------------------------------------------ model.sae_bias
def test_the_literal_reading_has_no_bias_parameter_and_the_others_one_per_sae():
    assert "b_dec" not in dict(SparseAutoencoder(8, 16).named_parameters())
    for bias in ("decoder", "centred"):
        sae = SparseAutoencoder(8, 16, bias=bias)
        assert torch.equal(sae.b_dec, torch.zeros(8)) and sae.b_dec.requires_grad
    with pytest.raises(ValueError, match="model.sae_bias must be one of none, decoder, centred"):
        SparseAutoencoder(8, 16, bias="both")


def test_centred_subtracts_b_dec_before_the_encoder_and_adds_it_back_exactly():
    torch.manual_seed(0)
    h = torch.rand(5, 8)
    centred = SparseAutoencoder(8, 16, bias="centred")
    with torch.no_grad():
        centred.b_dec.copy_(torch.rand(8))
    literal = SparseAutoencoder(8, 16)
    literal.load_state_dict({k: v for k, v in centred.state_dict().items() if k != "b_dec"})
    # the encoder sees h - b_dec: the centred SAE on h is the literal SAE on h - b_dec, bit for bit
    assert torch.equal(centred.pre(h), literal.pre(h - centred.b_dec))
    a, h_hat = centred(h, 4)
    a_lit, h_hat_lit = literal(h - centred.b_dec, 4)
    assert torch.equal(a, a_lit)
    assert torch.equal(h_hat, a @ centred.W_d.t() + centred.b_dec)  # and the decoder adds it back
    assert torch.allclose(h_hat, h_hat_lit + centred.b_dec)


def test_the_decoder_reading_adds_b_dec_to_the_reconstruction_only():
    torch.manual_seed(0)
    h = torch.rand(5, 8)
    sae = SparseAutoencoder(8, 16, bias="decoder")
    with torch.no_grad():
        sae.b_dec.copy_(torch.rand(8))
    literal = SparseAutoencoder(8, 16)
    literal.load_state_dict({k: v for k, v in sae.state_dict().items() if k != "b_dec"})
    assert torch.equal(sae.pre(h), literal.pre(h))
    a, h_hat = sae(h, 4)
    assert torch.equal(h_hat, literal.decode(a) + sae.b_dec)


def test_literal_sae_computes_exactly_what_it_computed_before_the_readings():
    """pre = addmm(b_e + b_boost, h − μ, W_eᵀ) and ĥ = ã W_dᵀ + μ, the expressions of eqs. (1)–(3) before the
    readings existed, bit for bit."""
    torch.manual_seed(3)
    sae = SparseAutoencoder(8, 16)
    h = torch.rand(6, 8)
    assert torch.equal(sae.pre(h), torch.addmm(sae.b_e + sae.b_boost, h - sae.b_pre, sae.W_e.t()))
    a = relu_topk(sae.pre(h), 3)
    assert torch.equal(sae.decode(a), a @ sae.W_d.t() + sae.b_pre)


def test_a_checkpoint_of_another_bias_reading_is_a_clear_error():
    params = dict(load_config("tiny")["model"])
    literal = HybridVAESAE(1, ModelConfig.from_params(params))
    centred = HybridVAESAE(1, ModelConfig.from_params(dict(params, sae_bias="centred")))
    with pytest.raises(ValueError, match="with a b_dec .* model.sae_bias 'none'"):
        literal.load_state_dict(centred.state_dict())
    with pytest.raises(ValueError, match="without a b_dec .* model.sae_bias 'centred'"):
        centred.load_state_dict(literal.state_dict())
    HybridVAESAE(1, ModelConfig.from_params(dict(params, sae_bias="decoder"))).load_state_dict(centred.state_dict())
    with pytest.raises(Exception, match="sae_bias"):
        ModelConfig.from_params(dict(params, sae_bias="both"))


# ------------------------------------------------------------------------------------------------ stage 2
@pytest.fixture(scope="module")
def stage2_runs(tmp_path_factory, dsprites_small):
    """Stages 1-2 of the tiny preset, literal and centred, from the same VAE."""
    import shutil

    out = tmp_path_factory.mktemp("readings")
    literal = shared_stages(load_config("tiny"), dsprites_small, out / "none", seed=1)
    (out / "centred/pretrain").mkdir(parents=True)
    for name in ("model.pt", "history.csv", "history.h5"):
        shutil.copy2(literal / "pretrain" / name, out / "centred/pretrain" / name)
    from vaesae.config.sections import StageConfig
    from vaesae.train.loop import StageRunner

    from conftest import stage_params

    cfg = load_config("tiny", model={"sae_bias": "centred"})
    runner = StageRunner(StageConfig.from_params("init", stage_params(cfg, "init")), dataset_file=str(dsprites_small),
                         seed=1, out_model=str(out / "centred/init/model.pt"),
                         out_history=str(out / "centred/init/history.csv"),
                         init_checkpoint=str(out / "centred/pretrain/model.pt"), progress=False)  # fmt: skip
    runner.run()
    return {"none": literal, "centred": out / "centred", "runner": runner}


def test_stage2_history_starts_with_the_network_before_any_step(stage2_runs):
    from vaesae.train.history import read_history

    for reading in ("none", "centred"):
        hist = pd.read_csv(stage2_runs[reading] / "init/history.csv")
        assert hist["epoch"].tolist() == [-1, *range(len(hist) - 1)]
        first = hist.iloc[0]
        assert np.isnan(first["loss"]) and np.isnan(first["loss_sae_conv"])  # nothing was trained
        assert np.isfinite(first["mse"]) and first["conv_input_gamma"] > 0 and first["k"] == hist["k"].iloc[1]
        # the VAE is frozen in stage 2: its input geometry is the same before and after
        assert hist["conv_input_gamma"].nunique() == 1 and hist["mse"].nunique() == 1
        raw = read_history(stage2_runs[reading] / "init/history.h5")
        assert raw["epoch"].tolist() == hist["epoch"].tolist()
        assert raw["conv_sae/activation_rate_centred"].shape == raw["conv_sae/activation_rate"].shape
        assert np.isnan(raw["scalars/loss"][0]) and np.isfinite(raw["scalars/loss"][1:]).all()


def test_the_evaluation_before_the_first_step_sees_an_untrained_optimizer(dsprites_small, tmp_path, monkeypatch):
    from vaesae.train.loop import StageRunner

    seen = []
    original = StageRunner.at_init_row

    def spy(self):
        seen.append(sum(len(s) for s in self.optimizer.state.values()))  # AdamW keeps no state before its first step
        return original(self)

    monkeypatch.setattr(StageRunner, "at_init_row", spy)
    shared_stages(load_config("tiny"), dsprites_small, tmp_path, seed=2)
    assert seen == [0]  # called once, in stage 2 only, before any step


def test_centred_b_dec_starts_at_the_mean_input_of_a_training_batch(stage2_runs):
    runner = stage2_runs["runner"]
    fresh = HybridVAESAE(runner.data.channels, runner.cfg.model)
    fresh.vae.load_state_dict(torch.load(stage2_runs["none"] / "pretrain/model.pt", weights_only=False)["vae"])
    with torch.no_grad():
        h, mu, *_ = fresh.vae(runner.prepare_batch(), sample=False)
    raw = pd.read_csv(stage2_runs["centred"] / "init/history.csv")
    literal = pd.read_csv(stage2_runs["none"] / "init/history.csv")
    assert raw["conv_input_gamma"].iloc[0] == pytest.approx(literal["conv_input_gamma"].iloc[0])  # the same VAE
    # the stage-2 checkpoint's b_dec moved from that starting point by a few optimizer steps only
    state = torch.load(stage2_runs["centred"] / "init/model.pt", weights_only=False)["model"]
    assert torch.allclose(state["conv_sae.b_dec"], h.mean(0), atol=0.05)
    assert torch.allclose(state["latent_sae.b_dec"], mu.mean(0), atol=0.05)


def test_the_summary_reports_the_dead_pct_on_the_centred_input(stage2_runs):
    from vaesae.summary import summarize_history

    run = stage2_runs["none"] / "init"
    df = summarize_history(run / "history.csv", run / "history.h5", dead_threshold=0.01, specialization_threshold=0.5)
    assert df["dead_pct_centred"].notna().all() and df["latent_dead_pct_centred"].notna().all()
    assert (df["dead_pct_centred"] <= 100).all() and (df["dead_pct"] >= 0).all()


# ------------------------------------------------------------------------------------------------ revival readings
def _trained_sae_with_dead_rows(tied=False, steps=60, seed=0):
    """An SAE trained a few AdamW steps on a non-negative input with Top-k, so that some neurons never fire."""
    torch.manual_seed(seed)
    sae = SparseAutoencoder(12, 48, tied=tied)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-2)
    x = torch.relu(torch.randn(256, 12) + 1.0)
    for _ in range(steps):
        opt.zero_grad()
        a, x_hat = sae(x, 4)
        ((x - x_hat) ** 2).sum(1).mean().backward()
        opt.step()
    with torch.no_grad():
        fired = (sae(x, 4)[0] > 0).any(0)
    return sae, opt, x, torch.nonzero(~fired).flatten(), torch.nonzero(fired).flatten()


def _first_update(sae, opt, x, rows) -> tuple[torch.Tensor, torch.Tensor]:
    """|ΔW_e| of one more AdamW step, per row: (max over ``rows``, max over the other rows)."""
    before = sae.W_e.detach().clone()
    opt.zero_grad()
    a, x_hat = sae(x, 4)
    ((x - x_hat) ** 2).sum(1).mean().backward()
    opt.step()
    delta = (sae.W_e.detach() - before).abs().amax(1)
    others = torch.ones(len(delta), dtype=torch.bool)
    others[rows] = False
    return delta[rows].max(), delta[others].max()


LONG = 2000  # AdamW steps before the re-initialisation: its bias corrections have run out, as in a real stage 3


@pytest.mark.parametrize("source", ["donor", "distribution"])
def test_a_revived_rows_first_update_is_no_larger_than_an_active_rows(source):
    sae, opt, x, dead, active = _trained_sae_with_dead_rows(steps=LONG)
    assert len(dead) >= 4 and len(active) >= 4

    def probe_loss():  # the SAE's loss on a probe batch (revival's: evaluation images; here a fresh draw)
        probe = torch.relu(torch.randn(64, 12, generator=torch.Generator().manual_seed(9)) + 1.0)
        return ((probe - sae(probe, 4)[1]) ** 2).sum(1).mean()

    reinit_neurons(sae, opt, dead, active, noise=0.01, generator=torch.Generator().manual_seed(0), source=source,
                   probe_loss=probe_loss)  # fmt: skip
    revived, settled = _first_update(sae, opt, x, dead)
    assert revived <= settled, (revived, settled)


def test_zeroed_moments_would_give_revived_rows_a_larger_first_step_than_any_active_row():
    """What reset_moments prevents: with m = v = 0, AdamW's first update of a weight is
    lr·(1 − β1)/(1 − β1^t)·√((1 − β2^t)/(1 − β2)) whatever its gradient: ≈ 3.2·lr once t is large."""
    sae, opt, x, dead, active = _trained_sae_with_dead_rows(steps=LONG)
    reinit_neurons(sae, opt, dead, active, noise=0.01, generator=torch.Generator().manual_seed(0))
    for p in (sae.W_e, sae.b_e, sae.W_d):
        opt.state[p]["exp_avg"][..., :].index_fill_(0 if p is not sae.W_d else 1, dead, 0.0)
        opt.state[p]["exp_avg_sq"].index_fill_(0 if p is not sae.W_d else 1, dead, 0.0)
    t = float(opt.state[sae.W_e]["step"]) + 1
    revived, settled = _first_update(sae, opt, x, dead)
    (b1, b2), lr = opt.param_groups[0]["betas"], opt.param_groups[0]["lr"]
    assert revived == pytest.approx(lr * (1 - b1) / (1 - b1**t) * math.sqrt((1 - b2**t) / (1 - b2)), rel=0.02)
    assert revived > settled  # the failure the test above guards against


def test_reset_moments_takes_the_probe_gradient_where_it_exceeds_the_active_mean():
    sae = SparseAutoencoder(3, 5)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-3)
    sae(torch.rand(4, 3), None)[1].sum().backward()
    opt.step()
    for p in (sae.W_e, sae.b_e, sae.W_d):
        opt.state[p]["exp_avg_sq"].fill_(1.0)
    dead, active = torch.tensor([0, 3]), torch.tensor([1, 2, 4])
    g = torch.zeros(5, 3)
    g[0] = torch.tensor([4.0, 0.25, 9.0])  # neuron 0 had a gradient on the probe; neuron 3 none
    reset_moments(opt, sae, dead, active, {sae.W_e: g})
    assert opt.state[sae.W_e]["exp_avg_sq"][0].tolist() == [4.0, 1.0, 9.0]  # max(g0², mean of the active v)
    assert opt.state[sae.W_e]["exp_avg_sq"][3].tolist() == [1.0, 1.0, 1.0]


def test_reset_moments_zeroes_m_and_sets_v_to_the_active_rows_mean():
    sae = SparseAutoencoder(3, 5)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-3)
    sae(torch.rand(4, 3), None)[1].sum().backward()
    opt.step()
    for p in (sae.W_e, sae.b_e, sae.W_d):
        opt.state[p]["exp_avg"].fill_(1.0)
        opt.state[p]["exp_avg_sq"].copy_(torch.arange(p.numel(), dtype=torch.float32).reshape(p.shape) + 1.0)
    dead, active = torch.tensor([0, 3]), torch.tensor([1, 2, 4])
    v_e = opt.state[sae.W_e]["exp_avg_sq"].clone()
    v_d = opt.state[sae.W_d]["exp_avg_sq"].clone()
    reset_moments(opt, sae, dead, active)
    assert torch.all(opt.state[sae.W_e]["exp_avg"][dead] == 0) and torch.all(opt.state[sae.W_e]["exp_avg"][active] == 1)
    assert torch.equal(opt.state[sae.W_e]["exp_avg_sq"][dead], v_e[active].mean(0, keepdim=True).expand(2, 3))
    assert torch.equal(opt.state[sae.W_e]["exp_avg_sq"][active], v_e[active])
    assert torch.equal(opt.state[sae.W_d]["exp_avg_sq"][:, dead], v_d[:, active].mean(1, keepdim=True).expand(3, 2))
    assert torch.all(opt.state[sae.b_e]["exp_avg_sq"][dead] == opt.state[sae.b_e]["exp_avg_sq"][active].mean())


def test_the_distribution_reading_draws_new_neurons_not_copies():
    sae, opt, x, dead, active = _trained_sae_with_dead_rows(seed=1)
    before = sae.W_e.detach().clone()
    reinit_neurons(sae, opt, dead, active, noise=0.01, generator=torch.Generator().manual_seed(0),
                   source="distribution")  # fmt: skip
    drawn = sae.W_e.detach()[dead]
    nearest = torch.cdist(drawn, before[active]).min(1).values
    spread = before[active].std(0, unbiased=False).norm()
    assert (nearest > 0.3 * spread).all()  # no drawn row is a near-copy of an active one
    # each coordinate is drawn around the active neurons' mean, with their spread
    assert (drawn.mean(0) - before[active].mean(0)).abs().max() < 3 * before[active].std(0).max()
    assert torch.equal(sae.W_e.detach()[active], before[active])


def test_the_tied_sae_revives_through_its_one_matrix_under_both_readings():
    for source in ("donor", "distribution"):
        sae, opt, x, dead, active = _trained_sae_with_dead_rows(tied=True)
        before = sae.W_e.detach().clone()
        reinit_neurons(sae, opt, dead, active, noise=0.01, generator=torch.Generator().manual_seed(0), source=source)
        assert not torch.equal(sae.W_e.detach()[dead], before[dead])
        assert torch.equal(sae.W_d, sae.W_e.t())


def test_revival_applies_the_configured_reading():
    cfg = RevivalConfig(bias_boost=False, bias_base=0.01, bias_rate=0.01, reinit=True, reinit_dead_fraction=0.5,
                        reinit_patience=0, reinit_noise=0.01, inactive_rate=0.001, reinit_from="distribution")  # fmt: skip
    sae, opt, x, dead, active = _trained_sae_with_dead_rows()
    revival = Revival(cfg, sae.m, torch.device("cpu"))
    revival.pending, revival.donors = dead, active
    before = sae.W_e.detach().clone()
    revival.start_epoch(sae, opt, x[:32], generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(sae.W_e.detach()[dead], before[active]).min(1).values
    assert (nearest > 1e-3).all()  # drawn, not copied (a donor copy is within noise · std of its donor)
    with pytest.raises(Exception, match="reinit_from"):
        RevivalConfig.from_params({**cfg.as_dict(), "reinit_from": "copies"})


# ------------------------------------------------------------------------------------------------ variants, study
def test_a_reading_variant_moves_stages_2_on_and_keeps_the_vae_shared():
    from vaesae import workflow as wf

    base = load_config("quick")
    literal = load_config("quick", variant="auto")
    centred = load_config("quick", variant="auto", model={"sae_bias": "centred"})
    both = load_config("quick", variant="auto", model={"sae_bias": "centred"}, revival={"reinit_from": "distribution"})
    res = base["results_dir"]
    assert wf.Paths.of(base).results_dir == res
    assert [wf.Paths.of(c).results_dir for c in (literal, centred, both)] == [
        f"{res}/reading-literal", f"{res}/reading-centred", f"{res}/reading-centred-distribution"]
    for cfg in (base, literal, centred, both):  # one VAE for every reading: same file, same params
        assert wf.pretrain_history_files(cfg) == wf.pretrain_history_files(base)
        assert wf.rule_params(cfg, "pretrain_vae") == wf.rule_params(base, "pretrain_vae")
        assert wf.benchmark_files(cfg)[0] == f"{res}/benchmarks/pretrain_dsprites_seed42_shared.tsv"
    assert all(f.startswith(f"{res}/reading-centred/") for f in wf.all_outputs(centred))
    assert wf.rule_params(centred, "init_sae")["model"]["sae_bias"] == "centred"
    assert wf.rule_params(both, "sparsify", method="topk")["revival"]["reinit_from"] == "distribution"
    assert "reinit_from" not in json_keys(wf.rule_params(both, "init_sae"))  # stage 2 has no revival


def json_keys(obj) -> set:
    import json

    return set(json.loads(json.dumps(obj, default=str)).keys()) | {
        k for v in obj.values() if isinstance(v, dict) for k in v}


def test_every_readings_preset_resolves_on_the_ladder_rung():
    from pathlib import Path

    from vaesae import workflow as wf

    from conftest import ROOT

    rung = ROOT / "workflow/presets/ladder/r3-converged.yaml"
    names = {}
    for preset in sorted((ROOT / "workflow/presets/readings").glob("*.yaml")):
        cfg = wf.load_config(ROOT / "workflow/presets/quick.yaml", rung, preset, root=ROOT)
        names[preset.stem] = Path(wf.Paths.of(cfg).results_dir).name
        assert wf.Paths.of(cfg).vae_dir == "results/ladder/r3-converged"
    assert names == {"literal": "reading-literal", "decoder": "reading-decoder", "centred": "reading-centred",
                     "distribution": "reading-distribution"}


def _fake_reading(root, name, dead_init, alive, sha="abc"):
    import yaml

    d = root / name
    (d / "summary").mkdir(parents=True)
    ev, hist = [], []
    for dataset in ("dsprites", "shapes3d"):
        for seed in (42, 43):
            for phase, dead in (("init", dead_init + 10), ("topk", 90.0), ("l1", 80.0), ("topk_extended", 91.0)):
                ev.append({"dataset": dataset, "seed": seed, "phase": phase, "method": "topk", "k": 62,
                           "k_latent": 1, "mig": 0.05, "mse": 0.02, "dead_pct": dead + seed - 42,
                           "specialized": 3, "latent_dead_pct": 0, "latent_specialized": 0, "n_neurons": 1024,
                           "active_topk": 40.0})
            base = {"dataset": dataset, "seed": seed, "method": "none", "k": 62, "specialized": 0, "mig": 0.05,
                    "mse": 0.02, "k_latent": 1, "l1_lambda": 0.01}
            hist.append({**base, "phase": "init", "stage": "init", "epoch": -1, "dead_pct": dead_init,
                         "dead_pct_centred": 20.0, "conv_input_gamma": 4.0 + seed - 42})
            hist.append({**base, "phase": "init", "stage": "init", "epoch": 0, "dead_pct": dead_init + 10})
            for epoch in range(3):
                hist.append({**base, "phase": "topk", "stage": "sparsify", "method": "topk", "epoch": epoch,
                             "dead_pct": 85.0, "reinit": 10 if epoch == 0 else 0,
                             "reinit_alive_1": alive if epoch == 0 else 0.0})
    pd.DataFrame(ev).to_csv(d / "summary/evaluations.csv", index=False)
    pd.DataFrame(hist).to_csv(d / "summary/history.csv", index=False)
    pd.DataFrame([{"dataset": "dsprites", "seed": 42, "phase": "topk", "specialized_normalized_topk": 3,
                   "specialized_normalized_pre_topk": 5, "specialized_nats_topk": 7,
                   "specialized_nats_pre_topk": 9}]).to_csv(d / "summary/specialization_readings.csv", index=False)
    (d / "rung.yaml").write_text(yaml.safe_dump({"rung": name, "wall_s": 600.0, "vae_sha256": {"dsprites/seed42": sha},
                                                 "presets": ["quick.yaml", "r3.yaml", f"{name}.yaml"]}))


def test_the_readings_table_and_figure_compare_readings_beside_the_paper(tmp_path):
    from vaesae.studies.readings import readings_frame, readings_markdown, render_readings

    root = tmp_path / "r3"
    _fake_reading(root, "reading-centred", dead_init=5.0, alive=8.0)
    _fake_reading(root, "reading-literal", dead_init=80.0, alive=0.0)
    paper = load_config(None)["claims"]["paper"]
    df = readings_frame(root)
    assert list(dict.fromkeys(df["reading"])) == ["reading-literal", "reading-centred"]  # the literal reading first

    def get(reading, key, dataset="dsprites"):
        return df[(df["reading"] == reading) & (df["quantity"] == key) & (df["dataset"] == dataset)].iloc[0]

    assert get("reading-literal", "dead_at_init")["mean"] == 80.0 and get("reading-centred", "dead_init")["mean"] == 15.5
    assert get("reading-literal", "gamma")["mean"] == pytest.approx(4.5) and get("reading-literal", "gamma")["n"] == 2
    assert get("reading-centred", "alive_topk")["mean"] == pytest.approx(80.0)  # 8 of 10 re-initialised
    assert get("reading-centred", "dead_topk")["std"] == pytest.approx(np.sqrt(0.5))
    assert get("reading-literal", "spec_topk_nats")["mean"] == 7
    text = readings_markdown(root, paper)
    assert "the same sha256 in every reading's rung.yaml" in text
    assert "| dead % before any SAE step | 80.0 ± 0.0 | 5.0 ± 0.0 | 1.2 (k = 500) |" in text
    assert "| dead % Top-k k_end | 90.5 ± 0.7 | 90.5 ± 0.7 | 34.4 |" in text
    _fake_reading(root, "reading-decoder", dead_init=70.0, alive=1.0, sha="other")
    assert "**the VAE hashes differ**" in readings_markdown(root, paper)
    paths = render_readings(root, paper, tmp_path / "out")
    assert (tmp_path / "out/readings.png").stat().st_size > 10_000 and len(paths) == 4


def test_compare_puts_named_folders_side_by_side_and_rejects_a_bad_folder(tmp_path):
    from vaesae.cli.ladder import main

    _fake_reading(tmp_path / "a", "reading-literal", dead_init=80.0, alive=0.0)
    _fake_reading(tmp_path / "b", "reading-literal", dead_init=60.0, alive=0.0, sha="other")
    out = tmp_path / "compare.md"
    main(["compare", "--folder", f"40 epochs={tmp_path / 'a/reading-literal'}",
          f"80 epochs={tmp_path / 'b/reading-literal'}", "--title", "Stage 1 twice as long", "--out", str(out)])
    text = out.read_text()
    assert text.startswith("# Stage 1 twice as long")
    assert "| Quantity | 40 epochs | 80 epochs | paper |" in text  # the columns keep the given names, in order
    assert "| dead % before any SAE step | 80.0 ± 0.0 | 60.0 ± 0.0 | 1.2 (k = 500) |" in text
    assert "different stage-1 VAEs" in text
    with pytest.raises(SystemExit, match="holds no rung.yaml"):
        main(["compare", "--folder", f"x={tmp_path}", "--title", "t", "--out", str(out)])
    with pytest.raises(SystemExit, match="NAME=PATH"):
        main(["compare", "--folder", str(tmp_path / "a/reading-literal"), "--title", "t", "--out", str(out)])
