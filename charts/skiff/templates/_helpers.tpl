{{/* Name of the chart's objects: the release name, plus "-skiff" unless it already says skiff. */}}
{{- define "skiff.fullname" -}}
{{- if contains "skiff" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-skiff" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "skiff.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: skiff
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels selecting the operator's pods. */}}
{{- define "skiff.selectorLabels" -}}
app.kubernetes.io/name: skiff-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "skiff.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "skiff.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator image reference. */}}
{{- define "skiff.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The worker image of ConnectClusters without spec.image. */}}
{{- define "skiff.workerImage" -}}
{{- printf "%s:%s" .Values.workerImage.repository (default .Chart.AppVersion .Values.workerImage.tag) -}}
{{- end -}}

{{/* Namespaces holding ConnectClusters the chart secures: the watched ones, or the release's. */}}
{{- define "skiff.workerNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- toJson .Values.watchNamespaces -}}
{{- else -}}
{{- toJson (list .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{/*
The operator's permissions on the resources it manages, from operator/src: it watches
ConnectClusters and KafkaConnectors, writes their status (server-side apply), patches
KafkaConnectors (finalizer, handled annotations), applies the workers' StatefulSet, Services,
ConfigMap and PodDisruptionBudget (server-side apply creates them, so create + patch), watches
the Secrets that clusters reference (to roll pods on rotation), and records Events.
*/}}
{{- define "skiff.managedRules" -}}
- apiGroups: ["skiff.dev"]
  resources: ["connectclusters"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["skiff.dev"]
  resources: ["kafkaconnectors"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["skiff.dev"]
  resources: ["connectclusters/status", "kafkaconnectors/status"]
  verbs: ["patch"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
