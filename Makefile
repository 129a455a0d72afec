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

# The Helm chart, offline: lint --strict, render every profile in helm/mip/ci, validate against the Kubernetes
# schemas (1.29, 1.33, 1.37), policy checks, the rendered reference install in k8s/reference, the Dockerfile.
.PHONY: helm-check
helm-check: bootstrap
	$(PYTHON) -c "import helm_python, kubernetes_validate" || { echo "helm-check: install the dev extras (helm-python-sdk, kubernetes-validate)"; exit 1; }
	$(PYTHON) -m pytest tests/helm -q -p no:cacheprovider
