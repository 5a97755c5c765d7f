"""Many runs as one: S seeds of one config trained together, each writing a normal run folder.

:class:`SeedsTrainer` trains the seeds as one stacked network
(:class:`gankit.training.stacked.StackedRuns`, which says how the runs stay
equal to the single runs) with the loop of a single run; each seed is still a
:class:`~gankit.training.Trainer` of its own and writes a normal run folder
(``RUN/seed-<k>/``) that ``gankit sample``, ``gankit eval`` and ``--resume``
accept. MLP, DCGAN and ResNet runs stack; what does not (networks of the user's
own, DiffAugment, fp16: :func:`gankit.training.stacked.unstackable`) and what
stacks slower than in turn (ResNet on a CPU) :class:`SeedsInTurn` trains one
seed after another into the same folder, and on a CPU with free cores it trains
image seeds side by side instead, one worker process each (:mod:`gankit.seed_workers`);
:func:`seeds_trainer` chooses.

Stacked, the seeds' checkpoints form one set: ``RUN/seeds.json``, the manifest, names the
iteration they all hold, and is replaced in one atomic write only once every
seed's checkpoint of the new iteration is on the disk (:meth:`SeedsFolder.save`),
so a kill at any moment leaves a set that resumes exactly (:func:`settle`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._json import jsonable
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .data import load_dataset
from .distributed import Ranks
from .interrupt import Interrupted
from .presets import default_recipe
from .runfolder import CHECKPOINT, SEEDS_FILE, read_metrics
from .runlock import RunLock, check_unlocked
from .seed_workers import as_is, draw_samples, plan_side_by_side, side_by_side, train_side_by_side
from .training import CONV_MODELS, Hook, HookBase, Recorder, Trainer, default_run_dir, fit, load_generator
from .training.hooks import ProgressBar
from .training.loop import checkpoint
from .training.stacked import StackedRuns, unstackable
from .writing import remove_partial_writes, write_text

log = logging.getLogger(__name__)

_MAX_SEEDS = 4096


# --------------------------------------------------------------------------- seeds on the command line


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"0-15"``, ``"3,7,11"`` or a mix (``"0-3,8"``); refuses empty, malformed and repeated seeds."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("--seeds: give seeds as A-B (a range, both ends included) or A,B,C; got nothing")
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"--seeds {text!r}: {part!r} is neither a seed (0, 1, ...) nor a range A-B")
        lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if hi < lo:
            raise ValueError(f"--seeds {text!r}: the range {part!r} runs backwards; write {hi}-{lo}")
        if hi - lo + len(seeds) >= _MAX_SEEDS:
            raise ValueError(f"--seeds {text!r}: more than {_MAX_SEEDS} seeds")
        seeds.extend(range(lo, hi + 1))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"--seeds {text!r}: seed(s) {repeated} appear more than once")
    return seeds


def _distinct(seeds: Sequence[int]) -> list[int]:
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds}: each seed at most once")
    return seeds


def _seeds_config(config: TrainConfig) -> TrainConfig:
    """The seeds' config: snapshots during training off unless ``snapshot_every`` asks for them (S pictures each
    time); every seed still gets its final ``samples.png``."""
    return dataclasses.replace(config, snapshot_every=0) if config.snapshot_every is None else config


def _seed_run(config: TrainConfig, seed: int, run_dir: Path, callbacks=None, write: bool = True) -> Trainer:
    """Seed ``seed``'s trainer of ``config``, in ``run_dir/seed-<seed>`` (``write=False``: no folder)."""
    return Trainer(dataclasses.replace(config, seed=seed), run_dir / f"seed-{seed}", callbacks=list(callbacks or []),
                   ranks=Ranks(), parts=None if write else [])


def seeds_dir(config: TrainConfig, seeds: Sequence[int], run_dir: str | Path | None = None) -> Path:
    """``run_dir``, or the default folder of these seeds: ``runs/<data>-<recipe>-seeds<first>-<last>``."""
    if run_dir is not None:
        return Path(run_dir)
    named = config
    if config.objective is None:  # named after the recipe the data's kind chooses
        ds = load_dataset(config.data, data_dir=config.data_dir, options=config.data_options, seed=config.seed)
        named = dataclasses.replace(config, objective=default_recipe(ds.kind))
    first_dir = default_run_dir(named)
    return first_dir.with_name(first_dir.name.rsplit("-s", 1)[0] + f"-seeds{seeds[0]}-{seeds[-1]}")


