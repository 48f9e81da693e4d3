package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/oracle"
)

func init() { subcommands = append(subcommands, newK8sCmd) }

// Defaults of herd k8s.
const (
	DefaultK8sName       = "herd-drill"
	DefaultK8sStartDelay = 2 * time.Minute
	DefaultK8sCPU        = "1"
	DefaultK8sMemory     = "1Gi"
)

// Paths inside a drill pod.
const (
	k8sConfigDir  = "/config"
	k8sSecretDir  = "/secret"
	k8sKeyFile    = k8sSecretDir + "/key"
	k8sResultsDir = "/results"
	// k8sResultFile is each shard's result; Kubernetes expands
	// $(JOB_COMPLETION_INDEX) from the container's environment.
	k8sResultFile = k8sResultsDir + "/shard-$(JOB_COMPLETION_INDEX).json"
)

// Keys inside the Secrets: the oracle key and the target's admin token.
const (
	k8sKeySecretKey   = "key"
	k8sTokenSecretKey = "token"
)

// k8sUID is the user the pods run as: not root, and the user of the
// Dockerfile's image.
const k8sUID = 65532

// k8sStartSlack is how far ahead the start instant must be before
// herd k8s warns that pods may not be running by then.
const k8sStartSlack = 30 * time.Second

type k8sFlags struct {
	shards      int
	image       string
	name        string
	namespace   string
	target      string
	adminToken  string
	tokenSecret string
	keySecret   string
	resultsPVC  string
	startAt     string
	startDelay  time.Duration
	cameras     int
	seed        uint64
	cpu         string
	memory      string
	setCameras  bool
	setSeed     bool
	passThrough []string // herd run flags after --

	// Filled in while writing the manifest.
	herdVersion  string
	generatedKey string
}

