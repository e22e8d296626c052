"""The aten ops a piece of code dispatches, for the training step's contract (``vaesae.train.step``).

    with OpLog() as log:
        stepper.step(x, sparsity, beta)
    log.ops          # every aten op, in order (``paused`` leaves a region out)
    log.syncs()      # those among SYNC_OPS: a host sync on CUDA

A ``TorchDispatchMode`` sees each op below autograd, forward and backward alike, on any device (the CPU included),
so the number of ops a step issues and whether any of them reads a device value on the host are checked without a
GPU. On CUDA each op is one kernel launch or a few.
"""

from __future__ import annotations

import contextlib
from collections import Counter

from torch.utils._python_dispatch import TorchDispatchMode

#: aten ops that read a device value on the host (``.item()``) or size their output from the data: a host sync on CUDA
SYNC_OPS = frozenset({"_local_scalar_dense", "item", "nonzero", "bincount", "unique", "_unique", "_unique2",
                      "unique_dim", "unique_consecutive", "masked_select", "repeat_interleave", "histc"})  # fmt: skip


#: aten ops that only make a new view of a tensor's metadata (no kernel on any device)
VIEW_OPS = frozenset({"detach", "t", "view", "_unsafe_view", "expand", "as_strided", "reshape", "permute",
                      "transpose", "unsqueeze", "squeeze", "alias", "slice", "select", "unbind", "split",
                      "lift_fresh", "_reshape_alias", "view_as", "numpy_T"})  # fmt: skip


class OpLog(TorchDispatchMode):
    """Every aten op dispatched while active, by name (``func.overloadpacket``)."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []
        self.paused = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.paused:
            self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))

    @contextlib.contextmanager
    def without(self, obj, name: str, into: "OpLog | None" = None):
        """Leave the calls of ``obj.<name>`` out of this log (``into``: log them there instead)."""
        fn = getattr(obj, name)

        def call(*a, **kw):
            self.paused = True
            try:
                with into if into is not None else contextlib.nullcontext():
                    return fn(*a, **kw)
            finally:
                self.paused = False

        setattr(obj, name, call)
        try:
            yield self
        finally:
            delattr(obj, name)

    def kernels(self) -> int:
        """The ops that do work (all but VIEW_OPS): on CUDA, about one kernel launch each."""
        return sum(op not in VIEW_OPS for op in self.ops)

    def syncs(self) -> list[str]:
        return [op for op in self.ops if op in SYNC_OPS]

    def counts(self) -> Counter:
        return Counter(self.ops)
