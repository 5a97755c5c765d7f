"""Domain classifiers: they learn the digits, their cache is reused and invalidated by the data hash."""


import pytest
import torch

from gankit import classifier as clf
from gankit.cli import build_parser


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def small_digits(n_train: int = 300) -> clf.ClassifierData:
    data = clf.classifier_data("digits")
    return data._replace(x_train=data.x_train[:n_train], y_train=data.y_train[:n_train])


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GANKIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert clf.cache_dir() == tmp_path / "xdg" / "gankit"
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "mine"))
    assert clf.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("GANKIT_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert clf.cache_dir() == clf.Path.home() / ".cache" / "gankit"


def test_digits_split_is_fixed_and_disjoint():
    a, b = clf.classifier_data("digits"), clf.classifier_data("digits")
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert (len(a.x_train), len(a.x_test)) == (1438, 359)
    train_rows = {tuple(r.tolist()) for r in a.x_train.flatten(1)}
    assert sum(tuple(r.tolist()) in train_rows for r in a.x_test.flatten(1)) < 5  # the set has a few duplicates


def test_the_digits_classifier_is_accurate_on_its_test_split(cache):
    model, info = clf.get_classifier("digits", progress=False)
    assert info["test_accuracy"] > 0.95, info
    data = clf.classifier_data("digits")
    assert info["test_accuracy"] == clf.accuracy(model, data.x_test, data.y_test)
    logits, features = model(data.x_test[:7])
    assert logits.shape == (7, 10) and features.shape == (7, model.feature_dim)


def test_cache_is_reused_and_invalidated_when_the_data_change(cache, monkeypatch):
    data = small_digits()
    model, info = clf.get_classifier(data, epochs=1, progress=False)
    assert not info["cached"]
    files = sorted(cache.glob("*.pt"))
    assert len(files) == 1 and files[0].name == clf.cache_path("digits", info["data_hash"]).name

    def refuse(*args, **kwargs):
        raise AssertionError("retrained although a cached classifier exists")

    monkeypatch.setattr(clf, "train_classifier", refuse)
    again, info2 = clf.get_classifier(data, epochs=1, progress=False)
    assert info2["cached"] and info2["data_hash"] == info["data_hash"]
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    monkeypatch.undo()
    monkeypatch.setenv("GANKIT_CACHE", str(cache))

    changed = data._replace(y_train=data.y_train.clone())
    changed.y_train[0] = (changed.y_train[0] + 1) % 10  # one label differs: another hash, a new classifier
    assert clf.data_hash(changed.x_train, changed.y_train) != info["data_hash"]
    _, info3 = clf.get_classifier(changed, epochs=1, progress=False)
    assert not info3["cached"]
    assert len(list(cache.glob("*.pt"))) == 2


def test_no_training_when_told_not_to(cache):
    with pytest.raises(FileNotFoundError, match="gankit classifier train --data digits"):
        clf.get_classifier(small_digits(), train=False)


def test_file_loads_with_weights_only_and_foreign_files_are_refused(cache, tmp_path):
    _, info = clf.get_classifier(small_digits(), epochs=1, progress=False)
    state = torch.load(info["path"], weights_only=True)
    assert state["info"]["data_hash"] == info["data_hash"]
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not a gankit domain classifier"):
        clf.load_classifier(other)


def test_wrong_input_shape_names_both_shapes():
    model = clf.DomainClassifier((1, 28, 28))
    with pytest.raises(ValueError, match=r"\(1, 28, 28\).*\(2, 1, 8, 8\)"):
        model(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="unknown|no domain classifier"):
        clf.classifier_data("cifar")


def test_command_line_train_and_list(cache, capsys):
    parser = build_parser()
    args = parser.parse_args(["classifier", "train", "--data", "digits", "--epochs", "2", "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and str(cache) in out
    args = parser.parse_args(["classifier", "list"])
    assert args.func(args) == 0
    assert "digits" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["classifier", "train", "--help"])
    assert e.value.code == 0
