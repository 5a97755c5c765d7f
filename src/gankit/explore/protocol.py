"""The messages the page may send, each validated (type, range, size) before anything acts on it.

A message is one JSON object with a ``type``; :func:`parse` returns it with
its fields checked and converted, or raises :class:`ProtocolError` whose text
names the field, what it got and what is allowed. Nothing else reaches the
session. The schema is data (:data:`MESSAGES`), so the page can show it and a
test can walk it.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..presets import LR_SCHEDULES, OPTIMIZERS

MAX_MESSAGE = 12 * 1024 * 1024  # characters of one message (a file of MAX_FILE bytes in base64 fits)
MAX_FILE = 8 * 1024 * 1024  # bytes of an uploaded data file
MAX_INFLATED = 32 * 1024 * 1024  # bytes an uploaded .npz may hold once inflated (its members' declared sizes)
MAX_ROWS = 200_000  # points in an uploaded file
MAX_DRAWN = 5000  # points drawn by hand
MIN_DRAWN = 3
FILE_SUFFIXES = (".npy", ".npz", ".csv")
COORDINATE = 1e6  # largest |coordinate| of a drawn point


class ProtocolError(ValueError):
    """A message the session does not take; its text is sent back to the page."""


@dataclass(frozen=True)
class Field:
    """One field: ``kind`` is int, float, bool, str (with ``choices``), or a nested object's schema."""

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    optional: bool = False  # may be absent (or null: the preset's value)

    def check(self, where: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if self.choices is not None:
            if isinstance(value, bool) or value not in self.choices or type(value) is float:
                raise ProtocolError(f"{where}: got {_show(value)}; allowed: {', '.join(map(str, self.choices))}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ProtocolError(f"{where}: expected true or false, got {_show(value)}")
            return value
        if self.kind in ("int", "float"):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            try:
                x = float(value) if number else math.nan
            except OverflowError:  # an integer beyond float's range
                x = math.inf
            if not number or (self.kind == "int" and math.isfinite(x) and not x.is_integer()):
                raise ProtocolError(f"{where}: expected {'an integer' if self.kind == 'int' else 'a number'}, "
                                    f"got {_show(value)}")
            if not math.isfinite(x) or not (self.low <= x <= self.high):
                raise ProtocolError(f"{where}: {_show(value)} is out of range [{self.low:g}, {self.high:g}]")
            return int(x) if self.kind == "int" else x
        raise ProtocolError(f"{where}: got {_show(value)}")  # pragma: no cover - schema error


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


RUN = Field("str", choices=("a", "b"))
# The games the page offers, by preset name (the packed PacGAN critic scores m samples at once: the page draws it
# as D(x, x_2, ..., x_m) with fixed generated samples in the other slots).
OBJECTIVES = {
    "gan": "GAN, non-saturating G (Goodfellow et al. 2014)",
    "minimax": "GAN, minimax G: log(1 - D(G(z))) (Goodfellow et al. 2014, Eq. 1)",
    "wgan": "WGAN, weight clipping (Arjovsky et al. 2017)",
    "wgan-gp": "WGAN-GP, gradient penalty (Gulrajani et al. 2017)",
    "hinge": "hinge loss, no constraint",
    "sngan": "hinge loss + spectral norm (Miyato et al. 2018)",
    "gan-r1": "GAN + R1 penalty (Mescheder et al. 2018)",
    "lsgan": "least squares, 0-1-1 coding (Mao et al. 2017)",
    "pacgan": "PacGAN: GAN whose D scores packs of m = 4 samples (Lin et al. 2018)",
}
OBJECTIVE_CHOICES = tuple(OBJECTIVES)
DATA_CHOICES = ("ring", "grid", "moons", "swiss-roll", "spiral", "lines", "gaussian-1d", "mixture-1d")
SETTINGS: dict[str, Field] = {
    "objective": Field("str", choices=OBJECTIVE_CHOICES),
    "d_steps": Field("int", 1, 50, optional=True),
    "clip": Field("float", 1e-4, 10.0),
    "gp_weight": Field("float", 1e-4, 1000.0, optional=True),
    "r1_gamma": Field("float", 1e-4, 1000.0, optional=True),
    "g_lr": Field("float", 1e-6, 1.0, optional=True),
    "d_lr": Field("float", 1e-6, 1.0, optional=True),
    "optimizer": Field("str", choices=OPTIMIZERS, optional=True),
    # width, depth and batch bound one training step: at most about 0.15 s on one CPU core (a gradient-penalty
    # critic step of 6 x 256 units on 1,024 samples), so pause and Ctrl-C act within a second whatever the settings
    "width": Field("int", 2, 256, optional=True),
    "depth": Field("int", 1, 6, optional=True),
    "noise_dim": Field("int", choices=(1, 2)),
    "batch_size": Field("int", 8, 1024, optional=True),
    "iterations": Field("int", 1, 1_000_000, optional=True),
    "lr_schedule": Field("str", choices=LR_SCHEDULES, optional=True),
    "pack": Field("int", 1, 8, optional=True),  # PacGAN's m; M x m samples a step stay within 1,024 (run.Settings)
}
# type -> {field: Field}; "settings", "points" and "file" are checked by their own functions below.
MESSAGES: dict[str, dict[str, Any]] = {
    "play": {},
    "pause": {},
    "reset": {},
    "step": {"what": Field("str", choices=("d", "g", "iteration"))},
    "speed": {"value": Field("float", 0, 100_000)},  # iterations per second; 0: as fast as it goes
    "compare": {"on": Field("bool")},
    "seed": {"value": Field("int", 0, 2**31 - 1)},
    "configure": {"run": RUN, "settings": "settings"},
    "data": {"name": Field("str", choices=DATA_CHOICES, optional=True), "points": "points", "file": "file"},
    "save": {"run": RUN},
}


def parse(text: str | bytes) -> dict[str, Any]:
    """The message in ``text`` with its fields checked, or :class:`ProtocolError`."""
    if isinstance(text, bytes):
        raise ProtocolError("binary messages are not taken; send JSON text")
    if len(text) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(text)} characters; at most {MAX_MESSAGE}")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("not valid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a message must be a JSON object with a 'type'; got {_show(message)}")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in MESSAGES:
        raise ProtocolError(f"type: got {_show(kind)}; allowed: {', '.join(MESSAGES)}")
    schema = MESSAGES[kind]
    unknown = sorted(set(message) - set(schema) - {"type"})
    if unknown:
        listed = ", ".join(schema) or "none"
        raise ProtocolError(f"{kind}: unknown field(s) {', '.join(map(str, unknown))[:80]}; its fields: {listed}")
    out: dict[str, Any] = {"type": kind}
    for name, spec in schema.items():
        where = f"{kind}.{name}"
        if name not in message:
            if isinstance(spec, Field) and not spec.optional:
                raise ProtocolError(f"{where} is missing")
            continue
        value = message[name]
        if spec == "settings":
            out[name] = _settings(where, value)
        elif spec == "points":
            out[name] = _points(where, value)
        elif spec == "file":
            out[name] = _file(where, value)
        else:
            out[name] = spec.check(where, value)
    if kind == "data" and sum(out.get(k) is not None for k in ("name", "points", "file")) != 1:
        raise ProtocolError("data: give exactly one of name, points or file")
    return out


def _settings(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object of controls, got {_show(value)}")
    unknown = sorted(set(value) - set(SETTINGS))
    if unknown:
        raise ProtocolError(f"{where}: unknown control(s) {', '.join(map(str, unknown))[:80]}; "
                            f"controls: {', '.join(SETTINGS)}")
    return {name: SETTINGS[name].check(f"{where}.{name}", v) for name, v in value.items()}


def _points(where: str, value: Any) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not (MIN_DRAWN <= len(value) <= MAX_DRAWN):
        size = len(value) if isinstance(value, list) else _show(value)
        raise ProtocolError(f"{where}: expected a list of {MIN_DRAWN} to {MAX_DRAWN} [x, y] points, got {size}")
    coordinate = Field("float", -COORDINATE, COORDINATE)
    points = []
    for i, p in enumerate(value):
        if not isinstance(p, list) or len(p) != 2:
            raise ProtocolError(f"{where}[{i}]: expected [x, y], got {_show(p)}")
        points.append((coordinate.check(f"{where}[{i}].x", p[0]), coordinate.check(f"{where}[{i}].y", p[1])))
    return points


def _file(where: str, value: Any) -> tuple[str, bytes]:
    if not isinstance(value, dict) or set(value) != {"name", "content"}:
        raise ProtocolError(f"{where}: expected {{name, content}} (content: the file in base64), got {_show(value)}")
    name, content = value["name"], value["content"]
    if not isinstance(name, str) or not name.lower().endswith(FILE_SUFFIXES) or len(name) > 200:
        raise ProtocolError(f"{where}.name: got {_show(name)}; a data file must end in {', '.join(FILE_SUFFIXES)}")
    if not isinstance(content, str):
        raise ProtocolError(f"{where}.content: expected the file in base64, got {_show(content)}")
    if len(content) > (MAX_FILE + 2) // 3 * 4:
        raise ProtocolError(f"{where}: the file is larger than {MAX_FILE // (1024 * 1024)} MiB")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"{where}.content: not valid base64") from None
    if not data:
        raise ProtocolError(f"{where}: the file is empty")
    _check_inflated(where, name, data)
    return name, data


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _npy_rows(f: Any) -> int | None:
    """The rows a ``.npy`` stream's header declares (its first dimension), read from the header alone."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read(f)
    except (ValueError, EOFError, SyntaxError, OSError):
        return None  # not a .npy header: the loader says what it is
    return int(shape[0]) if shape else 1


def _check_inflated(where: str, name: str, data: bytes) -> None:
    """Refuse an upload that would be too large once read, from its headers alone: nothing is inflated.

    A ``.npz`` (any zip archive, whatever its name: numpy reads one as an archive) may hold
    :data:`MAX_INFLATED` bytes by its members' declared sizes, which bound what reading them can
    produce; every array, and a CSV, at most :data:`MAX_ROWS` rows.
    """
    rows: list[tuple[str, int | None]] = []
    if data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError):
            return  # the loader says what is wrong with it
        with archive:
            members = archive.infolist()
            inflated = sum(m.file_size for m in members)
            if inflated > MAX_INFLATED:
                raise ProtocolError(f"{where}: {name} inflates to {_size(inflated)} (the declared sizes of its "
                                    f"{len(members)} member(s)); an upload may hold at most "
                                    f"{MAX_INFLATED // 2**20} MiB of data")
            for m in members:
                if m.filename.endswith(".npy"):
                    try:
                        with archive.open(m) as f:
                            rows.append((f"array {m.filename[:-4]!r}", _npy_rows(f)))
                    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError):
                        return
    elif data[:6] == b"\x93NUMPY":
        rows.append(("the array", _npy_rows(io.BytesIO(data))))
    else:  # text: a CSV, one point a line (a header line aside)
        rows.append(("the table", data.count(b"\n") + (not data.endswith(b"\n")) - 1))
    for what, n in rows:
        if n is not None and n > MAX_ROWS:
            raise ProtocolError(f"{where}: {name}: {what} has {n:,} rows; explore takes at most {MAX_ROWS:,} points")


__all__ = ["MAX_INFLATED", "MAX_ROWS", "MESSAGES", "ProtocolError", "SETTINGS", "parse"]
