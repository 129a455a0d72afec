# The two commands: `make run` (bring the platform up and assess the demo radiograph) and `make test`.
PYTHON := .venv/bin/python

.PHONY: run test bench bench-precision stop status bootstrap models

bootstrap:
	bash .ci/bootstrap.sh

run: bootstrap
	$(PYTHON) scripts/run_platform.py

# Two pytest processes: the chart checks load Helm's Go runtime (helm-python-sdk), whose signal handling crashes
# a process that also runs gRPC and OpenVINO threads; alone it is fine. The main suite runs last.
test: bootstrap
	$(PYTHON) scripts/devstack.py services-up --skip seaweedfs
	$(PYTHON) -m pytest tests/helm -q -p no:cacheprovider
	$(PYTHON) -m pytest --ignore=tests/helm

bench: bootstrap
	$(PYTHON) bench/bench_bone_age.py

# PyTorch / ONNX Runtime / OpenVINO at FP32, bf16 and INT8 on the same network and cores (needs the bench extra).
bench-precision: bootstrap
	$(PYTHON) -m pip install -q '.[bench]'
	$(PYTHON) bench/bench_precisions.py --variant full
	$(PYTHON) bench/bench_precisions.py --arch resnet50

# Every catalogue model at the full variant: raw OpenVINO FP32 vs INT8 throughput, per core against the seed figures.
.PHONY: bench-catalogue
bench-catalogue: bootstrap
	$(PYTHON) bench/bench_catalogue.py

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

# Whole assessments (every catalogue pipeline on a realistic study): FP32 vs INT8 through the model server over
# gRPC, and INT8 raw OpenVINO in process, on the full-size models (built into .run/bench by bench-catalogue).
.PHONY: bench-assessments
bench-assessments: bootstrap
	$(PYTHON) bench/bench_assessments.py

# Refresh the committed OpenAPI document (docs/openapi.yaml) after an intended API change; tests/api/
# test_openapi_schema.py fails until it matches the code again.
.PHONY: openapi
openapi:
	$(PYTHON) platform/manage.py spectacular --file docs/openapi.yaml --validate
