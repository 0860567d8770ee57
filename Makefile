# The two commands: `make book` (executed site in _build/html) and `make test` (everything CI checks).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
LAUNCH := $(PY) code/engine/ocbook_engine/launcher.py
WITH_ENGINE := $(PY) -m ocbook.with_engine --
PYTEST := $(PY) -m pytest -p no:cacheprovider
# the conformance suite's files side by side on one engine (most of its time is waiting for retries and timers)
CONFORMANCE := $(PYTEST) tests/engine -n 3 --dist loadfile
# Every page is read again (--all); notebooks come from the execution cache, so only chapters that changed or
# failed last time are executed. A failed chapter is never cached, so it can never turn into a green build.
BUILD := $(VENV)/bin/jupyter-book build . -W -n --keep-going --all
SYSDEPS := .ci/system-deps
# The execution cache is keyed on a chapter's cells only: a change to the helpers, handlers, engine plugins or
# pinned packages must also execute the chapters again, so the cache is dropped when their fingerprint changes.
CACHE := _build/.jupyter_cache
FINGERPRINT = $$(find code _ext -name '*.py' -not -path '*/__pycache__/*' | sort | xargs cat \
                 requirements.lock code/engine/requirements.lock | sha256sum | cut -c1-16)
FRESH_CACHE = mkdir -p _build; fp=$(FINGERPRINT); [ "$$(cat _build/.code-fingerprint 2>/dev/null)" = "$$fp" ] \
              || { rm -rf $(CACHE); echo "$$fp" > _build/.code-fingerprint; }
PORT ?= 8000
N ?= 01
LAB_PORT ?= 8888

.PHONY: book test setup sysdeps-book sysdeps-test engine-setup engine-start engine-stop engine-status engine-logs \
        bench serve clean chapter chapter-memory unit conformance notebooks site site-check expected lock \
        workflow-lint lint templates templates-lint experiment appendix

book: sysdeps-book setup
	@$(FRESH_CACHE)
	@$(WITH_ENGINE) $(BUILD); built=$$?; $(PY) -m ocbook.buildcheck; checked=$$?; \
	  if [ $$built -ne 0 ] || [ $$checked -ne 0 ]; then echo "make book: FAILED (see above)"; exit 1; fi
	@echo
	@echo "The book is in _build/html/index.html; serve it with: make serve (http://127.0.0.1:$(PORT))"

# Each chapter is executed once (empty cache), by the site build; nbval then validates what it executed.
# The JupyterLab check then runs chapter 1 once more, through the browser, on the same engine.
test: sysdeps-test setup
	@rm -f _build/.code-fingerprint; $(FRESH_CACHE)
	$(MAKE) --no-print-directory lint workflow-lint templates-lint
	$(PYTEST) tests/unit
	$(WITH_ENGINE) bash -c '$(CONFORMANCE) && { \
	    $(BUILD); built=$$?; \
	    $(PYTEST) chapters --from-build; validated=$$?; \
	    $(PY) -m ocbook.buildcheck; checked=$$?; \
	    [ $$built -eq 0 ] && [ $$validated -eq 0 ] && [ $$checked -eq 0 ]; } \
	  && $(PYTEST) tests/site tests/lab'

# ---- set-up: system tools first (seconds), then the book's venv (Python >= 3.11) and the engine's (3.13)
sysdeps-book:
	@$(SYSDEPS) ensure book
sysdeps-test:
	@$(SYSDEPS) ensure test

setup: $(VENV)/.installed engine-setup

# a venv holding just uv (at the locked version), which then installs everything else
$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "the book needs Python >= 3.11; run with PYTHON=/path/to/python3.11 (or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q "$$(grep '^uv==' requirements.lock)"

$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	@grep -q "requirements.txt sha256 $$(sha256sum requirements.txt | cut -c1-64)" requirements.lock || \
	  { echo "requirements.txt changed since requirements.lock was made: run \`make lock\`"; exit 1; }
	$(UV) pip sync -q --python $(PY) requirements.lock
	rm -f $(VENV)/lib/python3*/site-packages/ocbook.pth  # the path file that preceded the package
	$(UV) pip install -q --python $(PY) -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# With an explicit endpoint (AWS_ENDPOINT_URL or LOCALSTACK_ENDPOINT) the embedded engine is never started,
