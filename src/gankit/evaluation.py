r"""Evaluate a trained generator: the metrics that fit its data, figures, ``eval.json``.

``gankit eval RUN`` (or :func:`evaluate_run`) draws ``n`` fresh samples from
the run's generator and compares them with *held-out* real samples:

* Gaussian mixtures with known modes (``ring``, ``grid``, the 1-D mixtures):
  modes captured, fraction of high-quality samples and reverse KL
  (:func:`gankit.metrics.mode_coverage`, the VEEGAN / PacGAN protocol on 2,500
  samples). The published variants are data options of ``ring``:

  ========================  ============================================  ============================
  variant                   generating distribution                       ``--data-option``
  ========================  ============================================  ============================
  PacGAN 2D-ring (default)  8 modes, radius 1, std 0.01                   (none)
  VEEGAN 2D-ring            8 modes, radius 2, std 0.02                   ``radius=2 std=0.02``
  WGAN-GP "8 Gaussians"     radius 2, std 0.02, all scaled by 1/1.414     ``radius=1.4142 std=0.014142``
  PacGAN 2D-grid            25 modes at {-4,-2,0,2,4}^2, std 0.05         ``--data grid``
  ========================  ============================================  ============================

* every data set: distances between generated and held-out real samples
  (Wasserstein-1/2, energy distance, MMD; :func:`gankit.metrics.sample_distances`)
  next to the real-vs-real baseline (training samples vs held-out ones);
* the run's discriminator as a test of H0 "x is real"
  (:func:`gankit.metrics.hypothesis_test`): Type I / II errors at D = 0.5, ROC,
  AUC and the power at level alpha = 0.05 calibrated on other held-out real
  samples; a Wasserstein critic has no probabilities, so only its ROC, AUC and
  calibrated power are reported, on its raw scores; and a classifier two-sample
  test (:func:`gankit.metrics.c2st`) with a freshly trained classifier;
* images: FID, KID and improved precision / recall (k = 3) on the features of
  a domain classifier (:mod:`gankit.classifier`; Inception weights are not
  available offline), the histogram of predicted classes and its KL to the
  data's, and for the stacked sets the number of modes captured out of 1000
  (:func:`gankit.metrics.stacked_modes`, 26,000 samples as in PacGAN).

Held-out data: toy distributions and stacked sets are drawn afresh with another
seed; Fashion-MNIST uses its test split; the 8x8 digits and file data have no
split the trainer left out, so a random part of the training data stands in
(``eval.json`` notes it). Every result states its sample sizes.

During training, :func:`make_eval_callback` adds a few cheap metrics
(``eval/modes``, ``eval/w1``, ``eval/fid``, ...) to ``metrics.jsonl`` every
``eval_every`` iterations.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor, nn

from . import viz
from .data import Dataset, load_dataset
from .data.datasets import DATASETS, dataset_options
from .metrics import (
    c2st,
    class_coverage,
    fid,
    hypothesis_test,
    kid,
    mode_coverage,
    precision_recall,
    roc_auc,
    sample_distances,
    stacked_modes,
)

log = logging.getLogger(__name__)

#: Samples used for the Stacked MNIST mode count (PacGAN's protocol).
N_STACKED = 26_000
#: Seed offset of the fresh draw of a generated data set used as held-out data.
HELD_OUT_SEED_OFFSET = 1_000_003
#: Largest number of images per set for the pixel-space distances (their cost is O(n^2 d)).
IMAGE_DISTANCE_POINTS = 1000
#: Points kept of the ROC curve in ``eval.json`` (the figure uses all).
ROC_POINTS = 201
EVAL_FILE = "eval.json"

FeatureFn = Callable[[Tensor], tuple[Tensor | None, Tensor]]


# --------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    """numpy / torch values to plain JSON; non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.detach().cpu().numpy())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@torch.no_grad()
def generate(G: nn.Module, n: int, *, noise_dim: int | None = None, seed: int = 0, batch_size: int = 1024) -> Tensor:
    """``n`` samples of ``G`` (model units, on the CPU) from noise z ~ N(0, I) seeded with ``seed``.

    ``G`` is put in eval mode for the call and restored after it.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    noise_dim = noise_dim or getattr(G, "noise_dim", None)
    if noise_dim is None:
        raise ValueError("the generator has no noise_dim attribute; pass noise_dim")
    device = next(G.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    was_training = G.training
    G.eval()
    try:
        chunks = [G(torch.randn(min(batch_size, n - s), noise_dim, device=device, generator=g)).float().cpu()
                  for s in range(0, n, batch_size)]
    finally:
        G.train(was_training)
    return torch.cat(chunks)


@torch.no_grad()
def _scores(D: nn.Module, x: Tensor, batch_size: int = 1024) -> np.ndarray:
    """Raw discriminator outputs on ``x`` (eval mode), float64 ``(n,)``."""
    device = next(D.parameters()).device
    was_training = D.training
    D.eval()
    try:
        out = [D(x[s:s + batch_size].to(device)).reshape(-1).double().cpu() for s in range(0, len(x), batch_size)]
    finally:
        D.train(was_training)
    return torch.cat(out).numpy()


def _subsample_roc(roc: dict[str, np.ndarray], points: int = ROC_POINTS) -> dict[str, list[float]]:
    idx = np.unique(np.linspace(0, len(roc["fpr"]) - 1, points).round().astype(int))
    return {k: np.asarray(v)[idx].tolist() for k, v in roc.items()}


class _Stages:
    """A progress bar over named stages that also records each stage's wall time."""

    def __init__(self, stages: list[str], desc: str, progress: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=len(stages), disable=not progress, desc=desc, unit="stage", dynamic_ncols=True)
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
            self.bar.set_postfix_str(label, refresh=True)

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------- held-out data


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
      seed ``seed + HELD_OUT_SEED_OFFSET`` (stacked Fashion-MNIST also from the
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
        seed: the evaluation's seed (the fresh draw uses ``seed + HELD_OUT_SEED_OFFSET``).

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
            ho = load_dataset(name, data_dir=data_dir, options=fresh, seed=seed + HELD_OUT_SEED_OFFSET)
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
            return ho.x[idx], labels, f"held-out real data: {what} ({min(n, len(ho))} samples)", True
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed + 7))[:n]
    labels = None if dataset.labels is None else dataset.labels[idx]
    note = (f"held-out real data: {len(idx)} random training samples ({name} has no split the trainer left "
            "out), so real-vs-real numbers are optimistic")
    return dataset.x[idx], labels, note, False


