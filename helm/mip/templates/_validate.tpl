{{/*
mip.validateValues: the one place that refuses an inconsistent combination of values. The schema checks types and
ranges; this checks what depends on more than one key. Every message names the keys and says what to do.
*/}}
{{- define "mip.validateValues" -}}
{{- $errors := list -}}
{{- $v := .Values -}}

{{- /* Credentials come from existing Secrets only. */ -}}
{{- if not $v.secrets.existingSecret -}}
{{- $errors = append $errors "secrets.existingSecret: name the Secret holding the platform's credentials (see docs/operations.md, \"Secrets\"); the chart never takes credentials as values" -}}
{{- end -}}
{{- if and $v.migrations.enabled (not $v.migrations.existingSecret) -}}
{{- $errors = append $errors "migrations.existingSecret: name the Secret holding the OWNER role's database URL (mip_owner); migrations must not run as the application role" -}}
{{- end -}}
{{- if and (or $v.modelServer.enabled $v.modelSync.enabled) (not $v.modelRepository.existingSecret) -}}
{{- $errors = append $errors "modelRepository.existingSecret: name the Secret holding read-only credentials to the model bucket" -}}
{{- end -}}
{{- if and $v.tests.enabled (not $v.tests.existingSecret) -}}
{{- $errors = append $errors "tests.existingSecret: name the Secret holding a test hospital's API key, or set tests.enabled=false" -}}
{{- end -}}
{{- range $v.config.extraEnv -}}
{{- if regexMatch "(?i)(SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|_KEY$|DATABASE_URL|BROKER_URL|REDIS_URL)" (toString .name) -}}
{{- $errors = append $errors (printf "config.extraEnv: %s looks like a credential; put it in secrets.existingSecret instead of a plain value" .name) -}}
{{- end -}}
{{- end -}}

{{- /* The model server's API must be one its version speaks. */ -}}
{{- if $v.modelServer.enabled -}}
{{- $release := include "mip.modelServer.release" . -}}
{{- if not $release -}}
{{- $errors = append $errors (printf "modelServer.image.tag: %q is not an OVMS release tag (YYYY.N[.P], e.g. 2026.4); pin a release so the chart can check the gRPC API against it" (toString $v.modelServer.image.tag)) -}}
{{- else -}}
{{- $parts := splitList "." $release -}}
{{- $year := atoi (index $parts 0) -}}
{{- $minor := atoi (index $parts 1) -}}
{{- $kserveOnly := or (gt $year 2026) (and (eq $year 2026) (ge $minor 3)) -}}
{{- if and (eq $v.modelServer.api "tfs") $kserveOnly -}}
{{- $errors = append $errors (printf "modelServer.api=tfs cannot work with OVMS %s (modelServer.image.tag=%s): the TensorFlow-Serving gRPC API exists only in OVMS 2026.2.x and older. Set modelServer.api=kserve, or pin modelServer.image.tag to 2026.2.x or older" $release (toString $v.modelServer.image.tag)) -}}
{{- end -}}
{{- end -}}
{{- $cpu := toString $v.modelServer.resources.cpu -}}
{{- if not (regexMatch "^[1-9][0-9]*$" $cpu) -}}
{{- $errors = append $errors (printf "modelServer.resources.cpu: %s is not a whole number of CPUs; OVMS gets requests = limits in whole CPUs (Guaranteed QoS, exclusive cores)" $cpu) -}}
{{- else if ne (mod (atoi $cpu) (int $v.modelServer.tuning.threadsPerStream)) 0 -}}
{{- $errors = append $errors (printf "modelServer.tuning.threadsPerStream=%d does not divide modelServer.resources.cpu=%s: some cores would sit idle; choose a divisor" (int $v.modelServer.tuning.threadsPerStream) $cpu) -}}
{{- end -}}
{{- if and $v.modelServer.readinessModel (not (hasKey $v.models $v.modelServer.readinessModel)) -}}
{{- $errors = append $errors (printf "modelServer.readinessModel: %s is not one of models (%s)" $v.modelServer.readinessModel (keys $v.models | sortAlpha | join ", ")) -}}
{{- end -}}
{{- else if not $v.modelServer.externalUrl -}}
{{- $errors = append $errors "modelServer.externalUrl: with modelServer.enabled=false give the host:port of the OVMS gRPC endpoint" -}}
{{- end -}}

