"""Time one stage-3 (joint Top-k) epoch at paper scale on dSprites, next to the floor from arithmetic.

    python benchmarks/bench_stage3_epoch.py                    # full epoch: 589,824 images, 1,152 steps of 512
    python benchmarks/bench_stage3_epoch.py --images 8192      # a slice of the epoch, extrapolated (CPU)
    python benchmarks/bench_stage3_epoch.py --bf16             # bf16 autocast instead of TF32
    python benchmarks/bench_stage3_epoch.py --method jumprelu  # another stage-3 method (default topk)
    python benchmarks/bench_stage3_epoch.py --k-end            # at k_end (50) instead of k_start (500)
    python benchmarks/bench_stage3_epoch.py --eager            # CUDA: eager steps instead of CUDA-graph replays
    python benchmarks/bench_stage3_epoch.py --profile-steps 50 # + torch.profiler table of 50 steps, sync count

Besides the training epoch it times the two other parts of a training job's epoch: the per-epoch evaluation
(``StageRunner.evaluate``: the forward pass over the monitor images and the neuron x factor MI) and the resume
checkpoint (``StageRunner.resume_payload`` saved atomically: model + AdamW state, 0.8 GB at paper scale), which
``checkpoint_minutes`` spaces out (one per 10 minutes by default).

It runs the pipeline's own ``StageRunner.train_epoch`` (the code the ``sparsify`` rule runs) on the paper config
(config.yaml: 68.6M parameters, batch 512, k = 500 in the first epoch, or k_end with ``--k-end``) over procedural
dSprites, after one warm-up epoch on the same data (on CUDA it captures the step's graph), and prints seconds per
epoch, steps per second and achieved TFLOP/s. ``benchmarks/device/gpu_session.py`` is the one-call GPU measurement
of every method; this script is the single-method view with a profiler.

The floor: per training image the conv SAE does 2·4096·8192 multiply-adds to encode and as many to decode (ã is
used densely), i.e. 4·4096·8192 = 134 MFLOP forward and about twice that backward: 403 MFLOP; the VAE adds
about 0.13 GFLOP. Over the 589,824 training images of an epoch that is about 237 TFLOP of matmul for the SAE alone.
AdamW reads and writes the parameters, gradients and both moments of all 68.6M parameters every step:
about 68.6M × 4 B × 8 accesses ≈ 2.2 GB per step, 2.5 TB per epoch. On the H200 lent to this project (datasheet
≈ 495 dense TF32 TFLOP/s; 4.8 TB/s, of which a device copy reached 4.3 TB/s there) the two floors add to about 1.0 s
(``--peak h100``: 3.35 TB/s, about 1.2 s).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vaesae.config.sections import ModelConfig, StageConfig  # noqa: E402
from vaesae.data.generate import make_procedural  # noqa: E402
from vaesae.models.hybrid import HybridVAESAE, count_parameters  # noqa: E402
from vaesae.train.checkpoint import save_checkpoint  # noqa: E402
from vaesae.train.loop import StageRunner  # noqa: E402
from vaesae.workflow import load_config, rule_params  # noqa: E402

FULL_TRAIN_IMAGES = 589_824  # 80% of 737,280
SAE_TFLOP_PER_EPOCH = 3 * 4 * 4096 * 8192 * FULL_TRAIN_IMAGES / 1e12  # ≈ 237
PEAKS = {"h100": (495.0, 3.35), "h200": (495.0, 4.8)}  # dense TF32 TFLOP/s, HBM TB/s


def flops_per_image(model: HybridVAESAE, channels: int) -> float:
    """Forward + backward FLOPs of one training image (3 × forward multiply-adds × 2), measured with torch."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, channels, 64, 64)
    with FlopCounterMode(display=False) as counter:
        out = model(x, 500, 1)
        (out.logits.sum() + out.h_hat.sum() + out.z_hat.sum()).backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=FULL_TRAIN_IMAGES, help="training images to time (≤ full epoch)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--peak", choices=sorted(PEAKS), default="h200", help="device whose floor to print")
    ap.add_argument("--eager", action="store_true", help="CUDA: eager steps (optim.cuda_graphs: false)")
    ap.add_argument("--k-end", action="store_true", help="time the last stage-3 epoch's sparsity (k_end)")
    ap.add_argument("--method", default="topk", help="stage-3 method of the methods table (default topk)")
    ap.add_argument("--eval-samples", type=int, default=None,
                    help="monitor images evaluated per epoch (default: eval.n_samples for a full epoch, else 1,000)")
    ap.add_argument("--profile-steps", type=int, default=0,
                    help="profile this many training steps (torch.profiler) and count host syncs (CUDA)")
    args = ap.parse_args(argv)

    cfg = load_config(root=ROOT)  # config.yaml as the workflow prepares it
    params = dict(rule_params(cfg, "sparsify", method=args.method), device=args.device)  # what the sparsify rule passes
    params["optim"] = dict(params["optim"], bf16=args.bf16, cuda_graphs=not args.eager)
    epoch = cfg["sparsify"]["epochs"] - 1 if args.k_end else 0
    full = args.images >= FULL_TRAIN_IMAGES
    n_eval = args.eval_samples or (params["eval"]["n_samples"] if full else 1000)
    params["eval"] = dict(params["eval"], n_samples=n_eval)
    n_total = min(int(round(args.images / (1 - cfg["data"]["val_fraction"]))), 737_280)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_procedural("dsprites", tmp / "d.h5", subset=None if n_total == 737_280 else n_total, progress=False)
        model_cfg = ModelConfig.from_params(cfg["model"])
        model = HybridVAESAE(1, model_cfg)
        save_checkpoint(tmp / "init.pt", {"model": model.state_dict()})
        runner = StageRunner(
            StageConfig.from_params("sparsify", copy.deepcopy(params), args.method), dataset_file=str(tmp / "d.h5"),
            seed=42, out_model=str(tmp / "m.pt"), out_history=str(tmp / "h.csv"), init_checkpoint=str(tmp / "init.pt"),
            progress=False,
        )  # fmt: skip
        dev = runner.device
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        n_train = len(runner.data.train_idx)
        steps = n_train // cfg["optim"]["batch_size"]
        runner.train_epoch(epoch)  # warm-up: kernels, allocator, autotuning, the graph's capture
        sync()
        t0 = time.perf_counter()
        runner.train_epoch(epoch)
        sync()
        seconds = time.perf_counter() - t0
        row = runner.train_epoch(epoch)  # an epoch to evaluate after (the rule evaluates after every epoch)
        t0 = time.perf_counter()
        runner.evaluate(row["k"], row["k_latent"])
        sync()
        eval_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        save_checkpoint(tmp / "m.pt.resume", runner.resume_payload(1, []))
        ckpt_s = time.perf_counter() - t0
        ckpt_gb = (tmp / "m.pt.resume").stat().st_size / 1e9
        profile = profile_steps(runner, args.profile_steps, dev) if args.profile_steps else None
        per_image = flops_per_image(HybridVAESAE(1, model_cfg), 1)
        n_params = count_parameters(runner.model)
    scale = FULL_TRAIN_IMAGES / (steps * cfg["optim"]["batch_size"])
    epoch_s = seconds * scale
    tflops = per_image * steps * cfg["optim"]["batch_size"] / seconds / 1e12
    peak_tflops, peak_tbs = PEAKS[args.peak]
    opt_tb = n_params * 4 * 8 * (FULL_TRAIN_IMAGES // cfg["optim"]["batch_size"]) / 1e12
    floor_s = SAE_TFLOP_PER_EPOCH / peak_tflops + opt_tb / peak_tbs
    print(f"device              {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'}), "
          f"torch {torch.__version__}, {'bf16 autocast' if args.bf16 else 'TF32' if dev.type == 'cuda' else 'fp32'}, "
          f"method {args.method}, k = {row['k']}, "
          f"{'CUDA graph' if getattr(runner.stepper, 'captures', 0) else 'eager'} steps")  # fmt: skip
    print(f"parameters          {n_params / 1e6:.2f} M")
    print(f"timed               {steps} steps of {cfg['optim']['batch_size']} ({n_train} images) in {seconds:.2f} s")
    print(f"seconds per epoch   {epoch_s:.2f}" + (f"  (extrapolated ×{scale:.1f} to 1,152 steps)" if scale > 1.01 else ""))
    print(f"steps per second    {steps / seconds:.2f}")
    print(f"achieved TFLOP/s    {tflops:.2f}  ({per_image / 1e9:.3f} GFLOP per image, measured by FlopCounterMode)")
    print(f"floor ({args.peak})        {SAE_TFLOP_PER_EPOCH:.0f} TFLOP matmul / {peak_tflops:.0f} TFLOP/s + "
          f"{opt_tb:.2f} TB optimizer traffic / {peak_tbs} TB/s = {floor_s:.2f} s per epoch")
    print(f"ratio to floor      {epoch_s / floor_s:.1f}×")
    print(f"evaluation / epoch  {eval_s:.2f} s  ({n_eval} monitor images at k = {row['k']}; run every epoch)")
    per_epoch_ckpt = ckpt_s / max(1.0, 600.0 / (epoch_s + eval_s))  # one per checkpoint_minutes = 10
    print(f"resume checkpoint   {ckpt_s:.2f} s  ({ckpt_gb:.2f} GB; one per checkpoint_minutes = 10: "
          f"{per_epoch_ckpt:.2f} s per epoch)")
    job_epoch = epoch_s + eval_s + per_epoch_ckpt
    print(f"job epoch           {job_epoch:.2f} s  (training + evaluation + checkpoint share)")
    if profile is not None:
        table, syncs = profile
        print(table)
        if syncs is not None:
            print(f"host syncs          {syncs} in {args.profile_steps} steps (torch.cuda.set_sync_debug_mode)")
    return 0


def profile_steps(runner: StageRunner, steps: int, dev: torch.device) -> tuple[str, int | None]:
    """torch.profiler over ``steps`` training steps (one short epoch), and the synchronizing calls they make."""
    import warnings

    from torch.profiler import ProfilerActivity, profile

    full_idx = runner.data.train_idx
    runner.data.train_idx = full_idx[: steps * runner.cfg.optim.batch_size]
    cuda = dev.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    try:
        runner.train_epoch(2)  # warm-up at this length (and a graph's capture)
        with profile(activities=activities) as prof:
            runner.train_epoch(2)
            if cuda:
                torch.cuda.synchronize()
        syncs = None
        if cuda:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    runner.train_epoch(2)
                finally:
                    torch.cuda.set_sync_debug_mode(0)
            syncs = sum("synchroniz" in str(w.message) for w in caught)
    finally:
        runner.data.train_idx = full_idx
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=25), syncs


if __name__ == "__main__":
    sys.exit(main())
