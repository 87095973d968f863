# Two commands on a fresh machine: `make serve` and `make test`.
# Each creates what it needs: the virtual environment and the default model.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODELS ?= models
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: help venv scorer train serve test bench soak audit clean

help:
	@echo "make serve   serve the default model on http://$(HOST):$(PORT) (trains it first if missing)"
	@echo "make test    run the test suite"
	@echo "make train   retrain the default model from seeds/ into $(MODELS)/"
	@echo "make scorer  build the compiled single-article scorer (needs a C compiler; serve and test build it too)"
	@echo "make bench   run the benchmarks (slow; each replaces its section of BENCHMARKS.md)"
	@echo "make audit   check the pinned dependencies for known vulnerabilities"
	@echo "make soak    run the long reliability scenarios (replaces its section of RELIABILITY.md)"

# The project itself, editable, with the trainer, Spark and test extras, pinned by requirements.txt.
$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.txt -e ".[train,spark,dev]"
	touch $(STAMP)

venv: $(STAMP)

# The compiled single-article scorer (runtime/scorer_c.py); without a C compiler the service scores
# every article in Python, so a missing compiler is not an error.
SCORER := runtime/_scorer.so
$(SCORER): runtime/_scorer.c
	@if command -v $(CC) >/dev/null 2>&1; then echo "$(CC) -O2 -shared -fPIC -o $@ $< -lm"; \
	  $(CC) -O2 -shared -fPIC -o $@ $< -lm; \
	else echo "no C compiler ($(CC)): articles are scored in Python (see runtime/scorer_c.py)"; fi

scorer: $(SCORER)

$(MODELS)/current: | $(STAMP)
	$(BIN)/python -m training --data seeds --out $(MODELS)

train: $(STAMP) $(SCORER)
	$(BIN)/python -m training --data seeds --out $(MODELS)

serve: $(STAMP) $(SCORER) $(MODELS)/current
	TOPICS_MODEL_DIR=$(MODELS) TOPICS_BIND=$(HOST):$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py

test: $(STAMP) $(SCORER)
	$(BIN)/python -m pytest

# Benchmarks need ../shared/corpora, fastText (built from source), wrk (a Debian package) and Java (Spark).
bench: $(STAMP) $(SCORER)
	$(BIN)/python -m pip install --quiet -c requirements.txt -e ".[bench]"
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.quality
	$(BIN)/python -m bench.crosscorpus
	$(BIN)/python -m bench.realnews
	$(BIN)/python -m bench.vs_fasttext
	$(BIN)/python -m bench.speed
	$(BIN)/python -m bench.http
	$(BIN)/python -m bench.breakdown
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.streaming
	$(BIN)/python -m bench.batch
	$(BIN)/python -m bench.choices
	$(BIN)/python -m bench.slowclients

soak: $(STAMP) $(SCORER)
	$(BIN)/python -m bench.soak

# Known vulnerabilities in the pinned dependencies (pip-audit, in its own
# environment). Fails on a vulnerable pin; where the vulnerability service
# cannot be reached, pip-audit lists the packages it could not audit.
audit:
	test -x .venv-audit/bin/pip-audit || ($(PYTHON) -m venv .venv-audit && \
	  .venv-audit/bin/python -m pip install --quiet pip-audit==2.10.1)
	.venv-audit/bin/pip-audit --requirement requirements.txt --no-deps --disable-pip --progress-spinner off

clean:
	rm -rf $(VENV) .venv-audit .pytest_cache $(SCORER)
