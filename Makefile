# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The pinned CPU wheel goes in first, so that `torch>=2.2` in pyproject is
# already satisfied and no multi-GB CUDA build is fetched.
TORCH  := torch==2.13.0

.PHONY: demo test install lint docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gankit demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

# The API reference from the docstrings (pdoc, of the dev extra): docs/api/index.html. Not kept in git.
docs: $(STAMP)
	rm -rf docs/api
	$(PY) docs/make_api.py docs/api

clean:
	rm -rf $(VENV) runs .pytest_cache docs/api
