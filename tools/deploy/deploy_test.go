package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	composeschema "github.com/compose-spec/compose-go/v2/schema"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/sophos-connect/sophos-connect/tools/internal/licenses"
)

func root(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	r, err := licenses.Root(wd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// render renders the chart with Helm's engine for the values file (""
// = the chart's defaults) and returns the manifests by template name.
func render(t *testing.T, valuesFile string) map[string]string {
	t.Helper()
	ch, err := loader.Load(filepath.Join(root(t), "deploy", "helm", "sophos-connect"))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if valuesFile != "" {
		if vals, err = chartutil.ReadValuesFile(valuesFile); err != nil {
			t.Fatal(err)
		}
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "sc", Namespace: "siem", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("helm render %s: %v", valuesFile, err)
	}
	return out
}

// decodeStrict decodes a manifest (YAML) into v, failing on any field the
// Kubernetes API type does not have or of the wrong type.
func decodeStrict(t *testing.T, name string, manifest []byte, v any) {
	t.Helper()
	j, err := sigsyaml.YAMLToJSON(manifest)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%s: not a valid %T: %v\n%s", name, v, err, manifest)
	}
}

// objects are a render's manifests decoded by kind.
type objects struct {
	kinds       []string
	deployment  *appsv1.Deployment
	statefulSet *appsv1.StatefulSet
	configMap   *corev1.ConfigMap
	secret      *corev1.Secret
	service     *corev1.Service
	pvc         *corev1.PersistentVolumeClaim
	monitor     *monitoringv1.ServiceMonitor
}

func decodeAll(t *testing.T, rendered map[string]string) objects {
	t.Helper()
	var o objects
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, ".tpl") || strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		for _, doc := range strings.Split(rendered[n], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct{ APIVersion, Kind string }
			if err := sigsyaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			o.kinds = append(o.kinds, head.Kind)
			var v any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				o.deployment = &appsv1.Deployment{}
				v = o.deployment
			case "apps/v1 StatefulSet":
				o.statefulSet = &appsv1.StatefulSet{}
				v = o.statefulSet
			case "v1 ConfigMap":
				o.configMap = &corev1.ConfigMap{}
				v = o.configMap
			case "v1 Secret":
				o.secret = &corev1.Secret{}
				v = o.secret
			case "v1 Service":
				o.service = &corev1.Service{}
				v = o.service
			case "v1 PersistentVolumeClaim":
				o.pvc = &corev1.PersistentVolumeClaim{}
				v = o.pvc
			case "monitoring.coreos.com/v1 ServiceMonitor":
				o.monitor = &monitoringv1.ServiceMonitor{}
				v = o.monitor
			default:
				t.Fatalf("%s: unexpected %s %s", n, head.APIVersion, head.Kind)
			}
			decodeStrict(t, n, []byte(doc), v)
		}
	}
	sort.Strings(o.kinds)
	return o
}

// checkPod: the hardening and probes the chart promises, the config mounted
// where the image reads it, the client id from the credentials Secret and
// that Secret mounted as files (the config's client_secret_file), no secret
// value in the pod spec.
func checkPod(t *testing.T, spec corev1.PodSpec, secret string) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext: %+v", psc)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext: %+v", sc)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe: %+v", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe: %+v", c.ReadinessProbe)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts["/etc/sophos-connect"] != "config" || mounts["/var/lib/sophos-connect"] != "state" || mounts["/run/secrets/sophos-connect"] != "credentials" {
		t.Errorf("volume mounts: %v", mounts)
	}
	secretVolumes := map[string]string{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret.SecretName
		}
	}
	if secretVolumes["credentials"] != secret {
		t.Errorf("the credentials volume is from secret %q, want %s", secretVolumes["credentials"], secret)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			env[e.Name] = e.ValueFrom.SecretKeyRef.Name
		} else if e.Value != "" && (strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "PASSWORD")) {
			t.Errorf("env %s carries its value in the pod spec", e.Name)
		}
	}
	if env["SOPHOS_CLIENT_ID"] != secret {
		t.Errorf("SOPHOS_CLIENT_ID from secret %q, want %s", env["SOPHOS_CLIENT_ID"], secret)
	}
	if _, ok := env["SOPHOS_CLIENT_SECRET"]; ok {
		t.Error("SOPHOS_CLIENT_SECRET is an environment variable: it would override client_secret_file, and environments leak")
	}
}

