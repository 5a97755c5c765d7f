r"""One live run of ``gankit explore``: gankit's own Trainer, stepped by hand, and what the page shows of it.

A :class:`LiveRun` holds a :class:`gankit.training.Trainer` built with
``parts=[]`` (nothing written) and advances it with the Trainer's own steps:
:meth:`~gankit.training.Trainer.critic_step` (one of the K critic updates of
the seed's loop) and :meth:`~gankit.training.Trainer.generator_step`. Whole
iterations draw exactly what :meth:`Trainer.fit` draws, so a run explored for
T iterations holds the same weights as ``gankit train`` with the same config.

The views (:meth:`LiveRun.frame`) use their own noise and never the run's
random streams:

* the fixed real subset and the generated samples of a fixed noise batch, in data units;
* the discriminator's :math:`D(x) = \sigma(\text{logit})` (or the critic's :math:`f(x)`) on a mesh
  (a square of points in 2-D, a line in 1-D); a packed critic (PacGAN, :math:`m > 1` samples an
  input) as :math:`D(x, x_2, \dots, x_m)` with :math:`x` in the first slot and the others the generated
  samples of the first :math:`m - 1` fixed noise vectors;
* for a subset of the fakes, the direction the generator's step pushes each one,
  :math:`-\nabla_x \ell_G(D(\cdot))` with :math:`\ell_G` the generator's loss of the sample's input
  (the sample, or its pack of :math:`m` consecutive fakes);
* the generator's image of a grid of noise (its manifold; with 1-D data and noise the map
  :math:`z \mapsto x`), and in 1-D the generated samples' kernel density;
* every ``metrics`` tick: the losses, the critic's W1 estimate
  :math:`\bar f(\text{real}) - \bar f(\text{fake})` (WGAN) or the discriminator's JS estimate
  :math:`\log 2 - L_D / 2` (GAN; both left out for a packed critic, whose loss and gap measure the
  packs' distance), exact W1 (optimal transport) and the
  k-NN JS estimate between ``N_DISTANCE`` of the shown samples and as many real ones, modes
  and high-quality share on a known mixture, and the histogram of the critic's weights
  (clipping piles them at :math:`\pm c`).
"""

from __future__ import annotations

import base64
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..config import TrainConfig
from ..data import Dataset
from ..divergences import js_from_discriminator_loss, js_samples, wasserstein
from ..metrics import mixture_coverage
from ..models import eval_mode, pack_size
from ..objectives import resolve
from ..training import NonFiniteLossError, Trainer, Window, grad_norm
from .views import MANIFOLD, Z_RANGE, ViewInputs

N_ARROWS = 120  # fakes with a gradient arrow
N_DISTANCE = 300  # samples of each side in exact W1 and JS (exact optimal transport costs about n^3)
HISTOGRAM_BINS = 40
MAX_SAMPLES = 1024  # samples of one minibatch: M packs of m (the bound of one step's cost, as batch_size's)


