"""Evaluate a generator against held-out real data: the metrics that fit its data."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._json import jsonable
from ..data import Dataset, load_dataset
from ..data.clusters import Clusters
from ..metrics import (
    c2st,
    class_coverage,
    fid,
    hypothesis_test,
    kid,
    mixture_coverage,
    precision_recall,
    sample_distances,
    stacked_modes,
)
from ..models import eval_mode
from ..progress import Progress
from ..sampling import discriminator_scores, generate
from ..writing import check_writable, write_text
from .figures import evaluation_figures
from .heldout import held_out_data, reference_sets  # noqa: F401  (part of this module's API)

#: Samples used for the Stacked MNIST mode count (PacGAN's protocol).
N_STACKED = 26_000
#: Largest number of images per set for the pixel-space distances (their cost is O(n^2 d)).
IMAGE_DISTANCE_POINTS = 1000
#: Points kept of the ROC curve in ``eval.json`` (the figure uses all).
ROC_POINTS = 201
EVAL_FILE = "eval.json"

FeatureFn = Callable[[Tensor], tuple[Tensor | None, Tensor]]




# --------------------------------------------------------------------------- helpers


def _subsample_roc(roc: dict[str, np.ndarray], points: int = ROC_POINTS) -> dict[str, list[float]]:
    idx = np.unique(np.linspace(0, len(roc["fpr"]) - 1, points).round().astype(int))
    return {k: np.asarray(v)[idx].tolist() for k, v in roc.items()}


class _Stages:
    """A progress bar over named stages that also records each stage's wall time."""

    def __init__(self, stages: list[str], desc: str, progress: bool):
        self.bar = Progress(len(stages), enabled=progress, desc=desc, unit="stage")
        self.timings: dict[str, float] = {}
        self.current: str | None = None
        self.started = time.perf_counter()

    def next(self, label: str | None) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.timings[self.current] = now - self.started
            self.bar.update(1)
        self.current, self.started = label, now
        if label:
            self.bar.report(label)  # the stage starting now

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------- feature extractors


class _Features:
    """A feature extractor applied to images (whole, or one channel at a time)."""

    def __init__(self, fn: FeatureFn | nn.Module, name: str, info: dict[str, Any] | None = None):
        self.fn, self.name, self.info = fn, name, dict(info or {})
        self.input_shape = getattr(fn, "input_shape", None)
        self.per_channel = False

    def fit_to(self, sample_shape: tuple[int, ...], stacked: bool) -> _Features:
        """Check the input shape against the data's; stacked data are read one channel at a time."""
        c, h, w = sample_shape
        want = (1, h, w) if stacked else tuple(sample_shape)
        if self.input_shape is not None and tuple(self.input_shape) != want:
            raise ValueError(
                f"the feature extractor {self.name!r} takes images of shape {tuple(self.input_shape)}, but the "
                f"data's samples have shape {tuple(sample_shape)}"
                + (f" (read one channel at a time: {want})" if stacked else "")
                + "; train a classifier on this data or pass a fitting feature_extractor")
        self.per_channel = stacked
        return self

    @torch.no_grad()
    def __call__(self, x: Tensor, batch_size: int = 500) -> tuple[np.ndarray | None, np.ndarray]:
        """``(labels or None, features)``; stacked: labels ``(n, C)``, features concatenated over channels."""
        if self.per_channel:
            parts = [self._run(x[:, c:c + 1], batch_size) for c in range(x.shape[1])]
            labels = None if parts[0][0] is None else np.stack([p[0] for p in parts], axis=1)  # (n, C)
            return labels, np.concatenate([p[1] for p in parts], axis=1)  # (n, C * d)
        return self._run(x, batch_size)

    def _run(self, x: Tensor, batch_size: int) -> tuple[np.ndarray | None, np.ndarray]:
        module = self.fn if isinstance(self.fn, nn.Module) else None
        param = next(module.parameters(), None) if module is not None else None
        device = param.device if param is not None else torch.device("cpu")
        labels, feats = [], []
        with eval_mode(module):
            for s in range(0, len(x), batch_size):
                batch = x[s:s + batch_size].to(device)
                try:
                    out = self.fn(batch)
                except (RuntimeError, ValueError) as e:
                    raise ValueError(f"the feature extractor {self.name!r} failed on images of shape "
                                     f"{tuple(batch.shape[1:])} ({e})") from e
                logits, f = out if isinstance(out, (tuple, list)) else (None, out)
                feats.append(f.reshape(len(batch), -1).double().cpu())
                if logits is not None:
                    labels.append(logits.argmax(1).cpu())
        return (torch.cat(labels).numpy() if labels else None), torch.cat(feats).numpy()


