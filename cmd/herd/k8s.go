package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/k8s"
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

type k8sFlags struct {
	k8s.Drill
	startAt    string
	startDelay time.Duration
	cameras    int
	seed       uint64
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
				fl.RunArgs = args[dash:]
				args = args[:dash]
			}
			if len(args) == 1 {
				name = args[0]
			}
			fl.HerdVersion = herdVersion()
			if c.Flags().Changed("start-at") && c.Flags().Changed("start-delay") {
				return usagef(c, errors.New("give --start-at or --start-delay, not both"))
			}
			return writeK8s(c, name, &fl, time.Now())
		},
	}
	f := c.Flags()
	f.IntVar(&fl.Shards, "shards", 0, "number of shards: pods of the Indexed Job, each running its slice of the fleet (required)")
	f.StringVar(&fl.Image, "image", "", "container image with herd on its PATH (required)")
	f.StringVar(&fl.Name, "name", DefaultK8sName, "name of the Job; the ConfigMap and Secrets are named after it")
	f.StringVar(&fl.Namespace, "namespace", "", "namespace of every object (default: kubectl's current namespace)")
	f.StringVar(&fl.Target, "target", "", "base URL of the target, comma-separated for cells, as the pods reach it (required)")
	f.StringVar(&fl.TokenSecret, "admin-token-secret", "", "existing Secret holding the target's admin token under the key '"+k8s.TokenSecretKey+"'")
	f.StringVar(&fl.AdminToken, "admin-token", "", "the target's admin token, written into a Secret of the manifest (prefer --admin-token-secret)")
	f.StringVar(&fl.KeySecret, "key-secret", "", "existing Secret holding the run's key (hex) under the key '"+k8s.KeySecretKey+"' (default: generate one into the manifest)")
	f.StringVar(&fl.ResultsPVC, "results-pvc", "", "PersistentVolumeClaim for the results (default: an emptyDir, collected with kubectl logs)")
	f.StringVar(&fl.startAt, "start-at", "", "RFC 3339 instant at which every shard starts its schedule (default: now + --start-delay)")
	f.DurationVar(&fl.startDelay, "start-delay", DefaultK8sStartDelay, "time from now to the shared start, for pods to be scheduled and pull the image")
	f.IntVar(&fl.cameras, "cameras", 0, "cameras in the whole fleet, across shards (default: the scenario's)")
	f.Uint64Var(&fl.seed, "seed", 0, "fleet seed (default: the scenario's)")
	f.StringVar(&fl.CPU, "cpu", DefaultK8sCPU, "CPU request and limit of each shard (a Kubernetes quantity; empty for none)")
	f.StringVar(&fl.Memory, "memory", DefaultK8sMemory, "memory request and limit of each shard (a Kubernetes quantity; empty for none)")
	c.AddCommand(newK8sEmitCmd())
	return c
}

func writeK8s(c *cobra.Command, name string, fl *k8sFlags, now time.Time) error {
	d := fl.Drill
	err := d.Check()
	if c.Flags().Changed("cameras") && fl.cameras < 1 {
		err = errors.Join(err, fmt.Errorf("--cameras %d: want at least 1", fl.cameras))
	}
	if err != nil {
		return usagef(c, err)
	}
	sc, err := scenarios.Load(name)
	if err != nil {
		return invalidScenario(c, name, err)
	}
	var cameras *int
	var seed *uint64
	if c.Flags().Changed("cameras") {
		cameras = &fl.cameras
	}
	if c.Flags().Changed("seed") {
		seed = &fl.seed
	}
	if _, err := d.SetScenario(sc, cameras, seed); err != nil {
		return usagef(c, err)
	}
	if err := d.SetStart(fl.startAt, fl.startDelay, now); err != nil {
		return usagef(c, err)
	}
	if d.KeySecret == "" {
		if d.Key, err = oracle.NewKeyText(); err != nil {
			return fmt.Errorf("generating the run's key: %w", err)
		}
	}
	if err := d.Write(c.OutOrStdout()); err != nil {
		return err
	}
	for _, w := range d.Warnings(now) {
		logf(c.ErrOrStderr(), false, "%s", w)
	}
	return nil
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
