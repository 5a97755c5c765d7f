r"""``gankit benchmark``: mode coverage on 2-D mixtures under the PacGAN protocol, over seeds.

The protocol (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN, Sec. 5.1):

* data: the 2D-ring (8 modes on the unit circle, standard deviation 0.01) and the
  2D-grid (25 modes at :math:`\{-4, -2, 0, 2, 4\}^2`, standard deviation 0.05),
  100,000 training points each; or any mixture (a named toy with options, or a
  mixture file: an ``.npz`` holding ``x``, ``means`` and ``std``, optionally
  ``weights``);
* each recipe (a preset with its defaults for points) is trained once per seed;
* 2,500 samples are drawn from each trained generator;
* a sample is of **high quality** when it lies within 3 standard deviations of
  its nearest mode; a mode is **captured** when at least one high-quality sample
  has it as its nearest mode;
* **reverse KL**: :math:`\mathrm{KL}(\hat p \| w)` between the high-quality
  samples' histogram over the modes and the mixture's weights (uniform for the
  ring and grid), in nats.

Each number is reported as the mean and standard deviation over seeds, next to
the published rows under the same protocol.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import viz
from ._json import jsonable
from .config import TrainConfig
from .data import load_dataset
from .metrics import mixture_coverage
from .objectives import PRESETS, resolve
from .parallel import as_done, default_workers, machine
from .presets import INPUT_GRADIENT_PENALTIES
from .progress import Progress
from .training import Trainer, generate

log = logging.getLogger(__name__)

N_SAMPLES = 2500  # generated samples scored per run (VEEGAN, PacGAN)
THRESHOLD = 3.0  # high quality: within this many standard deviations of the nearest mode
DEFAULT_DATA = ("ring", "grid")
DEFAULT_RECIPES = ("gan", "minimax", "wgan", "wgan-gp", "sngan", "pacgan", "gan-r1")
SAMPLE_SEED = 10_000  # the noise of the scored samples: seed SAMPLE_SEED + run seed, apart from training's streams

# Published rows under the same protocol: (method, modes, high-quality %, reverse KL or None, source).
PUBLISHED: dict[str, list[tuple[str, float, float, float | None, str]]] = {
    "ring": [
        ("GAN", 6.3, 98.2, 0.45, "Lin et al. 2018 (PacGAN), Table 1"),
        ("PacGAN4", 7.8, 95.9, 0.07, "Lin et al. 2018 (PacGAN), Table 1"),
        ("WGAN-GP", 6.8, 59.6, None, "Elfeki et al. 2019 (GDPP), Table 1"),
    ],
    "grid": [
        ("GAN", 17.3, 94.8, 0.70, "Lin et al. 2018 (PacGAN), Table 1"),
        ("PacGAN4", 24.8, 93.6, 0.04, "Lin et al. 2018 (PacGAN), Table 1"),
        ("WGAN-GP", 24.2, 28.7, None, "Elfeki et al. 2019 (GDPP), Table 1"),
    ],
}
QUICK = {"iterations": 60, "seeds": 2, "g_hidden": (32, 32), "d_hidden": (32, 32)}


# --------------------------------------------------------------------------- scoring


def score_samples(samples: np.ndarray, mixture) -> dict[str, Any]:
    """The protocol's numbers for samples in data units: modes captured, high-quality fraction, reverse KL."""
    return mixture_coverage(samples, mixture, THRESHOLD)