def make_feature_extractor(
    feature_extractor: Any, data_name: str, sample_shape: tuple[int, ...], stacked: bool, *,
    train: bool, data_dir: str | None, device: torch.device, progress: bool, notes: list[str],
) -> _Features | None:
    """Resolve ``"auto"`` / a classifier name / a path / a module into a checked :class:`_Features`."""
    from .. import classifier as clf

    if feature_extractor is None:
        return None
    if isinstance(feature_extractor, str):
        if feature_extractor == "auto":
            base = clf.CLASSIFIER_FOR.get(data_name)
            if base is None:
                notes.append(f"no domain classifier for {data_name!r}: feature metrics skipped "
                             "(pass feature_extractor / --classifier)")
                return None
        else:
            base = feature_extractor
        if base in clf.CLASSIFIER_DATA:
            model, info = clf.get_classifier(base, data_dir=data_dir, train=train, device=device, progress=progress)
        elif Path(base).exists():
            model, info = clf.load_classifier(base, device)
        else:
            raise ValueError(f"feature_extractor {base!r}: not a classifier name {list(clf.CLASSIFIER_DATA)}, "
                             "'auto', a classifier file or a module")
        keep = ("data", "data_hash", "test_accuracy", "path", "cached")
        return _Features(model, f"classifier:{info['data']}", {k: info.get(k) for k in keep}).fit_to(
            sample_shape, stacked)
    if callable(feature_extractor):
        name = type(feature_extractor).__name__
        return _Features(feature_extractor, name).fit_to(sample_shape, stacked)
    raise ValueError(f"feature_extractor must be 'auto', a classifier name or file, a torch.nn.Module or a "
                     f"callable; got {type(feature_extractor).__name__}")


# --------------------------------------------------------------------------- the metrics