# --------------------------------------------------------------------------- the trainer


class SeedsTrainer(StackedRuns):
    """Trains S seeds of one config as one stacked network (:class:`~gankit.training.stacked.StackedRuns`)
    with the loop of a single run, writing one normal run folder per seed.

    Args:
        config: the runs' configuration (its ``seed`` is replaced by each seed).
        seeds: the seeds, distinct.
        run_dir: the folder; run k goes to ``run_dir/seed-<k>`` (default: :func:`default_run_dir`).
        callbacks: called at every logging step of every run as ``callback(run, record)``.
        runs: already built (e.g. resumed) runs to stack instead of building them.
        pictures: draw each run's final samples, curves and GIF, and ``seeds.png`` (the
            benchmark scores samples itself and leaves them out).
        write: write the folders and checkpoints (False: train only, as a benchmark times it).

    Snapshots during training are off unless ``config.snapshot_every`` asks for
    them (S pictures each time); every run gets its final ``samples.png``.
    """

    def __init__(self, config: TrainConfig, seeds: Sequence[int], run_dir: str | Path | None = None, *,
                 callbacks=None, runs: list[Trainer] | None = None, pictures: bool = True, write: bool = True):
        config = _seeds_config(config)
        seeds = _distinct(seeds)
        self.seeds, self.run_dir = seeds, seeds_dir(config, seeds, run_dir)
        if runs is None:
            first = _seed_run(config, seeds[0], self.run_dir, callbacks, write)
            check_memory(first, len(seeds))
            runs = [first] + [_seed_run(config, s, self.run_dir, callbacks, write) for s in seeds[1:]]
        steps = {s: r.step for s, r in zip(seeds, runs, strict=True)}
        if len(set(steps.values())) > 1:
            raise ValueError(_uneven(self.run_dir, steps))
        super().__init__(runs)  # its config is the first seed's
        self.records: list[dict[str, Any]] = []
        self.folder = SeedsFolder(self.run_dir, seeds, pictures) if write else None

    @property
    def hooks(self) -> list[Hook]:
        """The records (means over seeds), then the seeds' folders."""
        return [Recorder([], self.records), *([self.folder] if self.folder is not None else [])]

    def fit(self, steps: int | None = None) -> None:
        """Train every seed to ``config.iterations`` (or at most ``steps`` more iterations), as
        :meth:`Trainer.fit`; each seed's checkpoints form one set with the manifest."""
        cfg = self.config
        until = cfg.iterations if steps is None else self.step + steps
        bar = ProgressBar(f"{cfg.objective} on {self.dataset.name}, {len(self.seeds)} seeds", cfg.progress)
        fit(self, [bar, *self.hooks], until, kept=self.kept, where=self.run_dir)

    def kept(self) -> str:
        return f"each seed's last good checkpoint under {self.run_dir} is kept (seeds {self.seeds})"

    def save(self) -> Path:
        """Every seed's checkpoint of this iteration, as one set (:meth:`SeedsFolder.save`)."""
        checkpoint(self, self.hooks)
        return self.run_dir

    def snapshot(self) -> Path:
        """A picture of every seed's current samples, in its own folder."""
        self.sync_steps()
        for r in self.runs:
            r.snapshot()
        return self.run_dir

    def finish(self) -> None:
        """Each run's pictures (a final snapshot where none was drawn), then the summary over seeds."""
        for hook in self.hooks:
            hook.finish(self)

    @classmethod
    def resume(cls, run_dir: str | Path, callbacks=None, dataset=None, *, pictures: bool = True,
               **overrides: Any) -> SeedsTrainer:
        """Continue every run of a seeds folder; only the fields :meth:`Trainer.resume` allows may change
        (``pictures`` as for a new stack)."""
        run_dir = Path(run_dir)
        check_unlocked(run_dir)
        seeds = read_seeds(run_dir)
        with RunLock(run_dir):
            step = settle(run_dir, seeds, manifest_step(run_dir))
        runs = [Trainer.resume(run_dir / f"seed-{s}", callbacks=callbacks, **overrides) for s in seeds]
        steps = {s: r.step for s, r in zip(seeds, runs, strict=True)}
        if step is not None and set(steps.values()) != {step}:
            raise ValueError(_uneven(run_dir, steps, step))
        return cls(runs[0].config, seeds, run_dir, runs=runs, pictures=pictures)


