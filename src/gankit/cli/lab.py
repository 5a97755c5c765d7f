"""The lab's commands: ``datasets``, ``divergences demo``, ``demo``, ``experiment`` and ``report``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiments import EXPERIMENTS
from .flags import add_quiet, add_seed, whole


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data import FILE_FORMATS, describe_datasets
    from ..data.formats import FILE_OPTIONS

    rows = describe_datasets()
    width = max(len(name) for name, _, _ in rows)
    for name, summary, options in rows:
        print(f"{name:<{width}}  {summary}")
        if options:
            print(" " * (width + 2) + "options: " + ", ".join(f"{k}={v!r}" for k, v in options.items()))
    print(f"\nor a path: {FILE_FORMATS}")
    for kind, options in FILE_OPTIONS.items():
        print(f"  {kind:<8} options: " + ", ".join(f"{k}={v!r}" for k, v in options.items()))
    return 0


def cmd_divergences_demo(args: argparse.Namespace) -> int:
    from ..divergence_demo import run

    result = run(Path(args.out))
    print(result["table"])
    print(f"figure: {Path(args.out) / 'divergences.png'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    summary = run_demo(Path(args.out), iterations=args.iterations, progress=not args.quiet, seed=args.seed)
    print(summary["table"])
    print(f"summary figure: {summary['figure']}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from ..experiments import EXPERIMENTS, format_table, run_all
    from ..report import experiments_report

    names = list(EXPERIMENTS) if args.name == "all" else [args.name]

    def show(result) -> None:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[result.passed]
        print(f"{result.name}: {verdict} ({result.seconds:.1f} s) - {result.criterion}", flush=True)

    results = run_all(args.out, quick=args.quick, seed=args.seed, names=names, on_result=show)
    print()
    print(format_table(results))
    page = experiments_report(args.out)
    print(f"\nresults: {args.out}/<name>/result.json; report: {page}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import experiments_report, run_report

    target = Path(args.dir)
    page = run_report(target) if (target / "config.json").exists() else experiments_report(target)
    print(f"wrote {page}")
    return 0


# --------------------------------------------------------------------------- parser


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the named data sets and their options",
                       description="The named data sets, each with its options (--data-option KEY=VALUE) and "
                                   "their defaults, and the files a path may be.")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("divergences", help="the divergence toolbox",
                       description="KL, JS and Wasserstein-1 on distributions the theory discusses.")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = dsub.add_parser("demo", help="KL, JS and W1 between two distributions theta apart",
                        description="Shows JS stuck at log 2, KL infinite, and W1 = |theta|.")
    q.add_argument("--out", default="runs/divergences", help="output folder (default: runs/divergences)")
    q.set_defaults(func=cmd_divergences_demo)

    p = sub.add_parser("demo", help="vanilla GAN vs WGAN on the 8-Gaussian ring, with pictures",
                       description="Trains both on the ring and writes a side-by-side summary.")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--iterations", type=whole(1), default=None, metavar="N",
                   help="generator iterations per run (default: each recipe's own)")
    add_seed(p, "every run")
    add_quiet(p)
    p.set_defaults(func=cmd_demo, trains=True)

    choices = [*EXPERIMENTS, "all"]
    p = sub.add_parser("experiment", help="run one claim of the seed (or all) with numbers and figures",
                       description="Each experiment writes result.json and PNGs; 'all' also writes report.html.")
    p.add_argument("name", metavar="NAME", choices=choices, help=f"one of: {', '.join(choices)}")
    p.add_argument("--out", default="runs/experiments", help="output folder (default: runs/experiments)")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds each), for tests")
    add_seed(p, "every experiment")
    p.set_defaults(func=cmd_experiment, trains=True)

    p = sub.add_parser("report", help="write an HTML page for experiment results or a run folder",
                       description="Write report.html into DIR: for a run folder (config.json) its curves, samples "
                                   "and evaluation; for an experiments folder every experiment's verdict, numbers "
                                   "and figures.")
    p.add_argument("dir", metavar="DIR", nargs="?", default="runs/experiments",
                   help="an experiments folder or a run folder (default: runs/experiments)")
    p.set_defaults(func=cmd_report)
