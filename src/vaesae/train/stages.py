"""The four training stages, one small object each; :mod:`vaesae.train.loop` runs any of them.

    pretrain  stage 1: VAE only,         L = R + β(e)·KL_fb, β cosine-ramped
    init      stage 2: VAE frozen,       L = L_SAE,conv + L_SAE,latent at k = k_start (Top-k, shared by all methods)
    sparsify  stage 3: joint,            L = R + KL_fb (β = 1) + L_SAE,conv + L_SAE,latent + Σ L_aux,
              sparsity (k, k_lat, λ)(t) and ã from the method's sparsifier (``vaesae.sparsifiers``)
    extend    stage 3 continued at the sparsifier's final() sparsity, from the method's stage-3 checkpoint
              (model, optimizer, revival and sparsifier state)

with L_SAE = ‖x − x̂‖² + λ·‖ã‖₁ (``vaesae.train.losses``, reduced as ``loss.sae_reduction`` says). Under
``model.sae_gradient: detach`` (or a method with ``detach_sae``, the ``topk_detached`` control) stage 3 and extended
training detach the SAEs' inputs and targets (h_flat, z): the VAE then trains on R + KL_fb alone. A stage declares
its trainable parameters, its schedule (sparsity and β per 0-based epoch), its loss as named terms
``{"loss", "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl"}`` (plus, where SAEs train, the training L0
``l0``/``l0_latent`` = mean_b ‖ã_b‖₀, and in stage 3 ``loss_aux`` = Σ L_aux and the sparsifier's own terms), what it
does around an epoch (revival, the sparsifier's hooks) and a step, and its checkpoint payload. A centred method
(``Method.centred``) also keeps the running means μ of the SAE inputs (``vaesae.train.centring``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from vaesae import methods as method_table
from vaesae import schedules
from vaesae.config.sections import StageConfig
from vaesae.models.hybrid import HybridVAESAE
from vaesae.models.sae import SparseAutoencoder
from vaesae.sparsifiers import Fixed, SAEPass, Sparsifier, Sparsity, build
from vaesae.train import losses
from vaesae.train.centring import InputCentring
from vaesae.train.revival import Revival

#: The loss terms every stage returns, in the order of ``history.csv``.
LOSS_TERMS = ("loss", "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl")
#: Further per-step terms a stage with SAEs logs; a sparsifier's auxiliary terms may not use these names either.
LOGGED_TERMS = ("loss_aux", "l0", "l0_latent")


def _entry(ckpt: dict, key: str, stage: str):
    if key not in ckpt:
        raise KeyError(f"stage {stage}: the checkpoint it starts from has no {key!r} entry")
    return ckpt[key]


def sae_pass(sae: SparseAutoencoder, x: torch.Tensor, k: int | None, activate, name: str = "conv") -> SAEPass:
    """pre = W_e (x − μ) + b_e + b_boost, ã = activate(pre, k) on a training batch, x̂ = W_d ã + μ."""
    pre = sae.pre(x)
    a = activate(pre, k, sae=name, training=True)
    return SAEPass(x, pre, a, sae.decode(a))


def l0(a: torch.Tensor) -> torch.Tensor:
    """mean_b ‖a_b‖₀: the mean number of non-zero activations per sample (detached)."""
    return (a.detach() != 0).sum(1, dtype=torch.float32).mean()


class Stage(ABC):
    """One training stage over a :class:`HybridVAESAE`; the loop calls, per run:

    ``load(start)`` -> ``trainable()`` + ``extra_param_groups()`` -> (optimizer built) -> ``restore(optimizer,
    start)``, then per epoch ``sparsity(e)``, ``beta(e)``, ``start_epoch(optimizer, probe, sparsity, samples)``, per
    batch ``loss(x, sparsity, beta)`` and, after backward, ``before_step()``, then ``end_epoch()``,
    and at the end ``payload(sparsity, optimizer)``. ``resume_state()`` / ``load_resume_state()`` carry what the
    stage keeps besides the model and optimizer (revival, sparsifier) through resume files.
    """

    name: str
    with_sae = True  # the per-epoch evaluation measures the SAEs
    at_init = False  # evaluated once before the first optimizer step (history epoch −1): stage 2

    def __init__(self, cfg: StageConfig, model: HybridVAESAE, device: torch.device, in_channels: int):
        self.cfg, self.model, self.device, self.in_channels = cfg, model, device, in_channels
        self.sparsifier: Sparsifier = Fixed(Sparsity(None, None, None))

    @property
    def epochs(self) -> int:
        return self.cfg.epochs

    def load(self, start: dict | None) -> None:
        """Take the weights this stage starts from out of the previous stage's checkpoint."""

    @abstractmethod
    def trainable(self) -> list[torch.nn.Parameter]: ...

    def extra_param_groups(self) -> list[dict]:
        """Optimizer groups beyond ``trainable()`` (with their own settings, e.g. a learning rate); none by default."""
        return []

    def restore(self, optimizer: torch.optim.Optimizer, start: dict | None) -> None:
        """Restore optimizer (and component) state a continued stage inherits; nothing by default."""

    def prepare(self, batch) -> None:
        """Once, before the first epoch of a fresh run (not a resumed one): set what starts from the data.
        ``batch()`` gives a batch of training images drawn at random with the run's seed; nothing by default."""

    def sparsity(self, epoch: int) -> Sparsity:
        return self.sparsifier.sparsity(epoch)

    def beta(self, epoch: int) -> float:
        return 1.0

    def activate(self, pre: torch.Tensor, k: int | None, **kw) -> torch.Tensor:
        """ã of this stage's SAEs (the evaluation uses it too); ``kw``: ``sae`` and ``training``."""
        return self.sparsifier.activate(pre, k, **kw)

    def start_epoch(self, optimizer: torch.optim.Optimizer, probe: torch.Tensor, sparsity: Sparsity,
                    samples: int) -> None:  # fmt: skip
        """Before an epoch's first step (``probe``: a fixed batch of evaluation images; the epoch's sparsity and the
        number of training samples it will see); nothing by default."""

    def before_step(self) -> None:
        """After a step's backward, before gradient clipping and the optimizer step; nothing by default."""

    @abstractmethod
    def loss(self, x: torch.Tensor, sparsity: Sparsity, beta: float) -> dict[str, torch.Tensor]:
        """Named scalar loss terms of a batch x ∈ [0, 1]; ``"loss"`` is the one minimised."""

    def end_epoch(self):
        """After an epoch's last step, before its evaluation: the epoch's RevivalRecord (``None`` without revival).
        Nothing here may change the model: the evaluation must see the network as it came out of training."""
        return None

    def payload(self, final: Sparsity, optimizer: torch.optim.Optimizer) -> dict:
        """The stage's output checkpoint (``model.pt``); ``final`` is the sparsity of its last epoch."""
        return {
            "stage": self.name,
            "method": self.cfg.method,
            "model": self.model.state_dict(),
            "in_channels": self.in_channels,
            "k": -1 if final.k is None else int(final.k),
            "k_latent": -1 if final.k_latent is None else int(final.k_latent),
        }

    def resume_state(self) -> dict:
        return {}

    def load_resume_state(self, state: dict) -> None:
        pass


