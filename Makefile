# make demo: create .venv (first time), install pinned dependencies, run the demo pipeline.
# make test: the test suite, in the same venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean-demo

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,ja,carbon,tb,search,onnx,ray,ui]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/medforge run configs/demo.yaml
	@echo "look at it in a browser: $(BIN)/medforge serve runs/demo   (then open http://127.0.0.1:7860)"

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

clean-demo:
	rm -rf runs/demo
