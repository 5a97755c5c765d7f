"""Bad and unlucky inputs, as a new user would try them: each gets a clear, one-line error and harms nothing.

The catalogue (:data:`CATALOGUE`) is data: each case is a command line, the files
it needs (prepared in a fresh working folder, which is also the current
directory), what its message must name, and what may change on disk. Each
outcome is sorted into one of four kinds:

* ``clear``: a non-zero exit and one line ``... error: ...`` naming the file, flag
  or value (or, for the cases where the right answer is to go on, exit 0 with
  the warning asked for), no traceback, and no file changed outside the paths
  the case allows;
* ``unclear``: a traceback, or a message that names none of what it must, or more
  than one error line, or a refusal of something that should have worked;
* ``wrong``: exit 0 on a bad input, or files changed that the case protects
  (a run destroyed, a folder emptied);
* ``crash``: out of memory, recursion or another fatal error.

``python tests/test_robustness.py`` prints every case's kind and the counts.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import os
import random
import re
import shutil
import socket
import string
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.cli import main

TINY = ["--iterations", "4", "--g-hidden", "8", "--d-hidden", "8", "--no-progress", "--no-tensorboard",
        "--snapshot-every", "0", "--log-every", "2", "--checkpoint-every", "2"]
RING = ["--data-option", "n=500"]
TINY_CONFIG = {"iterations": 4, "g_hidden": [8], "d_hidden": [8], "progress": False, "tensorboard": False,
               "snapshot_every": 0, "log_every": 2, "data_options": {"n": 500}}
ROOT = os.geteuid() == 0  # root writes into read-only folders: simulate an unwritable path another way


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: a short name.
        argv: the ``gankit`` command line (paths relative to the working folder).
        setup: prepares files in the working folder (the current directory).
        names: what the message must name (each, case-insensitively).
        expect: ``error`` (non-zero exit), ``warn`` (exit 0 and a warning naming ``names``)
            or ``ok`` (exit 0: the input is unlucky, not wrong).
        may_change: paths (relative) whose files may change; every other file must stay as it was.
        forbid: text the output must not contain.
        check: after exit 0, a reason the result is wrong (or None).
    """

    id: str
    argv: tuple[str, ...]
    setup: Callable[[Path], None] | None = None
    names: tuple[str, ...] = ()
    expect: str = "error"
    may_change: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    check: Callable[[Path], str | None] | None = None


# --------------------------------------------------------------------------- set-up helpers

_BASE: dict[str, Path] = {}


def base_run() -> Path:
    """A finished tiny run on the ring, trained once and copied into every case that needs one."""
    if "run" not in _BASE or not _BASE["run"].exists():
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="gankit-base-"))
        atexit.register(shutil.rmtree, root, True)
        with _quiet(), _cwd(root):
            assert main(["train", "--out", "run", *TINY, *RING]) == 0
        _BASE["run"] = root / "run"
    return _BASE["run"]


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def run_copy(name: str = "run") -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        shutil.copytree(base_run(), work / name)

    return setup


def npy(name: str, array) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        np.save(work / name, array)

    return setup