class Pretrain(Stage):
    """Stage 1: L = R + β(e)·KL_fb, β(e) = beta_schedule (cosine from beta_start to beta_end); VAE parameters only."""

    name = "pretrain"
    with_sae = False

    def trainable(self):
        return list(self.model.vae.parameters())

    def beta(self, epoch: int) -> float:
        c = self.cfg.pretrain
        return schedules.beta_schedule(epoch, self.epochs, c.beta_start, c.beta_end)

    def loss(self, x, sparsity, beta):
        pre = self.cfg.pretrain
        zero = x.new_zeros(())
        h, mu, logvar, z, logits = self.model.vae(x)
        recon = losses.bernoulli_recon(logits, x)
        kl = losses.free_bits_kl(mu, logvar, pre.free_bits, pre.free_bits_mode)
        l_vae = recon + beta * kl
        return {"loss": l_vae, "loss_vae": l_vae, "loss_sae_conv": zero, "loss_sae_latent": zero,
                "recon": recon.detach(), "kl": kl.detach()}  # fmt: skip

    def payload(self, final, optimizer):
        return {"stage": "pretrain", "vae": self.model.vae.state_dict(), "in_channels": self.in_channels}


class Init(Stage):
    """Stage 2: the VAE frozen, L = L_SAE(h) + L_SAE(z) at the constant (k_start, k_lat(k_start), init.l1_coeff)."""

    name = "init"
    at_init = True

    def __init__(self, cfg, model, device, in_channels):
        super().__init__(cfg, model, device, in_channels)
        k, m = cfg.sparsify.k_start, cfg.model
        self.sparsifier = Fixed(Sparsity(k, schedules.latent_k(k, m.latent_sae_neurons, m.conv_sae_neurons),
                                         cfg.init.l1_coeff))  # fmt: skip

    def load(self, start):
        self.model.vae.load_state_dict(_entry(start, "vae", self.name))
        self.model.vae.requires_grad_(False)

    @torch.no_grad()
    def prepare(self, batch):
        """``model.sae_bias: centred``: b_dec of each SAE starts at the mean of its input over a batch of training
        images (the conv SAE's h_flat, the latent SAE's VAE means μ = E[z]), as sparsify sets it from the first batch;
        the other readings start from what the model built (b_dec = 0 under ``decoder``, none under ``none``)."""
        saes = (self.model.conv_sae, self.model.latent_sae)
        if not any(sae.bias == "centred" for sae in saes):
            return
        h, mu, _, _, _ = self.model.vae(batch(), sample=False)
        for sae, x in zip(saes, (h, mu)):
            sae.b_dec.copy_(x.float().mean(0))

    def trainable(self):
        return list(self.model.conv_sae.parameters()) + list(self.model.latent_sae.parameters())

    def loss(self, x, sparsity, beta):
        zero = x.new_zeros(())
        with torch.no_grad():
            h, mu, logvar, z, _ = self.model.vae(x)
        conv = sae_pass(self.model.conv_sae, h, sparsity.k, self.activate, "conv")
        lat = sae_pass(self.model.latent_sae, z, sparsity.k_latent, self.activate, "latent")
        red = self.cfg.loss.sae_reduction
        l_conv = losses.sae_loss(h, conv.x_hat, conv.a, sparsity.l1, red)
        l_lat = losses.sae_loss(z, lat.x_hat, lat.a, sparsity.l1, red)
        loss = l_conv + l_lat
        return {"loss": loss, "loss_vae": zero, "loss_sae_conv": l_conv, "loss_sae_latent": l_lat, "recon": zero,
                "kl": zero, "l0": l0(conv.a), "l0_latent": l0(lat.a)}  # fmt: skip


