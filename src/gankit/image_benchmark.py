r"""``gankit benchmark --data fashion-mnist`` (or ``digits``): every image recipe over seeds, scored one way.

The protocol:

* each recipe is trained with its image defaults, at one iteration budget for
  all (``--iterations``; default :data:`DEFAULT_ITERATIONS`), once per seed;
  ``RECIPE+cond`` trains it class-conditional (``--conditional``);
* 5,000 images are drawn from each trained generator (its EMA where the recipe
  keeps one), with noise seeded apart from training (:data:`SAMPLE_SEED` + seed)
  and, for a conditional recipe, classes drawn as often as the data hold them;
* they are scored by :class:`gankit.evaluation.images.Reference`: FID, KID,
  precision and recall (k = 3) in the domain classifier's features against the
  held-out real images, the KL of the classifier's class histogram to the
  data's, and for conditional recipes the class accuracy; the same numbers for
  real images not in the reference are the floor;
* every number is the mean and standard deviation over seeds, next to the
  wall time and the training speed (iterations per second of one worker,
  summed over the seeds it trains).

With one worker (the default on a GPU), a recipe's seeds train as ``gankit
train --seeds`` trains them (:func:`gankit.seeds.seeds_trainer`): as one
stacked network where that works and pays, else one after another. With
several (the default on a CPU: one per core, at most 2) each seed is a job of
its own: that keeps every core busy to the end, where a job per recipe would
leave cores idle behind the slowest recipe's seeds, and stacking gains little
on a CPU (DCGAN seeds stacked: 1.09x one after another on two threads).

Runs are seeded, so the same command gives the same numbers on the same machine.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import viz
from ._json import jsonable
from .config import TrainConfig
from .evaluation.images import N_IMAGES, Reference
from .objectives import PRESETS, resolve
from .parallel import as_done, default_workers, machine
from .progress import Progress
from .seeds import SeedsTrainer, seeds_trainer
from .training import Trainer, generate, load_generator

IMAGE_DATA = ("fashion-mnist", "digits")
#: Iterations per run unless --iterations says otherwise.
DEFAULT_ITERATIONS = {"fashion-mnist": 3000, "digits": 2000}
SAMPLE_SEED = 10_000  # the noise of the scored samples: seed SAMPLE_SEED + run seed
CONDITIONAL = "+cond"
QUICK = {"iterations": 4, "seeds": 2, "n": 64}
METRICS = ("fid", "kid", "precision", "recall", "class_kl", "class_accuracy")


def parse_recipe(name: str) -> tuple[str, bool]:
    """``"gan+cond"`` -> ``("gan", True)``; the error lists the recipes."""
    conditional = name.endswith(CONDITIONAL)
    base = name[: -len(CONDITIONAL)] if conditional else name
    if base not in PRESETS:
        raise ValueError(f"--recipes: unknown recipe {name!r}; choose from {sorted(PRESETS)} "
                         f"(append {CONDITIONAL} for the class-conditional variant)")
    return base, conditional


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one recipe's seeds (stacked where that works and pays: :func:`gankit.seeds.seeds_trainer`), draw
    each seed's samples from its run folder (a worker's job)."""
    config = TrainConfig.from_dict(job["config"])
    if job["sequential"]:  # one plain run (the baseline of the seeds' wall time)
        seed = job["seeds"][0]
        trainer = Trainer(dataclasses.replace(config, seed=seed), Path(job["run_dir"]) / f"seed-{seed}")
    else:
        trainer = seeds_trainer(config, job["seeds"], job["run_dir"], pictures=False)
    tic = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - tic
    stacked = isinstance(trainer, SeedsTrainer)
    del trainer
    results = []
    for seed in job["seeds"]:
        run_dir = Path(job["run_dir"]) / f"seed-{seed}"
        G, info = load_generator(run_dir, config.device)
        cfg = info["config"]
        x, y = generate(G, job["n"], noise_dim=cfg.noise_dim, seed=SAMPLE_SEED + seed, return_labels=True)
        if cfg.clusters:  # the clusters are not the data's classes: no class accuracy
            y = None
        results.append({"recipe": job["recipe"], "seed": seed, "x": x.cpu().numpy(),
                        "y": None if y is None else y.cpu().numpy(), "stacked": stacked,
                        "train_seconds": seconds / len(job["seeds"]), "iterations": cfg.iterations,
                        "it_per_s": cfg.iterations * len(job["seeds"]) / seconds, "run_dir": str(run_dir),
                        "settings": _settings(cfg)})
    return {"recipe": job["recipe"], "results": results}


