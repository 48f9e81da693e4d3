package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/scenarios"
)

// k8sObj is one decoded Kubernetes object, read through paths like
// "spec.template.spec.containers".
type k8sObj map[string]any

func (o k8sObj) get(t *testing.T, path string) any {
	t.Helper()
	var v any = map[string]any(o)
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not a mapping", path, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: no %q", path, k)
		}
	}
	return v
}

func (o k8sObj) str(t *testing.T, path string) string {
	t.Helper()
	s, ok := o.get(t, path).(string)
	if !ok {
		t.Fatalf("%s = %#v, not a string", path, o.get(t, path))
	}
	return s
}

func (o k8sObj) list(t *testing.T, path string) []k8sObj {
	t.Helper()
	raw, ok := o.get(t, path).([]any)
	if !ok {
		t.Fatalf("%s = %#v, not a list", path, o.get(t, path))
	}
	var out []k8sObj
	for _, v := range raw {
		out = append(out, k8sObj(v.(map[string]any)))
	}
	return out
}

func (o k8sObj) strings(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, v := range o.get(t, path).([]any) {
		out = append(out, v.(string))
	}
	return out
}

func (o k8sObj) has(path string) bool {
	var v any = map[string]any(o)
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

// decodeManifest parses a multi-document YAML stream.
func decodeManifest(t *testing.T, manifest string) []k8sObj {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(manifest))
	var docs []k8sObj
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("manifest is not YAML: %v\n%s", err, manifest)
		}
		docs = append(docs, k8sObj(m))
	}
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
			docs := decodeManifest(t, stdout)
			var kinds []string
			byKind := map[string][]k8sObj{}
			for _, d := range docs {
				k := d.str(t, "apiVersion") + "/" + d.str(t, "kind")
				kinds = append(kinds, k)
				byKind[d.str(t, "kind")] = append(byKind[d.str(t, "kind")], d)
				// Every object: in the namespace asked for, labelled as
				// part of this drill.
				if got, _ := d.get(t, "metadata").(map[string]any)["namespace"].(string); got != tc.ns {
					t.Errorf("%s namespace %q, want %q", k, got, tc.ns)
				}
				labels := d.get(t, "metadata.labels").(map[string]any)
				if labels["app.kubernetes.io/instance"] != tc.jobName || labels["app.kubernetes.io/name"] != "herd" {
					t.Errorf("%s labels %v", k, labels)
				}
			}
			if !slices.Equal(kinds, tc.wantKinds) {
				t.Fatalf("objects %v, want %v", kinds, tc.wantKinds)
			}

			cm := byKind["ConfigMap"][0]
			data := cm.get(t, "data").(map[string]any)
			if len(data) != 1 || data["aws-outage.yaml"] != string(awsSource) {
				t.Errorf("ConfigMap data is not the aws-outage source: keys %v", k8sKeys(data))
			}
			secrets := map[string]k8sObj{}
			for _, s := range byKind["Secret"] {
				secrets[s.str(t, "metadata.name")] = s
			}
			keySecret := tc.keySecret
			if keySecret == "" {
				keySecret = tc.jobName + "-key"
				s, ok := secrets[keySecret]
				if !ok {
					t.Fatalf("no Secret %s among %v", keySecret, k8sKeys(secrets))
				}
				if key := s.str(t, "stringData.key"); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
					t.Errorf("oracle key %q is not 32 bytes of hex", key)
				}
			} else if _, ok := secrets[tc.jobName+"-key"]; ok {
				t.Error("a key Secret was generated despite --key-secret")
			}
			if tc.tokenSecret == tc.jobName+"-admin" {
				if got := secrets[tc.tokenSecret].str(t, "stringData.token"); got != "s3cret" {
					t.Errorf("admin Secret holds %q", got)
				}
			}

			job := byKind["Job"][0]
			if job.str(t, "metadata.name") != tc.jobName {
				t.Errorf("Job name %q", job.str(t, "metadata.name"))
			}
			for path, want := range map[string]any{
				"spec.completionMode": "Indexed", "spec.completions": 4, "spec.parallelism": 4,
				"spec.backoffLimitPerIndex": 0, "spec.template.spec.restartPolicy": "Never",
				"spec.template.spec.securityContext.runAsNonRoot": true,
				"spec.template.spec.automountServiceAccountToken": false,
			} {
				if got := job.get(t, path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			pod := k8sObj(job.get(t, "spec.template").(map[string]any))
			podLabels := pod.get(t, "metadata.labels").(map[string]any)
			for _, sp := range pod.list(t, "spec.topologySpreadConstraints") {
				for k, v := range sp.get(t, "labelSelector.matchLabels").(map[string]any) {
					if podLabels[k] != v {
						t.Errorf("spread selector %s=%v does not match the pod labels %v", k, v, podLabels)
					}
				}
			}

			// Volumes and mounts: every mount has a volume, every volume
			// is mounted, and each volume is the object it should be.
			volumes := map[string]k8sObj{}
			for _, v := range pod.list(t, "spec.volumes") {
				volumes[v.str(t, "name")] = v
			}
			containers := pod.list(t, "spec.containers")
			var inits []k8sObj
			if pod.has("spec.initContainers") {
				inits = pod.list(t, "spec.initContainers")
			}
			mountedAt := map[string]string{} // volume → path in the drill container
			used := map[string]bool{}
			for _, c := range append(slices.Clone(containers), inits...) {
				if c.str(t, "image") != "registry.test/herd:1" {
					t.Errorf("container %s image %q", c.str(t, "name"), c.str(t, "image"))
				}
				if c.get(t, "securityContext.allowPrivilegeEscalation") != false || c.get(t, "securityContext.readOnlyRootFilesystem") != true {
					t.Errorf("container %s security context %v", c.str(t, "name"), c.get(t, "securityContext"))
				}
				for _, m := range c.list(t, "volumeMounts") {
					name := m.str(t, "name")
					if _, ok := volumes[name]; !ok {
						t.Errorf("container %s mounts %q, which is no volume", c.str(t, "name"), name)
					}
					used[name] = true
					if c.str(t, "name") == "herd" {
						mountedAt[name] = m.str(t, "mountPath")
					}
				}
			}
			for name := range volumes {
				if !used[name] {
					t.Errorf("volume %q is mounted nowhere", name)
				}
			}
			if got := volumes["scenario"].str(t, "configMap.name"); got != cm.str(t, "metadata.name") {
				t.Errorf("scenario volume is ConfigMap %q, want %q", got, cm.str(t, "metadata.name"))
			}
			if got := volumes["oracle-key"].str(t, "secret.secretName"); got != keySecret {
				t.Errorf("key volume is Secret %q, want %q", got, keySecret)
			}
			if tc.pvc != "" {
				if got := volumes["results"].str(t, "persistentVolumeClaim.claimName"); got != tc.pvc {
					t.Errorf("results claim %q, want %q", got, tc.pvc)
				}
				if len(inits) != 0 {
					t.Errorf("with a PVC the pods need no results sidecar, got %d init containers", len(inits))
				}
			} else if !volumes["results"].has("emptyDir") {
				t.Errorf("results volume %v, want an emptyDir", volumes["results"])
			}

			// The drill container's command line.
			if len(containers) != 1 {
				t.Fatalf("%d containers, want 1", len(containers))
			}
			c := containers[0]
			cmd := append(c.strings(t, "command"), c.strings(t, "args")...)
			if cmd[0] != "herd" || cmd[1] != "run" {
				t.Fatalf("command %v, want herd run", cmd)
			}
			scenarioPath := cmd[2]
			if dir, file := filepath.Split(scenarioPath); filepath.Clean(dir) != mountedAt["scenario"] || data[file] == nil {
				t.Errorf("scenario %s is not a file of the mounted ConfigMap (mounted at %s, keys %v)", scenarioPath, mountedAt["scenario"], k8sKeys(data))
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
			if items := volumes["oracle-key"].list(t, "secret.items"); len(items) != 1 || items[0].str(t, "key") != "key" || items[0].str(t, "path") != "key" {
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
			env := map[string]k8sObj{}
			for _, e := range c.list(t, "env") {
				env[e.str(t, "name")] = e
			}
			if got := env["JOB_COMPLETION_INDEX"].str(t, "valueFrom.fieldRef.fieldPath"); got != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
				t.Errorf("JOB_COMPLETION_INDEX from %q", got)
			}
			if got := env["HERD_ADMIN_TOKEN"].str(t, "valueFrom.secretKeyRef.name"); got != tc.tokenSecret {
				t.Errorf("HERD_ADMIN_TOKEN from Secret %q, want %q", got, tc.tokenSecret)
			}
			if _, ok := k8sFlagValue(cmd, "--admin-token"); ok || strings.Contains(strings.Join(cmd, " "), "s3cret") {
				t.Error("the admin token is on the command line")
			}

			// The results sidecar prints the same file the drill writes.
			if tc.pvc == "" {
				if len(inits) != 1 {
					t.Fatalf("%d init containers, want the results sidecar", len(inits))
				}
				sc := inits[0]
				scmd := append(sc.strings(t, "command"), sc.strings(t, "args")...)
				out, _ := k8sFlagValue(cmd, "--out")
				if sc.str(t, "restartPolicy") != "Always" || !slices.Equal(scmd, []string{"herd", "k8s", "emit", out}) {
					t.Errorf("sidecar restartPolicy %q, command %v; want Always, herd k8s emit %s", sc.str(t, "restartPolicy"), scmd, out)
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
		docs := decodeManifest(t, stdout)
		want, _ := os.ReadFile(tc.file)
		data := docs[0].get(t, "data").(map[string]any)
		if len(data) != 1 || data[tc.key] != string(want) {
			t.Errorf("%s: ConfigMap data %v, want %s holding the file", tc.file, data, tc.key)
		}
		job := docs[len(docs)-1]
		args := job.list(t, "spec.template.spec.containers")[0].strings(t, "args")
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
		docs := decodeManifest(t, stdout)
		args := docs[len(docs)-1].list(t, "spec.template.spec.containers")[0].strings(t, "args")
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
