"""The one-call API: train a run (or S seeds of it, or continue one) with everything its config asks for.

It sits above the training loop and the evaluation, so that neither imports
the other: :class:`gankit.training.Trainer` runs the loop, and
:func:`gankit.evaluation.attach_evaluation` adds the metrics of ``eval_every``.
``gankit train`` parses its flags and calls :func:`session`; everything it does
with them (seeds, resume, overwrite, torchrun) is done here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from .config import TrainConfig
from .distributed import Ranks
from .objectives import Objective
from .runfolder import SEEDS_FILE, check_replaceable, clear
from .runlock import RunLock
from .seeds import SeedsInTurn, SeedsTrainer, resume_seeds, seeds_trainer
from .training import Network, Trainer
from .writing import check_writable

log = logging.getLogger("gankit")


def with_evaluation(trainer: Trainer | SeedsTrainer | SeedsInTurn) -> Trainer | SeedsTrainer | SeedsInTurn:
    """``trainer`` with evaluation attached where its config asks for it (``eval_every``); the evaluation
    stack (metrics, classifier, figures) is imported only then, so a run without it starts sooner. Seeds
    trained in turn get it on each seed's trainer as it is built."""
    if isinstance(trainer, SeedsInTurn):
        trainer.prepare = with_evaluation
        return trainer
    runs = getattr(trainer, "runs", None) or [trainer]
    if any(run.config.eval_every for run in runs):
        from .evaluation import attach_evaluation

        attach_evaluation(trainer)
    return trainer


def make_trainer(config: TrainConfig, run_dir: str | Path | None = None, **kwargs: Any) -> Trainer:
    """A :class:`Trainer` for ``config`` with evaluation attached when ``config.eval_every`` asks for it."""
    return with_evaluation(Trainer(config, run_dir, **kwargs))


@contextlib.contextmanager
def session(config: TrainConfig | None = None, run_dir: str | Path | None = None, *,
            seeds: Sequence[int] | None = None, resume: str | Path | None = None, overwrite: bool = False,
            overrides: dict[str, Any] | None = None, ranks: Ranks | None = None,
            generator: Network | None = None, discriminator: Network | None = None,
            objective: Objective | None = None, **kwargs: Any) -> Iterator[Trainer | SeedsTrainer | SeedsInTurn]:
    """The trainer of a new run, of S stacked seeds or of a resumed run, ready to ``fit``; evaluation attached.

    Args:
        config: the run's config (not with ``resume``).
        run_dir: the run folder (default: a new one under ``runs/``).
        seeds: train these seeds of ``config``, one folder each: as one stacked network (MLP, DCGAN and
            ResNet models), side by side in worker processes (image models on a CPU with free cores), or one
            after another where they cannot stack or stacking was measured slower
            (:func:`gankit.seeds.seeds_trainer`).
        resume: continue the run (or the seeds) in this folder; ``overrides`` are the fields to change
            (only :data:`gankit.config.RESUMABLE` ones; ``data=NEW_PATH`` for data that moved).
        overwrite: replace the gankit run in ``run_dir``, once the new config and data have been
            checked (the files a run writes are removed, anything else stays; any other folder is
            refused with nothing deleted). The folder stays locked until the session ends.
        ranks: the processes of a torchrun'd run (default: from the environment).
        generator, discriminator: your own networks (both): modules, or functions of no arguments that
            build them; the run records model ``"custom"``, and its resume is given them again.
        objective: your own game, a :class:`~gankit.objectives.Objective` (recorded as ``"custom"``; a
            resume is given it again). A registered game (:func:`gankit.register_objective`) is named in
            the config instead.
        kwargs: passed to :class:`Trainer` (``dataset``, ``callbacks``, ``parts``).
    """
    ranks = ranks or Ranks.from_environment(config.device if config is not None else "auto")
    many = seeds is not None or (resume is not None and (Path(resume) / SEEDS_FILE).exists())
    if ranks.enabled and many:
        raise ValueError("--seeds trains its stacked seeds in one process; run it without torchrun")
    parts = {"generator": generator, "discriminator": discriminator, "objective": objective}
    given = [f"{name}=" for name, part in parts.items() if part is not None]
    if many and given:
        raise ValueError(f"{', '.join(given)} cannot go with stacked seeds, which stack gankit's own networks: "
                         "train your own networks one seed per run, and name your game in the config after "
                         "registering it (gankit.register_objective(name, objective))")
    held = None  # the lock an overwrite takes before clearing the folder
    try:
        if resume is not None:
            if config is not None or seeds is not None or overwrite:
                raise ValueError(f"resume={resume} continues that run with its own config and seeds; config, "
                                 "seeds and overwrite cannot go with it")
            trainer: Trainer | SeedsTrainer | SeedsInTurn = (
                resume_seeds(resume, **(overrides or {})) if many
                else Trainer.resume(resume, **parts, **(overrides or {})))
            if isinstance(trainer, SeedsInTurn):
                log.info("resuming the seeds %s in %s, %s", trainer.seeds, trainer.run_dir,
                         "side by side" if trainer.processes > 1 else "one after another")
            else:
                log.info("resuming %s at iteration %d of %d", trainer.run_dir, trainer.step,
                         trainer.config.iterations)
        else:
            if config is None:
                raise ValueError("give a config (or resume=RUN)")
            run_dir = Path(run_dir) if run_dir is not None else None
            if run_dir is None and ranks.enabled:
                raise ValueError("under torchrun give --out RUN_DIR: every process must write to the same folder")
            if run_dir is not None:
                if overwrite:
                    check_replaceable(run_dir)
                check_writable(run_dir, f"--out {run_dir}", folder=True)
            # building the trainer loads and checks the data: nothing is replaced before that succeeds
            if seeds is None:
                trainer = Trainer(config, run_dir, ranks=ranks, **parts, **kwargs)
            else:
                trainer = seeds_trainer(config, seeds, run_dir, **kwargs)
            if overwrite and run_dir is not None and run_dir.exists() and ranks.main:
                held = RunLock.acquire_for(run_dir)  # refuses a folder another trainer holds
                kept = clear(run_dir)
                if kept:
                    log.warning("--out %s --overwrite: replaced the run; kept %d entr%s gankit did not write: %s",
                                run_dir, len(kept), "y" if len(kept) == 1 else "ies",
                                ", ".join(kept[:8]) + (", ..." if len(kept) > 8 else ""))
            ranks.barrier()
        yield with_evaluation(trainer)
    finally:
        if held is not None:
            held.release()


