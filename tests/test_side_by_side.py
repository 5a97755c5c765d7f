"""The side-by-side harness's table and merge (its runs are measurements, see docs/images.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import load_benchmark

FLOOR = {"fid": 0.85, "kid": -0.07, "precision": 0.86, "recall": 0.86, "class_kl": 0.0006}


def _module():
    return load_benchmark("side_by_side")


def _row(entry: str, seed: int, fid: float) -> dict:
    return {"entry": entry, "seed": seed, "generator_iterations": 100 * (seed + 1), "it_per_s": 2.0, "fid": fid,
            "kid": fid / 10, "precision": 0.5, "recall": 0.6, "class_kl": 0.01, "class_accuracy": None}


def _report(folder: Path, rows: list[dict], seconds: float = 600.0) -> None:
    folder.mkdir(parents=True)
    seeds = sorted({r["seed"] for r in rows})
    report = {"seconds": seconds, "seeds": seeds, "rows": rows, "reference": {"floor": FLOOR}, "roundtrip_floors": {}}
    (folder / "side_by_side.json").write_text(json.dumps(report))


def test_split_runs_merge_into_one_table_of_means_and_spreads(tmp_path, capsys):
    _report(tmp_path / "a", [_row("gan-fast", 0, 20.0), _row("wgan_gp.py", 0, 80.0)])
    _report(tmp_path / "b", [_row("gan-fast", 1, 30.0), _row("wgan_gp.py", 1, 90.0)])
    assert _module().main(["--merge", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--out", str(tmp_path / "all")]) == 0
    text = (tmp_path / "all" / "side_by_side.md").read_text()
    assert "| gankit `gan-fast` | 150 ± 50 | 2.00 ± 0.00 | 25.0 ± 5.0 |" in text
    assert "| PyTorch-GAN `wgan_gp.py` | 150 ± 50 | 2.00 ± 0.00 | 85.0 ± 5.0 |" in text
    assert "| real images (floor) | | | 0.85 |" in text and "(10 min each)" in text
    merged = json.loads((tmp_path / "all" / "side_by_side.json").read_text())
    assert merged["seeds"] == [0, 1] and len(merged["rows"]) == 4


def test_merging_runs_of_different_lengths_is_refused(tmp_path):
    _report(tmp_path / "a", [_row("gan-fast", 0, 20.0)])
    _report(tmp_path / "b", [_row("gan-fast", 1, 30.0)], seconds=300.0)
    with pytest.raises(SystemExit, match="different --seconds"):
        _module().main(["--merge", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--out", str(tmp_path / "all")])
    with pytest.raises(SystemExit, match="no side_by_side.json"):
        _module().main(["--merge", str(tmp_path / "nowhere"), "--out", str(tmp_path / "all")])
