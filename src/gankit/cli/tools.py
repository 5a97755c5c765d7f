"""The measuring commands: ``eval``, ``classifier``, ``bench`` and ``benchmark``.

Their parsers are built without importing the modules that do the work (torch
and the metrics load when a command runs). The few defaults a parser shows are
written here; ``tests/test_cli.py`` checks that they agree with the library's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..presets import PRESETS
from .flags import above_zero, add_device, add_quiet, add_seed, whole

# What the library uses when not told otherwise (checked against it by the tests).
N_STACKED = 26_000  # gankit.evaluation.N_STACKED: samples of the stacked-set mode count, as PacGAN
BENCHMARK_DATA = ("ring", "grid")  # gankit.benchmark.DEFAULT_DATA
BENCHMARK_RECIPES = ("gan", "minimax", "wgan", "wgan-gp", "sngan", "pacgan", "gan-r1")  # DEFAULT_RECIPES
CLASSIFIER_DATA = ("digits", "fashion-mnist", "stacked-digits", "stacked-fashion-mnist")  # CLASSIFIER_FOR
CACHE = "$GANKIT_CACHE, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit"  # gankit.classifier.cache_dir


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


# --------------------------------------------------------------------------- eval


def cmd_eval(args: argparse.Namespace) -> int:
    if args.n < 4:
        raise ValueError(f"--n must be >= 4 (generated and held-out samples each); got {args.n}")
    if args.n_stacked < 1:
        raise ValueError(f"--n-stacked must be >= 1; got {args.n_stacked}")
    from ..evaluation import EVAL_FILE, evaluate_run, format_table

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


def _register_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a trained run: metrics, eval.json and figures",
        description="Compute the metrics that fit the run's data on fresh samples against held-out real data; "
                    "write eval.json and eval_*.png into the run folder and print a table.",
        epilog=_EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="a run folder (holding checkpoints/latest.pt)")
    p.add_argument("--n", type=int, default=2500, metavar="N",
                   help="generated and held-out real samples (default: 2500)")
    p.add_argument("--n-stacked", type=int, default=N_STACKED, metavar="N",
                   help=f"samples for the stacked-set mode count (default: {N_STACKED})")
    add_seed(p, "the noise and the held-out draw")
    add_device(p)
    p.add_argument("--classifier", metavar="NAME|FILE|none",
                   help="images: the feature extractor, a classifier name (fashion-mnist, digits), a classifier "
                        "file, or none (default: the data set's own)")
    p.add_argument("--no-train-classifier", action="store_true",
                   help="fail instead of training the domain classifier when none is cached")
    p.add_argument("--no-c2st", action="store_true", help="skip the classifier two-sample test")
    p.add_argument("--no-figures", action="store_true", help="write eval.json only")
    p.add_argument("--raw-generator", action="store_true",
                   help="evaluate the trained generator, not its EMA (runs trained with --ema-decay)")
    add_quiet(p)
    p.set_defaults(func=cmd_eval, trains=True)  # the two-sample test and a missing classifier train


# --------------------------------------------------------------------------- classifier


def cmd_classifier_train(args: argparse.Namespace) -> int:
    from ..classifier import get_classifier
    from ..sampling import pick_device

    budget = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "width") if getattr(args, k) is not None}
    model, info = get_classifier(args.data, data_dir=args.data_dir, force=args.force, seed=args.seed,
                                 device=pick_device(args.device), progress=not args.quiet, **budget)
    state = "reused the cached" if info["cached"] else "trained a new"
    print(f"{state} classifier on {info['data']}: test accuracy {info['test_accuracy']:.4f} "
          f"({info['n_test']} test images), train accuracy {info['train_accuracy']:.4f}")
    cpu = info.get("train_cpu_seconds", float("nan"))
    print(f"training: {info['epochs']} epochs, {info['train_seconds']:.1f} s wall, {cpu:.1f} s CPU "
          f"on {info['device']} ({info['torch_threads']} threads)")
    print(f"file: {info['path']}")
    return 0


def cmd_classifier_list(args: argparse.Namespace) -> int:
    from ..classifier import cache_dir, list_classifiers

    rows = list_classifiers()
    if not rows:
        print(f"no classifiers in {cache_dir()}")
    for info in rows:
        print(f"{info['data']:<14} test accuracy {info['test_accuracy']:.4f}  hash {info['data_hash'][:16]}  "
              f"{info['path']}")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def _register_classifier(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "classifier", help="train or list the domain classifiers used as image feature extractors",
        description="A small CNN per data set gives the features for FID, KID and precision/recall and "
                    f"the classes of generated images. Cached in {CACHE}, keyed by a hash of the training data.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = sub.add_parser("train", help="train (or reuse) the classifier of a data set",
                       description="Train the domain classifier of a data set and cache it; prints its "
                                   "test accuracy. A cached one is reused unless --force.")
    q.add_argument("--data", default="fashion-mnist", choices=CLASSIFIER_DATA, metavar="NAME",
                   help=f"one of: {', '.join(CLASSIFIER_DATA)}; stacked sets use their base set's classifier "
                        "(default: fashion-mnist)")
    q.add_argument("--data-dir", metavar="DIR", help="where the Fashion-MNIST IDX files live")
    q.add_argument("--epochs", type=whole(1), metavar="N",
                   help="training epochs (default: 6 for fashion-mnist, 40 for digits)")
    q.add_argument("--width", type=whole(1), metavar="N", help="channels of the first convolution (default: 16 / 32)")
    q.add_argument("--batch-size", type=whole(1), metavar="N", help="minibatch size")
    q.add_argument("--lr", type=above_zero, metavar="X", help="peak learning rate of the one-cycle schedule")
    add_seed(q, "initialisation and minibatches")
    add_device(q)
    q.add_argument("--force", action="store_true", help="retrain even if a cached classifier exists")
    add_quiet(q)
    q.set_defaults(func=cmd_classifier_train, trains=True)
    q = sub.add_parser("list", help="list cached classifiers", description="Cached classifiers and their accuracy.")
    q.add_argument("--json", action="store_true", help="also print their full info as JSON")
    q.set_defaults(func=cmd_classifier_list)


# --------------------------------------------------------------------------- bench


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import format_report, format_seeds_report, run_bench, run_seeds_bench

    threads = getattr(args, "threads", 0) or None  # 0: the setting gankit made for this command
    if args.seeds:
        try:
            sizes = [int(v) for v in args.seeds.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--seeds {args.seeds!r}: expected seed counts like 1,4,16,64") from None
        result = run_seeds_bench(sizes, args.iterations, args.rounds, objective=args.objective,
                                 data=args.data if args.data != "fashion-mnist" else "ring", device=args.device,
                                 progress=not args.quiet)
        print(format_seeds_report(result))
    else:
        result = run_bench(args.iterations, args.rounds, device=args.device, threads=threads, data=args.data,
                           baseline=not args.no_baseline, progress=not args.quiet)
        print(format_report(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {path}")
    return 0


def _register_bench(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="time the training loop against the hardware and a common loop",
        description="Train the widely copied MLP WGAN (critic 784-512-256-1, generator 100-128-256-512-1024-784 "
                    "with BatchNorm; RMSProp 5e-5, c 0.01, M 64, K 5) and report generator iterations/s, GFLOP/s, "
                    "the matrix-product ceiling, and the same for PyTorch-GAN's wgan.py loop, in alternating rounds.",
    )
    p.add_argument("--iterations", type=whole(1), default=100, metavar="N",
                   help="generator iterations per round and loop (default: 100)")
    p.add_argument("--rounds", type=whole(1), default=3, metavar="N", help="alternating rounds; medians reported "
                   "(default: 3)")
    add_device(p)
    p.add_argument("--data", default="fashion-mnist",
                   help="fashion-mnist (random 28x28 images where not installed), random, or a data set name/path")
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    p.add_argument("--no-baseline", action="store_true", help="time only our loop and the ceiling")
    add_quiet(p)
    p.add_argument("--seeds", metavar="S,S,...",
                   help="instead: throughput of S seeds trained as one stacked network against the same S seeds "
                        "one after another, for each S (e.g. 1,4,16,64), on --data (ring unless given)")
    p.add_argument("--objective", default="gan", choices=tuple(PRESETS), metavar="NAME",
                   help=f"with --seeds: the preset to time, one of: {', '.join(PRESETS)} (default: gan)")
    p.set_defaults(func=cmd_bench, trains=True)


# --------------------------------------------------------------------------- benchmark


def _options(pairs: list[str] | None) -> dict[str, str]:
    options = {}
    for text in pairs or []:
        if "=" not in text:
            raise ValueError(f"--data-option {text!r}: expected KEY=VALUE")
        key, value = text.split("=", 1)
        options[key.strip()] = value.strip()
    return options


def cmd_benchmark(args: argparse.Namespace) -> int:
    from ..benchmark import format_markdown, run_benchmark

    recipes, data = _names(args.recipes), _names(args.data)
    if not recipes or not data:
        raise ValueError("--recipes and --data need at least one name each")
    overrides = {"iterations": args.iterations} if args.iterations is not None else {}
    report = run_benchmark(args.out, data=data, data_options=_options(args.data_option), recipes=recipes,
                           seeds=args.seeds, quick=args.quick, workers=args.workers, device=args.device,
                           overrides=overrides, progress=not args.quiet, sequential=args.sequential)
    print(format_markdown(report))
    print(f"\nwrote {args.out}/benchmark.json, benchmark.md, samples_<data>.png and the run folders under runs/")
    return 0


def _register_benchmark(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="mode coverage on 2-D mixtures over seeds (PacGAN protocol), beside the published tables",
        description="Train each recipe with its defaults for S seeds on each mixture, draw 2,500 samples per run "
                    "and score them: modes captured (a high-quality sample within 3 std of the mode), the "
                    "high-quality share, and the reverse KL of the mode histogram against the mixture's weights. "
                    "Seeds of one recipe train together as one stacked network; recipes run on worker processes.")
    p.add_argument("--data", default=",".join(BENCHMARK_DATA),
                   help="comma-separated mixtures: ring, grid, or .npz mixture files (x, means, std[, weights])")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="an option of the named data sets, e.g. n_modes=6 or std=0.02 (repeatable)")
    p.add_argument("--recipes", default=",".join(BENCHMARK_RECIPES),
                   help=f"comma-separated recipes, from: {', '.join(PRESETS)}")
    p.add_argument("--seeds", type=whole(1), default=10, metavar="N", help="seeds per recipe (0 .. N-1)")
    p.add_argument("--iterations", type=whole(1), default=None, metavar="N",
                   help="override every recipe's iterations")
    p.add_argument("--workers", type=whole(1), default=None, metavar="N",
                   help="worker processes (default: one per core, at most 2)")
    p.add_argument("--device", default="cpu", metavar="DEVICE", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", default="runs/benchmark", help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny runs (2 seeds, 60 iterations), for tests")
    p.add_argument("--sequential", action="store_true",
                   help="train each seed on its own plain trainer instead of stacking a recipe's seeds (the "
                        "baseline for the stacked trainer's wall time)")
    add_quiet(p)
    p.set_defaults(func=cmd_benchmark, trains=True)


def register(sub: argparse._SubParsersAction) -> None:
    _register_eval(sub)
    _register_classifier(sub)
    _register_bench(sub)
    _register_benchmark(sub)