class SeedsFolder(HookBase):
    """The stacked runs' hook: the seeds' own folders (each run's hooks) as one set, with the manifest.

    ``start`` refuses a folder that holds runs (unless resuming), locks the root, settles what a
    killed save left and writes the manifest, then starts every seed's hooks; ``record`` hands each
    seed its own metrics line; ``save`` writes every seed's checkpoint as one set; ``finish`` draws
    each seed's pictures and the summary over seeds; ``close`` closes every seed's hooks and unlocks.
    """

    def __init__(self, run_dir: Path, seeds: list[int], pictures: bool = True):
        self.run_dir, self.seeds, self.pictures = run_dir, seeds, pictures
        self.lock: RunLock | None = None

    def start(self, stack: SeedsTrainer) -> None:
        if stack.step == 0:
            held = [r.run_dir for r in stack.runs if (r.run_dir / CHECKPOINT).exists()]
            if held or manifest_step(self.run_dir) is not None:
                raise FileExistsError(f"{held[0] if held else self.run_dir} already holds a run; continue the seeds "
                                      f"with --resume {self.run_dir}, or choose another --out (or --overwrite)")
        self.lock = RunLock.acquire_for(self.run_dir)  # the root's files; each run locks its own folder
        settle(self.run_dir, self.seeds, stack.step or None)  # drops what a killed save staged and never named
        self.write_manifest(stack.config, stack.step or None)
        stack.sync_steps()
        for r in stack.runs:  # each run's own hooks: its folder's config and metrics, its first snapshot
            r.start()

    def record(self, stack: SeedsTrainer, record: dict[str, Any]) -> None:
        for r, own in zip(stack.runs, stack.last_records, strict=True):
            r.emit(own)

    def step(self, stack: SeedsTrainer) -> None:
        every = stack.config.snapshot_every
        if every and stack.step % every == 0:
            stack.sync_steps()
            for r in stack.runs:
                for hook in r.hooks:
                    hook.step(r)

    def save(self, stack: SeedsTrainer, state: dict[str, Any]) -> None:
        """Every seed's checkpoint of this iteration, as one set.

        Each seed's state is first written whole (and flushed) beside its checkpoint, as
        ``checkpoints/staged-<t>.pt``; then the manifest names iteration t; then each staged file is
        renamed over ``checkpoints/latest.pt``. Killed before the manifest, every seed still holds the
        iteration the manifest names; killed after it, each seed holds iteration t under one of the two
        names. :func:`settle` puts either case right before a resume.
        """
        staged = []
        for r, own in zip(stack.runs, state["runs"], strict=True):
            if r.folder is None:  # a run that writes no folder
                checkpoint(r, r.parts)
                continue
            staged.append((save_checkpoint(own, _staged(r.run_dir, stack.step)), r.folder.checkpoint))
        if staged:
            self.write_manifest(stack.config, stack.step)
            for path, latest in staged:
                os.replace(path, latest)

    def finish(self, stack: SeedsTrainer) -> None:
        stack.sync_steps()
        if self.pictures:
            for r in stack.runs:
                if not r.frames:
                    r.snapshot()
                r.finish()
        summarise(self.run_dir, [r.run_dir for r in stack.runs], figure=self.pictures)

    def close(self, stack: SeedsTrainer) -> None:
        for r in stack.runs:
            r.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def write_manifest(self, config: TrainConfig, step: int | None) -> None:
        """``seeds.json``: the seeds, their config and the iteration every seed's checkpoint holds (one atomic,
        durable write)."""
        write_manifest(self.run_dir, self.seeds, config, step, stacked=True)


