"""Data sets by name or by path, as tensors in the model's range.

``load_dataset("ring")``, ``load_dataset("fashion-mnist")`` or
``load_dataset("my_images/")`` all return a :class:`Dataset`: the training
tensor scaled to the range the models work in, plus the :class:`Scaler` that
maps model outputs back into the data's own units.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import files, toy
from .formats import FASHION_MNIST_DIR, FILE_FORMATS, FILE_OPTIONS

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


@dataclass(frozen=True)
class Scaler:
    """Per-feature affine map between data units and the model's range.

    .. math::
        x_{model} = (x_{data} - loc) / scale

    ``loc`` and ``scale`` are scalars or have one entry per feature (the last
    axis for points, the channel axis for images).
    """

    loc: tuple[float, ...] = (0.0,)
    scale: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:  # plain floats: checkpoints hold no numpy scalars
        object.__setattr__(self, "loc", tuple(float(v) for v in self.loc))
        object.__setattr__(self, "scale", tuple(float(v) for v in self.scale))

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shape = (-1,) if x.ndim <= 2 else (-1,) + (1,) * (x.ndim - 2)  # channel axis for images
        loc = torch.tensor(self.loc, dtype=x.dtype, device=x.device).reshape(shape)
        scale = torch.tensor(self.scale, dtype=x.dtype, device=x.device).reshape(shape)
        return loc, scale

    def to_model(self, x: Tensor) -> Tensor:
        loc, scale = self._params(x)
        return (x - loc) / scale

    def to_data(self, x: Tensor) -> Tensor:
        loc, scale = self._params(x)
        return x * scale + loc


@dataclass(frozen=True)
class Dataset:
    """A training set in the model's range.

    Attributes:
        name: the name or path it was loaded from.
        x: samples, float32, shape ``(N, d)`` for points or ``(N, C, H, W)``
            for images, already mapped by ``scaler.to_model``.
        kind: ``"points"`` or ``"image"``.
        scaler: maps model outputs back to data units.
        labels: integer class labels, shape ``(N,)`` (``(N, 3)``: one class per channel for the
            stacked sets), where the data has them.
        mixture: the generating Gaussian mixture (data units) where known.
        classes: class names where known.
        columns: the column names of points read from a CSV file with a header.
    """

    name: str
    x: Tensor
    kind: str
    scaler: Scaler = field(default_factory=Scaler)
    labels: Tensor | None = None
    mixture: toy.Mixture | None = None
    classes: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    stream: Any = None  # a gankit.data.streaming.Stream when the set is read from disk as it is drawn

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    @property
    def rows(self) -> int:
        """Samples in the whole set: ``len(self)``, or the file's for a streamed set (``x`` its preview)."""
        return len(self.x) if self.stream is None else len(self.stream)

    @property
    def all_labels(self) -> Tensor | None:
        """The class of every sample of the whole set (a streamed set's ``labels`` are its preview's)."""
        if self.stream is None or self.stream.labels is None:
            return self.labels
        return torch.as_tensor(self.stream.labels)

    def rows_at(self, idx: np.ndarray) -> Tensor:
        """Samples ``idx`` of the whole set, in the model's range (read from disk for a streamed set)."""
        if self.stream is None:
            return self.x.index_select(0, torch.as_tensor(idx))
        return self.stream.batch(idx)


def _real(name: str, a: np.ndarray) -> np.ndarray:
    """``a`` if it holds real numbers (booleans, integers or floats); else a ``ValueError`` naming the data."""
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: holds values of type {a.dtype} ({a.dtype.kind!r}); expected real numbers")
    return a


#: Rounding a file's -1..1 or 0..1 images may leave them this far outside; more is another range.
RANGE_SLACK = 1e-3


def _images(name: str, arr: np.ndarray, labels=None, classes=None, peak=None) -> Dataset:
    """Images as ``(N, C, H, W)`` mapped from their range to [-1, 1].

    The range is [0, ``peak``] when given; without it, uint8 data or values above
    1.5 are taken as 0..255, values in [-1, 1] with a negative one as -1..1 (what
    ``gankit sample`` writes for such data), other non-negative ones as 0..1;
    anything else is refused, naming the range found.
    """
    a = as_nchw(name, _real(name, np.asarray(arr)))
    if len(a) < 1:
        raise ValueError(f"{name}: no images (shape {a.shape})")
    check_image_values(name, a)
    scaler = image_scaler(name, float(a.min()), float(a.max()), a.dtype) if peak is None else peak_scaler(peak)
    x = scaler.to_model(torch.as_tensor(a, dtype=torch.float32))
    y = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return Dataset(name, x, "image", scaler, y, classes=classes)


