"""The API reference: `make docs`'s generator runs, and its pages hold what the package exports."""

import html
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "make_api.py"


def generator():
    """docs/make_api.py as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_api", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The reference, written as `make docs` writes it (the script, in its own process)."""
    out = tmp_path_factory.mktemp("api")
    done = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def page(site: Path, module: str) -> Path:
    return site / (module.replace(".", "/") + ".html")


def plain(text: str) -> str:
    """Text without HTML tags, entities, reST roles, backquotes or repeated white space."""
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc):", "", text).replace("`", "")
    return " ".join(text.split())


def test_the_make_target_runs_the_generator():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^docs: \$\(STAMP\)\n(\t.*\n)*\t\$\(PY\) docs/make_api\.py", makefile, flags=re.M)
    assert re.search(r'"pdoc==[\d.]+"', (ROOT / "pyproject.toml").read_text())  # pinned in the dev extra


def test_a_page_per_public_module(site):
    modules = generator().MODULES
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert pages == {"index.html"} | {page(site, m).relative_to(site).as_posix() for m in modules}
    assert 'url=./gankit.html"' in (site / "index.html").read_text()  # the index opens the package's page
    listed = re.findall(r'<li><a href="gankit/(\w+)\.html">gankit\.\1</a></li>', page(site, "gankit").read_text())
    assert ["gankit." + name for name in listed] == modules[1:]  # and that page lists every other one


def test_every_exported_name_has_its_entry(site):
    """Each name of a public module's __all__ is an anchor on its page."""
    for module in generator().MODULES:
        exported = getattr(importlib.import_module(module), "__all__", [])
        ids = set(re.findall(r'\bid="([^"]+)"', page(site, module).read_text()))
        assert not set(exported) - {"__version__"} - ids, module


def test_the_package_page_shows_each_exported_function_with_its_docstring(site):
    import gankit

    text = plain(page(site, "gankit").read_text())
    for name in gankit.__all__:
        obj = getattr(gankit, name)
        if name == "__version__":
            continue
        first = inspect.getdoc(obj).splitlines()[0]
        assert plain(first) in text, name
        if inspect.isfunction(obj):
            assert f"def {name}(" in text, name


def test_no_broken_links_between_pages(site):
    ids: dict[Path, set[str]] = {}

    def anchors(path: Path) -> set[str]:
        if path not in ids:
            ids[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text()))
        return ids[path]

    checked = 0
    for source in site.rglob("*.html"):
        markup = re.sub(r"<script\b.*?</script>", "", source.read_text(), flags=re.S)  # the search's JS templates
        for href in re.findall(r'\bhref="([^"]*)"', markup):
            parts = urlsplit(html.unescape(href))
            if parts.scheme or parts.netloc:
                continue  # the web (MathJax, pdoc's home page)
            target = (source.parent / parts.path).resolve() if parts.path else source
            assert target.is_file(), f"{source.name}: {href}"
            if parts.fragment:
                assert parts.fragment in anchors(target), f"{source.name}: {href}"
            checked += 1
    assert checked > 1000
