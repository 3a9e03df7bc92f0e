# Two commands do all the set-up on a fresh machine (see README):
#   make demo   set up, render a few clips, train briefly, show the result
#   make test   set up, run the test suite
# Both are idempotent: the venv is rebuilt only when setup.cfg changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
DEMO   ?= runs/demo

.PHONY: setup demo test clean-demo

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup
	$(PY) -m generator.render --out $(DEMO)/data --seed 0 --config configs/demo.json --workers 2
	$(PY) -m manifests validate $(DEMO)/data
	$(PY) -m generator.preview $(DEMO)/data
	$(PY) -m trainer.fit --data $(DEMO)/data --out $(DEMO)/run --model blinkformer_tiny --epochs 15
	$(PY) -m trainer.evaluate --checkpoint $(DEMO)/run/best.pt --data $(DEMO)/data --split test --report $(DEMO)/report.json
	@echo "preview: $(DEMO)/data/preview.png  closure curves: $(DEMO)/data/closure_curves.png  report: $(DEMO)/report.json"

test: setup
	$(PY) -m pytest -n 2 -q

clean-demo:
	rm -rf $(DEMO)
