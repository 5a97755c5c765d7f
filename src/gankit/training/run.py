"""A run: one config's networks, optimisers, random streams and step counter, and its two updates.

:class:`Run` is built from a :class:`~gankit.config.TrainConfig` (and the data),
checkpointed (:meth:`Run.state_dict`, :meth:`Run.load_state_dict`) and stepped:
:meth:`~Steps.critic_step` ``(t, k)`` and :meth:`~Steps.generator_step`, or a
whole iteration, :meth:`~Steps.iteration`. The iteration body exists once, in
:class:`Steps`, which :class:`Run` and :class:`~gankit.training.stacked.StackedRuns`
share: they differ only in where their minibatches and noise come from.
It writes nothing; :class:`~gankit.training.Trainer` adds the hooks that do.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..augment import Augment
from ..checkpoint import load_weights
from ..config import TrainConfig
from ..data import DATASETS, Dataset, load_dataset
from ..data.clusters import Clusters, fit_clusters
from ..data.fingerprint import fingerprint
from ..data.streaming import make_sampler
from ..distributed import Ranks, sync_batchnorm
from ..ema import EMA
from ..models import seeded
from ..models.layout import channels_last
from ..objectives import Constraint, Objective, get_objective, resolve, wasserstein_critic_loss
from ..presets import CUSTOM, MANY_MODES
from ..sampling import generate, pick_device
from ..streams import offset
from .networks import Network, build_networks, check_networks, compile_networks, with_parts
from .steps import Update, Window, discriminator_step, generator_step, grad_norm, lr_factor, make_optimizer, set_lr

log = logging.getLogger(__name__)


# Image networks whose convolutions run in channels-last memory order: on a CPU a DCGAN step is 12-24% faster and
# a ResNet step 27% (one thread, Fashion-MNIST, docs/images.md).
CONV_MODELS = ("dcgan", "resnet")

# What a checkpoint holds: enough to sample (SAMPLE_KEYS) or to continue exactly (RESUME_KEYS).
SAMPLE_KEYS = ("step", "config", "data", "generator", "discriminator")
RESUME_KEYS = (*SAMPLE_KEYS, "opt_g", "opt_d", "rng")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept.

    ``iteration`` (from 1) and ``quantity`` (``"d_loss"``, ``"penalty"`` or ``"g_loss"``) say where, when known;
    the run folder records them in ``stopped.json`` (:meth:`gankit.runfolder.RunFolder.stopped`).
    """

    def __init__(self, message: str, *, iteration: int | None = None, quantity: str | None = None):
        super().__init__(message)
        self.iteration, self.quantity = iteration, quantity


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


