package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/engine"
	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/oracle"
)

func init() { subcommands = append(subcommands, newRunCmd) }

type runFlags struct {
	target        string
	adminToken    string
	faults        string
	cameras       int
	policy        string
	seed          uint64
	out           string
	timeScale     float64
	rampRate      float64
	quiet         bool
	progressInt   time.Duration
	maxDialing    int
	memProfile    string
	workers       int
	cells         int
	parts         string
	shard         string
	shards        int
	startAt       string
	keyFile       string
	tgtRate       float64
	tgtBurst      int
	reports       reportFlags
	metricsListen string
	provision     bool
	transport     string
	brokers       string
	mqttVersion   string
	tls           link.TLS
}

func newRunCmd() *cobra.Command {
	var fl runFlags
	c := &cobra.Command{
		Use:   "run [SCENARIO|FILE]",
		Short: "Run a thundering-herd drill",
		Long: `Run a drill: provision a seeded fleet of simulated cameras, connect them,
run the scenario's phases (steady state, outage, everyone reconnecting at
once), let app users open their Events tab, then audit every account. The
oracle checks every event, thumbnail and frame that comes back.

With no --target, herd starts its reference target on loopback itself, so
'herd run' alone runs a complete drill. SCENARIO is a built-in name (see
'herd scenarios') or a YAML file; the default is aws-outage.

Exit codes: 0 pass, 1 runtime error, 2 bad usage or scenario, 3 thresholds
or violations failed, 130 interrupted (partial results are still written).`,
		Example: `  herd run
  herd run --cameras 5000 --policy immediate --out result.json
  herd run --html report.html --junit junit.xml
  herd run --target-fault stale-reply --policy immediate
  herd run az-outage --time-scale 0.5
  herd run my-drill.yaml --target http://10.0.0.5:8080 --admin-token "$TOKEN"
  herd run --shard 1/4 --key-file key.hex --start-at 2026-12-01T10:00:00Z --target http://10.0.0.5:8080 --out shard-1.json
  herd fleet export --key-file key.hex --cameras 5000 > fleet.jsonl   # provision your backend from this, then:
  herd run --key-file key.hex --cameras 5000 --provision=false --target http://10.0.0.5:8080`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			name := scenarios.Default
			if len(args) == 1 {
				name = args[0]
			}
			return runDrill(c, name, &fl)
		},
	}
	f := c.Flags()
	f.StringVar(&fl.target, "target", "", "base URL of the target (comma-separated for cells); default: start the built-in target on loopback")
	f.StringVar(&fl.adminToken, "admin-token", os.Getenv("HERD_ADMIN_TOKEN"), "admin token of --target, for provisioning (env HERD_ADMIN_TOKEN)")
	f.StringVar(&fl.faults, "target-fault", "", "faults of the built-in target, comma-separated: "+cloud.FaultNames())
	f.IntVar(&fl.cameras, "cameras", 0, "number of cameras (default: the scenario's)")
	f.StringVar(&fl.policy, "policy", "", "reconnect policy (default: the scenario's): immediate, fixed, exponential, full-jitter, equal-jitter, decorrelated-jitter")
	f.Uint64Var(&fl.seed, "seed", 0, "fleet seed (default: the scenario's)")
	f.StringVar(&fl.out, "out", "", "write the herd.result/v1 JSON here (atomically)")
	f.Float64Var(&fl.timeScale, "time-scale", 1, "multiply every scenario duration by this (e.g. 0.2 for a quick CI drill)")
	f.Float64Var(&fl.rampRate, "ramp-rate", sim.DefaultRampRate, "connects per second while the fleet first connects")
	f.IntVar(&fl.maxDialing, "max-dialing", sim.DefaultMaxDialing, "cameras in the connect handshake at once (split between worker processes)")
	f.BoolVar(&fl.quiet, "quiet", false, "no progress lines on stderr")
	f.StringVar(&fl.memProfile, "memprofile", "", "write a heap profile here when the last phase ends (for herd's own benchmarks)")
	_ = f.MarkHidden("memprofile")
	f.DurationVar(&fl.progressInt, "progress-every", live.DefaultEvery, "interval of progress lines when stderr is not a terminal (on a terminal the status refreshes every second)")
	f.StringVar(&fl.metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics during the drill (e.g. 127.0.0.1:9464)")
	f.IntVar(&fl.workers, "workers", 0, "fleet worker processes (default: as many as the open-file limit needs)")
	f.IntVar(&fl.cells, "cells", 0, "built-in target cell processes (default: as many as the open-file limit needs)")
	f.StringVar(&fl.parts, "parts", "", "with worker processes, also keep each worker's own result in this directory")
	f.StringVar(&fl.shard, "shard", "", "run shard I of N of the fleet (I/N, from 0), for runs on several machines; merge the results with 'herd merge'")
	f.IntVar(&fl.shards, "shards", 0, "run one of N shards, its index from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)")
	f.StringVar(&fl.startAt, "start-at", "", "start at this RFC 3339 instant (shards of one run share it, so the herd is simultaneous)")
	f.Float64Var(&fl.tgtRate, "target-max-connect-rate", 0, "the built-in target's admission: upgrades and app calls per second (0 = unlimited), as herd target --max-connect-rate")
	f.IntVar(&fl.tgtBurst, "target-connect-burst", 0, "the built-in target's token-bucket size, as herd target --connect-burst")
	addReportFlags(f, &fl.reports)
	f.StringVar(&fl.keyFile, "key-file", "", "the run's key (hex, from 'herd key'), shared by its shards and by 'herd fleet export'; default: a fresh one")
	f.StringVar(&fl.transport, "transport", "", "the cameras' transport: ws (herd/1 over WebSocket) or mqtt (over MQTT; with no --target, on the built-in target's embedded broker); default ws, or mqtt with --broker")
	f.StringVar(&fl.brokers, "broker", "", "the target's MQTT broker (mqtt://, mqtts://, ws://HOST:PORT/mqtt or wss://; comma-separated, one per cell): cameras connect there, the app channel stays on --target")
	f.StringVar(&fl.mqttVersion, "mqtt-version", "5", "MQTT protocol version of the cameras: 5 or 3.1.1")
	f.StringVar(&fl.tls.CAFile, "ca-file", "", "PEM CA certificates to trust for a TLS target or broker (https://, mqtts://, wss://; a private CA; default: the system's)")
	f.BoolVar(&fl.tls.Insecure, "insecure-skip-verify", false, "do not verify a TLS target's or broker's certificate (a lab only)")
	f.StringVar(&fl.tls.CertDir, "client-certs", "", "directory of DEVICE.crt/DEVICE.key ('herd fleet export --certs'): each camera presents its own to a TLS broker or target")
	f.BoolVar(&fl.provision, "provision", true, "provision the fleet first; --provision=false for a backend provisioned its own way from 'herd fleet export --key-file' with the same key")
	return c
}

