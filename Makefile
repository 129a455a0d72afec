# The two commands: `make run` (bring the platform up and assess the demo radiograph) and `make test`.
PYTHON := .venv/bin/python

.PHONY: run test bench stop status bootstrap models

bootstrap:
	bash .ci/bootstrap.sh

run: bootstrap
	$(PYTHON) scripts/run_platform.py

test: bootstrap
	$(PYTHON) scripts/devstack.py services-up --skip seaweedfs
	$(PYTHON) -m pytest

bench: bootstrap
	$(PYTHON) bench/bench_bone_age.py

models: bootstrap
	$(PYTHON) -m model_repository.build_models --variant full

stop:
	$(PYTHON) scripts/devstack.py down

status:
	$(PYTHON) scripts/devstack.py status
