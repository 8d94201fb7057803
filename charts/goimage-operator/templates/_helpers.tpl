{{/*
Names, labels and the values every template shares.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "goimage-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's object names: fullnameOverride, else the release name when it
already contains the chart's name (`goimage-operator`), else release-chart.
*/}}
{{- define "goimage-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "goimage-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release (a Deployment's selector is immutable). */}}
{{- define "goimage-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "goimage-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels, on every object the chart makes. */}}
{{- define "goimage-operator.labels" -}}
helm.sh/chart: {{ include "goimage-operator.chart" . }}
{{ include "goimage-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: goimage-operator
{{- end }}

{{- define "goimage-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "goimage-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator's image, repository:tag (tag defaults to the chart's appVersion). */}}
{{- define "goimage-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The image of the build pod's report step: reporter.image, else the operator's own. */}}
{{- define "goimage-operator.reporterImage" -}}
{{- default (include "goimage-operator.image" .) .Values.reporter.image }}
{{- end }}

{{/* Port of kopf's liveness endpoint (/healthz); fixed, the probe and the flag share it. */}}
{{- define "goimage-operator.healthPort" -}}
8081
{{- end }}

{{/*
RBAC rules, in two sets so that a namespaced install can grant the first set
per watched namespace (Role) and only the second cluster-wide (ClusterRole).
Least privilege, from the operator's API calls (operator/goimage/k8s/api.py
and kopf's watches): no verb on Secrets at all, no reads of ConfigMaps, no
writes to Pods.
*/}}
{{- define "goimage-operator.namespacedRules" -}}
# GoImageBuilds: kopf watches them and patches its annotations onto them.
- apiGroups: ["goimage.dev"]
  resources: ["goimagebuilds"]
  verbs: ["get", "list", "watch", "patch"]
# The status the operator writes (a merge patch of the status subresource).
- apiGroups: ["goimage.dev"]
  resources: ["goimagebuilds/status"]
  verbs: ["get", "patch"]
# Jobs and ConfigMaps carry a controller ownerReference with
# blockOwnerDeletion: where the OwnerReferencesPermissionEnforcement admission
# plugin runs (OpenShift, hardened clusters), setting it needs update on the
# owner's finalizers subresource. It grants nothing that patch above does not.
- apiGroups: ["goimage.dev"]
  resources: ["goimagebuilds/finalizers"]
  verbs: ["update"]
# The build's Kaniko Job: created, watched, deleted past the history limit.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# The build pods, watched for the report step's termination message, and
# deleted once finished and recorded (finishedPodRetention): their disk goes.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
# A failed build's log, read once, when Kaniko's usage text has pushed its
# error out of the termination message (a source that cannot be cloned).
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# The rendered Dockerfile: written and removed, never read back.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "delete"]
# Events about GoImageBuilds (kopf posts them); listed to read why the Job
# controller cannot make a build pod (a ResourceQuota's FailedCreate).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch", "list"]
{{- end }}

{{- define "goimage-operator.clusterRules" -}}
# kopf's resource discovery: it watches CRDs to notice GoImageBuild appear.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
# Namespaces' labels decide which GoImageBuildPolicies govern a build (and kopf
# observes namespaces when it runs with a namespace list).
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
# GoImageBuildPolicies: read, never written (only the platform team writes them).
- apiGroups: ["goimage.dev"]
  resources: ["goimagebuildpolicies"]
  verbs: ["list", "watch"]
{{- end }}
