r"""Domain classifiers: the feature space for image metrics when Inception is out of reach.

FID, KID and precision / recall are defined on the features of a fixed network
(Inception-v3 in the published numbers, Heusel et al. 2017). Its weights cannot
be downloaded on every machine, and Inception features of 28x28 grey images are
of doubtful meaning anyway, so gankit trains a *domain classifier*: a small CNN
fitted to the data set's own labels. Its penultimate layer (128 ReLU units)
gives the features, its softmax the class of a generated image (class coverage,
the Stacked MNIST mode count).

A trained classifier is cached under :func:`cache_dir` in a file named after
its data set and a hash of its training tensors and labels, so it is trained
once per data set and retrained automatically when the data change. Numbers
computed with different classifiers are not comparable; ``eval.json`` records
the classifier's file, data hash and test accuracy.

Command line::

    gankit classifier train --data fashion-mnist   # ~91% test accuracy
    gankit classifier train --data digits          # 8x8 scikit-learn digits
    gankit classifier list

References:
    Heusel, M. et al. (2017). GANs trained by a two time-scale update rule
    converge to a local Nash equilibrium. NeurIPS.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import load_checkpoint, save_checkpoint
from .data import load_dataset
from .models import eval_mode, seeded
from .progress import Progress

log = logging.getLogger(__name__)

#: Bumped whenever the architecture or the file layout changes; part of the cache key.
FORMAT = 1
#: Data sets a domain classifier can be trained on.
CLASSIFIER_DATA = ("fashion-mnist", "digits")
#: The classifier that reads each data set (stacked sets: one channel at a time).
CLASSIFIER_FOR = {
    "fashion-mnist": "fashion-mnist",
    "stacked-fashion-mnist": "fashion-mnist",
    "digits": "digits",
    "stacked-digits": "digits",
}
#: Training budget per data set: epochs, minibatch size, peak learning rate.
BUDGETS = {
    "fashion-mnist": {"epochs": 6, "batch_size": 128, "lr": 3e-3, "width": 16},
    "digits": {"epochs": 40, "batch_size": 64, "lr": 3e-3, "width": 32},
}
_DEFAULT_BUDGET = {"epochs": 10, "batch_size": 128, "lr": 3e-3, "width": 32}
# The digits have no official test split: a fixed seeded 80 / 20 split.
_DIGITS_TEST_FRACTION = 0.2


def cache_dir() -> Path:
    """Where classifiers are cached: ``$GANKIT_CACHE``, else ``$XDG_CACHE_HOME/gankit``, else ``~/.cache/gankit``."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gankit"


# --------------------------------------------------------------------------- the network


