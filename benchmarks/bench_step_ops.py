"""What one stage-3 training step issues and costs, per method: aten ops, host syncs, milliseconds.

    python benchmarks/bench_step_ops.py                        # paper config, every method, k = 500 and k = 50, CPU
    python benchmarks/bench_step_ops.py --methods topk l1      # some methods
    python benchmarks/bench_step_ops.py --time 3               # also time 3 steps per case (slow on the CPU)

The runner is the pipeline's own (``StageRunner``, the ``sparsify`` rule's code, the paper config of config.yaml),
on a small procedural dSprites set; the step is ``vaesae.train.step`` after the run's first (warm-up) step. The ops
are counted with ``vaesae.train.oplog.OpLog`` (a TorchDispatchMode: every aten op below autograd, forward and
backward). AdamW is counted apart: on the CPU it is torch's foreach implementation, on CUDA the fused kernel (one
launch per parameter group and dtype). On CUDA each aten op is about one kernel launch, and at paper scale the
arithmetic of a step is well under a millisecond of H200 time, so the op count bounds an eager step from below
(about 5-10 µs of launch per op) and is what a CUDA graph removes.

``benchmarks/device/gpu_session.py`` reuses :func:`make_runner`, :func:`count_step_ops` and :func:`time_steps`.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vaesae import methods as method_table  # noqa: E402
from vaesae.config.sections import ModelConfig, StageConfig  # noqa: E402
from vaesae.models.hybrid import HybridVAESAE  # noqa: E402
from vaesae.train.checkpoint import save_checkpoint  # noqa: E402
from vaesae.train.loop import StageRunner  # noqa: E402
from vaesae.train.oplog import OpLog  # noqa: E402
from vaesae.train.step import GraphStepper  # noqa: E402
from vaesae.workflow import load_config, rule_params  # noqa: E402


def sparsify_params(cfg: dict, method: str, *, device: str, bf16: bool = False, graphs: bool = True) -> dict:
    """The params the ``sparsify`` rule passes for ``method``, on ``device``, with bf16 / CUDA graphs set."""
    params = dict(copy.deepcopy(rule_params(cfg, "sparsify", method=method)), device=device)
    params["optim"] = dict(params["optim"], bf16=bf16, cuda_graphs=graphs)
    return params


def make_runner(cfg: dict, method: str, data: Path, tmp: Path, *, device: str, bf16: bool = False,
                graphs: bool = True, init: Path | None = None, n_eval: int | None = None) -> StageRunner:  # fmt: skip
    """A stage-3 runner of ``method`` from a fresh (untrained) model, or from ``init``."""
    params = sparsify_params(cfg, method, device=device, bf16=bf16, graphs=graphs)
    if n_eval is not None:
        params["eval"] = dict(params["eval"], n_samples=n_eval)
    if init is None:
        init = tmp / "init.pt"
        if not init.exists():
            model = HybridVAESAE(1, ModelConfig.from_params(cfg["model"]))
            save_checkpoint(init, {"model": model.state_dict()})
    out = tmp / f"run_{method}"
    return StageRunner(StageConfig.from_params("sparsify", params, method), dataset_file=str(data), seed=42,
                       out_model=str(out / "model.pt"), out_history=str(out / "history.csv"), init_checkpoint=str(init),
                       checkpoint_minutes=0, progress=False)  # fmt: skip


def _prepare(runner: StageRunner, epoch: int):
    sparsity, beta = runner.stage.sparsity(epoch), runner.stage.beta(epoch)
    bs = runner.cfg.optim.batch_size
    n = max(1, len(runner.data.train_idx) // bs)
    runner.stage.start_epoch(runner.optimizer, runner.probe_u8.float().div(255.0), sparsity, n * bs)
    runner.model.train()
    runner.stepper.begin_epoch()

    def batch(i: int) -> torch.Tensor:
        j = i % n
        return runner.data.batch(runner.data.train_idx[j * bs : (j + 1) * bs])

    return sparsity, beta, batch, (tuple(sparsity), beta, n * bs)


def count_step_ops(runner: StageRunner, epoch: int) -> dict:
    """Aten ops of one eager step after a warm-up step at ``epoch``'s sparsity: the step without AdamW, AdamW,
    and the host-sync ops among them."""
    sparsity, beta, batch, _ = _prepare(runner, epoch)
    runner.stepper.step(batch(0), sparsity, beta)  # the run's first step: one-time set-ups
    log, optimizer_ops = OpLog(), OpLog()
    with log.without(runner.optimizer, "step", into=optimizer_ops), log:
        runner.stepper.step(batch(1), sparsity, beta)
    return {"k": sparsity.k, "ops": len(log.ops), "kernel_ops": log.kernels(), "adamw_ops": len(optimizer_ops.ops),
            "syncs": log.syncs(),
            "top": log.counts().most_common(8)}  # fmt: skip


def time_steps(runner: StageRunner, epoch: int, steps: int, repeats: int = 3) -> dict:
    """Milliseconds per step at ``epoch``'s sparsity: the median of ``repeats`` timings of ``steps`` steps, after a
    warm-up pass of the same length (which captures the graph on the graph path)."""
    sparsity, beta, batch, key = _prepare(runner, epoch)
    cuda = runner.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    runner.stepper.run_epoch(batch, steps, sparsity, beta, key)  # warm-up (+ capture)
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.stepper.run_epoch(batch, steps, sparsity, beta, key)
        sync()
        times.append((time.perf_counter() - t0) / steps * 1e3)
    _, _, bad = runner.stepper.end_epoch()
    return {"k": sparsity.k, "ms_per_step": statistics.median(times), "ms_all": times, "nonfinite": bad >= 0,
            "graph": isinstance(runner.stepper, GraphStepper) and runner.stepper.fell_back is None}


def last_epoch(cfg: dict) -> int:
    return cfg["sparsify"]["epochs"] - 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+", default=list(method_table.METHODS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=1280, help="procedural dSprites images (80 %% train)")
    ap.add_argument("--time", type=int, default=0, metavar="N", help="also time N steps per case")
    args = ap.parse_args(argv)
    from vaesae.data.generate import make_procedural

    cfg = load_config(root=ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_procedural("dsprites", tmp / "d.h5", subset=args.images, progress=False)
        rows = []
        for method in args.methods:
            for epoch in (0, last_epoch(cfg)):
                runner = make_runner(cfg, method, tmp / "d.h5", tmp, device=args.device, graphs=False, n_eval=100)
                row = {"method": method, **count_step_ops(runner, epoch)}
                if args.time:
                    row.update(time_steps(runner, epoch, args.time, repeats=1))
                rows.append(row)
                print(f"{method:14s} k={row['k']!s:>4}  ops/step {row['ops']:4d}  of them not views "
                      f"{row['kernel_ops']:4d}  AdamW ops (CPU foreach) {row['adamw_ops']:4d}  "
                      f"host syncs {len(row['syncs'])}" + (f"  {row['ms_per_step']:.0f} ms/step" if args.time else "")
                      + f"  top: {', '.join(f'{n} {c}' for n, c in row['top'][:5])}", flush=True)  # fmt: skip
    print(f"\ntorch {torch.__version__}, device {args.device}, paper config (68.6M parameters, batch 512)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
