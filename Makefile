# `make run` opens the dashboard on the demo; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.requirements-installed
PORT ?= 8501

.PHONY: setup run test bench demo clean

$(READY): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(READY)

setup: $(READY)

run: setup
	$(BIN)/streamlit run dashboard.py --server.port $(PORT) --server.headless false

test: setup
	$(BIN)/python -m pytest -n 2

demo: setup
	$(BIN)/python -m analysis demo --out data/demo

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