def _reference_sets(dataset: Dataset, n: int, *, extra: int = 0, data: str | None, options: dict[str, Any] | None,
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
        train = dataset.x[torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed + 11))[:k]]
    else:
        train = ho_x[2 * k:3 * k]
    return {"real": ho_x[:k], "real_y": None if ho_y is None else ho_y[:k], "calib": ho_x[k:2 * k],
            "train": train, "ho_x": ho_x, "ho_y": ho_y, "note": note, "independent": independent, "k": k}


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
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        labels, feats = [], []
        try:
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
        finally:
            if module is not None:
                module.train(was_training)
        return (torch.cat(labels).numpy() if labels else None), torch.cat(feats).numpy()


def _feature_extractor(
    feature_extractor: Any, data_name: str, sample_shape: tuple[int, ...], stacked: bool, *,
    train: bool, data_dir: str | None, device: torch.device, progress: bool, notes: list[str],
) -> _Features | None:
    """Resolve ``"auto"`` / a classifier name / a path / a module into a checked :class:`_Features`."""
    from . import classifier as clf

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
) -> dict[str, Any]:
    r"""The discriminator as a test of H0 "x is real" on held-out real and fresh generated samples.

    Rejecting when the score is low, the ROC traces (Type I error, power) over
    all thresholds and the AUC is :math:`P(D(x^r) > D(x^f))`. For a
    probabilistic objective the scores are :math:`\sigma(\text{logit})` and the
    Type I / II errors at :math:`D = 0.5` are reported
    (:func:`gankit.metrics.hypothesis_test`). A Wasserstein critic's scores are
    unbounded and have no probability scale, so a threshold of 0.5 means
    nothing: its ROC, AUC and Neyman-Pearson power are computed on the raw
    scores (through their ranks, which preserves every threshold),

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

    Returns:
        :func:`gankit.metrics.hypothesis_test`'s dict (``roc`` thinned to
        :data:`ROC_POINTS` points, ``roc_full`` the whole curve, thresholds as
        scores) plus ``scores``
        (``"probability"`` or ``"critic"``), ``n_real``, ``n_calib``,
        ``n_fake`` and ``notes``; for a critic ``type_i``, ``type_ii`` and
        ``threshold`` are None.
    """
    s_real, s_calib, s_fake = _scores(D, real), _scores(D, calib), _scores(D, fake)
    sizes = {"n_real": len(s_real), "n_calib": len(s_calib), "n_fake": len(s_fake)}
    if probabilistic:
        res = hypothesis_test(s_real, s_fake, alpha, 0.5, d_calib=s_calib, logits=True)
        res.update(scores="probability", notes=["scores: sigmoid of the discriminator's logit"], **sizes)
        res["roc_full"] = res["roc"]
        res["roc"] = _subsample_roc(res["roc"])
        return res
    pooled = np.concatenate([s_real, s_calib, s_fake])
    u = rankdata(pooled) / (len(pooled) + 1)  # order-preserving map into (0, 1), ties kept
    to_raw = dict(zip(u.tolist(), pooled.tolist(), strict=True))
    u_real, u_calib = u[:len(s_real)], u[len(s_real):len(s_real) + len(s_calib)]
    u_fake = u[len(s_real) + len(s_calib):]
    res = hypothesis_test(u_real, u_fake, alpha, 0.5, d_calib=u_calib)
    roc = res["roc"]
    roc["thresholds"] = np.array([to_raw.get(t, math.inf) for t in roc["thresholds"].tolist()])
    res.update(
        type_i=None, type_ii=None, threshold=None, threshold_alpha=to_raw[res["threshold_alpha"]],
        scores="critic", roc_full=roc, roc=_subsample_roc(roc),
        notes=["the scores of a Wasserstein critic (or hinge discriminator) are unbounded, not probabilities: a "
               "threshold of 0.5 has no meaning there, so no Type I/II errors at 0.5; ROC, AUC and the power at "
               "alpha use the raw scores"], **sizes)
    return res


