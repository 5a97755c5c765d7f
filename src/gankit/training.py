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

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import viz
from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .config import RESUMABLE, TrainConfig
from .data import Dataset, Sampler, Scaler, load_dataset
from .models import build_models, pack_size
from .objectives import Constraint, Objective, get_objective, make_constraint, resolve

log = logging.getLogger(__name__)
CHECKPOINT = Path("checkpoints") / "latest.pt"


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else the CPU; an unavailable device is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    return device


@torch.no_grad()
def generate(
    G: nn.Module, n: int, *, noise_dim: int | None = None, seed: int | None = 0,
    generator: torch.Generator | None = None, batch_size: int = 4096,
) -> Tensor:
    """``n`` samples of ``G`` in model units, on ``G``'s device, from z ~ N(0, I), in eval mode.

    The noise comes from ``generator`` if given, else from a fresh generator
    seeded with ``seed`` (``None``: the global one). ``G`` is restored to its mode.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    noise_dim = noise_dim or getattr(G, "noise_dim", None)
    if noise_dim is None:
        raise ValueError("the generator has no noise_dim attribute; pass noise_dim")
    device = next(G.parameters()).device
    if generator is None and seed is not None:
        generator = torch.Generator(device=device).manual_seed(int(seed))
    was_training = G.training
    G.eval()
    try:
        chunks = [G(torch.randn(min(batch_size, n - s), noise_dim, device=device, generator=generator))
                  for s in range(0, n, batch_size)]
    finally:
        G.train(was_training)
    return torch.cat(chunks)  # (n, *sample_shape)


@torch.no_grad()
def discriminator_scores(D: nn.Module, x: Tensor, batch_size: int = 4096) -> np.ndarray:
    """Raw discriminator/critic outputs on ``x`` (model units), in eval mode, as float64 ``(n,)``.

    A packed discriminator (PacGAN, ``m`` samples per input) scores each sample
    as the pack of ``m`` copies of it, so every sample still gets one score.
    """
    device = next(D.parameters()).device
    m = pack_size(D)
    was_training = D.training
    D.eval()
    try:
        out = [D(b.to(device).repeat_interleave(m, dim=0)).reshape(-1).double().cpu()
               for b in torch.split(x, batch_size)]
    finally:
        D.train(was_training)
    return torch.cat(out).numpy()


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _grad_norm(module: nn.Module) -> Tensor:
    """The global L2 norm of the module's gradients (a device tensor; no host sync); one per run when stacked."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if getattr(module, "seeds", None):
        if not grads:
            return torch.zeros(module.seeds)
        return torch.linalg.vector_norm(torch.stack([g.flatten(1).norm(dim=1) for g in grads]), dim=0)  # (S,)
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _score_both(D: nn.Module, real: Tensor, fake: Tensor, joint: bool) -> tuple[Tensor, Tensor]:
    """D on real and fake; one batched call unless D normalises over the batch.

    The batch axis is the first, or the second for S stacked runs (``(S, B, ...)``).
    """
    if joint:
        axis = 1 if getattr(D, "seeds", None) else 0
        out = D(torch.cat([real, fake], dim=axis))  # scores of both halves; one per pack for a packed D
        m = pack_size(D)
        n_real, n_fake = real.shape[axis] // m, fake.shape[axis] // m
        real_out, fake_out = out.split((n_real, n_fake), dim=-1)  # views; backward is one cat
        return real_out, fake_out
    return D(real), D(fake)


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
) -> Tensor:
    """One discriminator/critic update; returns ``[loss, penalty, real stat, fake stat]``.

    The stats are mean D(x) and mean D(G(z)) for probabilistic objectives (the
    seed's D is the sigmoid of the logit), else the critic's mean scores.
    ``regularise=False`` leaves out the constraint's penalty on this step (lazy R1).
    For S stacked runs (:mod:`gankit.seeds`) every quantity has a leading axis
    of S, the result is ``(S, 4)``, and the losses are summed over runs, so
    each run's gradient is its own.
    """
    with torch.no_grad():
        fake = G(z)
    real_out, fake_out = _score_both(D, real, fake, joint)
    loss = objective.discriminator_loss(real_out, fake_out)  # scalar, or (S,)
    penalty = constraint.penalty(D, real, fake, generator) if regularise else None
    opt_d.zero_grad(set_to_none=True)
    (loss if penalty is None else loss + penalty).sum().backward()
    opt_d.step()
    constraint.after_step(D)
    with torch.no_grad():
        if objective.probabilistic:
            real_out, fake_out = torch.sigmoid(real_out), torch.sigmoid(fake_out)
        parts = [loss, torch.zeros_like(loss) if penalty is None else penalty, real_out.mean(-1), fake_out.mean(-1)]
        return torch.stack(parts, dim=-1).detach()  # (4,), or (S, 4)


