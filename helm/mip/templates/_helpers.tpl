{{/*
Names, labels and shared pod fragments. Every helper is named `mip.<thing>`.
*/}}

{{- define "mip.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mip.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's resource name: <fullname>-<component>, at most 63 characters. */}}
{{- define "mip.componentName" -}}
{{- printf "%s-%s" (include "mip.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mip.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. Call with (dict "root" $ "component" "web"). */}}
{{- define "mip.labels" -}}
helm.sh/chart: {{ include "mip.chart" .root }}
{{ include "mip.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mip
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The labels a Service or PDB selects on; stable across upgrades. */}}
{{- define "mip.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mip.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mip.annotations" -}}
{{- with .Values.commonAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mip.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mip.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The platform image reference; a digest pins it exactly. */}}
{{- define "mip.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s/%s:%s@%s" .Values.image.registry .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "mip.modelServer.image" -}}
{{- $i := .Values.modelServer.image -}}
{{- if $i.digest -}}
{{- printf "%s/%s:%s@%s" $i.registry $i.repository (toString $i.tag) $i.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $i.registry $i.repository (toString $i.tag) -}}
{{- end -}}
{{- end -}}

{{/* OVMS release as a list [year, minor] parsed from its tag, or empty when the tag is not a release. */}}
{{- define "mip.modelServer.release" -}}
{{- $tag := toString .Values.modelServer.image.tag -}}
{{- if regexMatch "^[0-9]{4}\\.[0-9]+" $tag -}}
{{- $parts := splitList "." (regexFind "^[0-9]{4}\\.[0-9]+" $tag) -}}
{{- printf "%s.%s" (index $parts 0) (index $parts 1) -}}
{{- end -}}
{{- end -}}

{{/* The gRPC address of the model server the platform uses. */}}
{{- define "mip.modelServer.url" -}}
{{- if .Values.modelServer.enabled -}}
{{- printf "%s:%d" (include "mip.componentName" (dict "root" . "component" "ovms")) (int .Values.modelServer.grpcPort) -}}
{{- else -}}
{{- .Values.modelServer.externalUrl -}}
{{- end -}}
{{- end -}}

{{/* Whole CPUs of an OVMS pod, as an integer. */}}
{{- define "mip.modelServer.cpus" -}}
{{- int .Values.modelServer.resources.cpu -}}
{{- end -}}

{{/* NUM_STREAMS derived from the CPUs: cpu / threadsPerStream, at least 1. */}}
{{- define "mip.modelServer.streams" -}}
{{- $cpus := int .Values.modelServer.resources.cpu -}}
{{- $tps := int .Values.modelServer.tuning.threadsPerStream -}}
{{- max 1 (div $cpus $tps) -}}
{{- end -}}

{{/* Sorted, de-duplicated versions OVMS must load for one model: active, canary, shadow, pinned, keepLoaded. */}}
{{- define "mip.model.versions" -}}
{{- $m := .model -}}
{{- $versions := list (int $m.active) -}}
{{- if $m.canary }}{{ $versions = append $versions (int $m.canary.version) }}{{ end -}}
{{- if not (kindIs "invalid" $m.shadow) }}{{ $versions = append $versions (int $m.shadow) }}{{ end -}}
{{- range $slug, $v := ($m.pins | default dict) }}{{ $versions = append $versions (int $v) }}{{ end -}}
{{- range ($m.keepLoaded | default list) }}{{ $versions = append $versions (int .) }}{{ end -}}
{{- /* Sprig sorts only strings: zero-pad, sort, and read back with atoi (decimal, unlike int). */ -}}
{{- $padded := list -}}
{{- range $versions }}{{ $padded = append $padded (printf "%09d" .) }}{{ end -}}
{{- $sorted := list -}}
{{- range ($padded | uniq | sortAlpha) }}{{ $sorted = append $sorted (atoi .) }}{{ end -}}
{{- $sorted | toJson -}}
{{- end -}}

{{/* S3 URI of the model repository root: s3://bucket[/prefix] */}}
{{- define "mip.modelRepository.uri" -}}
{{- $r := .Values.modelRepository -}}
{{- if $r.prefix -}}
{{- printf "s3://%s/%s" $r.bucket (trimAll "/" $r.prefix) -}}
{{- else -}}
{{- printf "s3://%s" $r.bucket -}}
{{- end -}}
{{- end -}}

{{/* OVMS config.json, generated from `models`: version policy = the versions in use. */}}
{{- define "mip.modelServer.config" -}}
{{- $root := . -}}
{{- $streams := include "mip.modelServer.streams" . | int -}}
{{- $cpus := include "mip.modelServer.cpus" . | int -}}
{{- $list := list -}}
{{- range $name := keys .Values.models | sortAlpha -}}
{{- $m := index $root.Values.models $name -}}
{{- $versions := list -}}
{{- range (include "mip.model.versions" (dict "model" $m) | fromJsonArray) }}{{ $versions = append $versions (int .) }}{{ end -}}
{{- $plugin := dict "PERFORMANCE_HINT" $root.Values.modelServer.tuning.performanceHint "NUM_STREAMS" $streams "INFERENCE_NUM_THREADS" $cpus -}}
{{- $plugin = merge (deepCopy ($m.pluginConfig | default dict)) $plugin -}}
{{- $cfg := dict "name" $name "base_path" (printf "%s/%s" (include "mip.modelRepository.uri" $root) $name) "model_version_policy" (dict "specific" (dict "versions" $versions)) "plugin_config" $plugin "target_device" "CPU" "nireq" (int (default $streams $m.nireq)) -}}
{{- $list = append $list (dict "config" $cfg) -}}
{{- end -}}
{{- dict "model_config_list" $list | toPrettyJson -}}
{{- end -}}

{{/* The model_sync desired-state document: exactly {model: {active, canary, shadow, pins}}. */}}
{{- define "mip.modelSync.document" -}}
{{- $doc := dict -}}
{{- range $name, $m := .Values.models -}}
{{- $canary := dict -}}
{{- if $m.canary }}{{ $canary = dict "version" (int $m.canary.version) "percent" (int $m.canary.percent) }}{{ end -}}
{{- $pins := dict -}}
{{- range $slug, $v := ($m.pins | default dict) }}{{ $_ := set $pins $slug (int $v) }}{{ end -}}
{{- $spec := dict "active" (int $m.active) "canary" (ternary $canary nil (gt (len $canary) 0)) "shadow" (ternary nil (int $m.shadow) (kindIs "invalid" $m.shadow)) "pins" $pins -}}
{{- $_ := set $doc $name $spec -}}
{{- end -}}
{{- $doc | toPrettyJson -}}
{{- end -}}

{{/* Node affinity on Node Feature Discovery CPU labels (AVX-512 VNNI, AMX). */}}
{{- define "mip.xeonNodeAffinity" -}}
{{- $x := .Values.xeon -}}
{{- $exprs := list -}}
{{- range $x.cpuFeatures }}
{{- $exprs = append $exprs (dict "key" (printf "feature.node.kubernetes.io/cpu-cpuid.%s" .) "operator" "In" "values" (list "true")) -}}
{{- end }}
{{- $preferred := list -}}
{{- range $x.preferredCpuFeatures }}
{{- $preferred = append $preferred (dict "weight" 50 "preference" (dict "matchExpressions" (list (dict "key" (printf "feature.node.kubernetes.io/cpu-cpuid.%s" .) "operator" "In" "values" (list "true"))))) -}}
{{- end }}
{{- if and $x.required $exprs }}
requiredDuringSchedulingIgnoredDuringExecution:
  nodeSelectorTerms:
    - matchExpressions: {{- toYaml $exprs | nindent 8 }}
{{- else if $exprs }}
{{- $preferred = append $preferred (dict "weight" 100 "preference" (dict "matchExpressions" $exprs)) -}}
{{- end }}
{{- if $preferred }}
preferredDuringSchedulingIgnoredDuringExecution: {{- toYaml $preferred | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod affinity block: anti-affinity across nodes for one component, plus Xeon node affinity when asked.
Call with (dict "root" $ "component" "web" "xeon" true). */}}
{{- define "mip.affinity" -}}
{{- $root := .root -}}
{{- $selector := include "mip.selectorLabels" . | fromYaml -}}
affinity:
  {{- if .xeon }}
  nodeAffinity: {{- include "mip.xeonNodeAffinity" $root | trim | nindent 4 }}
  {{- end }}
  podAntiAffinity:
    {{- if eq $root.Values.antiAffinity "hard" }}
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels: {{- toYaml $selector | nindent 12 }}
    {{- else }}
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels: {{- toYaml $selector | nindent 14 }}
    {{- end }}
{{- if $root.Values.topologySpreadZones }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels: {{- toYaml $selector | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by every platform pod. */}}
{{- define "mip.podCommon" -}}
serviceAccountName: {{ include "mip.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "mip.containerSecurityContext" -}}
securityContext: {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/* Non-secret settings of the platform processes, from a ConfigMap. */}}
{{- define "mip.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "mip.componentName" (dict "root" . "component" "config") }}
{{- end -}}

{{/* Credentials of the platform processes, each from the existing Secret. */}}
{{- define "mip.secretEnv" -}}
{{- $s := .Values.secrets -}}
- name: MIP_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.secretKey | quote }}}}
- name: MIP_FIELD_ENCRYPTION_KEY
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.fieldEncryptionKey | quote }}}}
- name: MIP_FIELD_ENCRYPTION_KEY_FALLBACKS
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.fieldEncryptionKeyFallbacks | quote }}, optional: true}}
- name: MIP_AUDIT_SIGNING_KEY
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.auditSigningKey | quote }}}}
- name: MIP_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.databaseUrl | quote }}}}
- name: MIP_BROKER_URL
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.brokerUrl | quote }}}}
- name: MIP_REDIS_URL
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.redisUrl | quote }}}}
- name: MIP_S3_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.s3AccessKey | quote }}}}
- name: MIP_S3_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.s3SecretKey | quote }}}}
- name: MIP_EMAIL_HOST_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret | quote }}, key: {{ $s.keys.emailHostPassword | quote }}, optional: true}}
{{- end -}}

