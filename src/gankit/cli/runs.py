"""``gankit train`` and ``gankit sample``: a run folder in, a run folder or samples out."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import Any

from .flags import add_config_flags, add_device, add_seed, as_typed, config_from_args, config_overrides, flag

log = logging.getLogger("gankit")


def cmd_train(args: argparse.Namespace) -> int:
    from ..api import session
    from ..config import ConfigError
    from ..distributed import Ranks, shutdown
    from ..seeds import SeedsInTurn, SeedsTrainer, parse_seeds
    from ..training import ResumeChangeError

    try:
        ranks = Ranks.from_environment(vars(args).get("device", "auto"))
        if args.resume:
            _refuse_with_resume(args)
            config, seeds, overrides = None, None, config_overrides(args)
        else:
            config = config_from_args(args)
            seeds = parse_seeds(args.seeds) if args.seeds is not None else None
            if seeds is not None and "seed" in config_overrides(args):
                raise ValueError("--seed and --seeds: give one of them")
            overrides = None
        with contextlib.ExitStack() as stack:  # an --overwrite keeps the folder locked until the training ends
            try:
                trainer = stack.enter_context(session(config, args.out, seeds=seeds, resume=args.resume,
                                                      overwrite=args.overwrite, overrides=overrides, ranks=ranks))
            except ResumeChangeError as e:  # named by the flags the user typed
                raise ValueError(e.message(flag)) from None
            except ConfigError as e:
                if args.resume is None:  # the recipe is chosen with the data: a value it makes invalid, by its flag
                    raise as_typed(e, config_overrides(args), args.config) from None
                if e.field not in overrides:  # the run's own config, named by its file
                    raise
                raise as_typed(e, overrides) from None
            trainer.fit()
    finally:
        shutdown()
    if not ranks.main:
        return 0
    last = trainer.records[-1] if trainer.records else {}
    print(f"run folder: {trainer.run_dir}")
    many = isinstance(trainer, (SeedsTrainer, SeedsInTurn))
    print("last metrics" + (" (mean over seeds)" if many else "") + ": "
          + ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float)))
    if many:
        print(f"seeds {args.seeds or trainer.seeds}: one run folder each (seed-<k>/), summary.json and seeds.png")
    else:
        names = ("config.json", "metrics.jsonl", "samples.png", "curves.png", "training.gif", "checkpoints/latest.pt")
        print("files: " + " ".join(n for n in names if (trainer.run_dir / n).exists()))  # those this run wrote
    return 0


def _asked_class(text: str | None, info: dict[str, Any], run: str) -> int | None:
    """``--class`` as a class index: a number 0..C-1 or a class name of the run's data."""
    if text is None:
        return None
    C, names = int(info.get("n_classes", 0)), list(info.get("classes") or [])
    if not C:
        raise ValueError(f"--class {text}: {run} is not class-conditional (train it with --conditional)")
    if text in names:
        return names.index(text)
    try:
        k = int(text)
    except ValueError:
        k = -1
    if not 0 <= k < C:
        listed = ", ".join(f"{i} ({n})" if n != str(i) else str(i) for i, n in enumerate(names[:C])) or f"0..{C - 1}"
        raise ValueError(f"--class {text}: not a class of {run}; its classes: {listed}")
    return k


def _refuse_with_resume(args: argparse.Namespace) -> None:
    """``--resume RUN`` continues RUN as it is: the flags that would choose or replace a folder are refused."""
    given = [name for name, on in (("--overwrite", args.overwrite), ("--seeds", args.seeds is not None),
                                   ("--config", args.config is not None)) if on]
    if args.out is not None and Path(args.out) != Path(args.resume):
        given.append(f"--out {args.out}")
    if given:
        raise ValueError(f"--resume {args.resume} continues that run in its own folder with its own config and "
                         f"seeds; {' and '.join(given)} cannot go with it (to start again in that folder: "
                         f"--out {args.resume} --overwrite, without --resume)")


