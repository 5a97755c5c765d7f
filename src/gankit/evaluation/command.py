"""``gankit eval RUN``: the table and the command line."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from .core import EVAL_FILE, N_STACKED, evaluate_run

# --------------------------------------------------------------------------- the table


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return f"{x:.4g}"


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: metric, generated, real-vs-real baseline."""
    rows: list[tuple[str, Any, Any]] = []
    if "modes" in result:
        m, r = result["modes"], result["modes"]["real"]
        rows += [(f"modes captured (of {m['n_modes']})", m["modes"], r["modes"]),
                 ("high-quality samples (< 3 std)", m["high_quality"], r["high_quality"]),
                 ("reverse KL to uniform modes (nats)", m["reverse_kl"], r["reverse_kl"])]
    dist = result.get("distances", {})
    for key, label in (("w1", "Wasserstein-1"), ("w2", "Wasserstein-2"), ("energy", "energy distance^2"),
                       ("mmd", "MMD^2 (RBF)")):
        if key in dist:
            method = f" ({dist[key]['method']})" if "method" in dist[key] else ""
            rows.append((f"{label}{method}", dist[key]["value"], dist[key]["baseline"]))
    d = result.get("discriminator")
    if d is not None:
        who = "D" if d["scores"] == "probability" else "critic"
        rows.append((f"{who}: AUC real vs generated", d["auc"], None))
        if d.get("type_i") is not None:
            rows += [(f"{who}: type I error at D = 0.5", d["type_i"], None),
                     (f"{who}: type II error at D = 0.5", d["type_ii"], None)]
        rows += [(f"{who}: power at alpha = {d['alpha']:g}", d["power_at_alpha"], None),
                 (f"{who}: type I at calibrated threshold", d["type_i_at_alpha"], None)]
    c = result.get("c2st")
    if c is not None:
        rows += [(f"C2ST accuracy ({c['space']})", c["accuracy"], None), ("C2ST p-value", c["p_value"], None)]
    f = result.get("features")
    if f is not None:
        r = f["real"]
        rows += [(f"FID ({f['extractor']})", f["fid"], r["fid"]),
                 ("KID mean", f["kid"]["mean"], r["kid"]["mean"]), ("KID std", f["kid"]["std"], r["kid"]["std"]),
                 ("precision (k=3)", f["precision"], r["precision"]), ("recall (k=3)", f["recall"], r["recall"])]
    cl = result.get("classes")
    if cl is not None:
        rows += [(f"classes covered (of {cl['n_classes']})", cl["classes_covered"], cl["real"]["classes_covered"]),
                 ("KL(class histogram || data)", cl["kl_to_data"], cl["real"]["kl_to_data"])]
    st = result.get("stacked")
    if st is not None:
        rows += [(f"stacked modes (of {st['n_modes']}, n={st['n']})", st["modes"], st["real"]["modes"]),
                 ("KL(mode histogram || uniform)", st["reverse_kl"], st["real"]["reverse_kl"])]
    width = max([len(r[0]) for r in rows] + [10])
    lines = [f"{'metric':<{width}}  {'generated':>12}  {'real':>12}", "-" * (width + 28)]
    lines += [f"{label:<{width}}  {_fmt(a):>12}  {_fmt(b):>12}" for label, a, b in rows]
    head = f"{result.get('run', result['data'])}: {result['n']} samples"
    if "step" in result:
        head += f", iteration {result['step']}"
    lines = [head, *lines, "(real: modes and classes of held-out real samples; distances, FID, KID, precision, "
                           "recall between training and held-out real samples)",
             f"(eval took {result['seconds']:.1f} s wall, {result.get('cpu_seconds', float('nan')):.1f} s CPU)"]
    return "\n".join(lines)




# --------------------------------------------------------------------------- command line


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.n < 4:
        raise ValueError(f"--n must be >= 4 (generated and held-out samples each); got {args.n}")
    if args.n_stacked < 1:
        raise ValueError(f"--n-stacked must be >= 1; got {args.n_stacked}")
    fe: Any = "auto"
    if args.classifier:
        fe = None if args.classifier == "none" else args.classifier
    result = evaluate_run(args.run, n=args.n, seed=args.seed, device=args.device, feature_extractor=fe,
                          train_classifier=not args.no_train_classifier, run_c2st=not args.no_c2st,
                          n_stacked=args.n_stacked, figures=not args.no_figures, progress=not args.quiet,
                          raw=args.raw_generator)
    print(format_table(result))
    for note in result["notes"]:
        print(f"note: {note}")
    files = [EVAL_FILE, *result.get("figures", [])]
    print(f"wrote into {args.run}: {' '.join(files)}")
    return 0


_EVAL_EPILOG = """\
metrics by data:
  mixtures (ring, grid, gaussian-1d, mixture-1d): modes captured, high-quality %, reverse KL
    (VEEGAN/PacGAN protocol). Published ring variants as data options of the training run:
    PacGAN (default): radius 1, std 0.01; VEEGAN: --data-option radius=2 --data-option std=0.02;
    WGAN-GP toy (radius 2, std 0.02, scaled by 1/1.414): --data-option radius=1.4142 --data-option std=0.014142.
    PacGAN grid: --data grid (25 modes, std 0.05).
  every data set: W1/W2/energy/MMD to held-out real samples next to the real-vs-real baseline; the run's
    discriminator as a test of "x is real" (type I/II at D = 0.5, ROC, AUC, power at alpha = 0.05; a critic
    gets ROC/AUC/power on raw scores); a classifier two-sample test.
  images: FID, KID, precision/recall (k=3) on a domain classifier's features, classes covered and KL to
    the data's class histogram; stacked sets: modes out of 1000 and KL to uniform (26,000 samples).
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``gankit eval RUN`` to the ``gankit`` command's sub-parsers."""
    p = subparsers.add_parser(
        "eval", help="evaluate a trained run: metrics, eval.json and figures",
        description="Compute the metrics that fit the run's data on fresh samples against held-out real data; "
                    "write eval.json and eval_*.png into the run folder and print a table.",
        epilog=_EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="a run folder (holding checkpoints/latest.pt)")
    p.add_argument("--n", type=int, default=2500, help="generated and held-out real samples (default: 2500)")
    p.add_argument("--n-stacked", type=int, default=N_STACKED,
                   help=f"samples for the stacked-set mode count (default: {N_STACKED})")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and the held-out draw (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--classifier", metavar="NAME|FILE|none",
                   help="images: the feature extractor, a classifier name (fashion-mnist, digits), a classifier "
                        "file, or none (default: the data set's own)")
    p.add_argument("--no-train-classifier", action="store_true",
                   help="fail instead of training the domain classifier when none is cached")
    p.add_argument("--no-c2st", action="store_true", help="skip the classifier two-sample test")
    p.add_argument("--no-figures", action="store_true", help="write eval.json only")
    p.add_argument("--raw-generator", action="store_true",
                   help="evaluate the trained generator, not its EMA (runs trained with --ema-decay)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_eval)
    return p