# so its venv (and Python 3.13) is not needed.
engine-setup: $(VENV)/.installed
ifeq ($(strip $(AWS_ENDPOINT_URL)$(LOCALSTACK_ENDPOINT)),)
	@grep -q "requirements.txt sha256 $$(sha256sum code/engine/requirements.txt | cut -c1-64)" \
	  code/engine/requirements.lock || { echo "code/engine/requirements.txt changed since its lock was made: \
	  run \`make lock\`"; exit 1; }
	$(LAUNCH) setup
else
	@echo "[engine] not set up: the book uses $(or $(AWS_ENDPOINT_URL),$(LOCALSTACK_ENDPOINT))"
endif

# Regenerate both lock files from requirements.txt and code/engine/requirements.txt (then run `make setup`).
lock: | $(UV)
	$(UV) pip compile -q --universal --python-version 3.11 requirements.txt -o requirements.lock
	echo "# input: requirements.txt sha256 $$(sha256sum requirements.txt | cut -c1-64)" >> requirements.lock
	$(UV) pip compile -q --python-version 3.13 --override code/engine/overrides.txt code/engine/requirements.txt \
	  -o code/engine/requirements.lock
	echo "# input: requirements.txt sha256 $$(sha256sum code/engine/requirements.txt | cut -c1-64)" \
	  >> code/engine/requirements.lock

# ---- the engine by hand
engine-start: setup
	$(LAUNCH) start
engine-stop:
	$(LAUNCH) stop
engine-status:
	$(LAUNCH) status
engine-logs:
	$(LAUNCH) logs -n 100
bench: setup
	$(LAUNCH) bench

# ---- parts of `make test`
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
# The SAM templates under templates/ are generated (code/ocbook/templates.py); tests/unit/test_templates.py fails
# when the committed files differ. cfn-lint comes from the engine's venv: it is a LocalStack dependency there,
# pinned by code/engine/requirements.lock next to the aws-sam-translator the engine's CloudFormation uses.
CFN_LINT = $${OCBOOK_ENGINE_VENV:-$${OCBOOK_ENGINE_HOME:-.engine}/venv}/bin/cfn-lint
templates: $(VENV)/.installed
	$(PY) -m ocbook.templates
templates-lint: $(VENV)/.installed
	@$(LAUNCH) setup >/dev/null
	$(CFN_LINT) templates/*.yaml && echo "cfn-lint: no errors or warnings in templates/*.yaml"
unit: setup
	$(PYTEST) tests/unit
conformance: setup
	$(WITH_ENGINE) $(CONFORMANCE)
# every chapter run by nbval in its own kernel (no site build)
notebooks: setup
	$(WITH_ENGINE) $(PYTEST) chapters
chapter: setup
	$(WITH_ENGINE) $(PYTEST) chapters -k "$(N)"
# the large comparison (ocbook.experiment): 5 repetitions x 100 trips per style after 8 warm-up trips, with faults,
# duplicated and reordered events; writes results/experiment/ (commit it: chapter 7 reads it). About 15 min.
experiment: setup
	$(WITH_ENGINE) $(PY) -m ocbook.experiment --trips 100 --repetitions 5 --warmup 8 --concurrency 8 \
	    --out results/experiment
	$(PY) -m ocbook.appendix
# the appendix's cost table from results/experiment and the price file (after a price change; `make experiment`
# runs it too); tests/unit/test_appendix_costs.py fails when the committed page differs
appendix: $(VENV)/.installed
	$(PY) -m ocbook.appendix
chapter-memory: engine-start
	$(LAUNCH) peak -- $(PYTEST) chapters -q -k "$(N)"
# record the outputs of cells tagged nbval-check-output from the notebooks the site build executed
expected: book
	$(PY) tests/record_expected.py

# the site from the execution cache (same as `make book`), and the browser check of the built site
site: book
site-check: setup
	$(PYTEST) tests/site

# the CI workflow in .github/workflows, checked offline: actionlint (shellcheck/pyflakes integrations off, so the
# result does not depend on what else is installed) and zizmor (security: permissions, pinning, injection)
workflow-lint: $(VENV)/.installed
	$(VENV)/bin/actionlint -shellcheck= -pyflakes= .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline --quiet .github/workflows

# ---- running the chapters yourself: JupyterLab with the chapters as notebooks (config in .jupyter/)
.PHONY: lab lab-check
lab: setup
	$(PY) -m ocbook.lab --port $(LAB_PORT)
lab-check: setup
	$(PY) -m pytest tests/lab -p no:cacheprovider

serve:
	@echo "Serving _build/html at http://127.0.0.1:$(PORT) (Ctrl-C to stop)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

clean:
	-$(LAUNCH) stop 2>/dev/null
	rm -rf _build .pytest_cache
