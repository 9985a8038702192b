# Bakery — two commands do everything on a fresh Debian bookworm machine (as root):
#   make bake   bake recipes/debian-base.yaml into ./.bakery and print a summary
#   make test   ruff + mypy (strict) + import-linter (the layers) + pytest
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := mmdebstrap bubblewrap libseccomp2 pigz zstd git skopeo umoci docker.io docker-registry \
                ca-certificates arch-test postgresql qemu-system-x86 qemu-utils ovmf e2fsprogs dosfstools mtools fdisk grub-efi-amd64-bin grub-pc-bin grub-common packer chromium
PYTEST_ARGS ?=

SID_TOOLS := cosign crane oras docker-compose

.PHONY: help setup apt-packages sid-tools sarif-multitool bake test lint typecheck layers unit schema bench clean

help:
	@echo "make bake    bake recipes/debian-base.yaml into ./.bakery"
	@echo "make test    lint, type-check and run the whole test suite"
	@echo "make setup   install Debian packages and the .venv (idempotent)"
	@echo "make bench   run the benchmarks in benchmarks/ and write benchmarks/results.md"

setup: apt-packages sid-tools sarif-multitool $(VENV)/.installed

apt-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# cosign, crane and oras are not in bookworm: unpacked from sid's .debs, see the script
sid-tools: apt-packages
	@bash scripts/install-sid-tools.sh $(SID_TOOLS)

# Microsoft's SARIF validator (SARIF SDK), from npm, for the tests of `bakery scan --format sarif`
sarif-multitool:
	@bash scripts/install-sarif-multitool.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

bake: setup
	$(BIN)/bakery bake recipes/debian-base.yaml

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# the layers of the code and no cycles between packages ([tool.importlinter] in pyproject.toml)
layers: setup
	$(BIN)/lint-imports

test: setup lint typecheck layers
	$(BIN)/pytest $(PYTEST_ARGS)

unit: setup
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

schema: setup
	$(BIN)/bakery schema -o recipes/schema.json

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf .bakery .mypy_cache .ruff_cache .pytest_cache
