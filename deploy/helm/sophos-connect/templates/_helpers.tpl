{{- define "sophos-connect.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sophos-connect.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sophos-connect.labels" -}}
app.kubernetes.io/name: {{ include "sophos-connect.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sophos-connect.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sophos-connect.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sophos-connect.secretName" -}}
{{- default (include "sophos-connect.fullname" .) .Values.credentials.existingSecret -}}
{{- end -}}

{{/* The pod template shared by the Deployment and the StatefulSet. */}}
{{- define "sophos-connect.podTemplate" -}}
metadata:
  labels:
    {{- include "sophos-connect.selectorLabels" . | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: sophos-connect
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      env:
        - name: SOPHOS_CLIENT_ID
          valueFrom:
            secretKeyRef:
              name: {{ include "sophos-connect.secretName" . }}
              key: SOPHOS_CLIENT_ID
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.service.port }}
          protocol: TCP
      livenessProbe:
        httpGet: {path: /healthz, port: http}
        periodSeconds: 30
        failureThreshold: 3
      readinessProbe:
        httpGet: {path: /readyz, port: http}
        periodSeconds: 10
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/sophos-connect
          readOnly: true
        - name: state
          mountPath: /var/lib/sophos-connect
        - name: tmp
          mountPath: /tmp
        - name: credentials
          mountPath: /run/secrets/sophos-connect
          readOnly: true
        {{- range $i, $m := .Values.secretMounts }}
        - name: secret-{{ $i }}
          mountPath: {{ required "secretMounts[].mountPath is required" $m.mountPath }}
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "sophos-connect.fullname" . }}
    - name: credentials
      secret:
        secretName: {{ include "sophos-connect.secretName" . }}
        defaultMode: 0440   # readable by the pod's group (fsGroup 65532)
    {{- range $i, $m := .Values.secretMounts }}
    - name: secret-{{ $i }}
      secret:
        secretName: {{ required "secretMounts[].secretName is required" $m.secretName }}
        defaultMode: 0440
    {{- end }}
    - name: tmp
      emptyDir: {}
    {{- if eq .Values.kind "Deployment" }}
    - name: state
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ include "sophos-connect.fullname" . }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "sophos-connect.claimSpec" -}}
accessModes:
  {{- toYaml .Values.persistence.accessModes | nindent 2 }}
{{- with .Values.persistence.storageClass }}
storageClassName: {{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .Values.persistence.size }}
{{- end -}}
