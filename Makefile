# `make demo` and `make test` are the README's two commands; each sets everything up first.
QUESTION ?= My father has small cell lung cancer that has spread to the liver. He started chemotherapy yesterday. How is it treated, and can he be cured?
PYTEST_ARGS ?=

.PHONY: setup demo test lint format llamacpp

setup:
	./scripts/setup.sh

# Opt-in: compiles llama.cpp once (minutes: 31 here on 2 busy cores) for the GGUF export checks; cached wheel.
llamacpp: setup
	./scripts/setup-llamacpp.sh

demo: setup
	.venv/bin/oncogpt ask "$(QUESTION)"

lint: setup
	.venv/bin/ruff check oncogpt tests $(wildcard benchmarks)
	.venv/bin/ruff format --check oncogpt tests $(wildcard benchmarks)

format: setup
	.venv/bin/ruff format oncogpt tests $(wildcard benchmarks)
	.venv/bin/ruff check --fix oncogpt tests $(wildcard benchmarks)

test: lint
	./scripts/install-browser.sh
	./scripts/setup-llamacpp.sh --cached-only
	.venv/bin/python -m pytest $(PYTEST_ARGS)
