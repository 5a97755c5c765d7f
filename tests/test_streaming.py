"""Streamed image sets: rows read from disk equal the array's, training on them equals training in memory
bit for bit, a stopped and resumed streamed run equals an uninterrupted one, flips, and the errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit import TrainConfig
from gankit.api import train
from gankit.checkpoint import load_checkpoint
from gankit.config import ConfigError
from gankit.data import Sampler, load_dataset, streaming
from gankit.data.streaming import NpyRows, StreamSampler
from gankit.training.run import Run

FIELDS = {"iterations": 20, "log_every": 10, "checkpoint_every": 10, "snapshot_every": 0, "width": 8,
          "progress": False, "tensorboard": False}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A .npy of 300 uint8 16x16 grey images with a left-right asymmetry."""
    path = tmp_path_factory.mktemp("stream") / "images.npy"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(300, 16, 16), dtype=np.uint8)
    x[:, :, :4] = 0  # a dark left edge, so a mirror image differs
    np.save(path, x)
    return path


def _state(run):
    return load_checkpoint(run / "checkpoints" / "latest.pt")


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return torch.equal(a, b) if torch.is_tensor(a) else a == b


def _assert_same_run(a, b) -> None:
    sa, sb = _state(a), _state(b)
    assert sa["step"] == sb["step"]
    for key in ("generator", "discriminator", "opt_g", "opt_d", "rng"):
        assert _same(sa[key], sb[key]), f"{key} differs"


@pytest.mark.parametrize("shape", [(7, 5, 6), (7, 3, 5, 6), (7, 5, 6, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int16])
def test_rows_read_from_disk_equal_the_arrays_rows(tmp_path, shape, dtype):
    a = (np.arange(np.prod(shape)) % 200).reshape(shape).astype(dtype)
    np.save(tmp_path / "a.npy", a)
    rows = NpyRows(tmp_path / "a.npy")
    idx = np.array([6, 0, 3, 3, 1])
    assert len(rows) == 7 and rows.row_shape == shape[1:]
    np.testing.assert_array_equal(rows.read(idx), a[idx])
    blocks = np.concatenate([b for _, b in rows.blocks()])
    np.testing.assert_array_equal(blocks, a)


def test_a_streamed_set_previews_the_in_memory_set(images):
    mem = load_dataset(str(images))
    st = load_dataset(str(images), options={"stream": "yes"})
    assert st.stream is not None and mem.stream is None
    assert st.rows == mem.rows == 300 and st.sample_shape == mem.sample_shape == (1, 16, 16)
    assert st.scaler == mem.scaler
    assert torch.equal(st.x, mem.x)  # fewer rows than the preview holds: all of them
    idx = np.array([299, 5, 5])
    assert torch.equal(st.rows_at(idx), mem.rows_at(idx))


def test_the_preview_is_spread_through_a_large_file(images, monkeypatch):
    monkeypatch.setattr(streaming, "PREVIEW_ROWS", 10)
    mem, st = load_dataset(str(images)), load_dataset(str(images), options={"stream": "yes"})
    assert len(st.x) == 10 and st.rows == 300
    picked = np.linspace(0, 299, 10).round().astype(int)
    assert torch.equal(st.x, mem.x[picked])


def test_auto_streams_what_would_not_fit_and_loads_the_rest(images, monkeypatch):
    assert load_dataset(str(images)).stream is None
    monkeypatch.setattr(streaming, "STREAM_ABOVE_BYTES", 300 * 16 * 16 * 4 - 1)  # the float32 copy: 1 byte over
    assert load_dataset(str(images)).stream is not None
    assert load_dataset(str(images), options={"stream": "no"}).stream is None


def test_a_float_files_range_is_scanned_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "SCAN_BYTES", 64)  # many blocks
    a = np.random.default_rng(1).random((40, 4, 4)).astype(np.float32)  # 0..1
    np.save(tmp_path / "f.npy", a)
    st, mem = (load_dataset(str(tmp_path / "f.npy"), options={"stream": s}) for s in ("yes", "no"))
    assert st.scaler == mem.scaler
    assert torch.equal(st.x, mem.x)
    a[33, 2, 1] = np.nan
    np.save(tmp_path / "f.npy", a)
    with pytest.raises(ValueError, match=r"f\.npy: contains NaN or infinite values \(image 33, channel 0, pixel "
                                         r"\(2, 1\)"):
        load_dataset(str(tmp_path / "f.npy"), options={"stream": "yes"})


@pytest.mark.parametrize("options", [{"stream": "yes"}, {"stream": "yes", "workers": 2}])
@pytest.mark.parametrize("flip", [False, True])
def test_training_on_a_stream_equals_training_in_memory(images, tmp_path, options, flip):
    a, _ = train(TrainConfig(data=str(images), flip=flip, **FIELDS), tmp_path / "mem")
    b, _ = train(TrainConfig(data=str(images), data_options=options, flip=flip, **FIELDS), tmp_path / "st")
    _assert_same_run(tmp_path / "st", tmp_path / "mem")


def test_a_stopped_and_resumed_streamed_run_equals_an_uninterrupted_one(images, tmp_path):
    options = {"stream": "yes", "workers": 2}  # workers read ahead: the batches they read are drawn again
    train(TrainConfig(data=str(images), data_options=options, flip=True, **FIELDS), tmp_path / "whole")
    train(TrainConfig(data=str(images), data_options=options, flip=True, **{**FIELDS, "iterations": 10}),
          tmp_path / "part")
    train(resume=tmp_path / "part", overrides={"iterations": 20})
    _assert_same_run(tmp_path / "part", tmp_path / "whole")


