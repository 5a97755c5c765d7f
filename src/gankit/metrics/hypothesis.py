r"""The discriminator as a statistical test of H0: "this sample is real".

A discriminator ``D(x)`` gives the probability that ``x`` is real. Used as a
test, it *rejects* H0 (calls ``x`` fake) when ``D(x) < t`` for a threshold
``t``. Fake is therefore the *positive* class throughout this module:

* Type I error (false positive): a real sample is rejected, ``D(x) < t``.
  Its rate as a function of ``t`` is the false positive rate (FPR).
* Type II error (false negative): a fake sample is accepted, ``D(x) >= t``.
  The power (true positive rate, TPR) is one minus its rate.

The two errors trade off through ``t``; the ROC curve traces (FPR, TPR) over
all thresholds. Fixing the Type I error at a level ``alpha`` and maximising the
power is the Neyman-Pearson view: :func:`hypothesis_test` calibrates ``t`` on
held-out real scores so that at most ``alpha`` of them are rejected.

The scores may be probabilities (``scores="probability"``, the default),
logits (``scores="logit"``: :math:`D = \sigma(l)`) or a critic's raw,
unbounded scores (``scores="raw"``: a Wasserstein critic or a hinge or
least-squares discriminator). Every test above only compares scores with a
threshold, so it is the same on any increasing transform of them; only a fixed
threshold such as :math:`D = 1/2` needs the probability scale.

:func:`c2st` turns the same idea into an evaluation metric: train a fresh
classifier to separate real from generated samples and test whether its
held-out accuracy exceeds chance (Lopez-Paz & Oquab 2017).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from scipy.stats import binom, rankdata

from gankit import checks
from gankit.divergences import discriminator_probability

__all__ = ["SCORES", "c2st", "hypothesis_test", "roc_auc", "roc_curve"]

#: What the discriminator outputs given to the tests are.
SCORES: tuple[str, ...] = ("probability", "logit", "raw")


def _scale(kind: str, logits: bool) -> str:
    """The scores' kind, with the older ``logits=True`` meaning ``"logit"``."""
    if kind not in SCORES:
        raise ValueError(f"scores must be one of {list(SCORES)}; got {kind!r}")
    return "logit" if logits else kind


def _outputs(x: Any, name: str, kind: str) -> np.ndarray:
    """Discriminator outputs ``(n,)``, float64: probabilities of "real", or the raw scores for ``kind="raw"``."""
    s = checks.scores(x, name)
    if kind == "logit":
        return discriminator_probability(s)
    if kind == "probability" and np.any((s < 0.0) | (s > 1.0)):
        raise ValueError(
            f"{name} must be probabilities in [0, 1]; found values in [{s.min():g}, {s.max():g}] "
            "(pass logits=True or scores='logit' for logits, scores='raw' for a critic's unbounded scores)"
        )
    return s


def roc_curve(d_real: Any, d_fake: Any, *, scores: str = "probability", logits: bool = False) -> dict[str, np.ndarray]:
    r"""ROC curve of the test "reject H0 (call the sample fake) when ``D(x) < t``".

    Fake is the positive class. For every threshold ``t``

    .. math::
        \mathrm{FPR}(t) = \frac{1}{n_r} \#\{i : D(x^r_i) < t\}, \qquad
        \mathrm{TPR}(t) = \frac{1}{n_f} \#\{j : D(x^f_j) < t\},

    the Type I error rate and the power. The thresholds are the distinct scores
    in increasing order followed by ``+inf``, so the curve starts at (0, 0) and
    ends at (1, 1); both rates are non-decreasing in ``t``. The trapezoidal area
    under it equals :func:`roc_auc`.

    Args:
        d_real: discriminator outputs on real samples, shape ``(n_r,)``.
        d_fake: discriminator outputs on generated samples, shape ``(n_f,)``.
        scores: ``"probability"``, ``"logit"`` (a sigmoid turns them into
            probabilities) or ``"raw"`` (a critic's scores, used as they are:
            the thresholds are then scores).
        logits: the same as ``scores="logit"``.

    Returns:
        dict with float64 arrays ``"fpr"``, ``"tpr"`` and ``"thresholds"`` of equal length.
    """
    kind = _scale(scores, logits)
    s_real = np.sort(_outputs(d_real, "d_real", kind))
    s_fake = np.sort(_outputs(d_fake, "d_fake", kind))
    thresholds = np.append(np.unique(np.concatenate([s_real, s_fake])), np.inf)  # (T,)
    fpr = np.searchsorted(s_real, thresholds, side="left") / len(s_real)
    tpr = np.searchsorted(s_fake, thresholds, side="left") / len(s_fake)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thresholds}


