{{/* Names ------------------------------------------------------------------------------------------- */}}

{{- define "omnigate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "omnigate.fullname" -}}
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

{{/* Name of a component's objects: (dict "root" $ "name" "system-erp") */}}
{{- define "omnigate.componentName" -}}
{{- printf "%s-%s" (include "omnigate.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "omnigate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: (dict "root" $ "name" COMPONENT) */}}
{{- define "omnigate.labels" -}}
helm.sh/chart: {{ include "omnigate.chart" .root }}
{{ include "omnigate.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: omnigate
{{- end -}}

{{- define "omnigate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "omnigate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "omnigate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "omnigate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "omnigate.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* URLs -------------------------------------------------------------------------------------------- */}}

{{/* Environment variable of a deployable's URL, as shared.settings.url_env_name: OMNIGATE_URL_SYSTEM_ERP */}}
{{- define "omnigate.urlEnvName" -}}
{{- printf "OMNIGATE_URL_%s" (. | upper | replace "-" "_") -}}
{{- end -}}

{{/* In-cluster URL of a deployable's Service: (dict "root" $ "name" NAME) */}}
{{- define "omnigate.serviceUrl" -}}
{{- $d := index .root.Values.deployables .name -}}
{{- printf "http://%s.%s.svc.%s:%v" (include "omnigate.componentName" .) .root.Release.Namespace .root.Values.clusterDomain $d.port -}}
{{- end -}}

{{/* Base URL of a back-end role (erp, wms, pos): backends.<role>.url, else its enabled sandbox, else "". */}}
{{- define "omnigate.backendUrl" -}}
{{- $backend := index .root.Values.backends .role | default dict -}}
{{- $sandbox := index .root.Values.deployables (printf "sandbox-%s" .role) | default dict -}}
{{- if $backend.url -}}
{{- $backend.url | trimSuffix "/" -}}
{{- else if $sandbox.enabled -}}
{{- include "omnigate.serviceUrl" (dict "root" .root "name" (printf "sandbox-%s" .role)) -}}
{{- end -}}
{{- end -}}

{{/* The port a URL points at: explicit, else the scheme's default. */}}
{{- define "omnigate.urlPort" -}}
{{- $u := urlParse . -}}
{{- $hostport := splitList ":" $u.host -}}
{{- if gt (len $hostport) 1 -}}
{{- last $hostport -}}
{{- else if eq $u.scheme "https" -}}443
{{- else if eq $u.scheme "http" -}}80
{{- else if eq $u.scheme "rediss" -}}6379
{{- else if eq $u.scheme "redis" -}}6379
{{- else -}}443
{{- end -}}
{{- end -}}

{{/* Secrets ----------------------------------------------------------------------------------------- */}}

{{- define "omnigate.secretName" -}}
{{- default (printf "%s-credentials" (include "omnigate.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Keys of the credentials Secret, as in shared/launcher.py SECRET_NAMES (+ the bundled Redis password). */}}
{{- define "omnigate.secretKeys" -}}
erp_api_key pos_access_token pos_webhook_signature_key wms_access_token wms_webhook_secret gateway_client_secret_pepper
{{- end -}}

{{- define "omnigate.redisAuth" -}}
{{- if and .Values.redis.bundled.enabled .Values.redis.bundled.auth -}}true{{- end -}}
{{- end -}}

{{/* Redis ------------------------------------------------------------------------------------------- */}}

{{- define "omnigate.redisName" -}}
{{- include "omnigate.componentName" (dict "root" . "name" "redis") -}}
{{- end -}}

{{- define "omnigate.redisCacheName" -}}
{{- include "omnigate.componentName" (dict "root" . "name" "redis-cache") -}}
{{- end -}}

{{- define "omnigate.redisHost" -}}
{{- printf "%s.%s.svc.%s" (include "omnigate.redisName" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "omnigate.redisCacheHost" -}}
{{- printf "%s.%s.svc.%s" (include "omnigate.redisCacheName" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* Env entries for REDIS_URL / CACHE_REDIS_URL (and the password they expand). */}}
{{- define "omnigate.redisEnv" -}}
{{- $auth := include "omnigate.redisAuth" . -}}
{{- if $auth }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "omnigate.secretName" . }}
      key: redis_password
{{- end }}
{{- $userinfo := ternary ":$(REDIS_PASSWORD)@" "" (eq $auth "true") }}
{{- if .Values.redis.bundled.enabled }}
- name: REDIS_URL
  value: {{ printf "redis://%s%s:6379/0" $userinfo (include "omnigate.redisHost" .) | quote }}
{{- else if .Values.redis.external.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.urlKey }}
{{- else }}
- name: REDIS_URL
  value: {{ .Values.redis.external.url | quote }}
{{- end }}
{{- if .Values.redis.cache.enabled }}
- name: CACHE_REDIS_URL
  value: {{ printf "redis://%s%s:6379/0" $userinfo (include "omnigate.redisCacheHost" .) | quote }}
{{- else if and .Values.redis.external.existingSecret .Values.redis.external.cacheUrlKey }}
- name: CACHE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.cacheUrlKey }}
{{- else if .Values.redis.external.cacheUrl }}
- name: CACHE_REDIS_URL
  value: {{ .Values.redis.external.cacheUrl | quote }}
{{- end }}
{{- end -}}

{{/* Checks that stop a release that could not work, with a message that says what to set. */}}
{{- define "omnigate.validate" -}}
{{- $r := .Values.redis -}}
{{- if and $r.bundled.enabled (or $r.external.url $r.external.existingSecret) -}}
{{- fail "redis: set either redis.bundled.enabled=true or redis.external.url/existingSecret, not both" -}}
{{- end -}}
{{- if and (not $r.bundled.enabled) (not $r.external.url) (not $r.external.existingSecret) -}}
{{- fail "redis: with redis.bundled.enabled=false, set redis.external.url (or redis.external.existingSecret)" -}}
{{- end -}}
{{- if and $r.cache.enabled (or $r.external.cacheUrl $r.external.cacheUrlKey) -}}
{{- fail "redis: set either redis.cache.enabled=true or redis.external.cacheUrl/cacheUrlKey, not both" -}}
{{- end -}}
{{- range $name, $d := .Values.deployables -}}
{{- if and $d.enabled (eq $d.layer "backend") -}}
{{- if or (gt (int $d.replicas) 1) (and $d.hpa $d.hpa.enabled) (and $d.pdb $d.pdb.enabled) -}}
{{- fail (printf "%s keeps its state in SQLite: it runs one replica, without HPA or PDB" $name) -}}
{{- end -}}
{{- end -}}
{{- if $d.enabled -}}
{{- range $d.calls -}}
{{- if not (hasKey $.Values.deployables .) -}}
{{- fail (printf "deployables.%s.calls names %q, which is not a deployable" $name .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $role := list "erp" "wms" "pos" -}}
{{- $system := index $.Values.deployables (printf "system-%s" $role) | default dict -}}
{{- if and $system.enabled (not (include "omnigate.backendUrl" (dict "root" $ "role" $role))) -}}
{{- fail (printf "system-%s needs a back-end: set backends.%s.url or enable sandbox-%s" $role $role $role) -}}
{{- end -}}
{{- end -}}
{{- $forbidden := list "REDIS_URL" "CACHE_REDIS_URL" "REDIS_PASSWORD" -}}
{{- range (splitList " " (include "omnigate.secretKeys" .)) -}}
{{- $forbidden = append $forbidden (printf "OMNIGATE_%s" (upper .)) -}}
{{- end -}}
{{- $envs := list .Values.extraEnv -}}
{{- range $name, $d := .Values.deployables -}}
{{- $envs = append $envs ($d.extraEnv | default dict) -}}
{{- end -}}
{{- range $envs -}}
{{- range $key, $_ := . -}}
{{- if has $key $forbidden -}}
{{- fail (printf "extraEnv.%s: credentials and Redis URLs come from the Secret and redis.*, not from values" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