def text(name: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (work / name).write_bytes(content)
        else:
            (work / name).write_text(content)

    return setup


def config(name: str = "c.json", **fields) -> Callable[[Path], None]:
    return text(name, json.dumps({**TINY_CONFIG, **fields}))


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        for s in setups:
            s(work)

    return setup


def trained(*argv: str) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        with _quiet():
            assert main(["train", *argv, *TINY]) == 0

    return setup


def points(n: int = 64, d: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def edit_checkpoint(fn: Callable[[dict], None], run: str = "run") -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        path = work / run / "checkpoints" / "latest.pt"
        state = torch.load(path, weights_only=True)
        fn(state)
        torch.save(state, path)

    return setup


def _nan_generator(state: dict) -> None:
    for v in state["generator"].values():
        if v.is_floating_point():
            v.fill_(float("nan"))


class _Code:  # a class pickled into a checkpoint: loading it would run code
    pass


def _code_checkpoint(work: Path) -> None:
    path = work / "run" / "checkpoints" / "latest.pt"
    state = torch.load(path, weights_only=True)
    state["extra"] = _Code()
    torch.save(state, path)


def _huge_generator(state: dict) -> None:
    for v in state["generator"].values():
        if v.is_floating_point():
            v.fill_(1e30)  # finite weights whose samples overflow to infinity


def _unwritable(work: Path) -> str:
    """A folder this process cannot write into: read-only, or (as root) a path under a regular file."""
    if ROOT:
        (work / "blocked").write_text("a file, not a folder\n")
        return "blocked/sub"
    (work / "ro").mkdir()
    (work / "ro").chmod(0o555)
    return "ro"


def unwritable_setup(work: Path) -> None:
    _unwritable(work)


UNWRITABLE = "blocked/sub" if ROOT else "ro"


def _eval_unwritable(work: Path) -> None:
    run_copy()(work)
    if ROOT:  # eval.json cannot be written where a folder of that name stands
        (work / "run" / "eval.json").mkdir()
        (work / "run" / "eval.json" / "keep").write_text("x")
    else:
        (work / "run").chmod(0o555)


def _idx(dims: tuple[int, ...], payload: bytes = b"") -> bytes:
    head = bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + payload


def _huge_npy() -> bytes:
    """A 192-byte ``.npy`` whose header declares about 3.6 TiB of float64."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (500000000, 1000), }"
    header = header + " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\x00" * 64


def _images(n: int = 16, nan: bool = False) -> np.ndarray:
    x = np.random.default_rng(0).uniform(size=(n, 1, 8, 8)).astype(np.float32)
    if nan:
        x[3, 0, 2, 5] = np.nan
    return x


def _replace_data(work: Path) -> None:
    """Train on pts.npy, then replace it by other values of the same shape."""
    np.save(work / "pts.npy", points(seed=0))
    trained("--data", "pts.npy", "--out", "run")(work)
    np.save(work / "pts.npy", points(seed=1))


def _moved_data(work: Path) -> None:
    (work / "a").mkdir()
    np.save(work / "a" / "pts.npy", points())
    trained("--data", "a/pts.npy", "--out", "run")(work)
    (work / "b").mkdir()
    shutil.move(work / "a" / "pts.npy", work / "b" / "pts.npy")


def _other_folder(work: Path) -> None:
    """A run started inside ``sub/`` with a relative data path; the case resumes it from the parent."""
    (work / "sub").mkdir()
    np.save(work / "sub" / "pts.npy", points())
    with _cwd(work / "sub"):
        trained("--data", "pts.npy", "--out", "run")(work / "sub")


def _png_folder(work: Path) -> None:
    from PIL import Image

    (work / "imgs").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(work / "imgs" / "a.png")


def _torn_metrics(work: Path) -> None:
    run_copy()(work)
    with (work / "run" / "metrics.jsonl").open("a") as f:
        f.write('{"step": 5, "d_lo')


def _locked(work: Path) -> None:
    """The run is held by a live trainer (this process holds the lock)."""
    run_copy()(work)
    lock = work / "run" / ".lock"
    f = lock.open("w")
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    f.flush()
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _HELD.append(f)


_HELD: list = []


def _user_files(work: Path) -> None:
    (work / "notes.txt").write_text("my notes\n")
    (work / "thesis").mkdir()
    (work / "thesis" / "chapter1.tex").write_text("\\chapter{One}\n")


def _missing_key(work: Path) -> None:
    run_copy()(work)
    edit_checkpoint(lambda s: s.pop("generator"))(work)


def _json_sample_check(work: Path) -> str | None:
    x = np.load(work / "s.npy")
    return None if np.isfinite(x).all() else "the samples hold NaN"


def _resumed(work: Path) -> str | None:
    state = torch.load(work / "run" / "checkpoints" / "latest.pt", weights_only=True)
    return None if state["step"] == 6 else f"the run stands at {state['step']}, not 6"


def _resumed_sub(work: Path) -> str | None:
    return _resumed(work / "sub")


def _metrics_clean(work: Path) -> str | None:
    lines = (work / "run" / "metrics.jsonl").read_text().splitlines()
    try:
        steps = [json.loads(line)["step"] for line in lines]
    except ValueError:
        return "metrics.jsonl still holds a torn line"
    return None if steps == sorted(set(steps)) else f"metrics.jsonl steps {steps}"


def run_files(run: str = "run") -> tuple[str, ...]:
    """The paths a tiny run writes in ``run`` (what --overwrite may replace there)."""
    return tuple(f"{run}/{name}" for name in ("config.json", "metrics.jsonl", "checkpoints", "samples", "samples.png",
                                               "curves.png", "tensorboard", ".lock"))


def _user_files_in(folder: str) -> Callable[[Path], None]:
    """A project's files beside (or inside) a folder: notes, sources, a git folder."""
    def setup(work: Path) -> None:
        root = work / folder
        (root / "src").mkdir(parents=True, exist_ok=True)
        (root / "src" / "main.py").write_text("print('mine')\n")
        (root / ".git").mkdir(exist_ok=True)
        (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (root / "notes.txt").write_text("my notes\n")

    return setup


def _foreign_config(content: str, checkpoint: bytes | None = None) -> Callable[[Path], None]:
    """A project folder with a ``config.json`` (and ``checkpoints/``) of another tool."""
    def setup(work: Path) -> None:
        _user_files_in("proj")(work)
        (work / "proj" / "config.json").write_text(content)
        (work / "proj" / "checkpoints").mkdir()
        (work / "proj" / "checkpoints" / ("latest.pt" if checkpoint is not None else "model.ckpt")).write_bytes(
            checkpoint if checkpoint is not None else b"weights of another tool")

    return setup


def _gankit_config_only(work: Path) -> None:
    """A gankit config.json (copied from a run) in a project folder, with no checkpoint."""
    _user_files_in("proj")(work)
    shutil.copy(base_run() / "config.json", work / "proj" / "config.json")


def _fake_checkpoint(work: Path) -> None:
    _user_files_in("proj")(work)
    shutil.copy(base_run() / "config.json", work / "proj" / "config.json")
    (work / "proj" / "checkpoints").mkdir()
    (work / "proj" / "checkpoints" / "latest.pt").write_bytes(b"PK\x03\x04 not a checkpoint")


def _stopped_before_checkpoint(work: Path) -> None:
    """A run killed before its first checkpoint: its config.json and metrics.jsonl."""
    (work / "run").mkdir()
    shutil.copy(base_run() / "config.json", work / "run" / "config.json")
    (work / "run" / "metrics.jsonl").write_text("")


def _replaced_run(work: Path) -> str | None:
    state = torch.load(work / "run" / "checkpoints" / "latest.pt", weights_only=True)
    return None if state["step"] == 4 else f"the new run stands at {state['step']}"


def _seeds_with_user_files(work: Path) -> None:
    trained("--out", "s", "--seeds", "0-1", *RING)(work)
    (work / "s" / "notes.txt").write_text("mine\n")
    (work / "s" / "seed-0" / "mine.txt").write_text("mine\n")


def _idx_f8(values: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x0E, values.ndim]) + b"".join(d.to_bytes(4, "big") for d in values.shape)
    return head + values.astype(">f8").tobytes()


_FAR = np.array([[3e38, 1.0], [3e38, 2.0], [-3e38, 1.0], [3e38, 0.0]])  # within float32, but not its mean's spread


# --------------------------------------------------------------------------- the catalogue

T = ("train", "--out", "new", *TINY)  # a fresh run folder
X = ("explore", "--no-browser", "--port", "70000")
R = (*T, *RING)

CATALOGUE: list[Case] = [
    # -- config files: strict types, unknown keys, unreadable files
    Case("config-g-hidden-string", ("train", "--config", "c.json", "--out", "new"), config(g_hidden="64"),
         ("g_hidden",)),
    Case("config-tensorboard-string", ("train", "--config", "c.json", "--out", "new"), config(tensorboard="false"),
         ("tensorboard",)),
    Case("config-iterations-float", ("train", "--config", "c.json", "--out", "new"), config(iterations=10.7),
         ("iterations",)),
    Case("config-iterations-string", ("train", "--config", "c.json", "--out", "new"), config(iterations="10"),
         ("iterations",)),
    Case("config-lr-string", ("train", "--config", "c.json", "--out", "new"), config(lr="fast"), ("lr",)),
    Case("config-lr-bool", ("train", "--config", "c.json", "--out", "new"), config(lr=True), ("lr",)),
    Case("config-progress-int", ("train", "--config", "c.json", "--out", "new"), config(progress=1), ("progress",)),
    Case("config-betas-string", ("train", "--config", "c.json", "--out", "new"),
         config(optimizer="adam", betas="0.5,0.9"), ("betas",)),
    Case("config-betas-one", ("train", "--config", "c.json", "--out", "new"), config(betas=[0.5]), ("betas",)),
    Case("config-clip-null", ("train", "--config", "c.json", "--out", "new"), config(clip=None), ("clip",)),
    Case("config-device-number", ("train", "--config", "c.json", "--out", "new"), config(device=3), ("device",)),
    Case("config-objective-number", ("train", "--config", "c.json", "--out", "new"), config(objective=5),
         ("objective",)),
    Case("config-data-options-list", ("train", "--config", "c.json", "--out", "new"), config(data_options=[1, 2]),
         ("data_options",)),
    Case("config-g-hidden-floats", ("train", "--config", "c.json", "--out", "new"), config(g_hidden=[8.5, 8]),
         ("g_hidden",)),
    Case("config-seed-string", ("train", "--config", "c.json", "--out", "new"), config(seed="1"), ("seed",)),
    Case("config-unknown-key", ("train", "--config", "c.json", "--out", "new"), config(iteratons=5),
         ("iteratons",)),
    Case("config-not-json", ("train", "--config", "c.json", "--out", "new"), text("c.json", "{iterations: 4"),
         ("c.json",)),
    Case("config-a-list", ("train", "--config", "c.json", "--out", "new"), text("c.json", "[1, 2]"), ("c.json",)),
    Case("config-missing", ("train", "--config", "nope.json", "--out", "new"), None, ("nope.json",)),
    Case("config-bad-toml", ("train", "--config", "c.toml", "--out", "new"), text("c.toml", "iterations = = 4\n"),
         ("c.toml",)),
    Case("config-bad-yaml", ("train", "--config", "c.yaml", "--out", "new"), text("c.yaml", "iterations: [4\n"),
         ("c.yaml",)),
    Case("config-yaml-string-int", ("train", "--config", "c.yaml", "--out", "new"),
         text("c.yaml", 'iterations: "4"\nprogress: false\ntensorboard: false\n'), ("iterations",)),
    Case("config-toml-string-int", ("train", "--config", "c.toml", "--out", "new"),
         text("c.toml", 'iterations = "4"\nprogress = false\ntensorboard = false\n'), ("iterations",)),
    Case("config-eval-every", ("train", "--config", "c.json", "--out", "new"), config(eval_every=-1), ("eval_every",)),
    Case("config-nan-momentum", ("train", "--config", "c.json", "--out", "new"),
         text("c.json", json.dumps(TINY_CONFIG)[:-1] + ', "optimizer": "sgd", "momentum": NaN}'), ("momentum",)),
    # -- flags
    Case("flag-g-hidden-text", (*R, "--g-hidden", "64,abc"), None, ("--g-hidden",)),
    Case("flag-iterations-zero", (*R, "--iterations", "0"), None, ("--iterations",)),
    Case("flag-iterations-float", (*R, "--iterations", "10.5"), None, ("--iterations",)),
    Case("flag-lr-nan", (*R, "--lr", "nan"), None, ("--lr",)),
    Case("flag-lr-negative", (*R, "--lr", "-0.1"), None, ("--lr",)),
    Case("flag-batch-zero", (*R, "--batch-size", "0"), None, ("--batch-size",)),
    Case("flag-checkpoint-every-zero", (*R, "--checkpoint-every", "0"), None, ("--checkpoint-every",)),
    Case("flag-momentum-adam", (*R, "--optimizer", "adam", "--momentum", "0.5"), None, ("--momentum",)),
    Case("flag-momentum-rmsprop", (*R, "--optimizer", "rmsprop", "--momentum", "0.5"), None, ("--momentum",)),
    Case("flag-device-tpu", (*R, "--device", "tpu"), None, ("--device",)),
    Case("flag-threads-negative", ("--threads", "-1", *R), None, ("--threads",)),
    Case("flag-seeds-backwards", (*R, "--seeds", "3-1"), None, ("--seeds",)),
    Case("flag-seed-and-seeds", (*R, "--seed", "1", "--seeds", "0-1"), None, ("--seeds",)),
    Case("flag-objective-unknown", (*R, "--objective", "wgan-pg"), None, ("wgan-pg",)),
    Case("flag-data-option-n-zero", (*T, "--data-option", "n=0"), None, ("n",)),
    Case("flag-data-option-n-text", (*T, "--data-option", "n=lots"), None, ("n=",)),
    Case("flag-data-option-unknown", (*R, "--data-option", "radius2=2"), None, ("radius2",)),
    Case("flag-data-option-no-equals", (*R, "--data-option", "radius"), None, ("--data-option",)),
    Case("flag-data-option-n-one", (*T, "--data-option", "n=1"), None, ("ring",)),
    Case("flag-data-option-std-negative", (*R, "--data-option", "std=-1"), None, ("std",)),
    Case("flag-data-missing", (*T, "--data", "missing.npy"), None, ("missing.npy",)),
    Case("flag-g-hidden-empty", (*R, "--g-hidden", ""), None, ("--g-hidden",)),
    Case("flag-d-hidden-commas", (*R, "--d-hidden", ","), None, ("--d-hidden",)),
    Case("flag-seed-negative", (*R, "--seed", "-1"), None, ("--seed",)),
    Case("flag-seed-huge", (*R, "--seed", "99999999999999999999999"), None, ("--seed",)),
    Case("config-g-hidden-empty", ("train", "--config", "c.json", "--out", "new"), config(g_hidden=[]),
         ("g_hidden",)),
    Case("config-seed-negative", ("train", "--config", "c.json", "--out", "new"), config(seed=-3), ("seed",)),
    # -- the other commands' numbers and lists, checked before any work
    Case("benchmark-iterations-zero", ("benchmark", "--iterations", "0", "--out", "b"), None, ("--iterations",)),
    Case("benchmark-workers-negative", ("benchmark", "--workers", "-1", "--out", "b"), None, ("--workers",)),
    Case("benchmark-seeds-zero", ("benchmark", "--seeds", "0", "--out", "b"), None, ("--seeds",)),
    Case("benchmark-recipes-empty", ("benchmark", "--recipes", ",", "--out", "b"), None, ("--recipes",)),
    Case("bench-iterations-zero", ("bench", "--iterations", "0"), None, ("--iterations",)),
    Case("bench-rounds-zero", ("bench", "--rounds", "0"), None, ("--rounds",)),
    Case("bench-seeds-empty", ("bench", "--seeds", ",", "--iterations", "1"), None, ("--seeds",)),
    Case("demo-iterations-zero", ("demo", "--iterations", "0", "--out", "d"), None, ("--iterations",)),
    Case("demo-out-holds-a-user-folder", ("demo", "--iterations", "2", "--out", "d", "--quiet"),
         text("d/gan/notes.txt", "mine\n"), ("d/gan", "notes.txt")),
    Case("classifier-epochs-zero", ("classifier", "train", "--epochs", "0"), None, ("--epochs",)),
    Case("classifier-lr-nan", ("classifier", "train", "--lr", "nan"), None, ("--lr",)),
    Case("eval-seed-negative", ("eval", "run", "--seed", "-1", "--quiet"), run_copy(), ("--seed",)),
    Case("sample-seed-negative", ("sample", "run", "--out", "s.npy", "--seed", "-1"), run_copy(), ("--seed",)),
    # (--port 70000: a token that got through would meet the port's refusal, not a server that runs forever)
    Case("explore-short-token", (*X, "--token", "abc"), None, ("--token", "16")),
    Case("explore-short-token-any-host", (*X, "--host", "0.0.0.0", "--token", "x"), None, ("--token",)),
    Case("explore-repetitive-token", (*X, "--token", "ab" * 40), None, ("--token",)),
    Case("explore-token-with-space", (*X, "--token", "a b" + "Zx9_" * 10), None, ("--token", "spaces")),
    Case("flag-out-is-a-file", ("train", "--out", "f.txt", *TINY, *RING), text("f.txt", "x\n"), ("f.txt",)),
    Case("flag-out-unwritable", ("train", "--out", f"{UNWRITABLE}/new", *TINY, *RING), unwritable_setup,
         (UNWRITABLE,)),
    # -- --overwrite
    Case("overwrite-cwd", ("train", "--out", ".", "--overwrite", *TINY, *RING), _user_files, ("--overwrite",)),
    Case("overwrite-user-folder", ("train", "--out", "thesis", "--overwrite", *TINY, *RING), _user_files,
         ("thesis",)),
    Case("overwrite-a-file", ("train", "--out", "notes.txt", "--overwrite", *TINY, *RING), _user_files,
         ("notes.txt",)),
    Case("overwrite-run-data-typo", ("train", "--out", "run", "--overwrite", "--data", "rnig", *TINY), run_copy(),
         ("rnig",)),
    Case("overwrite-run-bad-option", ("train", "--out", "run", "--overwrite", "--data-option", "n=0", *TINY),
         run_copy(), ("n",)),
    Case("existing-run-no-overwrite", ("train", "--out", "run", *TINY, *RING), run_copy(), ("--resume",)),
    Case("overwrite-empty-config-beside-checkpoints", ("train", "--out", "proj", "--overwrite", *TINY, *RING),
         _foreign_config("{}"), ("proj", "config.json")),
    Case("overwrite-another-tools-config", ("train", "--out", "proj", "--overwrite", *TINY, *RING),
         _foreign_config('{"model": "resnet50", "lr": 0.1, "epochs": 90}', b"weights"), ("proj", "config.json")),
    Case("overwrite-gankit-config-no-checkpoint", ("train", "--out", "proj", "--overwrite", *TINY, *RING),
         _gankit_config_only, ("proj", "no checkpoint")),
    Case("overwrite-gankit-config-fake-checkpoint", ("train", "--out", "proj", "--overwrite", *TINY, *RING),
         _fake_checkpoint, ("proj", "latest.pt")),
    Case("overwrite-run-beside-user-files", ("train", "--out", "run", "--overwrite", *TINY, *RING),
         both(run_copy(), _user_files_in("run")), ("kept", "notes.txt", "src/"), expect="warn",
         may_change=run_files("run"), check=_replaced_run),
    Case("overwrite-run-stopped-before-checkpoint", ("train", "--out", "run", "--overwrite", *TINY, *RING),
         _stopped_before_checkpoint, expect="ok", may_change=run_files("run"), check=_replaced_run),
    Case("overwrite-seeds-beside-user-files", ("train", "--out", "s", "--overwrite", "--seeds", "0-2", *TINY, *RING),
         _seeds_with_user_files, ("kept", "notes.txt", "seed-0/mine.txt"), expect="warn",
         may_change=("s/seeds.json", "s/summary.json", "s/seeds.png", "s/.lock", *run_files("s/seed-0"),
                     *run_files("s/seed-1"), *run_files("s/seed-2"))),
    # -- --resume
    Case("resume-missing", ("train", "--resume", "nope"), None, ("nope",)),
    Case("resume-with-overwrite", ("train", "--resume", "run", "--overwrite"), run_copy(), ("--overwrite",)),
    Case("resume-with-other-out", ("train", "--resume", "run", "--out", "elsewhere"), run_copy(), ("--out",)),
    Case("resume-with-seeds", ("train", "--resume", "run", "--seeds", "0-1"), run_copy(), ("--seeds",)),
    Case("resume-with-config", ("train", "--resume", "run", "--config", "c.json"), both(run_copy(), config()),
         ("--config",)),
    Case("resume-not-a-run", ("train", "--resume", "thesis"), _user_files, ("thesis",)),
    Case("resume-iterations-below", ("train", "--resume", "run", "--iterations", "2"), run_copy(),
         ("--iterations",)),
    Case("resume-new-lr", ("train", "--resume", "run", "--lr", "0.5"), run_copy(), ("lr",)),
    Case("resume-replaced-data", ("train", "--resume", "run", "--iterations", "6"), _replace_data, ("pts.npy",)),
    Case("resume-moved-data", ("train", "--resume", "run", "--iterations", "6"), _moved_data, ("--data",)),
    Case("resume-moved-data-pointed", ("train", "--resume", "run", "--iterations", "6", "--data", "b/pts.npy"),
         _moved_data, expect="ok", may_change=("run",), check=_resumed),
    Case("resume-moved-data-wrong-file", ("train", "--resume", "run", "--iterations", "6", "--data", "x.npy"),
         both(_moved_data, npy("x.npy", points(seed=5))), ("x.npy",)),
    Case("resume-from-another-folder", ("train", "--resume", "sub/run", "--iterations", "6"), _other_folder,
         expect="ok", may_change=("sub/run",), check=_resumed_sub),
    Case("resume-torn-metrics", ("train", "--resume", "run", "--iterations", "6"), _torn_metrics,
         ("metrics.jsonl",), expect="warn", may_change=("run",), check=_metrics_clean),
    Case("resume-garbage-checkpoint", ("train", "--resume", "run"),
         both(run_copy(), text("run/checkpoints/latest.pt", b"\x00garbage" * 10)), ("latest.pt",),
         forbid=("weights_only",)),
    Case("resume-truncated-checkpoint", ("train", "--resume", "run"),
         both(run_copy(), lambda w: (w / "run/checkpoints/latest.pt").write_bytes(
             (base_run() / "checkpoints/latest.pt").read_bytes()[:3000])), ("latest.pt",),
         forbid=("weights_only",)),
    Case("resume-code-checkpoint", ("train", "--resume", "run"), both(run_copy(), _code_checkpoint), ("latest.pt",),
         forbid=("weights_only",)),
    Case("resume-missing-key", ("train", "--resume", "run"), _missing_key, ("generator",)),
    Case("resume-nan-checkpoint", ("train", "--resume", "run", "--iterations", "6"),
         both(run_copy(), edit_checkpoint(_nan_generator)), ("latest.pt",), forbid=("last good checkpoint",)),
    Case("resume-locked", ("train", "--resume", "run", "--iterations", "6"), _locked, (str(os.getpid()),)),
    Case("train-into-locked", ("train", "--out", "run", "--overwrite", *TINY, *RING), _locked, (str(os.getpid()),)),
    # -- sample
    Case("sample-device-tpu", ("sample", "run", "--out", "s.npy", "--device", "tpu"), run_copy(), ("tpu",)),
    Case("sample-bad-suffix", ("sample", "run", "--out", "s.txt"), run_copy(), ("s.txt",)),
    Case("sample-n-zero", ("sample", "run", "--out", "s.npy", "--n", "0"), run_copy(), ("--n",)),
    Case("sample-not-a-run", ("sample", "thesis", "--out", "s.npy"), _user_files, ("thesis",)),
    Case("sample-unwritable", ("sample", "run", "--out", f"{UNWRITABLE}/s.npy"), both(run_copy(), unwritable_setup),
         (UNWRITABLE,)),
    Case("sample-nan-checkpoint", ("sample", "run", "--out", "s.npy"),
         both(run_copy(), edit_checkpoint(_nan_generator)), ("latest.pt",), check=_json_sample_check),
    Case("sample-infinite-output", ("sample", "run", "--out", "s.npy"),
         both(run_copy(), edit_checkpoint(_huge_generator)), ("run", "infinite")),
    Case("sample-missing-key", ("sample", "run", "--out", "s.npy"), _missing_key, ("generator",)),
    Case("sample-code-checkpoint", ("sample", "run", "--out", "s.npy"), both(run_copy(), _code_checkpoint),
         ("latest.pt",), forbid=("weights_only",)),
    # -- eval
    Case("eval-unwritable", ("eval", "run", "--n", "200", "--no-c2st", "--no-figures", "--quiet"), _eval_unwritable,
         ("eval.json",)),
    Case("eval-missing", ("eval", "nope", "--n", "200", "--quiet"), None, ("nope",)),
    Case("eval-device-tpu", ("eval", "run", "--n", "200", "--no-c2st", "--no-figures", "--quiet", "--device", "tpu"),
         run_copy(), ("tpu",)),
    Case("eval-n-zero", ("eval", "run", "--n", "0", "--no-c2st", "--no-figures", "--quiet"), run_copy(), ("--n",)),
    # -- data files
    Case("npy-empty-file", (*T, "--data", "e.npy"), text("e.npy", b""), ("e.npy",)),
    Case("npy-huge-header", (*T, "--data", "huge.npy"), text("huge.npy", _huge_npy()), ("huge.npy",)),
    Case("npy-image-nan-pixel", (*T, "--data", "img.npy"), npy("img.npy", _images(nan=True)), ("img.npy",)),
    Case("npy-points-nan", (*T, "--data", "p.npy"), npy("p.npy", np.array([[0.0, 1.0], [np.nan, 2.0], [1, 1]])),
         ("p.npy",)),
    Case("npy-points-inf-image", (*T, "--data", "img.npy"),
         npy("img.npy", np.where(_images() > 0.99, np.inf, _images())), ("img.npy",)),
    Case("npy-one-row", (*T, "--data", "p.npy"), npy("p.npy", np.ones((1, 2))), ("p.npy",)),
    Case("npy-no-rows", (*T, "--data", "p.npy"), npy("p.npy", np.ones((0, 2))), ("p.npy",)),
    Case("npy-strings", (*T, "--data", "p.npy"), npy("p.npy", np.array([["a", "b"], ["c", "d"]])), ("p.npy",)),
    Case("npy-complex", (*T, "--data", "p.npy"), npy("p.npy", points().astype(complex) * 1j), ("p.npy",)),
    Case("npy-scalar", (*T, "--data", "p.npy"), npy("p.npy", np.float64(3.0)), ("p.npy",)),
    Case("npy-object", (*T, "--data", "p.npy"), npy("p.npy", np.array([{"a": 1}, None], dtype=object)),
         ("p.npy",)),
    Case("npy-two-channels", (*T, "--data", "img.npy"), npy("img.npy", np.zeros((4, 2, 8, 8))), ("img.npy",)),
    Case("npz-no-key", (*T, "--data", "a.npz"),
         lambda w: np.savez(w / "a.npz", a=points(), b=points()), ("a.npz",)),
    Case("npz-bad-key", (*T, "--data", "a.npz", "--data-option", "key=zz"),
         lambda w: np.savez(w / "a.npz", x=points()), ("zz",)),
    Case("csv-text-cell", (*T, "--data", "p.csv"), text("p.csv", "1,2\n3,x\n"), ("p.csv",)),
    Case("csv-ragged", (*T, "--data", "p.csv"), text("p.csv", "1,2\n3\n"), ("p.csv",)),
    Case("csv-empty", (*T, "--data", "p.csv"), text("p.csv", ""), ("p.csv",)),
    Case("csv-inf", (*T, "--data", "p.csv"), text("p.csv", "1,2\n3,inf\n"), ("p.csv",)),
    Case("csv-beyond-float32", (*T, "--data", "p.csv"), text("p.csv", "x,y\n1,2\n3,4e38\n"),
         ("p.csv", "line 3", "column 2", "float32")),
    Case("npy-beyond-float32", (*T, "--data", "p.npy"), npy("p.npy", np.array([[1, 2], [3, 5e39], [1, 1.0]])),
         ("p.npy", "row 1", "column 1", "float32")),
    Case("npy-spread-beyond-float32", (*T, "--data", "p.npy"), npy("p.npy", _FAR), ("p.npy", "row 2", "column 0")),
    Case("npy-image-beyond-float32", (*T, "--data", "img.npy"), npy("img.npy", _images().astype(np.float64) * 1e300),
         ("img.npy", "float32")),
    Case("idx-beyond-float32", (*T, "--data", "d.idx"), text("d.idx", _idx_f8(np.array([[1, 2], [3, -1e39],
                                                                                       [0, 1.0]]))),
         ("d.idx", "row 1", "column 1")),
    Case("idx-truncated", (*T, "--data", "d.idx"), text("d.idx", _idx((10, 8, 8), b"\x00" * 100)), ("d.idx",)),
    Case("idx-overflow", (*T, "--data", "d.idx"), text("d.idx", _idx((2**31, 2**31, 2), b"\x00" * 8)),
         ("d.idx",), forbid=("-92233",)),
    Case("idx-bad-magic", (*T, "--data", "d.idx"), text("d.idx", b"\x01\x02\x03\x04" + b"\x00" * 20), ("d.idx",)),
    Case("folder-empty", (*T, "--data", "imgs"), lambda w: (w / "imgs").mkdir(), ("imgs",)),
    Case("folder-corrupt-png", (*T, "--data", "imgs"), text("imgs/a.png", b"\x89PNG not really"), ("a.png",)),
    Case("folder-bad-size", (*T, "--data", "imgs", "--data-option", "size=-3"), _png_folder, ("size",)),
    # -- other commands
    Case("report-missing", ("report", "nope"), None, ("nope",)),
    Case("experiment-unknown", ("experiment", "nope", "--out", "x"), None, ("nope",)),
]


# --------------------------------------------------------------------------- running and sorting a case


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            try:
                out[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest()
            except OSError:
                out[str(p.relative_to(root))] = "unreadable"
    return out


def _changed(before: dict[str, str], after: dict[str, str], allowed: tuple[str, ...]) -> list[str]:
    def free(path: str) -> bool:
        return any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)

    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k) and not free(k))


