"""The real data a generator is evaluated against: held out where the data allow it, else said to be not."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..data import DATASETS, Dataset, dataset_options, load_dataset
from ..streams import offset


def held_out_data(
    dataset: Dataset,
    n: int,
    *,
    data: str | None = None,
    options: dict[str, Any] | None = None,
    data_dir: str | None = None,
    seed: int = 0,
) -> tuple[Tensor, Tensor | None, str, bool]:
    """Real samples the generator was not trained on, in model units.

    * a named data set drawn from a seed (it has an ``n`` option: the toy
      distributions, the stacked sets): a fresh draw of ``n`` samples with
      seed ``seed + offset("evaluation-held-out")`` (stacked Fashion-MNIST also from the
      test split of its base images);
    * a named data set with a ``split`` option (Fashion-MNIST): the test split;
    * anything else (the digits, files): ``n`` random training samples, which
      are *not* independent of the training set; the note says so.

    Args:
        dataset: the training set.
        n: samples wanted (fewer come back when the source is smaller).
        data: the data set's name or path (default ``dataset.name``).
        options: the data set's options as trained.
        data_dir: where a named file-based set lives.
        seed: the evaluation's seed (the fresh draw uses ``seed + offset("evaluation-held-out")``).

    Returns:
        ``(x, labels or None, note, independent)``.
    """
    name = data or dataset.name
    options = dict(options or {})
    if name in DATASETS:
        allowed = dataset_options(name)
        fresh = dict(options)
        independent = False
        if "n" in allowed:
            fresh["n"] = n
            independent = True
        if "split" in allowed and str(options.get("split", "train")) == "train":
            fresh["split"] = "test"
            independent = True
        if independent:
            ho = load_dataset(name, data_dir=data_dir, options=fresh, seed=seed + offset("evaluation-held-out"))
            if ho.sample_shape != dataset.sample_shape:
                raise ValueError(f"held-out {name} samples have shape {ho.sample_shape}, the training data "
                                 f"{dataset.sample_shape}")
            what = "a fresh draw with another seed" if "n" in allowed else "the test split"
            if "n" in allowed and fresh.get("split") == "test":
                what += " from the test split"
            elif "n" in allowed and ho.kind == "image":
                what += " (new combinations of the training images)"
            idx = torch.randperm(len(ho), generator=torch.Generator().manual_seed(seed))[:n]
            labels = None if ho.labels is None else ho.labels[idx]
            x = dataset.scaler.to_model(ho.scaler.to_data(ho.x[idx]))  # in the training set's model units
            return x, labels, f"held-out real data: {what} ({min(n, len(ho))} samples)", True
    stand_in = torch.Generator().manual_seed(seed + offset("evaluation-stand-in"))
    idx = torch.randperm(len(dataset), generator=stand_in)[:n]
    labels = None if dataset.labels is None else dataset.labels[idx]
    note = (f"held-out real data: {len(idx)} random training samples ({name} has no split the trainer left "
            "out), so real-vs-real numbers are optimistic")
    return dataset.x[idx], labels, note, False


def reference_sets(dataset: Dataset, n: int, *, extra: int = 0, data: str | None, options: dict[str, Any] | None,
                    data_dir: str | None, seed: int) -> dict[str, Any]:
    """Held-out ``real`` (test) and ``calib`` (calibration) sets and a ``train`` set for the baselines.

    With independent held-out data each set has ``min(n, available / 2)``
    samples and ``train`` is a random training subset. Otherwise (training
    samples stand in) the three are disjoint thirds of a random permutation of
    the training data, so that real-vs-real baselines never compare a sample
    with itself. ``ho_x`` / ``ho_y`` hold ``max(3 n, extra)`` held-out samples.
    """
    ho_x, ho_y, note, independent = held_out_data(dataset, max(3 * n, extra), data=data, options=options,
                                                  data_dir=data_dir, seed=seed)
    k = min(n, len(ho_x) // 2) if independent else min(n, len(ho_x) // 3)
    if k < 2:
        raise ValueError(f"only {len(ho_x)} real samples to evaluate against; need at least 6")
    if independent:
        g = torch.Generator().manual_seed(seed + offset("evaluation-train"))
        train = dataset.x[torch.randperm(len(dataset), generator=g)[:k]]
    else:
        train = ho_x[2 * k:3 * k]
    return {"real": ho_x[:k], "real_y": None if ho_y is None else ho_y[:k], "calib": ho_x[k:2 * k],
            "calib_y": None if ho_y is None else ho_y[k:2 * k],
            "train": train, "ho_x": ho_x, "ho_y": ho_y, "note": note, "independent": independent, "k": k}
