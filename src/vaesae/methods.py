"""The table of stage-3 sparsification methods: one row per method, the single place a method is declared.

Everything method-specific elsewhere is derived from this table: the workflow's wildcard constraints, phases,
targets, rule params and source inputs (``vaesae.workflow``), the config check of ``methods:``, and the sparsifier
class the training loop builds. Adding a method means one keys dataclass (``vaesae.config.keys``), one class (a
:class:`vaesae.sparsifiers.base.Sparsifier` whose ``Keys`` is that dataclass) and one row here.

The stage/method rule (which method a training stage takes, and which ``sparsify`` keys it reads) is written once,
in :func:`stage_keys`: the training CLI, the typed config and the workflow's params all ask it.

The table is read by the Snakefile at parse time, so it imports nothing heavy: a row names its sparsifier class as
``"module:Class"`` and :func:`sparsifier_class` imports it only when a job trains; its keys class comes from the
light ``vaesae.config.keys``.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass

from vaesae.config.base import Section
from vaesae.config.keys import (AuxKKeys, BatchTopKKeys, CentredTopKKeys, JumpReLUKeys, L1Keys, StartKeys,
                                TopKKeys)  # fmt: skip


@dataclass(frozen=True)
class Method:
    """One stage-3 method.

    name:       the value in ``methods:`` and the ``{method}`` wildcard (also the phase name of its stage-3 run)
    sparsifier: ``"module:Class"`` of its :class:`~vaesae.sparsifiers.base.Sparsifier`
    keys_class: the frozen dataclass of the ``sparsify:`` keys its runs read (``vaesae.config.keys``; the sparsifier
                class's ``Keys`` is the same class). Its field names are :attr:`keys`, its rules' params, so editing
                any other ``sparsify`` key leaves its runs alone
    extended:   extended training continues it at its final sparsity (phase ``{name}_extended``)
    label:      the name shown in tables and figures
    centred:    the SAE inputs are centred by a running mean during its runs (``sparsify.center_rate`` must be in
                its keys): h − μ is encoded and μ added back after decoding (``vaesae.train.centring``)
    paper:      one of the paper's two methods (the others are the pipeline's own arms, "beyond the paper")
    control:    a control arm, not a dead-latent remedy: it changes something else to tell where the death comes
                from (``controls()``; ``remedies()`` leaves it out, so claim C9 does not judge it)
    detach_sae: its runs detach the SAE inputs and targets in stage 3 and extended training, whatever
                ``model.sae_gradient`` says (the SAEs are pure probes: their losses send no gradient into the VAE)
    """

    name: str
    sparsifier: str
    keys_class: type[Section]
    extended: bool
    label: str
    centred: bool = False
    paper: bool = False
    control: bool = False
    detach_sae: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        """The ``sparsify`` keys its runs read: the fields of :attr:`keys_class`."""
        return self.keys_class.key_names()

    @property
    def module(self) -> str:
        return self.sparsifier.split(":", 1)[0]

    @property
    def extended_phase(self) -> str | None:
        return f"{self.name}_extended" if self.extended else None


METHODS: dict[str, Method] = {}
#: A method name: lowercase letters, digits and inner underscores (it is a wildcard value and a folder name).
NAME = re.compile(r"[a-z][a-z0-9_]*[a-z0-9]")


def register(method: Method) -> Method:
    """Add a row to the table (a name may be declared once)."""
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is already in the methods table")
    if (not NAME.fullmatch(method.name) or method.name.endswith("_extended")
            or method.name in ("init", "vae", "shared", "none")):  # fmt: skip
        raise ValueError(f"method name {method.name!r} must match {NAME.pattern}, not end in '_extended' and not be "
                         "init, vae, shared or none")  # fmt: skip
    if not (isinstance(method.keys_class, type) and issubclass(method.keys_class, Section)
            and dataclasses.is_dataclass(method.keys_class)):  # fmt: skip
        raise ValueError(f"method {method.name!r}: keys_class must be a Section dataclass (vaesae.config.keys)")
    if "epochs" not in method.keys:
        raise ValueError(f"method {method.name!r}: its keys must include sparsify.epochs")
    if method.centred and "center_rate" not in method.keys:
        raise ValueError(f"method {method.name!r} is centred: its keys must include sparsify.center_rate")
    if method.control and method.paper:
        raise ValueError(f"method {method.name!r}: one of the paper's methods cannot be a control")
    METHODS[method.name] = method
    return method


register(Method(
    name="topk",
    sparsifier="vaesae.sparsifiers.topk:TopK",
    keys_class=TopKKeys,
    extended=True,
    label="Top-k",
    paper=True,
))  # fmt: skip
register(Method(
    name="l1",
    sparsifier="vaesae.sparsifiers.l1:L1Anneal",
    keys_class=L1Keys,
    extended=False,
    label="L1",
    paper=True,
))  # fmt: skip
# Beyond the paper: the dead-latent remedies of the SAE literature, on the same k(t) (README "Beyond the paper").
register(Method(
    name="topk_auxk",
    sparsifier="vaesae.sparsifiers.auxk:TopKAuxK",
    keys_class=AuxKKeys,
    extended=True,
    label="Top-k + AuxK",
))  # fmt: skip
register(Method(
    name="batchtopk",
    sparsifier="vaesae.sparsifiers.batchtopk:BatchTopK",
    keys_class=BatchTopKKeys,
    extended=True,
    label="BatchTopK",
))  # fmt: skip
register(Method(
    name="jumprelu",
    sparsifier="vaesae.sparsifiers.jumprelu:JumpReLU",
    keys_class=JumpReLUKeys,
    extended=True,
    label="JumpReLU",
))  # fmt: skip
register(Method(
    name="topk_centred",
    sparsifier="vaesae.sparsifiers.topk:CentredTopK",
    keys_class=CentredTopKKeys,
    extended=True,
    label="Top-k, centred input",
    centred=True,
))  # fmt: skip
# A control, not a remedy (README "Beyond the paper"): Top-k with the SAEs as pure probes (stop-gradient into the VAE),
# so that a death that persists cannot come from the SAE losses reshaping h_flat.
register(Method(
    name="topk_detached",
    sparsifier="vaesae.sparsifiers.topk:TopK",
    keys_class=TopKKeys,
    extended=True,
    label="Top-k, stop-gradient",
    control=True,
    detach_sae=True,
))  # fmt: skip

#: The paper's two methods, in table order (Top-k, then L1).
PAPER_METHODS = tuple(name for name, m in METHODS.items() if m.paper)


def get(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; the methods table has {', '.join(METHODS)}") from None


#: The four training stages, in order; the first two are shared by every method (their method is ``none``).
STAGES = ("pretrain", "init", "sparsify", "extend")
SHARED_STAGES = ("pretrain", "init")


def stage_keys(stage: str, method: str = "none") -> type[Section] | None:
    """The stage/method rule, in one place: the keys class of the ``sparsify`` keys that ``stage`` reads for
    ``method`` (``None``: none), or ``ValueError`` for a pair that cannot run.

        pretrain, init   shared by every method: the method must be ``none``; pretrain reads no ``sparsify`` key,
                         init :class:`~vaesae.config.keys.StartKeys` (``k_start``)
        sparsify         a method of the table: its ``keys_class``
        extend           a method with ``extended=True``: its ``keys_class``
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    if stage in SHARED_STAGES:
        if method != "none":
            raise ValueError(f"stage {stage} is shared by every method: its method must be 'none', got {method!r}")
        return StartKeys if stage == "init" else None
    if method == "none":
        raise ValueError(f"stage {stage} needs a method (one of {', '.join(METHODS)})")
    row = get(method)
    if stage == "extend" and not row.extended:
        raise ValueError(f"method {method!r} has no extended training (extended=False in the methods table)")
    return row.keys_class


