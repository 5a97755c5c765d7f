"""gankit's image recipes and public peer scripts side by side: the same data, minutes, cores and scores.

For every seed, one after another (never two at once, so that each gets the machine's cores):

* each gankit entry (a recipe, ``RECIPE+cond`` for its class-conditional variant) is timed for a few
  iterations, then trained by ``gankit train`` for as many iterations as fit in ``--seconds`` of the whole
  process (start-up, pictures and checkpoints included); 5,000 samples of its generator (its EMA where the
  recipe keeps one) are drawn with ``gankit sample``;
* each peer script runs unmodified through ``benchmarks/peers.py`` for ``--seconds`` of training;
  both its eval-mode and its train-mode samples are scored and the better (lower FID) is reported;
* everything is scored by :class:`gankit.evaluation.images.Reference` (FID, KID, precision, recall, class
  balance and, for conditional entries, class accuracy against Fashion-MNIST's test split, in the domain
  classifier's features).

Usage::

    python benchmarks/side_by_side.py --peers DIR --seconds 600 --seeds 0,1,2 --out runs/side-by-side

``DIR`` holds the peers' scripts (``dcgan.py``, ``wgan_gp.py`` of PyTorch-GAN); they are not part of this
repository. The table goes to ``OUT/side_by_side.md`` and every number to ``OUT/side_by_side.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
METRICS = ("fid", "kid", "precision", "recall", "class_kl", "class_accuracy")
CALIBRATION = 60  # iterations timed before the real run (the rate of the last 40 is used)
MARGIN = 0.93  # of the budget planned for training: start-up, pictures and checkpoints take the rest


def _run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` to completion with its output in ``log``; its wall time in seconds."""
    tic = time.perf_counter()
    with log.open("w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"side_by_side.py: {' '.join(cmd)} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - tic


def _gankit(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "gankit", *args]


def gankit_entry(entry: str, seed: int, seconds: float, out: Path) -> dict[str, Any]:
    """Train one gankit entry for ``seconds`` of process time and draw its samples."""
    recipe, conditional = (entry[:-5], True) if entry.endswith("+cond") else (entry, False)
    flags = ["--data", "fashion-mnist", "--objective", recipe, *(["--conditional"] if conditional else [])]
    probe = out / "calibration"
    _run(_gankit(["train", *flags, "--seed", str(seed), "--iterations", str(CALIBRATION), "--log-every", "20",
                  "--snapshot-every", "0", "--no-tensorboard", "--quiet", "--overwrite", "--out", str(probe)]),
         out / "calibration.log")
    lines = [json.loads(x) for x in (probe / "metrics.jsonl").read_text().splitlines()]
    rate = float(np.mean([r["it_per_s"] for r in lines[1:]]))  # the first interval holds the warm-up
    iterations = max(1, int(rate * seconds * MARGIN))
    run = out / "run"
    wall = _run(_gankit(["train", *flags, "--seed", str(seed), "--iterations", str(iterations), "--quiet",
                         "--overwrite", "--out", str(run)]), out / "train.log")
    _run(_gankit(["sample", str(run), "--n", "5000", "--seed", str(10_000 + seed), "--out",
                  str(out / "samples.npz")]), out / "sample.log")
    return {"entry": entry, "seed": seed, "generator_iterations": iterations, "process_seconds": wall,
            "it_per_s": iterations / wall, "calibrated_it_per_s": rate, "samples": [str(out / "samples.npz")]}


def peer_entry(script: Path, seed: int, seconds: float, out: Path) -> dict[str, Any]:
    """Run one peer script unmodified for ``seconds`` of training and collect its samples."""
    _run([sys.executable, str(HERE / "peers.py"), str(script), "--seconds", str(seconds), "--seed", str(seed),
          "--out", str(out), "--n", "5000"], out.parent / f"{out.name}.log")
    info = json.loads((out / "info.json").read_text())
    return {"entry": script.name, "seed": seed, "generator_iterations": info["generator_iterations"],
            "process_seconds": info["total_seconds"], "training_seconds": info["training_seconds"],
            "it_per_s": info["generator_iterations"] / info["training_seconds"],
            "samples": [str(out / "samples_eval.npy"), str(out / "samples_train.npy")],
            "roundtrip": str(out / "real_roundtrip.npy")}


def score(reference, row: dict[str, Any]) -> dict[str, Any]:
    """The row's samples scored; of several sets (a peer's eval and train modes) the lower FID."""
    best = None
    for path in row["samples"]:
        if path.endswith(".npz"):
            with np.load(path) as f:
                x, asked = f["x"], (f["labels"] if "labels" in f else None)
            x = x / 127.5 - 1  # gankit sample writes data units (0..255)
        else:
            x, asked = np.load(path), None
        s = {**reference.score(x.astype(np.float32), asked), "scored": Path(path).name}
        if best is None or s["fid"] < best["fid"]:
            best = s
    return {**row, **{k: v for k, v in best.items() if k != "class_accuracy_per_class"}}


def table(rows: list[dict[str, Any]], floor: dict[str, Any], seconds: float) -> str:
    entries = list(dict.fromkeys(r["entry"] for r in rows))
    lines = [f"| run ({seconds / 60:g} min each) | generator iterations | it/s | FID | KID | precision | recall | "
             "class KL | class accuracy |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def cell(values: list[float], digits: int) -> str:
        return "-" if not values else f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"

    for e in entries:
        mine = [r for r in rows if r["entry"] == e]
        name = f"gankit `{e}`" if e.endswith(".py") is False else f"PyTorch-GAN `{e}`"
        got = {k: [r[k] for r in mine if r.get(k) is not None] for k in (*METRICS, "generator_iterations",
                                                                          "it_per_s")}
        lines.append(f"| {name} | {cell(got['generator_iterations'], 0)} | {cell(got['it_per_s'], 2)} | "
                     f"{cell(got['fid'], 1)} | {cell(got['kid'], 2)} | {cell(got['precision'], 3)} | "
                     f"{cell(got['recall'], 3)} | {cell(got['class_kl'], 4)} | {cell(got['class_accuracy'], 3)} |")
    lines.append(f"| real images (floor) | | | {floor['fid']:.2f} | {floor['kid']:.2f} | {floor['precision']:.3f} | "
                 f"{floor['recall']:.3f} | {floor['class_kl']:.4f} | |")
    return "\n".join(lines)


def merge(folders: list[Path], out: Path) -> int:
    """One report of the rows of several runs of this script (same --seconds, same reference)."""
    reports = []
    for folder in folders:
        path = folder / "side_by_side.json"
        if not path.is_file():
            raise SystemExit(f"side_by_side.py: --merge {folder}: no side_by_side.json there")
        reports.append(json.loads(path.read_text()))
    if len({r["seconds"] for r in reports}) != 1:
        raise SystemExit("side_by_side.py: --merge: the runs have different --seconds")
    first = reports[0]
    report = {**first, "seeds": sorted({s for r in reports for s in r["seeds"]}),
              "rows": [row for r in reports for row in r["rows"]],
              "roundtrip_floors": {k: v for r in reports for k, v in r["roundtrip_floors"].items()},
              "merged_from": [str(f) for f in folders]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "side_by_side.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    text = table(report["rows"], first["reference"]["floor"], first["seconds"])
    (out / "side_by_side.md").write_text(text + "\n")
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="side_by_side.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--peers", metavar="DIR", help="folder holding the peers' scripts (not needed with --merge)")
    p.add_argument("--scripts", default="dcgan.py,wgan_gp.py", help="the peers' script names in DIR")
    p.add_argument("--recipes", default=None,
                   help="gankit entries (default: the image default recipe, its +cond variant, and wgan-gp)")
    p.add_argument("--seconds", type=float, default=600.0, help="wall-clock budget of every run")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--out", default="runs/side-by-side", help="output folder")
    p.add_argument("--merge", default=None, metavar="DIR,DIR,...",
                   help="only write one table of the rows of earlier runs' OUT folders (a benchmark split "
                        "over processes or machines) into --out")
    args = p.parse_args(argv)
    if args.merge:
        return merge([Path(d) for d in args.merge.split(",") if d], Path(args.out))
    if args.peers is None and args.scripts:
        p.error("--peers DIR is needed to run the peers' scripts (--scripts '' runs gankit only)")
    from gankit.evaluation.images import Reference
    from gankit.presets import default_recipe

    best = default_recipe("image")
    given = args.recipes if args.recipes is not None else f"{best},{best}+cond,wgan-gp"
    recipes = [r for r in given.split(",") if r]
    seeds = [int(s) for s in args.seeds.split(",")]
    scripts = [Path(args.peers or ".") / s for s in args.scripts.split(",") if s]
    missing = [str(s) for s in scripts if not s.is_file()]
    if missing or args.seconds <= 0:
        raise SystemExit(f"side_by_side.py: {'no such script(s) ' + ', '.join(missing) if missing else ''}"
                         f"{'--seconds must be > 0' if args.seconds <= 0 else ''}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for recipe in recipes:
            where = out / f"gankit-{recipe}" / f"seed-{seed}"
            where.mkdir(parents=True, exist_ok=True)
            rows.append(gankit_entry(recipe, seed, args.seconds, where))
            print(f"gankit {recipe} seed {seed}: {rows[-1]['generator_iterations']} iterations", flush=True)
        for script in scripts:
            where = out / f"peer-{script.stem}" / f"seed-{seed}"
            where.parent.mkdir(parents=True, exist_ok=True)
            rows.append(peer_entry(script, seed, args.seconds, where))
            print(f"{script.name} seed {seed}: {rows[-1]['generator_iterations']} iterations", flush=True)
    reference = Reference("fashion-mnist")
    rows = [score(reference, r) for r in rows]
    roundtrips = {r["entry"]: reference.score(np.load(r["roundtrip"]).astype(np.float32))
                  for r in rows if "roundtrip" in r}
    report = {"seconds": args.seconds, "seeds": seeds, "rows": rows, "reference": reference.describe(),
              "roundtrip_floors": roundtrips}
    (out / "side_by_side.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    text = table(rows, reference.floor, args.seconds)
    (out / "side_by_side.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
