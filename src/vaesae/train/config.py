"""Typed, frozen configuration of a training stage, built from the ``--params`` dict its rule passes.

Each section of ``--params`` (``vaesae.workflow.rule_params``) becomes one frozen dataclass:

    model    -> ModelConfig        optim   -> OptimConfig      data     -> DataSplitConfig   eval -> MonitorConfig
    pretrain -> PretrainConfig     init    -> InitConfig       sparsify -> SparsifyConfig
    extend   -> ExtendConfig       revival -> RevivalConfig    loss     -> LossConfig

and :class:`StageConfig` bundles what one stage got. ``from_params`` checks the keys: an unknown key, or a key the
stage needs and did not get, raises :class:`ConfigKeyError` naming it (``missing config key sparsify.k_end``).
Sections a rule does not pass (``revival`` for pretraining, ``extend`` for stage 3 ...) are ``None`` in the bundle;
``sparsify`` holds only the keys of the stage's method (``vaesae.methods.METHODS[m].keys``), the others are ``None``.
The dataclasses hold the values as given (no type coercion: the workflow's schema already validated them), with
lists turned into tuples so that nothing in a config can change after it is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from vaesae import methods as method_table

T = TypeVar("T")

STAGE_NAMES = ("pretrain", "init", "sparsify", "extend")


class ConfigKeyError(ValueError):
    """A ``--params`` key that is missing or unknown; the message names it (``sparsify.k_end``)."""


def _required(cls) -> list[str]:
    missing = dataclasses.MISSING
    return [f.name for f in fields(cls) if f.default is missing and f.default_factory is missing]


def _section(cls: type[T], values: Any, name: str, require: tuple[str, ...] = ()) -> T:
    """``cls(**values)`` after checking the keys of section ``name`` (fields without a default, plus ``require``)."""
    if not isinstance(values, Mapping):
        raise ConfigKeyError(f"config section {name} must be a mapping, got {type(values).__name__}")
    known = [f.name for f in fields(cls)]
    unknown = [key for key in values if key not in known]
    if unknown:
        raise ConfigKeyError(f"unknown config key {name}.{unknown[0]} (section {name} has {', '.join(known)})")
    for key in _required(cls) + [k for k in require if k not in _required(cls)]:
        if key not in values:
            raise ConfigKeyError(f"missing config key {name}.{key}")
    return cls(**values)


def _freeze(obj, **converted) -> None:
    for key, value in converted.items():
        object.__setattr__(obj, key, value)


@dataclass(frozen=True)
class ModelConfig:
    """``model``: the VAE and the two SAE probes (``vaesae.models``)."""

    latent_dim: int
    encoder_channels: tuple[int, ...]
    h_channels: int
    fc_hidden: int
    conv_sae_neurons: int
    latent_sae_neurons: int
    tied_sae: bool = False  # one SAE matrix W_e, decoded with W_eᵀ (eqs. (1)/(3)); rules without SAEs get no key
    sae_gradient: str = "joint"  # stage 3 / extend: joint (the SAE losses reach the VAE) | detach (pure probes)

    def __post_init__(self):
        _freeze(self, encoder_channels=tuple(self.encoder_channels))

    @classmethod
    def from_params(cls, values: Mapping, name: str = "model") -> ModelConfig:
        cfg = _section(cls, values, name)
        if cfg.sae_gradient not in ("joint", "detach"):
            raise ConfigKeyError(f"config key {name}.sae_gradient must be 'joint' or 'detach', "
                                 f"got {cfg.sae_gradient!r}")
        return cfg


@dataclass(frozen=True)
class StageLR:
    """``optim.lr_per_stage``: a learning rate per stage, ``None`` (or absent) for the global ``optim.lr``."""

    pretrain: float | None = None
    init: float | None = None
    sparsify: float | None = None
    extend: float | None = None


@dataclass(frozen=True)
class OptimConfig:
    """``optim``: AdamW and the step (batch size, gradient clipping, TF32, bf16 autocast, CUDA graphs)."""

    lr: float
    betas: tuple[float, float]
    weight_decay: float
    batch_size: int
    grad_clip: float
    tf32: bool
    bf16: bool
    lr_per_stage: StageLR
    cuda_graphs: bool = True  # replay each step as a CUDA graph on CUDA (vaesae.train.step); no effect on the CPU

    def __post_init__(self):
        _freeze(self, betas=tuple(self.betas))

    @classmethod
    def from_params(cls, values: Mapping, name: str = "optim") -> OptimConfig:
        cfg = _section(cls, values, name)
        lrs = cfg.lr_per_stage
        if not isinstance(lrs, StageLR):
            lrs = _section(StageLR, {} if lrs is None else lrs, f"{name}.lr_per_stage")
        return dataclasses.replace(cfg, lr_per_stage=lrs)

    def lr_for(self, stage: str) -> float:
        """The stage's learning rate: ``lr_per_stage.<stage>`` when set, else ``lr``."""
        return getattr(self.lr_per_stage, stage) or self.lr


