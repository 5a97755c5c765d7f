"""The random streams are named once and distinct: every module derives its generators from the table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import gankit
from gankit.streams import STREAMS, offset

ROOT = Path(gankit.__file__).parent


def test_no_two_streams_share_an_offset():
    by_offset: dict[int, list[str]] = {}
    for name, value in STREAMS.items():
        by_offset.setdefault(value, []).append(name)
    shared = {k: v for k, v in by_offset.items() if len(v) > 1}
    assert not shared, f"streams sharing an offset: {shared}"
    assert all(isinstance(v, int) and v > 0 for v in STREAMS.values())


def test_an_unknown_stream_is_refused_with_the_list():
    with pytest.raises(ValueError, match="the streams are"):
        offset("nosie")


def test_no_module_adds_a_bare_number_to_a_seed():
    """``seed + 7`` anywhere but the table would be a stream nobody else can see."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "streams.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
                    and any(isinstance(side, ast.Constant) and isinstance(side.value, int) and side.value != 0
                            for side in (node.left, node.right))
                    and any(re.search(r"seed", ast.unparse(side)) for side in (node.left, node.right)
                            if not isinstance(side, ast.Constant))):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "seeds offset by a bare number (add the stream to gankit.streams.STREAMS):\n" + "\n".join(found)


def test_every_named_stream_is_used_somewhere():
    text = "".join(p.read_text() for p in ROOT.rglob("*.py") if p.name != "streams.py")
    unused = [name for name in STREAMS if f'"{name}"' not in text]
    assert not unused, f"streams in the table no module draws: {unused}"