def as_nchw(name: str, a: np.ndarray) -> np.ndarray:
    """Images ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` (an alpha channel dropped) as
    ``(N, C, H, W)`` with C in 1, 3 (a view where it can be), or a ``ValueError`` naming the data."""
    if a.ndim == 3:
        a = a[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[-1] in (1, 3, 4):
        a = a[..., :3].transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"{name}: images must be (N,H,W), (N,C,H,W) or (N,H,W,C) with C in 1, 3")
    return a


def check_image_values(name: str, a: np.ndarray, first: int = 0) -> None:
    """Refuse NaN, infinite and beyond-float32 values of images ``(n, C, H, W)`` (image ``first`` onwards
    of the data), naming the first such pixel."""
    if a.dtype.kind != "f":
        return
    for bad, why in ((~np.isfinite(a), "contains NaN or infinite values"),
                     (np.abs(a) > files.FLOAT32_MAX, "holds a value beyond float32's range "
                                                     f"(|x| <= {files.FLOAT32_MAX:.3g}), in which gankit trains")):
        if bad.any():
            i, c, h, w = np.argwhere(bad)[0]
            raise ValueError(f"{name}: {why} (image {first + i}, channel {c}, pixel ({h}, {w}): {a[i, c, h, w]:g})")


def peak_scaler(peak: float) -> Scaler:
    """The map of images in [0, ``peak``] to [-1, 1]."""
    return Scaler((peak / 2,), (peak / 2,))


def image_scaler(name: str, lo: float, hi: float, dtype: np.dtype) -> Scaler:
    """The map to [-1, 1] of images whose values run from ``lo`` to ``hi``: uint8 data or values above 1.5
    are 0..255, values in [-1, 1] with a negative one are -1..1 (what ``gankit sample`` writes for such
    data), other non-negative ones 0..1; anything else is refused, naming the range found."""
    if lo < 0 and hi <= 1.0 + RANGE_SLACK and lo >= -1.0 - RANGE_SLACK:  # already in the model's range
        return Scaler((0.0,), (1.0,))
    if lo < 0:
        raise ValueError(f"{name}: image values run from {lo:g} to {hi:g}; images are read as 0..1, 0..255 "
                         "or -1..1: rescale them to one of these")
    return peak_scaler(255.0 if dtype == np.uint8 or hi > 1.5 else 1.0)


def _class_names(labels: np.ndarray | None) -> tuple[str, ...] | None:
    """Names of classes 0..max(labels): their numbers (a file's labels carry no names)."""
    return None if labels is None or not len(labels) else tuple(str(i) for i in range(int(labels.max()) + 1))


def _standardised_points(name: str, arr: np.ndarray, standardise: bool = True, *,
                         mixture: toy.Mixture | None = None, columns: list[str] | None = None,
                         labels: np.ndarray | None = None) -> Dataset:
    """Rows as points in the model's units: each column standardised to mean 0 and std 1.

    Every recipe's defaults (learning rates, penalty weights, widths) are tuned
    in these units, so they work whatever the data's scale. A known mixture
    sets the scaler from its exact moments (the same for every draw, so a
    held-out draw lands in the same units); other data use the sample's.
    ``standardise=False`` keeps the data's own units.
    """
    a = _real(name, np.asarray(arr)).astype(np.float64, copy=False)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or len(a) < 2:
        raise ValueError(f"{name}: points must be an (N, d) array with N >= 2; got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinite values (row {np.argwhere(~np.isfinite(a))[0, 0]})")

    def column(j: int) -> str:
        return f"column {j}" + (f" ({columns[j]!r})" if columns and len(columns) == a.shape[1] else "")

    huge = np.abs(a) > files.FLOAT32_MAX
    if huge.any():
        i, j = np.argwhere(huge)[0]
        raise ValueError(f"{name}: row {i}, {column(j)}: {a[i, j]:g} {files.BEYOND_FLOAT32}")
    if not standardise:
        scaler = Scaler()
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            loc, sd = mixture.moments() if mixture is not None else (a.mean(axis=0), a.std(axis=0))
        bad = ~(np.isfinite(loc) & np.isfinite(sd) & (np.abs(sd) <= files.FLOAT32_MAX))
        if bad.any():
            j = int(np.argmax(bad))
            raise ValueError(f"{name}: {column(j)}: its mean or standard deviation overflows float32 (mean "
                             f"{loc[j]:g}, std {sd[j]:g}); rescale this column (e.g. to other units)")
        scaler = Scaler(tuple(loc), tuple(np.where(sd > 0, sd, 1.0)))
    x = scaler.to_model(torch.as_tensor(a, dtype=torch.float32))
    if not bool(torch.isfinite(x).all()):  # x - mean overflows float32: a column spread wider than its range
        i, j = (int(v) for v in torch.nonzero(~torch.isfinite(x))[0])
        raise ValueError(f"{name}: row {i}, {column(j)}: {a[i, j]:g} lies too far from the column's mean "
                         f"({scaler.loc[j]:g}) for float32 (the difference overflows); rescale this column")
    y = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    return Dataset(name, x, "points", scaler, labels=y, mixture=mixture, classes=_class_names(labels),
                   columns=tuple(columns) if columns and len(columns) == a.shape[1] else None)