def cmd_sample(args: argparse.Namespace) -> int:
    out = Path(args.out)
    suffixes = (".npy", ".png", ".gif") if args.interpolate is not None else (".npy", ".npz", ".csv", ".png")
    if out.suffix not in suffixes:  # before anything is loaded
        raise ValueError(f"--out {out}: the suffix must be {', '.join(suffixes[:-1])} or {suffixes[-1]}"
                         + (" (.gif: paths of images)" if args.interpolate is not None else ""))
    for name in ("n", "interpolate", "steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1; got {getattr(args, name)}")
    import numpy as np
    import torch

    from .. import viz
    from ..sampling import pick_device
    from ..training import generate, load_generator
    from ..writing import atomic_path, check_writable

    pick_device(args.device)
    check_writable(out, f"--out {out}")
    G, info = load_generator(args.run, device=args.device, raw=args.raw_generator)
    asked = _asked_class(args.class_, info, args.run)
    if args.interpolate is not None:
        return _sample_paths(args, G, info, asked)
    C = int(info.get("n_classes", 0))
    labels = asked
    clusters = bool(info.get("clusters"))  # the classes are k-means clusters, not the data's
    # a grid of a run conditional on the data's labels: a row per class; a cluster run's grid mixes the clusters
    # as the data do
    per_class = -(-args.n // C) if (C and asked is None and out.suffix == ".png" and info["kind"] == "image"
                                    and not clusters) else None
    if per_class:
        labels = torch.arange(C).repeat_interleave(per_class)[: args.n]
    x, y = generate(G, args.n, noise_dim=info["config"].noise_dim, seed=args.seed, truncation=args.truncation,
                    labels=labels, return_labels=True)
    x = info["scaler"].to_data(x).cpu().numpy()  # (n, *sample_shape), data units
    y = None if y is None else y.cpu().numpy()
    tag = "cluster" if clusters else "label"  # what y is: a cluster's index or the data's class
    bad = int((~np.isfinite(x.reshape(len(x), -1))).any(axis=1).sum())
    if bad:
        raise ValueError(f"{args.run}: the generator gave NaN or infinite values in {bad} of {args.n} samples; "
                         f"nothing was written to {out}")
    with atomic_path(out) as tmp:  # whole or not at all
        if out.suffix == ".npy":
            np.save(tmp, x)
        elif out.suffix == ".npz":  # the samples and their classes: a labelled data file (k-means clusters are not
            np.savez(tmp, x=x, **({} if y is None else {tag + "s": y}))  # classes: a cluster run's are "clusters")
        elif out.suffix == ".csv":  # with the training file's header, where it had one, and a label column
            columns = info.get("columns")
            header = ",".join(columns) if columns and len(columns) == x[0].size else ""
            rows = x.reshape(len(x), -1)
            if y is not None:
                header = header + f",{tag}" if header else ",".join(
                    [f"x{i + 1}" for i in range(rows.shape[1])] + [tag])
                rows = np.concatenate([rows, y[:, None]], axis=1)
            fmt = ["%.6g"] * x[0].size + (["%d"] if y is not None else [])
            np.savetxt(tmp, rows, delimiter=",", fmt=fmt, header=header, comments="")
        elif info["kind"] == "image":
            scaler = info["scaler"]
            peak = scaler.loc[0] + scaler.scale[0]  # data units of the model's +1
            viz.save_image_grid(np.clip(x / peak, 0, 1), tmp, nrow=per_class, scale=2)
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
    what = "" if y is None else (f" of class {asked}" if asked is not None else f" of {C} classes")
    print(f"wrote {args.n} samples{what} of shape {tuple(x.shape[1:])} to {out}")
    return 0


