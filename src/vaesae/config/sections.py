"""The typed, frozen configuration of a job, built once at its entry point from the ``--params`` its rule passes.

Each section of ``--params`` (``vaesae.workflow.rule_params``) becomes one frozen :class:`~vaesae.config.base.Section`
dataclass, loaded by the one generic ``from_params``:

    model    -> ModelConfig        optim   -> OptimConfig      data     -> DataSplitConfig   eval -> MonitorConfig
    pretrain -> PretrainConfig     init    -> InitConfig       sparsify -> the method's keys (vaesae.config.keys)
    extend   -> ExtendConfig       revival -> RevivalConfig    loss     -> LossConfig

:class:`StageConfig` bundles what one training stage got (``vaesae.cli.train``), :class:`EvalConfig` what the final
evaluation got (``vaesae.cli.evaluate``). An unknown key, or a key the job needs and did not get, raises
:class:`~vaesae.config.base.ConfigKeyError` naming it (``missing config key sparsify.k_end``). Sections a rule does
not pass (``revival`` for pretraining, ``extend`` for stage 3 ...) are ``None`` in the bundle; ``sparsify`` is typed
as the keys class the stage/method rule gives (``vaesae.methods.stage_keys``): the method's own keys in stage 3 and
extended training, ``k_start`` in stage 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vaesae import SAE_BIASES
from vaesae import methods as method_table
from vaesae.config.base import ConfigKeyError, Section


@dataclass(frozen=True)
class ModelConfig(Section):
    """``model``: the VAE and the two SAE probes (``vaesae.models``)."""

    SECTION = "model"
    CHOICES = {"sae_gradient": ("joint", "detach"), "sae_bias": SAE_BIASES}

    latent_dim: int
    encoder_channels: tuple[int, ...]
    h_channels: int
    fc_hidden: int
    conv_sae_neurons: int
    latent_sae_neurons: int
    tied_sae: bool = False  # one SAE matrix W_e, decoded with W_eᵀ (eqs. (1)/(3)); rules without SAEs get no key
    sae_gradient: str = "joint"  # stage 3 / extend: joint (the SAE losses reach the VAE) | detach (pure probes)
    sae_bias: str = "none"  # the SAE bias reading (vaesae.models.sae.SAE_BIASES); rules without SAEs get no key


@dataclass(frozen=True)
class StageLR(Section):
    """``optim.lr_per_stage``: a learning rate per stage, ``None`` (or absent) for the global ``optim.lr``."""

    SECTION = "optim.lr_per_stage"

    pretrain: float | None = None
    init: float | None = None
    sparsify: float | None = None
    extend: float | None = None


@dataclass(frozen=True)
class OptimConfig(Section):
    """``optim``: AdamW and the step (batch size, gradient clipping, TF32, bf16 autocast, CUDA graphs)."""

    SECTION = "optim"
    NESTED = {"lr_per_stage": StageLR}

    lr: float
    betas: tuple[float, float]
    weight_decay: float
    batch_size: int
    grad_clip: float
    tf32: bool
    bf16: bool
    lr_per_stage: StageLR
    cuda_graphs: bool = True  # replay each step as a CUDA graph on CUDA (vaesae.train.step); no effect on the CPU

    def lr_for(self, stage: str) -> float:
        """The stage's learning rate: ``lr_per_stage.<stage>`` when set, else ``lr``."""
        return getattr(self.lr_per_stage, stage) or self.lr


@dataclass(frozen=True)
class EvalOptimConfig(Section):
    """``optim`` of the evaluate rule: TF32 only (the evaluation does not train)."""

    SECTION = "optim"

    tf32: bool


@dataclass(frozen=True)
class DataSplitConfig(Section):
    """``data``: the split (``vaesae.data.splits``)."""

    SECTION = "data"

    val_fraction: float
    shapes3d_n_val: int


@dataclass(frozen=True)
class MonitorConfig(Section):
    """``eval``: the fixed evaluation set behind each history row (no thresholds: those are reporting choices)."""

    SECTION = "eval"

    n_samples: int
    n_bins: int
    batch_size: int


@dataclass(frozen=True)
class PretrainConfig(Section):
    """``pretrain``: stage 1's epochs and β ramp (``STAGE1``, required there); every later stage reads only the
    free bits."""

    SECTION = "pretrain"
    STAGE1 = ("epochs", "beta_start", "beta_end")

    free_bits: float
    free_bits_mode: str
    epochs: int | None = None
    beta_start: float | None = None
    beta_end: float | None = None


@dataclass(frozen=True)
class InitConfig(Section):
    """``init``: stage 2 (SAEs on the frozen VAE at k_start)."""

    SECTION = "init"

    epochs: int
    l1_coeff: float


@dataclass(frozen=True)
class ExtendConfig(Section):
    """``extend``: extended training after stage 3."""

    SECTION = "extend"

    epochs: int


