"""Data: toy distributions, file readers on files the tests write, named sets, the sampler."""

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import (
    DATASETS,
    FASHION_MNIST_DIR,
    Sampler,
    describe_datasets,
    load_dataset,
    read_csv,
    read_idx,
    read_image_folder,
)


def write_idx(path, arr: np.ndarray, gz: bool = False) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def data_units(ds) -> torch.Tensor:
    """The samples in the data's own units (training standardises point sets)."""
    return ds.scaler.to_data(ds.x)


# --------------------------------------------------------------------------- toy sets


def test_ring_and_grid_follow_their_mixtures():
    ring = load_dataset("ring", options={"n": 20_000})
    r = data_units(ring).norm(dim=1)
    # 8 modes on the unit circle with std 0.01: radii within 6 std of 1.
    assert torch.all((r - 1).abs() < 0.06)
    assert len(ring.mixture.means) == 8
    grid = load_dataset("grid", options={"n": 20_000})
    nearest = torch.as_tensor(grid.mixture.means, dtype=torch.float32)
    d = torch.cdist(data_units(grid), nearest).min(dim=1).values
    assert torch.all(d < 0.05 * 6)
    counts = torch.bincount(torch.cdist(data_units(grid), nearest).argmin(dim=1), minlength=25)
    # Equal weights: every count within 5 binomial std of n/25.
    n, p = 20_000, 1 / 25
    assert torch.all((counts - n * p).abs() < 5 * (n * p * (1 - p)) ** 0.5)


def test_toy_options_change_the_data_and_unknown_options_are_refused():
    wide = load_dataset("ring", options={"n": 1000, "radius": "2", "std": "0.02"})  # textual, as from the CLI
    assert abs(float(data_units(wide).norm(dim=1).mean()) - 2) < 0.01
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['radiu'\].*radius=1.0"):
        load_dataset("ring", options={"radiu": 2})
    with pytest.raises(ValueError, match="radius=.*expected a number"):
        load_dataset("ring", options={"radius": "big"})


def test_gaussian_1d_moments_and_mixture_density_integrates_to_one():
    g = load_dataset("gaussian-1d", options={"n": 50_000, "mean": 3.0, "std": 1.0})
    n = 50_000
    assert abs(float(data_units(g).mean()) - 3) < 5 / n**0.5
    assert abs(float(data_units(g).std()) - 1) < 5 / (2 * n) ** 0.5
    mix = load_dataset("mixture-1d").mixture
    xs = np.linspace(-10, 10, 20001)[:, None]
    integral = np.trapezoid(np.exp(mix.log_density(xs)), xs[:, 0])
    np.testing.assert_allclose(integral, 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", ["swiss-roll", "moons", "spiral", "lines"])
def test_generated_sets_are_seeded_points(name):
    a = load_dataset(name, options={"n": 500}, seed=1)
    b = load_dataset(name, options={"n": 500}, seed=1)
    c = load_dataset(name, options={"n": 500}, seed=2)
    assert a.x.shape == (500, 2) and a.kind == "points"
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)


def test_parallel_lines_lie_on_their_segments():
    x = data_units(load_dataset("lines", options={"n": 2000, "offsets": "-1,1", "length": 1.0}))
    np.testing.assert_allclose(sorted(set(x[:, 0].unique().tolist())), [-1.0, 1.0], atol=1e-6)
    assert float(x[:, 1].min()) >= 0 and float(x[:, 1].max()) <= 1


@pytest.mark.parametrize("name", ["ring", "grid", "swiss-roll", "moons", "gaussian-1d"])
def test_point_sets_are_standardised_for_training(name):
    ds = load_dataset(name, options={"n": 50_000}, seed=3)
    x = ds.x.double()
    n = len(x)
    # every column: mean 0 and std 1 up to sampling error (exact for a mixture's population moments)
    np.testing.assert_allclose(x.mean(0).numpy(), 0.0, atol=5 / n**0.5)
    np.testing.assert_allclose(x.std(0).numpy(), 1.0, atol=5 / (2 * n) ** 0.5 * 3)
    if ds.mixture is not None:
        mean, std = ds.mixture.moments()
        np.testing.assert_allclose(ds.scaler.loc, mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ds.scaler.scale, std, rtol=1e-12)


def test_mixture_moments_are_the_closed_form():
    from gankit.data.toy import mixture_from_arrays

    rng = np.random.default_rng(0)
    mix = mixture_from_arrays(rng.normal(size=(5, 2)), rng.uniform(0.1, 0.5, 5), rng.uniform(0.5, 2.0, 5))
    x = mix.sample(400_000, torch.Generator().manual_seed(1)).double().numpy()
    mean, std = mix.moments()
    assert np.all(np.abs(x.mean(0) - mean) < 5 * std / 400_000**0.5)
    np.testing.assert_allclose(x.std(0), std, rtol=5e-3)