def generator_step(
    G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, objective: Objective, z: Tensor
) -> Tensor:
    """One generator update; D's own weight gradients are not computed. Returns the loss (or S losses)."""
    D.requires_grad_(False)
    try:
        loss = objective.generator_loss(D(G(z)))
        opt_g.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt_g.step()
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


def build_networks(config: TrainConfig, sample_shape: tuple[int, ...], kind: str):
    """Generator, discriminator (constraint applied) and the constraint, from a resolved config."""
    G, D = build_models(
        config.model, sample_shape, config.noise_dim, g_hidden=config.g_hidden,
        d_hidden=config.d_hidden, activation=config.activation, g_batchnorm=config.g_batchnorm,
        d_norm=config.d_norm, width=config.width, image=kind == "image", pack=config.pack,
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
    """``runs/<data>-<objective>-s<seed>``, numbered when taken."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(config.data).stem or config.data)
    base = Path(root) / f"{stem}-{config.objective}-s{config.seed}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class _Window:
    """Device-side sums of the step statistics between two logging steps (no host sync per step)."""

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


class Trainer:
    """Runs the seed's loop for one :class:`TrainConfig` and writes a run folder.

    Args:
        config: the run's configuration.
        run_dir: the run folder (default: :func:`default_run_dir`).
        dataset: an already loaded data set (default: ``load_dataset(config.data, ...)``).
        callbacks: called at every logging step as ``callback(trainer, record)``;
            a callback may add entries to the record. With ``config.eval_every``
            the evaluation callback of :mod:`gankit.evaluation` is added.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        *,
        dataset: Dataset | None = None,
        callbacks: list[Callable[[Trainer, dict[str, Any]], None]] | None = None,
    ):
        self.device = pick_device(config.device)
        if dataset is None:
            dataset = load_dataset(config.data, data_dir=config.data_dir,
                                   options=config.data_options, seed=config.seed)
        self.dataset = dataset
        self.config = cfg = config.resolved(dataset.kind, dataset.sample_shape)
        self.run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
        self.callbacks = list(callbacks or [])
        with torch.random.fork_rng(devices=[]):  # seeded init without touching global state
            torch.manual_seed(cfg.seed)
            G, D, self.constraint = build_networks(cfg, dataset.sample_shape, dataset.kind)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.objective = get_objective(resolve_objective(cfg.objective))
        self.joint = not _has_batchnorm(self.D)
        self.opt_g = make_optimizer(self.G.parameters(), cfg.optimizer, cfg.g_lr, cfg.betas, cfg.momentum)
        self.opt_d = make_optimizer(self.D.parameters(), cfg.optimizer, cfg.d_lr, cfg.betas, cfg.momentum)
        self.batch = cfg.batch_size * cfg.pack  # samples per minibatch: M packs of m
        self.sampler = Sampler(dataset.x, self.batch, self.device, seed=cfg.seed + 1)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 2)
        self.step = 0
        self.records: list[dict[str, Any]] = []
        self.frames: list[Path] = []
        self._writer = None
        self._snapshot_cache: dict[str, Any] | None = None
        if cfg.eval_every:  # evaluation metrics in metrics.jsonl every eval_every iterations
            from .evaluation import make_eval_callback

            self.callbacks.append(make_eval_callback(self))

    # ------------------------------------------------------------------ helpers

    def noise(self, n: int) -> Tensor:
        """z ~ N(0, I), shape ``(n, noise_dim)``, from the run's own generator."""
        return torch.randn(n, self.config.noise_dim, device=self.device, generator=self.noise_generator)

    def sample(self, n: int, *, data_units: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """``n`` generated samples (eval mode, on the device), in data units unless told otherwise."""
        x = generate(self.G, n, noise_dim=self.config.noise_dim, seed=None, generator=generator)
        return self.dataset.scaler.to_data(x) if data_units else x

    def state_dict(self) -> dict[str, Any]:
        rng = {"sampler": self.sampler.state_dict()["generator"],
               "noise": self.noise_generator.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": 1,
            "step": self.step,
            "config": self.config.to_dict(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": rng,
            "data": {"name": self.dataset.name, "kind": self.dataset.kind,
                     "sample_shape": list(self.dataset.sample_shape),
                     "scaler_loc": list(self.dataset.scaler.loc),
                     "scaler_scale": list(self.dataset.scaler.scale)},
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
        self.sampler.load_state_dict({"generator": state["rng"]["sampler"]})
        self.noise_generator.set_state(state["rng"]["noise"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step = int(state["step"])

    def save(self) -> Path:
        return save_checkpoint(self.state_dict(), self.run_dir / CHECKPOINT)

    @classmethod
    def resume(cls, run_dir: str | Path, callbacks=None, dataset: Dataset | None = None,
               **overrides: Any) -> Trainer:
        """Continue the run in ``run_dir``; only the fields in RESUMABLE may change."""
        run_dir = Path(run_dir)
        state = load_checkpoint(run_dir / CHECKPOINT)
        saved = TrainConfig.from_dict(state["config"], source=str(run_dir / CHECKPOINT))
        wanted = TrainConfig.from_dict({**saved.to_dict(), **overrides})
        changed = {k: v for k, v in saved.differences(wanted).items() if k not in RESUMABLE}
        if changed:
            what = "; ".join(f"{k}: run has {a!r}, asked {b!r}" for k, a, b in
                             ((k, *v) for k, v in changed.items()))
            raise ValueError(f"cannot resume {run_dir}: {what}. Only {sorted(RESUMABLE)} may change; "
                             "start a new run for anything else")
        trainer = cls(wanted, run_dir, dataset=dataset, callbacks=callbacks)
        trainer.load_state_dict(state)
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists():
            trainer.records = [r for r in map(json.loads, metrics.read_text().splitlines())
                               if r.get("step", 0) <= trainer.step]
        trainer.frames = sorted((run_dir / "samples").glob("step_*.png"))
        return trainer

    # ------------------------------------------------------------------ the loop

    def fit(self, steps: int | None = None) -> nn.Module:
        """Train to ``config.iterations`` (or for at most ``steps`` more iterations) and return the generator.

        Stopping early with ``steps`` writes the checkpoint as an interrupted run
        would; :meth:`resume` then continues on the same schedule.
        """
        from tqdm.auto import tqdm

        cfg = self.config
        self._start()
        window = _Window(self.device)
        bar = tqdm(total=cfg.iterations, initial=self.step, disable=not cfg.progress,
                   desc=f"{cfg.objective} on {self.dataset.name}", unit="it", dynamic_ncols=True)
        tic, tic_step = time.perf_counter(), self.step
        stop = cfg.iterations if steps is None else min(cfg.iterations, self.step + steps)
        if self.step == 0 and cfg.snapshot_every:
            self.snapshot()
        try:
            while self.step < stop:
                t = self.step
                log_step = self._is_log_step(t)
                self._schedule(t)
                for k in range(cfg.d_steps):  # K critic steps, each on a fresh real minibatch and fresh noise
                    d_stats = discriminator_step(
                        self.G, self.D, self.opt_d, self.objective, self.constraint, self.sampler(),
                        self.noise(self.batch), joint=self.joint, generator=self.noise_generator,
                        regularise=self.constraint.due(t * cfg.d_steps + k),
                    )
                    window.add(d_stats, None, t)
                d_norm = _grad_norm(self.D) if log_step else None
                g_loss = generator_step(self.G, self.D, self.opt_g, self.objective, self.noise(self.batch))
                window.add(None, g_loss, t)
                self.step = t + 1
                bar.update(1)
                if log_step:
                    now = time.perf_counter()
                    record = self._log(window, d_norm, _grad_norm(self.G), (self.step - tic_step) / (now - tic))
                    bar.set_postfix_str(self._postfix(record), refresh=False)
                    tic, tic_step = time.perf_counter(), self.step
                if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                    self.snapshot()
                if self.step % cfg.checkpoint_every == 0 and self.step < stop:
                    self._check_finite(window)
                    self.save()
            self._check_finite(window)
            self.save()
        finally:
            bar.close()
            if self._writer is not None:
                self._writer.flush()
        if self.step == cfg.iterations:
            self.finish()
        return self.G

    def _schedule(self, t: int) -> None:
        """Set both learning rates for iteration ``t`` (a function of t alone, so resume is exact)."""
        cfg = self.config
        if cfg.lr_schedule != "constant":
            factor = lr_factor(cfg.lr_schedule, t, cfg.iterations)
            set_lr(self.opt_d, cfg.d_lr * factor)
            set_lr(self.opt_g, cfg.g_lr * factor)

    def _is_log_step(self, t: int) -> bool:
        return (t + 1) % self.config.log_every == 0 or t + 1 == self.config.iterations

    def _start(self) -> None:
        """Refuse to overwrite a finished run; write the config and the metrics kept so far."""
        if self.step == 0 and (self.run_dir / CHECKPOINT).exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; continue it with --resume "
                                  f"{self.run_dir}, or choose another --out (or --overwrite)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.save(self.run_dir / "config.json")
        self._write_metrics(rewrite=True)

    def _kept(self) -> str:
        ckpt = self.run_dir / CHECKPOINT
        return f"the last good checkpoint {ckpt} is kept" if ckpt.exists() else "no checkpoint was written"

    def _check_finite(self, window: _Window) -> None:
        bad = int(window.bad_step)
        if bad >= 0:
            kept = self._kept()
            raise NonFiniteLossError(
                f"non-finite loss at iteration {bad + 1} ({self.config.objective}, lr {self.config.lr:g}); "
                f"{kept}. Lower the learning rate or use a constraint."
            )

    def _log(self, window: _Window, d_norm: Tensor, g_norm: Tensor, rate: float) -> dict[str, Any]:
        self._check_finite(window)
        d = (window.d / max(window.d_count, 1)).tolist()  # the host sync of this interval
        g = float(window.g) / max(window.g_count, 1)
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
            record["w1_estimate"] = d[2] - d[3]
        record["grad_norm_d"], record["grad_norm_g"] = d_norm, g_norm
        record["it_per_s"] = rate
        return record

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Run the callbacks on a metrics line, keep it and append it to ``metrics.jsonl``."""
        for callback in self.callbacks:
            callback(self, record)
        self.records.append(record)
        self._write_metrics(record)
        return record

    @staticmethod
    def _postfix(record: dict[str, Any]) -> str:
        keys = ("d_loss", "g_loss", "d_real", "d_fake", "w1_estimate")
        return " ".join(f"{k}={record[k]:.3g}" for k in keys if k in record)

    def _write_metrics(self, record: dict[str, Any] | None = None, rewrite: bool = False) -> None:
        path = self.run_dir / "metrics.jsonl"
        if rewrite:  # a resumed run drops lines logged after its checkpoint
            path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
            return
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.config.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, record["step"])

    # ------------------------------------------------------------------ pictures

    def snapshot_inputs(self) -> dict[str, Any]:
        """Fixed noise and a fixed real subset, drawn from their own seeds once."""
        if self._snapshot_cache is None:
            g = torch.Generator(device=self.device).manual_seed(self.config.seed + 3)
            image = self.dataset.kind == "image"
            n = 64 if image else 1000
            z = torch.randn(n, self.config.noise_dim, device=self.device, generator=g)
            idx = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.config.seed + 4))[:n]
            real = self.dataset.scaler.to_data(self.dataset.x[idx]).numpy()
            cache: dict[str, Any] = {"z": z, "real": real}
            if not image:
                lo, hi = real.min(0), real.max(0)
                pad = 0.35 * (hi - lo) + 1e-3
                cache["bounds"] = (lo - pad, hi + pad)
            self._snapshot_cache = cache
        return self._snapshot_cache

    @torch.no_grad()
    def snapshot(self) -> Path:
        """Save a picture of the current samples: over D's heat map (points) or a grid (images)."""
        inputs = self.snapshot_inputs()
        G, scaler = self.G, self.dataset.scaler
        g_mode = G.training
        G.eval()
        try:
            fake_model = G(inputs["z"])
            fake = scaler.to_data(fake_model).cpu().numpy()
            path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
            if self.dataset.kind == "image":
                viz.save_image_grid((fake_model.cpu().numpy() + 1) / 2, path, nrow=8, scale=2)
            else:
                fig = viz.new_figure(5.6, 4.6)
                viz.draw_points_snapshot(fig.add_subplot(), inputs["real"], fake, self.heat_map(),
                                         probabilistic=self.objective.probabilistic,
                                         title=f"{self.config.objective}  iteration {self.step}")
                viz.save(fig, path)
        finally:
            G.train(g_mode)
        self.frames.append(path)
        return path

    def heat_map(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
        """D(x) (or the critic's f(x)) on a mesh over the snapshot frame, in data units, in eval mode.

        Returns ``(xs, ys, scores)`` for 2-D data (scores ``(len(ys), len(xs))``),
        ``(xs, None, scores)`` for 1-D data, and None for images or more dimensions.
        """
        inputs = self.snapshot_inputs()
        if "bounds" not in inputs or inputs["real"].shape[1] > 2:
            return None
        lo, hi = inputs["bounds"]
        if inputs["real"].shape[1] == 1:
            xs, ys = np.linspace(lo[0], hi[0], 200), None
            pts = xs[:, None]  # (200, 1)
        else:
            xs, ys = np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120)
            gx, gy = np.meshgrid(xs, ys)  # (len(ys), len(xs))
            pts = np.stack([gx.ravel(), gy.ravel()], 1)  # (len(ys) * len(xs), 2)
        x = self.dataset.scaler.to_model(torch.as_tensor(pts, dtype=torch.float32))
        scores = discriminator_scores(self.D, x)
        if self.objective.probabilistic:
            scores = 1 / (1 + np.exp(-scores))  # the seed's D(x) = sigmoid(logit)
        return xs, ys, scores if ys is None else scores.reshape(len(ys), len(xs))

    def finish(self) -> None:
        """Final pictures: the last snapshot as samples.png, the GIF and the curves."""
        import shutil

        if self.frames and self.frames[-1].exists():
            shutil.copyfile(self.frames[-1], self.run_dir / "samples.png")
        if self.dataset.kind != "image" and len(self.frames) > 1:
            viz.make_gif(self.frames, self.run_dir / "training.gif")
        if self.records:
            keys = ["d_loss", "g_loss", "d_real", "d_fake", "w1_estimate", "penalty", "grad_norm_g", "grad_norm_d"]
            viz.plot_curves(self.records, keys, self.run_dir / "curves.png",
                            title=f"{self.config.objective} on {self.dataset.name}")


def resolve_objective(name: str) -> str:
    """The game of a preset or bare objective name."""
    return resolve(name).objective


def train(config: TrainConfig, run_dir: str | Path | None = None, **kwargs: Any) -> tuple[nn.Module, Path]:
    """Train a GAN as ``config`` says; returns the trained generator and its run folder.

    Example:
        >>> from gankit import TrainConfig, train
        >>> G, run = train(TrainConfig(data="ring", objective="wgan", iterations=10,
        ...                            progress=False, tensorboard=False))  # doctest: +SKIP
    """
    trainer = Trainer(config, run_dir, **kwargs)
    return trainer.fit(), trainer.run_dir


def load_generator(run_dir: str | Path, device: str = "auto") -> tuple[nn.Module, dict[str, Any]]:
    """The trained generator of a run folder (eval mode) and the checkpoint's data info.

    The info holds ``kind``, ``sample_shape``, the :class:`Scaler` under
    ``scaler`` and the resolved config under ``config``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).exists():
        raise FileNotFoundError(f"{run_dir}: no generator here (expected {CHECKPOINT}); is it a gankit run folder?")
    state = load_checkpoint(run_dir / CHECKPOINT)
    config = TrainConfig.from_dict(state["config"])
    data = state["data"]
    shape = tuple(data["sample_shape"])
    with torch.random.fork_rng(devices=[]):
        G, D, _ = build_networks(config, shape, data["kind"])
    load_weights(G, state["generator"], "generator")
    load_weights(D, state["discriminator"], "discriminator")
    dev = pick_device(device)
    info = {**data, "sample_shape": shape, "config": config, "step": state["step"],
            "scaler": Scaler(tuple(data["scaler_loc"]), tuple(data["scaler_scale"])),
            "discriminator": D.to(dev).eval()}
    return G.to(dev).eval(), info