def _sample_paths(args: argparse.Namespace, G, info: dict[str, Any], asked: int | None = None) -> int:
    """``sample --interpolate N``: N latent paths of --steps points (:func:`gankit.sampling.interpolate`)."""
    import numpy as np

    from .. import viz
    from ..sampling import interpolate

    out = Path(args.out)
    image = info["kind"] == "image"
    if out.suffix == ".gif" and not image:
        raise ValueError(f"--out {out}: paths of {info['kind']} go to .npy or .png; .gif is for images")
    method = "lerp" if args.lerp else "slerp"
    x = interpolate(G, args.interpolate, args.steps, method=method, truncation=args.truncation,
                    noise_dim=info["config"].noise_dim, seed=args.seed, labels=asked)  # (N, K, *shape), model units
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


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import FORMATS, describe, export

    out = Path(args.out) if args.out else Path(args.run) / f"generator{FORMATS[args.format]}"
    path, info = export(args.run, out, args.format, raw=args.raw_generator)
    print(f"wrote {path} ({args.format}): {describe(info)}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from ..doctor import diagnose, format_findings, to_json

    findings = diagnose(args.run, n=args.n, seed=args.seed)
    print(format_findings(args.run, findings))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(findings), indent=1) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a GAN/WGAN and write a run folder",
        description="Train with the seed's loop: T iterations of K D-steps and one G-step.",
        epilog="On several processes (one run, data parallel): torchrun --nproc_per_node N -m gankit train "
               "--out RUN ... ; on several machines add --nnodes H --node_rank I --master_addr HOST "
               "--master_port 29500 on each. --batch-size is the global minibatch M: each of the N processes "
               "draws M / N samples from its own streams and the gradients are averaged before every step. "
               "gloo on CPU, NCCL on CUDA (one GPU per process); rank 0 writes the run folder; --resume works "
               "with the same N.")
    p.add_argument("--config", metavar="FILE", help="a JSON, TOML or YAML config (a run's config.json works)")
    p.add_argument("--out", metavar="RUN_DIR", help="the run folder (default: runs/<data>-<objective>-s<seed>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in RUN (e.g. with a larger --iterations)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing gankit run folder (its config.json and checkpoint, written by gankit), "
                        "once the new config and data have been checked: the files a run writes are removed, "
                        "anything else in the folder stays; any other folder is refused, with nothing deleted")
    p.add_argument("--seeds", metavar="SEEDS",
                   help="train several seeds of this config: 0-15, 3,7,11 or both; at once, as one stacked network "
                        "(MLP, DCGAN and ResNet models), side by side in worker processes of one thread (image "
                        "models on a CPU with two or more free cores), or one after another where they cannot "
                        "stack (--augment, --compile, --amp fp16) or stacking is slower (ResNet on one core); "
                        "each seed writes RUN/seed-<k>/, a normal run folder, and RUN gets summary.json and "
                        "seeds.png")
    add_config_flags(p)
    p.set_defaults(func=cmd_train, trains=True)

    p = sub.add_parser("export", help="write a run's generator as TorchScript or ONNX, in data units",
                       description="The generator (its EMA when kept) with the data's scaler built in: the file maps "
                                   "noise z (and classes y for a class-conditional run) to samples in the data's "
                                   "own units, as gankit sample writes them.")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--format", choices=("torchscript", "onnx"), default="torchscript",
                   help="torchscript (.pt, torch.jit.load) or onnx (.onnx, needs the onnx package) "
                        "(default: torchscript)")
    p.add_argument("--out", metavar="FILE", help="the file (default: RUN/generator.pt or RUN/generator.onnx)")
    p.add_argument("--raw-generator", action="store_true",
                   help="export the trained generator, not its EMA (runs trained with --ema-decay)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("doctor", help="say what went wrong in a run, with the evidence and a fix",
                       description="Read a run folder (config, metrics, stopped.json, checkpoint; samples on a known "
                                   "mixture) and name what the theory predicts can go wrong: a loss turned NaN or "
                                   "infinite, losses or gradients diverging, D's preference oscillating between "
                                   "real and fake, a saturated discriminator with a vanishing minimax gradient, "
                                   "critic weights piled at +-c by clipping, a Wasserstein critic far from "
                                   "1-Lipschitz, dropped modes, a run stopped before T. Each finding gives its "
                                   "iterations and numbers, a fix and the theory behind it; a run that went well "
                                   "gets none.")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--n", type=int, default=2500, metavar="N", help="samples drawn on a known mixture (default: 2500)")
    add_seed(p, "the samples' noise")
    p.add_argument("--json", metavar="FILE", help="also write the findings to FILE as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("sample", help="draw samples from a trained run",
                       description="Samples in the data's own units (any scaling undone).")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--n", type=int, default=1000, metavar="N", help="number of samples (default: 1000)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help=".npy, .npz (with the labels of a conditional run; a cluster run's: clusters), .csv (with "
                        "a label column; cluster) or .png "
                        "(image grid, a row per class for a run conditional on the data's labels; or a scatter)")
    p.add_argument("--class", dest="class_", metavar="K",
                   help="class-conditional runs: samples of class K (its number or name; default: classes drawn as "
                        "often as the training data hold them, a row per class in a .png grid)")
    add_seed(p, "the noise")
    add_device(p)
    p.add_argument("--raw-generator", action="store_true",
                   help="sample the trained generator, not its EMA (runs trained with --ema-decay)")
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="truncation trick: redraw every noise coordinate with |z_i| > PSI (Brock et al. 2019)")
    p.add_argument("--interpolate", type=int, metavar="N",
                   help="N latent paths between pairs of noise draws, --steps samples each: a grid (.png, a path "
                        "a row) or .gif for images, a plot (.png) for points, or the array (.npy, (N, steps, ...))")
    p.add_argument("--steps", type=int, default=10, metavar="N", help="samples along each path (default: 10)")
    p.add_argument("--lerp", action="store_true", help="straight paths (default: slerp, along the sphere)")
    p.set_defaults(func=cmd_sample)