def _mixture_metrics(fake_data: np.ndarray, real_data: np.ndarray, mixture) -> dict[str, Any]:
    res = mode_coverage(fake_data, mixture.means, mixture.stds)
    res["real"] = mode_coverage(real_data, mixture.means, mixture.stds)
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
        fake_all = generate(G, n_gen, noise_dim=noise_dim, seed=seed)  # (n_gen, *shape), model units
        if tuple(fake_all.shape[1:]) != dataset.sample_shape:
            raise ValueError(f"the generator makes samples of shape {tuple(fake_all.shape[1:])}, the data "
                             f"{name!r} has {dataset.sample_shape}")
        if not torch.isfinite(fake_all).all():
            raise ValueError("the generator produced NaN or infinite samples")
        fake = fake_all[:n]

        bar.next("held-out data")
        ref = _reference_sets(dataset, n, extra=n_stacked if stacked else 0, data=name, options=data_options,
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
            result["discriminator"] = discriminator_test(discriminator, real, calib, fake,
                                                         probabilistic=probabilistic, alpha=alpha)

        feats = None
        if image and feature_extractor is not None:
            bar.next("features")
            feats = _feature_extractor(feature_extractor, name, dataset.sample_shape, stacked,
                                       train=train_classifier, data_dir=data_dir, device=device,
                                       progress=progress, notes=notes)
            if feats is not None:
                result.update(_image_metrics(feats, fake, fake_all, real, real_y, train_x, ho_x, ho_y,
                                             dataset, stacked=stacked, kid_subsets=kid_subsets, seed=seed))

        if run_c2st:
            bar.next("c2st")
            if feats is not None:
                space, r_in, f_in = f"{feats.name} features", feats(real)[1], feats(fake)[1]
            else:
                space, r_in, f_in = "samples" + (" (pixels)" if image else ""), to_data(real), to_data(fake)
            result["c2st"] = {**c2st(r_in, f_in, seed=seed), "space": space}

        if out_dir is not None:
            bar.next("figures")
            result["figures"] = _figures(Path(out_dir), result, dataset, to_data(fake).numpy(),
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
                   kid_subsets: int, seed: int) -> dict[str, Any]:
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
    return out


# --------------------------------------------------------------------------- figures


def _figures(out: Path, result: dict[str, Any], dataset: Dataset, fake: np.ndarray, real: np.ndarray) -> list[str]:
    paths: list[Path] = []
    disc = result.get("discriminator")
    if disc is not None:
        paths.append(_roc_figure(out / "eval_roc.png", disc))
    if dataset.kind == "image":
        scaler = dataset.scaler
        peak = scaler.loc[0] + scaler.scale[0]  # data units of the model's +1
        paths.append(viz.save_image_grid(np.clip(fake[:64] / peak, 0, 1), out / "eval_samples.png", nrow=8, scale=2))
        if "classes" in result or "stacked" in result:
            paths.append(_class_figure(out / "eval_classes.png", result, dataset))
    else:
        paths.append(_points_figure(out / ("eval_modes.png" if dataset.mixture is not None else "eval_samples.png"),
                                    result, dataset, fake, real))
    return [p.name for p in paths]


def _roc_figure(path: Path, disc: dict[str, Any]) -> Path:
    roc = disc["roc_full"]
    fig = viz.new_figure(4.6, 4.4)
    ax = fig.add_subplot()
    who = "discriminator" if disc["scores"] == "probability" else "critic (raw scores)"
    ax.plot(roc["fpr"], roc["tpr"], lw=1.6, label=f"{who}, AUC = {disc['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
    a = disc["alpha"]
    ax.axvline(a, c="#d62728", lw=0.8, ls=":")
    ax.scatter([disc["type_i_at_alpha"]], [disc["power_at_alpha"]], c="#d62728", zorder=3,
               label=f"level {a:g}: power {disc['power_at_alpha']:.3f}")
    if disc.get("type_i") is not None:
        ax.scatter([disc["type_i"]], [1 - disc["type_ii"]], marker="s", c="black", zorder=3,
                   label=f"D = 0.5: type I {disc['type_i']:.3f}, type II {disc['type_ii']:.3f}")
    ax.set_xlabel("type I error (real rejected)")
    ax.set_ylabel("power (generated rejected)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"the {'discriminator' if disc['scores'] == 'probability' else 'critic'} as a test of "
                 "H0: x is real", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    return viz.save(fig, path)


def _points_figure(path: Path, result: dict[str, Any], dataset: Dataset, fake: np.ndarray, real: np.ndarray) -> Path:
    fig = viz.new_figure(5.2, 5.0)
    ax = fig.add_subplot()
    modes = result.get("modes")
    mix = dataset.mixture
    if fake.shape[1] == 1:
        lo, hi = np.percentile(np.concatenate([real[:, 0], fake[:, 0]]), [0.5, 99.5])
        bins = np.linspace(lo, hi, 80)
        ax.hist(real[:, 0], bins=bins, density=True, alpha=0.4, color="black", label="held-out real")
        ax.hist(fake[:, 0], bins=bins, density=True, alpha=0.5, color="#ff7f0e", label="generated")
        if modes is not None:
            for mu, c in zip(mix.means[:, 0], modes["counts"], strict=True):
                ax.axvline(mu, color="#2ca02c" if c else "#d62728", lw=1.2)
    else:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="black", alpha=0.25, label="held-out real")
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="#ff7f0e", alpha=0.5, label="generated")
        if modes is not None and mix.means.shape[1] == 2:
            captured = np.asarray(modes["counts"]) > 0
            for (mx, my), sd, ok in zip(mix.means, mix.stds, captured, strict=True):
                ax.add_patch(_circle((mx, my), 3 * sd, "#2ca02c" if ok else "#d62728"))
            ax.scatter(*mix.means[captured].T, marker="+", s=40, c="#2ca02c", label="mode captured (3 std circle)")
            ax.scatter(*mix.means[~captured].T, marker="x", s=40, c="#d62728", label="mode missed")
        ax.set_aspect("equal", adjustable="datalim")
    title = f"{result['n']} samples"
    if modes is not None:
        title += (f": {modes['modes']}/{modes['n_modes']} modes, {100 * modes['high_quality']:.1f}% high quality, "
                  f"reverse KL {modes['reverse_kl']:.3f}")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper right", fontsize=7)
    return viz.save(fig, path)


def _circle(center, radius, color):
    from matplotlib.patches import Circle

    return Circle(center, radius, fill=False, ec=color, lw=1.0)


def _class_figure(path: Path, result: dict[str, Any], dataset: Dataset) -> Path:
    if "stacked" in result:
        st = result["stacked"]
        hists = list(zip(st["channel_histograms"], st["data_channel_histograms"] or [None] * 3, strict=False))
        titles = [f"channel {c}" for c in range(len(hists))]
        suptitle = (f"{st['modes']}/{st['n_modes']} modes, reverse KL {st['reverse_kl']:.3f} "
                    f"({st['n']} samples; real: {st['real']['modes']})")
    else:
        cl = result["classes"]
        hists = [(cl["histogram"], cl["data_histogram"])]
        titles = [f"{cl['classes_covered']}/{cl['n_classes']} classes covered, KL to data {cl['kl_to_data']:.3f}"]
        suptitle = ""
    classes = list(dataset.classes or [str(i) for i in range(len(hists[0][0]))])
    fig = viz.new_figure(max(5.0, 3.4 * len(hists)), 3.6)
    axes = fig.subplots(1, len(hists), squeeze=False)[0]
    x = np.arange(len(classes))
    for ax, (h, d), t in zip(axes, hists, titles, strict=True):
        ax.bar(x - 0.2, h, width=0.4, color="#ff7f0e", label="generated")
        if d is not None:
            ax.bar(x + 0.2, d, width=0.4, color="black", alpha=0.6, label="data")
        ax.set_xticks(x)
        ax.set_xticklabels(classes, rotation=60, fontsize=7, ha="right")
        ax.set_title(t, fontsize=8)
        ax.legend(fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return viz.save(fig, path)


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
) -> dict[str, Any]:
    """Evaluate the generator of a run folder; write ``eval.json`` and figures into it.

    The data set is rebuilt from the run's config (name, options, seed); the
    discriminator of the checkpoint is tested as a hypothesis test. See
    :func:`evaluate_generator` for the arguments and the metrics.

    Raises:
        FileNotFoundError: the folder has no generator checkpoint.
        ValueError: the data no longer have the shape the run was trained on.
    """
    from .objectives import get_objective
    from .training import load_generator, resolve_objective

    tic, cpu = time.perf_counter(), time.process_time()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    G, info = load_generator(run_dir, device=device)
    cfg = info["config"]
    dataset = load_dataset(cfg.data, data_dir=cfg.data_dir, options=cfg.data_options, seed=cfg.seed)
    if dataset.sample_shape != tuple(info["sample_shape"]):
        raise ValueError(f"{run_dir}: the run was trained on samples of shape {tuple(info['sample_shape'])}, "
                         f"but data {cfg.data!r} now has {dataset.sample_shape}")
    probabilistic = get_objective(resolve_objective(cfg.objective)).probabilistic
    result = evaluate_generator(
        G, dataset, n=n, data=cfg.data, data_options=cfg.data_options, data_dir=cfg.data_dir,
        seed=seed, discriminator=info["discriminator"], probabilistic=probabilistic, noise_dim=cfg.noise_dim,
        feature_extractor=feature_extractor, train_classifier=train_classifier, run_c2st=run_c2st,
        n_stacked=n_stacked, kid_subsets=kid_subsets, out_dir=run_dir if figures else None, progress=progress,
    )
    result = {"run": str(run_dir), "step": info["step"], "objective": cfg.objective, **result}
    result["seconds"] = time.perf_counter() - tic  # loading the run and the data included
    result["cpu_seconds"] = time.process_time() - cpu
    if write:
        (run_dir / EVAL_FILE).write_text(json.dumps(to_json(result), indent=1) + "\n")
    return result


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a result (``eval.json``): full ROC curves dropped, non-finite numbers as strings."""
    clean = dict(result)
    if "discriminator" in clean:
        clean["discriminator"] = {k: v for k, v in clean["discriminator"].items() if k != "roc_full"}
    return _jsonable(clean)


# --------------------------------------------------------------------------- the table


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return f"{x:.4g}"


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: metric, generated, real-vs-real baseline."""
    rows: list[tuple[str, Any, Any]] = []
    if "modes" in result:
        m, r = result["modes"], result["modes"]["real"]
        rows += [(f"modes captured (of {m['n_modes']})", m["modes"], r["modes"]),
                 ("high-quality samples (< 3 std)", m["high_quality"], r["high_quality"]),
                 ("reverse KL to uniform modes (nats)", m["reverse_kl"], r["reverse_kl"])]
    dist = result.get("distances", {})
    for key, label in (("w1", "Wasserstein-1"), ("w2", "Wasserstein-2"), ("energy", "energy distance^2"),
                       ("mmd", "MMD^2 (RBF)")):
        if key in dist:
            method = f" ({dist[key]['method']})" if "method" in dist[key] else ""
            rows.append((f"{label}{method}", dist[key]["value"], dist[key]["baseline"]))
    d = result.get("discriminator")
    if d is not None:
        who = "D" if d["scores"] == "probability" else "critic"
        rows.append((f"{who}: AUC real vs generated", d["auc"], None))
        if d.get("type_i") is not None:
            rows += [(f"{who}: type I error at D = 0.5", d["type_i"], None),
                     (f"{who}: type II error at D = 0.5", d["type_ii"], None)]
        rows += [(f"{who}: power at alpha = {d['alpha']:g}", d["power_at_alpha"], None),
                 (f"{who}: type I at calibrated threshold", d["type_i_at_alpha"], None)]
    c = result.get("c2st")
    if c is not None:
        rows += [(f"C2ST accuracy ({c['space']})", c["accuracy"], None), ("C2ST p-value", c["p_value"], None)]
    f = result.get("features")
    if f is not None:
        r = f["real"]
        rows += [(f"FID ({f['extractor']})", f["fid"], r["fid"]),
                 ("KID mean", f["kid"]["mean"], r["kid"]["mean"]), ("KID std", f["kid"]["std"], r["kid"]["std"]),
                 ("precision (k=3)", f["precision"], r["precision"]), ("recall (k=3)", f["recall"], r["recall"])]
    cl = result.get("classes")
    if cl is not None:
        rows += [(f"classes covered (of {cl['n_classes']})", cl["classes_covered"], cl["real"]["classes_covered"]),
                 ("KL(class histogram || data)", cl["kl_to_data"], cl["real"]["kl_to_data"])]
    st = result.get("stacked")
    if st is not None:
        rows += [(f"stacked modes (of {st['n_modes']}, n={st['n']})", st["modes"], st["real"]["modes"]),
                 ("KL(mode histogram || uniform)", st["reverse_kl"], st["real"]["reverse_kl"])]
    width = max([len(r[0]) for r in rows] + [10])
    lines = [f"{'metric':<{width}}  {'generated':>12}  {'real':>12}", "-" * (width + 28)]
    lines += [f"{label:<{width}}  {_fmt(a):>12}  {_fmt(b):>12}" for label, a, b in rows]
    head = f"{result.get('run', result['data'])}: {result['n']} samples"
    if "step" in result:
        head += f", iteration {result['step']}"
    lines = [head, *lines, "(real: modes and classes of held-out real samples; distances, FID, KID, precision, "
                           "recall between training and held-out real samples)",
             f"(eval took {result['seconds']:.1f} s wall, {result.get('cpu_seconds', float('nan')):.1f} s CPU)"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- during training


def make_eval_callback(
    trainer_or_config: Any,
    *,
    every: int | None = None,
    n: int = 500,
    seed: int = 0,
    feature_extractor: Any = "auto",
    train_classifier: bool = True,
) -> Callable[[Any, dict[str, Any]], None]:
    """A training callback adding cheap evaluation metrics to the logged record every ``every`` iterations.

    At a logging step whose ``record["step"]`` is a multiple of ``every``
    (default: the config's ``eval_every``), it draws ``n`` samples from its
    own seeded noise (the training's random streams are untouched) and adds:

    * ``eval/w1`` and ``eval/w1_baseline``: Wasserstein-1 between generated and
      held-out real samples (data units; exact up to 16 dimensions, sliced above)
      and between training and held-out real samples;
    * mixtures: ``eval/modes``, ``eval/high_quality``, ``eval/reverse_kl``
      (None when no sample is of high quality);
    * ``eval/auc``: the discriminator's AUC, held-out real vs generated;
    * images with a domain classifier: ``eval/fid``, ``eval/classes_covered``,
      ``eval/kl_classes``; stacked sets: ``eval/modes``, ``eval/reverse_kl``
      (on ``n`` samples, not the protocol's 26,000).

    Evaluation happens only at logging steps, so ``every`` should be a
    multiple of ``log_every``.

    Args:
        trainer_or_config: the :class:`~gankit.training.Trainer` or its
            :class:`~gankit.config.TrainConfig`.
        every: iterations between evaluations (default ``config.eval_every``).
        n: samples per evaluation.
        seed: seeds the evaluation noise and the held-out draw.
        feature_extractor: images: as in :func:`evaluate_generator`.
        train_classifier: train the domain classifier once when none is cached.

    Returns:
        ``fn(trainer, record)``.
    """
    config = getattr(trainer_or_config, "config", trainer_or_config)
    every = config.eval_every if every is None else every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every (eval_every) must be an integer >= 1; got {every!r}")
    if n < 4:
        raise ValueError(f"n must be >= 4; got {n}")
    if every % config.log_every:
        log.warning("eval_every=%d is not a multiple of log_every=%d: evaluation runs only at logging steps "
                    "that are multiples of %d", every, config.log_every, every)
    state: dict[str, Any] = {}

    def setup(trainer) -> None:
        ds = trainer.dataset
        ref = _reference_sets(ds, n, data=trainer.config.data, options=trainer.config.data_options,
                              data_dir=trainer.config.data_dir, seed=seed)
        state["real"], state["calib"], state["real_y"], train_x = ref["real"], ref["calib"], ref["real_y"], ref["train"]
        to_data = ds.scaler.to_data
        state["baseline"] = sample_distances(to_data(state["real"]), to_data(state["real"]),
                                             held_out=to_data(train_x), metrics=("w1",), seed=seed)["w1"]["baseline"]
        state["feats"] = None
        if ds.kind == "image" and feature_extractor is not None:
            stacked = ds.labels is not None and ds.labels.ndim == 2
            feats = _feature_extractor(feature_extractor, trainer.config.data, ds.sample_shape, stacked,
                                       train=train_classifier, data_dir=trainer.config.data_dir,
                                       device=trainer.device, progress=False, notes=[])
            if feats is not None:
                state["feats"], state["stacked"] = feats, stacked
                state["f_real"] = feats(state["real"])[1]

    def callback(trainer, record: dict[str, Any]) -> None:
        if record["step"] % every:
            return
        if not state:
            setup(trainer)
        ds = trainer.dataset
        fake = generate(trainer.G, len(state["real"]), noise_dim=trainer.config.noise_dim,
                        seed=seed + record["step"])
        to_data = ds.scaler.to_data
        w1 = sample_distances(to_data(state["real"]), to_data(fake), held_out=to_data(state["real"]),
                              metrics=("w1",), seed=seed)["w1"]["value"]
        out: dict[str, Any] = {"eval/w1": w1, "eval/w1_baseline": state["baseline"]}
        if ds.mixture is not None:
            mc = mode_coverage(to_data(fake).numpy(), ds.mixture.means, ds.mixture.stds)
            out.update({"eval/modes": mc["modes"], "eval/high_quality": mc["high_quality"],
                        "eval/reverse_kl": _finite_or_none(mc["reverse_kl"])})
        d_real, d_fake = _scores(trainer.D, state["real"]), _scores(trainer.D, fake)
        u = rankdata(np.concatenate([d_real, d_fake])) / (len(d_real) + len(d_fake) + 1)  # ranks keep the AUC
        out["eval/auc"] = roc_auc(u[:len(d_real)], u[len(d_real):])
        feats = state.get("feats")
        if feats is not None:
            labels, f_fake = feats(fake)
            out["eval/fid"] = fid(f_fake, state["f_real"])
            n_classes = len(ds.classes) if ds.classes else 10
            if labels is not None and state["stacked"]:
                sm = stacked_modes(labels, n_classes)
                out.update({"eval/modes": sm["modes"], "eval/reverse_kl": _finite_or_none(sm["reverse_kl"])})
            elif labels is not None:
                ref = None if state["real_y"] is None else state["real_y"].numpy()
                cov = class_coverage(labels, n_classes, ref)
                out.update({"eval/classes_covered": cov["classes_covered"],
                            "eval/kl_classes": _finite_or_none(cov["kl_to_data"])})
        record.update(out)

    return callback


# --------------------------------------------------------------------------- command line


def _cmd_eval(args: argparse.Namespace) -> int:
    fe: Any = "auto"
    if args.classifier:
        fe = None if args.classifier == "none" else args.classifier
    result = evaluate_run(args.run, n=args.n, seed=args.seed, device=args.device, feature_extractor=fe,
                          train_classifier=not args.no_train_classifier, run_c2st=not args.no_c2st,
                          n_stacked=args.n_stacked, figures=not args.no_figures, progress=not args.quiet)
    print(format_table(result))
    for note in result["notes"]:
        print(f"note: {note}")
    files = [EVAL_FILE, *result.get("figures", [])]
    print(f"wrote into {args.run}: {' '.join(files)}")
    return 0


_EVAL_EPILOG = """\
metrics by data:
  mixtures (ring, grid, gaussian-1d, mixture-1d): modes captured, high-quality %, reverse KL
    (VEEGAN/PacGAN protocol). Published ring variants as data options of the training run:
    PacGAN (default): radius 1, std 0.01; VEEGAN: --data-option radius=2 --data-option std=0.02;
    WGAN-GP toy (radius 2, std 0.02, scaled by 1/1.414): --data-option radius=1.4142 --data-option std=0.014142.
    PacGAN grid: --data grid (25 modes, std 0.05).
  every data set: W1/W2/energy/MMD to held-out real samples next to the real-vs-real baseline; the run's
    discriminator as a test of "x is real" (type I/II at D = 0.5, ROC, AUC, power at alpha = 0.05; a critic
    gets ROC/AUC/power on raw scores); a classifier two-sample test.
  images: FID, KID, precision/recall (k=3) on a domain classifier's features, classes covered and KL to
    the data's class histogram; stacked sets: modes out of 1000 and KL to uniform (26,000 samples).
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``gankit eval RUN`` to the ``gankit`` command's sub-parsers."""
    p = subparsers.add_parser(
        "eval", help="evaluate a trained run: metrics, eval.json and figures",
        description="Compute the metrics that fit the run's data on fresh samples against held-out real data; "
                    "write eval.json and eval_*.png into the run folder and print a table.",
        epilog=_EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="a run folder (holding checkpoints/latest.pt)")
    p.add_argument("--n", type=int, default=2500, help="generated and held-out real samples (default: 2500)")
    p.add_argument("--n-stacked", type=int, default=N_STACKED,
                   help=f"samples for the stacked-set mode count (default: {N_STACKED})")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and the held-out draw (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--classifier", metavar="NAME|FILE|none",
                   help="images: the feature extractor, a classifier name (fashion-mnist, digits), a classifier "
                        "file, or none (default: the data set's own)")
    p.add_argument("--no-train-classifier", action="store_true",
                   help="fail instead of training the domain classifier when none is cached")
    p.add_argument("--no-c2st", action="store_true", help="skip the classifier two-sample test")
    p.add_argument("--no-figures", action="store_true", help="write eval.json only")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_eval)
    return p


__all__ = [
    "N_STACKED",
    "discriminator_test",
    "evaluate_generator",
    "evaluate_run",
    "format_table",
    "generate",
    "held_out_data",
    "make_eval_callback",
    "register",
    "to_json",
]