# log lines, Python warnings (and the source line they quote) and usage lines are not part of the message
_NOISE = re.compile(r"^(INFO|WARNING|DEBUG) |^gankit: warning: |^\S.*:\d+: \w*Warning: |^  \S|^usage: |^ +")


def run_case(case: Case, work: Path) -> tuple[str, str]:
    """Run ``case`` in the empty folder ``work``; returns its kind and a short reason."""
    work.mkdir(parents=True, exist_ok=True)
    logs = None
    with _cwd(work):
        try:
            if case.setup is not None:
                case.setup(work)
            before = _snapshot(work)
            out, err = io.StringIO(), io.StringIO()
            code, exc = None, None
            logs = logging.StreamHandler(err)  # in-process, the root handler writes where stderr first was
            logs.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logging.getLogger("gankit").addHandler(logs)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(case.argv))
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
                    if not isinstance(e.code, int) and e.code is not None:
                        print(e.code, file=sys.stderr)
                except BaseException as e:  # noqa: BLE001 - sorted below
                    exc = e
                    traceback.print_exc(file=err)
        finally:
            if logs is not None:
                logging.getLogger("gankit").removeHandler(logs)
            for f in _HELD:
                f.close()
            _HELD.clear()
            for p in work.rglob("*"):  # undo read-only folders so that the folder can be removed
                if p.is_dir() and not p.is_symlink():
                    p.chmod(0o755)
    after = _snapshot(work)
    text_out = out.getvalue() + err.getvalue()
    if isinstance(exc, (MemoryError, RecursionError, SystemError)):
        return "crash", f"{type(exc).__name__}: {exc}"[:200]
    changed = _changed(before, after, case.may_change)
    if changed:
        return "wrong", f"files changed: {changed[:4]}"
    if exc is not None:
        return "unclear", f"traceback: {type(exc).__name__}: {exc}"[:200]
    if "Traceback" in text_out:
        return "unclear", "a traceback in the output"
    for bad in case.forbid:
        if bad.lower() in text_out.lower():
            return "unclear", f"says {bad!r}"
    lines = err.getvalue().splitlines()
    errors = [line for line in lines if line.startswith("gankit") and "error:" in line]
    noise = [line for line in lines if line not in errors and not _NOISE.match(line)]
    if case.expect == "error":
        if code == 0:
            why = case.check(work) if case.check else None
            return "wrong", f"exit 0{': ' + why if why else ''}"
        if len(errors) != 1:
            return "unclear", f"exit {code}, {len(errors)} error lines: {err.getvalue()[-200:]!r}"
        if noise:
            return "unclear", f"more than one line: {noise[0][:160]!r}"
        missing = [n for n in case.names if n.lower() not in errors[0].lower()]
        if missing:
            return "unclear", f"does not name {missing}: {errors[0][:200]}"
        return "clear", errors[0][:200]
    # the input is unlucky, not wrong: the command must go on (with a warning naming `names` for "warn")
    if code != 0:
        return "unclear", f"refused: {(errors or [err.getvalue()[-200:]])[0][:200]}"
    why = case.check(work) if case.check else None
    if why:
        return "wrong", why
    if case.expect == "warn":
        warned = [line for line in err.getvalue().splitlines() if "warning" in line.lower()]
        if not any(all(n.lower() in line.lower() for n in case.names) for line in warned):
            return "unclear", f"no warning naming {list(case.names)}"
    return "clear", "went on" + (f": {warned[0][:160]}" if case.expect == "warn" else "")


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_a_bad_input_gets_a_clear_error_and_harms_nothing(case, tmp_path):
    kind, why = run_case(case, tmp_path / "work")
    assert kind == "clear", f"{case.id}: {kind}: {why}"


