# The two commands: `make book` (executed site in _build/html) and `make test` (everything CI checks).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAUNCH := $(PY) code/engine/ocbook_engine/launcher.py
WITH_ENGINE := $(PY) -m ocbook.with_engine --
PORT ?= 8000
N ?= 01
LAB_PORT ?= 8888

.PHONY: book test setup engine-setup engine-start engine-stop engine-status engine-logs bench \
        serve clean chapter chapter-memory unit conformance notebooks site site-check expected

book: setup
	$(WITH_ENGINE) $(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The book is in _build/html/index.html; serve it with: make serve (http://127.0.0.1:$(PORT))"

test: setup
	$(WITH_ENGINE) bash -c '$(PY) -m pytest tests/unit tests/engine chapters -p no:cacheprovider \
	  && $(VENV)/bin/jupyter-book build . -W -n --keep-going \
	  && $(PY) -m pytest tests/site -p no:cacheprovider'

# ---- set-up: the book's venv (any Python >= 3.11) and the engine's venv (Python 3.13), each once
setup: $(VENV)/.installed engine-setup

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'ocbook.pth').write_text('$(CURDIR)/code\n$(CURDIR)/code/functions\n')"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

engine-setup: $(VENV)/.installed
	$(LAUNCH) setup

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
unit: setup
	$(PY) -m pytest tests/unit -p no:cacheprovider
conformance: setup
	$(WITH_ENGINE) $(PY) -m pytest tests/engine -p no:cacheprovider
notebooks: setup
	$(WITH_ENGINE) $(PY) -m pytest chapters -p no:cacheprovider
chapter: setup
	$(WITH_ENGINE) $(PY) -m pytest chapters -p no:cacheprovider -k "$(N)"
chapter-memory: engine-start
	$(LAUNCH) peak -- $(PY) -m pytest chapters -q -p no:cacheprovider -k "$(N)"
expected: setup
	$(WITH_ENGINE) $(PY) tests/record_expected.py

# strict site build from the execution cache (a chapter is executed again only if it changed)
site: setup
	$(WITH_ENGINE) $(VENV)/bin/jupyter-book build . -W -n --keep-going
site-check: setup
	$(PY) -m pytest tests/site -p no:cacheprovider

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