{{- /* The rollout of each model must be coherent. */ -}}
{{- if not $v.models -}}
{{- $errors = append $errors "models: list at least one model with its active version" -}}
{{- end -}}
{{- range $name, $m := $v.models -}}
{{- if and $m.canary (eq (int $m.canary.version) (int $m.active)) -}}
{{- $errors = append $errors (printf "models.%s.canary.version=%d is the active version; a canary must be another version" $name (int $m.active)) -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $m.shadow)) (eq (int $m.shadow) (int $m.active)) -}}
{{- $errors = append $errors (printf "models.%s.shadow=%d is the active version; a shadow must be another version" $name (int $m.active)) -}}
{{- end -}}
{{- if and $m.canary (not (kindIs "invalid" $m.shadow)) (eq (int $m.shadow) (int $m.canary.version)) -}}
{{- $errors = append $errors (printf "models.%s: version %d cannot be both canary and shadow" $name (int $m.shadow)) -}}
{{- end -}}
{{- end -}}

{{- /* Data stores over TLS only. */ -}}
{{- range $key := list "endpoint" "publicEndpoint" -}}
{{- $url := index $v.objectStorage $key -}}
{{- if and $url (not (hasPrefix "https://" $url)) -}}
{{- $errors = append $errors (printf "objectStorage.%s: %s must be an https:// URL; studies and models never travel in clear text" $key $url) -}}
{{- end -}}
{{- end -}}

{{- if $v.ingress.enabled -}}
{{- if not $v.ingress.hosts -}}
{{- $errors = append $errors "ingress.hosts: list the host names of the portal and API" -}}
{{- end -}}
{{- if not $v.ingress.tls.secretName -}}
{{- $errors = append $errors "ingress.tls.secretName: the Ingress serves HTTPS only; name the TLS Secret (e.g. issued by cert-manager)" -}}
{{- end -}}
{{- end -}}