def _job_cost(config: TrainConfig, seeds: int) -> float:
    """Relative cost of a job, to start the longest first: iterations x steps x samples per step."""
    cfg = config.resolved("points", (2,))
    penalty = 2.0 if cfg.constraint in INPUT_GRADIENT_PENALTIES else 0.0
    penalty /= {"r1": cfg.r1_every, "gradient-penalty": cfg.gp_every}.get(cfg.constraint, 1)
    return seeds * cfg.iterations * (cfg.d_steps * (1 + penalty) + 1) * cfg.batch_size * cfg.pack


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one recipe on one data set for every seed and score each generator (a worker's job)."""
    from .seeds import SeedsTrainer

    tic, cpu = time.perf_counter(), time.process_time()
    config = TrainConfig.from_dict(job["config"])
    if job.get("sequential"):  # the baseline: each seed on its own plain trainer, one after another
        runs = [Trainer(dataclasses.replace(config, seed=s), Path(job["run_dir"]) / f"seed-{s}")
                for s in job["seeds"]]
        for run in runs:
            run.fit()
    else:
        trainer = SeedsTrainer(config, job["seeds"], job["run_dir"], pictures=False)
        trainer.fit()
        runs = trainer.runs
    results = []
    for seed, run in zip(job["seeds"], runs, strict=True):
        x = generate(run.G, N_SAMPLES, seed=SAMPLE_SEED + seed)
        samples = run.dataset.scaler.to_data(x).cpu().numpy()
        score = score_samples(samples, run.dataset.mixture)
        result = {"data": job["data"], "recipe": job["recipe"], "seed": seed, **score,
                  "iterations": run.config.iterations, "run_dir": str(run.run_dir)}
        (run.run_dir / "benchmark.json").write_text(json.dumps(jsonable(result), indent=2) + "\n")
        results.append({**result, "points": samples[:1000].tolist()})
    return {"results": results, "seconds": time.perf_counter() - tic, "cpu_seconds": time.process_time() - cpu,
            "data": job["data"], "recipe": job["recipe"]}


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of modes, high quality and reverse KL (inf counted apart)."""
    modes = np.array([r["modes"] for r in results], float)
    hq = np.array([r["high_quality"] for r in results], float)
    rkl = np.array([r["reverse_kl"] for r in results], float)
    ok = np.isfinite(rkl)
    return {
        "seeds": len(results), "n_modes": results[0]["n_modes"],
        "modes_mean": float(modes.mean()), "modes_std": float(modes.std()),
        "high_quality_mean": float(hq.mean()), "high_quality_std": float(hq.std()),
        "reverse_kl_mean": float(rkl[ok].mean()) if ok.any() else None,
        "reverse_kl_std": float(rkl[ok].std()) if ok.any() else None,
        "reverse_kl_undefined": int((~ok).sum()),
        "all_modes_every_seed": bool((modes == results[0]["n_modes"]).all()),
    }


# --------------------------------------------------------------------------- the benchmark


def run_benchmark(
    out: str | Path,
    *,
    data: tuple[str, ...] = DEFAULT_DATA,
    data_options: dict[str, Any] | None = None,
    recipes: tuple[str, ...] = DEFAULT_RECIPES,
    seeds: int = 10,
    quick: bool = False,
    workers: int | None = None,
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    sequential: bool = False,
) -> dict[str, Any]:
    """Train every recipe on every data set for ``seeds`` seeds and score them under the PacGAN protocol.

    Args:
        out: the output folder: ``benchmark.json``, ``benchmark.md``, ``samples_<data>.png`` and the
            run folders (``runs/<data>/<recipe>/seed-<k>``).
        data: named mixtures (``ring``, ``grid``) or mixture files (``.npz`` with ``x``, ``means``, ``std``).
        data_options: options of the named data sets (e.g. ``{"n_modes": 6}``).
        recipes: preset names.
        seeds: seeds 0 .. seeds - 1 for every recipe.
        quick: tiny runs for tests (the numbers mean nothing).
        workers: worker processes (default: one per core, at most 2).
        device: where to train (``cpu`` by default: the small MLPs run best there, one core per worker).
        overrides: TrainConfig fields applied to every recipe (e.g. ``{"iterations": 1000}``).
        progress: a progress bar over the jobs.
        sequential: train every seed on its own plain trainer, one job per seed (the baseline the
            stacked trainer is measured against; the same numbers in law, more wall time).

    Returns:
        The content of ``benchmark.json``.
    """
    out = Path(out)
    unknown = [r for r in recipes if r not in PRESETS]
    if unknown:
        raise ValueError(f"--recipes: unknown recipe(s) {unknown}; choose from {sorted(PRESETS)}")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1; got {seeds}")
    overrides = dict(overrides or {})
    if quick:
        seeds = min(seeds, QUICK["seeds"])
        overrides = {**{k: v for k, v in QUICK.items() if k != "seeds"}, **overrides}
    mixtures = {}
    for d in data:
        ds = load_dataset(d, options=data_options or {}, seed=0)
        if ds.mixture is None:
            raise ValueError(f"--data {d}: not a mixture; the protocol needs known modes (ring, grid, or an .npz "
                             "holding x, means and std)")
        if ds.kind != "points":
            raise ValueError(f"--data {d}: the protocol is for points; got {ds.kind}")
        mixtures[d] = ds.mixture
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for d in data:
        for recipe in recipes:
            fields = {"data": d, "data_options": dict(data_options or {}), "objective": recipe, "device": device,
                      "snapshot_every": 0, "tensorboard": False, "progress": False, **overrides}
            fields.setdefault("checkpoint_every", 10**9)
            config = TrainConfig(**fields)
            run_dir = str(out / "runs" / _slug(d) / recipe)
            groups = [[s] for s in range(seeds)] if sequential else [list(range(seeds))]
            jobs += [{"data": d, "recipe": recipe, "seeds": g, "config": config.to_dict(), "run_dir": run_dir,
                      "sequential": sequential, "cost": _job_cost(config, len(g))} for g in groups]
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i]["cost"])  # longest first
    workers = workers or default_workers(device)
    tic = time.perf_counter()
    done: dict[int, dict[str, Any]] = {}
    with Progress(len(jobs), enabled=progress, desc="gankit benchmark", unit="job") as bar:
        for k, result in as_done(_run_job, [jobs[i] for i in order], workers):
            done[order[k]] = result
            bar.update(1)
            bar.report(f"{result['recipe']} on {result['data']}: {result['seconds']:.0f} s")
    wall = time.perf_counter() - tic
    results = [r for i in range(len(jobs)) for r in done[i]["results"]]
    table = {d: {recipe: summarise([r for r in results if r["data"] == d and r["recipe"] == recipe])
                 for recipe in recipes} for d in data}
    report = {
        "protocol": {"samples": N_SAMPLES, "threshold_std": THRESHOLD, "seeds": seeds,
                     "reverse_kl": "KL(high-quality mode histogram || mixture weights), nats",
                     "sample_noise_seed": f"{SAMPLE_SEED} + run seed"},
        "quick": quick, "data": list(data), "data_options": dict(data_options or {}), "recipes": list(recipes),
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "settings": {recipe: _settings(recipe) for recipe in recipes},
        "table": table,
        "published": {d: [dict(zip(("method", "modes", "high_quality_pct", "reverse_kl", "source"), row,
                                   strict=True)) for row in PUBLISHED.get(d, [])] for d in data},
        "machine": machine(workers), "wall_seconds": wall, "batched": not sequential,
        "job_seconds": _job_seconds([done[i] for i in range(len(jobs))]),
        "results": [jsonable({k: v for k, v in r.items() if k != "points"}) for r in results],
    }
    (out / "benchmark.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "benchmark.md").write_text(format_markdown(report) + "\n")
    for d in data:
        _samples_figure([r for r in results if r["data"] == d], mixtures[d], recipes, seeds,
                        out / f"samples_{_slug(d)}.png", d)
    return report


def _job_seconds(jobs: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of training and scoring per recipe and data set, summed over its jobs."""
    seconds: dict[str, float] = {}
    for job in jobs:
        key = f"{job['recipe']}@{job['data']}"
        seconds[key] = seconds.get(key, 0.0) + job["seconds"]
    return seconds


def _slug(data: str) -> str:
    return Path(data).stem if data not in ("ring", "grid") else data


def _settings(recipe: str) -> dict[str, Any]:
    preset = resolve(recipe)
    s = preset.settings("points")
    return {"objective": preset.objective, "constraint": preset.constraint, "optimizer": preset.optimizer,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in s.items()}, "reference": preset.reference}


