// Package k8s writes the Kubernetes manifest of a sharded drill (herd k8s):
// a ConfigMap with the scenario, Secrets with the run's key and the
// target's admin token, and an Indexed Job whose pods run the shards from
// one wall-clock instant. The objects are the Kubernetes API's own Go
// types (k8s.io/api), marshalled with sigs.k8s.io/yaml, so the manifest has
// exactly the fields the API knows.
package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/herd-drill/herd/scenarios"
)

// Paths inside a drill pod.
const (
	ConfigDir  = "/config"
	SecretDir  = "/secret"
	KeyFile    = SecretDir + "/key"
	ResultsDir = "/results"
	// ResultFile is each shard's result; Kubernetes expands
	// $(JOB_COMPLETION_INDEX) from the container's environment.
	ResultFile = ResultsDir + "/shard-$(JOB_COMPLETION_INDEX).json"
)

// Keys inside the Secrets: the run's key and the target's admin token.
const (
	KeySecretKey   = "key"
	TokenSecretKey = "token"
)

// UID is the user the pods run as: not root, and the user of the
// Dockerfile's image.
const UID = 65532

// MaxName keeps names derived from the Job's name (pods are
// NAME-INDEX-xxxxx) within Kubernetes' 63-character limit, as CronJob does.
const MaxName = 52

// Managed are the herd run flags a manifest sets itself: a caller refuses
// them among the flags it passes on.
var Managed = []string{"--shards", "--shard", "--start-at", "--key-file", "--out", "--target", "--admin-token", "--cameras", "--seed", "--target-fault"}

// Drill is what the manifest of one sharded drill holds.
type Drill struct {
	Name        string // of the Job; the ConfigMap and Secrets are named after it
	Namespace   string // of every object; "" for kubectl's current one
	Image       string // with herd on its PATH
	Shards      int
	Target      string // the target's cells, comma-separated, as the pods reach them
	TokenSecret string // an existing Secret with the admin token under TokenSecretKey
	AdminToken  string // or the token itself, written into a Secret of the manifest
	KeySecret   string // an existing Secret with the run's key under KeySecretKey
	Key         string // or the key itself (hex), written into a Secret of the manifest
	ResultsPVC  string // a PersistentVolumeClaim for the results; "" for an emptyDir
	CPU, Memory string // each pod's request and limit (quantities; "" for none)
	Start       time.Time
	// ScenarioName names the scenario's file in the ConfigMap (NAME.yaml),
	// and ScenarioSource is that file.
	ScenarioName, ScenarioSource string
	// Cameras is the whole fleet's size, for the header; RunArgs are the
	// further herd run flags of every shard.
	Cameras     int
	RunArgs     []string
	HerdVersion string
}

// SetStart sets the shards' shared start: startAt (RFC 3339), or now +
// delay to the second, in UTC.
func (d *Drill) SetStart(startAt string, delay time.Duration, now time.Time) error {
	if startAt == "" {
		if delay < 0 {
			return fmt.Errorf("--start-delay %v is negative", delay)
		}
		d.Start = now.Add(delay).UTC().Truncate(time.Second)
		return nil
	}
	t, err := time.Parse(time.RFC3339, startAt)
	if err != nil {
		return fmt.Errorf("--start-at %q is not an RFC 3339 instant such as 2026-12-01T10:00:00Z", startAt)
	}
	d.Start = t.UTC()
	return nil
}

// Check validates d, returning every problem at once, in terms of herd
// k8s's flags.
func (d *Drill) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.Shards < 1 {
		bad("--shards is required: the number of pods, at least 1")
	} else if d.Shards > 100_000 {
		bad("--shards %d: an Indexed Job has at most 100000 completions", d.Shards)
	}
	if d.Image == "" {
		bad("--image is required: an image with herd on its PATH (see the Dockerfile)")
	}
	if len(d.Name) > MaxName || len(validation.IsDNS1123Label(d.Name)) > 0 {
		bad("--name %q: want lower-case letters, digits and '-', starting and ending with a letter or digit, at most %d characters", d.Name, MaxName)
	}
	if d.Namespace != "" && len(validation.IsDNS1123Label(d.Namespace)) > 0 {
		bad("--namespace %q is not a valid namespace name", d.Namespace)
	}
	for _, s := range []struct{ flag, v string }{{"--admin-token-secret", d.TokenSecret}, {"--key-secret", d.KeySecret}, {"--results-pvc", d.ResultsPVC}} {
		if s.v != "" && len(validation.IsDNS1123Subdomain(s.v)) > 0 {
			bad("%s %q is not a valid object name", s.flag, s.v)
		}
	}
	if d.Target == "" {
		bad("--target is required: the base URL of the target as the pods reach it (the built-in target does not run in pods)")
	} else {
		for _, cell := range strings.Split(d.Target, ",") {
			u, err := url.Parse(strings.TrimSpace(cell))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("--target: %q is not an http:// or https:// base URL", cell)
			}
		}
	}
	switch {
	case d.TokenSecret != "" && d.AdminToken != "":
		bad("give --admin-token-secret or --admin-token, not both")
	case d.TokenSecret == "" && d.AdminToken == "":
		bad("the pods need the target's admin token: --admin-token-secret NAME (a Secret with the token under the key %q) or --admin-token TOKEN", TokenSecretKey)
	}
	for _, q := range []struct{ flag, v string }{{"--cpu", d.CPU}, {"--memory", d.Memory}} {
		if _, err := resource.ParseQuantity(q.v); q.v != "" && err != nil {
			bad("%s %q is not a Kubernetes quantity (like 500m, 2, 512Mi, 4Gi)", q.flag, q.v)
		}
	}
	for _, a := range d.RunArgs {
		for _, m := range Managed {
			if a == m || strings.HasPrefix(a, m+"=") {
				bad("%s after -- is set by herd k8s; use herd k8s's own flag", m)
			}
		}
	}
	return errors.Join(errs...)
}