# --------------------------------------------------------------------------- what the named sets are made of
# (the sets themselves, with their options, are in :mod:`gankit.data.named`)


def mixture_set(name: str, mixture: toy.Mixture, n: int, seed: int) -> Dataset:
    """``n`` points drawn from ``mixture`` (seeded), standardised by the mixture's exact moments."""
    g = torch.Generator().manual_seed(seed)
    return _standardised_points(name, mixture.sample(n, g).numpy(), mixture=mixture)


def points_set(name: str, draw: Callable[..., Tensor], n: int, seed: int, *args: Any) -> Dataset:
    """``draw(n, generator, *args)`` points (seeded), standardised by the sample's moments."""
    return _standardised_points(name, draw(n, torch.Generator().manual_seed(seed), *args).numpy())


def _idx_pair(directory: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (directory / name).exists():
            return directory / name
    raise FileNotFoundError(directory / f"{stem}.gz")


def fashion_mnist(data_dir: str | Path, split: str = "train") -> Dataset:
    """Fashion-MNIST from the IDX files in ``data_dir`` (split train, test or all)."""
    directory = Path(data_dir)
    splits = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}
    if split not in splits:
        raise ValueError(f"split must be one of {sorted(splits)}; got {split!r}")
    try:
        parts = [
            (files.read_idx(_idx_pair(directory, f"{s}-images-idx3-ubyte")),
             files.read_idx(_idx_pair(directory, f"{s}-labels-idx1-ubyte")))
            for s in splits[split]
        ]
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"Fashion-MNIST not found: {e.args[0]} is missing. Install it with "
            "`apt-get install dataset-fashion-mnist` (files go to "
            f"{FASHION_MNIST_DIR}) or pass --data-dir DIR holding the IDX files."
        ) from None
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} images but {len(labels)} labels")
    return _images("fashion-mnist", images, labels, FASHION_MNIST_CLASSES)


def digits() -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, values 0..16), with labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _images("digits", d.images, d.target, tuple(str(i) for i in range(10)), peak=16.0)


def stacked(name: str, base: Dataset, n: int, seed: int) -> Dataset:
    """Three independent random images of ``base`` as the channels of one image.

    Image ``i`` stacks ``base.x[idx[i, 0]]``, ``base.x[idx[i, 1]]`` and
    ``base.x[idx[i, 2]]`` with ``idx`` uniform over the base set (seeded), so a
    stacked image has one of ``C^3`` label triples (modes), 1000 for ten classes.
    """
    if n < 1:
        raise ValueError(f"{name}: option n must be >= 1; got {n}")
    if base.labels is None or base.x.shape[1] != 1:
        raise ValueError(f"{name}: the base set must be labelled single-channel images")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(base), (n, 3), generator=g)  # (n, 3)
    x = base.x[:, 0][idx]  # (N, H, W)[(n, 3)] -> (n, 3, H, W)
    labels = base.labels[idx]  # (n, 3): the class of each channel
    return Dataset(name, x, "image", base.scaler, labels, classes=base.classes)