def test_a_mixture_file_round_trips_and_is_scored_as_a_mixture(tmp_path):
    from gankit.data.toy import mixture_from_arrays

    mix = mixture_from_arrays([[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]], [0.1, 0.2, 0.3], [1.0, 2.0, 1.0])
    x = mix.sample(3000, torch.Generator().manual_seed(0))
    path = mix.save(tmp_path / "mine.npz", x)
    ds = load_dataset(str(path))
    assert ds.kind == "points" and ds.mixture is not None
    np.testing.assert_allclose(ds.mixture.means, mix.means)
    np.testing.assert_allclose(ds.mixture.stds, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(ds.mixture.weights, [0.25, 0.5, 0.25])
    np.testing.assert_allclose(data_units(ds).numpy(), x.numpy(), atol=1e-5)
    # one std for all modes and no weights: equal weights
    np.savez(tmp_path / "plain.npz", x=x.numpy(), means=mix.means, std=0.2)
    plain = load_dataset(str(tmp_path / "plain.npz")).mixture
    np.testing.assert_allclose(plain.stds, 0.2) and np.testing.assert_allclose(plain.weights, 1 / 3)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [({"means": [[0.0, 0.0]]}, r"needs both 'means' and 'std' \(missing \['std'\]\)"),
     ({"means": [[0.0, 0.0, 0.0]], "std": 0.1}, r"'x' has shape \(50, 2\) but 'means' has 3 columns"),
     ({"means": [[0.0, 0.0], [1.0, 1.0]], "std": [0.1, 0.1, 0.1]}, "std must be one number > 0 or 2 numbers"),
     ({"means": [[0.0, 0.0], [1.0, 1.0]], "std": -0.1}, "std must be one number > 0"),
     ({"means": [[0.0, 0.0], [1.0, 1.0]], "std": 0.1, "weights": [1.0, -1.0]}, "weights must be 2 non-negative")],
)
def test_a_malformed_mixture_file_names_the_file_and_the_problem(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((50, 2)), **{k: np.asarray(v) for k, v in arrays.items()})
    with pytest.raises(ValueError, match=message):
        load_dataset(str(path))
    assert str(path) in _error(path)


def _error(path) -> str:
    try:
        load_dataset(str(path))
    except ValueError as e:
        return str(e)
    return ""


def test_every_named_set_is_described():
    names = [row[0] for row in describe_datasets()]
    assert names == list(DATASETS)
    assert all(summary for _, summary, _ in describe_datasets())


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="not a name .*ring, grid"):
        load_dataset("rign")


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = tmp_path / ("images-idx3-ubyte" + (".gz" if gz else ""))
    write_idx(path, images, gz)
    np.testing.assert_array_equal(read_idx(path), images)
    ds = load_dataset(str(path))
    assert ds.x.shape == (7, 1, 28, 28) and ds.kind == "image"
    assert float(ds.x.min()) >= -1 and float(ds.x.max()) <= 1
    np.testing.assert_allclose(ds.scaler.to_data(ds.x).numpy()[:, 0], images, atol=1e-4)


def test_truncated_idx_names_the_file_and_the_expected_size(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    write_idx(path, np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"bad-idx3-ubyte: IDX data of shape \(4, 5, 5\) needs 100 bytes, found 90"):
        read_idx(path)


def test_idx_with_a_bad_magic_number_is_refused(tmp_path):
    path = tmp_path / "junk-idx1-ubyte"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="junk-idx1-ubyte: not an IDX file"):
        read_idx(path)
    bad_gz = tmp_path / "broken-idx1-ubyte.gz"
    bad_gz.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(ValueError, match="broken-idx1-ubyte.gz: cannot read"):
        read_idx(bad_gz)


def test_fashion_mnist_reads_a_directory_of_idx_files(tmp_path):
    rng = np.random.default_rng(1)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (12, 28, 28)), gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, (12,)), gz=True)
    ds = load_dataset("fashion-mnist", data_dir=str(tmp_path))
    assert ds.x.shape == (12, 1, 28, 28) and ds.labels.shape == (12,)
    assert ds.classes[9] == "Ankle boot"


def test_fashion_mnist_missing_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=str(tmp_path / "nowhere"))
    assert FASHION_MNIST_DIR == "/usr/share/datasets/fashion-mnist"


def test_digits_scale_back_to_their_units():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 1, 8, 8) and ds.labels.shape == (1797,)
    data = ds.scaler.to_data(ds.x)
    assert float(data.min()) == 0.0 and float(data.max()) == 16.0


# --------------------------------------------------------------------------- arrays, folders, CSV


