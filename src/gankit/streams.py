"""The random streams gankit derives from a seed, named once.

Each stream is a ``torch.Generator`` (or a seeded network initialisation)
seeded with ``seed + offset``. For a run, ``seed`` is the run's seed (on rank 0
of a torchrun'd run; other ranks derive their own from the seed, the offset and
the rank, :meth:`gankit.distributed.Ranks.stream_seed`). Exact resume, stacked
seeds equal to single runs and two ranks equal to one all rest on each stream
being drawn by one thing only, so every module that derives a generator from a
seed takes its offset from this table, and ``tests/test_streams.py`` checks
that no two streams share an offset.
"""

from __future__ import annotations

#: name -> offset from the seed.
STREAMS: dict[str, int] = {
    # a training run (gankit.training.run, gankit.pictures)
    "data": 1,  # the real minibatches (and their labels)
    "noise": 2,  # z of every critic and generator step, the penalties' interpolation weights
    "snapshot-noise": 3,  # the fixed z of the snapshots
    "snapshot-real": 4,  # the fixed real subset of the snapshots
    "labels": 5,  # the classes of the generator's steps (class-conditional runs)
    "augment": 6,  # DiffAugment's draws
    "clusters": 8,  # the k-means clusters of the data (--clusters): seeding and restarts
    # evaluation (gankit.evaluation), also while a run trains
    "evaluation-stand-in": 7,  # training samples standing in for held-out data that do not exist
    "evaluation-train": 11,  # the training subset of the real-vs-real baselines
    "evaluation-held-out": 1_000_003,  # a fresh draw of a generated data set, as held-out data
    # the demo's tracks (gankit.demo)
    "demo-track": 100,  # the real samples the demo's distances are measured on
    "demo-noise": 101,  # the demo's fixed noise
    # the explorer's views (gankit.explore): never the run's streams
    "explore-real": 251,  # the real subset shown
    "explore-noise": 252,  # the fixed noise of the shown fakes and the manifold
    # the experiments (gankit.experiments), each its own
    "hypothesis-calibration": 21,
    "hypothesis-test": 22,
    "hypothesis-fake": 23,
    "hypothesis-c2st-real": 31,
    "hypothesis-c2st-fake": 32,
    "clipping-real": 201,  # the real minibatches of the critics trained with each constraint
    "clipping-fake": 202,  # the stand-in generator's minibatches
    "clipping-penalty": 203,  # the penalties' interpolation weights
    "clipping-eval-real": 204,
    "clipping-eval": 205,
    "clipping-eval-fake": 206,
    "tracks-real": 211,  # the real samples W1 is tracked against
    "tracks-fake": 212,  # the fixed noise of the tracked samples
    "disjoint-discriminator": 221,  # the discriminator (and the critic's initial weights)
    "disjoint-critic": 222,
    "disjoint-uniform": 223,  # the uniform noise of the optimal-critic picture
    "theory-training": 231,  # the networks the theory experiments train
    "vanishing-discriminator": 241,
    "vanishing-critic": 242,
    "vanishing-discriminator-training": 243,
    "vanishing-critic-training": 244,
    "vanishing-generator": 245,
    "minimax-monte-carlo": 1000,
}


def offset(name: str) -> int:
    """The offset of stream ``name``; the error lists the streams."""
    if name not in STREAMS:
        raise ValueError(f"unknown random stream {name!r}; the streams are {sorted(STREAMS)}")
    return STREAMS[name]


__all__ = ["STREAMS", "offset"]
