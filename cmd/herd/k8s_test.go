package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/scenarios"
)

// manifest is a decoded herd k8s manifest: every document decoded
// strictly into the Kubernetes API's own type for its kind, so that a
// field the API does not know fails the test.
type manifest struct {
	kinds      []string // apiVersion/kind of each document, in order
	configMaps []corev1.ConfigMap
	secrets    []corev1.Secret
	jobs       []batchv1.Job
	metas      []metav1.ObjectMeta
}

// decodeManifest parses a multi-document YAML stream.
func decodeManifest(t *testing.T, text string) manifest {
	t.Helper()
	var m manifest
	for _, doc := range strings.Split(text, "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("manifest is not YAML: %v\n%s", err, doc)
		}
		m.kinds = append(m.kinds, tm.APIVersion+"/"+tm.Kind)
		var meta metav1.ObjectMeta
		var err error
		switch tm.APIVersion + "/" + tm.Kind {
		case "v1/ConfigMap":
			var o corev1.ConfigMap
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.configMaps, meta = append(m.configMaps, o), o.ObjectMeta
		case "v1/Secret":
			var o corev1.Secret
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.secrets, meta = append(m.secrets, o), o.ObjectMeta
		case "batch/v1/Job":
			var o batchv1.Job
			err = yaml.UnmarshalStrict([]byte(doc), &o)
			m.jobs, meta = append(m.jobs, o), o.ObjectMeta
		default:
			t.Fatalf("unexpected object %s/%s", tm.APIVersion, tm.Kind)
		}
		if err != nil {
			t.Fatalf("%s/%s does not decode strictly into its API type: %v\n%s", tm.APIVersion, tm.Kind, err, doc)
		}
		m.metas = append(m.metas, meta)
	}
	return m
}

