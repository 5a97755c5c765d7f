"""The ``gankit`` command. Each sub-command builds on the library; none holds logic of its own.

Building the parser imports nothing heavy (no torch, SciPy, POT, scikit-learn
or matplotlib): each command imports what it needs when it runs, so
``gankit --help``, ``gankit COMMAND --help`` and ``gankit datasets`` answer at
once. The parsers live beside their commands: :mod:`.runs` (train, sample),
:mod:`.lab` (datasets, divergences, demo, experiment, report), :mod:`.tools`
(eval, classifier, bench, benchmark) and :mod:`gankit.explore.command`.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from ..explore import command as explore
from . import lab, runs, tools
from .flags import THREADS_HELP, add_threads, config_from_args  # noqa: F401  (config_from_args: the API)

log = logging.getLogger("gankit")


class _Version(argparse.Action):
    """``--version``: the installed version, read only when asked (``importlib.metadata`` costs a little)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import gankit

        print(f"gankit {gankit.__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gankit",
        description="Vanilla GAN and Wasserstein GAN exactly as the theory states them.",
        epilog="Every command takes --help. Flags shared by the commands: --quiet (no progress output), "
               "--threads N, --device DEVICE, --seed N. Also: python -m gankit.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    parser.add_argument("--threads", type=int, default=0, metavar="N", help=THREADS_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    runs.register(sub)
    lab.register(sub)
    tools.register(sub)
    p = explore.register(sub)
    p.set_defaults(trains=True)
    for p in _commands(parser):  # --threads after the command, too
        if not any("--threads" in a.option_strings for a in p._actions):
            add_threads(p)
    return parser


def _commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-command's parser, at any depth (``classifier train``)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for p in dict.fromkeys(action.choices.values()):
                found += [p, *_commands(p)]
    return found


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


def set_threads(threads: int, *, trains: bool = True, verbose: bool = False) -> None:
    """``threads`` torch CPU threads; 0 keeps torch's choice, but for a command that ``trains`` leaves out the
    CPUs other processes keep busy (logged with ``verbose``).

    Several OpenMP threads that spin-wait for a peer descheduled by another
    process run many times slower than one, so on a busy machine fewer is
    faster. Commands that do not train skip the probe (and torch's import).
    """
    import os

    if threads < 0:
        raise SystemExit(f"gankit: error: --threads must be >= 0; got {threads}")
    if not threads and not trains:
        return
    import torch

    if threads:
        torch.set_num_threads(threads)
        return
    current = torch.get_num_threads()
    if current > 1:
        busy = _busy_cpus()
        free = max(1, min(current, round((os.cpu_count() or 1) - busy)))
        if free < current:
            if verbose:
                log.info("other processes keep %.1f CPUs busy: using %d torch thread(s); --threads N overrides",
                         busy, free)
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


def _is_user_error(e: BaseException) -> bool:
    """An error in what was asked: a bad value, file or folder, a locked run, too little memory, or a loss that
    became NaN (:class:`~gankit.training.NonFiniteLossError`: the run's settings), not a bug."""
    from ..runlock import RunLockedError

    if isinstance(e, (ValueError, OSError, RunLockedError, MemoryError)):
        return True
    training = sys.modules.get("gankit.training")  # loaded if a loss can have become NaN; not imported for this
    return training is not None and isinstance(e, training.NonFiniteLossError)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``gankit`` command: every failure ends as one line and an exit code.

    Exit codes: 0 done; 2 an error in what was asked (a bad flag, file, config or
    folder; the line names it); 1 an internal error (rerun with ``--debug`` for
    the traceback); 130 / 143 stopped by SIGINT / SIGTERM after writing the
    checkpoint.
    """
    import os

    from ..interrupt import Interrupted

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line, e.g. after the sub-command's flags
    args = parser.parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gankit").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        set_threads(args.threads, trains=getattr(args, "trains", False), verbose=args.verbose)
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
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        if _is_user_error(e):
            what = "out of memory: " if isinstance(e, MemoryError) else ""
            print(f"gankit: error: {_rank_prefix()}{what}{_one_line(e)}", file=sys.stderr)
            return 2
        print(f"gankit: internal error: {_rank_prefix()}{type(e).__name__}: {_one_line(e)} (a bug: rerun with "
              "--debug for the traceback and report it)", file=sys.stderr)
        return 1
