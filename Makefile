# The two commands of the README:
#   make demo   set everything up, upgrade simulated appliances end to end, print the summary
#   make test   run every test (what CI runs)
SHELL := /bin/bash
export CARGO_TERM_COLOR := never
COLL_DIR := $(CURDIR)/.work/collections
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)

.PHONY: demo test bootstrap build docs collection unit integration clean

# The demo installs and builds only what it runs: the appliance's packages,
# .venv, and this machine's binary as a debug build of the checkout (demo/run.sh
# --dev). The static release build of both architectures is make test's.
demo:
	tools/bootstrap.sh --demo
	demo/run.sh --dev

test: bootstrap unit build docs collection integration

bootstrap:
	tools/bootstrap.sh

# Formatting and lint first: they take seconds and fail for the simplest reasons.
unit:
	cargo fmt --all --check
	shellcheck $$(git ls-files '*.sh')
	bin=$$(tools/install-ruff.sh) && $$bin/ruff check --config tools/ruff.toml bench demo tests plugins
	cargo test --workspace --all-targets --locked
	cargo clippy --workspace --all-targets --locked -- -D warnings

build:
	tools/build-binaries.sh --arch all

docs:
	tools/gen-docs.sh --check

# Install the tarball the build produced, so the tests exercise what users get.
collection:
	tools/build-collection.sh --no-build
	rm -rf $(COLL_DIR)
	.venv/bin/ansible-galaxy collection install --force -p $(COLL_DIR) dist/vcloud-usage_meter-$(VERSION).tar.gz

# Two pytest-xdist workers: most of the suite waits on simulated appliances (boots,
# reboots, settle windows), not on the CPU. loadscope keeps each test file (and each
# ansible-core class of tests/test_core_matrix.py) on one worker, so module-scoped
# appliances and venvs are made once. --durations prints where the time goes.
PYTEST_WORKERS ?= 2
integration:
	UM_COLLECTIONS_PATH=$(COLL_DIR) .venv/bin/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadscope \
	  --durations=30 tests/

clean:
	rm -rf target build dist .work