// flagValue returns the value after flag in args.
func k8sFlagValue(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

const testStart = "2030-03-01T14:00:00Z"

func k8sArgs(extra ...string) []string {
	return append([]string{"k8s", "--shards", "4", "--image", "registry.test/herd:1", "--target", "http://target.drill:8080,http://cell2.drill:8080",
		"--admin-token-secret", "target-admin", "--start-at", testStart}, extra...)
}

func TestK8sManifest(t *testing.T) {
	awsSource, _ := scenarios.BuiltinSource("aws-outage")
	cases := []struct {
		name        string
		args        []string
		wantKinds   []string
		ns          string
		keySecret   string // "" means generated: NAME-key
		tokenSecret string
		pvc         string
		jobName     string
		wantArgs    []string // extra herd run arguments, in order
		noArgs      []string // herd run flags that must be absent
	}{
		{name: "defaults", args: k8sArgs(),
			wantKinds: []string{"v1/ConfigMap", "v1/Secret", "batch/v1/Job"}, tokenSecret: "target-admin", jobName: "herd-drill",
			noArgs: []string{"--cameras", "--seed"}},
		{name: "everything set", args: k8sArgs("--namespace", "drills", "--name", "night-drill", "--cameras", "40000", "--seed", "9",
			"--results-pvc", "herd-results", "--key-secret", "shared-key", "--cpu", "2", "--memory", "3Gi", "--", "--policy", "full-jitter"),
			wantKinds: []string{"v1/ConfigMap", "batch/v1/Job"}, ns: "drills", keySecret: "shared-key", tokenSecret: "target-admin",
			pvc: "herd-results", jobName: "night-drill", wantArgs: []string{"--cameras", "40000", "--seed", "9", "--policy", "full-jitter"}},
		{name: "literal admin token", args: []string{"k8s", "--shards", "4", "--image", "registry.test/herd:1",
			"--target", "http://target.drill:8080,http://cell2.drill:8080", "--admin-token", "s3cret", "--start-at", testStart},
			wantKinds: []string{"v1/ConfigMap", "v1/Secret", "v1/Secret", "batch/v1/Job"}, tokenSecret: "herd-drill-admin", jobName: "herd-drill"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := herd(t, context.Background(), tc.args...)
			if code != exitcode.OK {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			m := decodeManifest(t, stdout)
			for i, meta := range m.metas {
				// Every object: in the namespace asked for, labelled as
				// part of this drill.
				if meta.Namespace != tc.ns {
					t.Errorf("%s namespace %q, want %q", m.kinds[i], meta.Namespace, tc.ns)
				}
				if meta.Labels["app.kubernetes.io/instance"] != tc.jobName || meta.Labels["app.kubernetes.io/name"] != "herd" {
					t.Errorf("%s labels %v", m.kinds[i], meta.Labels)
				}
			}
			if !slices.Equal(m.kinds, tc.wantKinds) {
				t.Fatalf("objects %v, want %v", m.kinds, tc.wantKinds)
			}

			cm := m.configMaps[0]
			if len(cm.Data) != 1 || cm.Data["aws-outage.yaml"] != string(awsSource) {
				t.Errorf("ConfigMap data is not the aws-outage source: keys %v", k8sKeys(cm.Data))
			}
			secrets := map[string]corev1.Secret{}
			for _, sec := range m.secrets {
				secrets[sec.Name] = sec
			}
			keySecret := tc.keySecret
			if keySecret == "" {
				keySecret = tc.jobName + "-key"
				sec, ok := secrets[keySecret]
				if !ok {
					t.Fatalf("no Secret %s among %v", keySecret, k8sKeys(secrets))
				}
				if key := sec.StringData["key"]; !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
					t.Errorf("oracle key %q is not 32 bytes of hex", key)
				}
			} else if _, ok := secrets[tc.jobName+"-key"]; ok {
				t.Error("a key Secret was generated despite --key-secret")
			}
			if tc.tokenSecret == tc.jobName+"-admin" {
				if got := secrets[tc.tokenSecret].StringData["token"]; got != "s3cret" {
					t.Errorf("admin Secret holds %q", got)
				}
			}

			job := m.jobs[0]
			if job.Name != tc.jobName {
				t.Errorf("Job name %q", job.Name)
			}
			spec, pod := job.Spec, job.Spec.Template.Spec
			for what, ok := range map[string]bool{
				"completionMode Indexed":             spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion,
				"completions 4":                      spec.Completions != nil && *spec.Completions == 4,
				"parallelism 4":                      spec.Parallelism != nil && *spec.Parallelism == 4,
				"backoffLimitPerIndex 0":             spec.BackoffLimitPerIndex != nil && *spec.BackoffLimitPerIndex == 0,
				"restartPolicy Never":                pod.RestartPolicy == corev1.RestartPolicyNever,
				"runAsNonRoot":                       pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot,
				"automountServiceAccountToken false": pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken,
			} {
				if !ok {
					t.Errorf("Job: want %s", what)
				}
			}
			podLabels := job.Spec.Template.Labels
			for _, sp := range pod.TopologySpreadConstraints {
				for k, v := range sp.LabelSelector.MatchLabels {
					if podLabels[k] != v {
						t.Errorf("spread selector %s=%v does not match the pod labels %v", k, v, podLabels)
					}
				}
			}

			// Volumes and mounts: every mount has a volume, every volume
			// is mounted, and each volume is the object it should be.
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v
			}
			mountedAt := map[string]string{} // volume → path in the drill container
			used := map[string]bool{}
			for _, c := range append(slices.Clone(pod.Containers), pod.InitContainers...) {
				if c.Image != "registry.test/herd:1" {
					t.Errorf("container %s image %q", c.Name, c.Image)
				}
				if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("container %s security context %+v", c.Name, c.SecurityContext)
				}
				for _, mnt := range c.VolumeMounts {
					if _, ok := volumes[mnt.Name]; !ok {
						t.Errorf("container %s mounts %q, which is no volume", c.Name, mnt.Name)
					}
					used[mnt.Name] = true
					if c.Name == "herd" {
						mountedAt[mnt.Name] = mnt.MountPath
					}
				}
			}
			for name := range volumes {
				if !used[name] {
					t.Errorf("volume %q is mounted nowhere", name)
				}
			}
			if v := volumes["scenario"].ConfigMap; v == nil || v.Name != cm.Name {
				t.Errorf("scenario volume is ConfigMap %+v, want %q", v, cm.Name)
			}
			if v := volumes["oracle-key"].Secret; v == nil || v.SecretName != keySecret {
				t.Errorf("key volume is Secret %+v, want %q", v, keySecret)
			}
			if tc.pvc != "" {
				if v := volumes["results"].PersistentVolumeClaim; v == nil || v.ClaimName != tc.pvc {
					t.Errorf("results claim %+v, want %q", v, tc.pvc)
				}
				if len(pod.InitContainers) != 0 {
					t.Errorf("with a PVC the pods need no results sidecar, got %d init containers", len(pod.InitContainers))
				}
			} else if volumes["results"].EmptyDir == nil {
				t.Errorf("results volume %+v, want an emptyDir", volumes["results"])
			}

			// The drill container's command line.
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Containers))
			}
			c := pod.Containers[0]
			cmd := append(slices.Clone(c.Command), c.Args...)
			if cmd[0] != "herd" || cmd[1] != "run" {
				t.Fatalf("command %v, want herd run", cmd)
			}
			scenarioPath := cmd[2]
			if dir, file := filepath.Split(scenarioPath); filepath.Clean(dir) != mountedAt["scenario"] || cm.Data[file] == "" {
				t.Errorf("scenario %s is not a file of the mounted ConfigMap (mounted at %s, keys %v)", scenarioPath, mountedAt["scenario"], k8sKeys(cm.Data))
			}
			want := map[string]string{
				"--shards":   "4",
				"--start-at": testStart,
				"--target":   "http://target.drill:8080,http://cell2.drill:8080",
				"--key-file": mountedAt["oracle-key"] + "/key",
				"--out":      mountedAt["results"] + "/shard-$(JOB_COMPLETION_INDEX).json",
			}
			for flag, w := range want {
				if got, ok := k8sFlagValue(cmd, flag); !ok || got != w {
					t.Errorf("%s %q, want %q (command %v)", flag, got, w, cmd)
				}
			}
			if start, _ := k8sFlagValue(cmd, "--start-at"); start != "" {
				if _, err := time.Parse(time.RFC3339, start); err != nil {
					t.Errorf("--start-at %q is not RFC 3339", start)
				}
			}
			if items := volumes["oracle-key"].Secret.Items; len(items) != 1 || items[0].Key != "key" || items[0].Path != "key" {
				t.Errorf("key volume items %v, want the Secret's key at /key", items)
			}
			if tail := cmd[len(cmd)-len(tc.wantArgs):]; len(tc.wantArgs) > 0 && !slices.Equal(tail, tc.wantArgs) {
				t.Errorf("command ends %v, want %v", tail, tc.wantArgs)
			}
			for _, f := range tc.noArgs {
				if slices.Contains(cmd, f) {
					t.Errorf("command has %s, which was not asked for: %v", f, cmd)
				}
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			if e := env["JOB_COMPLETION_INDEX"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
				t.Errorf("JOB_COMPLETION_INDEX from %+v", e.ValueFrom)
			}
			if e := env["HERD_ADMIN_TOKEN"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != tc.tokenSecret {
				t.Errorf("HERD_ADMIN_TOKEN from %+v, want Secret %q", e.ValueFrom, tc.tokenSecret)
			}
			if _, ok := k8sFlagValue(cmd, "--admin-token"); ok || strings.Contains(strings.Join(cmd, " "), "s3cret") {
				t.Error("the admin token is on the command line")
			}

			// The results sidecar prints the same file the drill writes.
			if tc.pvc == "" {
				if len(pod.InitContainers) != 1 {
					t.Fatalf("%d init containers, want the results sidecar", len(pod.InitContainers))
				}
				sc := pod.InitContainers[0]
				scmd := append(slices.Clone(sc.Command), sc.Args...)
				out, _ := k8sFlagValue(cmd, "--out")
				if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways || !slices.Equal(scmd, []string{"herd", "k8s", "emit", out}) {
					t.Errorf("sidecar restartPolicy %v, command %v; want Always, herd k8s emit %s", sc.RestartPolicy, scmd, out)
				}
			}
		})
	}
}

