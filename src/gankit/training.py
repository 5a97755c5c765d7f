"""The seed's training loop, once, for every objective.

Each of T iterations runs K discriminator/critic steps, each on a fresh
minibatch of M real samples and M noise vectors z ~ N(0, I), then one
generator step (seed: "Vanilla GAN training" and "W-GAN training"). The
objective and the Lipschitz constraint come from :mod:`gankit.objectives`; the
loop knows them only through their interface.

Host synchronisation happens only at logging steps: losses are accumulated on
the device and read back every ``log_every`` iterations.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .augment import Augment
from .checkpoint import load_checkpoint, load_weights, require_finite
from .config import RESUMABLE, TrainConfig
from .data import DATASETS, Dataset, Sampler, Scaler, load_dataset
from .data.fingerprint import differences, fingerprint
from .distributed import Ranks, sync_batchnorm
from .ema import EMA, standing_statistics
from .interrupt import Interrupted, stop_requests
from .models import build_models, pack_size, seeded
from .objectives import Constraint, Objective, get_objective, make_constraint, resolve, wasserstein_critic_loss
from .pictures import Pictures
from .presets import MANY_MODES
from .progress import Progress
from .runfolder import CHECKPOINT, RunFolder, read_metrics
from .runlock import check_unlocked
from .sampling import discriminator_scores, generate, pick_device  # noqa: F401  (also part of this API)
from .streams import offset

log = logging.getLogger(__name__)


# Image networks whose convolutions run in channels-last memory order: on a CPU a DCGAN step is 12-24% faster and
# a ResNet step 27% (one thread, Fashion-MNIST, docs/images.md).
CONV_MODELS = ("dcgan", "resnet")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


# What a checkpoint holds: enough to sample (SAMPLE_KEYS) or to continue exactly (RESUME_KEYS).
SAMPLE_KEYS = ("step", "config", "data", "generator", "discriminator")
RESUME_KEYS = (*SAMPLE_KEYS, "opt_g", "opt_d", "rng")


def is_path(data: str) -> bool:
    """Whether a config's ``data`` names a file or folder rather than a named set."""
    return data not in DATASETS