class DomainClassifier(nn.Module):
    """A small CNN returning ``(logits, features)``.

    Two convolutions with ReLU (kernel 5 and stride 2 each for sides >= 16,
    which keeps it cheap on a CPU; kernel 3, strides 1 then 2 for small images
    such as the 8x8 digits), then a hidden layer of ``feature_dim`` ReLU units
    (the features) and a linear layer to the class logits.

    Args:
        input_shape: ``(C, H, W)`` of one image, in the model's range [-1, 1].
        n_classes: number of classes.
        width: channels of the first convolution (doubled in the second).
        feature_dim: size of the feature vector.
    """

    def __init__(self, input_shape: tuple[int, ...] = (1, 28, 28), n_classes: int = 10, width: int = 32,
                 feature_dim: int = 128):
        super().__init__()
        if len(input_shape) != 3 or min(input_shape) < 1 or input_shape[1] < 4 or input_shape[2] < 4:
            raise ValueError(f"input_shape must be (C, H, W) with H, W >= 4; got {tuple(input_shape)}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2; got {n_classes}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_classes, self.width, self.feature_dim = int(n_classes), int(width), int(feature_dim)
        c, h, w = self.input_shape
        k, s1, pad = (5, 2, 2) if min(h, w) >= 16 else (3, 1, 1)
        self.conv = nn.Sequential(
            nn.Conv2d(c, width, k, s1, pad), nn.ReLU(),
            nn.Conv2d(width, 2 * width, k, 2, pad), nn.ReLU(),
            nn.Flatten(),
        )

        def side(n: int) -> int:
            n = (n + 2 * pad - k) // s1 + 1
            return (n + 2 * pad - k) // 2 + 1

        self.hidden = nn.Sequential(nn.Linear(2 * width * side(h) * side(w), feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, n_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"the classifier takes images of shape {self.input_shape}; "
                             f"got a batch of shape {tuple(x.shape)}")
        features = self.hidden(self.conv(x))  # (B, feature_dim)
        return self.head(features), features  # (B, n_classes), (B, feature_dim)

    def spec(self) -> dict[str, Any]:
        """The constructor arguments, to rebuild the network from a file."""
        return {"input_shape": list(self.input_shape), "n_classes": self.n_classes,
                "width": self.width, "feature_dim": self.feature_dim}


# --------------------------------------------------------------------------- data


class ClassifierData(NamedTuple):
    """Labelled images for a domain classifier, in the model's range [-1, 1]."""

    name: str
    x_train: Tensor  # (N, C, H, W) float32
    y_train: Tensor  # (N,) int64
    x_test: Tensor  # (M, C, H, W)
    y_test: Tensor  # (M,)
    classes: tuple[str, ...]


def classifier_data(name: str, data_dir: str | None = None) -> ClassifierData:
    """Training and test images of a named data set.

    Fashion-MNIST: its official 60,000 / 10,000 split. Digits (scikit-learn's
    1,797 8x8 images): a fixed seeded 80 / 20 split (1,438 / 359).

    Raises:
        ValueError: for a name not in :data:`CLASSIFIER_DATA`.
        FileNotFoundError: when Fashion-MNIST is not installed.
    """
    if name == "fashion-mnist":
        train = load_dataset(name, data_dir=data_dir, options={"split": "train"})
        test = load_dataset(name, data_dir=data_dir, options={"split": "test"})
        return ClassifierData(name, train.x, train.labels, test.x, test.labels, tuple(train.classes))
    if name == "digits":
        data = load_dataset(name)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
        n_test = int(round(_DIGITS_TEST_FRACTION * len(data)))
        tr, te = order[n_test:], order[:n_test]
        return ClassifierData(name, data.x[tr], data.labels[tr], data.x[te], data.labels[te], tuple(data.classes))
    raise ValueError(f"no domain classifier for data {name!r}; choose from {list(CLASSIFIER_DATA)} "
                     "(or pass any torch.nn.Module as the feature extractor)")


def data_hash(x: Tensor, labels: Tensor) -> str:
    """SHA-256 of training images and labels (their shapes, dtypes and bytes), as hex."""
    h = hashlib.sha256()
    for t in (x, labels):
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- training


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` whose arg-max logit is its label ``y``."""
    if len(x) == 0:
        raise ValueError("accuracy needs at least one image; got an empty set")
    device = next(model.parameters()).device
    correct = 0
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            logits, _ = model(x[start:start + batch_size].to(device))
            correct += int((logits.argmax(1).cpu() == y[start:start + batch_size]).sum())
    return correct / len(x)


def train_classifier(
    data: ClassifierData,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    width: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[DomainClassifier, dict[str, Any]]:
    r"""Fit a :class:`DomainClassifier` by minimising the cross-entropy with Adam.

    .. math::
        \min_\theta \; -\frac{1}{N} \sum_{i=1}^N \log \operatorname{softmax}(f_\theta(x_i))_{y_i}

    with a one-cycle learning-rate schedule (Smith & Topin 2019) peaking at
    ``lr``; initialisation and minibatch order come from ``seed``.

    Args:
        data: training and test images (see :func:`classifier_data`).
        epochs, batch_size, lr, width: the budget and the network's width (None:
            :data:`BUDGETS` for the data set).
        seed: seeds the initialisation and the minibatch order.
        device: where to train.
        progress: show a progress bar.

    Returns:
        The trained network (eval mode, on ``device``) and an info dict with
        ``test_accuracy``, ``train_accuracy``, ``train_seconds`` (wall time),
        ``train_cpu_seconds`` (CPU time of the process, all threads), the budget,
        ``data``, ``data_hash``, ``classes`` and ``n_train``.

    References:
        Smith, L. N. and Topin, N. (2019). Super-convergence: very fast training
        of neural networks using large learning rates. SPIE 11006.
    """
    budget = {**BUDGETS.get(data.name, _DEFAULT_BUDGET)}
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr), ("width", width)):
        if value is not None:
            budget[key] = value
    if min(budget["epochs"], budget["batch_size"], budget["width"]) < 1 or not budget["lr"] > 0:
        raise ValueError(f"epochs, batch_size and width must be >= 1 and lr > 0; got {budget}")
    if len(data.x_train) != len(data.y_train) or len(data.x_train) < 2:
        raise ValueError(f"{data.name}: need matching images and labels (>= 2); got {len(data.x_train)} "
                         f"images and {len(data.y_train)} labels")
    n_classes = max(len(data.classes), int(data.y_train.max()) + 1)
    device = torch.device(device)
    with seeded(seed):  # seeded init without touching the global state
        model = DomainClassifier(tuple(data.x_train.shape[1:]), n_classes, budget["width"]).to(device)
    g = torch.Generator().manual_seed(seed)
    x, y = data.x_train, data.y_train
    n, B = len(x), budget["batch_size"]
    steps_per_epoch = math.ceil(n / B)
    opt = torch.optim.Adam(model.parameters(), lr=budget["lr"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, budget["lr"], total_steps=budget["epochs"] * steps_per_epoch)
    bar = Progress(budget["epochs"] * steps_per_epoch, enabled=progress, unit="step",
                   desc=f"classifier on {data.name}")
    tic, cpu = time.perf_counter(), time.process_time()
    model.train()
    try:
        for _ in range(budget["epochs"]):
            order = torch.randperm(n, generator=g)
            for start in range(0, n, B):
                idx = order[start:start + B]
                logits, _ = model(x[idx].to(device))
                loss = F.cross_entropy(logits, y[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                bar.update(1)
            bar.report(f"loss={float(loss.detach()):.3f}")  # an epoch
    finally:
        bar.close()
    seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
    model.eval()
    info = {
        "data": data.name,
        "data_hash": data_hash(data.x_train, data.y_train),
        "classes": list(data.classes),
        "n_train": n,
        "n_test": len(data.x_test),
        "train_accuracy": accuracy(model, x, y),
        "test_accuracy": accuracy(model, data.x_test, data.y_test) if len(data.x_test) else float("nan"),
        "train_seconds": seconds,
        "train_cpu_seconds": cpu,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "seed": seed,
        **budget,
    }
    log.info("classifier on %s: test accuracy %.4f after %.1f s", data.name, info["test_accuracy"], seconds)
    return model, info


# --------------------------------------------------------------------------- the cache


def cache_path(name: str, digest: str) -> Path:
    """The cache file of a classifier trained on data ``name`` with data hash ``digest``."""
    return cache_dir() / f"classifier-{name}-v{FORMAT}-{digest[:16]}.pt"


def save_classifier(model: DomainClassifier, info: dict[str, Any], path: str | Path) -> Path:
    """Write weights, architecture and info atomically (loadable with ``weights_only=True``)."""
    state = {"format": FORMAT, "spec": model.spec(), "state_dict": model.state_dict(), "info": info}
    return save_checkpoint(state, path)


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> tuple[DomainClassifier, dict[str, Any]]:
    """Read a classifier file written by :func:`save_classifier` (safe ``torch.load(weights_only=True)``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a classifier file, or one of another format version.
    """
    state = load_checkpoint(path)  # weights_only=True
    if not isinstance(state, dict) or state.get("format") != FORMAT or "spec" not in state:
        raise ValueError(f"{path}: not a gankit domain classifier of format {FORMAT}; retrain it with "
                         "`gankit classifier train --force`")
    spec = state["spec"]
    model = DomainClassifier(tuple(spec["input_shape"]), spec["n_classes"], spec["width"], spec["feature_dim"])
    model.load_state_dict(state["state_dict"])
    info = {**state["info"], "path": str(path)}
    return model.to(device).eval(), info


def get_classifier(
    data: str | ClassifierData = "fashion-mnist",
    *,
    data_dir: str | None = None,
    train: bool = True,
    force: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
    **budget: Any,
) -> tuple[DomainClassifier, dict[str, Any]]:
    """The cached domain classifier of a data set, trained first when missing.

    The cache key is the data set's name and the hash of its training images
    and labels (:func:`data_hash`): the same data reuse the file, changed data
    train a new one. The budget matters only when training: a cached
    classifier is reused whatever budget is asked (``force=True`` retrains).

    Args:
        data: a name from :data:`CLASSIFIER_DATA`, a stacked variant of one
            (:data:`CLASSIFIER_FOR`), or explicit :class:`ClassifierData`.
        data_dir: where Fashion-MNIST lives (default: its system location).
        train: train when no cached file exists (else raise FileNotFoundError).
        force: retrain even when a cached file exists.
        device: where to train and put the network.
        progress: progress bar while training.
        budget: ``epochs``, ``batch_size``, ``lr``, ``width``, ``seed`` for :func:`train_classifier`.

    Returns:
        ``(model, info)``; ``info["cached"]`` says whether the file was reused,
        ``info["path"]`` where it lives.
    """
    if isinstance(data, str):
        data = classifier_data(CLASSIFIER_FOR.get(data, data), data_dir)
    digest = data_hash(data.x_train, data.y_train)
    path = cache_path(data.name, digest)
    if path.exists() and not force:
        try:
            model, info = load_classifier(path, device)
        except ValueError as e:
            log.warning("ignoring an unreadable cached classifier: %s", e)
        else:
            if info.get("data_hash") == digest and model.input_shape == tuple(data.x_train.shape[1:]):
                log.info("using the cached classifier %s (test accuracy %.4f)", path, info["test_accuracy"])
                return model, {**info, "cached": True}
            log.warning("%s does not match its data; retraining", path)
    if not train:
        raise FileNotFoundError(f"no cached classifier for {data.name!r} in {cache_dir()} (expected {path.name}); "
                                f"train one with `gankit classifier train --data {data.name}`")
    model, info = train_classifier(data, device=device, progress=progress, **budget)
    save_classifier(model, info, path)
    return model, {**info, "path": str(path), "cached": False}


def list_classifiers() -> list[dict[str, Any]]:
    """Info of every classifier file in :func:`cache_dir` (unreadable files are skipped)."""
    out = []
    for path in sorted(cache_dir().glob("classifier-*.pt")):
        try:
            out.append(load_classifier(path)[1])
        except ValueError as e:
            log.warning("skipping %s", e)
    return out


# --------------------------------------------------------------------------- command line


__all__ = [
    "BUDGETS",
    "CLASSIFIER_DATA",
    "CLASSIFIER_FOR",
    "ClassifierData",
    "DomainClassifier",
    "accuracy",
    "cache_dir",
    "cache_path",
    "classifier_data",
    "data_hash",
    "get_classifier",
    "list_classifiers",
    "load_classifier",
    "save_classifier",
    "train_classifier",
]
