"""Tests of gankit.metrics.hypothesis: the discriminator as a test, and the C2ST."""

import math

import numpy as np
import pytest
import sklearn.metrics
import torch
from scipy.special import expit
from scipy.stats import norm, rankdata
from sklearn.neighbors import KNeighborsClassifier

from gankit.metrics import c2st, hypothesis_test, roc_auc, roc_curve

# ---------------------------------------------------------------------------
# Errors, ROC and AUC
# ---------------------------------------------------------------------------


def test_hand_computed_example():
    d_real = [0.2, 0.5, 0.9, 0.7]
    d_fake = [0.1, 0.5, 0.3]
    out = hypothesis_test(d_real, d_fake, threshold=0.5)
    assert out["type_i"] == pytest.approx(1 / 4)  # 0.2 < 0.5 is rejected, 0.5 is not
    assert out["type_ii"] == pytest.approx(1 / 3)  # 0.5 >= 0.5 is accepted
    # Pairs with real > fake: 1 + 2 + 3 + 3, plus one tie (0.5, 0.5) counted 1/2.
    assert out["auc"] == pytest.approx(9.5 / 12)


@pytest.mark.parametrize("seed", range(3))
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    d_real = np.round(rng.beta(3, 2, size=300), 2)  # rounding creates many ties
    d_fake = np.round(rng.beta(2, 3, size=200), 2)
    y = np.r_[np.ones(300), np.zeros(200)]
    expected = sklearn.metrics.roc_auc_score(y, np.r_[d_real, d_fake])
    np.testing.assert_allclose(roc_auc(d_real, d_fake), expected, rtol=1e-12)
    # The same number with fake as the positive class and 1 - D as its score.
    expected_fake = sklearn.metrics.roc_auc_score(1 - y, -np.r_[d_real, d_fake])
    np.testing.assert_allclose(roc_auc(d_real, d_fake), expected_fake, rtol=1e-12)