func newK8sCmd() *cobra.Command {
	var fl k8sFlags
	c := &cobra.Command{
		Use:   "k8s --shards N --image IMAGE --target URL [SCENARIO|FILE] [-- RUN-FLAGS...]",
		Short: "Print a Kubernetes manifest that runs a sharded drill",
		Long: `Prints a Kubernetes manifest (multi-document YAML, for kubectl apply -f -)
that runs one drill as N shards, one pod each, in an Indexed Job:

  ConfigMap NAME-scenario   the scenario's YAML (a built-in's source, or FILE)
  Secret    NAME-key        a fresh oracle key, shared by every shard so that
                            each can check the provenance of the others' data
                            (not generated with --key-secret)
  Secret    NAME-admin      the target's admin token (only with --admin-token)
  Job       NAME            completionMode Indexed, completions and parallelism N

Each pod runs 'herd run' with --shards N, --start-at (one wall-clock instant
for every shard), --key-file and --out /results/shard-INDEX.json, the index
coming from JOB_COMPLETION_INDEX. Flags after -- are passed to 'herd run'
(for example -- --policy full-jitter --time-scale 0.5).

The start instant is --start-at, or now + --start-delay: apply the manifest
straight away, because a pod that is not running by then starts late and
drills a different moment than the others. A longer delay leaves room for
image pulls and scheduling; a shorter one wastes less time.

A shard runs once (backoffLimitPerIndex 0): a retried pod would start after
the shared instant. Results go to an emptyDir, and a small sidecar prints
each shard's result when its drill ends, so 'kubectl logs POD -c results'
collects it even after the pod has finished; with --results-pvc they go to
that PersistentVolumeClaim instead (ReadWriteMany, unless every pod lands
on one node). Needs Kubernetes 1.29 or later (sidecar containers and
per-index backoff limits).

The image must have herd on its PATH (the repository's Dockerfile builds
one).`,
		Example: `  herd k8s --shards 4 --image registry.example/herd:1.0 \
      --target https://cams.staging.example --admin-token-secret cams-admin \
      aws-outage | kubectl apply -f -
  herd k8s --shards 8 --image herd:dev --target http://target.drill:8080 \
      --admin-token-secret target-admin --cameras 200000 --results-pvc herd-results \
      my-drill.yaml -- --policy full-jitter > drill.yaml`,
		Args: func(c *cobra.Command, args []string) error {
			n := len(args)
			if dash := c.ArgsLenAtDash(); dash >= 0 {
				n = dash
			}
			if n > 1 {
				return usagef(c, fmt.Errorf("want at most one scenario, got %d: %s", n, strings.Join(args[:n], " ")))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			name := scenarios.Default
			if dash := c.ArgsLenAtDash(); dash >= 0 {
				fl.passThrough = args[dash:]
				args = args[:dash]
			}
			if len(args) == 1 {
				name = args[0]
			}
			fl.setCameras = c.Flags().Changed("cameras")
			fl.setSeed = c.Flags().Changed("seed")
			fl.herdVersion = herdVersion()
			if c.Flags().Changed("start-at") && c.Flags().Changed("start-delay") {
				return usagef(c, errors.New("give --start-at or --start-delay, not both"))
			}
			return writeK8s(c, name, &fl, time.Now())
		},
	}
	f := c.Flags()
	f.IntVar(&fl.shards, "shards", 0, "number of shards: pods of the Indexed Job, each running its slice of the fleet (required)")
	f.StringVar(&fl.image, "image", "", "container image with herd on its PATH (required)")
	f.StringVar(&fl.name, "name", DefaultK8sName, "name of the Job; the ConfigMap and Secrets are named after it")
	f.StringVar(&fl.namespace, "namespace", "", "namespace of every object (default: kubectl's current namespace)")
	f.StringVar(&fl.target, "target", "", "base URL of the target, comma-separated for cells, as the pods reach it (required)")
	f.StringVar(&fl.tokenSecret, "admin-token-secret", "", "existing Secret holding the target's admin token under the key '"+k8sTokenSecretKey+"'")
	f.StringVar(&fl.adminToken, "admin-token", "", "the target's admin token, written into a Secret of the manifest (prefer --admin-token-secret)")
	f.StringVar(&fl.keySecret, "key-secret", "", "existing Secret holding the hex oracle key under the key '"+k8sKeySecretKey+"' (default: generate one into the manifest)")
	f.StringVar(&fl.resultsPVC, "results-pvc", "", "PersistentVolumeClaim for the results (default: an emptyDir, collected with kubectl logs)")
	f.StringVar(&fl.startAt, "start-at", "", "RFC 3339 instant at which every shard starts its schedule (default: now + --start-delay)")
	f.DurationVar(&fl.startDelay, "start-delay", DefaultK8sStartDelay, "time from now to the shared start, for pods to be scheduled and pull the image")
	f.IntVar(&fl.cameras, "cameras", 0, "cameras in the whole fleet, across shards (default: the scenario's)")
	f.Uint64Var(&fl.seed, "seed", 0, "fleet seed (default: the scenario's)")
	f.StringVar(&fl.cpu, "cpu", DefaultK8sCPU, "CPU request and limit of each shard (a Kubernetes quantity; empty for none)")
	f.StringVar(&fl.memory, "memory", DefaultK8sMemory, "memory request and limit of each shard (a Kubernetes quantity; empty for none)")
	c.AddCommand(newK8sEmitCmd())
	return c
}

// k8sManaged are the herd run flags that herd k8s sets itself, refused
// after --.
var k8sManaged = []string{"--shards", "--shard", "--start-at", "--key-file", "--out", "--target", "--admin-token", "--cameras", "--seed", "--target-fault"}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// k8sQuantity is the shape of a Kubernetes resource quantity.
	k8sQuantity = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)
)

// k8sMaxName keeps names derived from --name (pods are NAME-INDEX-xxxxx)
// within Kubernetes' 63-character limit, as CronJob does.
const k8sMaxName = 52