// labels are the labels of every object of the drill, plus its component.
func (d *Drill) labels(component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "herd",
		"app.kubernetes.io/instance":  d.Name,
		"app.kubernetes.io/component": component,
	}
}

func (d *Drill) meta(name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: d.labels(component)}
}

// scenarioFile is where the pods find the scenario: it keeps the
// scenario's name as its file name.
func (d *Drill) scenarioFile() string { return d.ScenarioName + ".yaml" }

// RunArgs is the herd command line of every shard, after "herd".
func (d *Drill) runArgs() []string {
	return append([]string{
		"run", ConfigDir + "/" + d.scenarioFile(),
		"--shards", strconv.Itoa(d.Shards),
		"--start-at", d.Start.Format(time.RFC3339Nano),
		"--key-file", KeyFile,
		"--target", d.Target,
		"--out", ResultFile,
	}, d.RunArgs...)
}

// Objects returns the manifest's objects, in the order to apply them.
func (d *Drill) Objects() []any {
	cmName := d.Name + "-scenario"
	objs := []any{&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: d.meta(cmName, "scenario"),
		Data:       map[string]string{d.scenarioFile(): d.ScenarioSource},
	}}
	secret := func(name, component, key, value string) *corev1.Secret {
		return &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: d.meta(name, component),
			Type: corev1.SecretTypeOpaque, StringData: map[string]string{key: value}}
	}
	keySecret := d.KeySecret
	if keySecret == "" {
		keySecret = d.Name + "-key"
		objs = append(objs, secret(keySecret, "oracle-key", KeySecretKey, d.Key))
	}
	tokenSecret := d.TokenSecret
	if tokenSecret == "" {
		tokenSecret = d.Name + "-admin"
		objs = append(objs, secret(tokenSecret, "admin-token", TokenSecretKey, d.AdminToken))
	}

	index := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}
	security := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	resources := corev1.ResourceRequirements{}
	for name, q := range map[corev1.ResourceName]string{corev1.ResourceCPU: d.CPU, corev1.ResourceMemory: d.Memory} {
		if q == "" {
			continue
		}
		if resources.Requests == nil {
			resources.Requests, resources.Limits = corev1.ResourceList{}, corev1.ResourceList{}
		}
		// Requests equal to limits: a shard that competes for CPU on its
		// node measures its neighbours, not the target.
		resources.Requests[name], resources.Limits[name] = resource.MustParse(q), resource.MustParse(q)
	}
	drill := corev1.Container{
		Name: "herd", Image: d.Image, Command: []string{"herd"}, Args: d.runArgs(),
		Env: []corev1.EnvVar{index, {Name: "HERD_ADMIN_TOKEN", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: tokenSecret}, Key: TokenSecretKey}}}},
		Resources: resources,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "scenario", MountPath: ConfigDir, ReadOnly: true},
			{Name: "oracle-key", MountPath: SecretDir, ReadOnly: true},
			{Name: "results", MountPath: ResultsDir},
		},
		SecurityContext: security,
	}
	results := corev1.Volume{Name: "results"}
	var sidecars []corev1.Container
	if d.ResultsPVC != "" {
		results.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: d.ResultsPVC}
	} else {
		results.EmptyDir = &corev1.EmptyDirVolumeSource{}
		// A native sidecar (an init container that restarts always) is
		// stopped once the drill container has exited: it then prints the
		// shard's result, which kubectl logs keeps after the pod ends.
		sidecars = append(sidecars, corev1.Container{
			Name: "results", Image: d.Image, RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways),
			Command: []string{"herd"}, Args: []string{"k8s", "emit", ResultFile},
			Env: []corev1.EnvVar{index},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			VolumeMounts:    []corev1.VolumeMount{{Name: "results", MountPath: ResultsDir, ReadOnly: true}},
			SecurityContext: security,
		})
	}
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: d.meta(d.Name, "drill"),
		Spec: batchv1.JobSpec{
			CompletionMode: ptr(batchv1.IndexedCompletion), Completions: ptr(int32(d.Shards)), Parallelism: ptr(int32(d.Shards)),
			// Each shard runs once, and every shard runs whatever the
			// others do: a failed shard's retry would start after the
			// shared instant, and a Job-wide limit would stop the shards
			// still drilling.
			BackoffLimitPerIndex: ptr(int32(0)), BackoffLimit: ptr(int32(d.Shards)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: d.labels("drill")},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr(false),
					EnableServiceLinks:           ptr(false),
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(UID)), RunAsGroup: ptr(int64(UID)), FSGroup: ptr(int64(UID)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					// Shards on one node compete for its CPU and ports:
					// spread them where the cluster allows.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": d.Name, "app.kubernetes.io/component": "drill"}}}},
					InitContainers: sidecars,
					Containers:     []corev1.Container{drill},
					Volumes: []corev1.Volume{
						{Name: "scenario", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cmName}}}},
						{Name: "oracle-key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: keySecret,
							Items: []corev1.KeyToPath{{Key: KeySecretKey, Path: "key"}}, DefaultMode: ptr(int32(0o440))}}},
						results,
					},
				},
			},
		},
	}
	return append(objs, job)
}