#: The readings of "re-initialized from the empirical distribution of active neurons" (``revival.reinit_from``,
#: ``vaesae.train.revival``): a copy of one random active neuron plus noise, or a draw from a fit to all of them.
REINIT_SOURCES = ("donor", "distribution")


@dataclass(frozen=True)
class RevivalConfig(Section):
    """``revival``: bias boosting and re-initialisation of dead conv-SAE neurons (``vaesae.train.revival``)."""

    SECTION = "revival"
    CHOICES = {"bias_scale": ("absolute", "relative"), "reinit_from": REINIT_SOURCES}

    bias_boost: bool
    bias_base: float
    bias_rate: float
    reinit: bool
    reinit_dead_fraction: float
    reinit_patience: int
    reinit_noise: float
    inactive_rate: float
    bias_scale: str = "absolute"
    reinit_from: str = "donor"  # donor: a copy of a random active neuron + noise | distribution: a draw from a fit


@dataclass(frozen=True)
class LossConfig(Section):
    """``loss``: how the SAE loss terms are reduced (``vaesae.train.losses.sae_loss``)."""

    SECTION = "loss"
    CHOICES = {"sae_reduction": ("sum", "mean")}

    sae_reduction: str


#: The sections a training stage may get (``sparsify`` is typed as the stage/method rule's keys class).
SECTIONS = ("device", "model", "optim", "data", "eval", "pretrain", "init", "sparsify", "extend", "revival", "loss")
#: The sections each training stage reads (it must get them), besides COMMON_SECTIONS, which every job reads.
STAGE_SECTIONS = {
    "pretrain": ("pretrain",),
    "init": ("pretrain", "init", "sparsify", "loss"),
    "sparsify": ("pretrain", "sparsify", "revival", "loss"),
    "extend": ("pretrain", "sparsify", "extend", "revival", "loss"),
}
COMMON_SECTIONS = ("device", "model", "optim", "data", "eval")


def _check_sections(params, known: tuple[str, ...], needed: tuple[str, ...], reader: str) -> None:
    """``params`` is a mapping of known sections that holds every needed one (``reader``: who reads them)."""
    if not isinstance(params, Mapping):
        raise ConfigKeyError(f"--params must be a mapping, got {type(params).__name__}")
    unknown = [key for key in params if key not in known]
    if unknown:
        raise ConfigKeyError(f"unknown config section {unknown[0]} ({reader} reads {', '.join(known)})")
    for section in known:
        if section in needed and section not in params:
            raise ConfigKeyError(f"missing config section {section} ({reader} reads it)")
    if not isinstance(params["device"], str):
        raise ConfigKeyError(f"config key device must be a string, got {params['device']!r}")


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
    sparsify: Section | None = None  # the stage's keys class (vaesae.methods.stage_keys): a method's, or StartKeys
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

        The pair must pass the stage/method rule (``vaesae.methods.stage_keys``). The sections a stage needs must be
        there with every key it reads; a section it does not read may be passed (it is typed and checked for
        unknown keys too) or left out, except ``sparsify`` for pretraining, which reads none of its keys.
        """
        keys_class = method_table.stage_keys(stage, method)
        _check_sections(params, SECTIONS, STAGE_SECTIONS[stage] + COMMON_SECTIONS, f"stage {stage}")
        if keys_class is None and "sparsify" in params:
            raise ConfigKeyError(f"config section sparsify: stage {stage} reads none of its keys")
        pretrain_keys = PretrainConfig.STAGE1 if stage == "pretrain" else ()
        loaders = {"pretrain": lambda v: PretrainConfig.from_params(v, require=pretrain_keys),
                   "init": InitConfig.from_params, "sparsify": lambda v: keys_class.from_params(v),
                   "extend": ExtendConfig.from_params, "revival": RevivalConfig.from_params,
                   "loss": LossConfig.from_params}  # fmt: skip
        return cls(stage=stage, method=method, device=params["device"], model=ModelConfig.from_params(params["model"]),
                   optim=OptimConfig.from_params(params["optim"]), data=DataSplitConfig.from_params(params["data"]),
                   monitor=MonitorConfig.from_params(params["eval"]),
                   **{name: load(params[name]) for name, load in loaders.items() if name in params})  # fmt: skip


@dataclass(frozen=True)
class EvalConfig:
    """Everything the final evaluation of a phase got (``rule_params(cfg, "evaluate")``)."""

    device: str
    model: ModelConfig
    optim: EvalOptimConfig
    data: DataSplitConfig
    monitor: MonitorConfig

    @classmethod
    def from_params(cls, params: Mapping) -> EvalConfig:
        """Check and type the evaluate rule's ``--params`` (every section needed, no other)."""
        _check_sections(params, COMMON_SECTIONS, COMMON_SECTIONS, "the evaluation")
        return cls(device=params["device"], model=ModelConfig.from_params(params["model"]),
                   optim=EvalOptimConfig.from_params(params["optim"]), data=DataSplitConfig.from_params(params["data"]),
                   monitor=MonitorConfig.from_params(params["eval"]))  # fmt: skip