def _kind(default: Any) -> str:
    return ("true or false" if isinstance(default, bool) else "an integer" if isinstance(default, int) else
            "a number" if isinstance(default, float) else "numbers separated by commas"
            if isinstance(default, tuple) else "text")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert a textual option (from the command line) to its default's type; refuse other types."""
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"option {key}={value!r}: expected text like {default!r}")
        return value
    if not isinstance(value, str):
        fits = (isinstance(value, bool) if isinstance(default, bool) else
                isinstance(value, numbers.Integral) and not isinstance(value, bool) if isinstance(default, int) else
                isinstance(value, numbers.Real) and not isinstance(value, bool) if isinstance(default, float) else
                isinstance(value, (list, tuple)) if isinstance(default, tuple) else True)
        if not fits:
            raise ValueError(f"option {key}={value!r}: expected {_kind(default)} like {default!r}")
        return tuple(value) if isinstance(default, tuple) else value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return tuple(float(v) for v in value.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise ValueError(f"option {key}={value!r}: expected {_kind(default)} like {default!r}") from None
    return value


def check_options(what: str, allowed: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Refuse unknown options (listing the valid ones) and coerce textual values."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        listed = ", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "none"
        raise ValueError(f"unknown option(s) {unknown} for {what}; its options: {listed}")
    return {k: _coerce(k, v, allowed[k]) for k, v in options.items()}


def _whole(options: dict[str, Any]) -> dict[str, Any]:
    """A file's options without the streaming ones."""
    return {k: v for k, v in options.items() if k not in ("stream", "workers")}


def load_path(path: Path, options: dict[str, Any]) -> Dataset:
    """A data file or image folder (its own options checked), by its suffix, loaded whole.

    The ``stream`` and ``workers`` options are :mod:`gankit.data.streaming`'s (``load_dataset`` asks it
    first); here they are checked and left aside.
    """
    name = str(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if path.is_dir():
        options = _whole(check_options(f"folder {name}", FILE_OPTIONS["folder"], options))
        images, labels, classes = files.read_image_folder(path, **options, with_labels=True)
        return _images(name, images, labels, classes)
    if suffix == ".npy":
        options = _whole(check_options(name, FILE_OPTIONS[".npy"], options))
        arr = files.read_array(path)
        if arr.ndim >= 3:
            return _images(name, arr)
        return _standardised_points(name, arr, options.get("standardise", True))
    if suffix == ".npz":
        options = check_options(name, FILE_OPTIONS[".npz"], options)
        arr, mixture = files.read_array(path, options.get("key") or None), None
        if not options.get("key"):
            mixture = _mixture_of_file(path, arr)
        labels = files.read_labels(path, len(arr), options.get("label", ""))
        if arr.ndim >= 3:
            return _images(name, arr, labels, _class_names(labels))
        return _standardised_points(name, arr, options.get("standardise", True), mixture=mixture, labels=labels)
    if suffix == ".csv":
        options = check_options(name, FILE_OPTIONS[".csv"], options)
        values, header, labels = files.read_csv(path, options.get("label", ""))
        return _standardised_points(name, values, options.get("standardise", True), columns=header, labels=labels)
    if "idx" in path.name or suffix.endswith(".gz") or suffix in (".idx", ""):
        check_options(name, {}, options)
        arr = files.read_idx(path)
        return _images(name, arr) if arr.ndim >= 3 else _standardised_points(name, arr)
    raise ValueError(f"{path}: unknown file type {suffix!r}; expected {FILE_FORMATS}")


def _mixture_of_file(path: Path, x: np.ndarray) -> toy.Mixture | None:
    """The mixture an ``.npz`` declares beside ``x``: ``means`` and ``std`` (and optional ``weights``)."""
    with np.load(path, allow_pickle=False) as archive:
        names = set(archive.keys())
        if "means" not in names and "std" not in names:
            return None
        if not {"means", "std"} <= names:
            missing = sorted({"means", "std"} - names)
            raise ValueError(f"{path}: a mixture file needs both 'means' and 'std' (missing {missing}); "
                             "optional: 'weights'")
        mixture = toy.mixture_from_arrays(archive["means"], archive["std"],
                                          archive["weights"] if "weights" in names else None, source=str(path))
    if x.ndim != 2 or x.shape[1] != mixture.means.shape[1]:
        raise ValueError(f"{path}: 'x' has shape {x.shape} but 'means' has {mixture.means.shape[1]} columns; "
                         "they must agree (x: (n, d), means: (K, d))")
    return mixture
