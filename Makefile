# One-word dev commands. Every target creates and reuses .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install chat test lint format typecheck bench sysdeps clean

$(STAMP): pyproject.toml tests/requirements-sglang.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[local,embed,test]'
	# SGLang only for its wire schema (conformance tests): no deps, then what its import needs.
	$(PY) -m pip install -q --no-deps -r tests/requirements-sglang.txt
	touch $(STAMP)

install: $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/kanjian chat

test: $(STAMP) sysdeps
	$(PY) -m pytest

# ruff, format, mypy strict, the layering contracts (pyproject [tool.importlinter]) and every
# imported package declared, none unused (deptry over the package folders).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/deptry agent tools vlm memory tui

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench

# System packages the tests use: CJK fonts (Chinese test images), tmux (the end-to-end
# terminal test), Tesseract (the OCR baseline), Xvfb and xclip (the chat's clipboard paste,
# tested on a private X server). Installed with apt-get where that can run.
SYSDEPS := tesseract-ocr tesseract-ocr-chi-sim fonts-noto-cjk tmux xvfb xclip
sysdeps:
	@if command -v tesseract >/dev/null && command -v tmux >/dev/null \
	    && command -v Xvfb >/dev/null && command -v xclip >/dev/null \
	    && tesseract --list-langs 2>/dev/null | grep -qx chi_sim \
	    && fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then \
	  echo "system packages present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq $(SYSDEPS) >/dev/null; \
	else \
	  echo "Install these system packages first (Debian names): $(SYSDEPS)"; exit 1; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
