"""``load_dataset``: a named data set or a file, by what ``spec`` is.

It sits above both the list of named sets (:mod:`gankit.data.named`, which
builds a set through :mod:`gankit.data.datasets` when asked) and the readers,
so that neither imports the other.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from .datasets import Dataset, check_options, load_path
from .formats import FILE_FORMATS
from .named import DATASETS, dataset_options


def load_dataset(
    spec: str, *, data_dir: str | None = None, options: dict[str, Any] | None = None, seed: int = 0
) -> Dataset:
    """Load a named data set or a file/folder.

    Args:
        spec: a name from :data:`DATASETS` or a path ({formats}).
        data_dir: where a named file-based set (fashion-mnist) lives.
        options: the data set's own options (``gankit datasets`` lists them).
        seed: seeds generated data sets.

    Raises:
        ValueError: for an unknown name, an unknown option or a malformed file.
        FileNotFoundError: when a named set's files are missing, saying how to
            install them.
    """
    options = dict(options or {})
    if spec in DATASETS:
        fn = DATASETS[spec]
        options = check_options(f"data set {spec!r}", dataset_options(spec), options)
        if options.get("n", 1) < 1:
            raise ValueError(f"data set {spec!r}: option n must be >= 1; got {options['n']}")
        if "data_dir" in inspect.signature(fn).parameters:
            options["data_dir"] = data_dir
        try:
            return fn(seed, **options)
        except (RuntimeError, TypeError, ZeroDivisionError, IndexError, OverflowError) as e:
            given = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "data_dir") or "the defaults"
            raise ValueError(f"data set {spec!r} cannot be built with {given}: {e}") from e
    path = Path(spec)
    if path.exists():
        from .streaming import stream_path  # what is too large for memory, read as it is drawn

        streamed = stream_path(path, options)
        return streamed if streamed is not None else load_path(path, options)
    raise ValueError(
        f"unknown data set {spec!r}: not a name ({', '.join(DATASETS)}) and no such path; "
        f"a path may be {FILE_FORMATS}"
    )


load_dataset.__doc__ = (load_dataset.__doc__ or "").replace("{formats}", FILE_FORMATS)
