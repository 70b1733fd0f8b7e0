# `make run` serves the dashboard on the demo at http://127.0.0.1:8501 (this machine only); `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.requirements-installed
PORT ?= 8501
# This machine only. Another address (e.g. ADDRESS=0.0.0.0) serves the network and then needs sign-in (README).
ADDRESS ?= 127.0.0.1

.PHONY: setup run test lint bench demo clean

$(READY): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(READY)

setup: $(READY)

run: setup
	$(BIN)/streamlit run dashboard.py --server.address "$(ADDRESS)" --server.port $(PORT) --server.headless true

test: setup
	$(BIN)/python -m pytest -n 2

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: setup
	$(BIN)/python -m analysis demo --out data/demo

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