def with_resolved_paths(config: TrainConfig) -> TrainConfig:
    """``config`` with its data path (and data folder) made absolute where they exist, so that the run
    folder works from any current folder."""
    changes = {}
    if is_path(config.data) and Path(config.data).exists():
        changes["data"] = str(Path(config.data).resolve())
    if config.data_dir is not None and Path(config.data_dir).exists():
        changes["data_dir"] = str(Path(config.data_dir).resolve())
    return dataclasses.replace(config, **changes) if changes else config


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def grad_norm(module: nn.Module) -> Tensor:
    """The global L2 norm of the module's gradients (a device tensor; no host sync); one per run when stacked."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if getattr(module, "seeds", None):
        if not grads:
            return torch.zeros(module.seeds)
        return torch.linalg.vector_norm(torch.stack([g.flatten(1).norm(dim=1) for g in grads]), dim=0)  # (S,)
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class WithLabels:
    """``D(x, y)`` as a function of ``x`` alone, for fixed labels ``y``: what the penalties differentiate.

    Any other attribute is ``D``'s (``pack``, ``sample_shape``, ``seeds``).
    """

    def __init__(self, D: nn.Module, labels: Tensor):
        self.D, self.labels = D, labels

    def __call__(self, x: Tensor) -> Tensor:
        return self.D(x, self.labels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.D, name)


def _score_both(D: nn.Module, real: Tensor, fake: Tensor, joint: bool,
                labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """D on real and fake (both of class ``labels`` when conditional); one batched call unless D normalises
    over the batch.

    The batch axis is the first, or the second for S stacked runs (``(S, B, ...)``).
    """
    def score(x: Tensor, y: Tensor | None) -> Tensor:
        return D(x) if y is None else D(x, y)

    if joint:
        axis = 1 if getattr(D, "seeds", None) else 0
        both = None if labels is None else torch.cat([labels, labels], dim=axis)
        out = score(torch.cat([real, fake], dim=axis), both)  # scores of both halves; one per pack for a packed D
        m = pack_size(D)
        n_real, n_fake = real.shape[axis] // m, fake.shape[axis] // m
        real_out, fake_out = out.split((n_real, n_fake), dim=-1)  # views; backward is one cat
        return real_out, fake_out
    return score(real, labels), score(fake, labels)


_HALF = (torch.float16, torch.bfloat16)
_NULL = contextlib.nullcontext()  # reusable: full precision costs nothing per step


def _fp32(t: Tensor) -> Tensor:
    """Scores under autocast come out in half precision; losses and logs are computed in float32."""
    return t.float() if t.dtype in _HALF else t


class Update:
    """loss -> gradients -> their mean over the ranks -> the optimiser's step, in mixed precision if asked.

    ``amp="bf16"`` or ``"fp16"`` runs the forward passes under :func:`torch.autocast`;
    fp16 also scales the loss (:class:`torch.amp.GradScaler`) so that small
    gradients do not underflow, and skips a step whose gradients overflowed.
    Penalties differentiate D in float32 outside autocast
    (:func:`gankit.objectives._input_gradient`), so they are exact under scaling.
    Under torchrun the gradients are averaged over the ranks before the step
    (:mod:`gankit.distributed`). With the defaults it is ``loss.backward(); step()``.

    Args:
        amp: off, bf16 or fp16.
        device: where the networks are.
        ranks: the processes of a torchrun'd run (default: one).
    """

    DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, amp: str = "off", device: torch.device | str = "cpu", ranks: Ranks | None = None):
        if amp not in self.DTYPES:
            raise ValueError(f"amp must be one of {list(self.DTYPES)}; got {amp!r}")
        self.dtype = self.DTYPES[amp]
        self.device_type = torch.device(device).type
        self.scaler = torch.amp.GradScaler(self.device_type) if amp == "fp16" else None
        self.ranks = ranks or Ranks()

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return _NULL
        return torch.autocast(self.device_type, dtype=self.dtype)

    def __call__(self, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()
        if self.ranks.enabled:
            self.ranks.average_gradients(p for group in optimizer.param_groups for p in group["params"])
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)  # unscales, and skips the step when a gradient is inf/NaN
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


_PLAIN = Update()


def discriminator_step(
    G: nn.Module,
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    objective: Objective,
    constraint: Constraint,
    real: Tensor,
    z: Tensor,
    *,
    joint: bool = True,
    generator: torch.Generator | None = None,
    regularise: bool = True,
    update: Update = _PLAIN,
    labels: Tensor | None = None,
    augment: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """One discriminator/critic update; returns ``[loss, penalty, real stat, fake stat]``.

    The stats are mean D(x) and mean D(G(z)) for probabilistic objectives (the
    seed's D is the sigmoid of the logit), else the critic's mean scores.
    ``regularise=False`` leaves out the constraint's penalty on this step (lazy R1);
    ``update`` does the backward pass and the step (mixed precision, several ranks).
    A class-conditional run passes the real minibatch's ``labels``: the fakes
    are generated for the same classes, ``G(z, y)``, and both halves scored as
    ``D(x, y)`` (so a penalty between them compares like with like).
    ``augment`` (DiffAugment) transforms both halves before D sees them; the
    penalty is taken on what D sees. For S stacked runs (:mod:`gankit.seeds`)
    every quantity has a leading axis of S, the result is ``(S, 4)``, and the
    losses are summed over runs, so each run's gradient is its own.
    """
    with update.autocast():
        with torch.no_grad():
            fake = G(z) if labels is None else G(z, labels)
        if augment is not None:
            real, fake = augment(real), augment(fake)
        real_out, fake_out = map(_fp32, _score_both(D, real, fake, joint, labels))
        loss = objective.discriminator_loss(real_out, fake_out)  # scalar, or (S,)
    critic = D if labels is None else WithLabels(D, labels)
    penalty = constraint.penalty(critic, real, _fp32(fake), generator) if regularise else None
    opt_d.zero_grad(set_to_none=True)
    update((loss if penalty is None else loss + penalty).sum(), opt_d)
    constraint.after_step(D)
    with torch.no_grad():
        if objective.probabilistic:
            real_out, fake_out = torch.sigmoid(real_out), torch.sigmoid(fake_out)
        parts = [loss, torch.zeros_like(loss) if penalty is None else penalty, real_out.mean(-1), fake_out.mean(-1)]
        return torch.stack(parts, dim=-1).detach()  # (4,), or (S, 4)


def generator_step(
    G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, objective: Objective, z: Tensor,
    update: Update = _PLAIN, labels: Tensor | None = None, augment: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """One generator update; D's own weight gradients are not computed. Returns the loss (or S losses).

    A class-conditional run asks for classes ``labels``, ``D(G(z, y), y)``;
    ``augment`` transforms the fakes before D sees them (DiffAugment: G learns through it).
    """
    D.requires_grad_(False)
    try:
        with update.autocast():
            fake = G(z) if labels is None else G(z, labels)
            if augment is not None:
                fake = augment(fake)
            loss = objective.generator_loss(_fp32(D(fake) if labels is None else D(fake, labels)))
        opt_g.zero_grad(set_to_none=True)
        update(loss.sum(), opt_g)
    finally:
        D.requires_grad_(True)
    return loss.detach()


def make_optimizer(params, name: str, lr: float, betas: tuple[float, float], momentum: float):
    """Adam, RMSProp or SGD by name (RMSProp with PyTorch defaults, as the WGAN code).

    Adam and SGD use PyTorch's fused kernels (one pass over each tensor) where the
    installed version supports them on the parameters' device (Adam on CPU: about
    5x faster per step than the default). RMSProp has no fused kernel; its default
    implementation (one loop over the tensors on CPU, ``foreach`` kernels on CUDA)
    is the faster one on each device.
    """
    params = list(params)
    if name == "adam":
        return _fused_or_default(torch.optim.Adam, params, lr=lr, betas=betas)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "sgd":
        return _fused_or_default(torch.optim.SGD, params, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose from adam, rmsprop, sgd")


def _fused_or_default(cls, params: list, **kwargs: Any) -> torch.optim.Optimizer:
    """``cls(params, fused=True)`` where this PyTorch has the fused kernel for these parameters, else the default."""
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype or this version
        return cls(params, **kwargs)


def build_networks(config: TrainConfig, sample_shape: tuple[int, ...], kind: str, n_classes: int = 0):
    """Generator, discriminator (constraint applied) and the constraint, from a resolved config
    (class-conditional on ``n_classes`` classes when the config says so)."""
    G, D = build_models(
        config.model, sample_shape, config.noise_dim, g_hidden=config.g_hidden,
        d_hidden=config.d_hidden, activation=config.activation, g_batchnorm=config.g_batchnorm,
        d_norm=config.d_norm, width=config.width, image=kind == "image", pack=config.pack,
        n_classes=n_classes if config.conditional else 0,
    )
    constraint = make_constraint(config.constraint, clip=config.clip, gp_weight=config.gp_weight,
                                 r1_gamma=config.r1_gamma, r1_every=config.r1_every)
    return G, constraint.prepare(D), constraint


def lr_factor(schedule: str, t: int, iterations: int) -> float:
    r"""The learning-rate multiplier of generator iteration ``t`` (from 0) of ``T = iterations``.

    .. math::
        \text{constant: } 1, \qquad \text{linear: } 1 - t / T

    The linear schedule decays to 0 at T (as Mimicry and StudioGAN do); the K
    discriminator steps of iteration t use the same rate as its generator step.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return max(0.0, 1.0 - t / iterations)
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose from constant, linear")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def default_run_dir(config: TrainConfig, root: str | Path = "runs") -> Path:
    """``runs/<data>-<objective>-s<seed>``, numbered when taken (``default`` for a config that leaves the
    recipe to the data)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(config.data).stem or config.data)
    base = Path(root) / f"{stem}-{config.objective or 'default'}-s{config.seed}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class Window:
    """Device-side sums of the step statistics between two logging steps (no host sync per step).

    The sums are part of the checkpoint, so that the metrics line of the interval a run
    was stopped in is the mean over the whole interval once it is resumed.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.bad_step = torch.full((), -1, dtype=torch.long, device=device)
        self.reset()

    def reset(self) -> None:
        self.d: Tensor | float = 0.0  # (4,), or (S, 4) for stacked runs
        self.g: Tensor | float = 0.0  # (), or (S,)
        self.d_count = self.g_count = 0

    def add(self, d_stats: Tensor | None, g_loss: Tensor | None, step: int) -> None:
        """Accumulate one step's statistics; remember the first iteration with a non-finite loss."""
        if d_stats is not None:
            self.d = self.d + d_stats
            self.d_count += 1
            bad = ~torch.isfinite(d_stats[..., :2]).all()
        else:
            self.g = self.g + g_loss
            self.g_count += 1
            bad = ~torch.isfinite(g_loss).all()
        self.bad_step = torch.where(bad & (self.bad_step < 0), step, self.bad_step)

    def state_dict(self) -> dict[str, Any]:
        """The partial sums, on the CPU."""
        return {"d": _to(self.d, "cpu"), "g": _to(self.g, "cpu"), "d_count": self.d_count, "g_count": self.g_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.d, self.g = _to(state["d"], self.device), _to(state["g"], self.device)
        self.d_count, self.g_count = int(state["d_count"]), int(state["g_count"])

    def row(self, s: int) -> dict[str, Any]:
        """Run ``s``'s sums of a window of stacked runs (``d`` of shape ``(S, 4)``), as :meth:`state_dict`."""
        state = self.state_dict()
        return {**state, "d": _row(state["d"], s), "g": _row(state["g"], s)}

    @classmethod
    def stacked(cls, windows: list[Window], device: torch.device) -> Window:
        """One window of stacked runs from the runs' own windows (at the same iteration)."""
        out = cls(device)
        if windows[0].d_count or windows[0].g_count:
            out.load_state_dict({**windows[0].state_dict(),
                                 "d": _stack([w.d for w in windows]), "g": _stack([w.g for w in windows])})
        return out


def _to(value: Tensor | float, device: torch.device | str) -> Tensor | float:
    return value.detach().to(device) if torch.is_tensor(value) else value


def _row(value: Tensor | float, s: int) -> Tensor | float:
    return value[s].clone() if torch.is_tensor(value) else value


def _stack(values: list[Tensor | float]) -> Tensor:
    return torch.stack([torch.as_tensor(v) for v in values])


def class_count(dataset: Dataset, where: str) -> int:
    """The classes of a labelled data set, for a class-conditional run; a ``ValueError`` naming the data
    when it has no labels of one class per sample."""
    labels = dataset.labels
    if labels is None or labels.ndim != 1:
        why = "no labels" if labels is None else f"labels of shape {tuple(labels.shape)}, not one class per sample"
        raise ValueError(f"--conditional needs labelled data; {where} has {why} (labelled data: fashion-mnist, "
                         "digits, a CSV with a label column, an .npz with a labels array, an image folder of "
                         "class sub-folders)")
    return max(len(dataset.classes or ()), int(labels.max()) + 1)


class ResumeChangeError(ValueError):
    """A resume asked to change what a run keeps: ``changed`` maps each field to (the run's value, the asked one).

    ``str(e)`` names the fields; :meth:`message` names them as the caller's words for them
    (the command line's flags).
    """

    def __init__(self, run_dir: Path, changed: dict[str, tuple[Any, Any]]):
        self.run_dir, self.changed = run_dir, changed
        super().__init__(self.message(str))

    def message(self, name: Callable[[str], str]) -> str:
        what = "; ".join(f"{name(k)}: run has {a!r}, asked {b!r}" for k, (a, b) in self.changed.items())
        return (f"cannot resume {self.run_dir}: {what}. Only {', '.join(sorted(map(name, RESUMABLE)))} may change; "
                "start a new run for anything else")


class Trainer:
    """Runs the seed's loop for one :class:`TrainConfig` and writes a run folder.

    Args:
        config: the run's configuration.
        run_dir: the run folder (default: :func:`default_run_dir`).
        dataset: an already loaded data set (default: ``load_dataset(config.data, ...)``).
        callbacks: called at every logging step as ``callback(trainer, record)``;
            a callback may add entries to the record. Evaluation every
            ``config.eval_every`` iterations is attached from above
            (:func:`gankit.evaluation.attach_evaluation`; ``gankit train`` and
            :func:`gankit.train` do it).
        ranks: the processes of a torchrun'd run (default: read from the environment;
            one process without torchrun). Rank 0 alone writes the run folder.
        parts: what the loop calls at fixed points (``start``, ``record``, ``step``,
            ``save``, ``finish``, ``close``; each optional). Default: the run folder
            (:class:`~gankit.runfolder.RunFolder`) and the pictures
            (:class:`~gankit.pictures.Pictures`) on rank 0, nothing on the others.
            ``parts=[]`` trains without writing anything.

    The loop (:meth:`fit`) is the seed's algorithm and nothing else: files,
    pictures and evaluation are parts and callbacks it calls.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        *,
        dataset: Dataset | None = None,
        callbacks: list[Callable[[Trainer, dict[str, Any]], None]] | None = None,
        ranks: Ranks | None = None,
        parts: list[Any] | None = None,
    ):
        self.ranks = ranks = ranks or Ranks.from_environment(config.device)
        self.device = ranks.device(pick_device(config.device))
        if dataset is None:
            dataset = load_dataset(config.data, data_dir=config.data_dir,
                                   options=config.data_options, seed=config.seed)
            config = with_resolved_paths(config)  # stored absolute: the run folder works from anywhere
        self.dataset = dataset
        self.data_fingerprint = fingerprint(dataset, config.data if is_path(config.data) else None)
        modes = None if dataset.mixture is None else dataset.mixture.distinct_modes()
        self.config = cfg = config.resolved(dataset.kind, dataset.sample_shape, modes)
        if modes and modes > MANY_MODES:
            log.info("%d modes: the recipe's settings grow with them (gankit.presets.scale_to_modes) unless given: "
                     "%d iterations, hidden layers %s, batch %d", modes, cfg.iterations, cfg.g_hidden, cfg.batch_size)
        self.run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
        self.callbacks = list(callbacks or [])
        self.n_classes = class_count(dataset, cfg.data) if cfg.conditional else 0
        with seeded(cfg.seed):  # seeded init without touching global state
            G, D, self.constraint = build_networks(cfg, dataset.sample_shape, dataset.kind, self.n_classes)
        if self.n_classes:  # sampling draws classes as often as the data hold them
            G.class_prior.copy_(torch.bincount(dataset.labels, minlength=self.n_classes) / len(dataset.labels))
        if cfg.sync_batchnorm:
            G, D = sync_batchnorm(G, ranks), sync_batchnorm(D, ranks)
        self.G, self.D = G.to(self.device), D.to(self.device)
        ranks.broadcast_parameters(self.G)
        ranks.broadcast_parameters(self.D)
        if cfg.model in CONV_MODELS:  # measured faster on the CPU (docs/images.md); the values are the same
            self.G, self.D = (m.to(memory_format=torch.channels_last) for m in (self.G, self.D))
        self.ema = EMA(self.G, cfg.ema_decay, rampup=cfg.ema_rampup) if cfg.ema_decay else None
        self.objective = get_objective(resolve_objective(cfg.objective))
        self.joint = not _has_batchnorm(self.D)
        self.opt_g = make_optimizer(self.G.parameters(), cfg.optimizer, cfg.g_lr, cfg.betas, cfg.momentum)
        self.opt_d = make_optimizer(self.D.parameters(), cfg.optimizer, cfg.d_lr, cfg.betas, cfg.momentum)
        self.update_d, self.update_g = (Update(cfg.amp, self.device, ranks) for _ in range(2))
        # samples per minibatch on this process: M packs of m, shared evenly by the ranks
        self.batch = ranks.local_batch(cfg.batch_size) * cfg.pack
        self.sampler = Sampler(dataset.x, self.batch, self.device, seed=ranks.stream_seed(cfg.seed, offset("data")),
                               labels=dataset.labels if self.n_classes else None)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(
            ranks.stream_seed(cfg.seed, offset("noise")))
        self.label_generator = None if not self.n_classes else torch.Generator(device=self.device).manual_seed(
            ranks.stream_seed(cfg.seed, offset("labels")))
        self.augment = None if cfg.augment == "none" else Augment(
            cfg.augment, self.device, ranks.stream_seed(cfg.seed, offset("augment")))
        self.step = 0
        self.window = Window(self.device)
        self.records: list[dict[str, Any]] = []
        if parts is None:
            parts = [RunFolder(self.run_dir, cfg.tensorboard), Pictures()] if ranks.main else []
        self.parts = list(parts)

    # ------------------------------------------------------------------ helpers

    def noise(self, n: int) -> Tensor:
        """z ~ N(0, I), shape ``(n, noise_dim)``, from the run's own generator."""
        return torch.randn(n, self.config.noise_dim, device=self.device, generator=self.noise_generator)

    def real_batch(self) -> tuple[Tensor, Tensor | None]:
        """A fresh real minibatch and its labels (None unless the run is class-conditional)."""
        return self.sampler.pair() if self.n_classes else (self.sampler(), None)

    def generator_labels(self, n: int) -> Tensor | None:
        """Classes for a generator step, drawn as often as the data hold them (None unless conditional)."""
        if not self.n_classes:
            return None
        return torch.multinomial(self.G.class_prior, n, replacement=True, generator=self.label_generator)

    @property
    def G_eval(self) -> nn.Module:
        """The generator that samples, snapshots and evaluation use: the EMA when kept, else G."""
        return self.G if self.ema is None else self.ema.calibrated()

    def sample(self, n: int, *, data_units: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """``n`` generated samples (eval mode, on the device), in data units unless told otherwise."""
        x = generate(self.G_eval, n, noise_dim=self.config.noise_dim, seed=None, generator=generator)
        return self.dataset.scaler.to_data(x) if data_units else x

    def state_dict(self) -> dict[str, Any]:
        rng = {"sampler": self.sampler.state_dict()["generator"],
               "noise": self.noise_generator.get_state(), "torch": torch.get_rng_state()}
        if self.label_generator is not None:
            rng["labels"] = self.label_generator.get_state()
        if self.augment is not None:
            rng["augment"] = self.augment.state_dict()
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        extra: dict[str, Any] = {}
        if self.ema is not None:
            extra["generator_ema"] = self.ema.state_dict()
        if self.config.amp == "fp16":
            extra["scalers"] = {"d": self.update_d.state_dict(), "g": self.update_g.state_dict()}
        if self.ranks.enabled:  # every rank's streams and sums: a collective, so every rank builds the state
            extra["world"] = self.ranks.world
            extra["rng_ranks"] = self.ranks.gather({k: v for k, v in rng.items() if k != "cuda"})
            extra["window_ranks"] = self.ranks.gather(self.window.state_dict())
        return {
            "format": 1,
            "step": self.step,
            "config": self.config.to_dict(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": rng,
            "window": self.window.state_dict(),
            "data": {"name": self.dataset.name, "kind": self.dataset.kind,
                     "sample_shape": list(self.dataset.sample_shape),
                     "scaler_loc": list(self.dataset.scaler.loc),
                     "scaler_scale": list(self.dataset.scaler.scale),
                     "fingerprint": self.data_fingerprint,
                     **({"n_classes": self.n_classes} if self.n_classes else {}),
                     **({"classes": list(self.dataset.classes)} if self.dataset.classes else {}),
                     **({"columns": list(self.dataset.columns)} if self.dataset.columns else {})},
            **extra,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved_shape = tuple(state["data"]["sample_shape"])
        if saved_shape != self.dataset.sample_shape:
            raise ValueError(f"the checkpoint was trained on samples of shape {saved_shape}, "
                             f"this data has {self.dataset.sample_shape}")
        load_weights(self.G, state["generator"], "generator")
        load_weights(self.D, state["discriminator"], "discriminator")
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            if "generator_ema" not in state:
                raise ValueError("the checkpoint holds no generator EMA; resume without --ema-decay")
            self.ema.load_state_dict(state["generator_ema"])
        scalers = state.get("scalers", {})
        self.update_d.load_state_dict(scalers.get("d", {}))
        self.update_g.load_state_dict(scalers.get("g", {}))
        rng = state["rng"]
        world = int(state.get("world", 1))
        if world != self.ranks.world:
            raise ValueError(f"the run was trained on {world} process(es); resume it on as many "
                             f"(torchrun --nproc_per_node {world}), not {self.ranks.world}")
        if self.ranks.enabled:
            rng = {**rng, **state["rng_ranks"][self.ranks.rank]}
        self.sampler.load_state_dict({"generator": rng["sampler"]})
        self.noise_generator.set_state(rng["noise"])
        if self.label_generator is not None:
            self.label_generator.set_state(rng["labels"])
        if self.augment is not None:
            self.augment.load_state_dict(rng["augment"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step = int(state["step"])
        window = state["window_ranks"][self.ranks.rank] if "window_ranks" in state else state.get("window")
        self.window = Window(self.device)  # checkpoints before the sums were kept: the interval starts here
        if window is not None:
            self.window.load_state_dict(window)

    def save(self) -> Path:
        """Write the checkpoint (rank 0; every rank takes part in gathering the random streams)."""
        state = self.state_dict()
        self._call("save", state)
        return self.run_dir / CHECKPOINT

    @classmethod
    def resume(cls, run_dir: str | Path, callbacks=None, dataset: Dataset | None = None,
               **overrides: Any) -> Trainer:
        """Continue the run in ``run_dir``; only the fields in RESUMABLE may change.

        The data must be the data the run trained on (its fingerprint: shape, size
        and a hash of sampled rows); ``data=NEW_PATH`` points at data that moved.
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"--resume {run_dir}: no such run folder")
        check_unlocked(run_dir)
        path = run_dir / CHECKPOINT
        if not path.exists():
            raise FileNotFoundError(f"--resume {run_dir}: no checkpoint ({CHECKPOINT}) here; is it a gankit run "
                                    "folder? (a run stopped before its first checkpoint starts again with --overwrite)")
        state = load_checkpoint(path, keys=RESUME_KEYS)
        require_finite(state, path, ("generator", "discriminator", "generator_ema"))
        saved = TrainConfig.from_dict(state["config"], source=str(path))
        moved = overrides.pop("data", None)
        wanted = TrainConfig.from_dict({**saved.to_dict(), **overrides})
        changed = {k: v for k, v in saved.differences(wanted).items() if k not in RESUMABLE}
        if changed:
            raise ResumeChangeError(run_dir, changed)
        step = int(state["step"])
        if wanted.iterations is not None and wanted.iterations < step:
            raise ValueError(f"cannot resume {run_dir}: it stands at iteration {step}, and --iterations "
                             f"{wanted.iterations} is below that; give --iterations {step} or more")
        if wanted.lr_schedule == "linear" and wanted.iterations != saved.iterations:
            log.warning("the linear learning-rate schedule now decays to 0 at iteration %d, not %d: at iteration %d "
                        "the rate jumps from %.3g to %.3g of lr", wanted.iterations, saved.iterations, step,
                        lr_factor("linear", step, saved.iterations), lr_factor("linear", step, wanted.iterations))
        wanted = cls._resumed_data(run_dir, saved, wanted, moved, dataset)
        trainer = cls(wanted, run_dir, dataset=dataset, callbacks=callbacks)
        then = state["data"].get("fingerprint") if isinstance(state["data"], dict) else None
        if dataset is None and then:
            diff = differences(then, trainer.data_fingerprint)
            if diff:
                where = trainer.data_fingerprint["path"] or repr(wanted.data)
                raise ValueError(f"cannot resume {run_dir}: the data {where} differ from the data it trained on "
                                 f"({'; '.join(diff)}); resume it on its own data, or start a new run")
        trainer.load_state_dict(state)
        trainer.records = read_metrics(run_dir / "metrics.jsonl", trainer.step)
        if trainer.pictures is not None:
            trainer.pictures.frames = sorted((run_dir / "samples").glob("step_*.png"))
        return trainer

    @staticmethod
    def _resumed_data(run_dir: Path, saved: TrainConfig, wanted: TrainConfig, moved: str | None,
                      dataset: Dataset | None) -> TrainConfig:
        """The config to resume with, pointed at moved data (``moved``) or refusing data that is gone."""
        if moved is not None and moved != saved.data:
            if not is_path(saved.data):
                raise ValueError(f"cannot resume {run_dir}: it trained on the named set {saved.data!r}; "
                                 f"--data {moved} cannot change it")
            if not Path(moved).exists():
                raise ValueError(f"cannot resume {run_dir}: --data {moved}: no such file or folder")
            return dataclasses.replace(wanted, data=moved)
        if dataset is None and is_path(saved.data) and not Path(saved.data).exists():
            raise ValueError(f"cannot resume {run_dir}: its data {saved.data} is gone; if it moved, point at it "
                             "with --data NEW_PATH (checked against the data the run trained on)")
        return wanted

    # ------------------------------------------------------------------ the loop

    def fit(self, steps: int | None = None) -> nn.Module:
        """Train to ``config.iterations`` (or for at most ``steps`` more iterations) and return the generator.

        Stopping early with ``steps`` writes the checkpoint as an interrupted run
        would; :meth:`resume` then continues on the same schedule. SIGINT or
        SIGTERM (Ctrl-C) stops the loop after the iteration in progress: the
        checkpoint is written and :class:`~gankit.interrupt.Interrupted` is raised
        (a second signal of the same kind aborts at once). Under torchrun the
        ranks agree on the iteration to stop at.
        """
        cfg = self.config
        window = self.window
        stop = cfg.iterations if steps is None else min(cfg.iterations, self.step + steps)
        progress = Progress(cfg.iterations, initial=self.step, enabled=cfg.progress,
                            desc=f"{cfg.objective} on {self.dataset.name}")
        with stop_requests() as asked:
            try:
                self._start()
                # it_per_s counts the loop's own time: pictures, checkpoints and callbacks are set aside
                tic, tic_step, aside = time.perf_counter(), self.step, 0.0
                while self.step < stop:
                    t = self.step
                    log_step = self._is_log_step(t)
                    self.schedule(t)
                    for k in range(cfg.d_steps):  # K critic steps, each on a fresh real minibatch and fresh noise
                        window.add(self.critic_step(t, k), None, t)
                    d_norm = grad_norm(self.D) if log_step else None
                    window.add(None, self.generator_update(), t)
                    self.step = t + 1
                    progress.update(1)
                    if log_step:
                        now = time.perf_counter()
                        rate = (self.step - tic_step) / max(now - tic - aside, 1e-9)
                        record = self._log(window, d_norm, grad_norm(self.G), rate)
                        progress.report(self._postfix(record))
                        tic, tic_step, aside = time.perf_counter(), self.step, 0.0
                    started = time.perf_counter()
                    self._call("step")
                    if self.ranks.any(bool(asked)):  # Ctrl-C or SIGTERM: this iteration was the last
                        break
                    if self.step % cfg.checkpoint_every == 0 and self.step < stop:
                        self._check_finite(window)
                        self.save()
                    aside += time.perf_counter() - started
                self._check_finite(window)
                self.save()
                if self.step < stop:  # stopped by a signal, checkpoint written
                    raise Interrupted(asked.signum or 2, self.step, self.run_dir if self.parts else None,
                                      cfg.iterations)
                if self.step == cfg.iterations:
                    self.finish()
            finally:
                progress.close()
                self._call("close")
        return self.G

    def critic_step(self, t: int, k: int) -> Tensor:
        """Critic update ``k`` of iteration ``t``: a fresh real minibatch and fresh noise (stats as
        :func:`discriminator_step`); the constraint's penalty where due (lazy R1 counts steps ``t K + k``)."""
        real, labels = self.real_batch()
        return discriminator_step(
            self.G, self.D, self.opt_d, self.objective, self.constraint, real,
            self.noise(self.batch), joint=self.joint, generator=self.noise_generator,
            regularise=self.constraint.due(t * self.config.d_steps + k), update=self.update_d,
            labels=labels, augment=self.augment,
        )

    def generator_update(self) -> Tensor:
        """One generator update on fresh noise (and classes), then the EMA's; returns the loss (a device tensor)."""
        z = self.noise(self.batch)
        g_loss = generator_step(self.G, self.D, self.opt_g, self.objective, z, update=self.update_g,
                                labels=self.generator_labels(self.batch), augment=self.augment)
        if self.ema is not None:
            self.ema.update(self.G, step=self.step + 1)
        return g_loss

    def schedule(self, t: int) -> None:
        """Set both learning rates for iteration ``t`` (a function of t alone, so resume is exact)."""
        cfg = self.config
        if cfg.lr_schedule != "constant":
            factor = lr_factor(cfg.lr_schedule, t, cfg.iterations)
            set_lr(self.opt_d, cfg.d_lr * factor)
            set_lr(self.opt_g, cfg.g_lr * factor)

    def _is_log_step(self, t: int) -> bool:
        return (t + 1) % self.config.log_every == 0 or t + 1 == self.config.iterations

    def _start(self) -> None:
        """The parts' start: the run folder refuses to overwrite a run and writes the config; snapshot 0."""
        if self.config.eval_every and not any(getattr(cb, "evaluation", False) for cb in self.callbacks):
            log.warning("eval_every=%d but no evaluation is attached to this Trainer; attach it with "
                        "gankit.evaluation.attach_evaluation(trainer)", self.config.eval_every)
        self._call("start")

    def _call(self, hook: str, *args: Any) -> None:
        """Call ``hook(self, *args)`` on every part that has it, in order."""
        for part in self.parts:
            fn = getattr(part, hook, None)
            if fn is not None:
                fn(self, *args)

    def _part(self, kind: type) -> Any:
        return next((p for p in self.parts if isinstance(p, kind)), None)

    @property
    def folder(self) -> RunFolder | None:
        """The run folder part (None on ranks other than 0, or with ``parts=[]``)."""
        return self._part(RunFolder)

    @property
    def pictures(self) -> Pictures | None:
        """The pictures part (None on ranks other than 0, or without it)."""
        return self._part(Pictures)

    @property
    def frames(self) -> list[Path]:
        return [] if self.pictures is None else self.pictures.frames

    def _kept(self) -> str:
        return "no checkpoint is written by this process" if self.folder is None else self.folder.kept()

    def _check_finite(self, window: Window) -> None:
        bad = int(self.ranks.max(window.bad_step))  # every rank stops together
        if bad >= 0:
            kept = self._kept()
            raise NonFiniteLossError(
                f"non-finite loss at iteration {bad + 1} ({self.config.objective}, lr {self.config.lr:g}); "
                f"{kept}. Start a new run with a lower --lr or a constraint (a resumed run keeps its learning rate)"
            )

    def _log(self, window: Window, d_norm: Tensor, g_norm: Tensor, rate: float) -> dict[str, Any]:
        self._check_finite(window)
        d = self.ranks.mean(window.d / max(window.d_count, 1)).tolist()  # the host sync of this interval
        g = float(self.ranks.mean(torch.as_tensor(window.g, device=self.device))) / max(window.g_count, 1)
        window.reset()
        return self.emit(self.make_record(d, g, float(d_norm), float(g_norm), rate))

    def make_record(self, d: list[float], g: float, d_norm: float, g_norm: float, rate: float) -> dict[str, Any]:
        """A metrics line from the interval's mean statistics ``d = [loss, penalty, real, fake]`` and G's loss."""
        record: dict[str, Any] = {"step": self.step, "d_loss": d[0], "g_loss": g}
        if type(self.constraint).penalty is not Constraint.penalty:  # only constraints that add a penalty
            record["penalty"] = d[1]
        if self.objective.probabilistic:
            record["d_real"], record["d_fake"] = d[2], d[3]
        else:
            record["critic_real"], record["critic_fake"] = d[2], d[3]
            if self.objective.discriminator_loss is wasserstein_critic_loss:  # the gap the critic maximises:
                record["w1_estimate"] = d[2] - d[3]  # K W1 under a K-Lipschitz critic (not hinge's or LSGAN's)
        record["grad_norm_d"], record["grad_norm_g"] = d_norm, g_norm
        record["it_per_s"] = rate
        return record

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Run the callbacks on a metrics line (they may add entries), keep it and hand it to the parts."""
        for callback in self.callbacks:
            callback(self, record)
        self.records.append(record)
        self._call("record", record)
        return record

    @staticmethod
    def _postfix(record: dict[str, Any]) -> str:
        keys = ("d_loss", "g_loss", "d_real", "d_fake", "w1_estimate")
        return " ".join(f"{k}={record[k]:.3g}" for k in keys if k in record)

    # ------------------------------------------------------------------ pictures (the Pictures part)

    def snapshot_inputs(self) -> dict[str, Any]:
        """Fixed noise and a fixed real subset, drawn from their own seeds once."""
        return self._pictures().inputs(self)

    def snapshot(self) -> Path:
        """Save a picture of the current samples: over D's heat map (points) or a grid (images)."""
        return self._pictures().snapshot(self)

    def heat_map(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
        """D(x) (or the critic's f(x)) on a mesh over the snapshot frame (see :meth:`Pictures.heat_map`)."""
        return self._pictures().heat_map(self)

    def _pictures(self) -> Pictures:
        """The pictures part, or one kept aside for pictures asked by hand (the loop does not call it)."""
        if self.pictures is not None:
            return self.pictures
        if getattr(self, "_aside", None) is None:
            self._aside = Pictures()
        return self._aside

    def finish(self) -> None:
        """The parts' final work: samples.png, the GIF and the curves."""
        self._call("finish")


def resolve_objective(name: str) -> str:
    """The game of a preset or bare objective name."""
    return resolve(name).objective


def load_generator(run_dir: str | Path, device: str = "auto", *, raw: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """The trained generator of a run folder (eval mode) and the checkpoint's data info.

    A run trained with ``ema_decay`` gives its averaged generator unless ``raw``.
    The info holds ``kind``, ``sample_shape``, the :class:`Scaler` under
    ``scaler``, the resolved config under ``config``, ``ema`` (whether the
    EMA generator was returned) and, for points read from a CSV file with a
    header, its ``columns``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).exists():
        raise FileNotFoundError(f"{run_dir}: no generator here (expected {CHECKPOINT}); is it a gankit run folder?")
    path = run_dir / CHECKPOINT
    state = load_checkpoint(path, keys=SAMPLE_KEYS)
    config = TrainConfig.from_dict(state["config"], source=str(path))
    data = state["data"]
    missing = [k for k in ("kind", "sample_shape", "scaler_loc", "scaler_scale") if k not in data]
    if missing:
        raise ValueError(f"{path}: an incomplete gankit checkpoint: its data entry lacks {missing}")
    shape = tuple(data["sample_shape"])
    with seeded(None):  # the weights are loaded over these; the global stream is left where it was
        G, D, _ = build_networks(config, shape, data["kind"], int(data.get("n_classes", 0)))
    ema = "generator_ema" in state and not raw
    require_finite(state, path, ("generator_ema" if ema else "generator",))
    load_weights(G, state["generator_ema" if ema else "generator"], "generator")
    if ema:  # the average's own batch-norm statistics (gankit.ema)
        standing_statistics(G)
    load_weights(D, state["discriminator"], "discriminator")
    dev = pick_device(device)
    info = {**data, "sample_shape": shape, "config": config, "step": state["step"], "ema": ema,
            "scaler": Scaler(tuple(data["scaler_loc"]), tuple(data["scaler_scale"])),
            "discriminator": D.to(dev).eval()}
    return G.to(dev).eval(), info