def write_manifest(run_dir: Path, seeds: list[int], config: TrainConfig, step: int | None, *, stacked: bool) -> None:
    """``seeds.json`` (one atomic, durable write): the seeds, their config, the iteration every seed's checkpoint
    holds (stacked seeds; None for seeds trained in turn, whose folders say it each) and how they train."""
    write_text(run_dir / SEEDS_FILE, json.dumps({"seeds": seeds, "config": config.to_dict(), "step": step,
                                                 "stacked": stacked}, indent=2) + "\n", durable=True)


# --------------------------------------------------------------------------- seeds in turn


#: The measured cases where a stack of seeds trains slower than the same seeds one after another.
_SLOWER_STACKED = {
    ("resnet", "cpu"): "stacked ResNet seeds train slower on a CPU than one after another (grouped convolutions "
                       "are no faster per FLOP there: 0.71x at 3 seeds on 2 cores, benchmarks/README.md)",
}


def why_in_turn(run: Trainer) -> str | None:
    """Why the seeds of ``run``'s (resolved) config train one after another rather than stacked, or None: they
    cannot stack (:func:`~gankit.training.stacked.unstackable`) or stacking them was measured slower."""
    return unstackable(run.config) or _SLOWER_STACKED.get((run.config.model, run.device.type))


class SeedsInTurn:
    """S seeds of one config trained one after another, into the same folder a stack of them writes:
    ``RUN/seed-<k>/`` (a normal run folder each), ``seeds.json``, ``summary.json`` and ``seeds.png``.

    :func:`seeds_trainer` chooses it where stacking cannot work or does not pay (:func:`why_in_turn`). A
    stop leaves the seeds done, the seed in progress at its checkpoint and the rest not started;
    :meth:`resume` continues from there. ``overrides`` (a resume's, e.g. a larger ``iterations``) apply to
    every seed. Snapshots as for stacked seeds: off during training unless ``snapshot_every`` asks.
    ``prepare`` is applied to each seed's trainer before it trains (:mod:`gankit.api` attaches the
    evaluation there).

    With ``processes`` > 1 the seeds train side by side instead, each in a worker process with ``threads``
    torch threads (:mod:`gankit.seed_workers`); a stop leaves each at its checkpoint, as in turn.
    """

    def __init__(self, config: TrainConfig, seeds: Sequence[int], run_dir: str | Path | None = None, *,
                 callbacks=None, pictures: bool = True, first: Trainer | None = None, resuming: bool = False,
                 overrides: dict[str, Any] | None = None, processes: int = 1, threads: int = 1):
        self.seeds = _distinct(seeds)
        self.run_dir = seeds_dir(config, self.seeds, run_dir)
        self.config = first.config if first is not None else _seeds_config(config)  # resolved: the choice's seed 0
        self.callbacks, self.pictures = list(callbacks or []), pictures
        self.resuming, self.overrides = resuming, dict(overrides or {})
        self.first = first
        self.prepare: Callable[[Trainer], Trainer] = as_is  # module level: side by side, workers are given it
        self.generators: list[nn.Module] = []
        self.records: list[dict[str, Any]] = []
        if processes > 1 and self.callbacks:
            raise ValueError("callbacks cannot reach seeds trained in worker processes; train them with processes=1")
        self.processes, self.threads = max(1, int(processes)), max(1, int(threads))

    @property
    def run_dirs(self) -> list[Path]:
        return [self.run_dir / f"seed-{s}" for s in self.seeds]

    def _run(self, seed: int, run_dir: Path) -> Trainer:
        if (run_dir / CHECKPOINT).exists():
            return Trainer.resume(run_dir, callbacks=list(self.callbacks), **self.overrides)
        if self.first is not None and self.first.config.seed == seed:
            run, self.first = self.first, None
            return run
        return _seed_run(dataclasses.replace(self.config, **self.overrides), seed, self.run_dir, self.callbacks)

    def fit(self) -> None:
        """Train each seed to its ``iterations`` in turn (a finished seed is left as it is), then write the
        summary over seeds."""
        if not self.resuming:
            held = [d for d in self.run_dirs if (d / CHECKPOINT).exists()]
            if held or (self.run_dir / SEEDS_FILE).exists():
                raise FileExistsError(f"{held[0] if held else self.run_dir} already holds a run; continue the seeds "
                                      f"with --resume {self.run_dir}, or choose another --out (or --overwrite)")
        lock = RunLock.acquire_for(self.run_dir)  # the root's files (held already under --overwrite)
        try:
            write_manifest(self.run_dir, self.seeds, self.config, None, stacked=False)
            if self.processes > 1:
                self.first = None  # each worker builds its own seed's run (and data)
                last = train_side_by_side(self.config, self.seeds, self.run_dirs, self.overrides, self.processes,
                                          self.threads, self.prepare, self.run_dir, self.pictures)
                self.generators = [load_generator(d, device="cpu", raw=True)[0] for d in self.run_dirs]
                summarise(self.run_dir, self.run_dirs, figure=self.pictures)
                return self._keep(last)
            self.generators, last = [], []
            for k, (seed, run_dir) in enumerate(zip(self.seeds, self.run_dirs, strict=True)):
                run = self.prepare(self._run(seed, run_dir))
                if run.step < run.config.iterations:
                    log.info("seed %d (%d of %d) in %s", seed, k + 1, len(self.seeds), run_dir)
                    try:
                        run.fit()
                    except Interrupted as stop:  # continue the seeds, not the one seed
                        raise Interrupted(stop.signum, stop.step, self.run_dir, stop.total) from None
                    if self.pictures:
                        draw_samples(run)
                self.generators.append(run.G)
                last.append(run.records[-1] if run.records else {})
                del run  # its data set goes before the next seed's is loaded
            summarise(self.run_dir, self.run_dirs, figure=self.pictures)
        finally:
            lock.release()
        self._keep(last)

    def _keep(self, last: list[dict[str, Any]]) -> None:
        """The records: the mean over seeds of each seed's last metrics line."""
        keys = [k for k, v in last[0].items() if isinstance(v, float)] if last else []
        self.records = [{k: float(np.mean([rec[k] for rec in last if isinstance(rec.get(k), float)])) for k in keys}]

    @classmethod
    def resume(cls, run_dir: str | Path, callbacks=None, *, pictures: bool = True, **overrides: Any) -> SeedsInTurn:
        """Continue the seeds of a folder trained in turn: each seed resumes from its checkpoint (``overrides``
        as :meth:`Trainer.resume` allows), seeds not started start."""
        run_dir = Path(run_dir)
        check_unlocked(run_dir)
        seeds = read_seeds(run_dir)
        config = TrainConfig.from_dict(json.loads((run_dir / SEEDS_FILE).read_text())["config"], source=SEEDS_FILE)
        from .sampling import pick_device

        device = pick_device(overrides.get("device", config.device))
        processes, threads = (1, 1) if callbacks else side_by_side(config, device, len(seeds))
        return cls(config, seeds, run_dir, callbacks=callbacks, pictures=pictures, resuming=True, overrides=overrides,
                   processes=processes, threads=threads)


