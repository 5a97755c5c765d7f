"""k-means clusters as classes (``--clusters K``, the ``gan-clusters`` recipe): the clustering against
scikit-learn, the config rules, and a cluster-conditional run that trains and evaluates (its exact resume is
tested with the class-conditional runs, tests/test_conditional.py)."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from gankit import TrainConfig
from gankit.config import ConfigError
from gankit.data.clusters import fit_clusters
from gankit.evaluation import evaluate_run
from gankit.training import Trainer, load_generator


def _blobs(k: int, n: int, d: int, seed: int, spread: float = 8.0) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * spread
    truth = torch.randint(k, (n,), generator=g)
    return centres[truth] + torch.randn(n, d, generator=g), truth.numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_well_separated_blobs_are_found_exactly(seed):
    x, truth = _blobs(k=6, n=1200, d=20, seed=seed)
    clusters, labels = fit_clusters(x.reshape(1200, 4, 5), 6, seed=seed)  # any sample shape is flattened
    assert adjusted_rand_score(truth, labels.numpy()) == pytest.approx(1.0)
    assert torch.equal(clusters.assign(x.reshape(1200, 4, 5)), labels)  # each sample's own cluster
    assert clusters.k == 6 and clusters.centroids.shape == (6, 20)


@pytest.mark.parametrize("seed", [0, 1])
def test_inertia_matches_scikit_learn_on_overlapping_data(seed):
    x, _ = _blobs(k=8, n=2000, d=10, seed=seed, spread=1.5)  # overlapping: local optima exist
    clusters, labels = fit_clusters(x, 8, seed=seed)
    u = clusters.project(x)
    ours = float(((u - clusters.centroids[labels]) ** 2).sum())
    ref = KMeans(8, n_init=3, random_state=seed).fit(u.numpy()).inertia_
    assert ours <= 1.02 * ref


def test_large_samples_take_the_randomised_components_and_find_the_same_clusters():
    x, truth = _blobs(k=5, n=600, d=5000, seed=3, spread=2.0)  # 5,000 values per sample: randomised SVD
    a, labels = fit_clusters(x, 5, seed=1)
    assert adjusted_rand_score(truth, labels.numpy()) == pytest.approx(1.0)
    b, again = fit_clusters(x, 5, seed=1)
    assert torch.equal(labels, again) and torch.equal(a.components, b.components)


def test_large_data_are_fitted_on_a_subset_and_every_sample_gets_its_nearest_centre(monkeypatch):
    import gankit.data.clusters as clusters

    x, truth = _blobs(4, 3000, 6, seed=5)
    monkeypatch.setattr(clusters, "FIT_SAMPLES", 500)
    found, labels = fit_clusters(x, 4, seed=0)
    assert torch.equal(labels, found.assign(x))  # all 3,000, from 500 fitted
    assert adjusted_rand_score(truth, labels.numpy()) == 1.0
    again, labels_again = fit_clusters(x, 4, seed=0)
    assert torch.equal(again.centroids, found.centroids) and torch.equal(labels_again, labels)


def test_clusters_are_deterministic_and_need_a_valid_k():
    x, _ = _blobs(k=3, n=300, d=5, seed=0)
    assert torch.equal(fit_clusters(x, 3, seed=4)[1], fit_clusters(x, 3, seed=4)[1])
    for k in (1, 301):
        with pytest.raises(ValueError, match="K must be between 2 and the 300 samples"):
            fit_clusters(x, k)


def test_config_rules():
    with pytest.raises(ConfigError, match="clusters"):
        TrainConfig(clusters=1)
    with pytest.raises(ConfigError, match="not both"):
        TrainConfig(clusters=5, conditional=True)
    with pytest.raises(ConfigError, match="pack"):
        TrainConfig(clusters=5, pack=2)
    assert TrainConfig(objective="gan-clusters").resolved("image", (1, 28, 28)).clusters == 20
    # one cluster per 3,000 samples, at most the recipe's 20, none below two
    assert TrainConfig(objective="gan-clusters").resolved("image", (1, 28, 28), n_samples=60_000).clusters == 20
    assert TrainConfig(objective="gan-clusters").resolved("image", (1, 28, 28), n_samples=30_000).clusters == 10
    assert TrainConfig(objective="gan-clusters").resolved("image", (1, 8, 8), n_samples=1797).clusters == 0
    assert TrainConfig(objective="gan-clusters", clusters=4).resolved("image", (1, 8, 8), n_samples=1797).clusters == 4
    assert TrainConfig(objective="gan-clusters").resolved("points", (2,)).clusters == 0
    assert TrainConfig(objective="gan-fast").resolved("image", (1, 28, 28)).clusters == 0
    # the data's labels take the place of the recipe's clusters
    assert TrainConfig(objective="gan-clusters", conditional=True).resolved("image", (1, 28, 28)).clusters == 0


@pytest.fixture
def tiny() -> TrainConfig:
    return TrainConfig(data="digits", objective="gan-clusters", clusters=4, iterations=6, width=8, batch_size=16,
                       log_every=3, checkpoint_every=3, snapshot_every=0, progress=False, tensorboard=False)


def test_the_recipe_leaves_small_data_unclustered(tmp_path, tiny):
    trainer = Trainer(dataclasses.replace(tiny, clusters=None), tmp_path / "run")  # 1,797 digits: < 2 x 3,000
    assert trainer.config.clusters == 0 and trainer.clusters is None and trainer.n_classes == 0


def test_a_cluster_conditional_run_trains_on_the_clusters_and_keeps_them(tmp_path, tiny):
    trainer = Trainer(tiny, tmp_path / "run")
    assert trainer.n_classes == 4 and trainer.G.n_classes == 4 and trainer.D.n_classes == 4
    assert torch.equal(trainer.dataset.labels, trainer.clusters.assign(trainer.dataset.x))
    prior = torch.bincount(trainer.dataset.labels, minlength=4) / len(trainer.dataset)
    assert torch.allclose(trainer.G.class_prior, prior)  # sampling draws clusters as the data fill them
    trainer.fit()
    G, info = load_generator(tmp_path / "run")
    assert G.n_classes == 4 and info["classes"] == [f"cluster {k}" for k in range(4)]
    assert torch.allclose(torch.as_tensor(info["clusters"]["centroids"]), trainer.clusters.centroids)


def test_gankit_sample_of_a_cluster_run_draws_the_clusters_as_the_data_fill_them(tmp_path, tiny):
    from gankit.cli import main

    Trainer(dataclasses.replace(tiny, iterations=2), tmp_path / "run").fit()
    assert main(["sample", str(tmp_path / "run"), "--n", "2000", "--seed", "1", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as z:  # clusters, not the data's classes: not under the name labels
        assert set(z.files) == {"x", "clusters"}
        asked = z["clusters"]
    G, _ = load_generator(tmp_path / "run")
    share = np.bincount(asked, minlength=4) / len(asked)
    assert np.abs(share - G.class_prior.numpy()).max() < 0.05
    # clusters are not the data's classes: a square grid of the mixture (6 x 6), not a row per cluster (9 x 4)
    assert main(["sample", str(tmp_path / "run"), "--n", "36", "--out", str(tmp_path / "g.png")]) == 0
    assert _grid_cells(tmp_path / "g.png") == (6, 6)


def _grid_cells(path) -> tuple[int, int]:
    """(columns, rows) of a `gankit sample` grid of 8 x 8 digits: cells of 8 + 2 px, 2 px border, drawn twice
    the size."""
    height, width = plt.imread(path).shape[:2]
    return (width // 2 - 2) // 10, (height // 2 - 2) // 10


def test_gankit_sample_of_a_labelled_run_draws_a_row_per_class(tmp_path, tiny):
    from gankit.cli import main

    Trainer(dataclasses.replace(tiny, clusters=0, conditional=True, iterations=2), tmp_path / "run").fit()
    assert main(["sample", str(tmp_path / "run"), "--n", "36", "--out", str(tmp_path / "g.png")]) == 0
    assert _grid_cells(tmp_path / "g.png") == (4, 9)  # 10 digits, 4 a row: the first 9 classes' rows


def test_evaluation_scores_a_cluster_run_with_its_clusters(tmp_path, tiny):
    trainer = Trainer(dataclasses.replace(tiny, iterations=3), tmp_path / "run")
    trainer.fit()
    result = evaluate_run(tmp_path / "run", n=200, feature_extractor=None, run_c2st=False, figures=False,
                          progress=False, write=False)
    assert "discriminator" in result  # D(x, cluster of x) was tested, not skipped for want of labels
    assert not any("not tested" in note for note in result["notes"])