def resolve_objective(name: str) -> str:
    """The game of a preset or bare objective name."""
    return resolve(name).objective


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


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class Steps:
    """The seed's iteration, for one run or S stacked ones: K critic updates, each on a fresh real minibatch
    and fresh noise, then one generator update (and the EMA's).

    A class using it holds ``config``, ``step``, ``G``, ``D``, ``ema``, ``opt_g``, ``opt_d``, ``objective``,
    ``constraint``, ``joint``, ``batch``, ``update_d``, ``update_g`` and ``augment``, and says where its
    inputs come from: :meth:`real_batch`, :meth:`noise`, :meth:`generator_labels`, ``noise_streams`` (what
    the penalties draw from) and ``batch_axis`` (0, or 1 for stacked runs).
    """

    batch_axis = 0

    def real_batch(self) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def noise(self, n: int) -> Tensor:
        raise NotImplementedError

    def close_data(self) -> None:
        """Stop reading ahead (a streamed set's workers end; the next batch starts them where this left off)."""
        self.sampler.close()

    def generator_labels(self, n: int) -> Tensor | None:
        raise NotImplementedError

    def schedule(self, t: int) -> None:
        """Set both learning rates for iteration ``t`` (a function of t alone, so resume is exact)."""
        cfg = self.config
        if cfg.lr_schedule != "constant":
            factor = lr_factor(cfg.lr_schedule, t, cfg.iterations)
            set_lr(self.opt_d, cfg.d_lr * factor)
            set_lr(self.opt_g, cfg.g_lr * factor)

    reused_fakes: tuple[Tensor, Tensor, Tensor | None] | None = None  # the critic step's (fake, real, labels)

    def critic_step(self, t: int, k: int) -> Tensor:
        """Critic update ``k`` of iteration ``t``: a fresh real minibatch and fresh noise (stats as
        :func:`discriminator_step`); the constraint's penalty where due (lazy R1 counts steps ``t K + k``).
        With ``reuse_fakes`` the last step's samples are generated with their graph and kept for the generator
        step."""
        real, labels = self.real_batch()
        z, fake = self.noise(self.batch), None
        if self.config.reuse_fakes and k == self.config.d_steps - 1:
            with self.update_g.autocast():
                fake = self.G(z) if labels is None else self.G(z, labels)
            self.reused_fakes = (fake, real, labels)
        return discriminator_step(
            self.G, self.D, self.opt_d, self.objective, self.constraint, real,
            z, joint=self.joint, generator=self.noise_streams,
            regularise=self.constraint.due(t * self.config.d_steps + k), update=self.update_d,
            labels=labels, augment=self.augment, batch_axis=self.batch_axis, class_weight=self.config.class_loss,
            fake=fake,
        )

    def generator_step(self) -> Tensor:
        """One generator update on fresh noise (and classes; and a fresh real minibatch when the objective's
        generator loss sees the real scores), then the EMA's; returns the loss (a device tensor). With
        ``reuse_fakes``, on the last critic step's samples, classes and real minibatch instead."""
        fake = None
        if self.reused_fakes is not None:
            (fake, real, labels), self.reused_fakes, z = self.reused_fakes, None, None
            real = real if self.objective.generator_sees_real else None
        else:
            z = self.noise(self.batch)
            if self.objective.generator_sees_real:  # a relativistic game: a fresh real minibatch, its classes G's
                real, labels = self.real_batch()
            else:
                real, labels = None, self.generator_labels(self.batch)
        g_loss = generator_step(self.G, self.D, self.opt_g, self.objective, z, update=self.update_g,
                                labels=labels, augment=self.augment, real=real, class_weight=self.config.class_loss,
                                fake=fake)
        if self.ema is not None:
            self.ema.update(self.G, step=self.step + 1)
        return g_loss

    def grad_norm_d(self) -> Tensor:
        """The gradient norm of D from its last update (a device tensor)."""
        return grad_norm(self.D)

    def grad_norm_g(self) -> Tensor:
        """The gradient norm of G from its last update (a device tensor)."""
        return grad_norm(self.G)

    def iteration(self, window: Window, norms: bool = False) -> Tensor | None:
        """Iteration ``step`` whole: the schedule, K critic updates, the generator's; the step counter moves on.

        The statistics go to ``window``; with ``norms``, D's gradient norm after its last update is returned.
        """
        t = self.step
        self.schedule(t)
        for k in range(self.config.d_steps):
            window.add(self.critic_step(t, k), None, t)
        d_norm = self.grad_norm_d() if norms else None
        window.add(None, self.generator_step(), t)
        self.step = t + 1
        return d_norm

    def check_finite(self, window: Window, kept: Callable[[], str]) -> None:
        """Raise :class:`NonFiniteLossError` (saying ``kept()``: where the last good checkpoint is) if a loss in
        ``window`` was NaN or infinite."""
        bad = int(self.ranks.max(window.bad_at))  # every rank stops together
        if bad >= 0:
            raise NonFiniteLossError(
                f"non-finite loss at iteration {bad // 2 + 1} ({self.config.objective}, lr {self.config.lr:g}); "
                f"{kept()}. Start a new run with a lower --lr or a constraint (a resumed run keeps its learning rate)",
                iteration=bad // 2 + 1, quantity=window.non_finite(bad),
            )

    def end_iteration(self) -> None:
        """Count iteration ``step`` done, for a caller that took its updates one by one (the explorer)."""
        self.step += 1

    def is_log_step(self, t: int) -> bool:
        """Whether iteration ``t`` (from 0) ends with a metrics line."""
        return (t + 1) % self.config.log_every == 0 or t + 1 == self.config.iterations


