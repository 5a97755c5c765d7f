"""The random streams of a run, named once.

Each stream is a ``torch.Generator`` seeded with ``run seed + offset`` (on
rank 0 of a torchrun'd run; other ranks derive their own from the seed, the
offset and the rank, :meth:`gankit.distributed.Ranks.stream_seed`). Exact
resume, stacked seeds equal to single runs and two ranks equal to one all rest
on each stream being drawn by one thing only, so every module that derives a
generator takes its offset from this table (``tests/test_streams.py`` checks
that they are distinct).
"""

from __future__ import annotations

#: name -> offset from the run's seed.
STREAMS: dict[str, int] = {
    "data": 1,  # the real minibatches (and their labels)
    "noise": 2,  # z of every critic and generator step, the penalties' interpolation weights
    "snapshot-noise": 3,  # the fixed z of the snapshots
    "snapshot-real": 4,  # the fixed real subset of the snapshots
    "labels": 5,  # the classes of the generator's steps (class-conditional runs)
    "augment": 6,  # DiffAugment's draws
}


def offset(name: str) -> int:
    """The offset of stream ``name``; the error lists the streams."""
    if name not in STREAMS:
        raise ValueError(f"unknown random stream {name!r}; the streams are {sorted(STREAMS)}")
    return STREAMS[name]


__all__ = ["STREAMS", "offset"]
