# Two commands do all the set-up on a fresh machine (see README):
#   make demo   set up, render a few clips, train briefly, show the result
#   make test   set up, run the test suite
# Both are idempotent: the venv is rebuilt only when setup.cfg changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
DEMO   ?= runs/demo
# Test processes: the cores we may use (nproc honours taskset and a container's cpuset; xdist's
# own -n auto counts physical cores and ignores both), at most 4, since several tests each start
# two Blender processes and more pytest workers would add memory rather than speed.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))

.PHONY: setup demo test clean-demo

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	# FaceMesh for real video, without its declared deps (see setup.cfg [video]): one OpenCV
	$(PY) -m pip install --quiet --no-deps mediapipe==0.10.21
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup
	# a few full faces to look at (contact sheet with landmarks, closure and phase drawn on);
	# seed 3: three of its first 6 clips hold a blink, the others partial closures (look-down, squint)
	$(PY) -m generator.render --out $(DEMO)/faces --clips 6 --seed 3 --config configs/demo.json --workers 2
	$(PY) -m generator.preview $(DEMO)/faces
	# eye-crop training data, fast: only a box around the eyes is rendered
	$(PY) -m generator.render --out $(DEMO)/data --clips 48 --seed 0 --config configs/eye_crops.json --workers 2
	$(PY) -m manifests validate $(DEMO)/data
	$(PY) -m trainer.fit --data $(DEMO)/data --out $(DEMO)/run --model blinkformer_tiny --epochs 30 --batch-size 8 --lr 1e-3 --no-progress --overwrite
	$(PY) -m trainer.evaluate --checkpoint $(DEMO)/run/best.pt --data $(DEMO)/data --split test --report $(DEMO)/report.json
	@echo "faces: $(DEMO)/faces/preview.png $(DEMO)/faces/closure_curves.png  held-out report: $(DEMO)/report.json (+ PR curve and closure plots beside it)"

test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) -q

clean-demo:
	rm -rf $(DEMO)
