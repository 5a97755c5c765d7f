"""The one-call API: train a run with everything its config asks for attached.

It sits above the training loop and the evaluation, so that neither imports
the other: :class:`gankit.training.Trainer` runs the loop, and
:func:`gankit.evaluation.attach_evaluation` adds the metrics of ``eval_every``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from .config import TrainConfig
from .evaluation import attach_evaluation
from .training import Trainer


def make_trainer(config: TrainConfig, run_dir: str | Path | None = None, **kwargs: Any) -> Trainer:
    """A :class:`Trainer` for ``config`` with evaluation attached when ``config.eval_every`` asks for it."""
    return attach_evaluation(Trainer(config, run_dir, **kwargs))


def train(config: TrainConfig, run_dir: str | Path | None = None, **kwargs: Any) -> tuple[nn.Module, Path]:
    """Train a GAN as ``config`` says; returns the trained generator and its run folder.

    Example:
        >>> from gankit import TrainConfig, train
        >>> G, run = train(TrainConfig(data="ring", objective="wgan", iterations=10,
        ...                            progress=False, tensorboard=False))  # doctest: +SKIP
    """
    trainer = make_trainer(config, run_dir, **kwargs)
    return trainer.fit(), trainer.run_dir


__all__ = ["make_trainer", "train"]