def format_markdown(report: dict[str, Any]) -> str:
    """The table: mean +- std over seeds per recipe and data set, with the published rows beside them."""
    lines = []
    seeds = report["protocol"]["seeds"]
    for d in report["data"]:
        K = next(iter(report["table"][d].values()))["n_modes"]
        lines += [f"### {d} ({K} modes; {seeds} seeds, {N_SAMPLES} samples each)", "",
                  f"| recipe | modes (of {K}) | high quality (%) | reverse KL | iterations |",
                  "| --- | --- | --- | --- | --- |"]
        for recipe, s in report["table"][d].items():
            rkl = "inf" if s["reverse_kl_mean"] is None else f"{s['reverse_kl_mean']:.3f} ± {s['reverse_kl_std']:.3f}"
            if s["reverse_kl_undefined"] and s["reverse_kl_mean"] is not None:
                rkl += f" ({s['reverse_kl_undefined']} undefined)"
            its = report["overrides"].get("iterations", report["settings"][recipe]["iterations"])
            lines.append(f"| gankit `{recipe}` | {s['modes_mean']:.1f} ± {s['modes_std']:.1f} | "
                         f"{100 * s['high_quality_mean']:.1f} ± {100 * s['high_quality_std']:.1f} | {rkl} | {its} |")
        for row in report["published"].get(d, []):
            rkl = "-" if row["reverse_kl"] is None else f"{row['reverse_kl']:.2f}"
            lines.append(f"| {row['method']} (published: {row['source']}) | {row['modes']:.1f} | "
                         f"{row['high_quality_pct']:.1f} | {rkl} | |")
        lines.append("")
    machine = report["machine"]
    lines.append(f"Wall time {report['wall_seconds'] / 60:.1f} min on {machine['cpus']} CPUs "
                 f"({machine['workers']} worker processes, 1 thread each; torch {machine['torch']}; "
                 + ("each recipe's seeds stacked" if report.get("batched", True) else "seeds one by one") + ").")
    if report["quick"]:
        lines.append("Quick mode: tiny runs for tests; these numbers mean nothing.")
    return "\n".join(lines)