func k8sKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// A scenario file keeps its bytes and, as the pods' file name, its name.
func TestK8sScenarioFile(t *testing.T) {
	dir := t.TempDir()
	unnamed := filepath.Join(dir, "night-shift.yaml")
	named := filepath.Join(dir, "whatever.yaml")
	body := "# comments survive\nfleet: {cameras: 50, seed: 3}\nphases: [{kind: steady, duration: 10s}]\n"
	for path, src := range map[string]string{unnamed: body, named: "name: big-drill\n" + body} {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ file, key string }{{unnamed, "night-shift.yaml"}, {named, "big-drill.yaml"}} {
		code, stdout, stderr := herd(t, context.Background(), k8sArgs(tc.file)...)
		if code != exitcode.OK {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		m := decodeManifest(t, stdout)
		want, _ := os.ReadFile(tc.file)
		data := m.configMaps[0].Data
		if len(data) != 1 || data[tc.key] != string(want) {
			t.Errorf("%s: ConfigMap data %v, want %s holding the file", tc.file, data, tc.key)
		}
		args := m.jobs[0].Spec.Template.Spec.Containers[0].Args
		if args[1] != "/config/"+tc.key {
			t.Errorf("%s: herd run %s, want /config/%s", tc.file, args[1], tc.key)
		}
	}
}

func TestK8sStartInstant(t *testing.T) {
	base := []string{"k8s", "--shards", "2", "--image", "herd:dev", "--target", "http://t:80", "--admin-token-secret", "a"}
	for _, tc := range []struct {
		args  []string
		delay time.Duration
		warn  bool
	}{
		{nil, DefaultK8sStartDelay, false},
		{[]string{"--start-delay", "10m"}, 10 * time.Minute, false},
		{[]string{"--start-delay", "5s"}, 5 * time.Second, true},
	} {
		before := time.Now()
		code, stdout, stderr := herd(t, context.Background(), append(slices.Clone(base), tc.args...)...)
		after := time.Now()
		if code != exitcode.OK {
			t.Fatalf("%v: exit %d\n%s", tc.args, code, stderr)
		}
		args := decodeManifest(t, stdout).jobs[0].Spec.Template.Spec.Containers[0].Args
		v, _ := k8sFlagValue(args, "--start-at")
		start, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatalf("--start-at %q: %v", v, err)
		}
		if lo, hi := before.Add(tc.delay).Add(-time.Second), after.Add(tc.delay); start.Before(lo) || start.After(hi) {
			t.Errorf("%v: start %s, want between %s and %s", tc.args, start, lo, hi)
		}
		if warned := strings.Contains(stderr, "pods not running by then start late"); warned != tc.warn {
			t.Errorf("%v: warned %v, want %v: %q", tc.args, warned, tc.warn, stderr)
		}
	}
}