class Sparsify(Stage):
    """Stage 3: everything trains, L = R + β·KL_fb + L_SAE(h) + L_SAE(z) + Σ aux, β = 1, with the method's
    sparsifier (sparsity per epoch, ã, auxiliary terms, its hooks), dead-neuron revival of the conv SAE and, for a
    centred method, the running means of the SAE inputs."""

    name = "sparsify"

    def __init__(self, cfg, model, device, in_channels):
        super().__init__(cfg, model, device, in_channels)
        self.sparsifier = build(cfg.method, cfg.sparsify, cfg.model, device)
        self.sparsifier.attach(model, cfg.loss.sae_reduction)
        self.revival = Revival(cfg.revival, cfg.model.conv_sae_neurons, device)
        method = method_table.get(cfg.method)
        # model.sae_gradient: detach (or a stop-gradient control): the SAE losses send no gradient into the VAE
        self.detach_sae = method.detach_sae or cfg.model.sae_gradient == "detach"
        self.centring = None
        if method.centred:
            self.centring = InputCentring(cfg.sparsify.center_rate, started=self.name == "extend")

    def load(self, start):
        self.model.load_state_dict(_entry(start, "model", self.name))
        self.sparsifier.begin(self.model)

    def trainable(self):
        return list(self.model.parameters())

    def extra_param_groups(self):
        return self.sparsifier.param_groups()

    def start_epoch(self, optimizer, probe, sparsity, samples):
        """Revival between epochs: the pending re-initialisation, then the spread on the probe and the bias boost;
        then the sparsifier's ``begin_epoch``."""
        with torch.no_grad():
            h = self.model.vae.encoder(probe)[0]
        sae = self.model.conv_sae

        def probe_loss():  # the conv SAE's loss on the probe inputs, as training computes it (sets revived moments)
            a = self.activate(sae.pre(h), sparsity.k, sae="conv", training=False)
            return losses.sae_loss(h, sae.decode(a), a, sparsity.l1, self.cfg.loss.sae_reduction)

        self.revival.start_epoch(sae, optimizer, h, probe_loss=probe_loss)
        self.sparsifier.begin_epoch(sparsity, samples)

    def _before_sae(self, h, z):
        self.centring.update(self.model, h, z)

    def loss(self, x, sparsity, beta):
        fb = self.cfg.pretrain
        out = self.model(x, sparsity.k, sparsity.k_latent, activate=self.activate,
                         before_sae=None if self.centring is None else self._before_sae,
                         detach_sae=self.detach_sae)  # fmt: skip
        recon = losses.bernoulli_recon(out.logits, x)
        kl = losses.free_bits_kl(out.mu, out.logvar, fb.free_bits, fb.free_bits_mode)
        l_vae = recon + beta * kl
        red = self.cfg.loss.sae_reduction
        l_conv = losses.sae_loss(out.h, out.h_hat, out.a_conv, sparsity.l1, red)
        l_lat = losses.sae_loss(out.z, out.z_hat, out.a_lat, sparsity.l1, red)
        loss = l_vae + l_conv + l_lat
        conv = SAEPass(out.h, out.pre_conv, out.a_conv, out.h_hat)
        lat = SAEPass(out.z, out.pre_lat, out.a_lat, out.z_hat)
        with torch.no_grad():
            self.sparsifier.observe(conv, lat)
        aux = self.sparsifier.aux_loss(conv, lat)
        loss_aux = x.new_zeros(())
        for name, term in aux.items():
            if name in LOSS_TERMS or name in LOGGED_TERMS:
                raise ValueError(f"{type(self.sparsifier).__name__}.aux_loss returned {name!r}, a reserved loss name")
            loss = loss + term
            loss_aux = loss_aux + term.detach()
        self.revival.observe(out.a_conv.detach())
        return {"loss": loss, "loss_vae": l_vae, "loss_sae_conv": l_conv, "loss_sae_latent": l_lat,
                "recon": recon.detach(), "kl": kl.detach(), "loss_aux": loss_aux, "l0": l0(out.a_conv),
                "l0_latent": l0(out.a_lat), **aux}  # fmt: skip

    def before_step(self):
        self.sparsifier.before_step(self.model)

    def end_epoch(self):
        record = self.revival.end_epoch()
        self.sparsifier.end_epoch()
        return record

    def payload(self, final, optimizer):
        return dict(
            super().payload(final, optimizer),
            optimizer=optimizer.state_dict(),
            revival=self.revival.state_dict(),
            sparsifier=self.sparsifier.state_dict(),
            sparsify=self.cfg.sparsify.as_dict(),
        )

    def resume_state(self):
        state = {"revival": self.revival.state_dict(), "sparsifier": self.sparsifier.state_dict()}
        if self.centring is not None:
            state["centring_started"] = self.centring.started
        return state

    def load_resume_state(self, state):
        self.revival.load_state_dict(state["revival"])
        self.sparsifier.load_state_dict(state["sparsifier"])
        if self.centring is not None:
            self.centring.started = bool(state["centring_started"])


class Extend(Sparsify):
    """Stage 3 continued for ``extend.epochs`` at the sparsifier's final() sparsity, from the method's stage-3
    checkpoint: model, optimizer moments (at this stage's learning rate), revival counters and sparsifier state."""

    name = "extend"

    def load(self, start):
        method = _entry(start, "method", self.name)
        if method != self.cfg.method:
            raise ValueError(f"stage extend of method {self.cfg.method!r} got a checkpoint of method {method!r}")
        self.model.load_state_dict(_entry(start, "model", self.name))  # no begin(): stage 3 already began

    def restore(self, optimizer, start):
        optimizer.load_state_dict(_entry(start, "optimizer", self.name))
        self.revival.load_state_dict(_entry(start, "revival", self.name))
        self.sparsifier.load_state_dict(_entry(start, "sparsifier", self.name))

    def sparsity(self, epoch):
        return self.sparsifier.final()


STAGES: dict[str, type[Stage]] = {cls.name: cls for cls in (Pretrain, Init, Sparsify, Extend)}