def test_roc_curve_matches_sklearn_with_fake_positive():
    rng = np.random.default_rng(0)
    d_real = np.round(rng.beta(3, 2, size=150), 2)
    d_fake = np.round(rng.beta(2, 3, size=120), 2)
    scores = np.r_[d_real, d_fake]
    is_fake = np.r_[np.zeros(150), np.ones(120)]
    # sklearn rejects when -D >= thr, i.e. D <= -thr; gankit rejects when D < t for the next
    # distinct score t, so both produce the same sequence of (FPR, TPR) points.
    sk_fpr, sk_tpr, _ = sklearn.metrics.roc_curve(is_fake, -scores, drop_intermediate=False)
    roc = roc_curve(d_real, d_fake)
    np.testing.assert_allclose(roc["fpr"], sk_fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(roc["tpr"], sk_tpr, rtol=0, atol=1e-15)


def test_roc_curve_is_consistent_with_errors_and_auc():
    rng = np.random.default_rng(1)
    d_real, d_fake = rng.uniform(0.2, 1.0, size=80), rng.uniform(0.0, 0.8, size=70)
    roc = roc_curve(d_real, d_fake)
    fpr, tpr, thresholds = roc["fpr"], roc["tpr"], roc["thresholds"]
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.all(np.diff(thresholds) > 0) and thresholds[-1] == np.inf
    for j in (3, 40, 100):
        out = hypothesis_test(d_real, d_fake, threshold=thresholds[j])
        assert fpr[j] == pytest.approx(out["type_i"])
        assert tpr[j] == pytest.approx(1.0 - out["type_ii"])
    np.testing.assert_allclose(np.trapezoid(tpr, fpr), roc_auc(d_real, d_fake), rtol=1e-12)


def test_logits_path_equals_probability_path_and_is_stable():
    rng = np.random.default_rng(2)
    l_real, l_fake = rng.normal(1.0, 2.0, size=100), rng.normal(-1.0, 2.0, size=100)
    a = hypothesis_test(l_real, l_fake, logits=True)
    b = hypothesis_test(expit(l_real), expit(l_fake))
    assert hypothesis_test(l_real, l_fake, scores="logit")["auc"] == a["auc"]
    for key in ("type_i", "type_ii", "auc", "threshold_alpha", "power_at_alpha"):
        assert a[key] == b[key], key
    with np.errstate(all="raise"):  # no overflow warnings from the sigmoid
        out = hypothesis_test(torch.tensor([800.0, 1000.0]), torch.tensor([-1000.0, 3.0]),
                              logits=True)
    assert out["auc"] == 1.0 and out["type_i"] == 0.0


def test_raw_critic_scores_by_hand_and_as_ranks():
    # Unbounded critic scores: the tests compare scores with thresholds, so they run on the scores themselves.
    c_real, c_fake, c_calib = [3.0, -2.0, 10.0, 0.5], [-7.0, 0.5, 1.0], [4.0, -1.0, 2.0, 8.0, 0.0]
    out = hypothesis_test(c_real, c_fake, alpha=0.2, d_calib=c_calib, scores="raw")
    # Pairs with real > fake: 3 > all 3, -2 > -7, 10 > all 3, 0.5 > -7 and a tie with 0.5: 8.5 of 12.
    assert out["auc"] == pytest.approx(8.5 / 12) and roc_auc(c_real, c_fake, scores="raw") == out["auc"]
    # k = floor(0.2 * 5) = 1: t_alpha = the second smallest calibration score, 0.0; fakes below it: -7.
    assert out["threshold_alpha"] == 0.0 and out["power_at_alpha"] == pytest.approx(1 / 3)
    assert out["type_i_at_alpha"] == pytest.approx(1 / 4)  # -2 < 0
    assert out["type_i"] is None and out["type_ii"] is None and out["threshold"] is None  # 0.5 means nothing here
    assert out["roc"]["thresholds"].tolist() == [-7.0, -2.0, 0.5, 1.0, 3.0, 10.0, math.inf]  # scores, then +inf
    # Any increasing map of the scores gives the same test: here their ranks in (0, 1).
    pooled = np.array(c_real + c_calib + c_fake)
    u = rankdata(pooled) / (len(pooled) + 1)
    ranked = hypothesis_test(u[:4], u[9:], alpha=0.2, d_calib=u[4:9])
    for key in ("auc", "power_at_alpha", "type_i_at_alpha"):
        assert ranked[key] == out[key], key
    np.testing.assert_array_equal(ranked["roc"]["fpr"], out["roc"]["fpr"])
    with pytest.raises(ValueError, match=r"scores must be one of \['probability', 'logit', 'raw'\]; got 'critic'"):
        roc_auc(c_real, c_fake, scores="critic")
    with pytest.raises(ValueError, match="d_real must be probabilities.*scores='raw'"):
        roc_auc(c_real, c_fake)


def test_identical_distributions_give_auc_one_half():
    rng = np.random.default_rng(3)
    n = 2000
    auc = roc_auc(rng.uniform(size=n), rng.uniform(size=n))
    # Standard error of the Mann-Whitney AUC under H0: sqrt((n1 + n2 + 1) / (12 n1 n2)).
    se = math.sqrt((2 * n + 1) / (12 * n * n))
    assert abs(auc - 0.5) < 4 * se


def test_separated_distributions_give_auc_one_and_full_power():
    rng = np.random.default_rng(4)
    out = hypothesis_test(rng.uniform(0.6, 1.0, size=500), rng.uniform(0.0, 0.4, size=500))
    assert out["auc"] == 1.0
    assert out["power_at_alpha"] == 1.0 and out["type_i"] == 0.0 and out["type_ii"] == 0.0


def test_neyman_pearson_calibration_on_held_out_data():
    rng = np.random.default_rng(5)
    n, alpha = 20000, 0.05
    # Discriminator logits: N(1, 1) on real, N(-1, 1) on fake. The level-alpha threshold in
    # logit space is 1 + z_alpha and the power is Phi(2 + z_alpha) (Neyman-Pearson).
    out = hypothesis_test(rng.normal(1, 1, n), rng.normal(-1, 1, n), alpha=alpha,
                          d_calib=rng.normal(1, 1, n), logits=True)
    assert out["calibrated_on"] == "d_calib" and out["alpha"] == alpha
    # Type I on fresh real data: binomial error of d_real and d_calib, 4 standard errors.
    se = math.sqrt(alpha * (1 - alpha) * 2 / n)
    assert abs(out["type_i_at_alpha"] - alpha) < 4 * se
    power = norm.cdf(2 + norm.ppf(alpha))
    assert abs(out["power_at_alpha"] - power) < 0.03
    np.testing.assert_allclose(out["threshold_alpha"], expit(1 + norm.ppf(alpha)), atol=0.01)


def test_in_sample_calibration_never_exceeds_alpha():
    calib = np.arange(100) / 100
    # 0.29 * 100 is 28.999999999999996 in floating point; the threshold still rejects 29.
    out = hypothesis_test(calib, calib[::-1], alpha=0.29)
    assert out["calibrated_on"] == "d_real"
    assert out["type_i_at_alpha"] == pytest.approx(0.29)
    assert out["threshold_alpha"] == pytest.approx(0.29)
    rng = np.random.default_rng(6)
    for alpha in (0.01, 0.05, 0.1, 0.5):
        scores = np.round(rng.uniform(size=333), 1)  # heavy ties
        out = hypothesis_test(scores, rng.uniform(size=10), alpha=alpha)
        assert out["type_i_at_alpha"] <= alpha
        # Largest such threshold: accepting it as well would exceed alpha.
        assert np.mean(scores <= out["threshold_alpha"]) > alpha


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([0.5, 1.5], [0.5]), {}, "d_real must be probabilities.*logits=True"),
        (([0.5], []), {}, "d_fake must contain at least one"),
        (([0.5], [[0.5, 0.1]]), {}, r"d_fake must have shape \(n,\)"),
        (([np.nan], [0.5]), {}, "d_real must be finite"),
        (([0.5], [0.5]), {"alpha": 0.0}, "alpha"),
        (([0.5], [0.5]), {"threshold": 2.0}, "threshold"),
        (([0.5], [0.5]), {"d_calib": [-0.1]}, "d_calib"),
    ],
)
def test_hypothesis_test_rejects_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hypothesis_test(*args, **kwargs)