// checkSecretFiles: every *_file the config names lies in a directory the
// pod mounts from a Secret, so the collector finds it at start.
func checkSecretFiles(t *testing.T, spec corev1.PodSpec, cm *corev1.ConfigMap) {
	t.Helper()
	secretVolume := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secretVolume[v.Name] = true
		}
	}
	mountedSecrets := map[string]bool{}
	for _, m := range spec.Containers[0].VolumeMounts {
		if secretVolume[m.Name] {
			mountedSecrets[m.MountPath] = true
		}
	}
	var doc any
	if err := yaml.Unmarshal([]byte(cm.Data["sophos-connect.yaml"]), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if p, ok := c.(string); ok && strings.HasSuffix(k, "_file") && strings.HasPrefix(p, "/run/secrets/") {
					n++
					if !mountedSecrets[filepath.Dir(p)] {
						t.Errorf("%s: %s is in no Secret the pod mounts (mounted: %v)", k, p, mountedSecrets)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if n == 0 {
		t.Error("the config names no secret file (client_secret_file)")
	}
}

// checkConfig validates the ConfigMap's sophos-connect.yaml against the
// product's JSON Schema.
func checkConfig(t *testing.T, cm *corev1.ConfigMap) {
	t.Helper()
	text := cm.Data["sophos-connect.yaml"]
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("ConfigMap's sophos-connect.yaml: %v", err)
	}
	sch := compileSchema(t, filepath.Join(root(t), "sophos-connect.schema.json"))
	if err := sch.Validate(jsonRoundTrip(t, doc)); err != nil {
		t.Errorf("the chart's config does not match sophos-connect.schema.json: %v\n%s", err, text)
	}
}

func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compileSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestChartDefault: a Deployment of one replica with a PVC for the state,
// the credentials from the existing Secret the values name, mounted as files.
func TestChartDefault(t *testing.T) {
	o := decodeAll(t, render(t, ""))
	if want := []string{"ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"}; strings.Join(o.kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("kinds %v, want %v", o.kinds, want)
	}
	d := o.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %v, strategy %v", d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	checkPod(t, d.Spec.Template.Spec, "sophos-connect-credentials")
	checkSecretFiles(t, d.Spec.Template.Spec, o.configMap)
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "state" && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != o.pvc.Name) {
			t.Errorf("state volume %+v, want the PVC %s", v, o.pvc.Name)
		}
	}
	checkConfig(t, o.configMap)
}

// TestChartStatefulSet: the StatefulSet variant with a volumeClaimTemplate,
// a ServiceMonitor and a sink whose token_file is in another mounted Secret.
func TestChartStatefulSet(t *testing.T) {
	o := decodeAll(t, render(t, filepath.Join(root(t), "deploy", "helm", "sophos-connect", "ci", "statefulset-values.yaml")))
	if want := []string{"ConfigMap", "Service", "ServiceMonitor", "StatefulSet"}; strings.Join(o.kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("kinds %v, want %v", o.kinds, want)
	}
	s := o.statefulSet
	if *s.Spec.Replicas != 1 || len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "state" {
		t.Errorf("statefulset: replicas %d, claims %+v", *s.Spec.Replicas, s.Spec.VolumeClaimTemplates)
	}
	checkPod(t, s.Spec.Template.Spec, "sophos-central")
	checkSecretFiles(t, s.Spec.Template.Spec, o.configMap)
	if !strings.Contains(o.configMap.Data["sophos-connect.yaml"], "token_file: /run/secrets/splunk-hec/token") {
		t.Errorf("the sink's token_file is not in the config:\n%s", o.configMap.Data["sophos-connect.yaml"])
	}
	if ep := o.monitor.Spec.Endpoints; len(ep) != 1 || ep[0].Path != "/metrics" || ep[0].Port != "http" {
		t.Errorf("ServiceMonitor endpoints %+v", ep)
	}
	checkConfig(t, o.configMap)
}

// TestChartEphemeral: without persistence the state is an emptyDir, and
// the chart creates the Secret from the values.
func TestChartEphemeral(t *testing.T) {
	o := decodeAll(t, render(t, filepath.Join(root(t), "deploy", "helm", "sophos-connect", "ci", "ephemeral-values.yaml")))
	if want := []string{"ConfigMap", "Deployment", "Secret", "Service"}; strings.Join(o.kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("kinds %v, want %v", o.kinds, want)
	}
	checkPod(t, o.deployment.Spec.Template.Spec, o.secret.Name)
	checkSecretFiles(t, o.deployment.Spec.Template.Spec, o.configMap)
	if o.secret.StringData["SOPHOS_CLIENT_SECRET"] != "my-client-secret" {
		t.Errorf("secret data %v", o.secret.StringData)
	}
	if img := o.deployment.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/mirror/sophos-connect:1.2.3" {
		t.Errorf("image %q", img)
	}
	checkConfig(t, o.configMap)
}

// TestChartRejectsBadKind: a kind other than Deployment or StatefulSet is an
// error naming the fix, not a broken manifest.
func TestChartRejectsBadKind(t *testing.T) {
	f := filepath.Join(t.TempDir(), "v.yaml")
	os.WriteFile(f, []byte("kind: DaemonSet\n"), 0o644)
	ch, err := loader.Load(filepath.Join(root(t), "deploy", "helm", "sophos-connect"))
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := chartutil.ReadValuesFile(f)
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "sc", Namespace: "siem", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Render(ch, rv); err == nil || !strings.Contains(err.Error(), "use Deployment or StatefulSet") {
		t.Fatalf("render with kind DaemonSet: %v", err)
	}
}

// TestComposeFile validates deploy/compose.yaml against the Compose
// specification's JSON schema (compose-go's copy) and loads it as Compose
// would; the config it mounts validates against the product's schema.
func TestComposeFile(t *testing.T) {
	dir := filepath.Join(root(t), "deploy")
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := composeschema.Validate(doc); err != nil {
		t.Fatalf("compose.yaml against the Compose schema: %v", err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, cli.WithWorkingDirectory(dir), cli.WithProfiles([]string{"try-out"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("loading compose.yaml: %v", err)
	}
	for _, s := range []string{"collector", "emulator", "try-out"} {
		if _, ok := p.Services[s]; !ok {
			t.Errorf("compose.yaml has no service %s", s)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "sophos-connect.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c any
	if err := yaml.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if err := compileSchema(t, filepath.Join(root(t), "sophos-connect.schema.json")).Validate(jsonRoundTrip(t, c)); err != nil {
		t.Errorf("deploy/sophos-connect.yaml against the schema: %v", err)
	}
}