def test_the_catalogue_is_large_and_named_uniquely():
    ids = [c.id for c in CATALOGUE]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)


def test_an_internal_error_exits_1_with_a_hint_and_debug_shows_the_traceback(monkeypatch, capsys):
    from gankit.cli import lab

    def broken(args):
        raise TypeError("an unexpected bug")

    monkeypatch.setattr(lab, "cmd_datasets", broken)
    assert main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert "gankit: internal error: TypeError: an unexpected bug" in err and "--debug" in err
    assert "Traceback" not in err
    assert main(["datasets", "--debug"]) == 1  # --debug anywhere on the line
    assert "Traceback" in capsys.readouterr().err


def test_a_user_error_with_debug_shows_its_traceback_too(capsys):
    assert main(["--debug", "train", "--data", "missing.npy", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("gankit: error: unknown data set")


def test_config_types_are_strict_in_python_too():
    from gankit import TrainConfig

    assert TrainConfig(g_hidden=[64, np.int64(32)], betas=[0.5, 0.9]).g_hidden == (64, 32)
    assert TrainConfig(iterations=np.int64(5), lr=1).lr == 1.0
    for bad in ({"g_hidden": "64"}, {"tensorboard": "false"}, {"iterations": 10.7}, {"iterations": True},
                {"betas": (0.5,)}, {"data_options": [("n", 5)]}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig(**bad)


def test_files_are_written_with_the_umasks_permissions(tmp_path):
    """A run folder is readable by others exactly where the user's other files are."""
    for umask, mode in ((0o002, 0o664), (0o077, 0o600)):
        old = os.umask(umask)
        try:
            with _quiet():
                assert main(["train", "--out", str(tmp_path / f"u{umask:o}"), *TINY, *RING, "--tensorboard"]) == 0
        finally:
            os.umask(old)
        files = [p for p in (tmp_path / f"u{umask:o}").rglob("*") if p.is_file()]
        assert {"config.json", "metrics.jsonl", "latest.pt", "curves.png"} <= {p.name for p in files}
        assert {p.relative_to(tmp_path).as_posix(): oct(p.stat().st_mode & 0o777) for p in files} == {
            p.relative_to(tmp_path).as_posix(): oct(mode) for p in files}


# --------------------------------------------------------------------------- the explorer, as an attacker tries it
# (a page of another site open in the same browser, a name rebound to 127.0.0.1, a poisoned upload, a run that
# diverges, settings that make one iteration last minutes)


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    pytest.importorskip("uvicorn")
    pytest.importorskip("websockets")
    from gankit.explore.server import make_server

    srv, sock, url, ex = make_server(out_root=tmp_path_factory.mktemp("explore-runs"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, token = re.search(r"http://([^/]+)/\?token=(\S+)", url).groups()
    yield {"host": host, "port": int(host.rsplit(":", 1)[1]), "token": token, "explorer": ex}
    srv.should_exit = True
    thread.join(10)


def _http(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``path`` from 127.0.0.1:``port`` with exactly these headers (``Host`` among them)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        for k, v in {"Host": f"127.0.0.1:{port}", **(headers or {})}.items():
            conn.putheader(k, v)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _ws_status(port: int, token: str, host: str | None = None, origin: str | None = None) -> int:
    """The status of a WebSocket handshake to 127.0.0.1:``port`` whose URL names ``host`` (as a rebound name
    does: the browser connects to 127.0.0.1 and sends ``Host: <the page's name>``); 101 when it is accepted."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        with connect(f"ws://{host or f'127.0.0.1:{port}'}/ws?token={token}", sock=sock, origin=origin,
                     open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            return 101
    except InvalidStatus as e:
        return e.response.status_code


def test_dns_rebinding_gets_403_on_the_page_its_files_the_api_and_the_websocket(explorer):
    port, token = explorer["port"], explorer["token"]
    paths = [f"/?token={token}", f"/static/explore.js?token={token}", f"/static/explore.css?token={token}",
             f"/api/export?token={token}&run=a&format=png", "/no-such-page"]
    for path in paths:  # the right token, the attacker's name
        status, body = _http(port, path, {"Host": f"evil.example:{port}"})
        assert status == 403 and b"evil.example" in body, (path, status)
    assert _ws_status(port, token, host=f"evil.example:{port}") == 403
    assert _ws_status(port, token, host=f"evil.example:{port}", origin=f"http://evil.example:{port}") == 403
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST."):  # the names it answers to
        assert _http(port, f"/?token={token}", {"Host": name})[0] == 200, name
    assert _http(port, f"/static/explore.js?token={token}")[0] == 200
    assert _http(port, "/", {"Host": f"evil.example:{port}"})[0] == 403  # refused before the token is looked at
    assert _ws_status(port, token, host=f"localhost:{port}") == 101


def test_the_origin_is_checked_against_the_allowed_hosts_not_the_requests_own_host(explorer):
    port, token = explorer["port"], explorer["token"]
    assert _ws_status(port, token, origin=f"http://evil.example:{port}") == 403
    assert _ws_status(port, token, origin="null") == 403  # a sandboxed frame or a file:// page
    assert _ws_status(port, token, origin=f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}") == 403
    assert _ws_status(port, token, origin=f"http://localhost:{port}") == 101
    assert _ws_status(port, token, origin=f"http://127.0.0.1:{port}") == 101
    assert _http(port, f"/static/explore.js?token={token}", {"Origin": f"http://evil.example:{port}"})[0] == 403


def test_the_token_is_escaped_in_the_page_and_weak_tokens_are_refused(tmp_path, monkeypatch, capsys):
    import secrets
    from urllib.parse import quote

    from gankit.explore.server import Explorer, check_token, make_server

    token = '"</script><script>window.pwned=1</script>&?#%' + secrets.token_urlsafe(16)
    srv, sock, url, _ = make_server(out_root=tmp_path, token=token)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        port = sock.getsockname()[1]
        assert url.endswith("?token=" + quote(token, safe=""))
        assert _http(port, f"/?token={token}")[0] == 403  # unescaped, the URL says something else
        status, body = _http(port, "/?token=" + quote(token, safe=""))
        page = body.decode()
        assert status == 200 and page.count("<script") == 3 and page.count("</script>") == 3
        assert '"</script>' not in page and "<script>window.pwned" not in page
        script = re.search(r"<script>window\.GANKIT_TOKEN = (.*?);</script>", page).group(1)
        assert json.loads(script) == token
        assert page.count(f"?token={quote(token, safe='')}\"") == 3  # the stylesheet and the two scripts
        assert _ws_status(port, quote(token, safe="")) == 101
        _in_a_browser(f"http://127.0.0.1:{port}/?token={quote(token, safe='')}", token)
    finally:
        srv.should_exit = True
        thread.join(10)
    for weak in ("a", "abc" * 10, "0" * 64, "ab" * 40, "password1234", secrets.token_urlsafe(12), "with space" * 5):
        with pytest.raises(ValueError, match="--token"):
            check_token(weak)
    for strong in (secrets.token_urlsafe(16), secrets.token_hex(16), "correct-horse-battery-staple-zebra-quiz",
                   "UBxmXqCv_OqsHonWx-GsXw"):  # a token_urlsafe(16) without a digit (1 in 40 of them)
        assert check_token(strong) == strong
    rng = random.Random(0)  # whatever token_urlsafe(16) and token_hex(16) draw passes
    for alphabet, n in ((string.ascii_letters + string.digits + "-_", 22), ("0123456789abcdef", 32)):
        for _ in range(2000):
            token = "".join(rng.choices(alphabet, k=n))
            assert check_token(token) == token
    with pytest.raises(ValueError, match="16 random bytes"):
        Explorer("short")
    monkeypatch.setenv("GANKIT_EXPLORE_TOKEN", "abc")
    assert main([*X, "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "$GANKIT_EXPLORE_TOKEN" in err and len(err.strip().splitlines()) == 1


def _in_a_browser(url: str, token: str) -> None:
    """Open ``url`` in headless Chromium (where installed): the page connects, and no injected script ran."""
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                    None)
    if chromium is None:
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("document.body.dataset.connected === 'true'", timeout=30_000)
            assert page.evaluate("window.GANKIT_TOKEN") == token
            assert page.evaluate("window.pwned") is None
        finally:
            browser.close()


class _PeakRSS:
    """The largest rise of this process's resident memory while the block runs (sampled every millisecond)."""

    def __enter__(self) -> _PeakRSS:
        self.base = self.peak = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.rise = self.peak - self.base

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._done.wait(0.001):
            self.peak = max(self.peak, self._rss())


def _inflating_npz(mib: int, name: str = "x.npy") -> bytes:
    """An .npz of a few hundred KiB whose one member holds ``mib`` MiB of zeros once inflated."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open(name, "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (mib * 2**20 // 16, 2)})
        zeros = bytes(2**20)
        for _ in range(mib):
            f.write(zeros)
    return buf.getvalue()


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads resident memory from /proc")
def test_an_inflated_upload_is_refused_before_it_is_read_and_memory_stays_flat(explorer):
    import base64

    from websockets.sync.client import connect

    from gankit.explore.protocol import MAX_ROWS, ProtocolError, parse

    bomb = _inflating_npz(256)
    assert len(bomb) < 2**20  # 256 MiB in under 1 MiB
    messages = {name: json.dumps({"type": "data", "file": {"name": name, "content": base64.b64encode(bomb).decode()}})
                for name in ("bomb.npz", "disguised.npy")}  # numpy reads a zip as an archive, whatever its name
    with _PeakRSS() as rss:
        for message in messages.values():
            with pytest.raises(ProtocolError, match="inflates to 256.0 MiB"):
                parse(message)
        with connect(f"ws://{explorer['host']}/ws?token={explorer['token']}", max_size=None, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            ws.send(messages["bomb.npz"])
            while (m := json.loads(ws.recv(timeout=30)))["type"] != "error":
                pass
    assert "bomb.npz inflates to 256.0 MiB" in m["message"] and "32 MiB" in m["message"]
    assert rss.rise < 24 * 2**20, f"resident memory rose by {rss.rise / 2**20:.0f} MiB"
    print(f"an upload inflating to 256 MiB: refused; resident memory rose by {rss.rise / 2**20:.1f} MiB")
    rows = "x,y\n" + "0,0\n" * (MAX_ROWS + 5)  # small, but too many points
    for name, content in (("many.csv", rows.encode()), ("many.npy", _npy_of_rows(MAX_ROWS + 1))):
        with pytest.raises(ProtocolError, match=f"at most {MAX_ROWS:,} points"):
            parse(json.dumps({"type": "data", "file": {"name": name, "content": base64.b64encode(content).decode()}}))


def _npy_of_rows(n: int) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros((n, 2), np.float32))
    return buf.getvalue()


class _Inbox:
    """What a session sends the page, with the time it arrived."""

    def __init__(self):
        self.messages: list[tuple[float, dict]] = []
        self.cond = threading.Condition()

    def __call__(self, message, frame=False):
        with self.cond:
            self.messages.append((time.perf_counter(), message))
            self.cond.notify_all()

    def wait(self, test, timeout: float = 60.0, after: float = 0.0) -> tuple[float, dict]:
        """The first message (arrived at ``after`` or later) that passes ``test``, with its time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = next(((t, m) for t, m in self.messages if t >= after and test(m)), None)
                if found:
                    return found
                left = deadline - time.monotonic()
                assert left > 0, f"no such message in {timeout} s"
                self.cond.wait(left)

    def since(self, t0: float, kind: str) -> list[dict]:
        with self.cond:
            return [m for t, m in self.messages if t >= t0 and m["type"] == kind]


def _session(inbox: _Inbox, tmp_path: Path):
    from gankit.explore.session import Session

    session = Session(inbox, out_root=tmp_path)
    session.start()
    inbox.wait(lambda m: m["type"] == "frame")
    return session


def test_a_diverged_run_is_reported_once_not_twenty_times_a_second(tmp_path, monkeypatch):
    from gankit.explore.protocol import parse
    from gankit.explore.session import Session

    def poison(self, message):  # the critic's weights become NaN: its next loss is NaN
        with torch.no_grad():
            next(self.runs["a"].trainer.D.parameters()).fill_(float("nan"))

    monkeypatch.setattr(Session, "_on_poison", poison, raising=False)
    inbox = _Inbox()
    session = _session(inbox, tmp_path)
    try:
        session.submit(parse(json.dumps({"type": "configure", "run": "a", "settings": {"width": 16, "depth": 2,
                                                                                        "iterations": 100000}})))
        inbox.wait(lambda m: m["type"] == "state" and m["state"]["settings"]["a"]["width"] == 16)
        t0 = time.perf_counter()
        session.submit({"type": "poison"})
        session.submit({"type": "play"})
        inbox.wait(lambda m: m["type"] == "error")
        time.sleep(1.5)  # the worker goes on publishing at 25 frames a second
        errors = inbox.since(t0, "error")
        assert len(errors) == 1 and "NaN or infinite" in errors[0]["message"], errors
        t1 = time.perf_counter()
        for kind in ("play", "step", "save"):  # refused, each once, naming the way out
            session.submit({"type": kind, **({"what": "iteration"} if kind == "step" else {}),
                            **({"run": "a"} if kind == "save" else {})})
        time.sleep(0.5)
        refused = inbox.since(t1, "error")
        assert len(refused) == 3 and all("diverged" in m["message"] and "reset" in m["message"] for m in refused)
        t2 = time.perf_counter()
        session.submit({"type": "reset"})
        session.submit({"type": "play"})
        inbox.wait(lambda m: m["type"] == "frame" and m["runs"].get("a", {}).get("step", 0) >= 5)
        assert inbox.since(t2, "error") == []
    finally:
        session.close()


def _heaviest(objective: str = "wgan-gp") -> dict:
    """The settings that make one iteration as long as the page allows: every size at its bound."""
    from gankit.explore.protocol import SETTINGS

    return {"objective": objective, "d_steps": int(SETTINGS["d_steps"].high), "width": int(SETTINGS["width"].high),
            "depth": int(SETTINGS["depth"].high), "batch_size": int(SETTINGS["batch_size"].high),
            "iterations": 1000}


def test_pause_takes_effect_within_a_second_in_the_longest_iteration(tmp_path):
    from gankit.explore.protocol import parse

    inbox = _Inbox()
    session = _session(inbox, tmp_path)
    try:
        session.submit(parse(json.dumps({"type": "configure", "run": "a", "settings": _heaviest()})))
        inbox.wait(lambda m: m["type"] == "state" and m["state"]["settings"]["a"]["width"] == _heaviest()["width"])
        session.submit({"type": "play"})
        inbox.wait(lambda m: m["type"] == "frame" and m["runs"]["a"]["k"] >= 2)  # inside the iteration
        t0 = time.perf_counter()
        session.submit({"type": "pause"})
        t1, stopped = inbox.wait(lambda m: m["type"] == "frame" and not m["playing"], after=t0)
        held = stopped["runs"]["a"]
        time.sleep(0.6)
        later = [m["runs"]["a"] for m in inbox.since(t1, "frame")]
    finally:
        session.close()
    assert held["step"] == 0 and 0 < held["k"] < _heaviest()["d_steps"], held  # paused inside the iteration
    assert all((f["step"], f["k"]) == (held["step"], held["k"]) for f in later)
    assert t1 - t0 < 1.0, f"pause took {t1 - t0:.2f} s"
    print(f"pause in a {_heaviest()['d_steps']}-step iteration: stopped after {t1 - t0:.3f} s, at critic step "
          f"{held['k']}")


def test_ctrl_c_in_the_longest_iteration_stops_the_server_cleanly(tmp_path):
    import signal
    import subprocess

    from websockets.sync.client import connect

    from gankit.explore.bench import url_of

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "explore", "--no-browser", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        host, token = url_of(proc)
        with connect(f"ws://{host}/ws?token={token}", max_size=None, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            ws.send(json.dumps({"type": "configure", "run": "a", "settings": _heaviest("gan-r1")}))
            ws.send(json.dumps({"type": "play"}))
            while not ((m := json.loads(ws.recv(timeout=60)))["type"] == "frame" and m["runs"]["a"]["k"] >= 2):
                pass
            tic = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            lines, stopped = [], None
            for line in proc.stdout:  # until the process closes it
                lines.append(line)
                if "gankit explore: stopped" in line:
                    stopped = time.perf_counter() - tic
            rc = proc.wait(30)
            ended = time.perf_counter() - tic
    finally:
        proc.kill()
    out = "".join(lines)
    assert rc == 0, out  # not SIGABRT
    assert stopped is not None and "Traceback" not in out and "Abort" not in out, out
    assert stopped < 1.5, f"the server took {stopped:.2f} s to stop"  # one step, then the sessions close
    print(f"Ctrl-C inside a {_heaviest()['d_steps']}-step iteration: the server stopped after {stopped:.2f} s; the "
          f"process exited 0 after {ended:.2f} s")


def report(cases: list[Case] = CATALOGUE) -> dict[str, int]:
    """Run every case and print one line each and the counts (``python tests/test_robustness.py``)."""
    import tempfile

    counts = {"clear": 0, "unclear": 0, "wrong": 0, "crash": 0}
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            kind, why = run_case(case, Path(tmp) / f"c{i}")
            counts[kind] += 1
            print(f"{kind:8s} {case.id:32s} {why}", flush=True)
    print(f"\n{len(cases)} cases in {time.perf_counter() - tic:.1f} s: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    torch.set_num_threads(1)
    report([c for c in CATALOGUE if len(sys.argv) < 2 or c.id in sys.argv[1:]])
