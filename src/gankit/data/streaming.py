"""Image sets larger than memory, read from disk as training draws them.

An in-memory data set is one float32 tensor, four bytes per pixel. A streamed
set keeps its images on disk: an ``.npy`` array (numpy's memory map gives its
layout; its rows are then read with positioned reads, so the pages stay in the
system's file cache instead of counting against the process) or a folder of
images (decoded when drawn). :class:`StreamSampler` draws minibatches through a
:class:`torch.utils.data.DataLoader` whose workers read and decode while the
model trains.

Exact resume and agreement with the in-memory sampler: the minibatch indices
(and the flips) are drawn in the training process from a ``torch.Generator``
exactly as :class:`~gankit.data.sampler.Sampler` draws them on the CPU, and the
workers only read what they are told. The sampler's state is the generator's
state after the last batch *consumed* (batches read ahead are drawn again after
a resume), so a streamed run on the CPU takes bit for bit the batches of the
same run in memory, and a stopped and resumed one those of an uninterrupted one.

A streamed data set's ``x`` is a preview: at most :data:`PREVIEW_ROWS` images,
evenly spaced through the file, which pictures, clusters and evaluation use;
``Dataset.rows`` is the whole set's size.
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import files
from .clusters import Clusters
from .datasets import Dataset, Scaler, as_nchw, check_image_values, check_options, image_scaler, peak_scaler
from .formats import FILE_OPTIONS
from .sampler import Sampler, flip_images

#: Images of a streamed set held in memory as its preview (``Dataset.x``).
PREVIEW_ROWS = 10_000
#: ``stream=auto`` streams a set whose float32 copy in memory would be larger than this.
STREAM_ABOVE_BYTES = 1 << 30
#: Bytes read at a time when a float file's range is scanned.
SCAN_BYTES = 64 << 20
STREAM_CHOICES = ("auto", "yes", "no")
_TRUE, _FALSE = ("yes", "true", "on", "1"), ("no", "false", "off", "0")


def stream_choice(where: str, value: Any) -> str:
    """``auto``, ``yes`` or ``no`` from an option's text (true/false, on/off, 1/0 too)."""
    text = str(value).strip().lower()
    if text == "auto":
        return text
    if text in _TRUE or text in _FALSE:
        return "yes" if text in _TRUE else "no"
    raise ValueError(f"{where}: option stream={value!r}: expected {', '.join(STREAM_CHOICES)}")


