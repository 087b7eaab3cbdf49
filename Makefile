# The two commands of the README:
#   make demo   set everything up, upgrade simulated appliances end to end, print the summary
#   make test   run every test (what CI runs)
SHELL := /bin/bash
export CARGO_TERM_COLOR := never
COLL_DIR := $(CURDIR)/.work/collections

.PHONY: demo test bootstrap build docs collection unit integration clean

demo: bootstrap build
	demo/run.sh

test: bootstrap unit build docs collection integration

bootstrap:
	tools/bootstrap.sh

unit:
	cargo test --workspace --all-targets --locked
	cargo clippy --workspace --all-targets --locked -- -D warnings

build:
	tools/build-binaries.sh --arch all

docs:
	tools/gen-docs.sh --check

# Install the tarball the build produced, so the tests exercise what users get.
collection:
	tools/build-collection.sh --arch x86_64 --no-build
	rm -rf $(COLL_DIR)
	.venv/bin/ansible-galaxy collection install --force -p $(COLL_DIR) dist/x86_64/vcloud-usage_meter-*.tar.gz

integration:
	UM_COLLECTIONS_PATH=$(COLL_DIR) .venv/bin/pytest -p no:cacheprovider tests/

clean:
	rm -rf target build dist .work