// check validates the flags, returning every problem at once.
func (fl *k8sFlags) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if fl.shards < 1 {
		bad("--shards is required: the number of pods, at least 1")
	} else if fl.shards > 100_000 {
		bad("--shards %d: an Indexed Job has at most 100000 completions", fl.shards)
	}
	if fl.image == "" {
		bad("--image is required: an image with herd on its PATH (see the Dockerfile)")
	}
	if len(fl.name) > k8sMaxName || !dnsLabel.MatchString(fl.name) {
		bad("--name %q: want lower-case letters, digits and '-', starting and ending with a letter or digit, at most %d characters", fl.name, k8sMaxName)
	}
	if fl.namespace != "" && (len(fl.namespace) > 63 || !dnsLabel.MatchString(fl.namespace)) {
		bad("--namespace %q is not a valid namespace name", fl.namespace)
	}
	for _, s := range []struct{ flag, v string }{{"--admin-token-secret", fl.tokenSecret}, {"--key-secret", fl.keySecret}, {"--results-pvc", fl.resultsPVC}} {
		if s.v != "" && (len(s.v) > 253 || !dnsSubdomain.MatchString(s.v)) {
			bad("%s %q is not a valid object name", s.flag, s.v)
		}
	}
	if fl.target == "" {
		bad("--target is required: the base URL of the target as the pods reach it (the built-in target does not run in pods)")
	} else {
		for _, cell := range strings.Split(fl.target, ",") {
			u, err := url.Parse(strings.TrimSpace(cell))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("--target: %q is not an http:// or https:// base URL", cell)
			}
		}
	}
	switch {
	case fl.tokenSecret != "" && fl.adminToken != "":
		bad("give --admin-token-secret or --admin-token, not both")
	case fl.tokenSecret == "" && fl.adminToken == "":
		bad("the pods need the target's admin token: --admin-token-secret NAME (a Secret with the token under the key %q) or --admin-token TOKEN", k8sTokenSecretKey)
	}
	for _, q := range []struct{ flag, v string }{{"--cpu", fl.cpu}, {"--memory", fl.memory}} {
		if q.v != "" && !k8sQuantity.MatchString(q.v) {
			bad("%s %q is not a Kubernetes quantity (like 500m, 2, 512Mi, 4Gi)", q.flag, q.v)
		}
	}
	if fl.startDelay < 0 {
		bad("--start-delay %v is negative", fl.startDelay)
	}
	if fl.setCameras && fl.cameras < 1 {
		bad("--cameras %d: want at least 1", fl.cameras)
	}
	for _, a := range fl.passThrough {
		for _, m := range k8sManaged {
			if a == m || strings.HasPrefix(a, m+"=") {
				bad("%s after -- is set by herd k8s; use herd k8s's own flag", m)
			}
		}
	}
	return errors.Join(errs...)
}

// startInstant is --start-at, normalised to UTC, or now + --start-delay
// to the second.
func (fl *k8sFlags) startInstant(now time.Time) (time.Time, error) {
	if fl.startAt == "" {
		return now.Add(fl.startDelay).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, fl.startAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start-at %q is not an RFC 3339 instant like 2026-03-01T14:00:00Z", fl.startAt)
	}
	return t.UTC(), nil
}