class NpyRows:
    """Rows of an ``.npy`` file on disk, read by index with positioned reads (no copy of the file in memory).

    Args:
        path: a C-ordered ``.npy`` array of real numbers.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"{path}: cannot read as .npy ({reason})") from e
        if not mapped.flags.c_contiguous:
            raise ValueError(f"{path}: a Fortran-ordered array cannot be streamed; save it in C order "
                             "(np.save(path, np.ascontiguousarray(a))) or load it with stream=no")
        if mapped.ndim < 1 or len(mapped) < 1:
            raise ValueError(f"{path}: no rows to stream (shape {mapped.shape})")
        self.shape, self.dtype, self.offset = tuple(mapped.shape), mapped.dtype, int(mapped.offset)
        del mapped
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict[str, Any]:  # a worker opens its own descriptor
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def _read_into(self, out: np.ndarray, first: int) -> np.ndarray:
        """Fill ``out`` (``(count, *row_shape)``, C-ordered) with rows ``first`` onwards; returns it."""
        want = out.nbytes
        got = os.preadv(self._descriptor(), [memoryview(out.reshape(-1).view(np.uint8))],
                        self.offset + first * self.row_bytes)
        if got != want:
            raise ValueError(f"{self.path}: rows {first}..{first + len(out) - 1} lie beyond the end of the file "
                             f"(truncated? {got} of {want} bytes read)")
        return out

    def read(self, idx: np.ndarray) -> np.ndarray:
        """The rows ``idx`` (any order, repeats allowed), ``(len(idx), *row_shape)``: one read each."""
        out = np.empty((len(idx), *self.row_shape), dtype=self.dtype)
        for j, i in enumerate(idx):
            self._read_into(out[j:j + 1], int(i))
        return out

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, rows)`` blocks of about :data:`SCAN_BYTES`, in order through the file."""
        step = max(1, SCAN_BYTES // max(1, self.row_bytes))
        for first in range(0, len(self), step):
            count = min(step, len(self) - first)
            yield first, self._read_into(np.empty((count, *self.row_shape), dtype=self.dtype), first)

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


class FolderRows:
    """The images of a folder, decoded by index (``(C, H, W)`` uint8 each), with the folder's classes.

    Every file's header is read once (its size and mode), so a folder that would
    fail to load in memory fails here too, naming the file, before training.
    """

    def __init__(self, path: Path, size: int | None, channels: int | None):
        from PIL import Image

        size, channels = files.check_folder_options(path, size, channels)
        self.path, self.files = path, files.image_files(path)
        heads = []
        for f in self.files:
            try:
                with Image.open(f) as im:
                    heads.append((im.size, im.mode))
            except OSError as e:
                raise ValueError(f"{f}: cannot read as an image ({e})") from e
        self.channels = channels or (1 if all(files.is_grey(mode) for _, mode in heads) else 3)
        self.resize = size is not None
        self.target = (size, size) if size else heads[0][0]
        odd = next((f for f, (s, _) in zip(self.files, heads, strict=True) if s != self.target), None)
        if odd is not None and not self.resize:
            raise ValueError(f"{odd}: size {Image.open(odd).size} differs from the first image's {self.target}; "
                             "pass size=N to resize every image to N x N")
        self.row_shape = (self.channels, self.target[1], self.target[0])
        self.dtype = np.dtype(np.uint8)
        self.labels, self.classes = files.folder_classes(path, self.files)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), *self.row_shape), dtype=np.uint8)
        for j, i in enumerate(idx):
            f = self.files[int(i)]
            out[j] = files.image_array(f, files.open_image(f), self.channels, self.target, self.resize)
        return out

    def close(self) -> None:
        pass


@dataclass
class Stream:
    """A data set on disk, read as minibatches in the model's range.

    Attributes:
        rows: where the raw images come from (:class:`NpyRows` or :class:`FolderRows`).
        scaler: data units -> the model's range.
        labels: every image's class, ``(N,)`` int64, or None.
        workers: the DataLoader's worker processes (0: read in the training process).
    """

    name: str
    rows: NpyRows | FolderRows
    scaler: Scaler
    labels: np.ndarray | None
    workers: int

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(as_nchw(self.name, np.empty((0, *self.rows.row_shape), self.rows.dtype)).shape[1:])

    def batch(self, idx: np.ndarray, flip: np.ndarray | None = None) -> Tensor:
        """Images ``idx`` in the model's range, ``(n, C, H, W)`` float32, mirrored left-right where ``flip``.

        The same operations as the in-memory set's, so the values are the same bit for bit.
        """
        x = self.scaler.to_model(torch.as_tensor(as_nchw(self.name, self.rows.read(idx)), dtype=torch.float32))
        return x if flip is None else flip_images(x, torch.as_tensor(flip))


def _range(rows: NpyRows, name: str) -> tuple[float, float]:
    """The smallest and largest value of a float file, checked finite, in one pass of blocks."""
    lo, hi = math.inf, -math.inf
    for first, block in rows.blocks():
        block = as_nchw(name, block)
        check_image_values(name, block, first)
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    return lo, hi


