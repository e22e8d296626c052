"""The GPU path's contracts, held on the CPU (issue 22): what a CUDA graph needs of a training step, the graph
path's orchestration, a resume onto another device, and the guard against a silent multi-hour CPU run.

A CUDA graph records a step once and replays it, so the step must (``vaesae.train.step``): make no host sync, update
every state tensor in place (a replay writes where the capture wrote), and change no Python-side state once the
run's first step is done (a replay runs no Python). No GPU is needed to check any of that.
"""

from __future__ import annotations

import contextlib
import copy

import pandas as pd
import pytest
import torch

from vaesae import methods as method_table
from vaesae.config.sections import StageConfig
from vaesae.device import DeviceError
from vaesae.train import cost
from vaesae.train.checkpoint import load_checkpoint
from vaesae.train.loop import StageRunner
from vaesae.train.oplog import SYNC_OPS, OpLog
from vaesae.train.step import WARMUP_STEPS, GraphStepper, Stepper

from conftest import load_config, shared_stages, stage_params

METHODS = list(method_table.METHODS)
@pytest.fixture(scope="module")
def start(tiny_cfg, dsprites_small, tmp_path_factory):
    return shared_stages(tiny_cfg, dsprites_small, tmp_path_factory.mktemp("contract"), seed=4)


def _runner(stage, method, cfg, data, out, init, **kw):
    params = stage_params(cfg, stage, None if method == "none" else method)
    return StageRunner(StageConfig.from_params(stage, params, method), dataset_file=str(data), seed=4,
                       out_model=str(out / "model.pt"), out_history=str(out / "history.csv"),
                       init_checkpoint=None if init is None else str(init), checkpoint_minutes=0, progress=False,
                       **kw)  # fmt: skip


_EAGER: dict = {}


def eager_run(method, cfg, data, start):
    """The eager stage-3 run of ``method`` from ``start``'s stage 2 (once per module: several tests compare with it)."""
    out = start / f"g_eager_{method}"
    if (start, method) not in _EAGER:
        runner = _runner("sparsify", method, cfg, data, out, start / "init/model.pt")
        assert type(runner.stepper) is Stepper
        runner.run()
        _EAGER[start, method] = out
    return _EAGER[start, method]


def _state(obj, prefix: str, out: dict, depth: int = 0) -> None:
    """Tensors (storage pointer, shape, dtype) and plain Python values reachable from ``obj``'s attributes."""
    items = vars(obj).items() if hasattr(obj, "__dict__") and depth == 0 else obj.items()
    for name, value in items:
        key = f"{prefix}.{name}"
        if isinstance(value, torch.Tensor):
            out[key] = ("tensor", value.untyped_storage().data_ptr(), tuple(value.shape), value.dtype)
        elif isinstance(value, dict) and depth == 0:
            _state(value, key, out, depth + 1)
        elif isinstance(value, (int, float, str, bool, type(None))) or (
            isinstance(value, tuple) and all(isinstance(v, (int, float, str, bool, type(None))) for v in value)
        ):
            out[key] = value


def snapshot(runner: StageRunner) -> dict:
    """What a replayed step may not change: every state object's Python values and tensor storages, the model's
    parameters and buffers, and AdamW's state (gradients are the graph's own, so they are left out)."""
    out: dict = {}
    stage = runner.stage
    for name, obj in (("stage", stage), ("sparsifier", stage.sparsifier), ("revival", getattr(stage, "revival", None)),
                      ("centring", getattr(stage, "centring", None)), ("stepper", runner.stepper)):  # fmt: skip
        if obj is not None:
            _state(obj, name, out)
    for name, t in [*runner.model.named_parameters(), *runner.model.named_buffers()]:
        out[f"model.{name}"] = t.untyped_storage().data_ptr()
    for i, (p, state) in enumerate(runner.optimizer.state.items()):
        for key, t in state.items():
            out[f"adamw.{i}.{key}"] = t.untyped_storage().data_ptr() if isinstance(t, torch.Tensor) else t
    return out