# ---------------------------------------------------------------------------
# C2ST
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _single_torch_thread():
    # The C2ST MLP is tiny: with several test workers sharing the cores, intra-op threads
    # only add synchronisation cost (up to 100x slower steps when cores are oversubscribed).
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def test_c2st_false_positive_rate_logistic():
    rng = np.random.default_rng(0)
    reps, alpha = 100, 0.05
    rejections = sum(
        c2st(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)), classifier="logistic",
             seed=s)["p_value"] < alpha
        for s in range(reps)
    )
    # P(Binomial(100, 0.05) > 12) < 1e-3.
    assert rejections / reps <= 0.12


def test_c2st_false_positive_rate_mlp():
    rng = np.random.default_rng(1)
    reps, alpha = 40, 0.05
    rejections = sum(
        c2st(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)), seed=s, epochs=30)["p_value"]
        < alpha
        for s in range(reps)
    )
    # P(Binomial(40, 0.05) > 6) < 5e-3.
    assert rejections / reps <= 0.15


@pytest.mark.parametrize("classifier", ["mlp", "logistic"])
def test_c2st_detects_clearly_different_distributions(classifier):
    rng = np.random.default_rng(2)
    out = c2st(rng.normal(size=(300, 2)), rng.normal(3.0, 1.0, size=(300, 2)),
               classifier=classifier)
    # A shift of 3 in each coordinate: Bayes accuracy Phi(3 * sqrt(2) / 2) = 0.983.
    assert out["accuracy"] > 0.9 and out["p_value"] < 1e-20
    assert out["n_test"] == 300 and out["classifier"] == classifier


