"""The public face of training: :class:`Trainer` is a :class:`~gankit.training.run.Run` with its default
hooks (the run folder and the pictures on rank 0, a progress bar, the callbacks) and :func:`fit`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..checkpoint import load_checkpoint, load_weights, require_finite
from ..config import TrainConfig
from ..data import Dataset, Scaler
from ..distributed import Ranks
from ..ema import standing_statistics
from ..models import seeded
from ..objectives import Objective
from ..pictures import Pictures
from ..presets import CUSTOM
from ..runfolder import CHECKPOINT, RunFolder, read_metrics
from ..sampling import pick_device
from . import resume as resume_policy
from .hooks import Callback, Hook, ProgressBar, Recorder
from .loop import checkpoint, fit
from .networks import Network, build_networks
from .run import SAMPLE_KEYS, Run, default_run_dir

log = logging.getLogger(__name__)


class Trainer(Run):
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
        parts: the hooks the loop calls (:mod:`gankit.training.hooks`). Default: the
            run folder (:class:`~gankit.runfolder.RunFolder`) and the pictures
            (:class:`~gankit.pictures.Pictures`) on rank 0, nothing on the others.
            ``parts=[]`` trains without writing anything.
        generator, discriminator, objective: your own parts instead of the config's
            (:class:`~gankit.training.run.Run`); the run folder records them as ``"custom"``.

    The loop (:func:`gankit.training.loop.fit`) is the seed's algorithm and nothing
    else: files, pictures and evaluation are hooks and callbacks it calls.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        *,
        dataset: Dataset | None = None,
        callbacks: list[Callback] | None = None,
        ranks: Ranks | None = None,
        parts: list[Hook] | None = None,
        generator: Network | None = None,
        discriminator: Network | None = None,
        objective: Objective | None = None,
    ):
        super().__init__(config, dataset=dataset, ranks=ranks, generator=generator, discriminator=discriminator,
                         objective=objective)
        self.run_dir = Path(run_dir) if run_dir is not None else default_run_dir(self.config)
        self.callbacks = list(callbacks or [])
        self.records: list[dict[str, Any]] = []
        if parts is None:
            parts = [RunFolder(self.run_dir, self.config.tensorboard), Pictures()] if self.ranks.main else []
        self.parts = list(parts)
        self.aside_pictures: Pictures | None = None  # for pictures asked by hand when no Pictures part is kept

    @property
    def hooks(self) -> list[Hook]:
        """What the loop calls, in order: the callbacks and the records, then the parts."""
        return [Recorder(self.callbacks, self.records), *self.parts]

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
        if cfg.eval_every and not any(getattr(cb, "evaluation", False) for cb in self.callbacks):
            log.warning("eval_every=%d but no evaluation is attached to this Trainer; attach it with "
                        "gankit.evaluation.attach_evaluation(trainer)", cfg.eval_every)
        until = cfg.iterations if steps is None else self.step + steps
        bar = ProgressBar(f"{cfg.objective} on {self.dataset.name}", cfg.progress)
        fit(self, [bar, *self.hooks], until, kept=self.kept, where=self.run_dir if self.parts else None)
        return self.G

    def save(self) -> Path:
        """Write the checkpoint (rank 0; every rank takes part in gathering the random streams)."""
        checkpoint(self, self.parts)
        return self.run_dir / CHECKPOINT

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Run the callbacks on a metrics line (they may add entries), keep it and hand it to the parts."""
        for hook in self.hooks:
            hook.record(self, record)
        return record

    def start(self) -> None:
        """The hooks' start, as the loop calls it (stacked seeds start each seed's folder this way)."""
        for hook in self.hooks:
            hook.start(self)

    def finish(self) -> None:
        """The parts' final work: samples.png, the GIF and the curves."""
        for hook in self.hooks:
            hook.finish(self)

    def close(self) -> None:
        """The parts' closing (locks released, files closed)."""
        for hook in self.hooks:
            hook.close(self)

    def kept(self) -> str:
        """Where the last good checkpoint is, said when a loss turns non-finite."""
        return "no checkpoint is written by this process" if self.folder is None else self.folder.kept()

    @classmethod
    def resume(cls, run_dir: str | Path, callbacks=None, dataset: Dataset | None = None, *,
               generator: Network | None = None, discriminator: Network | None = None,
               objective: Objective | None = None, **overrides: Any) -> Trainer:
        """Continue the run in ``run_dir``; only the fields in RESUMABLE may change
        (:mod:`gankit.training.resume`).

        The data must be the data the run trained on (its fingerprint: shape, size
        and a hash of sampled rows); ``data=NEW_PATH`` points at data that moved.
        A run trained with your own networks or objective (recorded as ``"custom"``)
        is given them again (their weights and state come from the checkpoint); a
        run of a registered objective needs it registered in this process first.
        """
        wanted, state = resume_policy.prepare(run_dir, overrides, dataset)
        trainer = cls(wanted, run_dir, dataset=dataset, callbacks=callbacks, generator=generator,
                      discriminator=discriminator, objective=objective)
        if dataset is None:
            resume_policy.check_data(run_dir, state, trainer.data_fingerprint, wanted.data)
        trainer.load_state_dict(state)
        trainer.records = read_metrics(Path(run_dir) / "metrics.jsonl", trainer.step)
        if trainer.pictures is not None:
            trainer.pictures.frames = sorted((Path(run_dir) / "samples").glob("step_*.png"))
        return trainer

    def write_folder(self, run_dir: str | Path, records: list[dict[str, Any]] | None = None) -> Path:
        """Write a complete run folder of the run as it stands (config, checkpoint, metrics, samples.png,
        curves) into ``run_dir``, outside the loop: ``gankit sample``, ``eval`` and ``train --resume``
        accept it. ``records`` replace the metrics kept so far."""
        self.run_dir = Path(run_dir)
        if records is not None:
            self.records = [dict(r) for r in records]
        folder = RunFolder(self.run_dir)
        folder.start(self)  # takes the folder's lock
        try:
            folder.save(self, self.state_dict())
            pictures = Pictures()
            pictures.snapshot(self)
            pictures.finish(self)
        finally:
            folder.close(self)
        return self.run_dir

    # ------------------------------------------------------------------ parts

    def part(self, kind: type) -> Any:
        """The first part of type ``kind``, or None."""
        return next((p for p in self.parts if isinstance(p, kind)), None)

    @property
    def folder(self) -> RunFolder | None:
        """The run folder part (None on ranks other than 0, or with ``parts=[]``)."""
        return self.part(RunFolder)

    @property
    def pictures(self) -> Pictures | None:
        """The pictures part (None on ranks other than 0, or without it)."""
        return self.part(Pictures)

    @property
    def frames(self) -> list[Path]:
        return [] if self.pictures is None else self.pictures.frames

    # ------------------------------------------------------------------ pictures (the Pictures part)

    def snapshot_inputs(self) -> dict[str, Any]:
        """Fixed noise and a fixed real subset, drawn from their own seeds once."""
        return self.picture_maker().inputs(self)

    def snapshot(self) -> Path:
        """Save a picture of the current samples: over D's heat map (points) or a grid (images)."""
        return self.picture_maker().snapshot(self)

    def heat_map(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
        """D(x) (or the critic's f(x)) on a mesh over the snapshot frame (see :meth:`Pictures.heat_map`)."""
        return self.picture_maker().heat_map(self)

    def picture_maker(self) -> Pictures:
        """The pictures part, or one kept aside for pictures asked by hand (the loop does not call it)."""
        if self.pictures is not None:
            return self.pictures
        if self.aside_pictures is None:
            self.aside_pictures = Pictures()
        return self.aside_pictures


def load_generator(run_dir: str | Path, device: str = "auto", *, raw: bool = False,
                   generator: Network | None = None,
                   discriminator: Network | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The trained generator of a run folder (eval mode) and the checkpoint's data info.

    A run trained with ``ema_decay`` gives its averaged generator unless ``raw``.
    The info holds ``kind``, ``sample_shape``, the :class:`Scaler` under
    ``scaler``, the resolved config under ``config``, ``ema`` (whether the
    EMA generator was returned), the ``discriminator`` and, for points read
    from a CSV file with a header, its ``columns``.

    A run trained with your own networks (model ``"custom"``) is loaded into the
    ``generator`` you pass (a module, or a function of no arguments building one,
    as for training); its ``discriminator`` is loaded only if you pass it too
    (else the info's is None).
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
    if config.model == CUSTOM and generator is None:
        raise ValueError(f"{run_dir}: its networks are the user's own (model {CUSTOM!r}), which gankit cannot "
                         "rebuild from the config; load it in Python with them: "
                         f"gankit.load_generator({str(run_dir)!r}, generator=G) (and discriminator=D for its "
                         "scores), G and D built as for training")
    if config.model != CUSTOM and (generator is not None or discriminator is not None):
        raise ValueError(f"generator= and discriminator= are for runs trained with your own networks (model "
                         f"{CUSTOM!r}); {run_dir} has model {config.model!r}, which gankit rebuilds from its config")
    with seeded(None):  # the weights are loaded over these; the global stream is left where it was
        G, D, _ = build_networks(config, shape, data["kind"], int(data.get("n_classes", 0)),
                                 generator=generator, discriminator=discriminator)
    ema = "generator_ema" in state and not raw
    require_finite(state, path, ("generator_ema" if ema else "generator",))
    load_weights(G, state["generator_ema" if ema else "generator"], "generator")
    if ema:  # the average's own batch-norm statistics (gankit.ema)
        standing_statistics(G)
    if D is not None:
        load_weights(D, state["discriminator"], "discriminator")
    dev = pick_device(device)
    info = {**data, "sample_shape": shape, "config": config, "step": state["step"], "ema": ema,
            "scaler": Scaler(tuple(data["scaler_loc"]), tuple(data["scaler_scale"])),
            "discriminator": None if D is None else D.to(dev).eval()}
    return G.to(dev).eval(), info