def _samples_figure(results: list[dict[str, Any]], mixture, recipes, seeds: int, path: Path, title: str) -> Path:
    cols = min(seeds, 10)
    fig = viz.new_figure(1.6 * cols + 1.2, 1.6 * len(recipes) + 0.6)
    axes = fig.subplots(len(recipes), cols, squeeze=False)
    means = mixture.means
    pad = 0.15 * np.ptp(means, axis=0).max() + 6 * float(mixture.stds.max())
    lo, hi = means.min(0) - pad, means.max(0) + pad
    by_key = {(r["recipe"], r["seed"]): r for r in results}
    for i, recipe in enumerate(recipes):
        for j in range(cols):
            ax = axes[i, j]
            r = by_key.get((recipe, j))
            ax.scatter(means[:, 0], means[:, 1], s=12, c="black", marker="x", lw=0.8)
            if r is not None:
                pts = np.asarray(r["points"])
                ax.scatter(pts[:, 0], pts[:, 1], s=1, c="#ff7f0e", alpha=0.5)
                ax.set_title(f"{r['modes']}/{r['n_modes']}, {100 * r['high_quality']:.0f}%", fontsize=6)
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(recipe, fontsize=8)
    fig.suptitle(f"{title}: 1,000 of the 2,500 scored samples per seed (orange), modes (x); "
                 "title: modes captured, high-quality %", fontsize=8)
    return viz.save(fig, path)


# --------------------------------------------------------------------------- command line


__all__ = ["N_SAMPLES", "PUBLISHED", "THRESHOLD", "run_benchmark", "score_samples", "summarise"]
