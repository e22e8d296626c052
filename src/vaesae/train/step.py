"""One training step, run eagerly or replayed as a CUDA graph (``optim.cuda_graphs``).

    terms     = stage.loss(x, sparsity, β)                  (bf16 autocast under ``optim.bf16``)
    first_bad ← i  if the loss of step i is not finite and first_bad < 0     (−1: every loss finite)
    ∇ terms["loss"];  stage.before_step();  clip ‖∇‖₂ ≤ grad_clip;  AdamW step
    sums     += terms                                        (float64, on the device)
    i        += 1

Everything a step produces stays on the device: the loop reads ``sums`` and ``first_bad`` once per epoch. The step is
*capture-safe*, which is what lets CUDA record it once and replay it (``torch.cuda.CUDAGraph``):

- it reads its batch from one static buffer (``static_x``), into which each batch is copied;
- every tensor it updates (the model, AdamW's state, the sums, the sparsifier's and revival's state) is updated in
  place, never rebound, so a replay writes where the capture wrote;
- it makes no host sync (no ``.item()``, no data-dependent shape) and branches on no tensor value;
- after the first step of a run, no Python-side state changes in a step: the one-time set-ups (JumpReLU's initial
  θ, the centring's first mean) happen in that first step, which is always eager.

Python values a step bakes in (the epoch's sparsity (k, k_lat, λ), β, the samples per epoch) make up the graph's
key: a new graph is captured whenever the key changes (each epoch of the k or λ anneal, each epoch of the β ramp;
once for all of extended training). Before a capture, ``WARMUP_STEPS`` real steps of the epoch run eagerly on a side
stream (lazily allocated state: AdamW's moments, cuBLAS workspaces), then the rest of the epoch replays the graph.
``tests/test_step_contract.py`` holds these rules on the CPU for every method: no host-sync op in a step, every state
tensor's storage unchanged, no Python attribute changed, and a graph path whose replay re-runs the captured step
gives the eager path's numbers byte for byte.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

from vaesae.config.sections import OptimConfig

log = logging.getLogger("vaesae.train")

#: Eager steps an epoch runs before capturing its graph (a new key only); they are real training steps.
WARMUP_STEPS = 2


class Stepper:
    """Eager steps: ``begin_epoch()``, then ``step(x, sparsity, beta)`` per batch, then ``end_epoch()``."""

    def __init__(self, stage, optimizer: torch.optim.Optimizer, trainable: list, optim: OptimConfig,
                 device: torch.device):  # fmt: skip
        self.stage, self.optimizer, self.trainable, self.optim, self.device = stage, optimizer, trainable, optim, device
        self.names: list[str] = []
        self.sums: torch.Tensor | None = None  # allocated by the run's first step, then zeroed in place per epoch
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.step_index = torch.zeros((), dtype=torch.long, device=device)

    def autocast(self, cache_enabled: bool = True):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.optim.bf16,
                              cache_enabled=cache_enabled)  # fmt: skip

    def begin_epoch(self) -> None:
        self.first_bad.fill_(-1)
        self.step_index.zero_()
        if self.sums is not None:
            self.sums.zero_()

    def body(self, x: torch.Tensor, sparsity, beta: float, autocast) -> None:
        """Forward, NaN flag, backward, hooks, clip, AdamW, sums: the part a graph records (gradients start at None)."""
        with autocast:
            terms = self.stage.loss(x, sparsity, beta)
        loss = terms["loss"]
        bad = ~torch.isfinite(loss)
        self.first_bad.copy_(torch.where(bad & (self.first_bad < 0), self.step_index, self.first_bad))
        loss.backward()
        self.stage.before_step()
        torch.nn.utils.clip_grad_norm_(self.trainable, self.optim.grad_clip)
        self.optimizer.step()
        values = torch.stack([t.detach() for t in terms.values()]).double()  # one device op per step
        if self.sums is None:  # the run's first step, always eager
            self.names, self.sums = list(terms), torch.zeros_like(values)
        self.sums.add_(values)
        self.step_index.add_(1)

    def step(self, x: torch.Tensor, sparsity, beta: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.body(x, sparsity, beta, self.autocast())

    def run_epoch(self, batch: Callable[[int], torch.Tensor], n_steps: int, sparsity, beta: float, key) -> None:
        """All ``n_steps`` steps of an epoch; ``batch(i)`` is the i-th batch (B, C, 64, 64) in [0, 1]."""
        for i in range(n_steps):
            self.step(batch(i), sparsity, beta)

    def end_epoch(self) -> tuple[list[str], torch.Tensor, int]:
        """The loss terms' names, their sums over the epoch (float64, on the device) and the first non-finite step
        (−1: none); one host sync."""
        return self.names, self.sums, int(self.first_bad.item())


class CudaGraphBackend:
    """Capture and replay through ``torch.cuda.CUDAGraph``; warm-up steps on a side stream, as the CUDA-graph
    documentation prescribes for whole-network capture."""

    def warmup(self):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        return _SideStream(side)

    def capture(self, fn: Callable[[], None]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay


class _SideStream:
    def __init__(self, stream):
        self.stream, self.ctx = stream, torch.cuda.stream(stream)

    def __enter__(self):
        self.ctx.__enter__()

    def __exit__(self, *exc):
        self.ctx.__exit__(*exc)
        torch.cuda.current_stream().wait_stream(self.stream)


class GraphStepper(Stepper):
    """Per key (sparsity, β, samples): ``WARMUP_STEPS`` eager steps, one capture of :meth:`Stepper.body` reading
    ``static_x``, then a replay per remaining step, each after copying the batch into ``static_x``.

    A capture that fails logs a warning with the error and the run goes on eagerly (``fell_back``)."""

    def __init__(self, *args, backend=None, **kw):
        super().__init__(*args, **kw)
        self.backend = backend or CudaGraphBackend()
        self.key = None
        self.replay: Callable[[], None] | None = None
        self.static_x: torch.Tensor | None = None
        self.captures = 0
        self.fell_back: str | None = None

    def _capture(self, sparsity, beta: float) -> None:
        self.replay = None  # release the previous graph (and its memory pool) first
        self.optimizer.zero_grad(set_to_none=True)  # gradients are allocated inside the graph and stay static
        autocast = self.autocast(cache_enabled=False)  # autocast's weight cache cannot live across replays
        try:
            self.replay = self.backend.capture(lambda: self.body(self.static_x, sparsity, beta, autocast))
        except Exception as err:  # noqa: BLE001 - reported, then the eager path
            self.fell_back = f"{type(err).__name__}: {err}"
            log.warning("CUDA-graph capture failed (%s); training goes on eagerly", self.fell_back)
            self.replay = None
            return
        self.captures += 1

    def run_epoch(self, batch, n_steps, sparsity, beta, key) -> None:
        if self.fell_back is not None:
            return super().run_epoch(batch, n_steps, sparsity, beta, key)
        start = 0
        if key != self.key or self.replay is None:
            self.key, self.replay = key, None
            start = min(WARMUP_STEPS, n_steps)
            with self.backend.warmup():
                for i in range(start):
                    self.step(batch(i), sparsity, beta)
            if start == n_steps:
                self.key = None  # nothing captured: the next epoch warms up again
                return
            x = batch(start)
            if self.static_x is None or self.static_x.shape != x.shape:
                self.static_x = torch.empty_like(x)
            self.static_x.copy_(x)
            self._capture(sparsity, beta)
            if self.replay is None:
                return super().run_epoch(lambda i: batch(start + i), n_steps - start, sparsity, beta, key)
            self.replay()
            start += 1
        for i in range(start, n_steps):
            self.static_x.copy_(batch(i))
            self.replay()


def make_stepper(stage, optimizer, trainable, optim: OptimConfig, device: torch.device, backend=None) -> Stepper:
    """The graph stepper on CUDA with ``optim.cuda_graphs`` (or with a test ``backend``), else the eager one."""
    if backend is not None or (device.type == "cuda" and optim.cuda_graphs):
        return GraphStepper(stage, optimizer, trainable, optim, device, backend=backend)
    return Stepper(stage, optimizer, trainable, optim, device)