@dataclass(frozen=True)
class DataSplitConfig:
    """``data``: the split (``vaesae.data.splits``)."""

    val_fraction: float
    shapes3d_n_val: int

    @classmethod
    def from_params(cls, values: Mapping, name: str = "data") -> DataSplitConfig:
        return _section(cls, values, name)


@dataclass(frozen=True)
class MonitorConfig:
    """``eval``: the fixed evaluation set behind each history row (no thresholds: those are reporting choices)."""

    n_samples: int
    n_bins: int
    batch_size: int

    @classmethod
    def from_params(cls, values: Mapping, name: str = "eval") -> MonitorConfig:
        return _section(cls, values, name)


@dataclass(frozen=True)
class PretrainConfig:
    """``pretrain``: stage 1's epochs and β ramp; every later stage reads only the free bits."""

    free_bits: float
    free_bits_mode: str
    epochs: int | None = None
    beta_start: float | None = None
    beta_end: float | None = None

    @classmethod
    def from_params(cls, values: Mapping, name: str = "pretrain", stage1: bool = True) -> PretrainConfig:
        return _section(cls, values, name, ("epochs", "beta_start", "beta_end") if stage1 else ())


@dataclass(frozen=True)
class InitConfig:
    """``init``: stage 2 (SAEs on the frozen VAE at k_start)."""

    epochs: int
    l1_coeff: float

    @classmethod
    def from_params(cls, values: Mapping, name: str = "init") -> InitConfig:
        return _section(cls, values, name)


