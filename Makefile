# PACSGuard: `make demo` runs the hardened PACS locally; `make test` runs every test. Both set up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
VIEWER_STAMP := $(VENV)/.viewer
PYTHON ?= python3.11

.PHONY: setup system-packages demo test lint format bench bench-scale reliability rehearse clean

setup: $(STAMP) $(SYSTEM_STAMP) $(VIEWER_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Debian packages of the PACS host (orthanc, nginx, nftables, dcmtk, ...): the same list the EC2
# bootstrap installs. Needs root; the distribution's own services are left stopped and disabled.
$(SYSTEM_STAMP): orthanc_config/packages.py | $(VENV)/bin/python
	python3 -m orthanc_config.packages install
	python3 -m orthanc_config.packages install-test
	touch $@

# The pinned OHIF viewer build from the npm registry, checked against its integrity hash, into the cache
# that `local up` installs it from (the EC2 bootstrap fetches and checks the same file).
$(VIEWER_STAMP): orthanc_config/viewer.py | $(VENV)/bin/python
	python3 -m orthanc_config.viewer fetch
	touch $@

system-packages: $(SYSTEM_STAMP)

demo: setup
	$(VENV)/bin/pacsguard local up

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) -m benchmarks.run

# The 100,000-instance scale figure (root, most of an hour on 2 cores, ~2 GB of disk): apart from `make bench`.
bench-scale: setup
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) -m benchmarks.scale --sizes 1000 10000 100000 --max-minutes 60 --output scale_100k.json
	$(PY) -m benchmarks.report

# Load, kill -9, database restart, full disk, scale-out and the backup/restore drill (root; -s shows the figures).
reliability: setup
	$(PY) -m pytest -s tests/host/test_reliability.py tests/host/test_disk_and_scale_out.py tests/host/test_backup_drill.py

# The EC2 host path on emulated instances: the dev plan's user data and bundle under Debian's python3, IMDSv2,
# moto, PostgreSQL with TLS as RDS (root; -s shows each instance's boot). Also part of `make test`.
rehearse: setup
	$(PY) -m pytest -s -v tests/rehearsal

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