def stream_path(path: Path, options: dict[str, Any]) -> Dataset | None:
    """The streamed set of an image folder or ``.npy`` that is to stream (``stream=yes``, or under ``auto``
    images whose float32 copy would pass :data:`STREAM_ABOVE_BYTES`); None for what loads whole."""
    name = str(path)
    kind = "folder" if path.is_dir() else path.suffix.lower()
    if kind not in ("folder", ".npy"):
        return None
    checked = check_options(f"folder {name}" if kind == "folder" else name, FILE_OPTIONS[kind], options)
    choice = stream_choice(name, checked.get("stream", "auto"))
    workers = checked.get("workers", -1)
    if workers < -1:
        raise ValueError(f"{name}: option workers must be >= 0 (or -1: chosen by the source); got {workers}")
    if choice == "no":
        return None
    if kind == "folder":
        rows = FolderRows(path, checked.get("size"), checked.get("channels"))
        streams = wants_stream(choice, len(rows), rows.row_shape)
        return stream_dataset(name, rows, workers, rows.labels, rows.classes) if streams else None
    try:
        rows = NpyRows(path)
    except ValueError:  # under auto the reader that loads it whole says what is wrong
        if choice == "yes":
            raise
        return None
    images = len(rows.row_shape) >= 2
    if choice == "yes" or (images and wants_stream(choice, len(rows), rows.row_shape)):
        return stream_dataset(name, rows, workers)
    return None


def auto_workers(rows: NpyRows | FolderRows) -> int:
    """Worker processes by default: none for an array (a read is a few system calls), for a folder about
    half the cores this process may run on, at most 4 (decoding is the work)."""
    return 0 if isinstance(rows, NpyRows) else max(1, min(4, usable_cpus() // 2))


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, as ``taskset`` sets it), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks on this platform
        return os.cpu_count() or 2


def wants_stream(choice: str, n: int, row_shape: tuple[int, ...]) -> bool:
    """Whether to stream: asked, or (``auto``) when the float32 copy would pass :data:`STREAM_ABOVE_BYTES`."""
    return choice == "yes" or (choice == "auto" and 4 * n * int(np.prod(row_shape)) > STREAM_ABOVE_BYTES)


def stream_dataset(name: str, rows: NpyRows | FolderRows, workers: int, labels: np.ndarray | None = None,
                   classes: tuple[str, ...] | None = None) -> Dataset:
    """A streamed image set over ``rows``: its scaler (a float file's range scanned once), its preview."""
    if len(rows.row_shape) not in (2, 3):
        raise ValueError(f"{name}: only images stream ((N,H,W), (N,C,H,W) or (N,H,W,C)); an array of shape "
                         f"{(len(rows), *rows.row_shape)} is loaded whole: give stream=no")
    if rows.dtype.kind not in "biuf":
        raise ValueError(f"{name}: holds values of type {rows.dtype} ({rows.dtype.kind!r}); expected real numbers")
    if rows.dtype == np.uint8:
        scaler = peak_scaler(255.0)
    elif isinstance(rows, NpyRows):
        scaler = image_scaler(name, *_range(rows, name), rows.dtype)
    else:
        scaler = peak_scaler(255.0)
    if workers < 0:
        workers = auto_workers(rows)
    stream = Stream(name, rows, scaler, labels, workers)
    preview = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), PREVIEW_ROWS)).round().astype(np.int64))
    x = stream.batch(preview)
    y = None if labels is None else torch.as_tensor(labels[preview])
    return Dataset(name, x, "image", scaler, y, classes=classes, stream=stream)


