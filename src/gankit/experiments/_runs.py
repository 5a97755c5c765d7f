"""What the training experiments share: small seeded runs, fixed draws, scores, rank correlation.

Every experiment that trains a network does it through :class:`gankit.training.Trainer`
in a run folder under its own output folder (``OUT/runs/<name>``), with snapshots,
TensorBoard and the progress bar off, and reads what it needs at the logging steps
through a callback. Evaluation draws (real and generated) come from their own seeds, so
they never disturb the run's random streams and a rerun gives the same numbers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

from gankit.config import TrainConfig
from gankit.data import Dataset
from gankit.runfolder import replace_run
from gankit.training import Trainer

log = logging.getLogger(__name__)

Callback = Callable[[Trainer, dict[str, Any]], None]


def small_config(
    objective: str,
    data: str,
    *,
    seed: int,
    iterations: int,
    width: int = 256,
    depth: int = 3,
    log_every: int | None = None,
    **overrides: Any,
) -> TrainConfig:
    """A quiet :class:`TrainConfig` for an experiment: MLPs of ``depth`` layers of ``width``.

    The objective's preset supplies the optimiser, learning rate, K and the constraint
    (the papers' settings) unless ``overrides`` say otherwise. Snapshots, TensorBoard,
    the progress bar and intermediate checkpoints are off.
    """
    hidden = (int(width),) * int(depth)
    fields: dict[str, Any] = {
        "data": data, "objective": objective, "seed": int(seed), "iterations": int(iterations),
        "g_hidden": hidden, "d_hidden": hidden,
        "log_every": int(log_every or max(1, iterations // 10)),
        "snapshot_every": 0, "checkpoint_every": int(iterations), "tensorboard": False, "progress": False,
    }
    fields.update(overrides)
    return TrainConfig(**fields)


def fit_run(
    run_dir: str | Path,
    config: TrainConfig,
    *,
    callbacks: Sequence[Callback] = (),
    dataset: Dataset | None = None,
) -> Trainer:
    """Train ``config`` into a fresh run folder ``run_dir`` and return the trainer.

    A run folder left by an earlier call is replaced: rerunning an experiment reruns
    its training (a folder that is not a gankit run is refused, and only a run's files are removed).
    """
    run_dir = Path(run_dir)
    replace_run(run_dir, f"experiment run {run_dir}")
    trainer = Trainer(config, run_dir, dataset=dataset, callbacks=list(callbacks))
    trainer.fit()
    return trainer


def real_draw(dataset: Dataset, n: int, seed: int) -> Tensor:
    """``n`` real samples in data units from their own seed, on the CPU.

    A data set with a known mixture gives a *fresh* draw from the distribution (points
    the discriminator has never seen); any other gives a random subset of the data.
    """
    g = torch.Generator().manual_seed(int(seed))
    if dataset.mixture is not None:
        return dataset.mixture.sample(int(n), g)
    idx = torch.randperm(len(dataset), generator=g)[: int(n)]
    return dataset.scaler.to_data(dataset.x[idx])


def fake_draw(trainer: Trainer, n: int, seed: int) -> Tensor:
    """``n`` generated samples in data units from a noise seed of their own, on the CPU."""
    g = torch.Generator(device=trainer.device).manual_seed(int(seed))
    return trainer.sample(int(n), generator=g).cpu()


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    r"""Spearman's rank correlation of two series (scipy), NaN when either is constant.

    .. math::
        \rho = \mathrm{corr}(\mathrm{rank}(a), \mathrm{rank}(b))
    """
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a_arr) < 3 or np.ptp(a_arr) == 0 or np.ptp(b_arr) == 0:
        return math.nan
    return float(spearmanr(a_arr, b_arr).statistic)


def finite(value: float) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite (for tables)."""
    value = float(value)
    return value if math.isfinite(value) else None
