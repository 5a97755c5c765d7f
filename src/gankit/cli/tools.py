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
IMAGE_DATA = ("fashion-mnist", "digits")  # gankit.image_benchmark.IMAGE_DATA
BENCHMARK_RECIPES = ("gan", "minimax", "wgan", "wgan-gp", "sngan", "pacgan", "gan-r1")  # DEFAULT_RECIPES
CLASSIFIER_DATA = ("digits", "fashion-mnist", "stacked-digits", "stacked-fashion-mnist")  # CLASSIFIER_FOR
CACHE = "$GANKIT_CACHE, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit"  # gankit.classifier.cache_dir


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


# --------------------------------------------------------------------------- eval


def cmd_eval(args: argparse.Namespace) -> int:
    if args.samples is not None:
        return _eval_samples(args)
    if args.run is None:
        raise ValueError("give a run folder to evaluate (gankit eval RUN), or --samples FILE --data NAME")
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


def _model_units(x, path: Path, data: str, units: str):
    """Images ``x`` in the model range [-1, 1]: as they are (``units`` "model"), or from the data set's own
    pixel units, which ``gankit sample`` writes ("data": 0..255 for fashion-mnist, 0..16 for digits); "auto"
    takes data units unless a value is below 0. A value outside the chosen range is refused, naming both."""
    from ..data import load_dataset

    scaler = load_dataset(data).scaler
    lo, hi = scaler.loc[0] - scaler.scale[0], scaler.loc[0] + scaler.scale[0]  # the data units of -1 and +1
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if units == "auto":
        units = "model" if low < -1e-3 else "data"
        print(f"{path}: values in [{low:.3g}, {high:.3g}], read as {data}'s "
              + (f"pixel values {lo:g}..{hi:g} (--units data, as gankit sample writes them)" if units == "data"
                 else "model range [-1, 1] (--units model)") + "; --units says otherwise")
    bounds = (-1.0, 1.0) if units == "model" else (lo, hi)
    slack = 1e-3 * (bounds[1] - bounds[0])
    if low < bounds[0] - slack or high > bounds[1] + slack:
        raise ValueError(f"--samples {path}: values in [{low:.3g}, {high:.3g}], outside the "
                         + ("model range [-1, 1]" if units == "model" else f"{data} pixel range {lo:g}..{hi:g}")
                         + f" (--units {units}); --units model reads [-1, 1], --units data {lo:g}..{hi:g}")
    return x if units == "model" else ((x - scaler.loc[0]) / scaler.scale[0]).astype("float32")