def discriminator_test(
    D: nn.Module, real: Tensor, calib: Tensor, fake: Tensor, *, probabilistic: bool, alpha: float = 0.05,
    labels: tuple[Tensor | None, Tensor | None, Tensor | None] = (None, None, None),
) -> dict[str, Any]:
    r"""The discriminator as a test of H0 "x is real" on held-out real and fresh generated samples.

    Rejecting when the score is low, the ROC traces (Type I error, power) over
    all thresholds and the AUC is :math:`P(D(x^r) > D(x^f))`. For a
    probabilistic objective the scores are :math:`\sigma(\text{logit})` and the
    Type I / II errors at :math:`D = 0.5` are reported
    (:func:`gankit.metrics.hypothesis_test`). A Wasserstein critic's scores are
    unbounded and have no probability scale, so a threshold of 0.5 means
    nothing: its ROC, AUC and Neyman-Pearson power are computed on the raw
    scores (``scores="raw"``),

    .. math::
        t_\alpha = c_{(\lfloor \alpha n_c \rfloor + 1)}, \qquad
        \text{power} = \frac{1}{n_f} \#\{j : f(x^f_j) < t_\alpha\},

    with :math:`c` the critic's scores on ``calib`` (other held-out real samples).

    Args:
        D: the discriminator / critic (raw scores, shape ``(B,)``).
        real: held-out real samples (model units).
        calib: other held-out real samples, to calibrate the level-``alpha`` threshold.
        fake: generated samples (model units).
        probabilistic: the objective's D outputs logits of P(real).
        alpha: level of the test.
        labels: the classes of ``real``, ``calib`` and ``fake``, for a class-conditional D (scored as ``D(x, y)``).

    Returns:
        :func:`gankit.metrics.hypothesis_test`'s dict (``roc`` thinned to
        :data:`ROC_POINTS` points, ``roc_full`` the whole curve, thresholds as
        scores) plus ``scores``
        (``"probability"`` or ``"critic"``), ``n_real``, ``n_calib``,
        ``n_fake`` and ``notes``; for a critic ``type_i``, ``type_ii`` and
        ``threshold`` are None.
    """
    s_real, s_calib, s_fake = (discriminator_scores(D, x, labels=y) for x, y in zip((real, calib, fake), labels,
                                                                                       strict=True))
    sizes = {"n_real": len(s_real), "n_calib": len(s_calib), "n_fake": len(s_fake)}
    if probabilistic:
        res = hypothesis_test(s_real, s_fake, alpha, 0.5, d_calib=s_calib, logits=True)
        res.update(scores="probability", notes=["scores: sigmoid of the discriminator's logit"], **sizes)
        res["roc_full"] = res["roc"]
        res["roc"] = _subsample_roc(res["roc"])
        return res
    res = hypothesis_test(s_real, s_fake, alpha, d_calib=s_calib, scores="raw")
    res.update(
        scores="critic", roc_full=res["roc"], roc=_subsample_roc(res["roc"]),
        notes=["the scores of a Wasserstein critic (or a hinge or least-squares discriminator) are unbounded, not "
               "probabilities: a threshold of 0.5 has no meaning there, so no Type I/II errors at 0.5; ROC, AUC and "
               "the power at alpha use the raw scores"], **sizes)
    return res


def _mixture_metrics(fake_data: np.ndarray, real_data: np.ndarray, mixture) -> dict[str, Any]:
    res = mixture_coverage(fake_data, mixture)
    res["real"] = mixture_coverage(real_data, mixture)
    res["n"], res["n_real"] = len(fake_data), len(real_data)
    return res


def _feature_metrics(f_fake: np.ndarray, f_real: np.ndarray, f_train: np.ndarray, *, kid_subsets: int,
                     seed: int) -> dict[str, Any]:
    m = min(len(f_real), len(f_train))
    res: dict[str, Any] = {
        "n": len(f_fake), "n_real": len(f_real), "dim": f_fake.shape[1],
        "fid": fid(f_fake, f_real),
        "kid": kid(f_fake, f_real, n_subsets=kid_subsets, seed=seed),
        **precision_recall(f_real, f_fake, k=3),
        "k": 3,
    }
    res["real"] = {"fid": fid(f_train[:m], f_real[:m]),
                   "kid": kid(f_train[:m], f_real[:m], n_subsets=kid_subsets, seed=seed),
                   **precision_recall(f_real[:m], f_train[:m], k=3), "n": m,
                   "what": "training vs held-out real features, same sizes"}
    return res