def steps_after_warmup(runner: StageRunner, epoch: int, n: int = 2) -> tuple[dict, dict, list[str]]:
    """The run's first step (eager warm-up), then ``n`` steps under the op log: (state before, after, ops)."""
    sparsity, beta = runner.stage.sparsity(epoch), runner.stage.beta(epoch)
    bs = runner.cfg.optim.batch_size
    runner.stage.start_epoch(runner.optimizer, runner.probe_u8.float().div(255.0), sparsity, 10 * bs)
    runner.model.train()
    runner.stepper.begin_epoch()
    batches = [runner.data.batch(runner.data.train_idx[i * bs : (i + 1) * bs]) for i in range(n + 1)]
    runner.stepper.step(batches[0], sparsity, beta)
    before = snapshot(runner)
    log = OpLog()  # AdamW left out: capturable on CUDA; on the CPU torch's AdamW reads its step count on the host
    with log.without(runner.optimizer, "step"), log:
        for x in batches[1:]:
            runner.stepper.step(x, sparsity, beta)
    return before, snapshot(runner), log.ops


CASES = [("pretrain", "none"), ("init", "none"), *[("sparsify", m) for m in METHODS], ("extend", "topk")]


@pytest.mark.parametrize("stage,method", CASES)
def test_a_step_is_capture_safe(stage, method, start, tiny_cfg, dsprites_small):
    """After the first step: no host-sync op, no state tensor rebound, no Python value changed, at k_start and at a
    later k (a new graph per k)."""
    init = {"pretrain": None, "init": start / "pretrain/model.pt"}.get(stage, start / "init/model.pt")
    if stage == "extend":
        init = eager_run(method, tiny_cfg, dsprites_small, start) / "model.pt"
    for epoch in (0, 2):
        runner = _runner(stage, method, tiny_cfg, dsprites_small, start / f"s_{stage}_{method}", init)
        before, after, ops = steps_after_warmup(runner, epoch)
        assert not SYNC_OPS & set(ops), sorted(SYNC_OPS & set(ops))
        keys = before.keys() | after.keys()
        changed = {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}
        assert not changed, changed
        assert len(ops) > 50  # the log saw the step


VARIANTS = [
    ("jumprelu", {"sparsify": {"jumprelu_sparsity_warmup_fraction": 0.5, "jumprelu_unit_norm_decoder": True}}),
    ("batchtopk", {"sparsify": {"batchtopk_unit_norm_decoder": True}}),
    ("topk", {"model": {"sae_gradient": "detach"}}),
    ("topk_auxk", {"model": {"tied_sae": True}}),
]


@pytest.mark.parametrize("method,changes", VARIANTS, ids=[m for m, _ in VARIANTS])
def test_the_keys_beyond_the_defaults_keep_a_step_capture_safe(method, changes, start, tiny_cfg, dsprites_small,
                                                               tmp_path):  # fmt: skip
    """JumpReLU's warm-up clock, the unit-norm decoders, detached SAEs and a tied SAE: still no host sync, nothing
    rebound, no Python value changed after the first step."""
    init = start / "init/model.pt"
    if "tied_sae" in changes.get("model", {}):  # a tied stage 3 starts from a tied stage 2
        params = stage_params(tiny_cfg, "init")
        params["model"] = dict(params["model"], tied_sae=True)
        StageRunner(StageConfig.from_params("init", params), dataset_file=str(dsprites_small), seed=4,
                    out_model=str(tmp_path / "init/model.pt"), out_history=str(tmp_path / "init/history.csv"),
                    init_checkpoint=str(start / "pretrain/model.pt"), progress=False).run()  # fmt: skip
        init = tmp_path / "init/model.pt"
    params = stage_params(tiny_cfg, "sparsify", method)
    for section, values in changes.items():
        params[section] = dict(params[section], **values)
    runner = StageRunner(StageConfig.from_params("sparsify", params, method), dataset_file=str(dsprites_small),
                         seed=4, out_model=str(tmp_path / "s/model.pt"), out_history=str(tmp_path / "s/history.csv"),
                         init_checkpoint=str(init), checkpoint_minutes=0, progress=False)  # fmt: skip
    before, after, ops = steps_after_warmup(runner, 0)
    assert not SYNC_OPS & set(ops), sorted(SYNC_OPS & set(ops))
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not changed, changed


def test_the_contract_check_catches_a_rebound_tensor_a_python_counter_and_a_sync(start, tiny_cfg, dsprites_small):
    """The checks above fail on what they are meant to catch (here: BatchTopK's θ rebound instead of written in
    place, a Python step counter in the sparsifier, an .item() in the loss)."""
    runner = _runner("sparsify", "batchtopk", tiny_cfg, dsprites_small, start / "bad", start / "init/model.pt")
    sparsifier = runner.stage.sparsifier
    observe = sparsifier.observe

    def rebinding_observe(conv, latent):
        observe(conv, latent)
        sparsifier.theta = {name: t.clone() for name, t in sparsifier.theta.items()}
        sparsifier.steps = getattr(sparsifier, "steps", 0) + 1
        conv.a.sum().item()

    sparsifier.observe = rebinding_observe
    before, after, ops = steps_after_warmup(runner, 0)
    assert "_local_scalar_dense" in ops
    assert before["sparsifier.theta.conv"] != after["sparsifier.theta.conv"]
    assert before["sparsifier.steps"] != after["sparsifier.steps"]