@dataclasses.dataclass(frozen=True)
class Settings:
    """One run's controls; None takes the preset's value for 2-D points (``gankit.presets.PRESETS``).

    ``width`` and ``depth`` set both MLPs (``depth`` hidden layers of ``width`` units); their input and
    output sizes follow the data (1-D or 2-D points). ``pack`` is PacGAN's m: the discriminator scores m
    samples at once, and a minibatch holds M packs of m samples (at most :data:`MAX_SAMPLES`).
    """

    objective: str = "gan"
    d_steps: int | None = None
    clip: float = 0.01
    gp_weight: float | None = None
    r1_gamma: float | None = None
    g_lr: float | None = None
    d_lr: float | None = None
    optimizer: str | None = None
    width: int | None = None
    depth: int | None = None
    noise_dim: int = 2
    batch_size: int | None = None
    iterations: int | None = None
    lr_schedule: str | None = None
    pack: int | None = None

    def config(self, data: str, data_options: dict[str, Any], seed: int, device: str) -> TrainConfig:
        """The run's :class:`TrainConfig` (unresolved: the Trainer fills in the preset); ``ValueError`` if its
        minibatch would hold more than :data:`MAX_SAMPLES` samples."""
        base = preset_values(self.objective)
        hidden = None
        if self.width is not None or self.depth is not None:
            hidden = (self.width or base["width"],) * (self.depth or base["depth"])
        batch, pack = self.batch_size or base["batch_size"], self.pack or base["pack"]
        if batch * pack > MAX_SAMPLES:
            raise ValueError(f"batch M {batch} x pack m {pack} = {batch * pack} samples a step; at most "
                             f"{MAX_SAMPLES} (lower M or m)")
        return TrainConfig(
            data=data, data_options=dict(data_options), objective=self.objective, d_steps=self.d_steps,
            clip=self.clip, gp_weight=self.gp_weight, r1_gamma=self.r1_gamma, g_lr=self.g_lr, d_lr=self.d_lr,
            optimizer=self.optimizer, g_hidden=hidden, d_hidden=hidden, noise_dim=self.noise_dim,
            batch_size=self.batch_size, iterations=self.iterations, lr_schedule=self.lr_schedule, pack=self.pack,
            seed=seed, device=device, progress=False, tensorboard=False,
        )


def preset_values(objective: str) -> dict[str, Any]:
    """The value of every :class:`Settings` control under ``objective``'s preset for points (for the page)."""
    preset = resolve(objective)
    s = preset.settings("points")
    widths = s["g_hidden"]
    return {"objective": objective, "d_steps": s["d_steps"], "clip": 0.01, "gp_weight": s["gp_weight"],
            "r1_gamma": s["r1_gamma"], "g_lr": s["lr"], "d_lr": s["lr"], "optimizer": preset.optimizer,
            "width": widths[0], "depth": len(widths), "noise_dim": 2, "batch_size": s["batch_size"],
            "iterations": s["iterations"], "lr_schedule": s["lr_schedule"], "pack": s["pack"],
            "constraint": preset.constraint}


