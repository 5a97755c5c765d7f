"""Readers for data files: IDX (MNIST format), NumPy arrays, image folders, CSV.

Each reader returns raw values as a NumPy array (plus labels where the format
has them) and raises ``ValueError`` naming the file and what was expected when
the file is not what it claims to be.
"""

from __future__ import annotations

import csv
import gzip
import math
import struct
import zipfile
from pathlib import Path

import numpy as np

# IDX type codes (LeCun et al., the MNIST database file format).
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
FLOAT32_MAX = float(np.finfo(np.float32).max)  # gankit trains in float32: larger magnitudes become infinite
BEYOND_FLOAT32 = (f"is beyond float32's range (|x| <= {FLOAT32_MAX:.3g}), in which gankit trains; rescale this "
                  "column (e.g. to other units)")


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            head = f.read(2)
        if head == b"\x1f\x8b":  # gzip magic, whatever the suffix
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read ({e}); expected an IDX file, raw or gzip") from e


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array of its declared shape.

    The header is two zero bytes, a type byte, a byte giving the number of
    dimensions, then one big-endian uint32 per dimension; the data follow.

    Raises:
        ValueError: naming the file when the magic number, the type code or the
            length of the data does not match the header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        got = raw[:4].hex() if raw else "an empty file"
        raise ValueError(
            f"{path}: not an IDX file: expected magic 0x0000TTNN with type TT in "
            f"{sorted(hex(t) for t in _IDX_DTYPES)}, got {got}"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(dims) * dtype.itemsize  # Python integers: no overflow however large the header
    found = len(raw) - header
    if found != expected:
        raise ValueError(
            f"{path}: IDX data of shape {tuple(dims)} needs {expected} bytes, found {found}"
            + (" (truncated file?)" if found < expected else " (trailing bytes)")
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read a ``.npy`` array or one array of an ``.npz`` archive.

    For ``.npz`` the array is ``key`` if given, else the first of ``x``, ``data``,
    ``images``, ``arr_0`` present, else the only array.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ValueError("the file is empty")
        _check_declared_size(path)
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            names = list(loaded.keys())
            if key is None:
                key = next((k for k in ("x", "data", "images", "arr_0") if k in names), None)
                if key is None and len(names) == 1:
                    key = names[0]
                if key is None:
                    raise ValueError(f"choose the array with --data-option key=NAME; arrays here: {names}")
            elif key not in names:
                raise ValueError(f"no array {key!r} here; arrays here: {names}")
            return loaded[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: cannot read as .npy/.npz ({reason})") from e


#: The most classes a label column or array may declare (labels are 0 .. MAX_CLASSES - 1).
MAX_CLASSES = 1000
#: Header names (any case) taken as the label column of a CSV when no ``label`` option names one.
LABEL_COLUMNS = ("label", "class")


def check_labels(labels: np.ndarray, n: int, where: str) -> np.ndarray:
    """``labels`` as int64 class indices 0..C-1, one per sample, or a ``ValueError`` naming ``where``.

    Refused: floats (even whole ones: a class is not a measurement), NaN, negative
    classes, classes of :data:`MAX_CLASSES` or more, and a count other than ``n``.
    """
    a = np.asarray(labels)
    if a.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(a)).ravel()
        what = f"NaN or infinite at row {bad[0]}" if len(bad) else f"floats ({a.dtype})"
        raise ValueError(f"{where}: class labels must be integers 0..C-1; got {what}")
    if a.dtype.kind not in "biu":
        raise ValueError(f"{where}: class labels must be integers 0..C-1; got values of type {a.dtype}")
    if a.ndim != 1 or len(a) != n:
        raise ValueError(f"{where}: one class label per sample is needed: {n} samples, labels of shape {a.shape}")
    a = a.astype(np.int64)
    if len(a) and (a.min() < 0 or a.max() >= MAX_CLASSES):
        row = int(np.argmax((a < 0) | (a >= MAX_CLASSES)))
        raise ValueError(f"{where}: class label {a[row]} at row {row} is out of range; labels are 0..C-1 with "
                         f"C <= {MAX_CLASSES}")
    return a


def _npy_bytes(f, where: str, available: int) -> None:
    """Refuse a ``.npy`` stream whose header declares more data than ``available`` bytes follow it."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    except (ValueError, EOFError, SyntaxError):
        return  # not a .npy header: np.load says what it is
    if dtype.hasobject:
        return
    declared = math.prod(shape) * dtype.itemsize
    if declared > available - f.tell():
        raise ValueError(f"{where}the header declares shape {shape} of {dtype} ({_size(declared)}), but the file "
                         f"holds {_size(max(available - f.tell(), 0))} of data (truncated or corrupt)")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _check_declared_size(path: Path) -> None:
    """Read only the headers: a ``.npy`` (or ``.npz`` member) that claims more data than it holds is refused
    before numpy tries to allocate it."""
    with path.open("rb") as f:
        magic = f.read(6)
        f.seek(0)
        if magic == b"\x93NUMPY":
            _npy_bytes(f, "", path.stat().st_size)
            return
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename.endswith(".npy"):
                    with z.open(info) as member:
                        _npy_bytes(member, f"array {info.filename[:-4]!r}: ", info.file_size)


def read_labels(path: str | Path, n: int, key: str = "") -> np.ndarray | None:
    """The class labels of an ``.npz`` holding ``n`` samples: the array ``key``, or (no key) the array
    ``labels`` or ``y`` if present; None when there is none (``key="none"``: never).

    Raises:
        ValueError: naming the file and array: a missing named array, or labels
            that :func:`check_labels` refuses.
    """
    path = Path(path)
    if key.strip().lower() == "none":
        return None
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.keys())
        if key and key not in names:
            raise ValueError(f"{path}: no label array {key!r} (option label); arrays here: {names}")
        key = key or next((k for k in ("labels", "y") if k in names), "")
        if not key:
            return None
        try:
            labels = archive[key]
        except ValueError as e:
            raise ValueError(f"{path}: cannot read the label array {key!r} ({e})") from e
    return check_labels(labels, n, f"{path}, array {key!r}")


def image_files(path: Path) -> list[Path]:
    """The PNG/JPEG/... images under a folder (searched recursively), sorted by path; refused when none."""
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise ValueError(f"{path}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return found


def folder_classes(path: Path, found: list[Path]) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
    """Labels and class names from sub-folders: when every image lies in a sub-folder of ``path`` one
    level down and there are at least two, each sub-folder is a class (sorted by name, as torchvision's
    ``ImageFolder``); else ``(None, None)``."""
    parents = [f.relative_to(path).parts for f in found]
    classes = sorted({p[0] for p in parents})
    if any(len(p) != 2 for p in parents) or len(classes) < 2:
        return None, None
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[p[0]] for p in parents], dtype=np.int64), tuple(classes)


def check_folder_options(path: Path, size: int | None, channels: int | None) -> tuple[int | None, int | None]:
    """``size`` and ``channels`` with 0 read as "not given", or a ``ValueError`` naming the bad one."""
    if size is not None and size < 0:
        raise ValueError(f"{path}: option size must be >= 1 (0: keep the images' own size); got {size}")
    if channels not in (None, 0, 1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    return size or None, channels or None


def open_image(f: Path):
    """The image in file ``f`` (PIL, loaded), or a ``ValueError`` naming the file."""
    from PIL import Image

    try:
        with Image.open(f) as im:
            im.load()
            return im.copy()
    except OSError as e:
        raise ValueError(f"{f}: cannot read as an image ({e})") from e


def is_grey(mode: str) -> bool:
    """Whether a PIL image mode has one channel of grey levels."""
    return mode in ("L", "1", "I", "I;16")


def image_array(f: Path, im, channels: int, target: tuple[int, int], resize: bool) -> np.ndarray:
    """One image as ``(C, H, W)`` uint8 at ``target`` (width, height): resized when ``resize``, else it must
    already have that size (a ``ValueError`` naming the file says to pass ``size=N``)."""
    from PIL import Image

    if im.size != target:
        if not resize:
            raise ValueError(f"{f}: size {im.size} differs from the first image's {target}; "
                             "pass size=N to resize every image to N x N")
        im = im.resize(target, Image.BICUBIC)
    arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def read_image_folder(
    path: str | Path, size: int | None = None, channels: int | None = None, *, with_labels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    """Read every PNG/JPEG image under a folder into ``(N, C, H, W)`` uint8.

    Args:
        path: the folder (searched recursively, files sorted by path).
        size: resize every image to ``size x size``; if None all images must
            share the first image's size.
        channels: 1 (grey) or 3 (RGB); if None, 1 when every image is grey,
            else 3.
        with_labels: also return the labels (:func:`folder_classes`).

    Returns:
        The images, or ``(images, labels, class names)`` with ``with_labels``.
    """
    path = Path(path)
    size, channels = check_folder_options(path, size, channels)
    found = image_files(path)
    images = [open_image(f) for f in found]
    if channels is None:
        channels = 1 if all(is_grey(im.mode) for im in images) else 3
    target = (size, size) if size else images[0].size
    out = np.empty((len(images), channels, target[1], target[0]), dtype=np.uint8)
    for i, (f, im) in enumerate(zip(found, images, strict=True)):
        out[i] = image_array(f, im, channels, target, resize=size is not None)
    if not with_labels:
        return out
    return (out, *folder_classes(path, found))


def read_csv(path: str | Path, label: str = "") -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """Read a CSV of numeric rows; a first row with no number is taken as a header.

    A label column (class indices 0..C-1) is the column named ``label`` (a
    header name, or a 1-based column number), or, when ``label`` is empty, a
    header column called ``label`` or ``class`` (any case); ``label="none"``
    reads every column as a value.

    Returns:
        ``(values, header, labels)``: values of shape ``(rows, columns)`` float64
        (the label column left out), the value columns' names (None without a
        header) and the labels (None without a label column).

    Raises:
        ValueError: naming the file, line and column of the first cell that is
            not a number (or, in the label column, not an integer class), of a
            row of the wrong length, or a label column that does not exist.
    """
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            numbered = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read as CSV ({e})") from e
    if not numbered:
        raise ValueError(f"{path}: no rows")

    def is_number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return False
        return True

    header = None
    if not any(is_number(c) for c in numbered[0][1]):
        header = [c.strip() for c in numbered[0][1]]
        numbered = numbered[1:]
    if not numbered:
        raise ValueError(f"{path}: a header but no data rows")
    width = len(header) if header else len(numbered[0][1])
    col = _label_column(path, label, header, width)
    values = np.empty((len(numbered), width), dtype=np.float64)
    labels = None if col is None else np.empty(len(numbered), dtype=np.int64)
    for i, (line, row) in enumerate(numbered):
        if len(row) != width:
            raise ValueError(f"{path}: line {line} has {len(row)} columns, expected {width}")
        for j, cell in enumerate(row):
            name = f" ({header[j]!r})" if header else ""
            if j == col:
                try:
                    labels[i] = int(cell.strip())
                except ValueError:
                    why = "is empty" if not cell.strip() else "is not an integer class"
                    raise ValueError(f"{path}: line {line}, label column {j + 1}{name}: {cell!r} {why} "
                                     "(classes are 0..C-1)") from None
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ValueError(
                    f"{path}: line {line}, column {j + 1}{name}: {cell!r} is not a number"
                ) from None
    if col is not None:
        values = np.delete(values, col, axis=1)
        labels = check_labels(labels, len(values), f"{path}, label column {col + 1}"
                              + (f" ({header[col]!r})" if header else ""))
        header = None if header is None else [h for j, h in enumerate(header) if j != col]
        if values.shape[1] == 0:
            raise ValueError(f"{path}: only a label column; no values to train on")
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{path}: line {numbered[i][0]}, column {j + 1}: value is not finite")
    huge = np.abs(values) > FLOAT32_MAX
    if huge.any():
        i, j = np.argwhere(huge)[0]
        name = f" ({header[j]!r})" if header else ""
        raise ValueError(f"{path}: line {numbered[i][0]}, column {j + 1}{name}: {values[i, j]:g} {BEYOND_FLOAT32}")
    return values, header, labels


def _label_column(path: Path, label: str, header: list[str] | None, width: int) -> int | None:
    """The 0-based index of the label column that ``label`` names (see :func:`read_csv`), or None."""
    label = label.strip()
    if label.lower() == "none":
        return None
    if not label:
        found = [j for j, h in enumerate(header or []) if h.strip().lower() in LABEL_COLUMNS]
        return found[0] if found else None
    if header and label in header:
        return header.index(label)
    if label.isdigit() and 1 <= int(label) <= width:
        return int(label) - 1
    names = f"its columns: {header}" if header else f"it has {width} columns and no header"
    raise ValueError(f"{path}: no label column {label!r} (option label); {names}")