func TestK8sUsageErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("phases: [{kind: steady, duration: 10}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := k8sArgs()
	without := func(flag string) []string {
		i := slices.Index(base, flag)
		return slices.Delete(slices.Clone(base), i, i+2)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no shards", without("--shards"), "--shards is required"},
		{"no image", without("--image"), "--image is required"},
		{"no target", without("--target"), "--target is required"},
		{"not a URL", append(without("--target"), "--target", "target.drill:8080"), `"target.drill:8080" is not an http:// or https:// base URL`},
		{"no token", without("--admin-token-secret"), "the pods need the target's admin token"},
		{"two tokens", k8sArgs("--admin-token", "x"), "not both"},
		{"both starts", k8sArgs("--start-delay", "1m"), "give --start-at or --start-delay, not both"},
		{"bad start", append(without("--start-at"), "--start-at", "tomorrow"), `--start-at "tomorrow" is not an RFC 3339 instant`},
		{"bad name", k8sArgs("--name", "Herd_Drill"), `--name "Herd_Drill"`},
		{"bad namespace", k8sArgs("--namespace", "-x"), `--namespace "-x"`},
		{"bad quantity", k8sArgs("--memory", "lots"), `--memory "lots" is not a Kubernetes quantity`},
		{"more shards than cameras", k8sArgs("--cameras", "3"), "--shards 4 is more than the fleet's 3 cameras"},
		{"managed flag after --", k8sArgs("aws-outage", "--", "--out", "x.json"), "--out after -- is set by herd k8s"},
		{"two scenarios", k8sArgs("aws-outage", "az-outage"), "want at most one scenario, got 2"},
		{"unknown scenario", k8sArgs("no-such-drill"), "no-such-drill is invalid"},
		{"invalid scenario", k8sArgs(bad), "is invalid, 1 error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := herd(t, context.Background(), tc.args...)
			if code != exitcode.Usage {
				t.Errorf("exit %d, want %d", code, exitcode.Usage)
			}
			if stdout != "" {
				t.Errorf("printed a manifest despite the error:\n%s", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
		})
	}
}

// The results sidecar prints the result only once the pod stops it.
func TestK8sEmit(t *testing.T) {
	dir := t.TempDir()
	result := filepath.Join(dir, "shard-0.json")
	ctx, cancel := context.WithCancel(context.Background())
	type outcome struct {
		code           int
		stdout, stderr string
	}
	done := make(chan outcome, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"k8s", "emit", result}, &out, &errb)
		done <- outcome{code, out.String(), errb.String()}
	}()
	// The drill writes its result while the sidecar waits.
	if err := os.WriteFile(result, []byte(`{"schema": "herd.result/v1"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-done:
		t.Fatalf("emit returned before it was stopped: exit %d, %q", o.code, o.stdout)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	o := <-done
	if o.code != exitcode.OK || o.stdout != `{"schema": "herd.result/v1"}`+"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}

	stopped, stop := context.WithCancel(context.Background())
	stop()
	code, stdout, stderr := herd(t, stopped, "k8s", "emit", filepath.Join(dir, "missing.json"))
	if code != exitcode.Runtime || stdout != "" || !strings.Contains(stderr, "no result to print") {
		t.Errorf("missing file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// kubectl validates the manifest when it is installed and reaches a
// cluster (client-side dry runs still ask the API server for its types).
func TestK8sKubectlDryRun(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	for _, args := range [][]string{k8sArgs(), k8sArgs("--results-pvc", "herd-results", "--key-secret", "k", "--namespace", "drills")} {
		code, stdout, stderr := herd(t, context.Background(), args...)
		if code != exitcode.OK {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, kubectl, "apply", "--dry-run=client", "--request-timeout=10s", "-f", "-")
		cmd.Stdin = strings.NewReader(stdout)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			for _, unreachable := range []string{"connection refused", "unable to recognize", "failed to download openapi",
				"Unable to connect to the server", "couldn't get current server API group list", "no such host", "i/o timeout"} {
				if strings.Contains(string(out), unreachable) {
					t.Skipf("kubectl reaches no cluster: %s", k8sFirstLine(string(out)))
				}
			}
			t.Fatalf("kubectl apply --dry-run=client: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "job.batch/herd-drill") {
			t.Errorf("kubectl did not take the Job:\n%s", out)
		}
	}
}

func k8sFirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