def roc_auc(d_real: Any, d_fake: Any, *, scores: str = "probability", logits: bool = False) -> float:
    r"""Area under the ROC curve: the Mann-Whitney statistic.

    .. math::
        \mathrm{AUC} = P\big(D(x^r) > D(x^f)\big) + \tfrac{1}{2} P\big(D(x^r) = D(x^f)\big)

    over independent real and fake samples, estimated over all ``n_r n_f``
    pairs through ranks in ``O(n \log n)``. It is 1/2 for a discriminator that
    cannot tell the two apart and 1 for a perfect one.

    Args:
        d_real: discriminator outputs on real samples, shape ``(n_r,)``.
        d_fake: discriminator outputs on generated samples, shape ``(n_f,)``.
        scores: ``"probability"``, ``"logit"`` or ``"raw"`` (see :func:`roc_curve`);
            the AUC is the same for all three, as it depends on the order of the scores only.
        logits: the same as ``scores="logit"``.

    Returns:
        The AUC as a Python float in [0, 1].

    References:
        Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area
        under a receiver operating characteristic (ROC) curve. Radiology 143(1).
    """
    kind = _scale(scores, logits)
    s_real = _outputs(d_real, "d_real", kind)
    s_fake = _outputs(d_fake, "d_fake", kind)
    n_r, n_f = len(s_real), len(s_fake)
    ranks = rankdata(np.concatenate([s_real, s_fake]))  # average ranks for ties
    u_real = ranks[:n_r].sum() - n_r * (n_r + 1) / 2.0
    return float(u_real / (n_r * n_f))


def hypothesis_test(
    d_real: Any,
    d_fake: Any,
    alpha: float = 0.05,
    threshold: float = 0.5,
    d_calib: Any = None,
    *,
    scores: str = "probability",
    logits: bool = False,
) -> dict[str, Any]:
    r"""Type I / II errors, ROC, AUC and Neyman-Pearson power of a discriminator.

    The test rejects H0 ("x is real") when ``D(x) < t``. At the given
    ``threshold``

    .. math::
        \alpha_I = \frac{1}{n_r}\#\{D(x^r) < t\}, \qquad
        \beta_{II} = \frac{1}{n_f}\#\{D(x^f) \ge t\}.

    At level ``alpha`` the threshold is calibrated on real scores, ``d_calib``
    (held-out real samples) or, when None, ``d_real`` itself (in-sample, so the
    achieved level on ``d_real`` is at most ``alpha`` by construction; the
    result says which). With :math:`c_{(1)} \le \dots \le c_{(n_c)}` the sorted
    calibration scores and :math:`k = \lfloor \alpha n_c \rfloor`,

    .. math::
        t_\alpha = c_{(k+1)},

    the largest threshold that rejects at most a fraction ``alpha`` of the
    calibration scores (fewer with ties: the test is then conservative). On
    fresh real scores the Type I error is ``alpha`` up to sampling error
    :math:`\sqrt{\alpha(1-\alpha)/n_c}`. The power is the fraction of fakes
    rejected, :math:`\frac{1}{n_f}\#\{D(x^f) < t_\alpha\}`.

    Args:
        d_real: discriminator outputs on real samples, shape ``(n_r,)`` or ``(n_r, 1)``.
        d_fake: discriminator outputs on generated samples, shape ``(n_f,)``.
        alpha: level of the test, ``0 < alpha < 1``.
        threshold: fixed threshold ``t`` for ``type_i`` and ``type_ii``.
        d_calib: outputs on held-out real samples used to calibrate ``t_alpha``.
        scores: ``"probability"``, ``"logit"`` (a sigmoid turns them into
            probabilities; ``threshold`` stays a probability) or ``"raw"``: a
            critic's unbounded scores, on which a probability threshold means
            nothing, so ``type_i``, ``type_ii`` and ``threshold`` are None, and
            the ROC, AUC and the calibrated test run on the scores themselves
            (``threshold_alpha`` is a score).
        logits: the same as ``scores="logit"``.

    Returns:
        dict with ``"type_i"``, ``"type_ii"``, ``"threshold"``, ``"auc"``,
        ``"roc"`` (see :func:`roc_curve`), ``"alpha"``, ``"threshold_alpha"``,
        ``"type_i_at_alpha"`` (on ``d_real``), ``"power_at_alpha"``,
        ``"calibrated_on"`` (``"d_calib"`` or ``"d_real"``) and ``"scores"``.

    References:
        Neyman, J. and Pearson, E. S. (1933). On the problem of the most
        efficient tests of statistical hypotheses. Phil. Trans. R. Soc. A 231.
    """
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must satisfy 0 < alpha < 1; got {alpha!r}")
    t = float(threshold)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1]; got {threshold!r}")
    kind = _scale(scores, logits)
    s_real = _outputs(d_real, "d_real", kind)
    s_fake = _outputs(d_fake, "d_fake", kind)
    if d_calib is None:
        s_calib, calibrated_on = s_real, "d_real"
    else:
        s_calib, calibrated_on = _outputs(d_calib, "d_calib", kind), "d_calib"
    raw = kind == "raw"
    on = "raw" if raw else "probability"

    n_c = len(s_calib)
    k = min(int(math.floor(alpha * n_c + 1e-9)), n_c - 1)  # guard against alpha * n_c = 4.999..
    t_alpha = float(np.sort(s_calib)[k])
    return {
        "type_i": None if raw else float(np.mean(s_real < t)),
        "type_ii": None if raw else float(np.mean(s_fake >= t)),
        "threshold": None if raw else t,
        "auc": roc_auc(s_real, s_fake, scores=on),
        "roc": roc_curve(s_real, s_fake, scores=on),
        "alpha": alpha,
        "threshold_alpha": t_alpha,
        "type_i_at_alpha": float(np.mean(s_real < t_alpha)),
        "power_at_alpha": float(np.mean(s_fake < t_alpha)),
        "calibrated_on": calibrated_on,
        "scores": kind,
    }


