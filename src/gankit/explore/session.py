"""One page's runs: run ``a`` (and ``b`` when comparing) on shared data and seed, trained in a worker thread.

The page's validated messages (:mod:`gankit.explore.protocol`) go into a
queue; the worker thread alone touches the networks: it takes the queued
commands, trains while playing, and hands a frame of every run to its
viewers about ``fps`` times a second (the slower metrics every
``metrics_every`` seconds). The page stays responsive because nothing in the
server's event loop waits for training. A command that fails (a malformed
file, a setting the config refuses) is answered with its message and changes
nothing. With compare on, the two runs step at the same time, each in a
worker thread of its own (:class:`~gankit.explore.lanes.Lanes`).

A session outlives its page: a reloaded page attaches to it again
(:meth:`Session.attach`) and gets a ``hello`` with the current state and the
curves so far, while training goes on. Every attached page (a viewer) gets
the same frames; the server closes a session nobody has been attached to for
a while.

The worker trains one step at a time (one critic step, or the generator step
that ends an iteration) and reads the queue between two steps, so pause,
a new setting and the server's stop act after the step in progress: the
settings' bounds keep one step well under a second on a CPU core
(:data:`gankit.explore.protocol.SETTINGS`). A run that diverges is reported
once and stops; it stays stopped until it is reset or its settings change.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import Dataset, load_dataset
from ..data.toy import mixture_from_arrays
from ..training import NonFiniteLossError, default_run_dir
from .lanes import Lanes
from .protocol import OBJECTIVE_CHOICES, OBJECTIVES, SETTINGS
from .run import LiveRun, Settings, preset_values
from .schema import HISTORY_LIMIT, check, schema
from .views import ViewInputs

log = logging.getLogger(__name__)

KEPT_FRAMES = 120  # frames kept for the GIF export (one every GIF_EVERY seconds)
GIF_EVERY = 0.25
DRAWN_SAMPLES = 20_000


def drawn_mixture(points: list[tuple[float, float]]) -> tuple[np.ndarray, float]:
    r"""Points drawn by hand as a density: a Gaussian of std :math:`\sigma` on each point (a kernel density).

    .. math::
        \sigma = 0.03 \cdot \max_j (\max_i x_{ij} - \min_i x_{ij})

    so the modes stay apart at the scale of the drawing. Returns the means ``(n, 2)`` and ``sigma``.
    """
    means = np.asarray(points, dtype=np.float64)
    extent = float((means.max(0) - means.min(0)).max())
    return means, max(0.03 * extent, 1e-3)


class Session:
    """The runs of one page and the worker thread that trains them.

    Args:
        send: the first viewer: called from the worker with each message for the page; ``frame=True``
            marks a frame, which may replace an unsent older one.
        out_root: where saved runs go (``<out_root>/<data>-<objective>-s<seed>``).
        device: where the networks train.
        fps: frames per second while playing.
        metrics_every: seconds between two points of the curves.
    """

    def __init__(self, send: Callable[..., None], *, out_root: str | Path = "runs/explore", device: str = "cpu",
                 fps: float = 25.0, metrics_every: float = 0.5):
        self.id = uuid.uuid4().hex
        self._keys = itertools.count(1)
        self._viewers: dict[int, Callable[..., None]] = {0: send}  # key -> send; 0 is the first page
        self._joining: dict[int, Callable[..., None]] = {}  # attached, waiting for their hello from the worker
        self.unattended_since: float | None = None  # time.monotonic() when the last viewer left
        self._threads = torch.get_num_threads()  # the worker's torch threads (the lanes set their own)
        self.out_root, self.device = Path(out_root), device
        self.fps, self.metrics_every = fps, metrics_every
        self.commands: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.workdir = Path(tempfile.mkdtemp(prefix="gankit-explore-"))
        self.data: tuple[str, dict[str, Any]] = ("ring", {})
        self.data_file: Path | None = None  # an uploaded or drawn set, copied into saved run folders
        self.data_kind, self.data_label = "named", "ring"  # named, drawn or file; what the page shows
        self.seed = 0
        self.settings = {"a": Settings(objective="gan"), "b": Settings(objective="wgan-gp")}
        self.compare = False
        self.generations = {"a": 0, "b": 0}  # how often each run was rebuilt: the page keeps a run's curves until then
        self.playing = False
        self.steps_pending = 0  # iterations asked for by "step iteration", taken a step at a time
        self.speed = 0.0  # iterations per second; 0: as fast as it goes
        self.diverged: dict[str, str] = {}  # run -> its divergence, reported once, until it is rebuilt
        self._round: list[str] = []  # the runs still inside the iteration in progress
        self.runs: dict[str, LiveRun] = {}
        self.dataset: Dataset | None = None
        self.inputs: ViewInputs | None = None
        self.kept: list[dict[str, Any]] = []  # light frames for the GIF
        self.latest: dict[str, Any] = {}  # the newest light frame of each run
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dirty = True
        self._next_frame = self._next_metrics = self._next_kept = 0.0
        self._next_iteration = 0.0
        self.thread = threading.Thread(target=self._work, name=f"gankit-explore-{self.id[:8]}", daemon=True)
        self.lanes = Lanes(f"gankit-explore-{self.id[:8]}")

    # -- the server's side

    def start(self) -> None:
        self.thread.start()

    def submit(self, message: dict[str, Any]) -> None:
        """Queue a validated message for the worker."""
        self.commands.put(message)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker (after its current step) and its lanes, and remove the session's files."""
        self._stop.set()
        self.commands.put(None)
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)
        self.lanes.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- viewers

    def attach(self, send: Callable[..., None]) -> int:
        """Add a viewer (a reloaded page): the worker sends it a ``hello`` with the state and the curves so far,
        then the frames every viewer gets; training goes on. Returns the key :meth:`detach` takes."""
        key = next(self._keys)
        with self._lock:
            self._joining[key] = send
            self.unattended_since = None
        self.commands.put({"type": "attach", "viewer": key})
        return key

    def detach(self, key: int) -> bool:
        """Remove a viewer (its page has gone); True when no viewer is left (then :attr:`unattended_since` says
        since when)."""
        with self._lock:
            self._viewers.pop(key, None)
            self._joining.pop(key, None)
            alone = not self._viewers and not self._joining
            if alone:
                self.unattended_since = time.monotonic()
        return alone

    def send(self, message: dict[str, Any], frame: bool = False) -> None:
        """Hand ``message`` to every viewer's connection; only messages the outbound schema declares leave."""
        check(message)
        with self._lock:
            viewers = list(self._viewers.values())
        for deliver in viewers:
            deliver(message, frame=frame)

    def hello(self, resumed: bool = False) -> dict[str, Any]:
        """What a page needs to draw its controls and catch up: the choices, each preset's values, the state,
        and each run's curves so far (the newest ``HISTORY_LIMIT`` points); ``resumed``: a page attached again."""
        return check({
            "type": "hello", "session": self.id, "resumed": resumed,
            "objectives": OBJECTIVES,
            "presets": {name: preset_values(name) for name in OBJECTIVE_CHOICES},
            "controls": {name: dataclasses.asdict(f) for name, f in SETTINGS.items()},
            "state": self.state(),
            "schema": schema(),
            "history": {name: run.history[-HISTORY_LIMIT:] for name, run in self.runs.items()},
        })

    def state(self) -> dict[str, Any]:
        inputs = self.inputs
        return {"data": self.data_label, "data_kind": self.data_kind, "generations": dict(self.generations),
                "seed": self.seed, "compare": self.compare, "playing": self.playing, "speed": self.speed,
                "settings": {k: dataclasses.asdict(v) for k, v in self.settings.items()},
                "dim": None if inputs is None else inputs.dim,
                "bounds": None if inputs is None else [b.tolist() for b in inputs.bounds],
                "real": None if inputs is None else inputs.real.round(4).ravel().tolist(),
                "density": None if inputs is None or inputs.density is None else inputs.density.round(5).tolist(),
                "mixture": self._mixture()}

    def _mixture(self) -> dict[str, Any] | None:
        mixture = self.dataset.mixture if self.dataset is not None else None
        if mixture is None or len(mixture.means) > 200:
            return None
        return {"means": mixture.means.round(4).tolist(), "stds": mixture.stds.round(5).tolist()}

    # -- the worker

    def _work(self) -> None:
        torch.set_num_threads(self._threads)  # this thread's count, whatever a lane set before it started
        try:
            self._rebuild()
        except Exception as e:  # noqa: BLE001 - reported to the page, the session stays up
            self._report("cannot start", e)
        while not self._stop.is_set():
            training = (self.playing or self.steps_pending > 0) and any(not r.finished for r in self.runs.values())
            try:
                wait = 0.0 if training else 0.05
                if training and self.speed and not self._round:  # the next iteration waits for its time
                    wait = max(0.0, self._next_iteration - time.perf_counter())
                self._handle(self.commands.get(timeout=wait) if wait else self.commands.get_nowait())
                while True:
                    self._handle(self.commands.get_nowait())
            except queue.Empty:
                pass
            if self._stop.is_set():
                break
            try:
                training = (self.playing or self.steps_pending > 0) and any(not r.finished for r in self.runs.values())
                if training and (self._round or time.perf_counter() >= self._next_iteration):
                    self._train_step()
                self._publish()
            except Exception as e:  # noqa: BLE001 - reported to the page, the session stays up
                self.playing, self.steps_pending = False, 0
                self._report("training stopped", e)

    def _handle(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        kind = message["type"]
        try:
            getattr(self, f"_on_{kind}")(message)
        except Exception as e:  # noqa: BLE001 - reported to the page, the session stays up
            self._report(kind, e)
        self._dirty = True

    def _report(self, what: str, error: Exception) -> None:
        """Send the page the error's message: the user's to mend (bad data, a diverged run), or an internal one."""
        if isinstance(error, (ValueError, OSError, NonFiniteLossError)):
            self.send({"type": "error", "message": f"{what}: {error}"})
            return
        log.exception("explore: %s", what)
        self.send({"type": "error", "message": f"{what}: internal error ({type(error).__name__}: {error})"})

    def _step_runs(self, steps: dict[str, str]) -> None:
        """Take one step of each named run: ``"d"`` a critic step, ``"g"`` the generator step that ends the run's
        iteration (the run then leaves the round in progress). Compared runs step at the same time, each in its
        lane (its own thread); a run alone steps in this thread."""
        runs = self.runs
        jobs = {name: runs[name].d_step if what == "d" else runs[name].g_step for name, what in steps.items()}
        self.lanes.run(jobs, inline=len(runs) == 1)
        self._round = [name for name in self._round if steps.get(name) != "g"]

    def _train_step(self) -> None:
        """One step of each run in the iteration in progress (a critic step, or the generator step that ends it);
        a new iteration starts for every unfinished run once all have ended theirs."""
        if not self._round:
            self._round = [name for name, run in self.runs.items() if not run.finished]
        runs = self.runs
        self._step_runs({name: "d" if runs[name].k < runs[name].config.d_steps else "g" for name in self._round})
        self._dirty = True
        if self._round:
            return
        self.steps_pending = max(0, self.steps_pending - 1)  # every run ended its iteration
        if all(r.finished for r in self.runs.values()):
            self.playing, self.steps_pending = False, 0
            self.send({"type": "status", "message": "finished: T iterations reached (raise T to go on)",
                       "state": self._brief()})
        self._next_iteration = time.perf_counter() + (1.0 / self.speed if self.speed else 0.0)

    def _frames(self, metrics: bool) -> dict[str, Any]:
        """Each run's frame; a run that diverged is left out, reported once (and playing stops)."""
        frames = {}
        for name, run in self.runs.items():
            if name in self.diverged:
                continue
            try:
                frames[name] = run.frame(metrics=metrics)
            except NonFiniteLossError as e:
                self.diverged[name] = str(e)
                self.playing, self.steps_pending = False, 0
                self._report("training stopped", e)
        return frames

    def _publish(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not (self._dirty or force) or (now < self._next_frame and not force):
            return
        with_metrics = force or now >= self._next_metrics
        runs = self._frames(with_metrics)
        frame = {"type": "frame", **self._brief(), "runs": runs}
        self.send(frame, frame=True)
        light = {name: {k: f[k] for k in ("fake", "heat", "step")} for name, f in frame["runs"].items()}
        with self._lock:
            self.latest = light
            if now >= self._next_kept:
                self.kept.append(light)
                del self.kept[:-KEPT_FRAMES]
                self._next_kept = now + GIF_EVERY
        self._next_frame = max(self._next_frame + 1.0 / self.fps, now)  # a steady rate, late frames not repaid
        if with_metrics:
            self._next_metrics = now + self.metrics_every
        self._dirty = False

    def _brief(self) -> dict[str, Any]:
        return {"playing": self.playing, "speed": self.speed, "compare": self.compare}

    def _rebuild(self, names: tuple[str, ...] = ("a", "b")) -> None:
        """(Re)build the named runs from their settings on the current data and seed."""
        if self.dataset is None:
            self._load(self.data)
        for name in names:
            if name == "b" and not self.compare:
                self.runs.pop("b", None)
                continue
            self.runs[name] = LiveRun(name, self.settings[name], self.dataset, self.data, self.seed,
                                      self.inputs, self.device)
            self.generations[name] += 1
        self.runs = dict(sorted(self.runs.items()))
        for name in names:
            self.diverged.pop(name, None)
        self._round = [name for name in self._round if name in self.runs and name not in names]
        self.steps_pending = 0
        self._next_metrics = self._next_kept = 0.0
        with self._lock:
            self.kept.clear()
        self.send({"type": "state", "state": self.state()})
        self._publish(force=True)

    def _load(self, data: tuple[str, dict[str, Any]], data_file: Path | None = None, kind: str = "named",
              label: str | None = None) -> None:
        """Load the data with gankit's own loaders; only 1-D and 2-D points are taken.

        ``data_file`` is an uploaded or drawn set (``kind`` file or drawn) that ``label`` names on the page.
        When the data's dimension changes, both runs' noise dimension becomes it (1-D data: one noise
        coordinate, so the page can draw the map z -> x).
        """
        dataset = load_dataset(data[0], options=data[1], seed=self.seed)
        name = label or data[0]
        if dataset.kind != "points" or dataset.sample_shape not in ((1,), (2,)):
            raise ValueError(f"{name}: explore trains on 1-D or 2-D points; this data has samples of shape "
                             f"{dataset.sample_shape}")
        if len(dataset) < 10:
            raise ValueError(f"{name}: {len(dataset)} points; explore needs at least 10")
        inputs = ViewInputs(dataset, self.seed)
        if self.inputs is not None and self.inputs.dim != inputs.dim:
            self.settings = {k: dataclasses.replace(v, noise_dim=inputs.dim) for k, v in self.settings.items()}
        self.dataset, self.data, self.data_file = dataset, data, data_file
        self.data_kind, self.data_label = kind, name
        self.inputs = inputs

    # -- commands (each named _on_<type>)

    def _refuse_diverged(self) -> None:
        if self.diverged:
            name = sorted(self.diverged)[0]
            raise ValueError(f"run {name} diverged; reset, or change its settings, to train again")

    def _on_attach(self, message: dict[str, Any]) -> None:
        """A page attached again (:meth:`attach`): its hello, then the frames every viewer gets (only this thread
        sends, so nothing reaches it before its hello)."""
        key = message["viewer"]
        with self._lock:
            send = self._joining.pop(key, None)
            if send is not None:
                self._viewers[key] = send
        if send is None:
            return  # it left before its turn
        send(self.hello(resumed=True), frame=False)
        self._publish(force=True)

    def _on_play(self, message: dict[str, Any]) -> None:
        if self.runs and all(r.finished for r in self.runs.values()):
            raise ValueError("the runs reached T; raise T (iterations) or reset")
        self._refuse_diverged()
        self.playing = True

    def _on_pause(self, message: dict[str, Any]) -> None:
        self.playing, self.steps_pending = False, 0  # an iteration in progress stays where it is

    def _on_reset(self, message: dict[str, Any]) -> None:
        self._rebuild()

    def _on_speed(self, message: dict[str, Any]) -> None:
        self.speed = message["value"]
        self._next_iteration = 0.0

    def _on_step(self, message: dict[str, Any]) -> None:
        self._refuse_diverged()
        self.playing = False
        what = message["what"]
        if what == "iteration":  # the rest of the iteration, a step at a time (pause stops it)
            if self.runs and all(r.finished for r in self.runs.values()):
                raise ValueError("the runs reached T; raise T (iterations) or reset")
            self.steps_pending += 1
            return
        self._step_runs({name: what for name in self.runs})
        self._publish(force=True)

    def _on_compare(self, message: dict[str, Any]) -> None:
        self.compare = message["on"]
        if self.compare:
            self._rebuild(("a", "b"))  # the same start for both, so the contrast is the objectives'
        else:
            self.runs.pop("b", None)
            self.diverged.pop("b", None)
            self._round = [name for name in self._round if name != "b"]
            self.send({"type": "state", "state": self.state()})

    def _on_seed(self, message: dict[str, Any]) -> None:
        old = self.seed
        self.seed = message["value"]
        try:
            self._load(self.data, self.data_file, self.data_kind, self.data_label)
        except Exception:
            self.seed = old
            raise
        self._rebuild()

    def _on_configure(self, message: dict[str, Any]) -> None:
        name = message["run"]
        values = dict(message["settings"])
        if "objective" in values and values["objective"] != self.settings[name].objective:
            # a new game starts from its preset; the controls sent with it override it
            fresh = Settings(objective=values["objective"], noise_dim=self.settings[name].noise_dim)
            settings = dataclasses.replace(fresh, **values)
        else:
            settings = dataclasses.replace(self.settings[name], **values)
        old = self.settings[name]
        if settings == old and name in self.runs:
            return  # nothing changed: the run goes on
        settings.config(self.data[0], self.data[1], self.seed, self.device)  # refuses bad values first
        self.settings[name] = settings
        try:
            self._rebuild((name,))
        except Exception:
            self.settings[name] = old
            raise

    def _on_data(self, message: dict[str, Any]) -> None:
        if message.get("name") is not None:
            self._load((message["name"], {}))
            self._rebuild()
            return
        if message.get("points") is not None:
            means, sigma = drawn_mixture(message["points"])
            kind, label = "drawn", "drawn points"
            data_file = self.workdir / f"drawn-{uuid.uuid4().hex[:6]}.npz"
            mixture = mixture_from_arrays(means, sigma, source=label)
            x = mixture.sample(DRAWN_SAMPLES, torch.Generator().manual_seed(self.seed)).numpy()
            np.savez(data_file, x=x, means=means, std=np.full(len(means), sigma))
        else:
            name, content = message["file"]
            kind, label = "file", "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name)
            data_file = self.workdir / f"{uuid.uuid4().hex[:6]}-{label}"
            data_file.write_bytes(content)
        try:
            self._load((str(data_file), {}), data_file, kind, label)
        except Exception:
            data_file.unlink(missing_ok=True)
            raise
        self._rebuild()

    def _on_save(self, message: dict[str, Any]) -> None:
        name = message["run"]
        run = self.runs.get(name)
        if run is None:
            raise ValueError(f"there is no run {name!r}; turn on compare for run b")
        if name in self.diverged:
            raise ValueError(f"run {name} diverged, so it cannot be resumed or sampled; reset it, or change its "
                             "settings, then save")
        run_dir = default_run_dir(run.config, self.out_root)
        run_dir.mkdir(parents=True, exist_ok=False)
        data = None
        if self.data_file is not None:
            kept = run_dir / ("data" + self.data_file.suffix)
            shutil.copyfile(self.data_file, kept)
            data = str(kept.resolve())
        run.save(run_dir, data)
        self.send({"type": "saved", "run": name, "path": str(run_dir), "step": run.step})

    # -- exports

    def export(self, run: str, fmt: str) -> bytes:
        """The run's view as a PNG (now) or a GIF (the kept frames), drawn by :mod:`gankit.explore.export`."""
        from .export import gif, png

        with self._lock:
            frames = [f[run] for f in self.kept if run in f]
            latest, inputs = self.latest.get(run), self.inputs
        if latest is None or inputs is None:
            raise ValueError(f"no run {run!r} to draw (turn on compare for run b)")
        if not frames or frames[-1]["step"] != latest["step"]:
            frames.append(latest)
        return png(latest, inputs) if fmt == "png" else gif(frames, inputs)


__all__ = ["Session", "drawn_mixture"]
