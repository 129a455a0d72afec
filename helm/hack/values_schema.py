"""Generate helm/mip/values.schema.json (run: python helm/hack/values_schema.py; a test checks it is current).

The schema is written here as Python so that shared shapes (resources, autoscaling, network peers) are defined
once; `## @param` comments in values.yaml document each key, and tests/helm checks that both name the same keys.
"""
from __future__ import annotations

import json
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "mip" / "values.schema.json"


def obj(properties: dict, *, required: list[str] | None = None, additional: bool | dict = False,
        description: str | None = None) -> dict:
    schema: dict = {"type": "object", "properties": properties, "additionalProperties": additional}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
POS_INT = {"type": "integer", "minimum": 1}
NONNEG_INT = {"type": "integer", "minimum": 0}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
POS_NUMBER = {"type": "number", "exclusiveMinimum": 0}
STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
QUANTITY = {"type": ["string", "integer", "number"]}
VERSION = {"type": "integer", "minimum": 1}
RESOURCES = obj({
    "requests": obj({"cpu": QUANTITY, "memory": QUANTITY}, required=["cpu", "memory"]),
    "limits": obj({"cpu": QUANTITY, "memory": QUANTITY}, required=["cpu", "memory"]),
}, required=["requests", "limits"], description="requests and limits are both required (policy: every container has limits)")
AUTOSCALING = obj({
    "enabled": BOOL, "minReplicas": POS_INT, "maxReplicas": POS_INT,
    "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
}, required=["enabled", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage"])
PDB = obj({"enabled": BOOL, "maxUnavailable": {"type": ["integer", "string"]}}, required=["enabled", "maxUnavailable"])
PEERS = {"type": "array", "items": {"type": "object"},
         "description": "NetworkPolicyPeer objects (ipBlock, namespaceSelector, podSelector)"}
SECRET_NAME = {"type": "string", "pattern": "^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
IMAGE = {
    "registry": STR, "repository": STR, "tag": {"type": ["string", "number"]},
    "digest": {"type": "string", "pattern": "^$|^sha256:[a-f0-9]{64}$"},
    "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
}

MODEL = obj({
    "active": VERSION,
    "canary": {"oneOf": [{"type": "null"}, obj({
        "version": VERSION, "percent": {"type": "integer", "minimum": 1, "maximum": 100}},
        required=["version", "percent"])]},
    "shadow": {"oneOf": [{"type": "null"}, VERSION]},
    "pins": {"type": "object", "additionalProperties": VERSION,
             "propertyNames": {"pattern": "^[a-z0-9][a-z0-9-]*$"}},
    "keepLoaded": {"type": "array", "items": VERSION, "uniqueItems": True},
    "pluginConfig": {"type": "object", "additionalProperties": {"type": ["string", "integer", "number", "boolean"]}},
    "nireq": NONNEG_INT,
}, required=["active"])

WORKER = obj({
    "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$"},
    "queue": {"type": "string", "minLength": 1},
    "concurrency": POS_INT,
    "replicaCount": POS_INT,
    "resources": RESOURCES,
    "autoscaling": AUTOSCALING,
    "pdb": PDB,
}, required=["name", "queue", "concurrency", "resources", "autoscaling", "pdb"])

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Values of the mip chart",
    **obj({
        "nameOverride": STR, "fullnameOverride": STR, "commonLabels": STR_MAP, "commonAnnotations": STR_MAP,
        "image": obj(IMAGE, required=["registry", "repository"]),
        "imagePullSecrets": {"type": "array", "items": obj({"name": STR}, required=["name"])},
        "serviceAccount": obj({"create": BOOL, "name": STR, "annotations": STR_MAP,
                               "automountServiceAccountToken": BOOL}),
        "podSecurityContext": obj({"runAsNonRoot": {"const": True}}, additional=True, required=["runAsNonRoot"]),
        "containerSecurityContext": obj({
            "allowPrivilegeEscalation": {"const": False}, "readOnlyRootFilesystem": {"const": True},
            "runAsNonRoot": {"const": True}, "privileged": {"const": False},
            "capabilities": obj({"drop": {"type": "array", "contains": {"const": "ALL"}},
                                 "add": {"type": "array", "maxItems": 0}}),
            "seccompProfile": obj({"type": {"enum": ["RuntimeDefault", "Localhost"]},
                                   "localhostProfile": STR}),
        }, required=["allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsNonRoot", "capabilities"]),
        "xeon": obj({
            "required": BOOL,
            "cpuFeatures": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9_]+$"}},
            "preferredCpuFeatures": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9_]+$"}},
            "applyToPlatform": BOOL, "nodeSelector": STR_MAP,
            "tolerations": {"type": "array", "items": {"type": "object"}},
        }),
        "antiAffinity": {"enum": ["soft", "hard"]},
        "topologySpreadZones": BOOL,
        "priorityClasses": obj({"create": BOOL, "inference": {"type": "string", "minLength": 1},
                                "web": {"type": "string", "minLength": 1}, "batch": {"type": "string", "minLength": 1}}),
        "config": obj({
            "environment": {"enum": ["production", "development", "test"]},
            "publicBaseUrl": {"type": "string", "pattern": "^$|^https?://"},
            "allowedHosts": {"type": "array", "items": STR},
            "csrfTrustedOrigins": {"type": "array", "items": {"type": "string", "pattern": "^https?://"}},
            "secureCookies": BOOL,
            "logLevel": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
            "dbConnMaxAge": NONNEG_INT, "dbAppRole": {"type": "string", "minLength": 1},
            "cacheKeyPrefix": STR, "maxUploadBytes": POS_INT,
            "rateLimitPerKeyPerMinute": POS_INT, "rateLimitPerTenantPerMinute": POS_INT,
            "loginMaxFailures": POS_INT, "loginFailureWindowSeconds": POS_INT, "loginLockoutSeconds": POS_INT,
            "loginSecondFactorTtlSeconds": POS_INT, "loginMaxFailuresPerIp": POS_INT,
            "billingCloseHourUtc": {"type": "integer", "minimum": 0, "maximum": 23},
            "billingCloseMinuteUtc": {"type": "integer", "minimum": 0, "maximum": 59},
            "billingIssuerName": {"type": "string", "minLength": 1}, "auditRetentionDays": POS_INT, "presignedUrlTtlSeconds": POS_INT,
            "modelServerTimeoutSeconds": {"type": "number", "exclusiveMinimum": 0},
            "inferenceMaxRetries": NONNEG_INT,
            "inferenceRetryBaseSeconds": {"type": "number", "exclusiveMinimum": 0},
            "inferenceRetryMaxSeconds": {"type": "number", "exclusiveMinimum": 0},
            "dicomwebMaxRequestBytes": POS_INT,
            "idempotencyTtlSeconds": POS_INT, "idempotencyWaitSeconds": {"type": "number", "minimum": 0},
            "idempotencyAbandonedAfterSeconds": POS_INT, "portalPollIntervalMs": POS_INT,
            "requeueStaleAfterSeconds": POS_INT, "taskSoftTimeLimitSeconds": POS_INT, "taskTimeLimitSeconds": POS_INT,
            "extraEnv": {"type": "array", "items": obj(
                {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}, "value": STR},
                required=["name", "value"],
                description="plain values only: valueFrom is not accepted here, credentials go in secrets")},
        }),
        "secrets": obj({
            "existingSecret": SECRET_NAME,
            "keys": obj({k: {"type": "string", "minLength": 1} for k in (
                "secretKey", "fieldEncryptionKey", "fieldEncryptionKeyFallbacks", "auditSigningKey", "databaseUrl", "brokerUrl",
                "redisUrl", "s3AccessKey", "s3SecretKey", "emailHostPassword")}),
        }),
        "externalDatabase": obj({"host": STR, "port": PORT, "networkPeers": PEERS}),
        "externalBroker": obj({"port": PORT, "networkPeers": PEERS}),
        "externalRedis": obj({"port": PORT, "networkPeers": PEERS}),
        "objectStorage": obj({
            "endpoint": {"type": "string", "pattern": "^$|^https://"},
            "publicEndpoint": {"type": "string", "pattern": "^$|^https://"},
            "region": {"type": "string", "minLength": 1},
            "bucket": {"type": "string", "minLength": 3}, "sse": {"enum": ["", "AES256", "aws:kms"]},
            "port": PORT, "networkPeers": PEERS,
        }),
        "webhooks": obj({
            "queue": {"type": "string", "pattern": "^[A-Za-z0-9._-]*$"},
            "connectTimeoutSeconds": POS_NUMBER, "timeoutSeconds": POS_NUMBER, "retryWindowSeconds": POS_INT,
            "retryBaseSeconds": POS_NUMBER, "retryMaxSeconds": POS_NUMBER, "sweepIntervalSeconds": POS_NUMBER,
            "allowLoopback": BOOL, "allowPrivateNetworks": BOOL,
            "ports": {"type": "array", "minItems": 1, "uniqueItems": True, "items": PORT},
        }),
        "email": obj({
            "backend": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.]*$"},
            "host": {"type": "string", "pattern": "^$|^[A-Za-z0-9.-]+$"},
            "port": PORT, "useTls": BOOL,
            "hostUser": STR, "timeoutSeconds": POS_INT, "fromAddress": {"type": "string", "minLength": 3},
            "networkPeers": PEERS,
        }),
        "hl7": obj({
            "sendingApplication": {"type": "string", "minLength": 1, "maxLength": 227},
            "mllpTimeoutSeconds": POS_NUMBER, "maxRetries": NONNEG_INT,
            "retryBaseSeconds": POS_NUMBER, "retryMaxSeconds": POS_NUMBER,
            "destinations": {"type": "array", "items": obj({
                "cidr": {"type": "string", "pattern": r"^[0-9a-fA-F:.]+/[0-9]{1,3}$"},
                "ports": {"type": "array", "minItems": 1, "items": PORT},
            }, required=["cidr", "ports"])},
        }),
        "modelRepository": obj({
            "bucket": {"type": "string", "minLength": 3},
            "prefix": {"type": "string", "pattern": "^$|^[^/].*[^/]$|^[^/]$"},
            "existingSecret": SECRET_NAME, "accessKeyKey": STR, "secretKeyKey": STR,
        }),
        "models": {"type": "object", "minProperties": 1,
                   "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                   "additionalProperties": MODEL},
        "modelServer": obj({
            "enabled": BOOL, "externalUrl": {"type": "string", "pattern": "^$|^[^/]+:[0-9]+$"},
            "api": {"enum": ["kserve", "tfs"]},
            "image": obj(IMAGE, required=["registry", "repository", "tag"]),
            "replicaCount": POS_INT, "grpcPort": PORT, "restPort": PORT,
            "logLevel": {"enum": ["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"]},
            "configPollSeconds": POS_INT, "uid": POS_INT,
            "resources": obj({"cpu": {"type": ["integer", "string"]}, "memory": QUANTITY}, required=["cpu", "memory"]),
            "tuning": obj({"performanceHint": {"enum": ["LATENCY", "THROUGHPUT"]}, "threadsPerStream": POS_INT}),
            "readinessModel": STR,
            "autoscaling": AUTOSCALING, "pdb": PDB,
            "extraArgs": {"type": "array", "items": STR},
        }),
        "web": obj({
            "replicaCount": POS_INT, "port": PORT, "gunicornWorkers": POS_INT, "gunicornTimeoutSeconds": POS_INT,
            "resources": RESOURCES, "autoscaling": AUTOSCALING, "pdb": PDB,
        }),
        "workers": {"type": "array", "minItems": 1, "items": WORKER},
        "workerTerminationGracePeriodSeconds": POS_INT,
        "beat": obj({"enabled": BOOL, "resources": RESOURCES}),
        "migrations": obj({"enabled": BOOL, "existingSecret": SECRET_NAME, "databaseUrlKey": STR,
                           "activeDeadlineSeconds": POS_INT, "backoffLimit": NONNEG_INT, "resources": RESOURCES}),
        "modelSync": obj({"enabled": BOOL, "waitForModelServerSeconds": NONNEG_INT,
                          "activeDeadlineSeconds": POS_INT, "backoffLimit": NONNEG_INT, "resources": RESOURCES}),
        "initResources": RESOURCES,
        "tmpVolumeSizeLimit": QUANTITY,
        "ingress": obj({"enabled": BOOL, "className": STR, "annotations": STR_MAP,
                        "hosts": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9.-]+$"}},
                        "tls": obj({"secretName": STR})}),
        "networkPolicy": obj({"enabled": BOOL, "ingressControllerSelector": STR_MAP, "prometheusSelector": STR_MAP,
                              "dnsSelector": STR_MAP, "webChecksModelReadiness": BOOL}),
        "metrics": obj({"enabled": BOOL, "serviceMonitor": obj({
            "enabled": BOOL, "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}, "labels": STR_MAP})}),
        "tests": obj({"enabled": BOOL, "existingSecret": SECRET_NAME, "apiKeyKey": STR,
                      "model": STR, "timeoutSeconds": POS_INT}),
    }),
}


def render() -> str:
    return json.dumps(SCHEMA, indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render())
    print(f"wrote {SCHEMA_PATH}")
