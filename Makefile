# ipt-advisor developer tasks. Needs only python3 (3.11 or 3.12) and gcc:
# durable-rules ships as source only and is compiled on install.
#
#   make venv        create .venv and install ipt-advisor editable with test extras
#   make demo        assess examples/demo.yaml: text report, then demo-report.html; says how to start the web app
#   make test        lint and type-check (make check), then pytest (args: PYTEST_ARGS=...)
#   make check       ruff (lint, format) over everything and mypy over ipt_advisor and cli.py (first step of make test)
#   make lint-rules  validate the shipped rule set
#   make templates   regenerate ipt_advisor/report/compiled_*.py after editing a report, handout or summary template,
#                    and ipt_advisor/core/compiled_classes.py after editing a dataclass
#   make clean       remove build output, caches and reports (keeps .venv)
#   make distclean   clean, and remove .venv too

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# durable-rules 2.0.28 builds on 3.13 but fails at import there.
PY_OK := import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))

.DEFAULT_GOAL := help
.PHONY: help venv demo test check lint-rules templates clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

venv: $(STAMP)

# Reinstalls whenever the packaging metadata changes; rebuilds .venv from nothing if it
# is missing, broken (no working pip) or made with an unsupported Python.
$(STAMP): setup.cfg pyproject.toml
	@if ! $(PYTHON) -c '$(PY_OK)' 2>/dev/null; then \
	  found=$$($(PYTHON) --version 2>&1) || found="not found"; \
	  echo "error: ipt-advisor needs Python 3.11 or 3.12 (durable-rules fails on 3.13);" \
	    "'$(PYTHON)' is: $$found" >&2; \
	  echo "Install python3.11 or python3.12, then run e.g.: make venv PYTHON=python3.12" >&2; \
	  exit 1; \
	fi
	@if ! $(BIN)/python -c 'import pip; $(PY_OK)' 2>/dev/null; then \
	  echo "creating $(VENV) with $$($(PYTHON) --version)"; \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "error: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt install python3-venv)" >&2; \
	    exit 1; }; \
	fi
	$(BIN)/pip install --disable-pip-version-check -e '.[test]'
	@touch $@

demo: venv
	$(BIN)/ipt-advisor assess examples/demo.yaml
	$(BIN)/ipt-advisor assess examples/demo.yaml --format html -o demo-report.html
	@echo "HTML report written to $(CURDIR)/demo-report.html"
	@echo
	@echo "The clinicians' web app (intake form, reports, sign-off, case history):"
	@echo "  $(BIN)/ipt-advisor serve"
	@echo "then open the address it prints (http://127.0.0.1:8765/?token=...) in a browser on this machine."

test: check
	$(BIN)/pytest$(if $(PYTEST_ARGS), $(PYTEST_ARGS))

# Runs before the suite and stops it on the first finding, with the command that fixes it,
# so a branch merged with new lint or type errors fails in seconds, not after the suite.
# Settings: [tool.ruff] in pyproject.toml, [mypy] in setup.cfg.
check: venv
	@$(BIN)/ruff check . || { echo "make check: ruff found the problems above;" \
	  "'$(BIN)/ruff check --fix .' fixes those marked [*]" >&2; exit 1; }
	@$(BIN)/ruff format --check . || { echo "make check: the files above are not formatted;" \
	  "'$(BIN)/ruff format .' formats them" >&2; exit 1; }
	@$(BIN)/mypy ipt_advisor cli.py || { echo "make check: mypy found the type errors above" \
	  "(settings in setup.cfg [mypy])" >&2; exit 1; }

lint-rules: venv
	$(BIN)/ipt-advisor rules lint

# The report, handout and batch-summary templates compiled ahead of time (ipt_advisor/report/precompiled.py); a
# stale module is never used (each template's sha256 is checked), only slower, and
# tests/test_precompiled.py says so. With them the code of the package's dataclasses
# (ipt_advisor/core/precompiled_classes.py): an edited class is compiled as before, and
# tests/test_precompiled_classes.py says the table is stale.
templates: venv
	$(BIN)/python -m ipt_advisor.report.precompiled
	$(BIN)/python -m ipt_advisor.core.precompiled_classes

clean:
	rm -rf build dist *.egg-info demo-report.html site bench/out .pytest_cache .hypothesis .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