def test_c2st_nonlinear_difference_needs_the_mlp():
    rng = np.random.default_rng(3)
    n = 600
    real = rng.normal(size=(n, 2))
    angle = rng.uniform(0, 2 * np.pi, size=n)
    fake = 2.0 * np.c_[np.cos(angle), np.sin(angle)] + 0.1 * rng.normal(size=(n, 2))
    # Same mean, different shape: a linear classifier is at chance, the MLP is not.
    assert c2st(real, fake)["p_value"] < 1e-6
    assert c2st(real, fake, classifier="logistic")["accuracy"] < 0.6


def test_c2st_perfect_classifier_p_value_is_half_to_the_n():
    rng = np.random.default_rng(4)
    out = c2st(rng.uniform(0, 1, size=(40, 1)), rng.uniform(5, 6, size=(40, 1)),
               classifier="logistic")
    assert out["accuracy"] == 1.0
    np.testing.assert_allclose(out["p_value"], 0.5 ** out["n_test"], rtol=1e-10)


def test_c2st_on_images():
    rng = np.random.default_rng(5)
    real = rng.uniform(size=(200, 1, 8, 8))
    fake = np.clip(real[::-1] + 0.3, 0, 1)
    out = c2st(real, torch.from_numpy(fake).float(), epochs=30)
    assert out["accuracy"] > 0.9


def test_c2st_custom_classifiers():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(150, 3)), rng.normal(2.0, 1.0, size=(150, 3))
    knn = KNeighborsClassifier(5)
    out = c2st(real, fake, classifier=knn)
    assert out["classifier"] == "KNeighborsClassifier" and out["accuracy"] > 0.85
    assert not hasattr(knn, "classes_")  # cloned, the argument is not fitted

    class NearestMean:
        def fit(self, X, y):
            self.means = np.stack([X[y == 0].mean(0), X[y == 1].mean(0)])
            return self

        def predict(self, X):
            return ((X[:, None, :] - self.means[None]) ** 2).sum(-1).argmin(1)

    out = c2st(real, fake, classifier=NearestMean())
    assert out["classifier"] == "NearestMean" and out["accuracy"] > 0.85


def test_c2st_is_deterministic_and_leaves_global_rng_alone():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(200, 2)), rng.normal(0.5, 1.0, size=(200, 2))
    state = torch.get_rng_state()
    a = c2st(real, fake, seed=3, epochs=20)
    b = c2st(real, fake, seed=3, epochs=20)
    assert a == b
    assert torch.equal(state, torch.get_rng_state())


def test_c2st_balances_unequal_sets():
    rng = np.random.default_rng(8)
    out = c2st(rng.normal(size=(300, 2)), rng.normal(size=(100, 2)), classifier="logistic",
               test_fraction=0.25)
    assert out["n_test"] == 50  # 100 per class, a quarter of 200 held out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classifier": "svm"}, "unknown classifier"),
        ({"classifier": object()}, "fit and predict"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": 0.01}, "test_fraction"),
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_c2st_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        c2st(np.zeros((10, 2)), np.ones((10, 2)), **kwargs)


def test_c2st_rejects_bad_samples():
    with pytest.raises(ValueError, match="same number of features"):
        c2st(np.zeros((10, 2)), np.ones((10, 3)))
    with pytest.raises(ValueError, match="real must contain at least 2"):
        c2st(np.zeros((1, 2)), np.ones((10, 2)))
    with pytest.raises(ValueError, match="fake must be finite"):
        c2st(np.zeros((10, 2)), np.full((10, 2), np.nan))