{{/* Read-only credentials to the model repository (AWS SDK names, as OVMS and boto3 read them). */}}
{{- define "mip.modelRepositoryEnv" -}}
{{- $r := .Values.modelRepository -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ $r.existingSecret | quote }}, key: {{ $r.accessKeyKey | quote }}}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ $r.existingSecret | quote }}, key: {{ $r.secretKeyKey | quote }}}}
- name: AWS_REGION
  value: {{ .Values.objectStorage.region | quote }}
{{- with .Values.objectStorage.endpoint }}
- name: S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "mip.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolumeSizeLimit }}
{{- end -}}

{{/* Model cards of the versions in use, fetched from the repository into an emptyDir (the platform reads a
version's precision and demo flag from its card). With "full" true, every file of those versions (model_sync
verifies them against their cards before registering). Call with (dict "root" $ "full" false). */}}
{{- define "mip.fetchModelsInitContainer" -}}
{{- $root := .root -}}
- name: fetch-model-cards
  image: {{ include "mip.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command: ["python", "/opt/mip/hooks/fetch_models.py"]
  args:
    - --versions
    - /etc/mip/models/versions.json
    - --dest
    - /var/lib/mip/model_repository
    {{- if not .full }}
    - --cards-only
    {{- end }}
  env:
    - name: MIP_MODEL_REPOSITORY_URI
      value: {{ include "mip.modelRepository.uri" $root | quote }}
    {{- include "mip.modelRepositoryEnv" $root | nindent 4 }}
  {{- include "mip.containerSecurityContext" $root | nindent 2 }}
  resources: {{- toYaml $root.Values.initResources | nindent 4 }}
  volumeMounts:
    - {name: model-repository, mountPath: /var/lib/mip/model_repository}
    - {name: models, mountPath: /etc/mip/models, readOnly: true}
    - {name: hooks, mountPath: /opt/mip/hooks, readOnly: true}
    - {name: tmp, mountPath: /tmp}
{{- end -}}

{{- define "mip.modelVolumes" -}}
- name: model-repository
  emptyDir:
    sizeLimit: 2Gi
- name: models
  configMap:
    name: {{ include "mip.componentName" (dict "root" . "component" "models") }}
- name: hooks
  configMap:
    name: {{ include "mip.componentName" (dict "root" . "component" "hooks") }}
{{- end -}}

{{/* The web Service host name, always an allowed host (the helm test and probes use it). */}}
{{- define "mip.web.serviceHost" -}}
{{- include "mip.componentName" (dict "root" . "component" "web") -}}
{{- end -}}

{{/* Every platform container's environment: non-secret settings inline (a change rolls the pods), credentials
from the Secret. Inline rather than a ConfigMap so the pre-install migrations hook, which runs before any
regular resource exists, gets the same settings. */}}
{{- define "mip.env" -}}
{{- $c := .Values.config -}}
{{- $hosts := concat (list (include "mip.web.serviceHost" .)) ($c.allowedHosts | default list) -}}
{{- $origins := $c.csrfTrustedOrigins | default list -}}
{{- if .Values.ingress.enabled -}}
{{- if not $c.allowedHosts }}{{ $hosts = concat $hosts .Values.ingress.hosts }}{{ end -}}
{{- if not $c.csrfTrustedOrigins }}{{ range .Values.ingress.hosts }}{{ $origins = append $origins (printf "https://%s" .) }}{{ end }}{{ end -}}
{{- end -}}
{{- $public := $c.publicBaseUrl -}}
{{- if and (not $public) .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $public = printf "https://%s" (first .Values.ingress.hosts) -}}
{{- end -}}
{{- $versions := list -}}
{{- range $name := keys .Values.models | sortAlpha -}}
{{- $versions = append $versions (printf "%s=%d" $name (int (index $.Values.models $name).active)) -}}
{{- end -}}
- {name: MIP_ENV, value: {{ $c.environment | quote }}}
- {name: DJANGO_SETTINGS_MODULE, value: config.settings}
- {name: HOME, value: /tmp}
- {name: PYTHONDONTWRITEBYTECODE, value: "1"}
- {name: PYTHONUNBUFFERED, value: "1"}
- {name: MIP_ALLOWED_HOSTS, value: {{ $hosts | uniq | join "," | quote }}}
- {name: MIP_CSRF_TRUSTED_ORIGINS, value: {{ $origins | uniq | join "," | quote }}}
{{- if $public }}
- {name: MIP_PUBLIC_BASE_URL, value: {{ $public | quote }}}
{{- end }}
- {name: MIP_SECURE_COOKIES, value: {{ $c.secureCookies | quote }}}
- {name: MIP_DEBUG, value: "false"}
- {name: MIP_LOG_LEVEL, value: {{ $c.logLevel | quote }}}
- {name: MIP_DB_CONN_MAX_AGE, value: {{ $c.dbConnMaxAge | quote }}}
- {name: MIP_DB_APP_ROLE, value: {{ $c.dbAppRole | quote }}}
- {name: MIP_CACHE_KEY_PREFIX, value: {{ $c.cacheKeyPrefix | quote }}}
- {name: MIP_MAX_UPLOAD_BYTES, value: {{ int64 $c.maxUploadBytes | quote }}}
- {name: MIP_RATE_LIMIT_PER_KEY_PER_MINUTE, value: {{ $c.rateLimitPerKeyPerMinute | quote }}}
- {name: MIP_RATE_LIMIT_PER_TENANT_PER_MINUTE, value: {{ $c.rateLimitPerTenantPerMinute | quote }}}
- {name: MIP_LOGIN_MAX_FAILURES, value: {{ $c.loginMaxFailures | quote }}}
- {name: MIP_LOGIN_FAILURE_WINDOW_S, value: {{ $c.loginFailureWindowSeconds | quote }}}
- {name: MIP_LOGIN_LOCKOUT_S, value: {{ $c.loginLockoutSeconds | quote }}}
- {name: MIP_LOGIN_MAX_FAILURES_PER_IP, value: {{ $c.loginMaxFailuresPerIp | quote }}}
- {name: MIP_LOGIN_SECOND_FACTOR_TTL_S, value: {{ $c.loginSecondFactorTtlSeconds | quote }}}
- {name: MIP_PRESIGNED_URL_TTL_S, value: {{ $c.presignedUrlTtlSeconds | quote }}}
{{- with .Values.objectStorage.endpoint }}
- {name: MIP_S3_ENDPOINT_URL, value: {{ . | quote }}}
{{- end }}
{{- with .Values.objectStorage.publicEndpoint }}
- {name: MIP_S3_PUBLIC_ENDPOINT_URL, value: {{ . | quote }}}
{{- end }}
- {name: MIP_S3_REGION, value: {{ .Values.objectStorage.region | quote }}}
- {name: MIP_S3_BUCKET, value: {{ .Values.objectStorage.bucket | quote }}}
- {name: MIP_S3_SSE, value: {{ .Values.objectStorage.sse | quote }}}
- {name: MIP_MODEL_SERVER_URL, value: {{ include "mip.modelServer.url" . | quote }}}
- {name: MIP_MODEL_SERVER_API, value: {{ .Values.modelServer.api | quote }}}
- {name: MIP_MODEL_SERVER_TIMEOUT_S, value: {{ $c.modelServerTimeoutSeconds | quote }}}
- {name: MIP_MODEL_VERSIONS, value: {{ join "," $versions | quote }}}
- {name: MIP_MODEL_REPOSITORY_DIR, value: /var/lib/mip/model_repository}
- {name: MIP_INFERENCE_MAX_RETRIES, value: {{ $c.inferenceMaxRetries | quote }}}
- {name: MIP_INFERENCE_RETRY_BASE_S, value: {{ $c.inferenceRetryBaseSeconds | quote }}}
- {name: MIP_INFERENCE_RETRY_MAX_S, value: {{ $c.inferenceRetryMaxSeconds | quote }}}
- {name: MIP_REQUEUE_STALE_AFTER_S, value: {{ $c.requeueStaleAfterSeconds | quote }}}
- {name: MIP_TASK_SOFT_TIME_LIMIT_S, value: {{ $c.taskSoftTimeLimitSeconds | quote }}}
- {name: MIP_TASK_TIME_LIMIT_S, value: {{ $c.taskTimeLimitSeconds | quote }}}
- {name: MIP_BILLING_CLOSE_HOUR_UTC, value: {{ $c.billingCloseHourUtc | quote }}}
- {name: MIP_BILLING_CLOSE_MINUTE_UTC, value: {{ $c.billingCloseMinuteUtc | quote }}}
- {name: MIP_BILLING_ISSUER_NAME, value: {{ $c.billingIssuerName | quote }}}
- {name: MIP_AUDIT_RETENTION_DAYS, value: {{ $c.auditRetentionDays | quote }}}
- {name: MIP_CELERY_QUEUE, value: {{ include "mip.queue.default" . | quote }}}
- {name: MIP_CELERY_URGENT_QUEUE, value: {{ include "mip.queue.urgent" . | quote }}}
- {name: MIP_STATIC_ROOT, value: /app/static}
{{- /* Webhooks, critical-finding e-mails (the SMTP password is in mip.secretEnv), DICOMweb and HL7 v2. */}}
{{- $w := .Values.webhooks }}
- {name: MIP_WEBHOOK_QUEUE, value: {{ $w.queue | quote }}}
- {name: MIP_WEBHOOK_CONNECT_TIMEOUT_S, value: {{ $w.connectTimeoutSeconds | quote }}}
- {name: MIP_WEBHOOK_TIMEOUT_S, value: {{ $w.timeoutSeconds | quote }}}
- {name: MIP_WEBHOOK_RETRY_WINDOW_S, value: {{ int64 $w.retryWindowSeconds | quote }}}
- {name: MIP_WEBHOOK_RETRY_BASE_S, value: {{ $w.retryBaseSeconds | quote }}}
- {name: MIP_WEBHOOK_RETRY_MAX_S, value: {{ $w.retryMaxSeconds | quote }}}
- {name: MIP_WEBHOOK_SWEEP_INTERVAL_S, value: {{ $w.sweepIntervalSeconds | quote }}}
- {name: MIP_WEBHOOK_ALLOW_LOOPBACK, value: {{ $w.allowLoopback | quote }}}
- {name: MIP_WEBHOOK_ALLOW_PRIVATE_NETWORKS, value: {{ $w.allowPrivateNetworks | quote }}}
{{- $e := .Values.email }}
- {name: MIP_EMAIL_BACKEND, value: {{ $e.backend | quote }}}
- {name: MIP_EMAIL_HOST, value: {{ $e.host | quote }}}
- {name: MIP_EMAIL_PORT, value: {{ $e.port | quote }}}
- {name: MIP_EMAIL_USE_TLS, value: {{ $e.useTls | quote }}}
- {name: MIP_EMAIL_HOST_USER, value: {{ $e.hostUser | quote }}}
- {name: MIP_EMAIL_TIMEOUT_S, value: {{ $e.timeoutSeconds | quote }}}
- {name: MIP_DEFAULT_FROM_EMAIL, value: {{ $e.fromAddress | quote }}}
- {name: MIP_DICOMWEB_MAX_REQUEST_BYTES, value: {{ int64 $c.dicomwebMaxRequestBytes | quote }}}
- {name: MIP_IDEMPOTENCY_TTL_S, value: {{ int64 $c.idempotencyTtlSeconds | quote }}}
- {name: MIP_IDEMPOTENCY_WAIT_S, value: {{ $c.idempotencyWaitSeconds | quote }}}
- {name: MIP_IDEMPOTENCY_ABANDONED_AFTER_S, value: {{ int64 $c.idempotencyAbandonedAfterSeconds | quote }}}
- {name: MIP_PORTAL_POLL_INTERVAL_MS, value: {{ int64 $c.portalPollIntervalMs | quote }}}
{{- /* The image's static files are collected with hashed names (Dockerfile: collectstatic). */}}
- {name: MIP_STATIC_MANIFEST, value: "true"}
{{- $h := .Values.hl7 }}
- {name: MIP_HL7_SENDING_APPLICATION, value: {{ $h.sendingApplication | quote }}}
- {name: MIP_HL7_MLLP_TIMEOUT_S, value: {{ $h.mllpTimeoutSeconds | quote }}}
- {name: MIP_HL7_MAX_RETRIES, value: {{ $h.maxRetries | quote }}}
- {name: MIP_HL7_RETRY_BASE_S, value: {{ $h.retryBaseSeconds | quote }}}
- {name: MIP_HL7_RETRY_MAX_S, value: {{ $h.retryMaxSeconds | quote }}}
{{- with $c.extraEnv }}
{{ toYaml . }}
{{- end }}
{{ include "mip.secretEnv" . }}
{{- end -}}

{{/* The Celery queues the platform publishes to: the default (first worker's), the urgent one, the webhook one. */}}
{{- define "mip.queue.default" -}}
{{- (first .Values.workers).queue -}}
{{- end -}}
{{- define "mip.queue.urgent" -}}
{{- printf "%s-urgent" (include "mip.queue.default" .) -}}
{{- end -}}
{{/* The queue webhook deliveries and e-mails run on ("" in the values means the default queue). */}}
{{- define "mip.queue.webhooks" -}}
{{- default (include "mip.queue.default" .) .Values.webhooks.queue -}}
{{- end -}}

{{/* Priority class name of a tier (inference, web, batch). */}}
{{- define "mip.priorityClassName" -}}
{{- index .root.Values.priorityClasses .tier -}}
{{- end -}}

{{/* HorizontalPodAutoscaler of a Deployment. Call with (dict "root" $ "component" "web" "autoscaling" {...}). */}}
{{- define "mip.hpa" -}}
{{- if .autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "mip.componentName" . }}
  labels: {{- include "mip.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "mip.componentName" . }}
  minReplicas: {{ .autoscaling.minReplicas }}
  maxReplicas: {{ .autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
      policies:
        - {type: Pods, value: 1, periodSeconds: 120}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget of a component. Call with (dict "root" $ "component" "web" "pdb" {...}). */}}
{{- define "mip.pdb" -}}
{{- if .pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "mip.componentName" . }}
  labels: {{- include "mip.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels: {{- include "mip.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
