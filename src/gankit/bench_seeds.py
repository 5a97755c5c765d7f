"""``gankit bench --seeds``: S seeds trained as one stacked network against the same S seeds one after another."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .bench import IMAGE_MODELS, bench_dataset, image_bench_config, median, sync
from .config import TrainConfig
from .progress import Progress


def run_seeds_bench(
    sizes: list[int],
    iterations: int = 50,
    rounds: int = 3,
    *,
    objective: str = "gan",
    data: str = "ring",
    device: str = "auto",
    progress: bool = True,
    model: str = "mlp",
) -> dict[str, Any]:
    """Throughput of S seeds trained as one stacked network against the same S seeds one after another.

    For each S in ``sizes``, alternating rounds time ``iterations`` generator
    iterations of the stacked runs and of each single run in turn, in this
    process; the figure is generator iterations per second summed over seeds,
    and the ratio is the median batched rate over the median sequential rate.
    Files, pictures and checkpoints are left out of both.

    ``model`` ``"mlp"`` times the preset ``objective`` with its own networks on ``data``; ``"dcgan"`` or
    ``"resnet"`` times that network with gan-fast's image settings (width 32, M 32, no clusters;
    :func:`gankit.bench.image_bench_config`) on ``data``, Fashion-MNIST by default (random 28x28 images where it
    is not installed), the stacked convolutions grouped (:mod:`gankit.training.stacked_conv`).
    """
    from .seeds import SeedsTrainer
    from .training import Trainer, pick_device

    if not sizes or min(sizes) < 1:
        raise ValueError(f"--seeds: give seed counts >= 1 (e.g. 1,4,16,64); got {sizes}")
    if iterations < 1 or rounds < 1:
        raise ValueError(f"iterations and rounds must be >= 1; got {iterations}, {rounds}")
    dev = pick_device(device)
    timing = {"device": str(dev), "iterations": 10**9, "log_every": iterations, "snapshot_every": 0,
              "checkpoint_every": 10**9, "tensorboard": False, "progress": False}
    if model in IMAGE_MODELS:
        dataset, note = bench_dataset(data)
        config = image_bench_config(data, model, **timing)
        objective = config.objective
    elif model == "mlp":
        dataset, note = None, None
        config = TrainConfig(data=data, objective=objective, **timing)
    else:
        raise ValueError(f"unknown model {model!r}; choose from mlp, {', '.join(IMAGE_MODELS)}")
    rows = []
    bar = Progress(sum(sizes) * rounds * 2 * iterations, enabled=progress, desc="gankit bench --seeds")
    with tempfile.TemporaryDirectory(prefix="gankit-seeds-") as tmp:
        for S in sizes:
            runs = [Trainer(dataclasses.replace(config, seed=s), Path(tmp) / f"b{S}-{s}", dataset=dataset, parts=[])
                    for s in range(S)]
            batched = SeedsTrainer(config, list(range(S)), Path(tmp) / f"b{S}", runs=runs, write=False)
            singles = [Trainer(dataclasses.replace(config, seed=s), Path(tmp) / f"s{S}-{s}", dataset=dataset,
                               parts=[]) for s in range(S)]
            batched.fit(steps=max(2, iterations // 10))  # warm-up
            for t in singles:
                t.fit(steps=max(2, iterations // 10))
            rates: dict[str, list[float]] = {"batched": [], "sequential": []}
            for _ in range(rounds):
                sync(dev)
                tic = time.perf_counter()
                batched.fit(steps=iterations)
                sync(dev)
                rates["batched"].append(S * iterations / (time.perf_counter() - tic))
                bar.update(S * iterations)
                tic = time.perf_counter()
                for t in singles:
                    t.fit(steps=iterations)
                sync(dev)
                rates["sequential"].append(S * iterations / (time.perf_counter() - tic))
                bar.update(S * iterations)
                bar.report(f"{S} seeds: batched {rates['batched'][-1]:.3g} it/s, one after another "
                           f"{rates['sequential'][-1]:.3g} it/s")
            b, q = median(rates["batched"]), median(rates["sequential"])
            rows.append({"seeds": S, "batched_it_per_s": b, "sequential_it_per_s": q, "ratio": b / q,
                         "rounds": rates})
    bar.close()
    cfg = batched.config
    return {"objective": objective, "data": data if dataset is None else dataset.name, "device": str(dev),
            "threads": torch.get_num_threads(), "iterations": iterations, "rounds": rounds, "rows": rows,
            **({"note": note} if note else {}),
            "model": {"name": cfg.model, "g_hidden": list(cfg.g_hidden), "d_hidden": list(cfg.d_hidden),
                      "width": cfg.width, "batch_size": cfg.batch_size, "d_steps": cfg.d_steps, "pack": cfg.pack}}


def format_seeds_report(result: dict[str, Any]) -> str:
    m = result["model"]
    networks = (f"MLPs G {m['g_hidden']} D {m['d_hidden']}" if m.get("name", "mlp") == "mlp"
                else f"{m['name'].upper() if m['name'] == 'dcgan' else 'ResNet'} width {m['width']} (grouped)")
    lines = [f"{result['objective']} on {result['data']} ({result['device']}, {result['threads']} thread(s)): "
             f"{networks}, M {m['batch_size']}, K {m['d_steps']}; medians of "
             f"{result['rounds']} alternating rounds of {result['iterations']} iterations",
             f"{'seeds':>6} {'batched it/s':>14} {'one by one it/s':>16} {'ratio':>7}"]
    for r in result["rows"]:
        lines.append(f"{r['seeds']:>6} {r['batched_it_per_s']:>14.1f} {r['sequential_it_per_s']:>16.1f} "
                     f"{r['ratio']:>6.2f}x")
    lines.append("(generator iterations per second, summed over seeds)")
    if result.get("note"):
        lines.append(result["note"])
    return "\n".join(lines)