def train(config: TrainConfig | None = None, run_dir: str | Path | None = None, *,
          seeds: Sequence[int] | None = None, resume: str | Path | None = None, overwrite: bool = False,
          overrides: dict[str, Any] | None = None, generator: Network | None = None,
          discriminator: Network | None = None, objective: Objective | None = None,
          **kwargs: Any) -> tuple[nn.Module | list[nn.Module], Path]:
    """Train a GAN as ``config`` says; returns the trained generator and its run folder.

    With ``seeds``, every seed is trained (as one stacked network, or in turn) and the generators come as a list;
    ``resume=RUN`` continues a run (``overrides``: a larger ``iterations``, ...); ``overwrite`` replaces
    the run in ``run_dir`` (see :func:`session`). ``generator`` and ``discriminator`` (your own networks,
    or functions building them) and ``objective`` (your own game) replace the config's; a resume of such a
    run is given them again (see :func:`session`).

    Example:
        >>> from gankit import TrainConfig, train
        >>> G, run = train(TrainConfig(data="ring", objective="wgan", iterations=10,
        ...                            progress=False, tensorboard=False))  # doctest: +SKIP
        >>> Gs, root = train(TrainConfig(data="ring", iterations=10), seeds=[0, 1, 2])  # doctest: +SKIP
        >>> G, run = train(resume=run, overrides={"iterations": 20})  # doctest: +SKIP
        >>> G, run = train(TrainConfig(data="ring", objective="relativistic-average", noise_dim=8),
        ...                generator=my_G, discriminator=my_D)  # doctest: +SKIP
    """
    with session(config, run_dir, seeds=seeds, resume=resume, overwrite=overwrite, overrides=overrides,
                 generator=generator, discriminator=discriminator, objective=objective, **kwargs) as trainer:
        trainer.fit()
    if isinstance(trainer, SeedsTrainer):
        return [r.G for r in trainer.runs], trainer.run_dir
    if isinstance(trainer, SeedsInTurn):
        return trainer.generators, trainer.run_dir
    return trainer.G, trainer.run_dir


__all__ = ["make_trainer", "session", "train"]