def evaluate_generator(
    G: nn.Module,
    dataset: Dataset,
    *,
    n: int = 2500,
    data: str | None = None,
    data_options: dict[str, Any] | None = None,
    data_dir: str | None = None,
    seed: int = 0,
    discriminator: nn.Module | None = None,
    probabilistic: bool = True,
    noise_dim: int | None = None,
    feature_extractor: Any = "auto",
    train_classifier: bool = True,
    run_c2st: bool = True,
    n_stacked: int = N_STACKED,
    kid_subsets: int = 100,
    alpha: float = 0.05,
    out_dir: str | Path | None = None,
    progress: bool = True,
    cluster_of: Callable[[Tensor], Tensor] | None = None,
) -> dict[str, Any]:
    """Every metric that fits ``dataset``, on ``n`` fresh samples of ``G`` against held-out real data.

    Args:
        G: a generator mapping z ~ N(0, I) to samples in the model's range
            (the range of ``dataset.x``).
        dataset: the training set (its scaler maps to data units, its mixture
            gives the modes).
        n: generated (and held-out real) samples per metric; the pixel-space
            distances of images use at most :data:`IMAGE_DISTANCE_POINTS` of them.
        data: the data set's name or path when it differs from ``dataset.name``.
        data_options: the data set's options as trained (for the fresh held-out draw).
        data_dir: where a named file-based set lives.
        seed: seeds the noise (``seed``), the held-out draw and the metrics' subsets.
        discriminator: the run's discriminator / critic (raw scores), or None to skip the test.
        probabilistic: the discriminator's scores are logits of P(real).
        noise_dim: size of z (default ``G.noise_dim``).
        feature_extractor: images only. ``"auto"`` (the domain classifier of
            the data set, trained and cached when missing unless
            ``train_classifier`` is False), a classifier name or file, None
            (no feature metrics), or any module / callable mapping a batch of
            images in [-1, 1] to ``(logits, features)`` or to features.
        train_classifier: with ``"auto"``, train the domain classifier when none is cached.
        run_c2st: also run the classifier two-sample test (a fresh classifier: a few seconds).
        n_stacked: samples for the stacked-set mode count.
        kid_subsets: subsets of KID.
        alpha: level of the discriminator test.
        out_dir: write figures there (None: no figures).
        progress: show a progress bar over the stages.
        cluster_of: for a generator conditional on clusters of the data (``--clusters``), the cluster of a
            sample (model units): the discriminator scores real samples with their clusters, and the
            class accuracy (which compares the asked class with the data's classes) is left out.

    Returns:
        A JSON-ready dict: ``data``, ``kind``, ``n``, ``held_out``, and per
        metric family ``modes``, ``distances``, ``discriminator``, ``c2st``,
        ``features``, ``classes``, ``stacked`` (those that apply), ``figures``,
        ``timings`` (wall seconds per stage), ``seconds`` (wall time),
        ``cpu_seconds`` (CPU time of the process, all threads) and ``notes``.

    Raises:
        ValueError: bad sizes, a generator whose samples do not have the data's
            shape, a feature extractor whose input shape does not fit the data.
    """
    tic, cpu = time.perf_counter(), time.process_time()
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        raise ValueError(f"n must be an integer >= 4; got {n!r}")
    name = data or dataset.name
    image = dataset.kind == "image"
    stacked = image and dataset.labels is not None and dataset.labels.ndim == 2
    device = next(G.parameters()).device
    notes: list[str] = []
    result: dict[str, Any] = {"data": name, "kind": dataset.kind, "sample_shape": list(dataset.sample_shape),
                              "n": n, "seed": seed}
    stages = ["sample", "held-out data", "distances"]
    stages += ["modes"] if dataset.mixture is not None else []
    stages += ["discriminator"] if discriminator is not None else []
    stages += ["features"] if image and feature_extractor is not None else []
    stages += ["c2st"] if run_c2st else []
    stages += ["figures"] if out_dir is not None else []
    bar = _Stages(stages, f"evaluating on {name}", progress)
    try:
        bar.next("sample")
        n_gen = max(n, n_stacked) if stacked else n
        fake_all, fake_y = generate(G, n_gen, noise_dim=noise_dim, seed=seed, return_labels=True)
        fake_all = fake_all.float().cpu()  # (n_gen, *shape), model units
        fake_y = None if fake_y is None else fake_y.cpu()[:n]  # the classes asked of a conditional G
        if tuple(fake_all.shape[1:]) != dataset.sample_shape:
            raise ValueError(f"the generator makes samples of shape {tuple(fake_all.shape[1:])}, the data "
                             f"{name!r} has {dataset.sample_shape}")
        if not torch.isfinite(fake_all).all():
            raise ValueError("the generator produced NaN or infinite samples")
        fake = fake_all[:n]

        bar.next("held-out data")
        ref = reference_sets(dataset, n, extra=n_stacked if stacked else 0, data=name, options=data_options,
                              data_dir=data_dir, seed=seed)
        real, calib, real_y, train_x = ref["real"], ref["calib"], ref["real_y"], ref["train"]
        ho_x, ho_y = ref["ho_x"], ref["ho_y"]
        notes.append(ref["note"])
        result["held_out"] = {"note": ref["note"], "independent": ref["independent"], "n": len(ho_x),
                              "n_per_set": ref["k"]}
        if ref["k"] < n:
            notes.append(f"{ref['k']} real samples per set (test, calibration, baseline): the data have too few")
        to_data = dataset.scaler.to_data

        bar.next("distances")
        # images: pairwise distances cost O(n^2 d), so at most IMAGE_DISTANCE_POINTS points per set
        max_points = IMAGE_DISTANCE_POINTS if image else 2000
        dist = sample_distances(to_data(real), to_data(fake), held_out=to_data(train_x), max_exact=max_points,
                                seed=seed)
        dist["baseline_is"] = "training samples vs held-out real samples"
        dist["units"] = "data units" + (" (pixels)" if image else "")
        result["distances"] = dist

        if dataset.mixture is not None:
            bar.next("modes")
            result["modes"] = _mixture_metrics(to_data(fake).numpy(), to_data(real).numpy(), dataset.mixture)

        if discriminator is not None:
            bar.next("discriminator")
            labels = (real_y, ref["calib_y"], fake_y) if getattr(discriminator, "n_classes", 0) else (None,) * 3
            if cluster_of is not None and getattr(discriminator, "n_classes", 0):
                labels = (cluster_of(real), cluster_of(calib), fake_y)
            if labels[0] is None and getattr(discriminator, "n_classes", 0):
                notes.append("the held-out data have no labels: the class-conditional discriminator is not tested")
            else:
                result["discriminator"] = discriminator_test(discriminator, real, calib, fake, labels=labels,
                                                             probabilistic=probabilistic, alpha=alpha)

        feats = None
        if image and feature_extractor is not None:
            bar.next("features")
            feats = make_feature_extractor(feature_extractor, name, dataset.sample_shape, stacked,
                                       train=train_classifier, data_dir=data_dir, device=device,
                                       progress=progress, notes=notes)
            if feats is not None:
                result.update(_image_metrics(feats, fake, fake_all, real, real_y, train_x, ho_x, ho_y,
                                             dataset, stacked=stacked, kid_subsets=kid_subsets, seed=seed,
                                             fake_y=None if cluster_of is not None else fake_y))
                if cluster_of is not None:
                    notes.append("conditional on k-means clusters of the data: the class accuracy does not apply "
                                 "(the clusters are not the data's classes)")

        if run_c2st:
            bar.next("c2st")
            if feats is not None:
                space, r_in, f_in = f"{feats.name} features", feats(real)[1], feats(fake)[1]
            else:
                space, r_in, f_in = "samples" + (" (pixels)" if image else ""), to_data(real), to_data(fake)
            result["c2st"] = {**c2st(r_in, f_in, seed=seed), "space": space}

        if out_dir is not None:
            bar.next("figures")
            result["figures"] = evaluation_figures(Path(out_dir), result, dataset, to_data(fake).numpy(),
                                         to_data(real).numpy())
        bar.next(None)
    finally:
        bar.close()
    timings = bar.timings
    result["timings"] = timings
    result["notes"] = notes
    result["seconds"] = time.perf_counter() - tic
    result["cpu_seconds"] = time.process_time() - cpu
    return result


