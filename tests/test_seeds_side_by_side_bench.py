"""benchmarks/seeds_side_by_side.py: the three ways of training seeds, each timed as whole commands."""

import json

import pytest

from conftest import load_benchmark


def test_the_benchmark_times_every_way_and_checks_the_seeds_went_side_by_side(tmp_path, capsys):
    bench = load_benchmark("seeds_side_by_side")
    out = tmp_path / "result.json"
    assert bench.main(["--data", "digits", "--seeds", "2", "--iterations", "10", "--rounds", "1", "--threads", "2",
                       "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["seconds"]) == set(bench.WAYS) and all(len(v) == 1 and v[0] > 0
                                                             for v in result["seconds"].values())
    assert result["speed_up"]["one after another"] == 1.0
    table = capsys.readouterr().out
    assert all(f"| {way} |" in table for way in bench.WAYS)
    with pytest.raises(SystemExit, match="did not train side by side"):  # one thread: stacked, and it says so
        bench.run("digits", 2, 5, 1, threads=1, progress=False)


@pytest.mark.parametrize("flag, value, least", [("--seeds", "1", 2), ("--iterations", "0", 1), ("--rounds", "0", 1)])
def test_bad_arguments_are_refused_naming_the_flag(flag, value, least, capsys):
    bench = load_benchmark("seeds_side_by_side")
    with pytest.raises(SystemExit) as exit_:
        bench.main([flag, value])
    assert exit_.value.code == 2 and f"{flag} must be >= {least}; got {value}" in capsys.readouterr().err
