"""The pictures of a run: snapshots of the samples (over D's heat map, or image grids), the GIF, the curves.

A part of the training loop (:class:`gankit.training.Trainer` calls its hooks);
under torchrun only rank 0 has one.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import viz
from .models import eval_mode
from .sampling import discriminator_scores, n_classes
from .streams import offset
from .writing import atomic_path, remove_partial_writes

CURVES = ("d_loss", "g_loss", "d_real", "d_fake", "w1_estimate", "penalty", "grad_norm_g", "grad_norm_d")


class Pictures:
    """Snapshots every ``config.snapshot_every`` iterations, at iteration 0 (when a later one is due before
    the end) and at the last iteration, then the final pictures.

    Attributes:
        frames: the snapshot files so far.
    """

    def __init__(self, frames: list[Path] | None = None):
        self.frames: list[Path] = list(frames or [])
        self._inputs: dict[str, Any] | None = None

    # -- the hooks of the loop (gankit.training.hooks.Hook)

    def start(self, trainer: Any) -> None:
        remove_partial_writes(trainer.run_dir / "samples")  # snapshots a killed run left half written
        every = trainer.config.snapshot_every
        if trainer.step == 0 and every and every < trainer.config.iterations:  # a first frame for the GIF
            self.snapshot(trainer)

    def record(self, trainer: Any, record: dict[str, Any]) -> None:
        pass

    def save(self, trainer: Any, state: dict[str, Any]) -> None:
        pass

    def close(self, trainer: Any) -> None:
        pass

    def step(self, trainer: Any) -> None:
        every = trainer.config.snapshot_every
        if every and trainer.step % every == 0:
            self.snapshot(trainer)

    def finish(self, trainer: Any) -> None:
        """The last snapshot (taken now unless it is of this iteration) as samples.png, the GIF of the snapshots
        and the curves."""
        run_dir = trainer.run_dir
        if trainer.config.snapshot_every and (not self.frames or self.frames[-1] != self._path(trainer)):
            self.snapshot(trainer)
        if self.frames and self.frames[-1].exists():
            with atomic_path(run_dir / "samples.png") as tmp:
                shutil.copyfile(self.frames[-1], tmp)
        if trainer.dataset.kind != "image" and len(self.frames) > 1:
            viz.make_gif(self.frames, run_dir / "training.gif")
        if trainer.records:
            viz.plot_curves(trainer.records, list(CURVES), run_dir / "curves.png",
                            title=f"{trainer.config.objective} on {trainer.dataset.name}")

    # -- pictures

    def inputs(self, trainer: Any) -> dict[str, Any]:
        """Fixed noise and a fixed real subset, drawn from their own seeds once."""
        if self._inputs is None:
            cfg, ds = trainer.config, trainer.dataset
            g = torch.Generator(device=trainer.device).manual_seed(cfg.seed + offset("snapshot-noise"))
            image = ds.kind == "image"
            n = 64 if image else 1000
            C = n_classes(trainer.G)
            labels = None
            if C:  # images: a row of 8 per class (at most 32 classes shown); points: classes in turn
                labels = (torch.arange(min(C, 32)).repeat_interleave(8) if image else torch.arange(n) % C)
                n = len(labels)
                labels = labels.to(trainer.device)
            z = torch.randn(n, cfg.noise_dim, device=trainer.device, generator=g)
            idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(cfg.seed + offset("snapshot-real")))
            real = ds.scaler.to_data(ds.x[idx[:n]]).numpy()
            cache: dict[str, Any] = {"z": z, "real": real, "labels": labels}
            if not image:
                lo, hi = real.min(0), real.max(0)
                pad = 0.35 * (hi - lo) + 1e-3
                cache["bounds"] = (lo - pad, hi + pad)
            self._inputs = cache
        return self._inputs

    @torch.no_grad()
    def snapshot(self, trainer: Any) -> Path:
        """Save a picture of the current samples: over D's heat map (points) or a grid (images)."""
        inputs = self.inputs(trainer)
        G, scaler = trainer.G_eval, trainer.dataset.scaler
        path = self._path(trainer)
        with eval_mode(G):
            fake_model = G(inputs["z"]) if inputs["labels"] is None else G(inputs["z"], inputs["labels"])
            fake = scaler.to_data(fake_model).cpu().numpy()
            if trainer.dataset.kind == "image":
                images = (fake_model.cpu().numpy() + 1) / 2  # (n, C, H, W) in [0, 1]
                viz.save_image_grid(images, path, nrow=8, scale=2)
                folder = getattr(trainer, "folder", None)
                if folder is not None:
                    folder.add_image("samples", viz.image_grid(images, 8), trainer.step)
            else:
                fig = viz.points_snapshot(inputs["real"], fake, self.heat_map(trainer),
                                          probabilistic=trainer.objective.probabilistic,
                                          title=f"{trainer.config.objective}  iteration {trainer.step}")
                viz.save(fig, path)
        self.frames.append(path)
        return path

    @staticmethod
    def _path(trainer: Any) -> Path:
        return trainer.run_dir / "samples" / f"step_{trainer.step:07d}.png"

    def heat_map(self, trainer: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
        """D(x) (or the critic's f(x)) on a mesh over the snapshot frame, in data units, in eval mode.

        Returns ``(xs, ys, scores)`` for 2-D data (scores ``(len(ys), len(xs))``),
        ``(xs, None, scores)`` for 1-D data, and None for images or more dimensions.
        """
        inputs = self.inputs(trainer)
        if "bounds" not in inputs or inputs["real"].shape[1] > 2 or inputs["labels"] is not None:
            return None  # no map for images, more dimensions, or a class-conditional D (a map per class)
        lo, hi = inputs["bounds"]
        if inputs["real"].shape[1] == 1:
            xs, ys = np.linspace(lo[0], hi[0], 200), None
            pts = xs[:, None]  # (200, 1)
        else:
            xs, ys = np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120)
            gx, gy = np.meshgrid(xs, ys)  # (len(ys), len(xs))
            pts = np.stack([gx.ravel(), gy.ravel()], 1)  # (len(ys) * len(xs), 2)
        x = trainer.dataset.scaler.to_model(torch.as_tensor(pts, dtype=torch.float32))
        scores = discriminator_scores(trainer.D, x)
        if trainer.objective.probabilistic:
            from .divergences import discriminator_probability  # here: the package loads scipy

            scores = discriminator_probability(scores)  # the seed's D(x) = sigmoid(logit)
        return xs, ys, scores if ys is None else scores.reshape(len(ys), len(xs))


__all__ = ["Pictures"]