# ---------------------------------------------------------------------------
# Classifier two-sample test
# ---------------------------------------------------------------------------

_MLP_HIDDEN = 64


def _fit_predict_mlp(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str | torch.device,
) -> np.ndarray:
    """Trains a fresh MLP (2 hidden ReLU layers) with Adam and BCE; returns test labels.

    Initialisation and minibatch order come from a ``torch.Generator`` seeded
    with ``seed``; the global torch random state is not touched.
    """
    g = torch.Generator().manual_seed(seed)
    widths = [X_train.shape[1], _MLP_HIDDEN, _MLP_HIDDEN, 1]
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        # skip_init: the default initialisation would draw from the global generator.
        linear = torch.nn.utils.skip_init(torch.nn.Linear, fan_in, fan_out)
        with torch.no_grad():  # PyTorch's default initialisation, drawn from g
            bound = 1.0 / math.sqrt(fan_in)
            torch.nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5.0), generator=g)
            torch.nn.init.uniform_(linear.bias, -bound, bound, generator=g)
        layers += [linear, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])  # no ReLU after the output layer
    net = net.to(device)
    Xt = torch.as_tensor(X_train, dtype=torch.float32, device=device)  # (n_train, d)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=device)  # (n_train,)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = len(Xt)
    for _ in range(epochs):
        order = torch.randperm(n, generator=g).to(device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            logits = net(Xt[idx]).squeeze(1)  # (b, 1) -> (b,)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        X_eval = torch.as_tensor(X_test, dtype=torch.float32, device=device)
        return (net(X_eval).squeeze(1) > 0.0).cpu().numpy().astype(np.int64)


def c2st(
    real: Any,
    fake: Any,
    *,
    classifier: Any = "mlp",
    test_fraction: float = 0.5,
    seed: int = 0,
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    r"""Classifier two-sample test of H0: ``real`` and ``fake`` share one distribution.

    Protocol (Lopez-Paz & Oquab 2017): the larger set is subsampled at random
    to the size of the smaller one (balanced classes, so chance accuracy is
    1/2); real samples are labelled 1 and fake ones 0; the pooled set is
    shuffled and split into a training part and a test part of
    ``n_test = round(test_fraction * N)`` samples; a fresh classifier is
    trained on the first and its accuracy ``acc`` measured on the second.
    Under H0 the number of correct test predictions is approximately
    Binomial(``n_test``, 1/2), so the one-sided p-value is

    .. math::
        p = P\big(\mathrm{Bin}(n_{\mathrm{test}}, \tfrac12) \ge n_{\mathrm{test}}\,
        \mathrm{acc}\big).

    Inputs are flattened (images ``(n, C, H, W)`` become vectors) and
    standardised with the mean and standard deviation of the training part.

    Classifiers:

    * ``"mlp"`` (default): a torch MLP with two hidden layers of 64 ReLU
      units, trained with Adam (``lr``) on the binary cross-entropy for
      ``epochs`` passes in minibatches of ``batch_size``; initialisation and
      batch order come from ``seed``, so a run is reproducible on a device.
    * ``"logistic"``: ``sklearn.linear_model.LogisticRegression``.
    * any object with sklearn-style ``fit(X, y)`` and ``predict(X)`` returning
      0/1 labels. sklearn estimators are cloned first (the argument is never
      fitted); other objects are fitted in place.

    Args:
        real: real samples, shape ``(n, d)``, ``(n,)`` or ``(n, C, H, W)``.
        fake: generated samples with the same number of features.
        classifier: ``"mlp"``, ``"logistic"`` or a classifier object.
        test_fraction: fraction of the pooled samples held out for testing, in (0, 1).
        seed: seed of the subsampling, the split and the MLP.
        epochs: training passes of the MLP.
        batch_size: minibatch size of the MLP.
        lr: Adam learning rate of the MLP.
        device: torch device of the MLP; None means CPU.

    Returns:
        dict with ``"accuracy"`` (test accuracy), ``"p_value"``, ``"n_test"``
        and ``"classifier"`` (its name).

    References:
        Lopez-Paz, D. and Oquab, M. (2017). Revisiting classifier two-sample
        tests. ICLR.
    """
    X_real, X_fake = checks.points_pair(real, fake, "real", "fake", min_points=2)
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must satisfy 0 < test_fraction < 1; got {test_fraction!r}")
    epochs = checks.positive_int(epochs, "epochs")
    batch_size = checks.positive_int(batch_size, "batch_size")
    if isinstance(classifier, str):
        if classifier not in ("mlp", "logistic"):
            raise ValueError(
                f"unknown classifier {classifier!r}; choose from ['mlp', 'logistic'] "
                "or pass an object with fit(X, y) and predict(X)"
            )
    elif not all(callable(getattr(classifier, a, None)) for a in ("fit", "predict")):
        raise ValueError("classifier must be 'mlp', 'logistic' or an object with fit and predict")
    lr = float(lr)
    if not np.isfinite(lr) or lr <= 0.0:
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}")

    rng = np.random.default_rng(seed)
    n_per_class = min(len(X_real), len(X_fake))
    X_real = X_real[rng.permutation(len(X_real))[:n_per_class]]
    X_fake = X_fake[rng.permutation(len(X_fake))[:n_per_class]]
    X = np.concatenate([X_real, X_fake])  # (N, d), N = 2 n_per_class
    y = np.concatenate([np.ones(n_per_class, np.int64), np.zeros(n_per_class, np.int64)])
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    N = len(X)
    n_test = int(round(test_fraction * N))
    if n_test < 1 or N - n_test < 2:
        raise ValueError(
            f"test_fraction={test_fraction} leaves {N - n_test} training and {n_test} test "
            f"samples out of {N}; need at least 2 and 1"
        )
    X_train, y_train, X_test, y_test = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    mu = X_train.mean(axis=0)
    sd = X_train.std(axis=0)
    sd[sd == 0.0] = 1.0  # constant features stay constant (zero) instead of dividing by 0
    X_train, X_test = (X_train - mu) / sd, (X_test - mu) / sd

    if isinstance(classifier, str) and classifier == "mlp":
        name = "mlp"
        pred = _fit_predict_mlp(
            X_train, y_train, X_test, seed=seed, epochs=epochs, batch_size=batch_size,
            lr=lr, device=device if device is not None else "cpu",
        )
    else:
        if isinstance(classifier, str):  # "logistic"
            from sklearn.linear_model import LogisticRegression

            name, model = "logistic", LogisticRegression(max_iter=1000)
        else:
            name = type(classifier).__name__
            try:
                from sklearn.base import clone

                model = clone(classifier)
            except TypeError:  # not an sklearn estimator: use the object itself
                model = classifier
        model.fit(X_train, y_train)
        pred = np.asarray(model.predict(X_test)).reshape(-1).astype(np.int64)
    correct = int(np.sum(pred == y_test))
    return {
        "accuracy": correct / n_test,
        "p_value": float(binom.sf(correct - 1, n_test, 0.5)),
        "n_test": n_test,
        "classifier": name,
    }
