"""The main demo: the seed's vanilla GAN and WGAN, and the best recipe, on the 8-Gaussian ring.

Each run is a preset with its defaults for points (``docs/benchmarks.md``): the
seed's non-saturating GAN (Adam, K = 1), the seed's WGAN (RMSProp, clipping
c = 0.01, K = 5, M = 64) and ``gan-r1``, the non-saturating GAN with a lazy R1
penalty, the recipe that tops the benchmark. All three decay their learning
rates linearly to 0, use the same models and the same seed, and train side by
side on worker processes. While they train, the exact W1 between generated and
real samples (optimal transport on 500 + 500 points) and the modes captured are
recorded, so the summary figure can set what each loss *reports* next to what
actually happens.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import viz
from .config import TrainConfig
from .divergences import wasserstein
from .metrics import mixture_coverage
from .parallel import default_workers, map_runs
from .runfolder import check_replaceable, replace_run
from .streams import offset
from .training import Trainer

# Each preset with its defaults for points: the demo shows what a user gets from `gankit train`.
DEMO_RUNS: dict[str, dict[str, Any]] = {
    "gan": {"objective": "gan"},
    "wgan": {"objective": "wgan"},
    "gan-r1": {"objective": "gan-r1"},
}
_COMMON = {"data": "ring", "log_every": 100}
_TRACK_N = 500  # samples per side for the exact W1 while training
log = logging.getLogger(__name__)


class _Tracker:
    """A training callback: exact W1 to held-out real samples and modes captured."""

    def __init__(self, dataset, seed: int):
        self.mixture = dataset.mixture
        self.real = self.mixture.sample(_TRACK_N, torch.Generator().manual_seed(seed + offset("demo-track"))).numpy()
        self.noise = torch.Generator().manual_seed(seed + offset("demo-noise"))

    def __call__(self, trainer: Trainer, record: dict[str, Any]) -> None:
        fake = trainer.sample(_TRACK_N, generator=self._noise_on(trainer.device)).cpu().numpy()
        record["w1_exact"] = wasserstein(fake, self.real)
        record["modes"] = mixture_coverage(fake, self.mixture)["modes"]

    def _noise_on(self, device: torch.device) -> torch.Generator:
        if self.noise.device != device:
            self.noise = torch.Generator(device=device).manual_seed(self.noise.initial_seed())
        return self.noise


def _train(job: dict[str, Any]) -> float:
    """Train one demo run with the tracking callback (module level, so a worker process can run it)."""
    tic = time.perf_counter()
    run_dir = Path(job["run_dir"])
    replace_run(run_dir, f"demo: {run_dir}")  # an earlier demo's run; never a folder gankit did not write
    trainer = Trainer(TrainConfig(**job["fields"]), run_dir)
    trainer.callbacks.append(_Tracker(trainer.dataset, job["seed"]))
    trainer.fit()
    return time.perf_counter() - tic


def run_demo(out: Path, iterations: int | None = None, progress: bool = True, seed: int = 0,
             workers: int | None = None) -> dict[str, Any]:
    """Train every demo run into ``out/<name>`` and write ``out/summary.png`` and ``summary.json``.

    The runs train side by side on ``workers`` processes (default: one per core, at most 2).

    Returns:
        ``{"table": str, "figure": Path, "runs": {name: {...numbers...}}}``.
    """
    out = Path(out)
    jobs = []
    for name, settings in DEMO_RUNS.items():
        fields = {**_COMMON, **settings, "seed": seed, "progress": progress and (workers or default_workers()) == 1}
        if iterations is not None:
            fields["iterations"] = iterations
        jobs.append({"fields": fields, "run_dir": str(out / name), "seed": seed})
        check_replaceable(out / name, what=f"demo: {out / name}")  # every folder before any training
    if progress:
        log.info("training %s side by side", ", ".join(DEMO_RUNS))
    seconds = map_runs(_train, jobs, workers or default_workers())
    trainers: dict[str, Trainer] = {}
    results: dict[str, dict[str, Any]] = {}
    for (name, job), secs in zip(zip(DEMO_RUNS, jobs, strict=True), seconds, strict=True):
        trainer = Trainer.resume(job["run_dir"])  # the finished run, read back from its folder
        samples = trainer.sample(2500, generator=torch.Generator(trainer.device).manual_seed(seed)).cpu().numpy()
        coverage = mixture_coverage(samples, trainer.dataset.mixture)
        trainers[name] = trainer
        results[name] = {
            "objective": trainer.config.objective,
            "iterations": trainer.config.iterations,
            "seconds": round(secs, 1),
            "modes": coverage["modes"],
            "n_modes": coverage["n_modes"],
            "high_quality": coverage["high_quality"],
            "reverse_kl": coverage["reverse_kl"],
            "w1_exact": trainer.records[-1]["w1_exact"],
            "run_dir": job["run_dir"],
        }
    figure = _summary_figure(trainers, results, out / "summary.png")
    (out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return {"table": format_table(results), "figure": figure, "runs": results}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    head = (f"{'run':<8} {'iterations':>10} {'seconds':>8} {'modes':>6} {'high quality':>13} "
            f"{'reverse KL':>11} {'W1':>7}")
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        lines.append(f"{name:<8} {r['iterations']:>10} {r['seconds']:>8.1f} {r['modes']:>3}/{r['n_modes']:<2}"
                     f" {100 * r['high_quality']:>12.1f}% {r['reverse_kl']:>11.3f} {r['w1_exact']:>7.3f}")
    lines.append("modes: captured out of 8 (PacGAN protocol, 2,500 samples); W1: exact, generated vs real (500 each)")
    return "\n".join(lines)


def _summary_figure(trainers: dict[str, Trainer], results: dict[str, dict[str, Any]], path: Path) -> Path:
    fig = viz.new_figure(5.0 * len(trainers), 8.8)
    axes = fig.subplots(2, len(trainers), squeeze=False)
    for col, (name, trainer) in enumerate(trainers.items()):
        r = results[name]
        inputs = trainer.snapshot_inputs()
        fake = trainer.sample(1000, generator=torch.Generator(trainer.device).manual_seed(0)).cpu().numpy()
        grid = trainer.heat_map()
        title = (f"{name.upper()}: {r['modes']}/{r['n_modes']} modes, "
                 f"{100 * r['high_quality']:.0f}% high quality\n(iteration {r['iterations']})")
        viz.draw_points_snapshot(axes[0, col], inputs["real"], fake, grid,
                                 probabilistic=trainer.objective.probabilistic, title=title)
        _draw_tracking(axes[1, col], trainer)
    fig.suptitle("The seed's GAN and WGAN, and the best recipe (GAN + lazy R1), on the 8-Gaussian ring: "
                 "same models, same seed.\n"
                 "Bottom: what each loss reports (left axis) next to the true distance to the data (right axis).",
                 fontsize=10)
    return viz.save(fig, path)


def _draw_tracking(ax, trainer: Trainer) -> None:
    records = trainer.records
    steps = np.array([rec["step"] for rec in records])
    if trainer.objective.probabilistic:
        ax.plot(steps, [rec["d_real"] for rec in records], label="mean D(x), real", color="#1f77b4")
        ax.plot(steps, [rec["d_fake"] for rec in records], label="mean D(G(z)), generated", color="#9467bd")
        ax.set_ylim(0, 1)
        ax.set_ylabel("discriminator output")
    else:
        ax.plot(steps, [rec["w1_estimate"] for rec in records], label="critic: E f(x) - E f(G(z))", color="#1f77b4")
        ax.set_ylabel("critic's W1 estimate (up to scale)")
    twin = ax.twinx()
    twin.plot(steps, [rec["w1_exact"] for rec in records], color="#d62728", lw=1.5, label="exact W1 to the data")
    twin.set_ylabel("exact W1", color="#d62728")
    twin.set_ylim(bottom=0)
    ax.set_xlabel("generator iteration")
    ax.grid(alpha=0.3)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
