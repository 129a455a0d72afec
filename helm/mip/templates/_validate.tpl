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
{{- end -}}

{{- if $errors -}}
{{- printf "\nVALUES VALIDATION:\n  - %s" (join "\n  - " $errors) | fail -}}
{{- end -}}
{{- end -}}