class StreamSampler:
    """Minibatches of a :class:`Stream`, drawn as :class:`~gankit.data.sampler.Sampler` draws them on the
    CPU, read by a DataLoader (``stream.workers`` processes, a few batches ahead).

    Args:
        stream: the data on disk.
        batch_size: rows per minibatch (M).
        device: where the batches go.
        seed: seeds the index generator (the in-memory sampler's seed gives its batches).
        with_labels: also return each batch's classes (the stream's labels, or ``assign``'s).
        flip: mirror each image left-right with probability 1/2.
        assign: a batch's classes from its images (k-means clusters), instead of the stream's labels.
    """

    def __init__(self, stream: Stream, batch_size: int, device: torch.device | str = "cpu", seed: int = 0,
                 with_labels: bool = False, flip: bool = False, assign: Callable[[Tensor], Tensor] | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        if with_labels and assign is None and stream.labels is None:
            raise ValueError(f"{stream.name}: the data hold no labels to draw")
        self.stream, self.batch_size, self.device = stream, batch_size, torch.device(device)
        self.with_labels, self.flip, self.assign = with_labels, flip, assign
        self.generator = torch.Generator().manual_seed(seed)
        self._consumed = self.generator.get_state()  # the state after the last batch handed out
        self._ahead: collections.deque[tuple[Tensor, np.ndarray]] = collections.deque()  # drawn: (state, indices)
        self._batches: Iterator[Tensor] | None = None

    def _draws(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """The index (and flip) stream, drawn in this process: the in-memory sampler's on the CPU."""
        while True:
            idx = torch.randint(len(self.stream), (self.batch_size,), generator=self.generator)
            flip = torch.rand(self.batch_size, generator=self.generator) < 0.5 if self.flip else None
            self._ahead.append((self.generator.get_state(), idx.numpy()))
            yield idx.numpy(), None if flip is None else flip.numpy()

    def _loader(self) -> Iterator[Tensor]:
        workers = self.stream.workers
        loader = torch.utils.data.DataLoader(
            _Reads(self.stream), batch_size=None, sampler=_Iterable(self._draws), num_workers=workers,
            prefetch_factor=4 if workers else None, pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(0))  # the loader's own seed: the global stream is untouched
        return iter(loader)

    def __call__(self) -> Tensor:
        return self.pair()[0]

    def pair(self) -> tuple[Tensor, Tensor | None]:
        """A minibatch ``(M, C, H, W)`` on the device and its classes ``(M,)`` (None unless asked for)."""
        if self._batches is None:
            self._batches = self._loader()
        x = next(self._batches)
        self._consumed, idx = self._ahead.popleft()
        x = x.to(self.device, non_blocking=True)
        if not self.with_labels:
            return x, None
        y = self.assign(x) if self.assign is not None else torch.as_tensor(self.stream.labels[idx])
        return x, y.to(self.device)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self._consumed.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Continue after the batch the state was taken at: batches read ahead are dropped and drawn again."""
        self._consumed = state["generator"].clone()
        self.close()

    def close(self) -> None:
        """Stop the workers and drop what they read ahead; the next batch starts them again after the last
        batch taken."""
        shutdown = getattr(self._batches, "_shutdown_workers", None)  # a multi-process iterator's
        if shutdown is not None:
            shutdown()
        self._batches, self._ahead = None, collections.deque()
        self.generator.set_state(self._consumed)


class _Iterable:
    """An iterable over a generator function's fresh iterators (a DataLoader sampler)."""

    def __init__(self, make: Callable[[], Iterator]):
        self.make = make

    def __iter__(self) -> Iterator:
        return self.make()


class _Reads(torch.utils.data.Dataset):
    """A DataLoader's dataset whose items are whole minibatches: ``(indices, flips)`` -> images."""

    def __init__(self, stream: Stream):
        self.stream = stream

    def __getitem__(self, item: tuple[np.ndarray, np.ndarray | None]) -> Tensor:
        return self.stream.batch(*item)


def make_sampler(dataset: Dataset, batch_size: int, device: torch.device | str, seed: int, *,
                 with_labels: bool = False, flip: bool = False,
                 clusters: Clusters | None = None) -> Sampler | StreamSampler:
    """The minibatch sampler of a data set: :class:`~gankit.data.sampler.Sampler` in memory, a
    :class:`StreamSampler` for a streamed set (the same draws on the CPU).

    ``with_labels`` draws each sample's class with it: the data's labels, or its k-means ``clusters``'
    (a streamed set assigns them to each batch; in memory they are ``dataset.labels``).
    """
    if dataset.stream is None:
        return Sampler(dataset.x, batch_size, device, seed=seed, labels=dataset.labels if with_labels else None,
                       flip=flip)
    assign = None if clusters is None else clusters.assign
    return StreamSampler(dataset.stream, batch_size, device, seed, with_labels=with_labels, flip=flip, assign=assign)
