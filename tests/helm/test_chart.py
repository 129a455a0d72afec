"""The Helm chart, proven offline: lint, render every value profile, validate the manifests against the
Kubernetes API schemas of several versions, and check the rendered output against the platform's policies.

No cluster and no helm binary: helm-python-sdk runs Helm's own Go SDK (lint, render) from a shared library, and
kubernetes-validate carries the OpenAPI schemas of Kubernetes 1.25-1.37. The suite takes a few seconds.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

helm_python = pytest.importorskip("helm_python", reason="dev dependency helm-python-sdk is not installed")
kubernetes_validate = pytest.importorskip("kubernetes_validate",
                                          reason="dev dependency kubernetes-validate is not installed")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "helm" / "hack"))
import render as chart_render  # noqa: E402
import values_schema  # noqa: E402

CHART = REPO / "helm" / "mip"
PROFILES = {path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*-values.yaml"))}
INVALID_TFS = Path(__file__).parent / "invalid" / "tfs-ovms-2026.3-values.yaml"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and newer ones operators run.
KUBERNETES_VERSIONS = ["1.29.0", "1.33.0", "1.37.0"]
WORKLOAD_KINDS = {"Deployment", "Job", "Pod"}
LONG_RUNNING_KINDS = {"Deployment"}


def load_values(profile: str) -> dict:
    return yaml.safe_load(PROFILES[profile].read_text()) or {}


def merged_values(profile: str) -> dict:
    """The profile over the chart's defaults, as Helm merges them (maps deep-merged, lists replaced)."""
    def merge(base, override):
        if isinstance(base, dict) and isinstance(override, dict):
            out = dict(base)
            for key, value in override.items():
                out[key] = merge(base.get(key), value) if key in base else value
            return out
        return override
    return merge(yaml.safe_load((CHART / "values.yaml").read_text()), load_values(profile))


def documents(rendered: dict[str, str]) -> list[dict]:
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", None)
                docs.append(doc)
    return docs


@pytest.fixture(scope="module", params=sorted(PROFILES))
def profile(request):
    return request.param


_cache: dict[str, tuple[dict[str, str], list[dict]]] = {}


def rendered_profile(name: str) -> tuple[dict[str, str], list[dict]]:
    if name not in _cache:
        rendered = chart_render.render(load_values(name))
        _cache[name] = (rendered, documents(rendered))
    return _cache[name]


@pytest.fixture(scope="module")
def manifests(profile) -> list[dict]:
    return rendered_profile(profile)[1]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "Pod":
        return doc["spec"]
    return doc["spec"]["template"]["spec"]


def containers(doc: dict, *, init: bool = True) -> list[dict]:
    spec = pod_spec(doc)
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def env_of(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container.get("env", [])}


# --------------------------------------------------------------------------------------------------------------
# Lint and schemas
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kube_version", ["v1.29.0", "v1.33.0"])
def test_helm_lint_strict_passes_for_every_profile(profile, kube_version):
    report = helm_python.lint(CHART, load_values(profile), strict=True, kube_version=kube_version)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_helm_lint_strict_passes_on_the_bare_chart():
    """`helm lint --strict helm/mip` as a developer runs it (validateValues' refusals are not lint errors)."""
    report = helm_python.lint(CHART, strict=True)
    assert report["errors"] == [], report


@pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_the_kubernetes_version(manifests, kube_version):
    problems = []
    for doc in manifests:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD (Prometheus Operator), not in the Kubernetes schemas; checked below
        clean = json.loads(json.dumps(doc))
        if clean["metadata"].get("annotations") is None:
            clean["metadata"].pop("annotations", None)
        try:
            kubernetes_validate.validate(clean, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert problems == []


def test_service_monitor_selects_the_model_server_metrics_port():
    _, docs = rendered_profile("production")
    (monitor,) = by_kind(docs, "ServiceMonitor")
    service = named(docs, "Service", "mip-ovms")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert by_kind(rendered_profile("minimal")[1], "ServiceMonitor") == []


def test_values_schema_is_generated_from_helm_hack():
    assert (CHART / "values.schema.json").read_text() == values_schema.render(), \
        "run: python helm/hack/values_schema.py"


def test_every_values_key_is_documented_and_in_the_schema():
    text = (CHART / "values.yaml").read_text()
    documented = set(re.findall(r"^\s*## @param ([\w.]+)", text, flags=re.M))
    schema = json.loads((CHART / "values.schema.json").read_text())

    def leaves(node, prefix=""):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and path not in documented:
                yield from leaves(value, path + ".")
            else:
                yield path

    values = yaml.safe_load(text)
    undocumented = [key for key in leaves(values) if key not in documented]
    assert undocumented == [], "add `## @param` lines for these keys"
    for key in documented:
        node = schema
        for part in key.split("."):
            assert part in node.get("properties", {}), f"{key} is documented but not in values.schema.json"
            node = node["properties"][part]
    stale = [key for key in documented if not _has_path(values, key)]
    assert stale == [], "documented keys that values.yaml does not have"


def _has_path(values: dict, dotted: str) -> bool:
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_schema_refuses_plaintext_endpoints_and_unknown_keys():
    base = load_values("minimal")
    with pytest.raises(helm_python.HelmValuesError, match="objectStorage"):
        chart_render.render({**base, "objectStorage": {"endpoint": "http://s3.internal:8333"}})
    with pytest.raises(helm_python.HelmValuesError, match="databasePassword"):
        chart_render.render({**base, "databasePassword": "hunter2"})
    with pytest.raises(helm_python.HelmValuesError, match="readOnlyRootFilesystem"):
        chart_render.render({**base, "containerSecurityContext": {"readOnlyRootFilesystem": False}})


# --------------------------------------------------------------------------------------------------------------
# validateValues: refusals with clear messages
# --------------------------------------------------------------------------------------------------------------

def test_tfs_api_with_ovms_2026_3_fails_with_a_clear_message():
    values = yaml.safe_load(INVALID_TFS.read_text())
    with pytest.raises(helm_python.HelmRenderError) as refused:
        chart_render.render(values)
    message = str(refused.value)
    assert "modelServer.api=tfs cannot work with OVMS 2026.3" in message
    assert "TensorFlow-Serving gRPC API exists only in OVMS 2026.2.x and older" in message
    assert "Set modelServer.api=kserve" in message


@pytest.mark.parametrize("tag", ["2026.3", "2026.10.1", "2027.0", "2026.3-py"])
def test_tfs_api_is_refused_for_every_kserve_only_release(tag):
    values = {**load_values("tfs"), "modelServer": {"api": "tfs", "image": {"tag": tag}}}
    with pytest.raises(helm_python.HelmRenderError, match="modelServer.api=tfs cannot work"):
        chart_render.render(values)


@pytest.mark.parametrize("tag", ["2026.2", "2026.2.4", "2025.4.1"])
def test_tfs_api_renders_with_releases_that_speak_it(tag):
    values = {**load_values("tfs"), "modelServer": {"api": "tfs", "image": {"tag": tag}}}
    docs = documents(chart_render.render(values))
    web = named(docs, "Deployment", "mip-web")
    assert env_of(web["spec"]["template"]["spec"]["containers"][0])["MIP_MODEL_SERVER_API"]["value"] == "tfs"


def test_an_unpinned_model_server_tag_is_refused():
    values = {**load_values("minimal"), "modelServer": {"image": {"tag": "latest"}}}
    with pytest.raises(helm_python.HelmRenderError, match="not an OVMS release tag"):
        chart_render.render(values)


@pytest.mark.parametrize("override, message", [
    ({"secrets": {"existingSecret": ""}}, "secrets.existingSecret"),
    ({"migrations": {"existingSecret": ""}}, "OWNER role"),
    ({"models": {"bone_age": {"active": 2, "canary": {"version": 2, "percent": 10}}}}, "is the active version"),
    ({"models": {"bone_age": {"active": 2, "shadow": 2}}}, "a shadow must be another version"),
    ({"modelServer": {"resources": {"cpu": "1500m", "memory": "2Gi"}}}, "not a whole number of CPUs"),
    ({"modelServer": {"resources": {"cpu": 6, "memory": "2Gi"}}}, "does not divide"),
    ({"config": {"extraEnv": [{"name": "MIP_BROKER_URL", "value": "amqp://u:p@h//"}]}}, "looks like a credential"),
    ({"ingress": {"tls": {"secretName": ""}}}, "HTTPS only"),
    ({"email": {"host": ""}}, "email.host: name the SMTP relay"),
    ({"email": {"hostUser": "mip", "useTls": False}}, "password would cross the network in clear text"),
    ({"email": {"backend": "django.core.mail.backends.console.EmailBackend"}}, "use the SMTP backend in production"),
    ({"webhooks": {"allowLoopback": True}}, "webhooks.allowLoopback=true with config.environment=production"),
    ({"webhooks": {"allowPrivateNetworks": True}},
     "webhooks.allowPrivateNetworks=true with config.environment=production"),
    ({"webhooks": {"queue": "his"}}, "no worker consumes webhooks.queue (MIP_WEBHOOK_QUEUE) his"),
    ({"webhooks": {"connectTimeoutSeconds": 30}}, "longer than webhooks.timeoutSeconds"),
    ({"hl7": {"retryBaseSeconds": 900}}, "hl7.retryBaseSeconds=900 is longer than hl7.retryMaxSeconds=600"),
    ({"config": {"dicomwebMaxRequestBytes": 536870912}}, "proxy-body-size 256m is smaller than"),
    ({"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "64m"}}},
     "proxy-body-size 64m is smaller than"),
    ({"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "lots"}}}, "not an nginx size"),
    ({"web": {"gunicornWorkers": 5}}, "tmpVolumeSizeLimit=1Gi cannot hold web.gunicornWorkers=5 STOW-RS requests"),
    ({"workers": [{"name": "a", "queue": "inference", "concurrency": 1, "resources": {
        "requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1Gi"}},
        "autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 1, "targetCPUUtilizationPercentage": 50},
        "pdb": {"enabled": False, "maxUnavailable": 1}}] * 2}, "appears twice"),
    ({"workers": [{"name": "urgent", "queue": "urgent", "concurrency": 1, "resources": {
        "requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1Gi"}},
        "autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 1, "targetCPUUtilizationPercentage": 50},
        "pdb": {"enabled": False, "maxUnavailable": 1}}]},
     "no worker consumes the urgent queue (MIP_CELERY_URGENT_QUEUE) urgent-urgent"),
])
def test_inconsistent_values_fail_the_render(override, message):
    values = merged_values("minimal")
    for key, value in override.items():
        values[key] = {**values[key], **value} if isinstance(value, dict) and isinstance(values.get(key), dict) \
            and key != "models" else value
    with pytest.raises((helm_python.HelmRenderError, helm_python.HelmValuesError), match=re.escape(message)):
        chart_render.render(values)


# --------------------------------------------------------------------------------------------------------------
# Policy checks of the rendered output
# --------------------------------------------------------------------------------------------------------------

def test_every_long_running_container_has_all_three_probes(manifests):
    for doc in manifests:
        if doc["kind"] not in LONG_RUNNING_KINDS:
            continue
        for container in containers(doc, init=False):
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container.get(probe), f"{doc['metadata']['name']}/{container['name']} has no {probe}"


CPU_QUANTITY = re.compile(r"\d+(\.\d+)?m?")
MEMORY_QUANTITY = re.compile(r"\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?")


def test_every_container_has_requests_and_limits(manifests):
    for doc in manifests:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        for container in containers(doc):
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), \
                    f"{doc['metadata']['name']}/{container['name']} lacks {part}"
                # The API schemas accept any string here; the API server would refuse a malformed quantity.
                assert CPU_QUANTITY.fullmatch(str(resources[part]["cpu"])), resources
                assert MEMORY_QUANTITY.fullmatch(str(resources[part]["memory"])), resources


def test_every_pod_is_non_root_read_only_without_capabilities(manifests):
    for doc in manifests:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(doc)
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("runAsNonRoot") is True and pod_ctx.get("runAsUser", 0) > 0, doc["metadata"]["name"]
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        assert spec.get("automountServiceAccountToken") is False, doc["metadata"]["name"]
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        assert all("hostPath" not in volume for volume in spec.get("volumes", []))
        for container in containers(doc):
            ctx = container.get("securityContext", {})
            where = f"{doc['metadata']['name']}/{container['name']}"
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("runAsNonRoot") is True, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not ctx.get("capabilities", {}).get("add"), where
            assert ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", where


CREDENTIAL_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY|API_KEY|ENCRYPTION_KEY|DATABASE_URL|BROKER_URL"
                             r"|REDIS_URL)", re.I)
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I)