// Write writes d's manifest to w as one multi-document YAML stream, after
// a header comment.
func (d *Drill) Write(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated by herd k8s (herd %s): drill %q, %d cameras in %d shards,\n# every shard starting at %s. Apply it at once: kubectl apply -f FILE\n",
		d.HerdVersion, d.ScenarioName, d.Cameras, d.Shards, d.Start.Format(time.RFC3339Nano))
	for i, o := range d.Objects() {
		doc, err := marshal(o)
		if err != nil {
			return err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(doc)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// marshal writes o as YAML without what an object gets from the server,
// not from its author: an empty status and a null creation time.
func marshal(o any) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	strip(m)
	return yaml.Marshal(m)
}

// strip removes the null creationTimestamps of every metadata in m.
func strip(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			if k == "metadata" && v["creationTimestamp"] == nil {
				delete(v, "creationTimestamp")
			}
			strip(v)
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					strip(em)
				}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// SetScenario makes sc, with the whole fleet's cameras and seed when set,
// the drill's scenario: its source goes into the ConfigMap, and the two
// overrides become flags of every shard. It returns the scenario as the
// shards will run it.
func (d *Drill) SetScenario(sc *scenarios.Scenario, cameras *int, seed *uint64) (*scenarios.Scenario, error) {
	src, err := sc.Text()
	if err != nil {
		return nil, err
	}
	var set []string // the flags of every shard that herd k8s sets itself
	o := scenarios.Override{TimeScale: 1, Cameras: cameras, Seed: seed}
	if cameras != nil {
		set = append(set, "--cameras", strconv.Itoa(*cameras))
	}
	if seed != nil {
		set = append(set, "--seed", strconv.FormatUint(*seed, 10))
	}
	if sc, err = sc.With(o); err != nil {
		return nil, err
	}
	if d.Shards > sc.Fleet.Cameras {
		return nil, fmt.Errorf("--shards %d is more than the fleet's %d cameras: every shard needs at least one", d.Shards, sc.Fleet.Cameras)
	}
	d.ScenarioSource, d.ScenarioName, d.Cameras = string(src), sc.Name, sc.Fleet.Cameras
	d.RunArgs = append(set, d.RunArgs...)
	return sc, nil
}

// StartSlack is how far ahead the start instant must be for the pods to be
// running by then, as a rule of thumb.
const StartSlack = 30 * time.Second

// Warnings are what a person applying the manifest at now should know.
func (d *Drill) Warnings(now time.Time) []string {
	var out []string
	if until := d.Start.Sub(now); until < StartSlack {
		out = append(out, fmt.Sprintf("warning: the shards start at %s, %s from now: pods not running by then start late; use a later --start-at or a longer --start-delay",
			d.Start.Format(time.RFC3339), until.Round(time.Second)))
	}
	if d.AdminToken != "" {
		out = append(out, fmt.Sprintf("the manifest holds the admin token in Secret %s-admin: keep it out of version control, or use --admin-token-secret", d.Name))
	}
	return out
}
