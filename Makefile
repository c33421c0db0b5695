# Two commands set everything up: `make run` and `make test`.
# The Python that makes .venv (`PY=...` chooses): the distribution's python3 when it is usable (below), else python3
# on the PATH. Why: distributions build theirs with PGO and LTO, as the image's python:3.11-slim is built;
# pyenv's and other source builds default to neither, and there the batch runs 9% more instructions, 21% more
# instruction-cache misses and ~13% more CPU a message (docs/performance.md, "Levers kept", s34).
# Usable: 3.11+, venv with ensurepip (Debian: python3-venv), and its C headers for the native modules (python3-dev).
SYSTEM_PY := /usr/bin/python3
SYSTEM_PY_USABLE := import os, sys, sysconfig, ensurepip, venv; \
  sys.exit(sys.version_info < (3, 11) or not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))
PY ?= $(shell $(SYSTEM_PY) -c '$(SYSTEM_PY_USABLE)' >/dev/null 2>&1 && echo $(SYSTEM_PY) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REF ?= $(abspath ../shared/reference)
export OVERSTAP_REFERENCE_DIR ?= $(REF)
PORT ?= 8080
TESTBED_PORT ?= 8081
DATA ?= data
# Test processes for `make test` (pytest-xdist, whole files to one process so their servers start once); 0 = one.
TEST_PROCESSES ?= 2

# podman if present (builds Docker-format images so HEALTHCHECK and STOPSIGNAL are kept), else docker.
ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IMAGE ?= overstap

.PHONY: venv run test deep lint bench mutate clean image constraints

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The native trie walk (gateway/mapping/_native.pyx, against the installed lxml's headers) and creeerZaak writer
# (gateway/render/_zkn_native.pyx). Without a C compiler they are left out and the Python walk and writer run
# (same results, slower; tried again at the next make); CI requires them (both ways are tested there).
NATIVE := $(VENV)/.native
$(NATIVE): $(STAMP) gateway/mapping/_native.pyx gateway/render/_zkn_native.pyx native/build.py
	$(BIN)/python native/build.py $(if $(CI),--require,)
	@$(BIN)/python -c 'import gateway.mapping._native, gateway.render._zkn_native' 2>/dev/null && touch $(NATIVE) \
	  || echo "native walk and writer not built: the Python ones run (make tries again next time)"

venv: $(STAMP) $(NATIVE)

# The gateway, delivering to the testbed zaaksysteem beside it (http://127.0.0.1:$(TESTBED_PORT)/zaken shows
# the zaken); the testbed stops with the gateway.
run: $(STAMP) $(NATIVE)
	$(BIN)/overstap testbed --port $(TESTBED_PORT) --data-dir $(DATA)/testbed & tb=$$!; \
	trap 'kill $$tb 2>/dev/null; wait $$tb 2>/dev/null' EXIT INT TERM; \
	$(BIN)/overstap serve --data-dir $(DATA) --port $(PORT) --downstream http://127.0.0.1:$(TESTBED_PORT)/soap \
	  --downstream-order created

test: $(STAMP) $(NATIVE)
	$(BIN)/ruff check gateway tests benchmarks
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile --durations=30

# The nightly's deep run (.ci/nightly): the files with depth-dependent tests (tests/depth.py) at full depth.
deep: $(STAMP) $(NATIVE)
	OVERSTAP_DEPTH=long $(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile --durations=30 \
	  $$(grep -l '^from depth import' tests/test_*.py)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) $(NATIVE)
	$(BIN)/python benchmarks/convert_bench.py

# Named mutations over the promise-carrying modules (docs/testing.md); SUBSET=quick for the CI-sized run.
mutate: $(STAMP) $(NATIVE)
	$(BIN)/python tests/mutation/run.py $(if $(SUBSET),--subset $(SUBSET),)

image:
	$(ENGINE) build $(if $(filter podman,$(notdir $(ENGINE))),--format docker) -t $(IMAGE) .

constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze | grep -v -i -E '^#|^-e |^overstap(=|@| )'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache out data build gateway/mapping/_native.c gateway/mapping/_native.*.so \
	  gateway/render/_zkn_native.c gateway/render/_zkn_native.*.so
