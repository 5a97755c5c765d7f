"""What the loop calls at its fixed points: the hooks.

:func:`gankit.training.loop.fit` knows the run folder, the pictures, the
evaluation, the progress bar and TensorBoard only as hooks. A hook has six
points, each given the run being trained (a :class:`RunView`):

* ``start(run)``: before the first iteration of this ``fit`` (the run folder
  refuses to overwrite a run and writes the config; the first snapshot);
* ``record(run, record)``: a metrics line at a logging step, after the host
  sync (a hook may add entries for the hooks after it);
* ``step(run)``: after every iteration (snapshots every N iterations);
* ``save(run, state)``: a checkpoint, ``state`` as :meth:`Run.state_dict` gives it;
* ``finish(run)``: the run reached its T (samples.png, the GIF, the curves);
* ``close(run)``: always last, also on an error or a signal (locks, files).

A hook may also define ``stopped(run, error)``, called before ``close`` when a
loss became non-finite (``error`` a
:class:`~gankit.training.run.NonFiniteLossError`, its iteration and quantity):
the run folder records the stop in ``stopped.json``. It is optional, so a hook
with the six points alone is still a :class:`Hook`.

:class:`Hook` is the protocol; :class:`HookBase` gives every point a no-op,
so a hook defines only the points it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..progress import Progress

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..config import TrainConfig
    from ..data import Dataset


class RunView(Protocol):
    """What a hook may read of the run it is called for: a :class:`~gankit.training.Trainer` (or one seed's
    of stacked runs, whose own hooks are called with it; the stack's hook gets the stack)."""

    config: TrainConfig
    dataset: Dataset
    device: torch.device
    step: int
    run_dir: Path
    records: list[dict[str, Any]]
    G: nn.Module
    D: nn.Module

    @property
    def G_eval(self) -> nn.Module: ...

    def sample(self, n: int, *, data_units: bool = True, generator: torch.Generator | None = None) -> torch.Tensor: ...

    def state_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class Hook(Protocol):
    """The six points of the loop a hook is called at (see the module's docstring)."""

    def start(self, run: RunView) -> None: ...

    def record(self, run: RunView, record: dict[str, Any]) -> None: ...

    def step(self, run: RunView) -> None: ...

    def save(self, run: RunView, state: dict[str, Any]) -> None: ...

    def finish(self, run: RunView) -> None: ...

    def close(self, run: RunView) -> None: ...


class HookBase:
    """A :class:`Hook` that does nothing at every point; subclasses define the points they use."""

    def start(self, run: RunView) -> None:
        pass

    def record(self, run: RunView, record: dict[str, Any]) -> None:
        pass

    def step(self, run: RunView) -> None:
        pass

    def save(self, run: RunView, state: dict[str, Any]) -> None:
        pass

    def finish(self, run: RunView) -> None:
        pass

    def close(self, run: RunView) -> None:
        pass

    def stopped(self, run: RunView, error: Exception) -> None:
        pass


Callback = Callable[[Any, dict[str, Any]], None]


class Recorder(HookBase):
    """Runs the callbacks on each metrics line (they may add entries), then keeps it in ``records``.

    ``callbacks`` and ``records`` are the trainer's own lists (a callback attached later is called too).
    """

    def __init__(self, callbacks: list[Callback], records: list[dict[str, Any]]):
        self.callbacks, self.records = callbacks, records

    def record(self, run: Any, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback(run, record)
        self.records.append(record)


_POSTFIX_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "w1_estimate")


class ProgressBar(HookBase):
    """The progress bar of a fit: one tick per iteration, the losses at each logging step."""

    def __init__(self, desc: str, enabled: bool):
        self.desc, self.enabled = desc, enabled
        self.bar: Progress | None = None
        self.shown = 0  # the iteration the bar stands at

    def start(self, run: Any) -> None:
        self.bar = Progress(run.config.iterations, initial=run.step, enabled=self.enabled, desc=self.desc)
        self.shown = run.step

    def record(self, run: Any, record: dict[str, Any]) -> None:
        if self.bar is not None:
            self.step(run)
            self.bar.report(" ".join(f"{k}={record[k]:.3g}" for k in _POSTFIX_KEYS if k in record))

    def step(self, run: Any) -> None:
        if self.bar is not None and run.step > self.shown:
            self.bar.update(run.step - self.shown)
            self.shown = run.step

    def close(self, run: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