{{- /* One Deployment per queue. */ -}}
{{- $names := dict -}}
{{- $queues := dict -}}
{{- range $v.workers -}}
{{- if hasKey $names .name -}}
{{- $errors = append $errors (printf "workers: the name %s appears twice" .name) -}}
{{- end -}}
{{- if hasKey $queues .queue -}}
{{- $errors = append $errors (printf "workers: the queue %s has two Deployments; give each queue exactly one" .queue) -}}
{{- end -}}
{{- $_ := set $names .name true -}}
{{- $_ := set $queues .queue true -}}
{{- end -}}
{{- if lt (int $v.workerTerminationGracePeriodSeconds) (int $v.config.taskTimeLimitSeconds) -}}
{{- $errors = append $errors (printf "workerTerminationGracePeriodSeconds=%d is shorter than config.taskTimeLimitSeconds=%d: a worker stopped during an upgrade would be killed before its task ends" (int $v.workerTerminationGracePeriodSeconds) (int $v.config.taskTimeLimitSeconds)) -}}
{{- end -}}
{{- if not $v.workers -}}
{{- $errors = append $errors "workers: list at least one worker (queue inference)" -}}
{{- else -}}
{{- /* Every queue the platform publishes to needs a consumer, or that work waits forever. */ -}}
{{- $published := list (list "the default queue (MIP_CELERY_QUEUE, the first worker's)" (include "mip.queue.default" .)) (list "the urgent queue (MIP_CELERY_URGENT_QUEUE)" (include "mip.queue.urgent" .)) -}}
{{- if $v.webhooks.queue }}{{ $published = append $published (list "webhooks.queue (MIP_WEBHOOK_QUEUE)" $v.webhooks.queue) }}{{ end -}}
{{- range $published -}}
{{- if not (hasKey $queues (index . 1)) -}}
{{- $errors = append $errors (printf "workers: no worker consumes %s %s; add one with queue: %s" (index . 0) (index . 1) (index . 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Webhooks: production delivers over https to public addresses only (the platform forces these off there,
so allowing them here would only open the network policy). */ -}}
{{- if eq $v.config.environment "production" -}}
{{- range $key := list "allowLoopback" "allowPrivateNetworks" -}}
{{- if index $v.webhooks $key -}}
{{- $errors = append $errors (printf "webhooks.%s=true with config.environment=production: production delivers webhooks over https to public addresses only (the platform ignores this setting there); set it false" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if gt (float64 $v.webhooks.connectTimeoutSeconds) (float64 $v.webhooks.timeoutSeconds) -}}
{{- $errors = append $errors "webhooks.connectTimeoutSeconds is longer than webhooks.timeoutSeconds (the whole attempt); lower it" -}}
{{- end -}}
{{- range $section := list "webhooks" "hl7" -}}
{{- $s := index $v $section -}}
{{- if gt (float64 $s.retryBaseSeconds) (float64 $s.retryMaxSeconds) -}}
{{- $errors = append $errors (printf "%s.retryBaseSeconds=%v is longer than %s.retryMaxSeconds=%v" $section $s.retryBaseSeconds $section $s.retryMaxSeconds) -}}
{{- end -}}
{{- end -}}

{{- /* Critical-finding e-mails: a real relay, and never a password in clear text. */ -}}
{{- if eq $v.email.backend "django.core.mail.backends.smtp.EmailBackend" -}}
{{- if not $v.email.host -}}
{{- $errors = append $errors "email.host: name the SMTP relay critical-finding e-mails go through (or set email.backend=django.core.mail.backends.dummy.EmailBackend to send none)" -}}
{{- end -}}
{{- if and $v.email.hostUser (not $v.email.useTls) -}}
{{- $errors = append $errors "email.useTls=false with email.hostUser: the SMTP password would cross the network in clear text; set email.useTls=true" -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.config.environment "production") (hasSuffix "console.EmailBackend" $v.email.backend) -}}
{{- $errors = append $errors "email.backend: the console backend writes e-mails (with links to patient results) to the logs; use the SMTP backend in production" -}}
{{- end -}}

{{- /* STOW-RS bodies spool to the web pod's /tmp: it must hold one per gunicorn worker, or the kubelet evicts the pod. */ -}}
{{- $tmp := toString $v.tmpVolumeSizeLimit -}}
{{- if regexMatch "^[0-9]+(Ki|Mi|Gi|Ti)?$" $tmp -}}
{{- $tmpBytes := int64 (regexFind "^[0-9]+" $tmp) -}}
{{- $tmpUnit := regexFind "(Ki|Mi|Gi|Ti)$" $tmp -}}
{{- $factor := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- $tmpBytes = mul $tmpBytes (index $factor $tmpUnit) -}}
{{- $needed := mul (int64 $v.web.gunicornWorkers) (int64 $v.config.dicomwebMaxRequestBytes) -}}
{{- if lt $tmpBytes $needed -}}
{{- $errors = append $errors (printf "tmpVolumeSizeLimit=%s cannot hold web.gunicornWorkers=%d STOW-RS requests of config.dicomwebMaxRequestBytes=%d (they spool to /tmp; the kubelet evicts a pod over its limit). Raise tmpVolumeSizeLimit to at least %dMi or lower the others" $tmp (int $v.web.gunicornWorkers) (int64 $v.config.dicomwebMaxRequestBytes) (div (add $needed 1048575) 1048576)) -}}
{{- end -}}
{{- end -}}

{{- /* The Ingress must let through the largest request the platform accepts. */ -}}
{{- if $v.ingress.enabled -}}
{{- $size := toString (index ($v.ingress.annotations | default dict) "nginx.ingress.kubernetes.io/proxy-body-size" | default "") -}}
{{- if $size -}}
{{- $largest := max (int64 $v.config.maxUploadBytes) (int64 $v.config.dicomwebMaxRequestBytes) -}}
{{- $m := regexFind "^[0-9]+[kKmMgG]?$" $size -}}
{{- if not $m -}}
{{- $errors = append $errors (printf "ingress.annotations: proxy-body-size %q is not an nginx size (e.g. 256m)" $size) -}}
{{- else -}}
{{- $unit := lower (regexFind "[kKmMgG]$" $size) -}}
{{- $bytes := int64 (regexFind "^[0-9]+" $size) -}}
{{- if eq $unit "k" }}{{ $bytes = mul $bytes 1024 }}{{ else if eq $unit "m" }}{{ $bytes = mul $bytes 1048576 }}{{ else if eq $unit "g" }}{{ $bytes = mul $bytes 1073741824 }}{{ end -}}
{{- if and (ne $bytes 0) (lt $bytes $largest) -}}
{{- $errors = append $errors (printf "ingress.annotations: proxy-body-size %s is smaller than the largest request the platform accepts (max of config.maxUploadBytes and config.dicomwebMaxRequestBytes = %d bytes); nginx would refuse it with 413 first. Raise the annotation (e.g. %dm) or lower the setting" $size $largest (div (add $largest 1048575) 1048576)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- if $errors -}}
{{- printf "\nVALUES VALIDATION:\n  - %s" (join "\n  - " $errors) | fail -}}
{{- end -}}
{{- end -}}
