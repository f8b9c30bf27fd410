{{/* The chart's name. */}}
{{- define "trainjob-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, used for every object (cluster-scoped ones included). */}}
{{- define "trainjob-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The labels of every object. */}}
{{- define "trainjob-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "trainjob-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The labels that select the operator's pods. */}}
{{- define "trainjob-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trainjob-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "trainjob-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "trainjob-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator's image: repository@digest, or repository:tag (the appVersion by default). */}}
{{- define "trainjob-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The admission policies' namespaceSelector: only the watched namespaces, if they are listed. */}}
{{- define "trainjob-operator.policyNamespaces" -}}
{{- with .Values.watchNamespaces -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values:
        {{- toYaml . | nindent 8 }}
{{- end }}
{{- end }}

{{/* What the creator policies check: a TrainJob created, or its spec changed (creatorpolicy.yaml). */}}
{{- define "trainjob-operator.creatorMatch" -}}
matchConstraints:
  resourceRules:
    - apiGroups: [trainjob.dev]
      apiVersions: ["*"]
      operations: [CREATE, UPDATE]
      resources: [trainjobs]
  {{- with include "trainjob-operator.policyNamespaces" . }}{{ nindent 2 . }}{{ end }}
# Writes that leave the spec alone (the operator's finalizers and annotations, a stop request)
# create no pods and are not checked; nor are status writes (a subresource, not matched).
matchConditions:
  - name: creates-or-changes-the-spec
    expression: "oldObject == null || object.spec != oldObject.spec"
{{- end }}

{{/* Whether the operator watches every namespace ("true" or ""). */}}
{{- define "trainjob-operator.clusterwide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/*
What the operator needs on TrainJobs and their children, in every namespace it watches:
- trainjobs: kopf watches them and keeps its finalizer and retry state in annotations (patch); the
  operator reads one fresh where the watch lags its own status write, and deletes finished ones
  after ttlSecondsAfterFinished.
- trainjobs/status: the operator writes the status; `get` too, because it grants `get` and
  `patch` of one TrainJob's status to each job's reporter Role (RBAC lets nobody grant what it
  does not hold).
- trainjobs/finalizers: children carry blockOwnerDeletion, which clusters with the
  OwnerReferencesPermissionEnforcement admission plugin (OpenShift) check against this.
- jobs: the Indexed Job of the workers (watched; created, patched to suspend or resume, deleted
  for a group restart).
- pods: listed to read worker failures; deleted when a worker is stuck.
- services, serviceaccounts, roles, rolebindings: the per-job headless Service and the reporter's
  identity, created once (an existing one is left alone).
- events: kopf posts the TrainJob's Events; the Job controller's FailedCreate Events are listed
  while a job's pods are missing, to explain (e.g. a Pod Security refusal) why.
*/}}
{{- define "trainjob-operator.workloadRules" -}}
- apiGroups: [trainjob.dev]
  resources: [trainjobs]
  verbs: [get, list, watch, patch, delete]
- apiGroups: [trainjob.dev]
  resources: [trainjobs/status]
  verbs: [get, patch]
- apiGroups: [trainjob.dev]
  resources: [trainjobs/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, delete]
# get: a child of the same name that already exists must be the TrainJob's own (ChildNameTaken).
- apiGroups: [""]
  resources: [services, serviceaccounts]
  verbs: [create, get]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, get]
# The history ConfigMap of each TrainJob: created here; get and patch so that the operator may
# grant them, by name, to the job's reporter (RBAC allows granting only what one has); get also
# checks that an existing one of that name is the TrainJob's own.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, get, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, list]
{{- if .Values.kueue.enabled }}
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [list]
{{- end }}
{{- with .Values.gangScheduling }}
{{- if .native }}
- apiGroups: [scheduling.k8s.io]
  resources: [podgroups]
  verbs: [create]
{{- end }}
{{- if .coscheduling }}
- apiGroups: [scheduling.x-k8s.io]
  resources: [podgroups]
  verbs: [create]
{{- end }}
{{- if .volcano }}
- apiGroups: [scheduling.volcano.sh]
  resources: [podgroups]
  verbs: [create]
{{- end }}
{{- end }}
{{- end }}

{{/* The dashboard's objects' name. */}}
{{- define "trainjob-operator.dashboardName" -}}
{{- printf "%s-dashboard" (include "trainjob-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select the dashboard's pods (never the operator's: another name). */}}
{{- define "trainjob-operator.dashboardSelectorLabels" -}}
app.kubernetes.io/name: {{ include "trainjob-operator.name" . }}-dashboard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of every dashboard object. */}}
{{- define "trainjob-operator.dashboardLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "trainjob-operator.dashboardSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: dashboard
{{- end }}
