# partner-review: `make report` and `make test` work alone on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
INPUT  ?= input
OUTPUT ?= output
SAMPLES := pipeline/samples/drops
LOCK   := requirements.lock
ARGS   ?=

.PHONY: install lock check-lowest report sample test lint typecheck bench clean help

help:
	@echo "make report   quarterly reviews from $(INPUT)/ (or the bundled samples when it holds no workbooks)"
	@echo "make test     the whole test suite"
	@echo "make lint     ruff and mypy over pipeline/"
	@echo "make bench    time a large synthetic portfolio (N=200 by default: make bench N=1000)"
	@echo "make install  create $(VENV) with the project and its test tools, the versions pinned in $(LOCK)"
	@echo "make lock     refresh $(LOCK) (newest versions within pyproject.toml's bounds, with their hashes)"
	@echo "make check-lowest  the sample report and a quick part of the suite on the lowest versions pyproject.toml allows"

# Everything from the lock, hash-checked (the log lists each pinned version), then the project itself without
# resolving anything. The lock is made on Linux for Python 3.11 (`make lock`).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# The newest versions pyproject.toml allows, with every file's hash, for the runtime and the test tools;
# no index URL is written (pip's own configuration says where packages come from). LOCKFLAGS= keeps the
# current pins and only adds what is missing.
LOCKFLAGS ?= --upgrade
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m piptools --version >/dev/null 2>&1 || $(BIN)/python -m pip install -q pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/python -m piptools compile --quiet --generate-hashes \
		--no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras --extra test $(LOCKFLAGS) \
		--output-file $(LOCK) pyproject.toml

# A throwaway venv with the lowest version of every direct dependency (uv's lowest-direct resolution), the
# two sample drops reported there under -q (any warning fails), then a quick part of the suite (CHECK_TESTS).
LOWEST ?= /tmp/partner-review-lowest
CHECK_TESTS ?= tests/test_samples.py tests/test_sample_command.py tests/test_email.py tests/test_exactly_once.py \
	tests/test_read.py tests/test_validate_cli.py tests/test_operations.py tests/test_reconciled_xlsx.py
check-lowest:
	rm -rf $(LOWEST) && $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q uv
	$(LOWEST)/bin/python -m uv pip install --python $(LOWEST)/bin/python --resolution lowest-direct -e .
	$(LOWEST)/bin/python -m uv pip install --python $(LOWEST)/bin/python pytest pytest-xdist hypothesis aiosmtpd xlwt "setuptools>=77"
	$(LOWEST)/bin/python -m uv pip list --python $(LOWEST)/bin/python
	@set -e; for drop in $(SAMPLES)/*/; do \
		$(LOWEST)/bin/partner-review report -q --input $$drop --output $(LOWEST)/out --jobs 2 2>$(LOWEST)/stderr; \
		if [ -s $(LOWEST)/stderr ]; then echo "check-lowest: output on stderr under -q:"; cat $(LOWEST)/stderr; exit 1; fi; \
	done
	$(LOWEST)/bin/python -m pytest -q -n 2 -p no:cacheprovider $(CHECK_TESTS)
	@echo "check-lowest: the sample report and the quick tests pass on the lowest direct versions"

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
