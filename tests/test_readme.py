"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_shows_the_two_commands_first():
    text = README.read_text()
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block.splitlines()[0].startswith("make demo") and first_block.splitlines()[1].startswith("make test")


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_blocks_run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run folders go under tmp_path/runs
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert BLOCKS, "the README has Python examples"