def sparsifier_class(name: str):
    """The sparsifier class of a method (imported on first use)."""
    module, _, cls = get(name).sparsifier.partition(":")
    return getattr(importlib.import_module(module), cls)


def remedies() -> list[str]:
    """The dead-latent remedies: the methods that are neither the paper's nor controls (the pipeline's question,
    claim C9), in table order."""
    return [name for name, m in METHODS.items() if not m.paper and not m.control]


def controls() -> list[str]:
    """The control arms (``Method.control``), in table order: not remedies, and not judged by claim C9."""
    return [name for name, m in METHODS.items() if m.control]


def phases(methods: list[str]) -> list[str]:
    """Evaluation phases of a run: ``init`` (k_start), then each method and, where it extends, ``{method}_extended``."""
    out = ["init"]
    for name in methods:
        m = get(name)
        out.append(m.name)
        if m.extended:
            out.append(m.extended_phase)
    return out


def phase_run(phase: str) -> tuple[str, str]:
    """(stage, method) of an evaluation phase: ``init`` -> (init, shared), ``topk_extended`` -> (extend, topk)."""
    if phase == "init":
        return "init", "shared"
    if phase.endswith("_extended"):
        return "extend", get(phase[: -len("_extended")]).name
    return "sparsify", get(phase).name