@dataclass(frozen=True)
class SparsifyConfig:
    """``sparsify``: the keys of one method (``vaesae.methods.METHODS[m].keys``); the others stay ``None``."""

    epochs: int | None = None
    k_start: int | None = None
    k_end: int | None = None
    warmup_fraction: float | None = None
    hold_fraction: float | None = None
    topk_l1_coeff: float | None = None
    l1_start: float | None = None
    l1_end: float | None = None
    auxk_k: int | None = None
    auxk_coeff: float | None = None
    auxk_dead_epochs: float | None = None
    batchtopk_threshold_rate: float | None = None
    jumprelu_threshold_init: float | None = None
    jumprelu_bandwidth: float | None = None
    jumprelu_sparsity_coeff: float | None = None
    jumprelu_lr: float | None = None
    center_rate: float | None = None
    batchtopk_unit_norm_decoder: bool | None = None
    jumprelu_unit_norm_decoder: bool | None = None
    jumprelu_sparsity_warmup_fraction: float | None = None

    @classmethod
    def from_params(cls, values: Mapping, name: str = "sparsify", require: tuple[str, ...] = ()) -> SparsifyConfig:
        return _section(cls, values, name, tuple(require))

    def need(self, key: str):
        """The value of ``key``; :class:`ConfigKeyError` naming ``sparsify.<key>`` when the run did not get it."""
        value = getattr(self, key)
        if value is None:
            raise ConfigKeyError(f"missing config key sparsify.{key}")
        return value

    def given(self) -> dict:
        """The keys this config was given, as a plain dict (what checkpoints store)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class ExtendConfig:
    """``extend``: extended training after stage 3."""

    epochs: int

    @classmethod
    def from_params(cls, values: Mapping, name: str = "extend") -> ExtendConfig:
        return _section(cls, values, name)


@dataclass(frozen=True)
class RevivalConfig:
    """``revival``: bias boosting and re-initialisation of dead conv-SAE neurons (``vaesae.train.revival``)."""

    bias_boost: bool
    bias_base: float
    bias_rate: float
    reinit: bool
    reinit_dead_fraction: float
    reinit_patience: int
    reinit_noise: float
    inactive_rate: float
    bias_scale: str = "absolute"

    @classmethod
    def from_params(cls, values: Mapping, name: str = "revival") -> RevivalConfig:
        cfg = _section(cls, values, name)
        if cfg.bias_scale not in ("absolute", "relative"):
            raise ConfigKeyError(f"config key {name}.bias_scale must be 'absolute' or 'relative', got {cfg.bias_scale!r}")
        return cfg


@dataclass(frozen=True)
class LossConfig:
    """``loss``: how the SAE loss terms are reduced (``vaesae.train.losses.sae_loss``)."""

    sae_reduction: str

    @classmethod
    def from_params(cls, values: Mapping, name: str = "loss") -> LossConfig:
        cfg = _section(cls, values, name)
        if cfg.sae_reduction not in ("sum", "mean"):
            raise ConfigKeyError(f"config key {name}.sae_reduction must be 'sum' or 'mean', got {cfg.sae_reduction!r}")
        return cfg


SECTIONS = ("device", "model", "optim", "data", "eval", "pretrain", "init", "sparsify", "extend", "revival", "loss")


@dataclass(frozen=True)
class StageConfig:
    """Everything one stage got: the shared sections, and the stage's own (``None`` where its rule passes none)."""

    stage: str
    method: str
    device: str
    model: ModelConfig
    optim: OptimConfig
    data: DataSplitConfig
    monitor: MonitorConfig
    pretrain: PretrainConfig | None = None
    init: InitConfig | None = None
    sparsify: SparsifyConfig | None = None
    extend: ExtendConfig | None = None
    revival: RevivalConfig | None = None
    loss: LossConfig | None = None

    @property
    def epochs(self) -> int:
        """Epochs of this stage (``<stage>.epochs``)."""
        return getattr(self, self.stage).epochs

    @classmethod
    def from_params(cls, stage: str, params: Mapping, method: str = "none") -> StageConfig:
        """Check and type the ``--params`` of ``stage`` (and ``method`` for sparsify/extend).

        The sections a stage needs must be there with every key it reads; a section it does not read may be passed
        (it is typed and checked for unknown keys too) or left out.
        """
        if stage not in STAGE_NAMES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGE_NAMES}")
        if not isinstance(params, Mapping):
            raise ConfigKeyError(f"--params must be a mapping, got {type(params).__name__}")
        unknown = [key for key in params if key not in SECTIONS]
        if unknown:
            raise ConfigKeyError(f"unknown config section {unknown[0]} (a training stage reads {', '.join(SECTIONS)})")
        if stage in ("sparsify", "extend"):
            sparsify_keys = tuple(method_table.get(method).keys)
        elif stage == "init":
            sparsify_keys = ("k_start",)
        else:
            sparsify_keys = ()
        if stage == "extend" and not method_table.get(method).extended:
            raise ValueError(f"method {method!r} has no extended training (extended=False in the methods table)")
        if stage in ("pretrain", "init") and method != "none":
            raise ValueError(f"stage {stage} is shared by every method: its method must be 'none', got {method!r}")
        needs = {
            "pretrain": {"pretrain"},
            "init": {"pretrain", "init", "sparsify", "loss"},
            "sparsify": {"pretrain", "sparsify", "revival", "loss"},
            "extend": {"pretrain", "sparsify", "extend", "revival", "loss"},
        }[stage] | {"device", "model", "optim", "data", "eval"}
        for section in SECTIONS:
            if section in needs and section not in params:
                raise ConfigKeyError(f"missing config section {section} (stage {stage} reads it)")

        def opt(section, build):
            return build(params[section]) if section in params else None

        device = params["device"]
        if not isinstance(device, str):
            raise ConfigKeyError(f"config key device must be a string, got {device!r}")
        return cls(
            stage=stage,
            method=method,
            device=device,
            model=ModelConfig.from_params(params["model"]),
            optim=OptimConfig.from_params(params["optim"]),
            data=DataSplitConfig.from_params(params["data"]),
            monitor=MonitorConfig.from_params(params["eval"]),
            pretrain=opt("pretrain", lambda v: PretrainConfig.from_params(v, stage1=stage == "pretrain")),
            init=opt("init", InitConfig.from_params),
            sparsify=opt("sparsify", lambda v: SparsifyConfig.from_params(v, require=sparsify_keys)),
            extend=opt("extend", ExtendConfig.from_params),
            revival=opt("revival", RevivalConfig.from_params),
            loss=opt("loss", LossConfig.from_params),
        )