func writeK8s(c *cobra.Command, name string, fl *k8sFlags, now time.Time) error {
	if err := fl.check(); err != nil {
		return usagef(c, err)
	}
	sc, err := scenarios.Load(name)
	if err != nil {
		n := printErrors(c.ErrOrStderr(), err)
		return exitcode.With(exitcode.Usage, fmt.Errorf("%s is invalid, %d %s", name, n, plural(n, "error", "errors")))
	}
	src, err := scenarioSource(sc)
	if err != nil {
		return err
	}
	if fl.setCameras {
		sc.Fleet.Cameras = fl.cameras
	}
	if fl.setSeed {
		sc.Fleet.Seed = fl.seed
	}
	if errs := sc.Validate(); len(errs) > 0 {
		return usagef(c, errors.Join(errs...))
	}
	if fl.shards > sc.Fleet.Cameras {
		return usagef(c, fmt.Errorf("--shards %d is more than the fleet's %d cameras: every shard needs at least one", fl.shards, sc.Fleet.Cameras))
	}
	start, err := fl.startInstant(now)
	if err != nil {
		return usagef(c, err)
	}
	if fl.keySecret == "" {
		key, err := oracle.NewKey()
		if err != nil {
			return fmt.Errorf("generating the oracle key: %w", err)
		}
		text, _ := key.MarshalText()
		fl.generatedKey = string(text)
	}
	docs := k8sManifest(sc, src, fl, start)
	if err := writeManifest(c.OutOrStdout(), docs, k8sHeader(sc, fl, start)); err != nil {
		return err
	}
	stderr := c.ErrOrStderr()
	if until := start.Sub(now); until < k8sStartSlack {
		fmt.Fprintf(stderr, "herd: warning: the shards start at %s, %s from now: pods not running by then start late; use a later --start-at or a longer --start-delay\n",
			start.Format(time.RFC3339), until.Round(time.Second))
	}
	if fl.adminToken != "" {
		fmt.Fprintf(stderr, "herd: the manifest holds the admin token in Secret %s-admin: keep it out of version control, or use --admin-token-secret\n", fl.name)
	}
	return nil
}

// scenarioSource is the YAML the pods run: a built-in's source, comments
// included, or the file's bytes as they are.
func scenarioSource(sc *scenarios.Scenario) (string, error) {
	if strings.HasPrefix(sc.Source, "builtin:") {
		if src, ok := scenarios.BuiltinSource(sc.Source); ok {
			return string(src), nil
		}
	}
	b, err := os.ReadFile(sc.Source)
	if err != nil {
		return "", fmt.Errorf("reading the scenario: %w", err)
	}
	return string(b), nil
}

func k8sHeader(sc *scenarios.Scenario, fl *k8sFlags, start time.Time) string {
	return fmt.Sprintf(`# Generated by herd k8s (herd %s): drill %q, %d cameras in %d shards,
# every shard starting at %s. Apply it at once: kubectl apply -f FILE
`, fl.herdVersion, sc.Name, sc.Fleet.Cameras, fl.shards, start.Format(time.RFC3339Nano))
}

// writeManifest writes docs as one multi-document YAML stream.
func writeManifest(w io.Writer, docs []any, header string) error {
	if _, err := io.WriteString(w, header); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return enc.Close()
}