def _image_metrics(feats: _Features, fake, fake_all, real, real_y, train_x, ho_x, ho_y, dataset, *, stacked: bool,
                   kid_subsets: int, seed: int, fake_y: Tensor | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fake_lab, f_fake = feats(fake)
    real_lab, f_real = feats(real)
    _, f_train = feats(train_x)
    out["features"] = {"extractor": feats.name, **feats.info,
                       **_feature_metrics(f_fake, f_real, f_train, kid_subsets=kid_subsets, seed=seed)}
    if fake_lab is None:
        return out
    n_classes = len(dataset.classes) if dataset.classes else int(max(fake_lab.max(), real_lab.max())) + 1
    if stacked:
        all_lab, _ = feats(fake_all)
        ho_lab, _ = feats(ho_x)
        m = min(len(all_lab), len(ho_lab))
        res = stacked_modes(all_lab, n_classes)
        n_modes = res["n_modes"]
        res.update(
            n=len(all_lab),
            expected_modes_uniform=n_modes * (1 - (1 - 1 / n_modes) ** len(all_lab)),
            real={**stacked_modes(ho_lab[:m], n_classes), "n": m},
            channel_histograms=[np.bincount(all_lab[:, c], minlength=n_classes) / len(all_lab)
                                for c in range(all_lab.shape[1])],
            data_channel_histograms=None if ho_y is None else
            [np.bincount(ho_y[:m, c].numpy(), minlength=n_classes) / m for c in range(ho_y.shape[1])],
        )
        if ho_y is not None:
            res["classifier_accuracy_on_real"] = float((ho_lab[:m] == ho_y[:m].numpy()).mean())
        out["stacked"] = res
        return out
    ref = None if real_y is None else real_y.numpy()
    cov = class_coverage(fake_lab, n_classes, ref)
    cls: dict[str, Any] = {
        "n": len(fake_lab), "n_classes": n_classes, "classes": list(dataset.classes or []),
        "histogram": cov["histogram"], "classes_covered": cov["classes_covered"], "kl_to_data": cov["kl_to_data"],
        "data_histogram": np.bincount(ref, minlength=n_classes) / len(ref) if ref is not None else None,
        "reference": "true labels of the held-out real samples" if ref is not None else "uniform",
    }
    real_cov = class_coverage(real_lab, n_classes, ref)
    cls["real"] = {"classes_covered": real_cov["classes_covered"], "kl_to_data": real_cov["kl_to_data"],
                   "what": "classifier's labels of held-out real samples"}
    if ref is not None:
        cls["classifier_accuracy_on_real"] = float((real_lab == ref).mean())
    out["classes"] = cls
    if fake_y is not None:
        out["conditional"] = conditional_metrics(fake_lab, fake_y.numpy(), f_fake, f_real, ref, n_classes,
                                                 list(dataset.classes or []))
    return out


#: Fewest samples of a class (generated and real) for its own FID, precision and recall.
MIN_PER_CLASS = 20


def conditional_metrics(predicted: np.ndarray, asked: np.ndarray, f_fake: np.ndarray, f_real: np.ndarray,
                        real_y: np.ndarray | None, n_classes: int, names: list[str]) -> dict[str, Any]:
    r"""How well a class-conditional generator gives the class it is asked for, overall and per class.

    ``accuracy`` is the share of generated samples the domain classifier puts in
    the class they were generated for,

    .. math::
        \text{acc} = \frac{1}{n} \sum_i \mathbb 1\{\hat c(G(z_i, y_i)) = y_i\},

    whose ceiling is the classifier's own accuracy on real test images
    (``classifier_accuracy_on_real``). Per class: that accuracy, and where both
    sides have at least :data:`MIN_PER_CLASS` samples, FID, precision and recall
    of the class's generated samples against the real ones of the same class.
    """
    per: list[dict[str, Any]] = []
    for c in range(n_classes):
        mine = asked == c
        if not mine.any():
            continue
        entry: dict[str, Any] = {"class": c, "name": names[c] if c < len(names) else str(c), "n": int(mine.sum()),
                                 "accuracy": float((predicted[mine] == c).mean())}
        if real_y is not None:
            theirs = real_y == c
            if mine.sum() >= MIN_PER_CLASS and theirs.sum() >= MIN_PER_CLASS:
                entry["fid"] = fid(f_fake[mine], f_real[theirs])
                entry.update(precision_recall(f_real[theirs], f_fake[mine], k=3))
        per.append(entry)
    return {"accuracy": float((predicted == asked).mean()), "n": len(asked), "per_class": per,
            "what": "the domain classifier's class of each generated sample against the class it was asked for"}




# --------------------------------------------------------------------------- run folders


def evaluate_run(
    run_dir: str | Path,
    n: int = 2500,
    *,
    seed: int = 0,
    device: str = "auto",
    feature_extractor: Any = "auto",
    train_classifier: bool = True,
    run_c2st: bool = True,
    n_stacked: int = N_STACKED,
    kid_subsets: int = 100,
    figures: bool = True,
    write: bool = True,
    progress: bool = True,
    raw: bool = False,
) -> dict[str, Any]:
    """Evaluate the generator of a run folder; write ``eval.json`` and figures into it.

    A run trained with a generator EMA is evaluated on its averaged generator
    unless ``raw``; the result says which (``generator``: ``ema`` or ``raw``).

    The data set is rebuilt from the run's config (name, options, seed); the
    discriminator of the checkpoint is tested as a hypothesis test. See
    :func:`evaluate_generator` for the arguments and the metrics.

    Raises:
        FileNotFoundError: the folder has no generator checkpoint.
        ValueError: the data no longer have the shape the run was trained on.
    """
    from ..objectives import get_objective
    from ..training import load_generator, resolve_objective

    tic, cpu = time.perf_counter(), time.process_time()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    if write:  # before the work: a result that cannot be written is not computed
        check_writable(run_dir / EVAL_FILE, f"eval {run_dir}")
    G, info = load_generator(run_dir, device=device, raw=raw)
    cfg = info["config"]
    dataset = load_dataset(cfg.data, data_dir=cfg.data_dir, options=cfg.data_options, seed=cfg.seed)
    if dataset.sample_shape != tuple(info["sample_shape"]):
        raise ValueError(f"{run_dir}: the run was trained on samples of shape {tuple(info['sample_shape'])}, "
                         f"but data {cfg.data!r} now has {dataset.sample_shape}")
    probabilistic = get_objective(resolve_objective(cfg.objective)).probabilistic
    clusters = Clusters.from_state(info["clusters"]) if info.get("clusters") else None
    result = evaluate_generator(
        G, dataset, n=n, data=cfg.data, data_options=cfg.data_options, data_dir=cfg.data_dir,
        seed=seed, discriminator=info["discriminator"], probabilistic=probabilistic, noise_dim=cfg.noise_dim,
        feature_extractor=feature_extractor, train_classifier=train_classifier, run_c2st=run_c2st,
        n_stacked=n_stacked, kid_subsets=kid_subsets, out_dir=run_dir if figures else None, progress=progress,
        cluster_of=None if clusters is None else clusters.assign,
    )
    result = {"run": str(run_dir), "step": info["step"], "objective": cfg.objective,
              "generator": "ema" if info["ema"] else "raw", **result}
    result["seconds"] = time.perf_counter() - tic  # loading the run and the data included
    result["cpu_seconds"] = time.process_time() - cpu
    if write:
        write_text(run_dir / EVAL_FILE, json.dumps(to_json(result), indent=1) + "\n")
    return result


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a result (``eval.json``): full ROC curves dropped, non-finite numbers as strings."""
    clean = dict(result)
    if "discriminator" in clean:
        clean["discriminator"] = {k: v for k, v in clean["discriminator"].items() if k != "roc_full"}
    return jsonable(clean)


