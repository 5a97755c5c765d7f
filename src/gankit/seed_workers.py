"""Seeds side by side: S runs of one config, each in a worker process of its own, sharing the CPU's cores.

A small image network's training step gains little from a second CPU thread
(the Fashion-MNIST default, a DCGAN of width 32 at M = 32: 43.7 iterations per
second on two threads against 31.1 on one), while single-threaded processes
sharing the cores each keep one busy. So on a CPU with free cores the seeds of
an image config train faster side by side, each its single run with one thread,
than one after another with every core each, or stacked as one network of
grouped convolutions (3 seeds on 2 cores, README). :func:`side_by_side` says
when and with how many processes; :func:`train_side_by_side` runs them.

The workers are spawned (no fork of a process holding torch's thread pools), build
or resume their seed's :class:`~gankit.training.Trainer` from its folder, and
report on a queue. A stop request here (Ctrl-C, SIGTERM) is passed on to them as
SIGTERM: each finishes its iteration, writes its checkpoint and stops (a worker
the terminal's SIGINT reached already takes the different second signal as the
same request); then :class:`~gankit.interrupt.Interrupted` is raised here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import pickle
import queue
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .data import load_dataset
from .distributed import Ranks
from .interrupt import Interrupted, stop_requests
from .progress import Progress
from .runfolder import CHECKPOINT
from .sampling import pick_device
from .training import CONV_MODELS, Trainer
from .training.run import with_resolved_paths

log = logging.getLogger(__name__)

#: Single-threaded seed processes per free core at once (3 or 4 seeds on 2 cores made the same
#: iterations per second, 59 in all, against 54.6 for 2).
PROCESSES_PER_CORE = 2


def as_is(run: Trainer) -> Trainer:
    """The default preparation of a seed's trainer: none."""
    return run


def draw_samples(run: Trainer) -> None:
    """A seed's ``samples.png`` once it has trained, where it drew no snapshot (seeds train without them unless
    ``snapshot_every`` asks)."""
    if run.pictures is not None and not run.frames:
        run.snapshot()
        run.pictures.finish(run)


