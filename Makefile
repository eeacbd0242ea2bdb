# The README's commands. `make run` and `make test` install whatever is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
unexport PYTHONDONTWRITEBYTECODE

UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PY := .venv/bin/python
WIDGET_SRC := $(wildcard widget/src/*.js) widget/package.json
PYTEST_ARGS ?=

.PHONY: help install run test check lint format typecheck pytest bench clean widget embedder

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --user uv

.venv/.synced: pyproject.toml uv.lock .python-version | $(UV)
	$(UV) sync --frozen --compile-bytecode --quiet
	@touch $@

widget/node_modules/.installed: widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

static/widget.js: $(WIDGET_SRC) widget/node_modules/.installed
	cd widget && npm run --silent build

widget: static/widget.js ## build the embeddable widget

# The local embedding model as an ONNX file, built from the installed package's weights (no
# download); rebuilt when the dependencies or the builder change. The manifest is written last.
EMBEDDER := var/models/all-MiniLM-L6-v2.onnx
$(EMBEDDER).json: .venv/.synced apps/knowledge/embedder_build.py apps/knowledge/embedder_onnx.py
	$(PY) -m apps.knowledge.embedder_build --output $(EMBEDDER)

embedder: $(EMBEDDER).json ## build the local embedding model's ONNX file

install: .venv/.synced static/widget.js $(EMBEDDER).json ## install Python and npm dependencies, build the widget and the embedding model

run: install ## serve the product on http://127.0.0.1:8000 (embedded PostgreSQL, demo tenant)
	$(PY) -m config.launcher

test: install check pytest ## the whole test suite: lint, types, Python and widget tests

pytest: install
	$(PY) -m pytest $(PYTEST_ARGS)
	cd widget && npm test --silent

check: lint typecheck ## ruff (lint + format check) and mypy

lint: .venv/.synced
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: .venv/.synced
	$(PY) -m mypy

format: .venv/.synced ## rewrite code with ruff
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install ## run the benchmarks in bench/ (results: docs/benchmarks.md)
	$(PY) -m bench

clean: ## remove the virtual environment, builds and local data (var/)
	rm -rf .venv widget/node_modules static/widget.js var
