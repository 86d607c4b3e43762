{{/* Names and labels shared by every object of the chart. */}}

{{- define "certbridge.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "certbridge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "certbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "certbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "certbridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "certbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: certbridge
{{- end -}}

{{- define "certbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "certbridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "certbridge.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Secret names: the existing one when given, else the one this chart makes. */}}
{{- define "certbridge.databaseSecret" -}}
{{- default (printf "%s-database" (include "certbridge.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}
{{- define "certbridge.tlsSecret" -}}
{{- default (printf "%s-tls" (include "certbridge.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}
{{- define "certbridge.connectorCaSecret" -}}
{{- default (printf "%s-connector-ca" (include "certbridge.fullname" .)) .Values.connectorCa.existingSecret -}}
{{- end -}}
{{- define "certbridge.operatorKeySecret" -}}
{{- default (printf "%s-operator-key" (include "certbridge.fullname" .)) .Values.operatorKey.existingSecret -}}
{{- end -}}
{{- define "certbridge.scepRaSecret" -}}
{{- default (printf "%s-scep-ra" (include "certbridge.fullname" .)) .Values.scep.raSecret.existingSecret -}}
{{- end -}}
{{- define "certbridge.scepRaSecretKey" -}}
{{- if .Values.scep.raSecret.value }}ra-secret{{ else }}{{ .Values.scep.raSecret.existingSecretKey }}{{ end -}}
{{- end -}}
{{- define "certbridge.scepRaPreviousSecret" -}}
{{- default (printf "%s-scep-ra-previous" (include "certbridge.fullname" .)) .Values.scep.raPreviousSecret.existingSecret -}}
{{- end -}}
{{- define "certbridge.scepRaPreviousSecretKey" -}}
{{- if .Values.scep.raPreviousSecret.value }}ra-previous-secret{{ else }}{{ .Values.scep.raPreviousSecret.existingSecretKey }}{{ end -}}
{{- end -}}
{{- define "certbridge.hasScepRaPrevious" -}}
{{- if and .Values.scep.enabled (or .Values.scep.raPreviousSecret.value .Values.scep.raPreviousSecret.existingSecret) -}}true{{- end -}}
{{- end -}}
{{- define "certbridge.scepTlsSecret" -}}
{{- default (printf "%s-scep-tls" (include "certbridge.fullname" .)) .Values.scep.tls.existingSecret -}}
{{- end -}}
{{- define "certbridge.hasScepTls" -}}
{{- if and .Values.scep.enabled .Values.scep.tls.enabled -}}true{{- end -}}
{{- end -}}
{{- define "certbridge.hasOperatorKey" -}}
{{- if or .Values.operatorKey.value .Values.operatorKey.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* type and load-balancer fields of a Service exposed beyond the cluster (the agent and SCEP
     Services), from its values (service.agent, scep.service). */}}
{{- define "certbridge.serviceExposure" -}}
type: {{ .type }}
{{- if eq .type "LoadBalancer" }}
{{- with .loadBalancerClass }}
loadBalancerClass: {{ . }}
{{- end }}
{{- with .loadBalancerSourceRanges }}
loadBalancerSourceRanges:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- if and (ne .type "ClusterIP") .externalTrafficPolicy }}
externalTrafficPolicy: {{ .externalTrafficPolicy }}
{{- end }}
{{- end -}}

{{/* The restricted Pod Security profile, for the pod and for each container. */}}
{{- define "certbridge.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "certbridge.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* The database URL as an environment variable the broker reads. */}}
{{- define "certbridge.databaseEnv" -}}
- name: CERTBRIDGE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "certbridge.databaseSecret" . }}
      key: {{ if .Values.database.url }}database-url{{ else }}{{ .Values.database.existingSecretKey }}{{ end }}
{{- end -}}

{{/* Checks that fail the render with a message instead of a crash-looping pod. Secrets given
     neither inline nor as existingSecret are expected under the chart's default names
     (NOTES.txt lists them), so that keys never have to pass through values files. */}}
{{- define "certbridge.validate" -}}
{{- if and .Values.database.url .Values.database.existingSecret -}}
{{- fail "give database.url or database.existingSecret, not both" -}}
{{- end -}}
{{- if or (and .Values.tls.cert (not .Values.tls.key)) (and .Values.tls.key (not .Values.tls.cert)) -}}
{{- fail "tls.cert and tls.key go together" -}}
{{- end -}}
{{- if and .Values.tls.cert .Values.tls.existingSecret -}}
{{- fail "give tls.cert/tls.key or tls.existingSecret, not both" -}}
{{- end -}}
{{- if or (and .Values.connectorCa.cert (not .Values.connectorCa.key)) (and .Values.connectorCa.key (not .Values.connectorCa.cert)) -}}
{{- fail "connectorCa.cert and connectorCa.key go together" -}}
{{- end -}}
{{- if and .Values.connectorCa.cert .Values.connectorCa.existingSecret -}}
{{- fail "give connectorCa.cert/connectorCa.key or connectorCa.existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.operatorKey.value .Values.operatorKey.existingSecret -}}
{{- fail "give operatorKey.value or operatorKey.existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.operatorKey.value (lt (len .Values.operatorKey.value) 32) -}}
{{- fail "operatorKey.value must be at least 32 characters" -}}
{{- end -}}
{{- with .Values.scep }}
{{- if and .raSecret.value .raSecret.existingSecret -}}
{{- fail "give scep.raSecret.value or scep.raSecret.existingSecret, not both" -}}
{{- end -}}
{{- if and .raSecret.value (lt (len .raSecret.value) 32) -}}
{{- fail "scep.raSecret.value must be at least 32 characters" -}}
{{- end -}}
{{- if and .raPreviousSecret.value .raPreviousSecret.existingSecret -}}
{{- fail "give scep.raPreviousSecret.value or scep.raPreviousSecret.existingSecret, not both" -}}
{{- end -}}
{{- if and .raPreviousSecret.value (lt (len .raPreviousSecret.value) 32) -}}
{{- fail "scep.raPreviousSecret.value must be at least 32 characters" -}}
{{- end -}}
{{- if and .raPreviousSecret.value (eq .raPreviousSecret.value .raSecret.value) -}}
{{- fail "scep.raPreviousSecret.value equals scep.raSecret.value: the broker refuses to start" -}}
{{- end -}}
{{- if or (and .tls.cert (not .tls.key)) (and .tls.key (not .tls.cert)) -}}
{{- fail "scep.tls.cert and scep.tls.key go together" -}}
{{- end -}}
{{- if and .tls.cert .tls.existingSecret -}}
{{- fail "give scep.tls.cert/scep.tls.key or scep.tls.existingSecret, not both" -}}
{{- end -}}
{{- if and (or .tls.cert .tls.existingSecret) (not .tls.enabled) -}}
{{- fail "scep.tls.cert or scep.tls.existingSecret is set but scep.tls.enabled is false" -}}
{{- end -}}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" -}}
{{- end -}}
{{- end -}}

{{/* Broker flags common to the Deployment and the migration Job are none: the Job only
     needs the database. These are the Deployment's. */}}
{{- define "certbridge.brokerArgs" -}}
- --api_listen=0.0.0.0:8443
- --agent_listen=0.0.0.0:8444
- --tls_cert=/etc/certbridge/tls/tls.crt
- --tls_key=/etc/certbridge/tls/tls.key
- --connector_ca_cert=/etc/certbridge/connector-ca/tls.crt
- --connector_ca_key=/etc/certbridge/connector-ca/tls.key
{{- if include "certbridge.hasOperatorKey" . }}
- --operator_key_file=/etc/certbridge/operator/operator-key
{{- end }}
{{- with .Values.broker }}
{{- if .registrationUrlBase }}
- --registration_url_base={{ .registrationUrlBase }}
{{- end }}
{{- if .agentCertificateLifetime }}
- --agent_certificate_lifetime={{ .agentCertificateLifetime }}
{{- end }}
{{- if .registrationCodeTtl }}
- --registration_code_ttl={{ .registrationCodeTtl }}
{{- end }}
{{- if .heartbeatIntervalSeconds }}
- --heartbeat_interval_seconds={{ .heartbeatIntervalSeconds }}
{{- end }}
{{- if .workerThreads }}
- --worker_threads={{ .workerThreads }}
{{- end }}
{{- if .dbPoolSize }}
- --db_pool_size={{ .dbPoolSize }}
{{- end }}
{{- if .maxMessageBytes }}
- --max_message_bytes={{ .maxMessageBytes | int64 }}
{{- end }}
{{- if .queueTimeout }}
- --queue_timeout={{ .queueTimeout }}
{{- end }}
{{- if .perCaConcurrency }}
- --per_ca_concurrency={{ .perCaConcurrency }}
{{- end }}
{{- if .jobLease }}
- --job_lease={{ .jobLease }}
{{- end }}
{{- if .sweepInterval }}
- --sweep_interval={{ .sweepInterval }}
{{- end }}
{{- if .maxConnectionAge }}
- --max_connection_age={{ .maxConnectionAge }}
{{- end }}
{{- if .maxConnectionAgeGrace }}
- --max_connection_age_grace={{ .maxConnectionAgeGrace }}
{{- end }}
{{- range .extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- if .Values.scep.enabled }}
- --scep_listen=0.0.0.0:8445
- --scep_ra_secret_file=/etc/certbridge/scep-ra/ra-secret
{{- if include "certbridge.hasScepRaPrevious" . }}
- --scep_ra_previous_secret_file=/etc/certbridge/scep-ra-previous/ra-previous-secret
{{- end }}
{{- if include "certbridge.hasScepTls" . }}
- --scep_tls_cert_file=/etc/certbridge/scep-tls/tls.crt
- --scep_tls_key_file=/etc/certbridge/scep-tls/tls.key
{{- end }}
{{- with .Values.scep.enrollmentWait }}
- --scep_enrollment_wait={{ . }}
{{- end }}
{{- with .Values.scep.raRenewalInterval }}
- --scep_ra_renewal_interval={{ . }}
{{- end }}
{{- end }}
- --health_listen=0.0.0.0:{{ .Values.probes.healthPort }}
{{- if .Values.metrics.enabled }}
- --metrics_listen=0.0.0.0:{{ .Values.metrics.port }}
{{- end }}
{{- end -}}
