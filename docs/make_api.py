"""Write gankit's API reference, HTML pages generated from the docstrings by pdoc.

    python docs/make_api.py [OUT]      # default docs/api; `make docs` clears it first and runs this

One page per public module (``MODULES``), each name of a module's ``__all__``
with its signature and docstring; docstrings are Google style with reST roles
and ``.. math::`` blocks, which pdoc turns into Markdown (formulas are typeset
by MathJax when the page can reach it, and stay readable LaTeX when it cannot).
The pages are not kept in git: they follow the code, so build them.
``tests/test_docs.py`` runs this script and checks what it writes.
"""

import sys
import warnings
from pathlib import Path

import pdoc
import pdoc.render

#: The public modules: the package (its ``__all__``: ``train``, ``TrainConfig``, ...) and what users import from.
MODULES = [
    "gankit",
    "gankit.api",
    "gankit.config",
    "gankit.training",
    "gankit.objectives",
    "gankit.data",
    "gankit.evaluation",
    "gankit.metrics",
    "gankit.divergences",
    "gankit.sampling",
    "gankit.export",
    "gankit.doctor",
]

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "api"


def build(out: Path) -> list[Path]:
    """Write the reference into ``out`` (``index.html`` and one page per module); return the pages."""
    from gankit import __version__

    pdoc.render.configure(
        docformat="google",
        math=True,
        show_source=True,
        search=True,
        template_directory=HERE / "api_templates",
        footer_text=f"gankit {__version__}",
    )
    # A NamedTuple's generated __init__ carries its fields' annotations as strings that pdoc cannot
    # evaluate in the namespace it was made in; the field types are still shown with the fields.
    warnings.filterwarnings("ignore", message=r"Error parsing type annotation .*Objective\.__init__")
    pdoc.pdoc(*MODULES, output_directory=out)
    return [out / (name.replace(".", "/") + ".html") for name in MODULES]


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    pages = build(out)
    print(f"wrote {len(pages)} pages into {out} (open {out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
