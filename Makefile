# The two commands of the README:
#   make run    install everything, build the index of corpus/ if missing or stale, start the web chat
#   make test   install everything (dev extras and Chromium too) and run the whole test suite
#
# torch: the CPU build is installed first (a plain `pip install torch` pulls a multi-GB CUDA build).
# Elsewhere, point TORCH_INDEX at a CPU wheel index, e.g.
#   make run TORCH_SPEC=torch TORCH_INDEX=https://download.pytorch.org/whl/cpu

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test install install-dev browser index eval clean

run: install
	$(BIN)/policyqa index corpus
	$(BIN)/policyqa serve --host $(HOST) --port $(PORT)

test: install-dev browser
	HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False $(BIN)/python -m pytest

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Debian's Chromium for the browser tests (never a test tool's own browser download).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	else echo "note: /usr/bin/chromium missing and not root: install Debian's chromium (apt-get install chromium) or the browser test is skipped"; fi

index: install
	$(BIN)/policyqa index corpus

eval: install
	$(BIN)/python scripts/eval.py

clean:
	rm -rf $(VENV) index/gen-* index/CURRENT .eval-cache