class ReplayByCall:
    """A stand-in for ``CudaGraphBackend`` on the CPU: capture records the step without running it; a replay runs it
    with the gradients cleared first (a CUDA graph's backward writes its static gradient buffers afresh)."""

    def __init__(self):
        self.optimizer = None
        self.captures = self.replays = 0

    def warmup(self):
        return contextlib.nullcontext()

    def capture(self, fn):
        self.captures += 1

        def replay():
            self.replays += 1
            self.optimizer.zero_grad(set_to_none=True)
            fn()

        return replay


@pytest.mark.parametrize("method", ["topk", "l1", "jumprelu", "topk_auxk"])
def test_the_graph_path_gives_the_eager_numbers(method, start, tiny_cfg, dsprites_small):
    """The graph stepper (warm-up steps, one capture per (sparsity, beta, samples), the batch copied into the static
    buffer, replays) with a replay that re-runs the captured step: byte-identical histories and model."""
    init = start / "init/model.pt"
    eager = eager_run(method, tiny_cfg, dsprites_small, start)
    backend = ReplayByCall()
    graph = _runner("sparsify", method, tiny_cfg, dsprites_small, start / f"g_graph_{method}", init,
                    graph_backend=backend)  # fmt: skip
    assert isinstance(graph.stepper, GraphStepper)
    backend.optimizer = graph.optimizer
    graph.run()
    a = pd.read_csv(eager / "history.csv").drop(columns="seconds")
    b = pd.read_csv(start / f"g_graph_{method}/history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    sa = load_checkpoint(eager / "model.pt")["model"]
    sb = load_checkpoint(start / f"g_graph_{method}/model.pt")["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    epochs, n_steps = tiny_cfg["sparsify"]["epochs"], 640 // tiny_cfg["optim"]["batch_size"]
    keys = len({(r.k, r.k_latent, r.l1_lambda, r.beta) for r in a.itertuples()})
    assert backend.captures == keys  # a graph per distinct (k, k_lat, λ, β)
    assert backend.replays == epochs * n_steps - keys * WARMUP_STEPS
    assert graph.stepper.fell_back is None


def test_a_failed_capture_falls_back_to_eager_steps(start, tiny_cfg, dsprites_small, caplog):
    class Broken(ReplayByCall):
        def capture(self, fn):
            raise RuntimeError("operation not permitted when stream is capturing")

    init = start / "init/model.pt"
    runner = _runner("sparsify", "topk", tiny_cfg, dsprites_small, start / "g_broken", init, graph_backend=Broken())
    runner.run()
    assert "operation not permitted" in runner.stepper.fell_back and "training goes on eagerly" in caplog.text
    a = pd.read_csv(eager_run("topk", tiny_cfg, dsprites_small, start) / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, pd.read_csv(start / "g_broken/history.csv").drop(columns="seconds"))


def test_a_resume_file_loads_for_a_run_on_another_device(start, tiny_cfg, dsprites_small):
    """The resume file is read onto the host and moved from there: a runner whose device is not the CPU (the meta
    device stands in for CUDA: it rejects torch.set_rng_state and copies out of it fail, as from a CUDA RNG state)
    resumes; the run then ends where an uninterrupted one did."""
    init = start / "init/model.pt"
    full = eager_run("topk", tiny_cfg, dsprites_small, start)
    killed = start / "r_killed"
    _runner("sparsify", "topk", tiny_cfg, dsprites_small, killed, init).run(stop_after=2)
    runner = _runner("sparsify", "topk", tiny_cfg, dsprites_small, killed, init)
    with pytest.raises((TypeError, NotImplementedError, RuntimeError)):
        torch.set_rng_state(load_checkpoint(killed / "model.pt.resume", map_location="meta")["rng_cpu"])
    runner.device = torch.device("meta")
    epoch, rows = runner._resume()
    runner.device = torch.device("cpu")
    assert epoch == 2 and len(rows) == 2
    state = load_checkpoint(killed / "model.pt.resume")
    assert torch.equal(torch.get_rng_state(), state["rng_cpu"])
    runner.run()
    a = pd.read_csv(full / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, pd.read_csv(killed / "history.csv").drop(columns="seconds"))


# ------------------------------------------------------------------------------------------------ CPU fallback
def test_device_auto_on_a_cpu_stops_a_job_of_hours_and_names_the_way_to_insist(start, tiny_cfg, dsprites_small):
    """The paper's model for 2,000 epochs of this small set is hours on the CPU: ``device: auto`` without a GPU
    stops before training, with the estimate and ``device: cpu`` in the message."""
    paper = load_config(None)
    params = stage_params(tiny_cfg, "sparsify", "topk", device="auto")
    params["model"] = copy.deepcopy(paper["model"])
    params["sparsify"] = dict(params["sparsify"], epochs=2000, k_start=500, k_end=50)
    with pytest.raises(DeviceError, match=r"device: auto found no GPU .* would take about \d+\.\d h .*device: cpu"):
        StageRunner(StageConfig.from_params("sparsify", params, "topk"), dataset_file=str(dsprites_small), seed=4,
                    out_model=str(start / "auto/model.pt"), out_history=str(start / "auto/h.csv"),
                    init_checkpoint=str(start / "init/model.pt"), progress=False)  # fmt: skip
    assert not (start / "auto").exists()
    flops = cost.training_flops("sparsify", _model(paper), 1, 640, 2000)
    assert cost.check_cpu_fallback("cpu", torch.device("cpu"), "x", flops) > cost.CPU_FALLBACK_LIMIT_S  # insists
    assert cost.check_cpu_fallback("auto", torch.device("cuda"), "x", flops) is None  # a GPU: nothing to check


def _model(cfg):
    from vaesae.config.sections import ModelConfig

    return ModelConfig.from_params(cfg["model"])


def _jobs(cfg):
    """(stage, images per epoch, epochs) of every training job of a config."""
    from vaesae.workflow import n_images

    for dataset in cfg["datasets"]:
        n = n_images(cfg, dataset)
        train = int(n * (1 - cfg["data"]["val_fraction"])) if dataset == "dsprites" else int(n * 400 / 480)
        images = max(1, train // cfg["optim"]["batch_size"]) * cfg["optim"]["batch_size"]
        for stage in ("pretrain", "init", "sparsify", "extend"):
            yield dataset, stage, images, cfg[stage]["epochs"]


@pytest.mark.parametrize("preset", ["tiny", "quick"])
def test_the_quick_and_tiny_presets_are_far_below_the_fallback_limit(preset):
    cfg = load_config(preset)
    for dataset, stage, images, epochs in _jobs(cfg):
        for channels in (1, 3):
            seconds = cost.cpu_seconds(cost.training_flops(stage, _model(cfg), channels, images, epochs), threads=1)
            assert seconds < cost.CPU_FALLBACK_LIMIT_S / 10, (dataset, stage, seconds)


@pytest.mark.parametrize("preset", [None, "quick", "tiny"])
def test_the_flop_count_from_the_architecture_is_torchs(preset):
    """forward_flops against torch.utils.flop_counter on the meta device (the slow, obvious count)."""
    from torch.utils.flop_counter import FlopCounterMode

    from vaesae.models.hybrid import HybridVAESAE

    cfg = _model(load_config(preset))
    for channels in (1, 3):
        with torch.device("meta"):
            model = HybridVAESAE(channels, cfg)
            x = torch.empty(2, channels, 64, 64)
        with FlopCounterMode(display=False) as vae:
            model.vae(x)
        with FlopCounterMode(display=False) as whole:
            model(x, 5, 1)
        counted = (vae.get_total_flops() / 2, (whole.get_total_flops() - vae.get_total_flops()) / 2)
        assert cost.forward_flops(cfg, channels) == counted


def test_the_paper_run_is_over_the_limit_even_on_many_cpu_threads():
    cfg = load_config(None)
    over = {(d, s) for d, s, images, epochs in _jobs(cfg)
            if cost.cpu_seconds(cost.training_flops(s, _model(cfg), 1, images, epochs), threads=16)
            > cost.CPU_FALLBACK_LIMIT_S}  # fmt: skip
    assert {("dsprites", "sparsify"), ("dsprites", "extend"), ("shapes3d", "sparsify")} <= over
    # the estimate follows the counted arithmetic: stage 3 at paper scale is 3 x 0.17 GFLOP per image
    vae, saes = cost.forward_flops(_model(cfg), 1)
    assert 0.15e9 < vae + saes < 0.2e9 and 0.03e9 < vae < 0.05e9