def packed(x: np.ndarray | Tensor) -> str:
    """An array as base64 of its float32 bytes, row-major (the page reads it as a ``Float32Array``)."""
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def unpacked(text: str, columns: int = 2) -> np.ndarray:
    """The inverse of :func:`packed`, as ``(n, columns)``."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(-1, columns)


class LiveRun:
    """A Trainer advanced one critic step, one generator step or one iteration at a time.

    Args:
        name: ``"a"`` or ``"b"``.
        settings: the controls.
        dataset: the data (1-D or 2-D points).
        data: the config's ``data`` (a name or a file) and ``data_options``.
        seed: the run's seed.
        inputs: the shared view inputs.
        device: where the networks train.
    """

    def __init__(self, name: str, settings: Settings, dataset: Dataset, data: tuple[str, dict[str, Any]],
                 seed: int, inputs: ViewInputs, device: str = "cpu"):
        self.name, self.settings, self.inputs = name, settings, inputs
        config = settings.config(data[0], data[1], seed, device)
        self.trainer = Trainer(config, dataset=dataset, parts=[])
        cfg = self.trainer.config
        self.scale = torch.tensor(dataset.scaler.scale, dtype=torch.float32)  # data units per model unit
        self.z, self.z_grid = (t.to(self.trainer.device) for t in inputs.noise(cfg.noise_dim))
        self.pack = pack_size(self.trainer.D)  # samples per critic input (PacGAN's m)
        self.dim = inputs.dim
        self.k = 0  # critic steps taken in the current iteration
        self.window = Window(self.trainer.device)  # the steps' statistics since the last point of the curves
        self._tick_step, self._tick_time = 0, time.perf_counter()
        self.history: list[dict[str, Any]] = []

    # -- stepping

    @property
    def config(self) -> TrainConfig:
        return self.trainer.config

    @property
    def step(self) -> int:
        return self.trainer.step

    @property
    def finished(self) -> bool:
        return self.trainer.step >= self.config.iterations

    def d_step(self) -> None:
        """One critic update of the current iteration (more than K are allowed: D trains on)."""
        t = self.trainer
        if self.k == 0:
            t.schedule(t.step)
        self.window.add(t.critic_step(t.step, self.k), None, t.step)
        self.k += 1

    def g_step(self) -> None:
        """The generator update that ends the iteration (after however many critic steps were taken)."""
        t = self.trainer
        if self.k == 0:
            t.schedule(t.step)
        self.window.add(None, t.generator_step(), t.step)
        t.end_iteration()
        self.k = 0

    def iteration(self) -> None:
        """The rest of the current iteration: the remaining of K critic steps, then the generator's."""
        while self.k < self.config.d_steps:
            self.d_step()
        self.g_step()

    # -- views

    def check_finite(self) -> None:
        """Refuse to draw a run whose losses became NaN or infinite (it diverged): one host sync."""
        bad = int(self.window.bad_step)
        if bad >= 0:
            raise NonFiniteLossError(f"run {self.name}: a loss became NaN or infinite at iteration {bad + 1} "
                                     f"({self.config.objective}); lower the learning rates or add a constraint, "
                                     "then reset")

    def _arrows(self, fake_model: Tensor) -> np.ndarray:
        """``-d l_G / d x`` at each of the first N_ARROWS fakes (a whole number of packs), in data units: the
        direction G's step pushes each one, through the generator's loss of its input (its pack)."""
        t = self.trainer
        x = fake_model[: N_ARROWS // self.pack * self.pack].detach().clone().requires_grad_(True)
        with eval_mode(t.D):
            out = t.D(x)
            loss = t.objective.generator_loss(out) * len(out)  # the mean over the inputs, times their number
        (grad,) = torch.autograd.grad(loss, x)
        return (-grad.cpu() * self.scale).numpy()

    def _critic_inputs(self, others: Tensor) -> Tensor:
        """The mesh as the critic's inputs: each point alone, or (packed) each point in the first slot of a pack
        whose other ``m - 1`` slots hold ``others``, consecutive as :class:`~gankit.models.Packed` groups them."""
        mesh = self.inputs.mesh_model.to(self.trainer.device)
        if self.pack == 1:
            return mesh
        rest = others.expand(len(mesh), *others.shape)  # (n, m - 1, d)
        return torch.cat([mesh[:, None], rest], dim=1).reshape(-1, mesh.shape[1])

    @torch.no_grad()
    def _heat(self, others: Tensor) -> tuple[np.ndarray, float, float]:
        """D (probabilistic objectives, in [0, 1]) or f on the mesh (:meth:`_critic_inputs`), as bytes 0..255,
        with its range."""
        t = self.trainer
        with eval_mode(t.D):
            out = t.D(self._critic_inputs(others)).reshape(-1).double().cpu()
        if t.objective.probabilistic:
            values, lo, hi = torch.sigmoid(out).numpy(), 0.0, 1.0
        else:
            values = out.numpy()
            lo, hi = float(values.min()), float(values.max())
        span = hi - lo if hi > lo else 1.0
        return np.clip(np.round((values - lo) / span * 255), 0, 255).astype(np.uint8), lo, hi

    def critic_weights(self) -> np.ndarray:
        """All the critic's weight matrices' entries (no biases), flattened."""
        return torch.cat([p.detach().reshape(-1).cpu() for n, p in self.trainer.D.named_parameters()
                          if p.ndim > 1]).numpy()

    def frame(self, metrics: bool = False) -> dict[str, Any]:
        """The views of the current state (JSON-ready); ``metrics`` adds the slower numbers and the histogram.

        Every frame has the fakes, G's push on them, the manifold and D on the mesh (``heat``: bytes over
        ``heat_range``), and ``pack``; a packed critic's frame also the samples in its other slots
        (``pack_others``); a 1-D frame also the fakes' density on the mesh (``density``) and, with 1-D
        noise, the noise line's range (``z_range``: the manifold is G on it).
        """
        self.check_finite()
        t = self.trainer
        scaler = t.dataset.scaler
        with torch.no_grad(), eval_mode(t.G_eval):
            fake_model = t.G_eval(self.z)
            manifold = scaler.to_data(t.G_eval(self.z_grid)).cpu().numpy()
        fake = scaler.to_data(fake_model).cpu().numpy()
        others = fake_model[: self.pack - 1]
        heat, lo, hi = self._heat(others)
        out: dict[str, Any] = {
            "step": t.step, "k": self.k, "iterations": self.config.iterations, "finished": self.finished,
            "fake": packed(fake), "arrows": packed(self._arrows(fake_model)),
            "manifold": packed(manifold), "manifold_shape": self._manifold_shape(),
            "heat": base64.b64encode(heat.tobytes()).decode(), "heat_size": self.inputs.heat_size,
            "heat_range": [lo, hi], "probabilistic": t.objective.probabilistic, "pack": self.pack,
        }
        if self.pack > 1:
            out["pack_others"] = packed(fake[: self.pack - 1])
        if self.dim == 1:
            out["density"] = packed(self.inputs.fake_density(fake))
            if self.config.noise_dim == 1:
                out["z_range"] = [-Z_RANGE, Z_RANGE]
        if metrics:
            out["metrics"] = self.metrics(fake)
            out["histogram"] = self.histogram()
        return out

    def _manifold_shape(self) -> list[int]:
        return [len(self.z_grid)] if self.config.noise_dim == 1 else [MANIFOLD, MANIFOLD]

    def metrics(self, fake: np.ndarray) -> dict[str, Any]:
        """One point of the curves: distances between the shown samples and, when D and G both stepped since the
        last point, the Trainer's own metrics line of those steps (:meth:`~gankit.training.Trainer.make_record`)."""
        t, w = self.trainer, self.window
        now = time.perf_counter()
        rate = (t.step - self._tick_step) / max(now - self._tick_time, 1e-9)
        self._tick_step, self._tick_time = t.step, now
        record: dict[str, Any] = {"step": t.step, "it_per_s": rate}
        if w.d_count and w.g_count:
            d, g = (w.d / w.d_count).tolist(), float(w.g) / w.g_count
            w.reset()
            record = t.make_record(d, g, float(grad_norm(t.D)), float(grad_norm(t.G)), rate)
            if self.pack > 1:  # a packed critic's gap measures the packs' distance, not the samples'
                record.pop("w1_estimate", None)
            elif t.objective.probabilistic:  # the seed's bound: JS >= log 2 - L_D / 2, equal at the optimal D
                record["js_from_d"] = js_from_discriminator_loss(record["d_loss"])
        if np.isfinite(fake).all():
            fake_n, real_n = fake[:N_DISTANCE], self.inputs.real[:N_DISTANCE]
            record["w1"] = float(wasserstein(fake_n, real_n))
            record["js"] = float(js_samples(fake_n, real_n))
            mixture = t.dataset.mixture
            if mixture is not None:
                cover = mixture_coverage(fake, mixture)
                record["modes"], record["n_modes"] = cover["modes"], cover["n_modes"]
                record["high_quality"] = cover["high_quality"]
        self.history.append(record)
        return record

    def histogram(self) -> dict[str, Any]:
        """The critic's weights over ``[-c, c]`` under clipping, else over their own range."""
        w = self.critic_weights()
        if self.config.constraint == "clip":
            edge = self.config.clip
        else:
            edge = float(np.abs(w).max()) if len(w) else 1.0
        counts, _ = np.histogram(w, bins=HISTOGRAM_BINS, range=(-edge * 1.05, edge * 1.05))
        return {"counts": counts.tolist(), "edge": edge * 1.05, "clip": self.config.constraint == "clip",
                "c": self.config.clip}

    # -- keeping

    def save(self, run_dir: Path, data: str | None = None) -> Path:
        """Write a normal run folder (``gankit sample``, ``eval`` and ``train --resume`` accept it).

        ``data`` replaces the config's data (a copy of an uploaded or drawn set kept in the folder).
        The config's T stays the run's: resuming continues the schedule to T.
        """
        if data is not None:
            self.trainer.relabel(data)
        return self.trainer.write_folder(run_dir, records=self.history)