// The manifest's objects: only the fields herd k8s sets, in the order
// kubectl shows them. Hand-written rather than k8s.io/api's types, which
// would bring in apimachinery and its dependencies for a dozen fields
// (and print creationTimestamp: null and empty status blocks).
type (
	k8sMeta struct {
		Name      string            `yaml:"name,omitempty"`
		Namespace string            `yaml:"namespace,omitempty"`
		Labels    map[string]string `yaml:"labels,omitempty"`
	}
	k8sConfigMap struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   k8sMeta           `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
	}
	k8sSecret struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   k8sMeta           `yaml:"metadata"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}
	k8sJob struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   k8sMeta    `yaml:"metadata"`
		Spec       k8sJobSpec `yaml:"spec"`
	}
	k8sJobSpec struct {
		CompletionMode       string         `yaml:"completionMode"`
		Completions          int            `yaml:"completions"`
		Parallelism          int            `yaml:"parallelism"`
		BackoffLimitPerIndex int            `yaml:"backoffLimitPerIndex"`
		BackoffLimit         int            `yaml:"backoffLimit"`
		Template             k8sPodTemplate `yaml:"template"`
	}
	k8sPodTemplate struct {
		Metadata k8sMeta    `yaml:"metadata"`
		Spec     k8sPodSpec `yaml:"spec"`
	}
	k8sPodSpec struct {
		RestartPolicy                string         `yaml:"restartPolicy"`
		AutomountServiceAccountToken bool           `yaml:"automountServiceAccountToken"`
		EnableServiceLinks           bool           `yaml:"enableServiceLinks"`
		SecurityContext              k8sPodSecurity `yaml:"securityContext"`
		TopologySpreadConstraints    []k8sSpread    `yaml:"topologySpreadConstraints"`
		InitContainers               []k8sContainer `yaml:"initContainers,omitempty"`
		Containers                   []k8sContainer `yaml:"containers"`
		Volumes                      []k8sVolume    `yaml:"volumes"`
	}
	k8sPodSecurity struct {
		RunAsNonRoot   bool       `yaml:"runAsNonRoot"`
		RunAsUser      int        `yaml:"runAsUser"`
		RunAsGroup     int        `yaml:"runAsGroup"`
		FSGroup        int        `yaml:"fsGroup"`
		SeccompProfile k8sSeccomp `yaml:"seccompProfile"`
	}
	k8sSeccomp struct {
		Type string `yaml:"type"`
	}
	k8sSpread struct {
		MaxSkew           int         `yaml:"maxSkew"`
		TopologyKey       string      `yaml:"topologyKey"`
		WhenUnsatisfiable string      `yaml:"whenUnsatisfiable"`
		LabelSelector     k8sSelector `yaml:"labelSelector"`
	}
	k8sSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	k8sContainer struct {
		Name            string               `yaml:"name"`
		Image           string               `yaml:"image"`
		RestartPolicy   string               `yaml:"restartPolicy,omitempty"`
		Command         []string             `yaml:"command"`
		Args            []string             `yaml:"args"`
		Env             []k8sEnv             `yaml:"env"`
		Resources       k8sResources         `yaml:"resources"`
		VolumeMounts    []k8sMount           `yaml:"volumeMounts"`
		SecurityContext k8sContainerSecurity `yaml:"securityContext"`
	}
	k8sEnv struct {
		Name      string       `yaml:"name"`
		ValueFrom k8sEnvSource `yaml:"valueFrom"`
	}
	k8sEnvSource struct {
		FieldRef     *k8sFieldRef `yaml:"fieldRef,omitempty"`
		SecretKeyRef *k8sKeyRef   `yaml:"secretKeyRef,omitempty"`
	}
	k8sFieldRef struct {
		FieldPath string `yaml:"fieldPath"`
	}
	k8sKeyRef struct {
		Name string `yaml:"name"`
		Key  string `yaml:"key"`
	}
	k8sResources struct {
		Requests map[string]string `yaml:"requests,omitempty"`
		Limits   map[string]string `yaml:"limits,omitempty"`
	}
	k8sMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly,omitempty"`
	}
	k8sContainerSecurity struct {
		AllowPrivilegeEscalation bool            `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool            `yaml:"readOnlyRootFilesystem"`
		Capabilities             k8sCapabilities `yaml:"capabilities"`
	}
	k8sCapabilities struct {
		Drop []string `yaml:"drop"`
	}
	k8sVolume struct {
		Name      string        `yaml:"name"`
		ConfigMap *k8sCMVolume  `yaml:"configMap,omitempty"`
		Secret    *k8sSecretVol `yaml:"secret,omitempty"`
		EmptyDir  *struct{}     `yaml:"emptyDir,omitempty"`
		PVC       *k8sPVCVolume `yaml:"persistentVolumeClaim,omitempty"`
	}
	k8sCMVolume struct {
		Name string `yaml:"name"`
	}
	k8sSecretVol struct {
		SecretName  string       `yaml:"secretName"`
		Items       []k8sKeyPath `yaml:"items"`
		DefaultMode int          `yaml:"defaultMode"`
	}
	k8sKeyPath struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
	k8sPVCVolume struct {
		ClaimName string `yaml:"claimName"`
	}
)

// k8sLabels are the labels of every object of a drill named name, plus
// its component.
func k8sLabels(name, component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "herd",
		"app.kubernetes.io/instance":  name,
		"app.kubernetes.io/component": component,
	}
}

// k8sScenarioFile is where the pods find the scenario. It keeps the
// scenario's name as its file name, so that a file without a name:
// field is still called what it was called on the machine that made the
// manifest (a scenario is named after its file by default).
func k8sScenarioFile(sc *scenarios.Scenario) string { return sc.Name + ".yaml" }

// k8sRunArgs is the herd command line of every shard.
func k8sRunArgs(sc *scenarios.Scenario, fl *k8sFlags, start time.Time) []string {
	args := []string{
		"run", k8sConfigDir + "/" + k8sScenarioFile(sc),
		"--shards", strconv.Itoa(fl.shards),
		"--start-at", start.Format(time.RFC3339Nano),
		"--key-file", k8sKeyFile,
		"--target", fl.target,
		"--out", k8sResultFile,
	}
	if fl.setCameras {
		args = append(args, "--cameras", strconv.Itoa(fl.cameras))
	}
	if fl.setSeed {
		args = append(args, "--seed", strconv.FormatUint(fl.seed, 10))
	}
	return append(args, fl.passThrough...)
}

func k8sManifest(sc *scenarios.Scenario, src string, fl *k8sFlags, start time.Time) []any {
	meta := func(name, component string) k8sMeta {
		return k8sMeta{Name: name, Namespace: fl.namespace, Labels: k8sLabels(fl.name, component)}
	}
	var docs []any
	cmName := fl.name + "-scenario"
	docs = append(docs, k8sConfigMap{APIVersion: "v1", Kind: "ConfigMap", Metadata: meta(cmName, "scenario"),
		Data: map[string]string{k8sScenarioFile(sc): src}})

	keySecret := fl.keySecret
	if keySecret == "" {
		keySecret = fl.name + "-key"
		docs = append(docs, k8sSecret{APIVersion: "v1", Kind: "Secret", Metadata: meta(keySecret, "oracle-key"),
			Type: "Opaque", StringData: map[string]string{k8sKeySecretKey: fl.generatedKey}})
	}
	tokenSecret := fl.tokenSecret
	if tokenSecret == "" {
		tokenSecret = fl.name + "-admin"
		docs = append(docs, k8sSecret{APIVersion: "v1", Kind: "Secret", Metadata: meta(tokenSecret, "admin-token"),
			Type: "Opaque", StringData: map[string]string{k8sTokenSecretKey: fl.adminToken}})
	}

	index := k8sEnv{Name: "JOB_COMPLETION_INDEX", ValueFrom: k8sEnvSource{
		FieldRef: &k8sFieldRef{FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}
	security := k8sContainerSecurity{ReadOnlyRootFilesystem: true, Capabilities: k8sCapabilities{Drop: []string{"ALL"}}}
	resources := k8sResources{}
	for res, q := range map[string]string{"cpu": fl.cpu, "memory": fl.memory} {
		if q == "" {
			continue
		}
		if resources.Requests == nil {
			resources.Requests, resources.Limits = map[string]string{}, map[string]string{}
		}
		// Requests equal to limits: a shard that competes for CPU
		// on its node measures its neighbours, not the target.
		resources.Requests[res], resources.Limits[res] = q, q
	}
	drill := k8sContainer{
		Name: "herd", Image: fl.image, Command: []string{"herd"}, Args: k8sRunArgs(sc, fl, start),
		Env: []k8sEnv{index, {Name: "HERD_ADMIN_TOKEN", ValueFrom: k8sEnvSource{
			SecretKeyRef: &k8sKeyRef{Name: tokenSecret, Key: k8sTokenSecretKey}}}},
		Resources: resources,
		VolumeMounts: []k8sMount{
			{Name: "scenario", MountPath: k8sConfigDir, ReadOnly: true},
			{Name: "oracle-key", MountPath: k8sSecretDir, ReadOnly: true},
			{Name: "results", MountPath: k8sResultsDir},
		},
		SecurityContext: security,
	}
	results := k8sVolume{Name: "results"}
	var sidecars []k8sContainer
	if fl.resultsPVC != "" {
		results.PVC = &k8sPVCVolume{ClaimName: fl.resultsPVC}
	} else {
		results.EmptyDir = &struct{}{}
		// A native sidecar (an init container that restarts always) is
		// stopped once the drill container has exited: it then prints
		// the shard's result, which kubectl logs keeps after the pod ends.
		sidecars = append(sidecars, k8sContainer{
			Name: "results", Image: fl.image, RestartPolicy: "Always",
			Command: []string{"herd"}, Args: []string{"k8s", "emit", k8sResultFile},
			Env: []k8sEnv{index},
			Resources: k8sResources{
				Requests: map[string]string{"cpu": "10m", "memory": "16Mi"},
				Limits:   map[string]string{"memory": "64Mi"},
			},
			VolumeMounts:    []k8sMount{{Name: "results", MountPath: k8sResultsDir, ReadOnly: true}},
			SecurityContext: security,
		})
	}
	pods := k8sLabels(fl.name, "drill")
	job := k8sJob{APIVersion: "batch/v1", Kind: "Job", Metadata: meta(fl.name, "drill"),
		Spec: k8sJobSpec{
			CompletionMode: "Indexed", Completions: fl.shards, Parallelism: fl.shards,
			// Each shard runs once, and every shard runs whatever the
			// others do: a failed shard's retry would start after the
			// shared instant, and a Job-wide limit would stop the
			// shards still drilling.
			BackoffLimitPerIndex: 0, BackoffLimit: fl.shards,
			Template: k8sPodTemplate{
				Metadata: k8sMeta{Labels: pods},
				Spec: k8sPodSpec{
					RestartPolicy: "Never",
					SecurityContext: k8sPodSecurity{RunAsNonRoot: true, RunAsUser: k8sUID, RunAsGroup: k8sUID, FSGroup: k8sUID,
						SeccompProfile: k8sSeccomp{Type: "RuntimeDefault"}},
					// Shards on one node compete for its CPU and ports:
					// spread them where the cluster allows.
					TopologySpreadConstraints: []k8sSpread{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: "ScheduleAnyway",
						LabelSelector: k8sSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": fl.name, "app.kubernetes.io/component": "drill"}}}},
					InitContainers: sidecars,
					Containers:     []k8sContainer{drill},
					Volumes: []k8sVolume{
						{Name: "scenario", ConfigMap: &k8sCMVolume{Name: cmName}},
						{Name: "oracle-key", Secret: &k8sSecretVol{SecretName: keySecret,
							Items: []k8sKeyPath{{Key: k8sKeySecretKey, Path: "key"}}, DefaultMode: 0o440}},
						results,
					},
				},
			},
		}}
	return append(docs, job)
}

func newK8sEmitCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "emit FILE",
		Short:  "Wait until the pod's drill ends, then print FILE (the results sidecar)",
		Hidden: true,
		Long: `The results sidecar of 'herd k8s' pods: waits until Kubernetes stops it,
which it does once the drill container has exited, then copies FILE to
standard output so that 'kubectl logs POD -c results' returns the shard's
result even after the pod has finished. Exits 1 when there is no FILE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			<-c.Context().Done()
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("no result to print: %w (see the drill's log: kubectl logs POD -c herd)", err)
			}
			defer f.Close()
			_, err = io.Copy(c.OutOrStdout(), f)
			return err
		},
	}
}