// runScenario loads name and applies --time-scale, --cameras, --seed and
// --policy.
func runScenario(c *cobra.Command, name string, fl *runFlags) (*scenarios.Scenario, error) {
	sc, err := scenarios.Load(name)
	if err != nil {
		return nil, usagef(c, err)
	}
	o := scenarios.Override{TimeScale: fl.timeScale, Policy: fl.policy}
	if c.Flags().Changed("cameras") {
		o.Cameras = &fl.cameras
	}
	if c.Flags().Changed("seed") {
		o.Seed = &fl.seed
	}
	if sc, err = sc.With(o); err != nil {
		return nil, usagef(c, err)
	}
	return sc, nil
}

func runDrill(c *cobra.Command, name string, fl *runFlags) error {
	ctx := c.Context()
	sc, err := runScenario(c, name, fl)
	if err != nil {
		return err
	}
	key, err := oracle.RunKey(fl.keyFile)
	if err != nil {
		return usagef(c, err)
	}
	embedded := fl.target == ""
	if fl.workers < 0 || fl.cells < 0 {
		return usagef(c, fmt.Errorf("--workers %d, --cells %d: want 0 (as many as needed) or more", fl.workers, fl.cells))
	}
	tgt, err := sim.TargetOf(sim.TargetFlags{Transport: fl.transport, Brokers: fl.brokers, MQTTVersion: fl.mqttVersion, AdminToken: fl.adminToken,
		Embedded: embedded, Builtin: fl.faults != "" || fl.tgtRate != 0 || fl.tgtBurst != 0, Provision: fl.provision, Keyed: fl.keyFile != "", TLS: fl.tls})
	if err != nil {
		return usagef(c, err)
	}
	d, err := sim.NewDrill(sc, key, tgt)
	if err != nil {
		return usagef(c, fmt.Errorf("--cameras: %w", err))
	}
	d.RampRate, d.MaxDialing = fl.rampRate, fl.maxDialing
	log := func(format string, args ...any) { logf(c.ErrOrStderr(), fl.quiet, format, args...) }
	sh := sim.Sharding{Shard: fl.shard, Shards: fl.shards, Index: os.Getenv("JOB_COMPLETION_INDEX"), StartAt: fl.startAt, Embedded: embedded, Keyed: fl.keyFile != ""}
	if warning, err := sh.Apply(&d, time.Now()); err != nil {
		return usagef(c, err)
	} else if warning != "" {
		log("%s", warning)
	}
	files := fl.reports.files()
	files.JSON = fl.out
	if err := files.Check(); err != nil {
		return usagef(c, err)
	}
	if err := atomicfile.CheckDir(fl.parts); fl.parts != "" && err != nil {
		return usagef(c, fmt.Errorf("--parts %s: cannot write there: %w", fl.parts, err))
	}
	r := engine.Run{Drill: d, Provision: fl.provision, Parts: fl.parts, Latency: fl.metricsListen != "", Log: log, Version: herdVersion(), Evidence: fl.reports.evidence,
		PlanEnd: engine.HeapProfile(fl.memProfile, func(format string, args ...any) { logf(c.ErrOrStderr(), false, format, args...) })}
	budget, err := procs.FileBudget()
	if err != nil {
		return usagef(c, err)
	}
	if !d.Segment.IsWhole() {
		err = sim.CheckShard(budget, d) // a shard runs in one process
	} else {
		r.Processes, err = sim.PlanProcesses(budget, sc, embedded, fl.workers, fl.cells)
	}
	if err != nil {
		return usagef(c, err)
	}
	if embedded {
		faults, err := cloud.ParseFaults(fl.faults)
		if err != nil {
			return usagef(c, fmt.Errorf("--target-fault: %w", err))
		}
		r.Builtin = &engine.Builtin{MQTT: fl.transport == "mqtt", Faults: faults, MaxConnectRate: fl.tgtRate, ConnectBurst: fl.tgtBurst}
	} else {
		for _, u := range strings.Split(fl.target, ",") {
			r.Drill.Target.Cells = append(r.Drill.Target.Cells, strings.TrimSpace(u))
		}
	}
	lv, err := live.Start(ctx, c.ErrOrStderr(), fl.progressInt, fl.quiet, fl.metricsListen)
	if err != nil {
		return usagef(c, err)
	}
	defer lv.Close()
	if lv.Addr != "" {
		log("serving Prometheus metrics at http://%s/metrics", lv.Addr)
	}
	r.Progress = lv.Update
	res, err := r.Do(ctx)
	if res == nil {
		return interruptedOr(ctx, err)
	}
	files.Evidence = "" // the drill wrote every record there itself
	if ferr := finish(c, res, files); err == nil {
		return ferr
	}
	return err // a drill that did not run: its result says why, and so does the exit status
}

// finish writes the result (even a partial one), its reports and its
// summary (reports.Deliver), and maps the verdict to the exit code.
func finish(c *cobra.Command, res *reports.Result, files reports.Files) error {
	if err := reports.Deliver(c.OutOrStdout(), res, files); err != nil {
		return err
	}
	switch {
	case res.Interrupted:
		return exitcode.With(exitcode.Interrupted, nil)
	case res.Verdict != reports.Pass:
		return exitcode.With(exitcode.Failed, nil)
	}
	return nil
}

func interruptedOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return exitcode.With(exitcode.Interrupted, errors.New("interrupted"))
	}
	return err
}

func logf(w io.Writer, quiet bool, format string, args ...any) {
	if !quiet {
		fmt.Fprintf(w, "herd: "+format+"\n", args...)
	}
}
