"""Run a public peer GAN script unmodified for a fixed wall-clock budget on Fashion-MNIST and save its samples.

gankit's recipes are compared with well-known public training scripts (for example ``dcgan.py`` and
``wgan_gp.py`` of eriklindernoren's PyTorch-GAN) under the same conditions: the same data, the same
wall-clock budget, the same number of samples, scored by gankit's own metrics. This harness makes that
possible without editing the peer's code:

* the script is read, compiled under its real filename and executed as ``__main__`` with its own default
  options (``sys.argv = [script]``), inside a throw-away working directory two levels below ``--out``, so
  that the ``images/`` and ``../../data/mnist`` folders it creates stay inside ``--out``;
* the peers import torchvision, which is not installed beside gankit's CPU build of PyTorch, so a small
  stand-in ``torchvision`` (``datasets.MNIST``, ``transforms.Compose/Resize/ToTensor/Normalize``,
  ``utils.save_image``) is put into ``sys.modules`` for the run. Its ``MNIST`` serves Fashion-MNIST's
  training files exactly as torchvision's ``MNIST`` serves its own (a PIL ``'L'`` image through the
  transform, with an ``int`` label);
* the budget is enforced by that dataset: the clock starts at its first ``__getitem__`` (training start)
  and, once the budget has passed, ``__getitem__`` raises a private exception that leaves the peer's
  training loop through the DataLoader (the peers use the default ``num_workers=0``). The harness catches
  it and keeps the script's namespace: its ``generator``, ``optimizer_G`` and ``opt``.

Outputs in ``--out``:

* ``samples_eval.npy``: ``--n`` samples with the generator in eval mode (BatchNorm running statistics);
* ``samples_train.npy``: the same noise with the generator in train mode, in batches of the script's batch
  size, as the script draws the images it saves itself;
* ``real_roundtrip.npy``: the first ``--n`` Fashion-MNIST test images taken through the script's own
  training transform and back to 28x28, so that the cost of the resizing alone can be scored;
* ``info.json``: the script's sha256, the budget, the timings, batches and generator iterations, and the
  settings; ``peer_stdout.log`` / ``peer_stderr.log``: what the script printed; ``peer_images/``: the image
  grids the script saved.

All arrays are float32 of shape (n, 1, 28, 28) in [-1, 1]. Images of another side (``dcgan.py`` trains on
32x32) are resized per image with PIL bilinear on float ``'F'`` images, so without quantisation.

Usage::

    python benchmarks/peers.py SCRIPT --seconds 600 --seed 0 --out DIR [--n 5000] [--threads N]
    python benchmarks/peers.py --self-check      # the stand-in transforms against torchvision's semantics
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.data.files import read_idx

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
SIDE = 28  # Fashion-MNIST's side: every saved array is (n, 1, SIDE, SIDE)
EVAL_BATCH = 500  # batch size for eval-mode sampling (BatchNorm running statistics: any size gives the same)
N_TEST = 10_000  # Fashion-MNIST test images (the source of real_roundtrip.npy)
PROG = "peers.py"


# ---------------------------------------------------------------------------------------------------------
# Fashion-MNIST files
# ---------------------------------------------------------------------------------------------------------


def _idx_path(data_dir: Path, name: str) -> Path:
    """``data_dir/name.gz`` or ``data_dir/name``: the IDX file as distributed, compressed or not."""
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"--data-dir {data_dir}: no {name}.gz (nor {name}); expected Fashion-MNIST's IDX files")


_SPLITS: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]] = {}


def load_split(data_dir: str | Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's training (60,000) or test (10,000) split: uint8 images (N, 28, 28), int64 labels (N,).

    Read once per process and cached: the peers build their dataset once, the harness reads the test split
    for ``real_roundtrip.npy``.
    """
    data_dir = Path(data_dir)
    key = (str(data_dir.resolve()), train)
    if key not in _SPLITS:
        prefix = "train" if train else "t10k"
        images = read_idx(_idx_path(data_dir, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_idx_path(data_dir, f"{prefix}-labels-idx1-ubyte"))
        if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != images.shape[:1]:
            raise ValueError(f"--data-dir {data_dir}: {prefix} files hold images {images.shape} {images.dtype} "
                             f"and labels {labels.shape}; expected uint8 (N, H, W) and (N,)")
        _SPLITS[key] = (np.ascontiguousarray(images), labels.astype(np.int64))
    return _SPLITS[key]


# ---------------------------------------------------------------------------------------------------------
# The stand-in torchvision
# ---------------------------------------------------------------------------------------------------------


class _BudgetSpent(BaseException):
    """Raised inside the peer's training loop once the wall-clock budget has passed.

    A ``BaseException`` so that no ``except Exception`` in the peer's code could swallow it; private to this
    harness, which catches it around the script's execution.
    """


class Clock:
    """The wall-clock budget, started by the first item served and checked at every item.

    ``items`` counts the items actually served (the one refused when the budget has passed is not counted).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: float | None = None
        self.stopped: float | None = None
        self.items = 0

    def tick(self) -> None:
        now = time.perf_counter()
        if self.started is None:
            self.started = now
        elif now - self.started >= self.seconds:
            self.stopped = now
            raise _BudgetSpent
        self.items += 1


def _resized_size(width: int, height: int, size) -> tuple[int, int]:
    """The (width, height) torchvision's ``Resize(size)`` gives a PIL image of ``width`` x ``height``.

    An int (or a 1-sequence) is the new smaller edge, the longer edge keeping the aspect ratio (rounded
    down, as torchvision's ``_compute_resized_output_size``); a 2-sequence is (height, width).
    """
    if isinstance(size, int) or len(size) == 1:
        short_new = size if isinstance(size, int) else int(size[0])
        short, long = (width, height) if width <= height else (height, width)
        long_new = int(short_new * long / short)
        return (short_new, long_new) if width <= height else (long_new, short_new)
    if len(size) == 2:
        return int(size[1]), int(size[0])
    raise ValueError(f"Resize: size must be an int or a sequence of 1 or 2 ints, got {size!r}")


class Compose:
    """``torchvision.transforms.Compose``: apply the transforms in order."""

    def __init__(self, transforms) -> None:
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


class Resize:
    """``torchvision.transforms.Resize`` for PIL images: PIL ``resize`` (bilinear by default).

    As torchvision does, an image already of the requested size is returned as it is.
    """

    def __init__(self, size, interpolation=Image.Resampling.BILINEAR) -> None:
        self.size = size
        self.interpolation = interpolation

    def __call__(self, img: Image.Image) -> Image.Image:
        new = _resized_size(img.width, img.height, self.size)
        if new == img.size:
            return img
        return img.resize(new, self.interpolation)


class ToTensor:
    """``torchvision.transforms.ToTensor`` for PIL images: float32 (C, H, W), 8-bit values divided by 255."""

    def __call__(self, pic: Image.Image) -> torch.Tensor:
        array = np.array(pic, copy=True)
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(array.transpose(2, 0, 1).copy())
        if tensor.dtype == torch.uint8:
            return tensor.to(torch.float32).div(255)
        return tensor.to(torch.float32)


class Normalize:
    """``torchvision.transforms.Normalize``: ``(x - mean) / std`` per channel, not in place."""

    def __init__(self, mean, std, inplace: bool = False) -> None:
        self.mean, self.std = mean, std

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype).reshape(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=tensor.dtype).reshape(-1, 1, 1)
        return (tensor - mean) / std


def make_grid(tensor: torch.Tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, pad_value: float = 0.0, **_) -> torch.Tensor:
    """A (C, H, W) grid of a batch (B, C, h, w), ``nrow`` images a row, in the manner of torchvision's.

    ``normalize`` maps ``value_range`` (by default the batch's min and max) to [0, 1].
    """
    x = tensor.detach().to("cpu", torch.float32)
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[None] if x.shape[0] in (1, 3) else x[:, None]
    if normalize:
        low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
        x = (x.clamp(low, high) - low) / max(high - low, 1e-5)
    count, channels, h, w = x.shape
    columns = min(nrow, count)
    rows = math.ceil(count / columns)
    grid = torch.full((channels, rows * (h + padding) + padding, columns * (w + padding) + padding), pad_value)
    for k in range(count):
        r, c = divmod(k, columns)
        top, left = r * (h + padding) + padding, c * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = x[k]
    return grid


def save_image(tensor: torch.Tensor, fp, nrow: int = 8, padding: int = 2, normalize: bool = False, **kwargs) -> None:
    """``torchvision.utils.save_image``: a grid of the batch written with PIL (values in [0, 1] -> 0..255)."""
    grid = make_grid(tensor, nrow=nrow, padding=padding, normalize=normalize, **kwargs)
    array = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(fp, format=kwargs.get("format"))


def stand_in_torchvision(data_dir: str | Path, clock: Clock, made: list) -> dict[str, types.ModuleType]:
    """The stand-in modules ``torchvision``, ``torchvision.datasets``, ``.transforms`` and ``.utils``.

    Its ``datasets.MNIST`` serves Fashion-MNIST from ``data_dir`` (``root`` and ``download`` are ignored:
    nothing is downloaded, nothing written), ticks ``clock`` at every item, and appends every instance to
    ``made`` so that the harness can reuse the script's own transform afterwards.
    """

    class MNIST(torch.utils.data.Dataset):
        """``torchvision.datasets.MNIST`` serving Fashion-MNIST: (transform(PIL 'L' image), int label)."""

        def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                     download: bool = False) -> None:
            self.root, self.train = root, train
            self.transform, self.target_transform = transform, target_transform
            self.data, self.targets = load_split(data_dir, train)
            made.append(self)

        def __getitem__(self, index: int):
            clock.tick()
            img, target = self.data[index], int(self.targets[index])
            img = Image.fromarray(img, mode="L")
            if self.transform is not None:
                img = self.transform(img)
            if self.target_transform is not None:
                target = self.target_transform(target)
            return img, target

        def __len__(self) -> int:
            return len(self.data)

    def module(name: str, **attributes) -> types.ModuleType:
        m = types.ModuleType(name, f"Stand-in {name} of gankit's benchmarks/peers.py.")
        m.__dict__.update(attributes)
        return m

    datasets = module("torchvision.datasets", MNIST=MNIST, FashionMNIST=MNIST)
    transforms = module("torchvision.transforms", Compose=Compose, Resize=Resize, ToTensor=ToTensor,
                        Normalize=Normalize)
    utils = module("torchvision.utils", save_image=save_image, make_grid=make_grid)
    root = module("torchvision", datasets=datasets, transforms=transforms, utils=utils, __version__="stand-in")
    root.__path__ = []  # a package, so that ``import torchvision.transforms`` is understood
    return {"torchvision": root, "torchvision.datasets": datasets, "torchvision.transforms": transforms,
            "torchvision.utils": utils}


@contextlib.contextmanager
def installed(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """Put ``modules`` into ``sys.modules`` for the duration, then restore what was there."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


@contextlib.contextmanager
def script_context(script: Path, cwd: Path) -> Iterator[None]:
    """``sys.argv = [script]``, the script's folder first on ``sys.path`` and ``cwd`` as working directory,
    as ``python SCRIPT`` run from ``cwd`` would have them; all restored afterwards."""
    argv, path, here = sys.argv[:], sys.path[:], os.getcwd()
    sys.argv = [str(script)]
    sys.path.insert(0, str(script.parent))
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)
        sys.argv[:] = argv
        sys.path[:] = path


# ---------------------------------------------------------------------------------------------------------
# Running the script, sampling its generator
# ---------------------------------------------------------------------------------------------------------


def run_script(script: Path, source: bytes, seconds: float, data_dir: Path, workdir: Path,
               stdout_log: Path, stderr_log: Path) -> dict:
    """Execute the script's ``source`` unmodified until it ends or the budget stops it.

    Returns its namespace, the clock, the datasets it built, how it stopped (``"budget"``, ``"finished"``,
    or the exception it raised) and the time from the start of the execution to the stop.
    """
    clock, made = Clock(seconds), []
    code = compile(source, str(script), "exec")
    namespace = {"__name__": "__main__", "__file__": str(script)}
    cwd = workdir / "run" / "script"  # two levels deep: the script's ../../data stays inside workdir
    cwd.mkdir(parents=True)
    stopped, error = "finished", None
    modules = stand_in_torchvision(data_dir, clock, made)
    with (open(stdout_log, "w") as out, open(stderr_log, "w") as err, installed(modules), script_context(script, cwd),
          contextlib.redirect_stdout(out), contextlib.redirect_stderr(err)):
        start = time.perf_counter()
        try:
            exec(code, namespace)
        except _BudgetSpent:
            stopped = "budget"
        except Exception as e:  # the peer's own failure: reported with its traceback, after the redirection
            stopped, error = f"error: {type(e).__name__}: {e}", traceback.format_exc()
            sys.stderr.write(error)  # into the script's stderr log as well
        end = time.perf_counter()
    return {"namespace": namespace, "clock": clock, "datasets": made, "stopped": stopped, "error": error,
            "start": start, "end": end}


def to_side(images, side: int = SIDE) -> np.ndarray:
    """(n, 1, h, w) images in [-1, 1] -> float32 (n, 1, side, side) in [-1, 1].

    Other sizes are resized per image with PIL bilinear (antialiased when shrinking, as PIL and torchvision
    do) on the [0, 1] scale as float ``'F'`` images, so without 8-bit quantisation, then clipped.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected single-channel images (n, 1, h, w), got shape {x.shape}")
    if x.shape[2:] != (side, side):
        out = np.empty((len(x), 1, side, side), dtype=np.float32)
        for i, img in enumerate(x[:, 0]):
            pic = Image.fromarray(np.ascontiguousarray((img + 1) / 2, dtype=np.float32))
            out[i, 0] = np.asarray(pic.resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32) * 2 - 1
        x = out
    return np.clip(x, -1.0, 1.0)


def draw_samples(generator: torch.nn.Module, latent_dim: int, batch_size: int, n: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples in eval mode (batches of 500) and in train mode (batches of ``batch_size``), no grad.

    Both use the same N(0, I) noise from a torch generator seeded with ``seed``. Train mode runs whole batches
    only (as the script does, and BatchNorm1d refuses a batch of one), keeping the first ``n``; its BatchNorm
    updates of the running statistics are undone and the module's mode is restored afterwards.
    """
    device = next(generator.parameters()).device
    rows = math.ceil(n / batch_size) * batch_size
    z = torch.randn(rows, latent_dim, generator=torch.Generator().manual_seed(seed))
    was_training, state = generator.training, copy.deepcopy(generator.state_dict())
    try:
        with torch.no_grad():
            generator.eval()
            evals = [generator(z[i:min(i + EVAL_BATCH, n)].to(device)).float().cpu() for i in range(0, n, EVAL_BATCH)]
            generator.train()
            trains = [generator(z[i:i + batch_size].to(device)).float().cpu() for i in range(0, rows, batch_size)]
    finally:
        generator.load_state_dict(state)
        generator.train(was_training)
    return to_side(torch.cat(evals).numpy()), to_side(torch.cat(trains)[:n].numpy())


def real_roundtrip(transform, data_dir: Path, n: int) -> np.ndarray:
    """The first ``n`` Fashion-MNIST test images through the script's own training ``transform`` and back
    to 28x28 in [-1, 1] (identity for a 28-pixel script, 28 -> 32 -> 28 for ``dcgan.py``)."""
    images, _ = load_split(data_dir, train=False)
    out = []
    for array in images[:n]:
        x = Image.fromarray(array, mode="L")
        x = transform(x) if transform is not None else ToTensor()(x)
        out.append(torch.as_tensor(x, dtype=torch.float32).numpy())
    return to_side(np.stack(out))


def generator_steps(optimizer: torch.optim.Optimizer, module: torch.nn.Module) -> int:
    """Adam's ``step`` count for the module's first parameter: the number of optimiser steps taken."""
    state = optimizer.state.get(next(module.parameters()), {})
    step = state.get("step", 0)
    return int(step.item() if torch.is_tensor(step) else step)


def batches_served(items: int, dataset_len: int, batch_size: int) -> int:
    """Whole batches the default DataLoader (no ``drop_last``) handed out for ``items`` items served.

    Every epoch holds ``ceil(len / batch_size)`` batches, the last one possibly short; the batch interrupted
    by the budget is not counted (its items never reached the training loop).
    """
    epochs, rest = divmod(items, dataset_len)
    return epochs * math.ceil(dataset_len / batch_size) + rest // batch_size


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _stats(x: np.ndarray) -> dict:
    return {"shape": list(x.shape), "min": float(x.min()), "max": float(x.max()), "mean": float(x.mean())}


def benchmark(script: Path, seconds: float, seed: int, out: Path, n: int, data_dir: Path,
              threads: int | None) -> dict:
    """Run ``script`` for ``seconds``, save its samples and ``info.json`` into ``out``; returns the info."""
    out.mkdir(parents=True, exist_ok=True)
    source = script.read_bytes()
    digest = _sha256(source)
    load_split(data_dir, train=True)  # fail early, before the script starts, if the data are not there
    load_split(data_dir, train=False)
    if threads is not None:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    workdir = Path(tempfile.mkdtemp(prefix="peer-", dir=out))
    stdout_log, stderr_log = out / "peer_stdout.log", out / "peer_stderr.log"
    try:
        run = run_script(script, source, seconds, data_dir, workdir, stdout_log, stderr_log)
        images = workdir / "run" / "script" / "images"
        if images.is_dir():
            shutil.rmtree(out / "peer_images", ignore_errors=True)
            shutil.copytree(images, out / "peer_images")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if run["error"] is not None:
        sys.stderr.write(run["error"])
        raise RuntimeError(f"{script} stopped with {run['stopped']} (its output: {stdout_log}, {stderr_log})")

    ns, clock = run["namespace"], run["clock"]
    missing = [name for name in ("generator", "optimizer_G", "opt") if name not in ns]
    if missing or not run["datasets"]:
        what = ", ".join(missing) if missing else "no datasets.MNIST"
        raise RuntimeError(f"{script}: the script's namespace lacks {what}; is it a PyTorch-GAN style script?")
    generator, opt = ns["generator"], ns["opt"]
    latent_dim, batch_size = int(opt.latent_dim), int(opt.batch_size)
    dataset = run["datasets"][0]

    samples_eval, samples_train = draw_samples(generator, latent_dim, batch_size, n, seed)
    real = real_roundtrip(dataset.transform, data_dir, min(n, N_TEST))
    np.save(out / "samples_eval.npy", samples_eval)
    np.save(out / "samples_train.npy", samples_train)
    np.save(out / "real_roundtrip.npy", real)

    training_end = clock.stopped if clock.stopped is not None else run["end"]
    training_seconds = training_end - clock.started if clock.started is not None else 0.0
    iterations = generator_steps(ns["optimizer_G"], generator)
    info = {
        "script": str(script),
        "script_sha256": digest,
        "script_unchanged": _sha256(script.read_bytes()) == digest,
        "seconds_budget": seconds,
        "stopped": run["stopped"],
        "training_seconds": round(training_seconds, 3),
        "total_seconds": round(run["end"] - run["start"], 3),
        "setup_seconds": round((clock.started or run["end"]) - run["start"], 3),
        "items_served": clock.items,
        "batches": batches_served(clock.items, len(dataset), batch_size),
        "generator_iterations": iterations,
        "generator_its_per_second": round(iterations / training_seconds, 3) if training_seconds > 0 else None,
        "discriminator_iterations": (generator_steps(ns["optimizer_D"], ns["discriminator"])
                                     if "optimizer_D" in ns and "discriminator" in ns else None),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "seed": seed,
        "latent_dim": latent_dim,
        "batch_size": batch_size,
        "img_size": int(getattr(opt, "img_size", SIDE)),
        "n": n,
        "n_real": len(real),  # the test split holds 10,000 images
        "data_dir": str(data_dir),
        "last_line": _last_line(stdout_log),
        "arrays": {"samples_eval.npy": _stats(samples_eval), "samples_train.npy": _stats(samples_train),
                   "real_roundtrip.npy": _stats(real)},
    }
    (out / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


# ---------------------------------------------------------------------------------------------------------
# Self-check of the stand-in against torchvision's documented behaviour
# ---------------------------------------------------------------------------------------------------------


def self_check(data_dir: Path | None = None) -> list[str]:
    """Check the stand-in transforms on small examples whose torchvision results are known; returns what was
    checked and raises ``AssertionError`` on the first disagreement.

    With ``data_dir`` holding Fashion-MNIST, also checks the stand-in ``MNIST`` against the raw IDX values.
    """
    done = []
    bilinear = Image.Resampling.BILINEAR
    # Resize(int) for a PIL image: PIL bilinear to (size, size) for a square image. Worked by hand, PIL's
    # bilinear with half-pixel centres takes the row [0, 255] to [0, 63.75, 191.25, 255] -> [0, 64, 191, 255].
    two = Image.fromarray(np.array([[0, 255], [0, 255]], dtype=np.uint8), mode="L")
    got = np.asarray(Resize(4)(two))
    assert got.shape == (4, 4) and (got == [0, 64, 191, 255]).all(), got
    done.append("Resize(4) of a 2x2 'L' image: 4x4, rows [0, 64, 191, 255] (PIL bilinear, half-pixel centres)")
    square = Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8), mode="L")
    assert np.array_equal(np.asarray(Resize(32)(square)), np.asarray(square.resize((32, 32), bilinear)))
    assert Resize(28)(square) is square
    done.append("Resize(32) of 28x28 = PIL resize((32, 32), BILINEAR); Resize(28) of 28x28 returns the image")
    wide = Image.new("L", (30, 10))  # width 30, height 10: the smaller edge (height) becomes the size
    assert Resize(5)(wide).size == (15, 5) and Resize(5)(Image.new("L", (10, 31))).size == (5, 15)
    assert Resize((7, 9))(wide).size == (9, 7)
    done.append("Resize(5): 30x10 -> 15x5, 10x31 -> 5x15 (longer edge rounded down); Resize((7, 9)) -> 9x7")
    t = ToTensor()(Image.fromarray(np.array([[0, 255], [51, 102]], dtype=np.uint8), mode="L"))
    assert t.dtype == torch.float32 and t.shape == (1, 2, 2)
    assert torch.allclose(t, torch.tensor([[[0.0, 1.0], [0.2, 0.4]]]))
    done.append("ToTensor of 'L' [[0, 255], [51, 102]]: float32 (1, 2, 2) [[0, 1], [0.2, 0.4]]")
    x = torch.tensor([[[0.0, 0.5, 1.0]]])
    y = Normalize([0.5], [0.5])(x)
    assert torch.allclose(y, torch.tensor([[[-1.0, 0.0, 1.0]]])) and torch.equal(x, torch.tensor([[[0.0, 0.5, 1.0]]]))
    done.append("Normalize([0.5], [0.5]): 0, 0.5, 1 -> -1, 0, 1, input left as it was")
    pipeline = Compose([Resize(32), ToTensor(), Normalize([0.5], [0.5])])
    expected = torch.from_numpy(np.asarray(square.resize((32, 32), bilinear), dtype=np.float32) / 255)[None] * 2 - 1
    assert torch.allclose(pipeline(square), expected)
    done.append("Compose([Resize(32), ToTensor(), Normalize]) of 28x28: (1, 32, 32) = (PIL bilinear / 255) * 2 - 1")
    ramp = np.add.outer(np.arange(28), np.arange(28)).astype(np.uint8) * 4  # smooth: 0 .. 216
    back = to_side(pipeline(Image.fromarray(ramp, mode="L"))[None].numpy())
    assert back.shape == (1, 1, SIDE, SIDE) and back.dtype == np.float32 and -1 <= back.min() <= back.max() <= 1
    error = np.abs(back[0, 0] - (ramp / 127.5 - 1))[2:-2, 2:-2].max()
    assert error < 0.02, error
    done.append(f"to_side: a smooth ramp 28 -> 32 -> 28 comes back within {error:.4f} away from the border")
    with tempfile.TemporaryDirectory() as tmp:
        save_image(torch.rand(25, 1, 32, 32) * 2 - 1, Path(tmp) / "grid.png", nrow=5, normalize=True)
        with Image.open(Path(tmp) / "grid.png") as png:
            assert png.size == (5 * 34 + 2, 5 * 34 + 2), png.size
    done.append("save_image of 25 32x32 images, nrow=5: a 172x172 PNG")
    if data_dir is not None and (Path(data_dir) / "train-images-idx3-ubyte.gz").is_file():
        clock = Clock(float("inf"))
        MNIST = stand_in_torchvision(data_dir, clock, [])["torchvision.datasets"].MNIST
        ds = MNIST("unused", train=True, download=True, transform=Compose([ToTensor()]))
        raw = read_idx(Path(data_dir) / "train-images-idx3-ubyte.gz")
        img, label = ds[7]
        assert len(ds) == 60_000 and isinstance(label, int) and img.shape == (1, 28, 28)
        assert torch.equal(img, torch.from_numpy(raw[7].astype(np.float32) / 255)[None]) and clock.items == 1
        done.append("datasets.MNIST: 60,000 items, (ToTensor of the IDX image, int label), clock ticked")
    else:
        done.append(f"datasets.MNIST not checked: no Fashion-MNIST files in {data_dir}")
    return done


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Errors on one line, naming the flag, with a pointer to ``--help``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(kind):
    """An argparse type: a positive (finite) ``kind``; argparse names the flag in the error."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value > 0 or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r}: must be positive" + (" and finite" if kind is float else ""))
        return value
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _Parser(prog=PROG, description="Run a public peer GAN script (e.g. PyTorch-GAN's dcgan.py or wgan_gp.py) "
                "unmodified for a wall-clock budget on Fashion-MNIST and save samples of its generator for "
                "gankit's metrics.")
    p.add_argument("script", nargs="?", metavar="SCRIPT", help="the peer's training script, run as it is")
    p.add_argument("--seconds", type=_positive(float), default=600.0,
                   help="wall-clock training budget, counted from the first training item (default 600)")
    p.add_argument("--seed", type=int, default=0, help="seeds torch, numpy and random, and the sampling noise")
    p.add_argument("--out", metavar="DIR", help="output folder (created; the script's files stay inside it)")
    p.add_argument("--n", type=_positive(int), default=5000, help="samples to draw (default 5000)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                   help=f"folder of Fashion-MNIST's *-ubyte.gz files (default {DEFAULT_DATA_DIR})")
    p.add_argument("--threads", type=_positive(int), default=None,
                   help="torch CPU threads (default: torch's own)")
    p.add_argument("--self-check", action="store_true",
                   help="check the stand-in torchvision transforms on known examples and exit")
    args = p.parse_args(argv)
    if args.self_check:
        return args
    if args.script is None:
        p.error("SCRIPT is required (the peer's .py file)")
    script = Path(args.script)
    if not script.is_file():
        p.error(f"SCRIPT {args.script}: no such file")
    if args.out is None:
        p.error("--out DIR is required")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        p.error(f"--out {args.out}: exists and is not a folder")
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        p.error(f"--data-dir {args.data_dir}: no such folder")
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            try:
                _idx_path(data_dir, f"{split}-{kind}-ubyte")
            except FileNotFoundError as e:
                p.error(str(e))
    args.script, args.out, args.data_dir = script.resolve(), Path(args.out), data_dir
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_check:
        for line in self_check(Path(args.data_dir)):
            print(f"ok  {line}")
        return 0
    try:
        info = benchmark(args.script, args.seconds, args.seed, args.out, args.n, args.data_dir, args.threads)
    except (RuntimeError, ValueError, FileNotFoundError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    print(f"{args.script.name}: {info['generator_iterations']} generator iterations, {info['batches']} batches in "
          f"{info['training_seconds']:.1f} s ({info['generator_its_per_second']} it/s); samples in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
