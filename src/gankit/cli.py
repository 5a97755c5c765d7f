"""The ``gankit`` command. Each sub-command builds on the library; none holds logic of its own."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import logging
import re
import shlex
import sys
import traceback
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import PRESET_FIELDS, TrainConfig

log = logging.getLogger("gankit")



# --------------------------------------------------------------------------- config flags


def _field_help() -> dict[str, str]:
    """The comment after each TrainConfig field, used as its flag's help."""
    source = inspect.getsource(TrainConfig)
    return dict(re.findall(r"^\s+(\w+): [^=]+=.*?#\s*(.+)$", source, flags=re.M))


def _parse_tuple(kind: type) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v) for v in text.replace(" ", "").split(",") if v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None

    return parse


def _parse_option(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (``--d-steps`` for ``d_steps``); only given flags override."""
    helps = _field_help()
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group("run configuration (defaults from the objective's paper)")
    for f in dataclasses.fields(TrainConfig):
        hint = str(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"{helps.get(f.name, '')} (default: {default})"
        flag = "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if f.name == "data_options":
            group.add_argument("--data-option", action="append", type=_parse_option, metavar="KEY=VALUE", **kw)
        elif "bool" in hint:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif "tuple[int" in hint:
            group.add_argument(flag, type=_parse_tuple(int), metavar="N,N,...", **kw)
        elif "tuple[float" in hint:
            group.add_argument(flag, type=_parse_tuple(float), metavar="X,X", **kw)
        elif "int" in hint:
            group.add_argument(flag, type=int, metavar="N", **kw)
        elif "float" in hint:
            group.add_argument(flag, type=float, metavar="X", **kw)
        else:
            group.add_argument(flag, type=str, metavar="TEXT", **kw)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    if "data_options" in values:
        values["data_options"] = dict(values["data_options"])
    return values


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """``--config FILE`` (if any), then the flags given on the command line."""
    base = TrainConfig.load(args.config).to_dict() if args.config else {}
    overrides = config_overrides(args)
    if "objective" in overrides:
        base = {k: v for k, v in base.items() if k not in PRESET_FIELDS}
    if "lr" in overrides:
        base = {k: v for k, v in base.items() if k not in ("g_lr", "d_lr")}
    return TrainConfig.from_dict({**base, **overrides})


# --------------------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    from .distributed import Ranks, shutdown
    from .evaluation import attach_evaluation
    from .runfolder import check_replaceable, clear
    from .runlock import RunLock
    from .seeds import SEEDS_FILE, SeedsTrainer, parse_seeds
    from .training import Trainer, default_run_dir
    from .writing import check_writable

    held = None  # the lock --overwrite takes before clearing a folder, kept until the training ends
    try:
        ranks = Ranks.from_environment(vars(args).get("device", "auto"))
        if ranks.enabled and (args.seeds is not None or (args.resume and (Path(args.resume) / SEEDS_FILE).exists())):
            raise ValueError("--seeds trains its stacked seeds in one process; run it without torchrun")
        if args.resume:
            many = (Path(args.resume) / SEEDS_FILE).exists()
            trainer = (SeedsTrainer if many else Trainer).resume(args.resume, **config_overrides(args))
            log.info("resuming %s at iteration %d of %d", trainer.run_dir, trainer.step, trainer.config.iterations)
        else:
            config = config_from_args(args)
            seeds = parse_seeds(args.seeds) if args.seeds is not None else None
            if seeds is not None and "seed" in config_overrides(args):
                raise ValueError("--seed and --seeds: give one of them")
            run_dir = Path(args.out) if args.out else None
            if run_dir is None and ranks.enabled:
                raise ValueError("under torchrun give --out RUN_DIR: every process must write to the same folder")
            if run_dir is not None:
                if args.overwrite:
                    check_replaceable(run_dir)
                check_writable(run_dir, f"--out {run_dir}", folder=True)
            # building the trainer loads and checks the data: nothing is replaced before that succeeds
            if seeds is None:
                trainer = Trainer(config, run_dir or default_run_dir(config), ranks=ranks)
            else:
                trainer = SeedsTrainer(config, seeds, run_dir)
            if args.overwrite and run_dir is not None and run_dir.exists() and ranks.main:
                held = RunLock.acquire_for(run_dir)  # refuses a folder another trainer holds
                clear(run_dir)
            ranks.barrier()
        attach_evaluation(trainer)
        trainer.fit()
    finally:
        if held is not None:
            held.release()
        shutdown()
    if not ranks.main:
        return 0
    last = trainer.records[-1] if trainer.records else {}
    print(f"run folder: {trainer.run_dir}")
    print("last metrics" + (" (mean over seeds)" if isinstance(trainer, SeedsTrainer) else "") + ": "
          + ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float)))
    if isinstance(trainer, SeedsTrainer):
        print(f"seeds {args.seeds or trainer.seeds}: one run folder each (seed-<k>/), summary.json and seeds.png")
    else:
        print("files: config.json metrics.jsonl samples.png curves.png checkpoints/latest.pt"
              + (" training.gif" if (trainer.run_dir / "training.gif").exists() else ""))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from . import viz
    from .sampling import pick_device
    from .training import generate, load_generator
    from .writing import atomic_path, check_writable

    out = Path(args.out)
    pick_device(args.device)
    if args.interpolate is not None:
        check_writable(out, f"--out {out}")
        G, info = load_generator(args.run, device=args.device, raw=args.raw_generator)
        return _sample_paths(args, G, info)
    if out.suffix not in (".npy", ".csv", ".png"):
        raise ValueError(f"--out {out}: the suffix must be .npy, .csv or .png")
    if args.n < 1:
        raise ValueError(f"--n must be >= 1; got {args.n}")
    check_writable(out, f"--out {out}")
    G, info = load_generator(args.run, device=args.device, raw=args.raw_generator)
    x = info["scaler"].to_data(generate(G, args.n, noise_dim=info["config"].noise_dim, seed=args.seed,
                                        truncation=args.truncation))
    x = x.cpu().numpy()  # (n, *sample_shape), data units
    bad = int((~np.isfinite(x.reshape(len(x), -1))).any(axis=1).sum())
    if bad:
        raise ValueError(f"{args.run}: the generator gave NaN or infinite values in {bad} of {args.n} samples; "
                         f"nothing was written to {out}")
    with atomic_path(out) as tmp:  # whole or not at all
        if out.suffix == ".npy":
            np.save(tmp, x)
        elif out.suffix == ".csv":
            np.savetxt(tmp, x.reshape(len(x), -1), delimiter=",", fmt="%.6g")
        elif info["kind"] == "image":
            scaler = info["scaler"]
            peak = scaler.loc[0] + scaler.scale[0]  # data units of the model's +1
            viz.save_image_grid(np.clip(x / peak, 0, 1), tmp, scale=2)
        else:
            fig = viz.new_figure(5, 5)
            ax = fig.add_subplot()
            if x.shape[1] == 1:
                ax.hist(x[:, 0], bins=80, color="#ff7f0e")
            else:
                ax.scatter(x[:, 0], x[:, 1], s=2, c="#ff7f0e")
                ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"{args.n} samples from {args.run}", fontsize=9)
            viz.save(fig, tmp)
    print(f"wrote {args.n} samples of shape {tuple(x.shape[1:])} to {out}")
    return 0


def _sample_paths(args: argparse.Namespace, G, info: dict[str, Any]) -> int:
    """``sample --interpolate N``: N latent paths of --steps points (:func:`gankit.sampling.interpolate`)."""
    import numpy as np

    from . import viz
    from .sampling import interpolate

    out = Path(args.out)
    image = info["kind"] == "image"
    if out.suffix not in ((".npy", ".png", ".gif") if image else (".npy", ".png")):
        raise ValueError(f"--out {out}: paths of {info['kind']} go to .npy or .png" + (" or .gif" if image else ""))
    method = "lerp" if args.lerp else "slerp"
    x = interpolate(G, args.interpolate, args.steps, method=method, truncation=args.truncation,
                    noise_dim=info["config"].noise_dim, seed=args.seed)  # (N, K, *sample_shape), model units
    x = info["scaler"].to_data(x.flatten(0, 1)).reshape(x.shape).cpu().numpy()  # data units
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x)
    elif image:
        peak = info["scaler"].loc[0] + info["scaler"].scale[0]  # data units of the model's +1
        viz.save_image_paths(np.clip(x / peak, 0, 1), out)
    else:
        viz.plot_point_paths(x, out, f"{args.interpolate} {method} paths of {args.steps} points, {args.run}")
    print(f"wrote {args.interpolate} {method} paths of {args.steps} samples of shape {tuple(x.shape[2:])} to {out}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data.datasets import FILE_FORMATS, describe_datasets

    rows = describe_datasets()
    width = max(len(name) for name, _, _ in rows)
    for name, summary, options in rows:
        print(f"{name:<{width}}  {summary}")
        if options:
            print(" " * (width + 2) + "options: " + ", ".join(f"{k}={v!r}" for k, v in options.items()))
    print(f"\nor a path: {FILE_FORMATS}")
    return 0


def cmd_divergences_demo(args: argparse.Namespace) -> int:
    from .divergence_demo import run

    result = run(Path(args.out))
    print(result["table"])
    print(f"figure: {Path(args.out) / 'divergences.png'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(Path(args.out), iterations=args.iterations, progress=not args.quiet)
    print(summary["table"])
    print(f"summary figure: {summary['figure']}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from .experiments import EXPERIMENTS, format_table, run_all
    from .report import experiments_report

    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {args.name!r}; choose from {list(EXPERIMENTS)} or 'all'")

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
    from .report import experiments_report, run_report

    target = Path(args.dir)
    page = run_report(target) if (target / "config.json").exists() else experiments_report(target)
    print(f"wrote {page}")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gankit",
        description="Vanilla GAN and Wasserstein GAN exactly as the theory states them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    parser.add_argument("--threads", dest="global_threads", type=int, default=0, metavar="N",
                        help="CPU threads for torch (default 0: torch's choice, less the CPUs other processes keep "
                             "busy, since spin-waiting threads then run many times slower)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "train", help="train a GAN/WGAN and write a run folder",
        description="Train with the seed's loop: T iterations of K D-steps and one G-step.",
        epilog="On several processes (one run, data parallel): torchrun --nproc_per_node N -m gankit train "
               "--out RUN ... ; on several machines add --nnodes H --node_rank I --master_addr HOST "
               "--master_port 29500 on each. --batch-size is the global minibatch M: each of the N processes "
               "draws M / N samples from its own streams and the gradients are averaged before every step. "
               "gloo on CPU, NCCL on CUDA (one GPU per process); rank 0 writes the run folder; --resume works "
               "with the same N.")
    p.add_argument("--config", metavar="FILE", help="a JSON or TOML config (a run's config.json works)")
    p.add_argument("--out", metavar="RUN_DIR", help="the run folder (default: runs/<data>-<objective>-s<seed>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in RUN (e.g. with a larger --iterations)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing gankit run folder (config.json + checkpoints/), once the new config "
                        "and data have been checked; any other folder is refused")
    p.add_argument("--seeds", metavar="SEEDS",
                   help="train several seeds of this config at once, as one stacked network (MLP models): "
                        "0-15, 3,7,11 or both; each seed writes RUN/seed-<k>/, a normal run folder, and RUN gets "
                        "summary.json and seeds.png")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a trained run",
                       description="Samples in the data's own units (any scaling undone).")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default: 1000)")
    p.add_argument("--out", required=True, metavar="FILE", help=".npy, .csv or .png (image grid or scatter)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--raw-generator", action="store_true",
                   help="sample the trained generator, not its EMA (runs trained with --ema-decay)")
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="truncation trick: redraw every noise coordinate with |z_i| > PSI (Brock et al. 2019)")
    p.add_argument("--interpolate", type=int, metavar="N",
                   help="N latent paths between pairs of noise draws, --steps samples each: a grid (.png, a path "
                        "a row) or .gif for images, a plot (.png) for points, or the array (.npy, (N, steps, ...))")
    p.add_argument("--steps", type=int, default=10, help="samples along each path (default: 10)")
    p.add_argument("--lerp", action="store_true", help="straight paths (default: slerp, along the sphere)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("datasets", help="list the named data sets and their options")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("divergences", help="the divergence toolbox")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = dsub.add_parser("demo", help="KL, JS and W1 between two distributions theta apart",
                        description="Shows JS stuck at log 2, KL infinite, and W1 = |theta|.")
    q.add_argument("--out", default="runs/divergences", help="output folder (default: runs/divergences)")
    q.set_defaults(func=cmd_divergences_demo)

    p = sub.add_parser("demo", help="vanilla GAN vs WGAN on the 8-Gaussian ring, with pictures",
                       description="Trains both on the ring and writes a side-by-side summary.")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--iterations", type=int, default=None, help="generator iterations per run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)

    from .experiments import EXPERIMENTS

    p = sub.add_parser("experiment", help="run one claim of the seed (or all) with numbers and figures",
                       description="Each experiment writes result.json and PNGs; 'all' also writes report.html. "
                       f"Experiments: {', '.join(EXPERIMENTS)}.")
    p.add_argument("name", metavar="NAME", help="an experiment name or 'all'")
    p.add_argument("--out", default="runs/experiments", help="output folder (default: runs/experiments)")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds each), for tests")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.set_defaults(func=cmd_experiment)

    from . import bench, benchmark, classifier, evaluation
    from .explore import command as explore

    evaluation.register(sub)
    classifier.register(sub)
    bench.register(sub)
    benchmark.register(sub)
    explore.register(sub)

    p = sub.add_parser("report", help="write an HTML page for experiment results or a run folder")
    p.add_argument("dir", metavar="DIR", nargs="?", default="runs/experiments",
                   help="an experiments folder or a run folder (default: runs/experiments)")
    p.set_defaults(func=cmd_report)
    return parser


def _busy_cpus(interval: float = 0.2) -> float:
    """How many CPUs other processes keep busy right now (/proc/stat over ``interval``; else the load average)."""
    import os
    import time

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(interval)  # this process sleeps meanwhile, so the busy share is the others'
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cpus = os.cpu_count() or 1
    return cpus * (1 - (idle1 - idle0) / max(total1 - total0, 1))


def set_threads(threads: int) -> None:
    """``threads`` torch CPU threads; 0 keeps torch's choice but leaves out the CPUs other processes keep busy.

    Several OpenMP threads that spin-wait for a peer descheduled by another
    process run many times slower than one, so on a busy machine fewer is faster.
    """
    import os

    import torch

    if threads < 0:
        raise SystemExit(f"gankit: error: --threads must be >= 0; got {threads}")
    if threads:
        torch.set_num_threads(threads)
        return
    current = torch.get_num_threads()
    if current > 1:
        busy = _busy_cpus()
        free = max(1, min(current, round((os.cpu_count() or 1) - busy)))
        if free < current:
            log.info("other processes keep %.1f CPUs busy: using %d torch thread(s); --threads N overrides", busy, free)
            torch.set_num_threads(free)


def _rank_prefix() -> str:
    """``rank r of W: `` under torchrun, so that a failure names the process it happened on."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    return f"rank {os.environ.get('RANK', '?')} of {world}: " if world > 1 else ""


def _one_line(e: BaseException) -> str:
    """An exception's message on one line; a file-system error names its file first."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        target = f" -> {e.filename2}" if e.filename2 is not None else ""
        return f"{e.filename}{target}: {e.strerror}"
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text or type(e).__name__


def _resume_command(run_dir: Any) -> str:
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    launch = f"torchrun --nproc_per_node {world} -m gankit" if world > 1 else "gankit"
    return f"{launch} train --resume {shlex.quote(str(run_dir))}"


def main(argv: Sequence[str] | None = None) -> int:
    """The ``gankit`` command: every failure ends as one line and an exit code.

    Exit codes: 0 done; 2 an error in what was asked (a bad flag, file, config or
    folder; the line names it); 1 an internal error (rerun with ``--debug`` for
    the traceback); 130 / 143 stopped by SIGINT / SIGTERM after writing the
    checkpoint.
    """
    import os

    from .interrupt import Interrupted
    from .runlock import RunLockedError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line, e.g. after the sub-command's flags
    args = parser.parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gankit").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    from .training import NonFiniteLossError

    set_threads(args.global_threads)
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        return args.func(args)
    except Interrupted as e:
        if main_rank:
            where = (f"; the checkpoint is saved in {e.run_dir}; continue with: {_resume_command(e.run_dir)}"
                     if e.run_dir is not None else "")
            print(f"gankit: {e}{where}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print("gankit: aborted; the last checkpoint written (if any) is kept", file=sys.stderr)
        return 130
    except (ValueError, OSError, NonFiniteLossError, RunLockedError, MemoryError) as e:
        if args.debug:
            traceback.print_exc()
        what = "out of memory: " if isinstance(e, MemoryError) else ""
        print(f"gankit: error: {_rank_prefix()}{what}{_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        print(f"gankit: internal error: {_rank_prefix()}{type(e).__name__}: {_one_line(e)} (a bug: rerun with "
              "--debug for the traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
