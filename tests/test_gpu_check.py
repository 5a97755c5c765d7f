"""The GPU check runs every path it checks on the CPU too (tiny budgets), and reports a failure without stopping."""

from __future__ import annotations

import json

import pytest

from conftest import load_benchmark


def _module():
    return load_benchmark("gpu_check")


@pytest.mark.slow
def test_every_check_passes_on_the_cpu(tmp_path, capsys):
    code = _module().main(["--device", "cpu", "--data", "digits", "--iterations", "4", "--bench-seconds", "2",
                           "--stacked", "4",
                           "--out", str(tmp_path)])
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert code == 0, text
    assert len(report["rows"]) == 9 and all(r["ok"] for r in report["rows"])
    trained = [r for r in report["rows"] if r["name"].startswith(("image", "conditional", "4 stacked", "torchrun"))]
    assert len(trained) == 6 and all(r["it_per_s"] and r["it_per_s"] > 0 for r in trained)
    assert (tmp_path / "samples.png").is_file() and "| check (cpu) | result |" in text


def test_a_failing_check_is_reported_with_its_error_line(tmp_path):
    module = _module()
    row = module.run_check({"name": "bad", "run": None, "cmd": module._gankit("train", "--data", "nowhere.csv")},
                           timeout=120)
    assert not row["ok"] and row["why"].startswith("exit 2: ") and "nowhere.csv" in row["why"]
    assert "FAIL exit 2" in module.table([row], "cpu")


def test_cuda_asked_where_there_is_none_is_one_clear_error(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    with pytest.raises(SystemExit):
        _module().main(["--out", str(tmp_path)])
    assert "CUDA is not available here" in capsys.readouterr().err