def _folder(root, n_per_class=12):
    rng = np.random.default_rng(2)
    for c, name in enumerate(("boots", "shirts")):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            img = (rng.random((8, 8)) * 120 + 100 * c).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i:02d}.png")
    return root


def test_a_streamed_folder_keeps_its_classes_and_trains_as_in_memory(tmp_path):
    folder = _folder(tmp_path / "imgs")
    mem, st = (load_dataset(str(folder), options={"stream": s}) for s in ("no", "yes"))
    assert st.classes == mem.classes == ("boots", "shirts")
    assert torch.equal(st.all_labels, mem.labels) and torch.equal(st.x, mem.x)
    fields = {**FIELDS, "model": "mlp", "g_hidden": (16,), "d_hidden": (16,), "conditional": True}
    train(TrainConfig(data=str(folder), data_options={"stream": "no"}, **fields), tmp_path / "mem")
    train(TrainConfig(data=str(folder), data_options={"stream": "yes", "workers": 1}, **fields), tmp_path / "st")
    _assert_same_run(tmp_path / "st", tmp_path / "mem")


def test_clusters_of_a_stream_are_fitted_on_its_preview_and_assigned_to_each_batch(images):
    run = Run(TrainConfig(data=str(images), data_options={"stream": "yes"}, clusters=3, **FIELDS))
    x, y = run.real_batch()
    assert torch.equal(y, run.clusters.assign(x))
    assert run.n_classes == 3 and abs(float(run.G.class_prior.sum()) - 1) < 1e-6


def test_flips_mirror_about_half_the_images_and_nothing_else(images):
    data = load_dataset(str(images)).x
    sampler = Sampler(data, 512, seed=3, flip=True)
    x = sampler()
    plain = Sampler(data, 512, seed=3)._indices()  # the same draw of indices
    same = (x == data[plain]).flatten(1).all(1)
    mirrored = (x == data[plain].flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 0.4 < float(mirrored.float().mean()) < 0.6


def test_flip_is_for_images():
    with pytest.raises(ConfigError, match="flip mirrors images left-right; these data are points"):
        Run(TrainConfig(data="ring", data_options={"n": 100}, flip=True, **FIELDS))


def test_a_stream_sampler_resumes_after_the_last_batch_taken(images):
    stream = load_dataset(str(images), options={"stream": "yes", "workers": 2}).stream
    a = StreamSampler(stream, 8, seed=4)
    first = [a() for _ in range(3)]
    state = a.state_dict()
    rest = [a() for _ in range(3)]
    b = StreamSampler(stream, 8, seed=0)
    b.load_state_dict(state)
    assert all(torch.equal(u, v) for u, v in zip(rest, [b() for _ in range(3)], strict=True))
    assert not torch.equal(first[0], rest[0])
    c = StreamSampler(stream, 8, seed=4)
    taken = [c() for _ in range(3)]
    c.close()  # the workers read ahead; the batches after the last one taken come next
    taken += [c() for _ in range(3)]
    assert all(torch.equal(u, v) for u, v in zip(taken, first + rest, strict=True))
    for s in (a, b, c):
        s.close()


@pytest.mark.parametrize("options, message", [
    ({"stream": "maybe"}, r"option stream='maybe': expected auto, yes, no"),
    ({"stream": "yes", "workers": -3}, r"option workers must be >= 0 \(or -1: chosen by the source\); got -3"),
])
def test_bad_stream_options_are_named(images, options, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(str(images), options=options)


def test_what_cannot_stream_says_why(tmp_path):
    np.save(tmp_path / "points.npy", np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match=r"points\.npy: only images stream .* give stream=no"):
        load_dataset(str(tmp_path / "points.npy"), options={"stream": "yes"})
    assert load_dataset(str(tmp_path / "points.npy")).kind == "points"  # auto: in memory
    np.save(tmp_path / "fortran.npy", np.asfortranarray(np.zeros((10, 4, 4), np.uint8)))
    with pytest.raises(ValueError, match=r"fortran\.npy: a Fortran-ordered array cannot be streamed"):
        load_dataset(str(tmp_path / "fortran.npy"), options={"stream": "yes"})


def test_a_file_cut_short_after_loading_names_the_rows(images, tmp_path):
    path = tmp_path / "cut.npy"
    path.write_bytes(images.read_bytes())
    rows = NpyRows(path)
    with open(path, "r+b") as f:
        f.truncate(rows.offset + 10 * rows.row_bytes)
    with pytest.raises(ValueError, match=r"cut\.npy: rows 12\.\.12 lie beyond the end of the file"):
        rows.read(np.array([3, 12]))


@pytest.mark.parametrize(("cpus", "workers"), [(1, 1), (2, 1), (4, 2), (16, 4)])
def test_a_folder_s_default_workers_follow_the_cpus_this_process_may_use(monkeypatch, cpus, workers):
    monkeypatch.setattr(streaming.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(streaming.os, "cpu_count", lambda: 64)  # the machine's count is not what taskset allows
    assert streaming.usable_cpus() == cpus
    assert streaming.auto_workers(object.__new__(streaming.FolderRows)) == workers
    assert streaming.auto_workers(object.__new__(NpyRows)) == 0  # an array's read is a few system calls