def seeds_trainer(config: TrainConfig, seeds: Sequence[int], run_dir: str | Path | None = None, *,
                  callbacks=None, pictures: bool = True) -> SeedsTrainer | SeedsInTurn:
    """The trainer of S seeds of ``config``: image seeds on a CPU with free cores side by side in worker processes
    (:func:`~gankit.seed_workers.side_by_side`; not with ``callbacks``, which cannot reach them), else one
    stacked network (:class:`SeedsTrainer`), or the seeds one after another (:class:`SeedsInTurn`) where they
    cannot stack or stacking was measured slower (:func:`why_in_turn`; logged). All write the same folder."""
    seeds, config = _distinct(seeds), _seeds_config(config)
    run_dir = seeds_dir(config, seeds, run_dir)
    planned = None if callbacks else plan_side_by_side(config, len(seeds))
    if planned is not None:
        resolved, processes, threads = planned
        return SeedsInTurn(resolved, seeds, run_dir, pictures=pictures, processes=processes, threads=threads)
    first = _seed_run(config, seeds[0], run_dir, callbacks)
    why = why_in_turn(first)
    if why is None:
        check_memory(first, len(seeds))
        runs = [first] + [_seed_run(config, s, run_dir, callbacks) for s in seeds[1:]]
        return SeedsTrainer(config, seeds, run_dir, callbacks=callbacks, runs=runs, pictures=pictures)
    log.info("the %d seeds train one after another: %s", len(seeds), why)
    return SeedsInTurn(config, seeds, run_dir, callbacks=callbacks, pictures=pictures, first=first)