def test_no_plaintext_credentials_anywhere(profile, manifests):
    rendered, _ = rendered_profile(profile)
    assert by_kind(manifests, "Secret") == [], "the chart never creates Secrets: existingSecret only"
    for doc in manifests:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        for container in containers(doc):
            for entry in container.get("env", []):
                if CREDENTIAL_NAME.search(entry["name"]):
                    assert "valueFrom" in entry and "secretKeyRef" in entry["valueFrom"], \
                        f"{doc['metadata']['name']}/{container['name']}: {entry['name']} is not from a Secret"
                    assert "value" not in entry
    for path, text in rendered.items():
        assert not URL_WITH_PASSWORD.search(text), f"{path} contains a URL with a password"


DATA_STORE_ENV = {"MIP_S3_ENDPOINT_URL", "MIP_S3_PUBLIC_ENDPOINT_URL", "S3_ENDPOINT", "MIP_DATABASE_URL",
                  "MIP_BROKER_URL", "MIP_REDIS_URL"}


def test_no_plaintext_http_to_data_stores(profile, manifests):
    rendered, _ = rendered_profile(profile)
    for doc in manifests:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        for container in containers(doc):
            for name, entry in env_of(container).items():
                value = str(entry.get("value", ""))
                if name in DATA_STORE_ENV and value:
                    assert value.startswith("https://"), f"{name}={value}"
    for path, text in rendered.items():
        # Data-store URLs live only in Secrets (which may say rediss://, amqps://, postgres://...?sslmode=verify-full);
        # a plaintext scheme in a rendered manifest means someone bypassed them. (s3://bucket/prefix names the
        # model repository, not a transport: the endpoint, checked above, is https.)
        for scheme in ("redis://", "amqp://", "postgres://", "postgresql://"):
            assert scheme not in text, f"{path} names a data store over {scheme}"
        # The only http:// allowed: the helm test calling the web Service inside the cluster, and comments.
        for line in text.splitlines():
            if "http://" in line and "--base-url=http://mip-web:" not in line and not line.strip().startswith("#"):
                pytest.fail(f"{path}: plaintext http:// in {line.strip()}")


