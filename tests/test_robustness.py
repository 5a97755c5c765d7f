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
import re
import shutil
import socket
import sys
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


# --------------------------------------------------------------------------- the catalogue

T = ("train", "--out", "new", *TINY)  # a fresh run folder
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
    # -- --resume
    Case("resume-missing", ("train", "--resume", "nope"), None, ("nope",)),
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