def side_by_side(config: TrainConfig, device: torch.device, n_seeds: int) -> tuple[int, int]:
    """``(processes, threads)`` for seeds trained side by side, or ``(1, 1)`` where they are not: image networks
    (DCGAN, ResNet) on a CPU with two or more free cores (torch's threads, which ``gankit train`` sets to the
    free cores). Up to :data:`PROCESSES_PER_CORE` single-threaded processes per core run at once; fewer seeds
    than cores share the threads out."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or n_seeds < 2 or config.model not in CONV_MODELS or threads < 2:
        return 1, 1
    processes = min(n_seeds, PROCESSES_PER_CORE * threads)
    return processes, max(1, threads // processes)


def plan_side_by_side(config: TrainConfig, n_seeds: int) -> tuple[TrainConfig, int, int] | None:
    """``(resolved config, processes, threads)`` where the seeds of ``config`` train side by side, else None:
    decided on the data and the resolved config alone, without building a run (each worker builds its own)."""
    device = pick_device(config.device)
    if device.type != "cpu" or torch.get_num_threads() < 2 or n_seeds < 2 or config.model not in (None, *CONV_MODELS):
        return None
    ds = load_dataset(config.data, data_dir=config.data_dir, options=config.data_options, seed=config.seed)
    modes = None if ds.mixture is None else ds.mixture.distinct_modes()
    resolved = with_resolved_paths(config).resolved(ds.kind, ds.sample_shape, modes, ds.rows)
    processes, threads = side_by_side(resolved, device, n_seeds)
    return (resolved, processes, threads) if processes > 1 else None


def seed_step(run_dir: Path) -> int:
    """The last iteration a seed's ``metrics.jsonl`` records (0 before its first line)."""
    try:
        with open(run_dir / "metrics.jsonl", "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().splitlines()
        return int(json.loads(lines[-1])["step"]) if lines else 0
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _seed_process(job: dict[str, Any], results: Any) -> None:
    """A worker: train one seed (new, or resumed from its checkpoint) and put ``(seed, status, payload)`` on
    ``results``: ``done`` with its last record, ``stopped`` with its checkpoint's iteration, or ``failed``
    with the exception."""
    seed, run_dir = job["seed"], Path(job["run_dir"])
    torch.set_num_threads(job["threads"])
    run = None
    try:
        overrides = {**job["overrides"], "progress": False}  # this side shows the progress of all seeds
        if (run_dir / CHECKPOINT).exists():
            run = Trainer.resume(run_dir, **overrides)
        else:
            config = dataclasses.replace(TrainConfig.from_dict(job["config"]), seed=seed, **overrides)
            run = Trainer(config, run_dir, ranks=Ranks())
        run = job["prepare"](run)
        if run.step < run.config.iterations:
            run.fit()
            if job["pictures"]:
                draw_samples(run)
        results.put((seed, "done", run.records[-1] if run.records else {}))
    except KeyboardInterrupt as e:  # Interrupted: at its checkpoint; else stopped before training began
        results.put((seed, "stopped", getattr(e, "step", run.step if run is not None else 0)))
    except BaseException as e:  # noqa: BLE001 - every failure goes back, to be raised there
        try:
            pickle.dumps(e)
        except Exception:  # noqa: BLE001
            e = RuntimeError(f"seed {seed}: {type(e).__name__}: {e}")
        results.put((seed, "failed", e))


def train_side_by_side(config: TrainConfig, seeds: Sequence[int], run_dirs: Sequence[Path], overrides: dict[str, Any],
                       processes: int, threads: int, prepare: Callable[[Trainer], Trainer] = as_is,
                       where: Path | None = None, pictures: bool = True) -> list[dict[str, Any]]:
    """Train every seed of ``config`` into its folder, each in a worker process, at most ``processes`` at once
    with ``threads`` torch threads each; returns each seed's last metrics line.

    Args:
        config: the seeds' config (each worker sets its seed).
        seeds, run_dirs: the seeds and their folders; a folder holding a checkpoint resumes.
        overrides: fields every seed's run takes (a resume's, e.g. a larger ``iterations``).
        prepare: applied to each seed's trainer in its worker before it trains (a module-level function:
            it is sent to the worker by name).
        where: the folder an :class:`~gankit.interrupt.Interrupted` names (the seeds' root).
        pictures: each seed's ``samples.png`` when it ends (:func:`draw_samples`).

    Raises:
        Interrupted: after a stop request, once every worker has written its checkpoint; seeds not yet
            started stay so. The first worker's failure, if one failed (the others are stopped first).
    """
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    todo = [{"config": config.to_dict(), "seed": s, "run_dir": str(d), "overrides": dict(overrides), "threads": threads,
             "prepare": prepare, "pictures": pictures} for s, d in zip(seeds, run_dirs, strict=True)]
    total = int(overrides.get("iterations", config.iterations))
    log.info("the %d seeds train side by side: %d worker processes at once, %d thread(s) each", len(seeds),
             min(processes, len(todo)), threads)
    bar = Progress(total * len(todo), desc=f"{config.objective}, {len(todo)} seeds side by side",
                   enabled=config.progress, initial=sum(seed_step(Path(d)) for d in run_dirs))
    running: dict[int, Any] = {}
    outcome: dict[int, tuple[str, Any]] = {}
    passed_on, reported = False, bar.n
    with stop_requests() as stop:
        while todo or running:
            while todo and len(running) < processes and not stop:  # a failure clears todo as it is seen
                job = todo.pop(0)
                running[job["seed"]] = ctx.Process(target=_seed_process, args=(job, results))
                running[job["seed"]].start()
            with contextlib.suppress(queue.Empty):
                seed, status, payload = results.get(timeout=0.5)
                outcome[seed] = (status, payload)
            for seed, worker in list(running.items()):
                if seed in outcome or (not worker.is_alive() and worker.exitcode != 0):
                    worker.join()
                    del running[seed]
                    if seed not in outcome:  # killed before it could report
                        killed = worker.exitcode in (-signal.SIGINT, -signal.SIGTERM)
                        outcome[seed] = ("stopped", 0) if killed else ("failed", RuntimeError(
                            f"seed {seed}'s worker process ended with exit code {worker.exitcode}"))
            if (stop or any(status == "failed" for status, _ in outcome.values())) and not passed_on:
                todo.clear()  # seeds not started stay so; a resume starts them
                for worker in running.values():
                    with contextlib.suppress(OSError):
                        os.kill(worker.pid, signal.SIGTERM)
                passed_on = True
            bar.update(sum(seed_step(Path(d)) for d in run_dirs) - bar.n)
            if bar.n - reported >= max(1, bar.total // 20) or not (todo or running):
                bar.report()
                reported = bar.n
    bar.close()
    failures = [payload for status, payload in outcome.values() if status == "failed"]
    if failures:
        raise failures[0]
    if any(outcome.get(s, ("",))[0] != "done" for s in seeds):  # stopped, or not started
        stopped = [payload for status, payload in outcome.values() if status == "stopped"]
        raise Interrupted(stop.signum or signal.SIGINT, min(stopped, default=0), where, total)
    return [outcome[s][1] for s in seeds]


__all__ = ["PROCESSES_PER_CORE", "as_is", "draw_samples", "plan_side_by_side", "seed_step", "side_by_side",
           "train_side_by_side"]
