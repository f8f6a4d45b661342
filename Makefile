# partner-review: `make report` and `make test` work alone on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
INPUT  ?= input
OUTPUT ?= output
SAMPLES := pipeline/samples/drops
ARGS   ?=

.PHONY: install report sample test lint typecheck bench clean help

help:
	@echo "make report   quarterly reviews from $(INPUT)/ (or the bundled samples when it holds no workbooks)"
	@echo "make test     the whole test suite"
	@echo "make lint     ruff and mypy over pipeline/"
	@echo "make bench    time a large synthetic portfolio (N=200 by default: make bench N=1000)"
	@echo "make install  create $(VENV) with the project and its test tools"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Real workbooks in $(INPUT)/ win; with none there, the bundled sample drops run (oldest quarter first,
# so the second quarter has history to compare with) into $(OUTPUT)/sample/, never mixed with real output.
report: $(STAMP)
	@if [ -n "$$(find $(INPUT) -type f \( -iname '*.xlsx' -o -iname '*.xlsm' -o -iname '*.xls' -o -iname '*.ods' -o -iname '*.csv' \) ! -name '~$$*' ! -name '.*' 2>/dev/null | head -n 1)" ]; then \
		$(BIN)/partner-review report --input $(INPUT) --output $(OUTPUT) $(ARGS); \
	else \
		$(MAKE) --no-print-directory sample; \
	fi

sample: $(STAMP)
	@echo "No workbooks in $(INPUT)/: running on the bundled SAMPLE workbooks into $(OUTPUT)/sample/"
	@set -e; for drop in $(SAMPLES)/*/; do \
		echo "== sample drop $$drop"; \
		$(BIN)/partner-review report --input $$drop --output $(OUTPUT)/sample $(ARGS); \
	done

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check pipeline
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

N ?= 200
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --partners $(N) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
