r"""Score a set of generated images against a named image data set, in its domain classifier's features.

One protocol for every image number gankit reports (the image benchmark, the
comparison with other libraries, ``gankit eval --samples``):

* the **reference** is the data set's held-out real images: Fashion-MNIST's
  test split (10,000 images); for the 8x8 digits, which have no split, a fixed
  seeded half of the 1,797 images (the generators trained on all of them, so
  the digits' numbers are optimistic);
* every set is mapped to the features of the data set's domain classifier
  (:mod:`gankit.classifier`, the penultimate layer, 128 units) and scored by
  FID, KID (Binkowski et al. 2018), precision and recall (k-NN manifolds, k = 3,
  Kynkaanniemi et al. 2019) and the KL divergence of the classifier's class
  histogram of the set to the reference's true class histogram;
* for a class-conditional generator, the **class accuracy**: the share of
  samples the classifier puts in the class they were generated for (its
  ceiling is the classifier's accuracy on the reference);
* the **floor**: the same numbers for as many real images that are not in the
  reference (Fashion-MNIST: random training images; digits: the other half).

Numbers from different classifiers (other data, other training) are not comparable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data import load_dataset
from ..metrics import class_coverage, fid, kid, precision_recall
from .core import make_feature_extractor

#: Generated images scored per set (and reference images at most).
N_IMAGES = 5000
#: Seed of the digits' reference half and of the floor's draw.
REFERENCE_SEED = 0
K = 3  # neighbours of the precision / recall manifolds


class Reference:
    """The held-out real images of a named data set, their features and labels, and the floor.

    Args:
        data: ``fashion-mnist`` or ``digits``.
        data_dir: where Fashion-MNIST lives (default: its system location).
        n: at most this many images in the floor's set (default :data:`N_IMAGES`).
        device: where the classifier runs.
        train_classifier: train the domain classifier when none is cached.
        progress: show progress while a classifier trains.
    """

    def __init__(self, data: str = "fashion-mnist", *, data_dir: str | None = None, n: int = N_IMAGES,
                 device: str | torch.device = "cpu", train_classifier: bool = True, progress: bool = False):
        if data not in ("fashion-mnist", "digits"):
            raise ValueError(f"no image reference for {data!r}; choose fashion-mnist or digits")
        self.data = data
        if data == "fashion-mnist":
            train = load_dataset(data, data_dir=data_dir, options={"split": "train"})
            test = load_dataset(data, data_dir=data_dir, options={"split": "test"})
            ref_x, ref_y = test.x, test.labels
            g = torch.Generator().manual_seed(REFERENCE_SEED)
            pick = torch.randperm(len(train), generator=g)[:n]
            floor_x, floor_y = train.x[pick], train.labels[pick]
            self.what = ("the test split (10,000 images); floor: random training images")
            self.classes = train.classes
        else:
            full = load_dataset(data)
            g = torch.Generator().manual_seed(REFERENCE_SEED)
            order = torch.randperm(len(full), generator=g)
            half = len(full) // 2
            ref_x, ref_y = full.x[order[half:]], full.labels[order[half:]]
            floor_x, floor_y = full.x[order[:half]][:n], full.labels[order[:half]][:n]
            self.what = (f"a fixed half of the digits ({len(ref_x)} images; the generators trained on all "
                         "1,797); floor: the other half")
            self.classes = full.classes
        self.sample_shape = tuple(ref_x.shape[1:])
        self.features = make_feature_extractor("auto", data, self.sample_shape, False, train=train_classifier,
                                               data_dir=data_dir, device=torch.device(device), progress=progress,
                                               notes=[])
        self.n_classes = len(self.classes)
        self.labels = ref_y.numpy()
        predicted, self.f_ref = self.features(ref_x)
        self.classifier_accuracy = float((predicted == self.labels).mean())
        self.floor = self.score(floor_x, asked=floor_y)  # real images asked for their own classes

    def score(self, x: Tensor | np.ndarray, asked: Tensor | np.ndarray | None = None, *,
              seed: int = 0) -> dict[str, Any]:
        """FID, KID, precision, recall and class balance of images ``x`` (model range [-1, 1], the
        reference's shape); with ``asked`` (the classes a conditional generator was asked for), the
        class accuracy overall and per class.
        """
        x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x).float()
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"images of shape {tuple(x.shape[1:])} cannot be scored against {self.data} "
                             f"{self.sample_shape}")
        if len(x) < 2 * K or not torch.isfinite(x).all():
            raise ValueError(f"need at least {2 * K} finite images to score; got {len(x)}"
                             + ("" if torch.isfinite(x).all() else " with NaN or infinite values"))
        predicted, f = self.features(x)
        m = min(len(f), len(self.f_ref))
        k = kid(f, self.f_ref, n_subsets=100, seed=seed)
        pr = precision_recall(self.f_ref[:m], f[:m], k=K)
        cov = class_coverage(predicted, self.n_classes, self.labels)
        out: dict[str, Any] = {"n": len(f), "fid": fid(f, self.f_ref), "kid": k["mean"], "kid_std": k["std"],
                               "precision": pr["precision"], "recall": pr["recall"],
                               "class_kl": cov["kl_to_data"], "classes_covered": cov["classes_covered"]}
        if asked is not None:
            asked = np.asarray(torch.as_tensor(asked).cpu())
            out["class_accuracy"] = float((predicted == asked).mean())
            out["class_accuracy_per_class"] = [float((predicted[asked == c] == c).mean()) if (asked == c).any()
                                               else None for c in range(self.n_classes)]
        return out

    def describe(self) -> dict[str, Any]:
        """What the numbers are measured against (for a report)."""
        return {"data": self.data, "reference": self.what, "n_reference": len(self.f_ref),
                "classifier": self.features.info, "classifier_accuracy": self.classifier_accuracy,
                "floor": self.floor, "k": K}


__all__ = ["N_IMAGES", "Reference"]
