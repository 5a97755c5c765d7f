"""The loop, once: ``fit(run, hooks, until)``.

Each iteration is the seed's (:meth:`gankit.training.run.Steps.iteration`);
around it the loop calls the hooks (:mod:`gankit.training.hooks`) and nothing
else: a metrics line at every logging step (the one host sync of the
interval), a checkpoint every ``checkpoint_every`` iterations and at the end,
``finish`` when T is reached, ``close`` always (after ``stopped``, where a hook
has it, when a loss became non-finite). SIGINT or SIGTERM stops it
after the iteration in progress, with the checkpoint written. The same loop
trains one run (:class:`~gankit.training.run.Run`) and S stacked ones
(:class:`~gankit.training.stacked.StackedRuns`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor

from ..config import TrainConfig
from ..distributed import Ranks
from ..interrupt import Interrupted, stop_requests
from .hooks import Hook, HookBase
from .run import NonFiniteLossError
from .steps import Window


class Steppable(Protocol):
    """What :func:`fit` trains: a :class:`~gankit.training.run.Run` or stacked runs."""

    config: TrainConfig
    step: int
    window: Window
    ranks: Ranks

    def iteration(self, window: Window, norms: bool = False) -> Tensor | None: ...

    def is_log_step(self, t: int) -> bool: ...

    def grad_norm_g(self) -> Tensor: ...

    def check_finite(self, window: Window, kept: Callable[[], str]) -> None: ...

    def read_window(self, window: Window, d_norm: Tensor, g_norm: Tensor, rate: float,
                    kept: Callable[[], str]) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...


def checkpoint(run: Steppable, hooks: Sequence[Hook]) -> dict[str, Any] | None:
    """The run's state handed to every hook's ``save``; None when no hook saves (and no other rank needs this
    one's share of the gathered streams: under torchrun every rank builds the state)."""
    if not run.ranks.enabled and all(getattr(type(h), "save", None) is HookBase.save for h in hooks):
        return None
    state = run.state_dict()
    for hook in hooks:
        hook.save(run, state)
    return state


def _nothing_kept() -> str:
    return "no checkpoint is written"


def fit(run: Steppable, hooks: Sequence[Hook], until: int, *, kept: Callable[[], str] = _nothing_kept,
        where: Path | None = None) -> None:
    """Train ``run`` to iteration ``until`` (at most its config's T), calling ``hooks``.

    ``kept()`` says where the last good checkpoint is, for the error of a non-finite loss; ``where``
    is the run folder an interrupted run names. Raises :class:`~gankit.interrupt.Interrupted`
    after writing the checkpoint when a signal stopped it; under torchrun the ranks agree on the
    iteration to stop at.
    """
    cfg = run.config
    stop = min(cfg.iterations, until)
    window = run.window
    with stop_requests() as asked:
        try:
            for hook in hooks:
                hook.start(run)
            # it_per_s counts the loop's own time: pictures, checkpoints and callbacks are set aside
            tic, tic_step, aside = time.perf_counter(), run.step, 0.0
            while run.step < stop:
                log_step = run.is_log_step(run.step)
                d_norm = run.iteration(window, norms=log_step)
                started = time.perf_counter()
                if log_step:
                    rate = (run.step - tic_step) / max(started - tic - aside, 1e-9)
                    record = run.read_window(window, d_norm, run.grad_norm_g(), rate, kept)
                    for hook in hooks:
                        hook.record(run, record)
                    tic, tic_step, aside = time.perf_counter(), run.step, 0.0
                    started = tic
                for hook in hooks:
                    hook.step(run)
                if run.ranks.any(bool(asked)):  # Ctrl-C or SIGTERM: this iteration was the last
                    break
                if run.step % cfg.checkpoint_every == 0 and run.step < stop:
                    run.check_finite(window, kept)
                    checkpoint(run, hooks)
                aside += time.perf_counter() - started
            run.check_finite(window, kept)
            checkpoint(run, hooks)
            if run.step < stop:  # stopped by a signal, checkpoint written
                raise Interrupted(asked.signum or 2, run.step, where, cfg.iterations)
            if run.step == cfg.iterations:
                for hook in hooks:
                    hook.finish(run)
        except NonFiniteLossError as error:  # the hooks record it (the run folder's stopped.json), then it goes on
            for hook in hooks:
                stopped = getattr(hook, "stopped", None)
                if stopped is not None:
                    stopped(run, error)
            raise
        finally:
            run.close_data()
            for hook in hooks:
                hook.close(run)