def test_npz_and_npy_points_are_standardised_and_invertible(tmp_path):
    rng = np.random.default_rng(2)
    pts = rng.normal([5.0, -3.0, 100.0], [2.0, 0.5, 10.0], size=(400, 3))
    np.savez(tmp_path / "pts.npz", other=np.zeros(3), x=pts)
    ds = load_dataset(str(tmp_path / "pts.npz"))
    np.testing.assert_allclose(ds.x.mean(0).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x.std(0, unbiased=False).numpy(), 1, atol=1e-4)
    np.testing.assert_allclose(ds.scaler.to_data(ds.x).numpy(), pts, rtol=1e-5, atol=1e-4)
    np.save(tmp_path / "imgs.npy", rng.integers(0, 256, (5, 8, 8, 3)).astype(np.uint8))
    imgs = load_dataset(str(tmp_path / "imgs.npy"))
    assert imgs.x.shape == (5, 3, 8, 8) and imgs.kind == "image"
    np.savez(tmp_path / "two.npz", a=pts, b=pts)
    with pytest.raises(ValueError, match=r"choose the array with --data-option key=NAME.*\['a', 'b'\]"):
        load_dataset(str(tmp_path / "two.npz"))
    assert load_dataset(str(tmp_path / "two.npz"), options={"key": "b"}).x.shape == (400, 3)


@pytest.mark.parametrize("low, high, units", [(0, 255, "uint8"), (0.0, 1.0, "unit"), (-1.0, 1.0, "signed")])
def test_image_arrays_map_their_range_onto_the_model_range_and_back(tmp_path, low, high, units):
    rng = np.random.default_rng(4)
    arr = rng.uniform(low, high, (6, 1, 8, 8))
    arr[0, 0, 0, :2] = low, high  # both ends present
    arr = arr.round().astype(np.uint8) if units == "uint8" else arr.astype(np.float32)
    np.save(tmp_path / "imgs.npy", arr)
    ds = load_dataset(str(tmp_path / "imgs.npy"))
    assert float(ds.x.min()) == -1.0 and float(ds.x.max()) == 1.0
    np.testing.assert_allclose(ds.scaler.to_data(ds.x).numpy(), arr, atol=1e-4)


def test_image_arrays_in_no_known_range_are_refused_with_the_range(tmp_path):
    np.save(tmp_path / "std.npy", np.linspace(-3, 2, 6 * 64, dtype=np.float32).reshape(6, 1, 8, 8))
    with pytest.raises(ValueError, match=r"std.npy: image values run from -3 to 2; images are read as 0..1, "
                                         r"0..255 or -1..1"):
        load_dataset(str(tmp_path / "std.npy"))


def test_image_folder_reads_and_resizes(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"a{i}.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(tmp_path / "sub" / "b.jpg")
    with pytest.raises(ValueError, match=r"b.jpg: size \(20, 20\) differs .* pass size=N"):
        read_image_folder(tmp_path)
    arr = read_image_folder(tmp_path, size=8)
    assert arr.shape == (4, 3, 8, 8) and arr.dtype == np.uint8
    ds = load_dataset(str(tmp_path), options={"size": "8", "channels": "1"})
    assert ds.x.shape == (4, 1, 8, 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images found"):
        read_image_folder(empty)


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "h.csv").write_text("age,income\n30,1000\n\n40,3000\n50,2000\n")
    values, header, labels = read_csv(tmp_path / "h.csv")
    assert labels is None
    assert header == ["age", "income"]
    np.testing.assert_array_equal(values, [[30, 1000], [40, 3000], [50, 2000]])
    (tmp_path / "n.csv").write_text("1,2\n3,4\n")
    values, header, _ = read_csv(tmp_path / "n.csv")
    assert header is None and values.shape == (2, 2)
    ds = load_dataset(str(tmp_path / "h.csv"))
    assert ds.x.shape == (3, 2)
    np.testing.assert_allclose(ds.scaler.to_data(ds.x).numpy(), [[30, 1000], [40, 3000], [50, 2000]], rtol=1e-5)


def test_csv_errors_name_line_and_column(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"bad.csv: line 3, column 2 \('b'\): 'oops' is not a number"):
        read_csv(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(ValueError, match="ragged.csv: line 2 has 1 columns, expected 2"):
        read_csv(tmp_path / "ragged.csv")


def test_unknown_file_type_lists_the_formats(tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"unknown file type '.parquet'; expected .npy"):
        load_dataset(str(tmp_path / "data.parquet"))


# --------------------------------------------------------------------------- sampler


def test_sampler_is_seeded_resumable_and_draws_rows_of_the_data():
    data = torch.arange(100.0).reshape(50, 2)
    a, b = Sampler(data, 16, seed=5), Sampler(data, 16, seed=5)
    first = a()
    assert torch.equal(first, b())
    assert first.shape == (16, 2)
    assert torch.all(first[:, 1] - first[:, 0] == 1)  # whole rows
    state = a.state_dict()
    x = a()
    a.load_state_dict(state)
    assert torch.equal(a(), x)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Sampler(data, 0)
