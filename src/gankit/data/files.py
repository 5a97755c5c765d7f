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


def read_image_folder(
    path: str | Path, size: int | None = None, channels: int | None = None
) -> np.ndarray:
    """Read every PNG/JPEG image under a folder into ``(N, C, H, W)`` uint8.

    Args:
        path: the folder (searched recursively, files sorted by path).
        size: resize every image to ``size x size``; if None all images must
            share the first image's size.
        channels: 1 (grey) or 3 (RGB); if None, 1 when every image is grey,
            else 3.
    """
    from PIL import Image

    path = Path(path)
    if size is not None and size < 0:
        raise ValueError(f"{path}: option size must be >= 1 (0: keep the images' own size); got {size}")
    size, channels = size or None, channels or None  # 0 means "not given"
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except OSError as e:
            raise ValueError(f"{f}: cannot read as an image ({e})") from e
    if channels is None:
        channels = 1 if all(im.mode in ("L", "1", "I", "I;16") for im in images) else 3
    mode = "L" if channels == 1 else "RGB"
    target = (size, size) if size else images[0].size
    out = np.empty((len(images), channels, target[1], target[0]), dtype=np.uint8)
    for i, (f, im) in enumerate(zip(files, images, strict=True)):
        if im.size != target:
            if size is None:
                raise ValueError(
                    f"{f}: size {im.size} differs from {files[0].name}'s {target}; "
                    "pass size=N to resize every image to N x N"
                )
            im = im.resize(target, Image.BICUBIC)
        arr = np.asarray(im.convert(mode))
        out[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
    return out


def read_csv(path: str | Path) -> tuple[np.ndarray, list[str] | None]:
    """Read a CSV of numeric rows; a first row with no number is taken as a header.

    Returns:
        ``(values, header)``: values of shape ``(rows, columns)`` float64 and the
        column names (None without a header).

    Raises:
        ValueError: naming the file, line and column of the first cell that is
            not a number, or of a row of the wrong length.
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
    values = np.empty((len(numbered), width), dtype=np.float64)
    for i, (line, row) in enumerate(numbered):
        if len(row) != width:
            raise ValueError(f"{path}: line {line} has {len(row)} columns, expected {width}")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                name = f" ({header[j]!r})" if header else ""
                raise ValueError(
                    f"{path}: line {line}, column {j + 1}{name}: {cell!r} is not a number"
                ) from None
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{path}: line {numbered[i][0]}, column {j + 1}: value is not finite")
    huge = np.abs(values) > FLOAT32_MAX
    if huge.any():
        i, j = np.argwhere(huge)[0]
        name = f" ({header[j]!r})" if header else ""
        raise ValueError(f"{path}: line {numbered[i][0]}, column {j + 1}{name}: {values[i, j]:g} {BEYOND_FLOAT32}")
    return values, header