def _eval_samples(args: argparse.Namespace) -> int:
    """``gankit eval --samples FILE --data NAME``: images from anywhere, scored as the image benchmark scores."""
    import numpy as np

    from ..evaluation.images import Reference

    path = Path(args.samples)
    if path.suffix not in (".npy", ".npz") or not path.is_file():
        raise ValueError(f"--samples {path}: expected an existing .npy (images) or .npz (x, and labels: the "
                         "classes a conditional generator was asked for)")
    if args.data not in ("fashion-mnist", "digits"):
        raise ValueError(f"--data {args.data}: samples are scored against fashion-mnist or digits")
    from ..data.files import read_array, read_labels

    x = read_array(path)
    asked = read_labels(path, len(x)) if path.suffix == ".npz" else None
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    x = _model_units(x, path, args.data, args.units)
    reference = Reference(args.data, device="cpu", train_classifier=not args.no_train_classifier,
                          progress=not args.quiet)
    if asked is not None and len(asked) and int(asked.max()) >= reference.n_classes:
        raise ValueError(f"--samples {path}: labels up to {int(asked.max())}, but {args.data} has "
                         f"{reference.n_classes} classes (0..{reference.n_classes - 1}); the labels are the classes "
                         "a conditional generator was asked for (a cluster run's are not classes: leave them out)")
    score = reference.score(x, asked, seed=args.seed)
    floor = reference.floor
    print(f"{path}: {len(x)} images scored against {reference.what}")
    print(f"{'metric':<24}{'samples':>12}{'real (floor)':>14}")
    for key in ("fid", "kid", "precision", "recall", "class_kl", "class_accuracy"):
        if key in score:
            print(f"{key:<24}{score[key]:>12.4g}{floor.get(key, float('nan')):>14.4g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"samples": str(path), "score": score, **reference.describe()},
                                              indent=1, default=float) + "\n")
        print(f"wrote {args.json}")
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
    p.add_argument("run", metavar="RUN", nargs="?", help="a run folder (holding checkpoints/latest.pt)")
    p.add_argument("--samples", metavar="FILE",
                   help="instead of a run: images from anywhere (.npy, or .npz with x and the classes asked in "
                        "labels; what gankit sample writes), scored against --data as the image benchmark scores "
                        "them")
    p.add_argument("--units", choices=("auto", "data", "model"), default="auto",
                   help="with --samples: the images' values: data (the data set's pixels, 0..255 for "
                        "fashion-mnist, 0..16 for digits, as gankit sample writes them), model ([-1, 1]), or auto "
                        "(model if a value is below 0, else data) (default: auto)")
    p.add_argument("--data", default="fashion-mnist", metavar="NAME",
                   help="with --samples: fashion-mnist or digits (default: fashion-mnist)")
    p.add_argument("--json", metavar="FILE", help="with --samples: also write the scores to FILE")
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
    from ..bench import format_report, run_bench
    from ..bench_seeds import format_seeds_report, run_seeds_bench

    threads = getattr(args, "threads", 0) or None  # 0: the setting gankit made for this command
    if args.seeds:
        try:
            sizes = [int(v) for v in args.seeds.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--seeds {args.seeds!r}: expected seed counts like 1,4,16,64") from None
        image = args.model != "mlp"  # an image network times fashion-mnist; the MLPs a mixture
        result = run_seeds_bench(sizes, args.iterations, args.rounds, objective=args.objective or "gan",
                                 data=args.data if image or args.data != "fashion-mnist" else "ring",
                                 device=args.device, progress=not args.quiet, model=args.model)
        print(format_seeds_report(result))
    else:
        result = run_bench(args.iterations, args.rounds, device=args.device, threads=threads, data=args.data,
                           baseline=not args.no_baseline, progress=not args.quiet, model=args.model,
                           compile=args.compile, objective=args.objective)
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
    p.add_argument("--model", default="mlp", choices=("mlp", "dcgan", "resnet"),
                   help="mlp: the MLP WGAN above; dcgan or resnet: gan-fast's image step on that network, against "
                        "the ceiling of its convolutions and matrix products replayed alone (no baseline) "
                        "(default: mlp)")
    p.add_argument("--compile", action="store_true",
                   help="time gankit's loop with torch.compile'd networks (TrainConfig.compile; the warm-up "
                        "iterations take the compilation)")
    add_quiet(p)
    p.add_argument("--seeds", metavar="S,S,...",
                   help="instead: throughput of S seeds trained as one stacked network against the same S seeds "
                        "one after another, for each S (e.g. 1,4,16,64), on --data (ring unless given); with "
                        "--model dcgan or resnet, that network with gan-fast's image settings (on fashion-mnist "
                        "unless given)")
    p.add_argument("--objective", choices=tuple(PRESETS), metavar="NAME",
                   help=f"the preset to time, one of: {', '.join(PRESETS)}; without --seeds, its game, constraint "
                        "and optimiser on the --model's networks (default: wgan for mlp, gan-fast for dcgan and "
                        "resnet; the baseline loop only for wgan); with --seeds, the whole preset (default: gan)")
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
    data = _names(args.data)
    images = [d for d in data if d in IMAGE_DATA]
    if images:
        return _image_benchmark(args, data)
    from ..benchmark import format_markdown, run_benchmark

    recipes = _names(args.recipes or ",".join(BENCHMARK_RECIPES))
    if not recipes or not data:
        raise ValueError("--recipes and --data need at least one name each")
    overrides = {"iterations": args.iterations} if args.iterations is not None else {}
    report = run_benchmark(args.out, data=data, data_options=_options(args.data_option), recipes=recipes,
                           seeds=10 if args.seeds is None else args.seeds, quick=args.quick, workers=args.workers,
                           device=args.device, overrides=overrides, progress=not args.quiet,
                           sequential=args.sequential)
    print(format_markdown(report))
    print(f"\nwrote {args.out}/benchmark.json, benchmark.md, samples_<data>.png and the run folders under runs/")
    return 0


def _image_benchmark(args: argparse.Namespace, data: tuple[str, ...]) -> int:
    from ..image_benchmark import format_markdown, run_image_benchmark

    if len(data) != 1:
        raise ValueError(f"--data {','.join(data)}: the image benchmark runs on one data set at a time "
                         f"({' or '.join(IMAGE_DATA)})")
    if args.data_option:
        raise ValueError("--data-option applies to the mixtures' benchmark, not to images")
    recipes = _names(args.recipes) if args.recipes else None
    report = run_image_benchmark(args.out, data=data[0], recipes=recipes, seeds=3 if args.seeds is None else args.seeds,
                                 iterations=args.iterations, quick=args.quick, workers=args.workers,
                                 sequential=args.sequential, device=args.device, progress=not args.quiet)
    print(format_markdown(report))
    print(f"\nwrote {args.out}/benchmark.json, benchmark.md, grid_<recipe>.png and the run folders under runs/")
    return 0


def _register_benchmark(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="recipes over seeds: mode coverage on 2-D mixtures (PacGAN protocol), or FID/KID/precision/recall "
             "on fashion-mnist or digits",
        description="Mixtures: train each recipe with its defaults for S seeds (default 10) on each mixture, draw "
                    "2,500 samples per run and score them: modes captured (a high-quality sample within 3 std of the "
                    "mode), the high-quality share, and the reverse KL of the mode histogram against the mixture's "
                    "weights. Seeds of one recipe train together as one stacked network; recipes run on worker "
                    "processes. Images (--data fashion-mnist or digits): every image recipe for S seeds (default 3) "
                    "at one iteration budget, 5,000 samples each scored by FID, KID, precision and recall in the "
                    "domain classifier's features, the class balance and, for RECIPE+cond, the class accuracy; "
                    "a 64-sample grid per recipe.")
    p.add_argument("--data", default=",".join(BENCHMARK_DATA),
                   help="comma-separated mixtures: ring, grid, or .npz mixture files (x, means, std[, weights]); "
                        f"or one image set: {', '.join(IMAGE_DATA)}")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="an option of the named data sets, e.g. n_modes=6 or std=0.02 (repeatable)")
    p.add_argument("--recipes", default=None,
                   help=f"comma-separated recipes, from: {', '.join(PRESETS)} (images: RECIPE+cond for the "
                        f"class-conditional variant); default: {','.join(BENCHMARK_RECIPES)} on mixtures, every image "
                        "recipe and the seed's algorithms on images")
    p.add_argument("--seeds", type=whole(1), default=None, metavar="N",
                   help="seeds per recipe (0 .. N-1; default: 10 on mixtures, 3 on images)")
    p.add_argument("--iterations", type=whole(1), default=None, metavar="N",
                   help="override every recipe's iterations (images: the budget of every run, default 3000 on "
                        "fashion-mnist, 2000 on digits)")
    p.add_argument("--workers", type=whole(1), default=None, metavar="N",
                   help="worker processes (default: one per core, at most 2)")
    p.add_argument("--device", default="cpu", metavar="DEVICE", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", default="runs/benchmark", help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny runs (2 seeds, 60 iterations), for tests")
    p.add_argument("--sequential", action="store_true",
                   help="train each seed on its own plain trainer instead of stacking a recipe's seeds (the "
                        "baseline for the stacked trainer's wall time; images stack only with --workers 1, a GPU's "
                        "default)")
    add_quiet(p)
    p.set_defaults(func=cmd_benchmark, trains=True)


def register(sub: argparse._SubParsersAction) -> None:
    _register_eval(sub)
    _register_classifier(sub)
    _register_bench(sub)
    _register_benchmark(sub)