class Run(Steps):
    """One training run of ``config``: its networks, optimisers, random streams and step counter.

    Args:
        config: the run's configuration (resolved here for the data's kind and shape).
        dataset: an already loaded data set (default: ``load_dataset(config.data, ...)``).
        ranks: the processes of a torchrun'd run (default: read from the environment).
        generator, discriminator: your own networks instead of the config's (both or neither): modules,
            or functions of no arguments that build them (called under the run's seed). G maps noise
            ``(B, noise_dim)`` to samples ``(B, *sample_shape)``, D samples to raw scores ``(B,)``. The
            config records model ``"custom"``; a resume is given them again.
        objective: your own game, an :class:`~gankit.objectives.Objective`, instead of the config's
            (recorded as objective ``"custom"``, with the GAN's settings; a resume is given it again).
            A registered game is named in the config instead.
    """

    def __init__(self, config: TrainConfig, *, dataset: Dataset | None = None, ranks: Ranks | None = None,
                 generator: Network | None = None, discriminator: Network | None = None,
                 objective: Objective | None = None):
        config = with_parts(config, generator, discriminator, objective)  # recorded as "custom"
        self.ranks = ranks = ranks or Ranks.from_environment(config.device)
        self.device = ranks.device(pick_device(config.device))
        if dataset is None:
            dataset = load_dataset(config.data, data_dir=config.data_dir,
                                   options=config.data_options, seed=config.seed)
            config = with_resolved_paths(config)  # stored absolute: the run folder works from anywhere
        self.dataset = dataset
        self.data_fingerprint = fingerprint(dataset, config.data if is_path(config.data) else None)
        modes = None if dataset.mixture is None else dataset.mixture.distinct_modes()
        self.config = cfg = config.resolved(dataset.kind, dataset.sample_shape, modes, dataset.rows)
        if modes and modes > MANY_MODES:
            log.info("%d modes: the recipe's settings grow with them (gankit.presets.scale_to_modes) unless given: "
                     "%d iterations, hidden layers %s, batch %d", modes, cfg.iterations, cfg.g_hidden, cfg.batch_size)
        self.clusters: Clusters | None = None
        if cfg.clusters:  # the classes are k-means clusters of the data (gankit.data.clusters)
            self.clusters, ids = fit_clusters(dataset.x, cfg.clusters, seed=cfg.seed + offset("clusters"))
            dataset = self.dataset = dataclasses.replace(
                dataset, labels=ids, classes=tuple(f"cluster {k}" for k in range(cfg.clusters)))
            sizes = torch.bincount(ids, minlength=cfg.clusters)
            log.info("%d k-means clusters of the data as classes: %d to %d samples each", cfg.clusters,
                     int(sizes.min()), int(sizes.max()))
        self.n_classes = class_count(dataset, cfg.data) if cfg.conditional or cfg.clusters else 0
        with seeded(cfg.seed):  # seeded init without touching global state
            G, D, self.constraint = build_networks(cfg, dataset.sample_shape, dataset.kind, self.n_classes,
                                                   generator=generator, discriminator=discriminator)
        if self.n_classes:  # sampling draws classes as often as the data hold them
            labels = dataset.labels if self.clusters is not None else dataset.all_labels
            G.class_prior.copy_(torch.bincount(labels, minlength=self.n_classes) / len(labels))
        if cfg.sync_batchnorm:
            G, D = sync_batchnorm(G, ranks), sync_batchnorm(D, ranks)
        self.G, self.D = G.to(self.device), D.to(self.device)
        if cfg.model == CUSTOM:
            check_networks(self.G, self.D, cfg.noise_dim, dataset.sample_shape, self.device)
        ranks.broadcast_parameters(self.G)
        ranks.broadcast_parameters(self.D)
        if cfg.model in CONV_MODELS:  # measured faster on the CPU (docs/images.md); the values are the same
            self.G, self.D = channels_last(self.G), channels_last(self.D)  # gankit.models.layout
        self.ema = EMA(self.G, cfg.ema_decay, rampup=cfg.ema_rampup) if cfg.ema_decay else None
        if cfg.compile:  # after the EMA's copy: the average stays an eager module
            compile_networks(self.G, self.D, cfg.constraint)
        self.objective = objective if objective is not None else get_objective(resolve_objective(cfg.objective))
        self.joint = not _has_batchnorm(self.D)
        self.opt_g = make_optimizer(self.G.parameters(), cfg.optimizer, cfg.g_lr, cfg.betas, cfg.momentum)
        self.opt_d = make_optimizer(self.D.parameters(), cfg.optimizer, cfg.d_lr, cfg.betas, cfg.momentum)
        self.update_d, self.update_g = (Update(cfg.amp, self.device, ranks) for _ in range(2))
        # samples per minibatch on this process: M packs of m, shared evenly by the ranks
        self.batch = ranks.local_batch(cfg.batch_size) * cfg.pack
        self.sampler = make_sampler(dataset, self.batch, self.device, ranks.stream_seed(cfg.seed, offset("data")),
                                    with_labels=bool(self.n_classes), flip=cfg.flip, clusters=self.clusters)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(
            ranks.stream_seed(cfg.seed, offset("noise")))
        self.label_generator = None if not self.n_classes else torch.Generator(device=self.device).manual_seed(
            ranks.stream_seed(cfg.seed, offset("labels")))
        self.augment = None if cfg.augment == "none" else Augment(
            cfg.augment, self.device, ranks.stream_seed(cfg.seed, offset("augment")))
        self.step = 0
        self.window = Window(self.device)

    # ------------------------------------------------------------------ inputs

    @property
    def noise_streams(self) -> torch.Generator:
        """What the penalties draw their interpolation weights from: the noise stream."""
        return self.noise_generator

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

    # ------------------------------------------------------------------ outputs

    @property
    def G_eval(self) -> nn.Module:
        """The generator that samples, snapshots and evaluation use: the EMA when kept, else G."""
        return self.G if self.ema is None else self.ema.calibrated()

    def sample(self, n: int, *, data_units: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """``n`` generated samples (eval mode, on the device), in data units unless told otherwise."""
        x = generate(self.G_eval, n, noise_dim=self.config.noise_dim, seed=None, generator=generator)
        return self.dataset.scaler.to_data(x) if data_units else x

    def read_window(self, window: Window, d_norm: Tensor, g_norm: Tensor, rate: float,
                    kept: Callable[[], str]) -> dict[str, Any]:
        """The metrics line of the interval ``window`` summed (the interval's one host sync); resets it."""
        self.check_finite(window, kept)
        d = self.ranks.mean(window.d / max(window.d_count, 1)).tolist()
        g = float(self.ranks.mean(torch.as_tensor(window.g, device=self.device))) / max(window.g_count, 1)
        window.reset()
        return self.make_record(d, g, float(d_norm), float(g_norm), rate)

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

    # ------------------------------------------------------------------ checkpoint

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs to continue bit for bit: weights, optimisers, streams, the window's sums."""
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
                     **({"columns": list(self.dataset.columns)} if self.dataset.columns else {}),
                     **({"clusters": self.clusters.state_dict()} if self.clusters is not None else {})},
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

    def relabel(self, data: str) -> None:
        """Record ``data`` as where the run's data lives (a copy kept beside a run folder): config and
        fingerprint follow; the samples are the same."""
        self.config = dataclasses.replace(self.config, data=data)
        self.data_fingerprint = fingerprint(self.dataset, data)