def test_images_are_pinned(manifests):
    for doc in manifests:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        for container in containers(doc):
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def test_every_resource_carries_the_standard_labels(manifests):
    for doc in manifests:
        labels = doc["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
                    "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "helm.sh/chart"):
            assert key in labels, f"{doc['kind']}/{doc['metadata']['name']} lacks {key}"


def test_every_pod_has_a_priority_class(manifests):
    for doc in manifests:
        if doc["kind"] in WORKLOAD_KINDS:
            assert pod_spec(doc).get("priorityClassName", "").startswith("mip-"), doc["metadata"]["name"]


def test_hpas_and_pdbs_target_pods_that_exist(manifests):
    deployments = {d["metadata"]["name"]: d for d in by_kind(manifests, "Deployment")}
    for hpa in by_kind(manifests, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
        assert "replicas" not in deployments[target["name"]]["spec"], "an HPA owns the replica count"
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(manifests, "HorizontalPodAutoscaler")}
    assert {"mip-web", "mip-ovms"} <= scaled and any(n.startswith("mip-worker-") for n in scaled)
    for pdb in by_kind(manifests, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"].items()
        assert any(selector <= d["spec"]["template"]["metadata"]["labels"].items() for d in deployments.values())


def test_services_select_their_pods_and_name_ports(manifests):
    deployments = by_kind(manifests, "Deployment")
    for service in by_kind(manifests, "Service"):
        selector = service["spec"]["selector"].items()
        assert any(selector <= d["spec"]["template"]["metadata"]["labels"].items() for d in deployments)
    ovms = named(manifests, "Service", "mip-ovms")
    assert {p["name"] for p in ovms["spec"]["ports"]} == {"grpc", "rest"}


# --------------------------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------------------------

def test_one_worker_deployment_per_queue(profile, manifests):
    values = merged_values(profile)
    workers = [d for d in by_kind(manifests, "Deployment") if d["metadata"]["name"].startswith("mip-worker-")]
    queues = {}
    for deployment in workers:
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        queues[deployment["metadata"]["name"]] = [a.split("=", 1)[1] for a in args if a.startswith("--queues=")]
        assert deployment["spec"]["template"]["spec"]["containers"][0]["command"] == ["celery"]
        assert "worker" in args
    assert queues == {f"mip-worker-{w['name']}": [w["queue"]] for w in values["workers"]}


def test_web_runs_gunicorn_and_probes_healthz_with_an_allowed_host(manifests):
    web = named(manifests, "Deployment", "mip-web")
    container = web["spec"]["template"]["spec"]["containers"][0]
    # config.wsgi behind WhiteNoise (files/static_wsgi.py, from the hooks ConfigMap).
    assert container["command"] == ["gunicorn"] and container["args"][:2] == ["static_wsgi:application",
                                                                              "--pythonpath=/opt/mip/hooks"]
    hooks = next(m for m in container["volumeMounts"] if m["mountPath"] == "/opt/mip/hooks")
    volume = next(v for v in web["spec"]["template"]["spec"]["volumes"] if v["name"] == hooks["name"])
    assert volume["configMap"]["name"] == "mip-hooks" and hooks["readOnly"] is True
    assert "static_wsgi.py" in named(manifests, "ConfigMap", "mip-hooks")["data"]
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/healthz"
    host = readiness["httpHeaders"][0]["value"]
    assert host in env_of(container)["MIP_ALLOWED_HOSTS"]["value"].split(",")


def test_web_serves_the_collected_static_files_and_passes_everything_else_to_django(tmp_path, monkeypatch):
    """The chart's WSGI entry point, run for real: a file under MIP_STATIC_ROOT is answered by WhiteNoise, any
    other path reaches Django."""
    import importlib.util

    (tmp_path / "portal").mkdir()
    (tmp_path / "portal" / "site.css").write_text("body { margin: 0 }")
    monkeypatch.setenv("MIP_STATIC_ROOT", str(tmp_path))
    spec = importlib.util.spec_from_file_location("static_wsgi", CHART / "files" / "static_wsgi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def get(path: str) -> tuple[str, bytes]:
        answer = {}

        def start_response(status, headers, exc_info=None):
            answer["status"] = status

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
                   "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.url_scheme": "http",
                   "wsgi.input": __import__("io").BytesIO(b""), "wsgi.errors": sys.stderr}
        body = b"".join(module.application(environ, start_response))
        return answer["status"], body

    status, body = get("/static/portal/site.css")
    assert status.startswith("200") and body == b"body { margin: 0 }"
    status, _ = get("/static/portal/missing.css")
    assert status.startswith("404")
    status, _ = get("/healthz-not-a-route")
    assert status.startswith("404")  # Django's answer, not a crash


def test_the_image_collects_static_files_where_the_web_serves_them():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"MIP_STATIC_ROOT=/app/static\s.*\n?.*manage\.py collectstatic", dockerfile)
    _, docs = rendered_profile("minimal")
    env = env_of(named(docs, "Deployment", "mip-web")["spec"]["template"]["spec"]["containers"][0])
    assert env["MIP_STATIC_ROOT"]["value"] == "/app/static"


def test_every_queue_the_platform_publishes_to_has_a_worker(profile, manifests):
    workers = [d for d in by_kind(manifests, "Deployment") if d["metadata"]["name"].startswith("mip-worker-")]
    consumed = {a.split("=", 1)[1] for d in workers for a in d["spec"]["template"]["spec"]["containers"][0]["args"]
                if a.startswith("--queues=")}
    env = env_of(named(manifests, "Deployment", "mip-web")["spec"]["template"]["spec"]["containers"][0])
    published = {env["MIP_CELERY_QUEUE"]["value"], env["MIP_CELERY_URGENT_QUEUE"]["value"]}
    published |= {env["MIP_WEBHOOK_QUEUE"]["value"]} - {""}
    assert published <= consumed
    assert env["MIP_WEBHOOK_QUEUE"]["value"] not in {env["MIP_CELERY_QUEUE"]["value"],
                                                     env["MIP_CELERY_URGENT_QUEUE"]["value"]}, \
        "a slow HIS must not hold up inference"


def test_beat_is_a_single_replica_recreated_on_upgrade(manifests):
    beat = named(manifests, "Deployment", "mip-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    assert not [h for h in by_kind(manifests, "HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"]["name"] == "mip-beat"]


def test_migrations_run_before_install_and_upgrade_as_the_owner(profile, manifests):
    values = merged_values(profile)
    job = named(manifests, "Job", "mip-migrations")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert set(hooks) == {"pre-install", "pre-upgrade"}
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    database = [e for e in container["env"] if e["name"] == "MIP_DATABASE_URL"]
    assert database == [{"name": "MIP_DATABASE_URL", "valueFrom": {"secretKeyRef": {
        "name": values["migrations"]["existingSecret"], "key": values["migrations"]["databaseUrlKey"]}}}]


def test_model_sync_hook_applies_the_rendered_document(manifests):
    job = named(manifests, "Job", "mip-model-sync")
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) >= {"post-install", "post-upgrade"}
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["command"][:5] == ["python", "manage.py", "model_sync", "--desired", "/etc/mip/models.json"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/mip/models.json")
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "mip-models" and mount["subPath"] == "models.json"
    assert [c["name"] for c in spec["initContainers"]] == ["fetch-model-cards", "wait-for-model-server"]


def _expected_versions(model: dict) -> list[int]:
    versions = {model["active"], *(model.get("keepLoaded") or []), *(model.get("pins") or {}).values()}
    if model.get("canary"):
        versions.add(model["canary"]["version"])
    if model.get("shadow") is not None:
        versions.add(model["shadow"])
    return sorted(versions)


def test_ovms_config_and_model_sync_document_match_the_models_values(profile, manifests):
    values = merged_values(profile)
    models_cm = named(manifests, "ConfigMap", "mip-models")
    document = json.loads(models_cm["data"]["models.json"])
    expected_document = {
        name: {"active": m["active"],
               "canary": ({"version": m["canary"]["version"], "percent": m["canary"]["percent"]}
                          if m.get("canary") else None),
               "shadow": m.get("shadow"),
               "pins": dict(m.get("pins") or {})}
        for name, m in values["models"].items()
    }
    assert document == expected_document

    config = json.loads(named(manifests, "ConfigMap", "mip-ovms-config")["data"]["config.json"])
    entries = {entry["config"]["name"]: entry["config"] for entry in config["model_config_list"]}
    assert set(entries) == set(values["models"])
    repository = values["modelRepository"]
    root = f"s3://{repository['bucket']}" + (f"/{repository['prefix']}" if repository["prefix"] else "")
    cpus = int(values["modelServer"]["resources"]["cpu"])
    streams = max(1, cpus // values["modelServer"]["tuning"]["threadsPerStream"])
    for name, model in values["models"].items():
        entry = entries[name]
        assert entry["base_path"] == f"{root}/{name}"
        assert entry["model_version_policy"] == {"specific": {"versions": _expected_versions(model)}}
        plugin = entry["plugin_config"]
        assert plugin["NUM_STREAMS"] == streams and plugin["INFERENCE_NUM_THREADS"] == cpus
        assert plugin["PERFORMANCE_HINT"] == values["modelServer"]["tuning"]["performanceHint"]
        for key, value in (model.get("pluginConfig") or {}).items():
            assert plugin[key] == value
    assert json.loads(models_cm["data"]["versions.json"]) == {
        name: _expected_versions(m) for name, m in values["models"].items()}


def test_canary_profile_loads_every_version_in_use_in_numeric_order():
    _, docs = rendered_profile("canary")
    config = json.loads(named(docs, "ConfigMap", "mip-ovms-config")["data"]["config.json"])
    assert config["model_config_list"][0]["config"]["model_version_policy"] == {"specific": {"versions": [1, 2, 3, 4]}}
    values = {**load_values("canary"), "models": {"bone_age": {"active": 10, "canary": {"version": 9, "percent": 5},
                                                               "keepLoaded": [2]}}}
    config = json.loads(named(documents(chart_render.render(values)), "ConfigMap",
                              "mip-ovms-config")["data"]["config.json"])
    assert config["model_config_list"][0]["config"]["model_version_policy"]["specific"]["versions"] == [2, 9, 10]


def test_ovms_is_guaranteed_qos_on_xeon_nodes_and_ready_on_the_model(profile, manifests):
    values = merged_values(profile)
    ovms = named(manifests, "Deployment", "mip-ovms")
    spec = ovms["spec"]["template"]["spec"]
    container = spec["containers"][0]
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]
    assert re.fullmatch(r"[1-9]\d*", str(resources["limits"]["cpu"]))
    assert {p["name"] for p in container["ports"]} == {"grpc", "rest"}
    readiness = container["readinessProbe"]["httpGet"]
    first_model = sorted(values["models"])[0]
    assert readiness == {"path": f"/v2/models/{values['modelServer']['readinessModel'] or first_model}/ready",
                         "port": "rest"}
    assert "--config_path=/config/config.json" in container["args"]
    config_volume = next(v for v in spec["volumes"] if v["name"] == "config")
    assert config_volume["configMap"]["name"] == "mip-ovms-config"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates: no hot reload"
    assert not (ovms["spec"]["template"]["metadata"].get("annotations") or {}), \
        "no checksum annotation: a rollout must not restart OVMS"
    affinity = spec["affinity"]["nodeAffinity"]
    features = values["xeon"]["cpuFeatures"]
    required = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert [e["key"] for e in required] == [f"feature.node.kubernetes.io/cpu-cpuid.{f}" for f in features]
    assert spec["affinity"]["podAntiAffinity"]
    env = env_of(container)
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == \
        values["modelRepository"]["existingSecret"]


def test_model_server_api_and_address_reach_the_platform(profile, manifests):
    values = merged_values(profile)
    web = named(manifests, "Deployment", "mip-web")
    env = env_of(web["spec"]["template"]["spec"]["containers"][0])
    assert env["MIP_MODEL_SERVER_API"]["value"] == values["modelServer"]["api"]
    assert env["MIP_MODEL_SERVER_URL"]["value"] == f"mip-ovms:{values['modelServer']['grpcPort']}"
    assert env["MIP_ENV"]["value"] == "production"


def test_ingress_serves_tls_for_every_host(profile, manifests):
    values = merged_values(profile)
    (ingress,) = by_kind(manifests, "Ingress")
    assert ingress["spec"]["tls"] == [{"secretName": values["ingress"]["tls"]["secretName"],
                                       "hosts": values["ingress"]["hosts"]}]
    assert [r["host"] for r in ingress["spec"]["rules"]] == values["ingress"]["hosts"]


def test_helm_test_runs_one_inference_through_the_api(manifests):
    (pod,) = [d for d in by_kind(manifests, "Pod") if d["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "/opt/mip/hooks/smoke_inference.py"]
    assert env_of(container)["MIP_TEST_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mip-test-api-key"
    hooks = named(manifests, "ConfigMap", "mip-hooks")
    script = hooks["data"]["smoke_inference.py"]
    compile(script, "smoke_inference.py", "exec")
    assert "/api/v1/assessments" in script


def test_hook_scripts_compile():
    for script in sorted((CHART / "files").glob("*.py")):
        compile(script.read_text(), str(script), "exec")


# --------------------------------------------------------------------------------------------------------------
# Network policies
# --------------------------------------------------------------------------------------------------------------

def _policy_for(manifests, component: str) -> dict:
    return named(manifests, "NetworkPolicy", f"mip-{component}")


def _pods_allowed(rule_from: list[dict]) -> list[dict]:
    return [peer.get("podSelector", {}).get("matchLabels", {}) for peer in rule_from]


def test_only_platform_clients_reach_ovms_and_ovms_reaches_only_object_storage(profile, manifests):
    values = merged_values(profile)
    policy = _policy_for(manifests, "ovms")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    grpc_rule = policy["spec"]["ingress"][0]
    assert grpc_rule["ports"] == [{"protocol": "TCP", "port": values["modelServer"]["grpcPort"]}]
    allowed = _pods_allowed(grpc_rule["from"])
    components = sorted(s.get("app.kubernetes.io/component", s.get("mip.example.org/role")) for s in allowed)
    expected = ["model-sync", "worker"] + (["web"] if values["networkPolicy"]["webChecksModelReadiness"] else [])
    assert components == sorted(expected)
    assert all(peer.get("namespaceSelector") is None for peer in grpc_rule["from"])
    for rule in policy["spec"]["ingress"][1:]:
        assert rule["ports"] == [{"protocol": "TCP", "port": values["modelServer"]["restPort"]}]  # metrics only
    egress_ports = [tuple(p["port"] for p in rule["ports"]) for rule in policy["spec"]["egress"]]
    assert egress_ports == [(53, 53), (values["objectStorage"]["port"],)]
    if values["objectStorage"]["networkPeers"]:
        assert policy["spec"]["egress"][1]["to"] == values["objectStorage"]["networkPeers"]


def test_every_pod_of_the_chart_is_under_a_network_policy(manifests):
    policies = by_kind(manifests, "NetworkPolicy")
    for doc in manifests:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        labels = (doc["metadata"]["labels"] if doc["kind"] == "Pod"
                  else doc["spec"]["template"]["metadata"]["labels"])
        assert any(p["spec"]["podSelector"]["matchLabels"].items() <= labels.items() for p in policies), \
            f"{doc['kind']}/{doc['metadata']['name']} is not selected by any NetworkPolicy"


PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"}


def test_only_the_webhook_workers_reach_the_internet_and_never_private_ranges(profile, manifests):
    values = merged_values(profile)
    webhook_queue = values["webhooks"]["queue"] or values["workers"][0]["queue"]
    policy = _policy_for(manifests, "worker-webhooks")
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/instance": "mip", "mip.example.org/role": "worker", "mip.example.org/queue": webhook_queue}
    selected = [d["metadata"]["name"] for d in by_kind(manifests, "Deployment")
                if policy["spec"]["podSelector"]["matchLabels"].items()
                <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert selected == [f"mip-worker-{w['name']}" for w in values["workers"] if w["queue"] == webhook_queue]
    internet, *_ = policy["spec"]["egress"]
    assert internet["ports"] == [{"protocol": "TCP", "port": p} for p in values["webhooks"]["ports"]]
    v4, v6 = (peer["ipBlock"] for peer in internet["to"])
    assert v4["cidr"] == "0.0.0.0/0" and PRIVATE_RANGES <= set(v4["except"])
    assert v6["cidr"] == "::/0" and {"fc00::/7", "fe80::/10"} <= set(v6["except"])
    # Nothing else in the release opens the internet: not the inference workers, not the web app, not OVMS.
    for other in by_kind(manifests, "NetworkPolicy"):
        if other["metadata"]["name"] != "mip-worker-webhooks":
            for rule in other["spec"]["egress"]:
                assert not any(peer.get("ipBlock", {}).get("cidr") in {"0.0.0.0/0", "::/0"}
                               for peer in rule.get("to", [])), other["metadata"]["name"]


def test_private_webhook_endpoints_open_the_policy_only_outside_production():
    values = {**load_values("minimal"), "config": {"environment": "development"},
              "webhooks": {"allowPrivateNetworks": True}}
    docs = documents(chart_render.render(values))
    internet = _policy_for(docs, "worker-webhooks")["spec"]["egress"][0]
    assert [peer["ipBlock"] for peer in internet["to"]] == [{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}]
    env = env_of(named(docs, "Deployment", "mip-worker-webhooks")["spec"]["template"]["spec"]["containers"][0])
    assert env["MIP_WEBHOOK_ALLOW_PRIVATE_NETWORKS"]["value"] == "true"
    with pytest.raises(helm_python.HelmRenderError, match="production delivers webhooks over https"):
        chart_render.render({**values, "config": {"environment": "production"}})


def test_webhooks_on_the_default_queue_open_egress_for_the_inference_workers_and_notes_say_so():
    values = {**load_values("minimal"), "webhooks": {"queue": ""}}
    rendered = chart_render.render(values)
    docs = documents(rendered)
    assert _policy_for(docs, "worker-webhooks")["spec"]["podSelector"]["matchLabels"]["mip.example.org/queue"] \
        == "inference"
    notes = next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))
    assert "webhooks.queue is empty" in notes
    assert "webhooks.queue is empty" not in next(
        text for path, text in rendered_profile("minimal")[0].items() if path.endswith("NOTES.txt"))


def test_the_smtp_relay_is_reachable_and_its_password_comes_only_from_the_secret(profile, manifests):
    values = merged_values(profile)
    email = values["email"]
    smtp = _policy_for(manifests, "worker-webhooks")["spec"]["egress"][1]
    assert smtp["ports"] == [{"protocol": "TCP", "port": email["port"]}]
    assert smtp.get("to", []) == email["networkPeers"]
    for deployment in by_kind(manifests, "Deployment"):
        if deployment["metadata"]["name"] == "mip-ovms":
            continue
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["MIP_EMAIL_HOST_PASSWORD"] == {"name": "MIP_EMAIL_HOST_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": values["secrets"]["existingSecret"], "key": "email-host-password", "optional": True}}}
        assert env["MIP_EMAIL_HOST"]["value"] == email["host"]
        assert env["MIP_EMAIL_USE_TLS"]["value"] == "true"
        assert env["MIP_WEBHOOK_ALLOW_LOOPBACK"]["value"] == "false"
        assert env["MIP_WEBHOOK_ALLOW_PRIVATE_NETWORKS"]["value"] == "false"


def test_hl7_receivers_are_reached_only_when_listed_and_notes_warn_otherwise():
    rendered, docs = rendered_profile("minimal")
    assert not [p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == "mip-worker-hl7"]
    notes = next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))
    assert "hl7.destinations is empty" in notes

    rendered, docs = rendered_profile("production")
    values = merged_values("production")
    policy = _policy_for(docs, "worker-hl7")
    # HL7 sends run on the default queue (integrations.hl7v2.tasks.send_oru has no queue of its own).
    assert policy["spec"]["podSelector"]["matchLabels"]["mip.example.org/queue"] == values["workers"][0]["queue"]
    assert policy["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": d["cidr"]}}], "ports": [{"protocol": "TCP", "port": p} for p in d["ports"]]}
        for d in values["hl7"]["destinations"]]
    notes = next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))
    assert "hl7.destinations is empty" not in notes