def _settings(cfg: TrainConfig) -> dict[str, Any]:
    keys = ("objective", "constraint", "model", "width", "optimizer", "g_lr", "d_lr", "betas", "d_steps",
            "batch_size", "lr_schedule", "ema_decay", "augment", "gp_weight", "gp_every", "r1_gamma", "r1_every",
            "conditional", "clusters")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict().items() if k in keys}


def summarise(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of every metric the scores share."""
    out: dict[str, Any] = {"seeds": len(scores)}
    for key in (*METRICS, "it_per_s", "train_seconds"):
        values = np.array([s[key] for s in scores if s.get(key) is not None], float)
        if len(values):
            out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def run_image_benchmark(
    out: str | Path,
    *,
    data: str = "fashion-mnist",
    recipes: tuple[str, ...] | None = None,
    seeds: int = 3,
    iterations: int | None = None,
    n: int = N_IMAGES,
    quick: bool = False,
    workers: int | None = None,
    sequential: bool = False,
    device: str = "cpu",
    data_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train every image recipe for ``seeds`` seeds on ``data`` and score their samples (see the module).

    Args:
        out: the output folder: ``benchmark.json``, ``benchmark.md``, ``grid_<recipe>.png`` (64 samples of
            seed 0) and the run folders (``runs/<recipe>/seed-<k>``).
        data: ``fashion-mnist`` or ``digits``.
        recipes: preset names, ``+cond`` for a conditional variant (default: :func:`default_recipes`).
        seeds: seeds 0 .. seeds - 1 of every recipe.
        iterations: the budget of every run (default: :data:`DEFAULT_ITERATIONS` of the data).
        n: images scored per run.
        quick: tiny runs for tests (the numbers mean nothing).
        workers: worker processes, one thread each (default: one per core, at most 2, on a CPU; one on a GPU).
            With one, a recipe's seeds train as ``gankit train --seeds`` trains them; with more, each seed is a
            job of its own.
        sequential: every seed its own run even with one worker (the baseline of the seeds' wall time).
        device: where to train.
        data_dir: where Fashion-MNIST lives.
        progress: a progress bar over the runs.

    Returns:
        The content of ``benchmark.json``.
    """
    if data not in IMAGE_DATA:
        raise ValueError(f"--data {data}: the image benchmark runs on {' or '.join(IMAGE_DATA)}")
    recipes = tuple(recipes or default_recipes())
    parsed = [parse_recipe(r) for r in recipes]
    for name, value in (("--seeds", seeds), ("--iterations", iterations), ("--n", n)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1; got {value}")
    if quick:
        seeds, iterations, n = min(seeds, QUICK["seeds"]), QUICK["iterations"], min(n, QUICK["n"])
    iterations = iterations or DEFAULT_ITERATIONS[data]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reference = Reference(data, data_dir=data_dir, n=n, progress=progress)  # trains the classifier once if needed
    workers = workers or default_workers(device)
    # one worker (a GPU's default): a recipe's seeds as `gankit train --seeds` trains them; several: a job per
    # seed, which keeps the cores busy (see the module)
    per_seed = sequential or workers > 1
    jobs = []
    for recipe, (base, conditional) in zip(recipes, parsed, strict=True):
        config = TrainConfig(data=data, data_dir=data_dir, objective=base, conditional=conditional,
                             iterations=iterations, device=device, snapshot_every=0, tensorboard=False,
                             progress=False, checkpoint_every=10**9)
        groups = [[s] for s in range(seeds)] if per_seed else [list(range(seeds))]
        jobs += [{"recipe": recipe, "config": config.to_dict(), "seeds": group, "n": n, "sequential": per_seed,
                  "run_dir": str(out / "runs" / recipe)} for group in groups]
    tic = time.perf_counter()
    scores: list[dict[str, Any]] = []
    with Progress(len(recipes) * seeds, enabled=progress, desc=f"gankit benchmark on {data}", unit="run") as bar:
        for _, job in as_done(_run_job, jobs, workers):
            for result in job["results"]:
                score = reference.score(result["x"], result["y"], seed=result["seed"])
                scores.append({**{k: v for k, v in result.items() if k not in ("x", "y")}, **score})
                if result["seed"] == 0:
                    grid = (result["x"][:64] + 1) / 2  # (64, C, H, W) in [0, 1]
                    viz.save_image_grid(np.clip(grid, 0, 1), out / f"grid_{result['recipe']}.png", nrow=8, scale=2)
                (Path(result["run_dir"]) / "benchmark.json").write_text(json.dumps(jsonable(scores[-1]), indent=2)
                                                                        + "\n")
                bar.update(1)
                bar.report(f"{result['recipe']} seed {result['seed']}: FID {score['fid']:.1f}")
    wall = time.perf_counter() - tic
    table = {r: summarise([s for s in scores if s["recipe"] == r]) for r in recipes}
    report = {
        "protocol": {"samples": n, "seeds": seeds, "iterations": iterations, "k": 3,
                     "sample_noise_seed": f"{SAMPLE_SEED} + run seed", **reference.describe()},
        "quick": quick, "data": data, "recipes": list(recipes),
        "settings": {s["recipe"]: s["settings"] for s in scores if s["seed"] == 0},
        "table": table, "machine": machine(workers), "wall_seconds": wall,
        "results": [jsonable({k: v for k, v in s.items() if k != "settings"}) for s in scores],
    }
    (out / "benchmark.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
    (out / "benchmark.md").write_text(format_markdown(report) + "\n")
    return report


def default_recipes() -> tuple[str, ...]:
    """The image recipes and the seed's algorithms, and the best recipe's conditional variant."""
    from .presets import default_recipe

    best = default_recipe("image")
    names = [r for r in PRESETS if resolve(r).images or r in ("gan", "wgan", "wgan-gp")]
    return (*dict.fromkeys([best, *names]), best + CONDITIONAL)


def _cell(stats: dict[str, Any], key: str, digits: int) -> str:
    if key not in stats:
        return "-"
    return f"{stats[key]['mean']:.{digits}f} ± {stats[key]['std']:.{digits}f}"


def format_markdown(report: dict[str, Any]) -> str:
    """The table (mean ± std over seeds), the floor and the protocol, in Markdown."""
    p = report["protocol"]
    floor = p["floor"]
    lines = [f"### {report['data']}: {p['seeds']} seeds x {p['iterations']} iterations, {p['samples']} samples each",
             "", "| recipe | FID | KID | precision | recall | class KL | class accuracy | it/s | minutes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for recipe, s in report["table"].items():
        minutes = "-" if "train_seconds" not in s else f"{s['train_seconds']['mean'] / 60:.1f}"
        lines.append(f"| `{recipe}` | {_cell(s, 'fid', 2)} | {_cell(s, 'kid', 2)} | {_cell(s, 'precision', 3)} | "
                     f"{_cell(s, 'recall', 3)} | {_cell(s, 'class_kl', 4)} | {_cell(s, 'class_accuracy', 3)} | "
                     f"{_cell(s, 'it_per_s', 1)} | {minutes} |")
    lines.append(f"| real images (floor) | {floor['fid']:.2f} | {floor['kid']:.2f} | {floor['precision']:.3f} | "
                 f"{floor['recall']:.3f} | {floor['class_kl']:.4f} | {p['classifier_accuracy']:.3f} "
                 "(the classifier on the reference) | | |")
    machine = report["machine"]
    lines += ["", f"Reference: {p['reference']}; features of the domain classifier "
                  f"(test accuracy {p['classifier']['test_accuracy']:.4f}); k = {p['k']}. Wall time "
                  f"{report['wall_seconds'] / 60:.1f} min on {machine['cpus']} CPUs ({machine['workers']} worker "
                  f"processes, 1 thread each; torch {machine['torch']})."]
    if report["quick"]:
        lines.append("Quick mode: tiny runs for tests; these numbers mean nothing.")
    return "\n".join(lines)


__all__ = ["DEFAULT_ITERATIONS", "IMAGE_DATA", "default_recipes", "format_markdown", "parse_recipe",
           "run_image_benchmark", "summarise"]