def resume_seeds(run_dir: str | Path, callbacks=None, *, pictures: bool = True,
                 **overrides: Any) -> SeedsTrainer | SeedsInTurn:
    """Continue a seeds folder the way it was trained (``seeds.json`` says: stacked, or in turn)."""
    try:
        stacked = json.loads((Path(run_dir) / SEEDS_FILE).read_text()).get("stacked", True)
    except (OSError, ValueError, AttributeError):
        stacked = True  # read_seeds names what is wrong
    trainer = SeedsTrainer if stacked is not False else SeedsInTurn
    return trainer.resume(run_dir, callbacks=callbacks, pictures=pictures, **overrides)


def _staged(run_dir: Path, step: int) -> Path:
    """Where :meth:`SeedsTrainer.save` writes a seed's checkpoint of iteration ``step`` before the manifest names it."""
    return run_dir / "checkpoints" / f"staged-{step}.pt"


def manifest_step(run_dir: str | Path) -> int | None:
    """The iteration every seed's checkpoint holds, as ``seeds.json`` names it (None: no checkpoint yet)."""
    path = Path(run_dir) / SEEDS_FILE
    try:
        step = json.loads(path.read_text()).get("step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def settle(run_dir: str | Path, seeds: Sequence[int], step: int | None) -> int | None:
    """Bring a seeds folder back to the set of checkpoints of iteration ``step`` (the manifest's); returns ``step``.

    A staged checkpoint of ``step`` (a save killed after the manifest named it) is moved into place;
    staged checkpoints of other iterations (a save killed before the manifest named them) and the
    partial writes of a killed save are removed. Nothing else is touched.
    """
    for s in seeds:
        folder = Path(run_dir) / f"seed-{s}" / "checkpoints"
        if not folder.is_dir():
            continue
        remove_partial_writes(folder)
        for path in sorted(folder.glob("staged-*.pt")):
            if step is not None and path.name == _staged(folder.parent, step).name:
                os.replace(path, folder / "latest.pt")
            else:
                path.unlink()
    return step


def _uneven(run_dir: Path, steps: dict[int, int], step: int | None = None) -> str:
    named = f"; {SEEDS_FILE} names iteration {step}" if step is not None else ""
    return (f"{run_dir}: the seeds' checkpoints stand at different iterations "
            f"({', '.join(f'seed {s}: {t}' for s, t in steps.items())}){named}, so they cannot resume as one "
            "stacked run (one of them was resumed or replaced on its own, or the folder predates the manifest); "
            f"each seed folder still resumes on its own (gankit train --resume {run_dir}/seed-<k>), as a single "
            "run, which equals the stacked run up to rounding but not bit for bit")


def read_seeds(run_dir: str | Path) -> list[int]:
    """The seeds of a seeds folder (``RUN/seeds.json``)."""
    path = Path(run_dir) / SEEDS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: not a folder of seeds (no {SEEDS_FILE})")
    try:
        return [int(s) for s in json.loads(path.read_text())["seeds"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: malformed ({e})") from e


# --------------------------------------------------------------------------- memory


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")) if hasattr(os, "sysconf") else 2**40


def seed_bytes(run: Trainer) -> int:
    """A generous estimate of one stacked run's memory: weights, gradients and two optimiser moments,
    activations of the widest minibatch (with the double backward of a penalty), and its data.

    A convolutional network's activations per sample are bounded by ``8 * width * H * W`` (DCGAN: about
    width * H * W over all stages; ResNet: a few maps of width channels at each side)."""
    cfg = run.config
    params = sum(p.numel() for p in run.G.parameters()) + sum(p.numel() for p in run.D.parameters())
    widths = sum(cfg.g_hidden) + sum(cfg.d_hidden) + 2 * math.prod(run.dataset.sample_shape)
    if cfg.model in CONV_MODELS:
        widths = 8 * cfg.width * math.prod(run.dataset.sample_shape[1:]) + 2 * math.prod(run.dataset.sample_shape)
    activations = 2 * run.batch * widths * 8  # real + fake, forward + backward, penalty
    return 4 * (4 * params + activations) + run.dataset.x.numel() * 4


def check_memory(run: Trainer, n_seeds: int, fraction: float = 0.8) -> None:
    """Refuse more seeds than fit in ``fraction`` of the device's free memory, saying how many fit."""
    per_seed = seed_bytes(run)
    budget = fraction * _available_bytes(run.device)
    if n_seeds * per_seed > budget:
        fit = max(0, int(budget // per_seed))
        raise ValueError(f"{n_seeds} seeds need about {n_seeds * per_seed / 2**30:.1f} GiB on {run.device}, "
                         f"{budget / 2**30:.1f} GiB are free: at most {fit} seeds fit; pass fewer --seeds")


# --------------------------------------------------------------------------- the API and the summary


def train_seeds(config: TrainConfig, seeds: Sequence[int], run_dir: str | Path | None = None,
                **kwargs: Any) -> tuple[list[nn.Module], list[Path]]:
    """Train ``config`` for every seed; returns each seed's generator and run folder (``run_dir/seed-<k>``).

    Runs that stack (MLP, DCGAN and ResNet models) are trained as one network (:class:`SeedsTrainer`); the
    others, and those whose stack was measured slower, one seed after another (:func:`seeds_trainer`).
    ``kwargs``: ``callbacks``, ``pictures``.

    Example:
        >>> from gankit import TrainConfig
        >>> from gankit.seeds import train_seeds
        >>> Gs, runs = train_seeds(TrainConfig(data="ring", iterations=10, progress=False), [0, 1, 2])  # doctest: +SKIP
    """
    trainer = seeds_trainer(config, seeds, run_dir, **kwargs)
    trainer.fit()
    if isinstance(trainer, SeedsTrainer):
        return [r.G for r in trainer.runs], [r.run_dir for r in trainer.runs]
    return trainer.generators, trainer.run_dirs


def summarise(root: str | Path, run_dirs: Sequence[Path], figure: bool = True) -> dict[str, Any]:
    """``summary.json`` (mean, std, min, max over seeds of each run's last metrics line) and ``seeds.png``."""
    root = Path(root)
    last: dict[str, dict[str, Any]] = {}
    for d in run_dirs:
        records = read_metrics(Path(d) / "metrics.jsonl")
        if records:
            last[Path(d).name] = records[-1]
    keys = sorted({k for rec in last.values() for k, v in rec.items() if isinstance(v, (int, float)) and k != "step"})
    stats = {}
    for k in keys:
        values = np.array([rec[k] for rec in last.values() if isinstance(rec.get(k), (int, float))], float)
        stats[k] = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
                    "max": float(values.max()), "n": len(values)}
    summary = {"runs": [str(Path(d).name) for d in run_dirs], "last": last, "over_seeds": stats}
    root.mkdir(parents=True, exist_ok=True)
    (root / "summary.json").write_text(json.dumps(jsonable(summary), indent=2) + "\n")
    if figure:
        _seeds_figure(root / "seeds.png", run_dirs)
    return summary


def _seeds_figure(path: Path, run_dirs: Sequence[Path]) -> Path | None:
    pictures = [Path(d) / "samples.png" for d in run_dirs if (Path(d) / "samples.png").exists()]
    if not pictures:
        return None
    import matplotlib.image as mpimg

    from . import viz  # matplotlib: only when the figure is drawn

    cols = min(5, len(pictures))
    rows = math.ceil(len(pictures) / cols)
    fig = viz.new_figure(3.2 * cols, 2.7 * rows)
    for i, pic in enumerate(pictures):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(mpimg.imread(pic))
        ax.set_title(pic.parent.name, fontsize=8)
        ax.axis("off")
    return viz.save(fig, path)