def test_web_can_be_cut_off_from_ovms():
    values = {**load_values("minimal"), "networkPolicy": {"webChecksModelReadiness": False}}
    docs = documents(chart_render.render(values))
    allowed = _pods_allowed(_policy_for(docs, "ovms")["spec"]["ingress"][0]["from"])
    assert not any(s.get("app.kubernetes.io/component") == "web" for s in allowed)
    web_egress_ports = {p["port"] for r in _policy_for(docs, "web")["spec"]["egress"] for p in r["ports"]}
    assert 9000 not in web_egress_ports


# --------------------------------------------------------------------------------------------------------------
# k8s/: the rendered reference install and the cluster-level manifests
# --------------------------------------------------------------------------------------------------------------

def test_reference_install_equals_the_chart():
    assert (REPO / "k8s" / "reference" / "mip.yaml").read_text() == chart_render.reference_text(), \
        "the chart changed: run `python helm/hack/render.py --update-reference` and review the diff"


@pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
def test_cluster_manifests_are_valid(kube_version):
    for path in sorted((REPO / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc["apiVersion"].startswith("nfd.k8s-sigs.io/"):
                continue  # NodeFeatureRule is a CRD of Node Feature Discovery
            kubernetes_validate.validate(doc, kube_version, strict=True)


def test_cluster_priority_classes_match_the_chart():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    docs = [d for d in yaml.safe_load_all((REPO / "k8s" / "priorityclasses.yaml").read_text()) if d]
    assert {d["metadata"]["name"] for d in docs} == {values["priorityClasses"][t] for t in ("inference", "web", "batch")}
    rendered = by_kind(rendered_profile("production")[1], "PriorityClass")
    assert {(d["metadata"]["name"], d["value"]) for d in rendered} == {(d["metadata"]["name"], d["value"]) for d in docs}


def test_nfd_rule_labels_what_the_chart_selects():
    rule = yaml.safe_load((REPO / "k8s" / "nfd-xeon-rule.yaml").read_text())
    assert rule["kind"] == "NodeFeatureRule"
    text = json.dumps(rule)
    for feature in ("AVX512_VNNI", "AMX_TILE", "AMX_BF16", "AMX_INT8"):
        assert feature in text


def test_namespace_enforces_restricted_pod_security():
    (namespace,) = [d for d in yaml.safe_load_all((REPO / "k8s" / "namespace.yaml").read_text()) if d]
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# Settings the chart leaves at the platform's default on purpose (development-only or derived).
SETTINGS_NOT_SET_BY_THE_CHART = set()


def test_every_platform_setting_can_be_set_through_the_chart():
    """A new MIP_* variable in platform/config/settings.py fails this until the chart passes it (or it is listed
    above with the reason)."""
    source = (REPO / "platform" / "config" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|int|float|bool|list|required)\(\s*"([A-Z0-9_]+)"', source))
    _, docs = rendered_profile("production")
    web = named(docs, "Deployment", "mip-web")
    passed = {name.removeprefix("MIP_") for name in env_of(web["spec"]["template"]["spec"]["containers"][0])}
    assert sorted(read - passed - SETTINGS_NOT_SET_BY_THE_CHART) == []


def test_every_rendered_setting_parses_with_the_platforms_own_parser(profile, manifests, monkeypatch):
    """A value the chart renders (a float as `1e+06`, a boolean as `True`) must mean the same to config.env."""
    from config import env as platform_env

    source = (REPO / "platform" / "config" / "settings.py").read_text()
    typed = dict((name, kind) for kind, name in
                 re.findall(r'env_(int|float|bool)\(\s*"([A-Z0-9_]+)"', source))
    assert {"WEBHOOK_RETRY_WINDOW_S", "EMAIL_PORT", "EMAIL_USE_TLS", "HL7_MLLP_TIMEOUT_S"} <= set(typed)
    values = merged_values(profile)
    for deployment in by_kind(manifests, "Deployment"):
        if deployment["metadata"]["name"] == "mip-ovms":
            continue
        for name, entry in env_of(deployment["spec"]["template"]["spec"]["containers"][0]).items():
            setting = name.removeprefix("MIP_")
            if setting not in typed or "value" not in entry:
                continue
            monkeypatch.setenv(name, entry["value"])
            parsed = getattr(platform_env, f"env_{typed[setting]}")(setting, None)
            assert parsed is not None and type(parsed).__name__ == typed[setting], (name, entry["value"])
    web = env_of(named(manifests, "Deployment", "mip-web")["spec"]["template"]["spec"]["containers"][0])
    monkeypatch.setenv("MIP_EMAIL_USE_TLS", web["MIP_EMAIL_USE_TLS"]["value"])
    assert platform_env.env_bool("EMAIL_USE_TLS", not values["email"]["useTls"]) is values["email"]["useTls"]


def test_rendered_document_passes_the_platforms_own_validation(profile, manifests):
    """The hook hands models.json to `manage.py model_sync`; its validator must accept what the chart renders."""
    from registry.sync import _validate

    document = json.loads(named(manifests, "ConfigMap", "mip-models")["data"]["models.json"])
    _validate(document)


def test_the_model_sync_hook_waits_for_exactly_the_versions_it_will_route_to(profile, manifests):
    import importlib.util

    spec = importlib.util.spec_from_file_location("wait_for_models", CHART / "files" / "wait_for_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document = json.loads(named(manifests, "ConfigMap", "mip-models")["data"]["models.json"])
    waited = module.wanted_versions(document)
    values = merged_values(profile)
    expected = []
    for name, m in values["models"].items():
        routed = {m["active"], *(m.get("pins") or {}).values()}
        routed |= {m["canary"]["version"]} if m.get("canary") else set()
        routed |= {m["shadow"]} if m.get("shadow") is not None else set()
        expected += [(name, v) for v in routed]
    expected.sort()
    # keepLoaded versions stay in OVMS for draining work but are not waited for: nothing new is routed to them.
    assert waited == expected
