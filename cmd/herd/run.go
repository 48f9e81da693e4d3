package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/backoff"
	"github.com/herd-drill/herd/sim/cloud"
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
	f.StringVar(&fl.faults, "target-fault", "", "faults of the built-in target, comma-separated: "+faultNames())
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
	f.BoolVar(&fl.provision, "provision", true, "provision the fleet first; --provision=false for a backend provisioned its own way from 'herd fleet export --key-file' with the same key")
	return c
}

func faultNames() string {
	var names []string
	for _, f := range cloud.AllFaults() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// drillSetup is a validated drill, ready to run.
type drillSetup struct {
	sc     *scenarios.Scenario
	layout *sim.Layout
}

// runKey is the run's oracle key: the shards' shared one from --key-file,
// or a fresh one. Its names (the run namespace, the fleet's tokens) derive
// from it, so a drill never meets an earlier drill's accounts.
func runKey(c *cobra.Command, keyFile string) (*oracle.Key, error) {
	if keyFile == "" {
		return oracle.NewKey()
	}
	k, err := readKeyFile(keyFile)
	if err != nil {
		return nil, usagef(c, fmt.Errorf("--key-file: %w", err))
	}
	return k, nil
}

func prepare(c *cobra.Command, name string, fl *runFlags) (*drillSetup, error) {
	sc, err := scenarios.Load(name)
	if err != nil {
		return nil, usagef(c, err)
	}
	if fl.timeScale <= 0 {
		return nil, usagef(c, fmt.Errorf("--time-scale must be positive, got %v", fl.timeScale))
	}
	if fl.timeScale != 1 {
		sc = sc.Scaled(fl.timeScale)
	}
	if c.Flags().Changed("cameras") {
		sc.Fleet.Cameras = fl.cameras
	}
	if c.Flags().Changed("seed") {
		sc.Fleet.Seed = fl.seed
	}
	if fl.policy != "" {
		if _, err := backoff.ParseKind(fl.policy); err != nil {
			return nil, usagef(c, fmt.Errorf("--policy: %w", err))
		}
		sc.Reconnect.Policy = fl.policy
	}
	if errs := sc.Validate(); len(errs) > 0 {
		return nil, usagef(c, errors.Join(errs...))
	}
	key, err := runKey(c, fl.keyFile)
	if err != nil {
		return nil, err
	}
	l, err := sim.NewLayout(sc.Fleet.Cameras, sc.Fleet.Seed, key)
	if err != nil {
		return nil, usagef(c, fmt.Errorf("--cameras: %w", err))
	}
	return &drillSetup{sc: sc, layout: l}, nil
}

// DefaultGCPercent is the garbage collector's target in herd run, unless
// GOGC is set. A fleet's heap is mostly small long-lived state per camera
// plus short-lived garbage per message; cutting the collector's headroom
// (35 rather than 100) costs a few percent of CPU and saves about a
// quarter of herd's memory per camera, which is what bounds the size of a
// fleet on one machine. (A soft memory limit per camera instead, with a
// target of 100, was tried: at 30k cameras the live stacks and heap sat
// near any limit low enough to matter, and the collector ran back to back.)
const DefaultGCPercent = 35

func runDrill(c *cobra.Command, name string, fl *runFlags) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	ctx := c.Context()
	stderr := c.ErrOrStderr()
	d, err := prepare(c, name, fl)
	if err != nil {
		return err
	}
	info := reports.TargetInfo{Faults: []string{}}
	tgt := sim.Target{AdminToken: fl.adminToken}
	embedded := fl.target == ""
	sh, err := shardOptions(c, fl, embedded)
	if err != nil {
		return err
	}
	var plan processPlan
	if sh.shards > 1 {
		// A shard runs in one process: it must fit the file budget.
		per := *d.sc
		per.Fleet.Cameras = ceilDiv(d.sc.Fleet.Cameras, sh.shards)
		if p, err := planProcesses(&per, false, 0, 0); err != nil || p.workers > 1 {
			least := ceilDiv(d.sc.Fleet.Cameras, maxPerWorker)
			return usagef(c, fmt.Errorf("a shard of %d cameras does not fit one process's open-file limit: use --shards %d or more", per.Fleet.Cameras, least))
		}
		plan = processPlan{workers: 1}
	} else if plan, err = planProcesses(d.sc, embedded, fl.workers, fl.cells); err != nil {
		return usagef(c, err)
	}

	if embedded {
		faults, err := cloud.ParseFaults(fl.faults)
		if err != nil {
			return usagef(c, fmt.Errorf("--target-fault: %w", err))
		}
		if plan.cells == 0 {
			url, stop, err := startEmbeddedTarget(cloud.Config{Faults: faults, MaxConnectRate: fl.tgtRate, ConnectBurst: fl.tgtBurst})
			if err != nil {
				return err
			}
			defer stop()
			tgt = sim.Target{Cells: []string{url.base}, AdminToken: url.token}
		} else {
			token, err := randomToken()
			if err != nil {
				return err
			}
			// On a machine the fleet shares with the target, a 25 ms look-up
			// time-out measures the CPU scheduler rather than the target:
			// the cells wait 250 ms. (herd target --cells keeps 25 ms.)
			extra := []string{"--lookup-timeout=" + cellLookupTimeout.String()}
			if fl.faults != "" {
				extra = append(extra, "--fault="+fl.faults)
			}
			if fl.tgtRate > 0 {
				// The rate is the target's: each cell takes its share.
				extra = append(extra, fmt.Sprintf("--max-connect-rate=%g", fl.tgtRate/float64(plan.cells)), fmt.Sprintf("--connect-burst=%d", max(1, fl.tgtBurst/plan.cells)))
			}
			logf(stderr, fl.quiet, "starting the built-in target as %d cell processes", plan.cells)
			g, err := startCells(ctx, plan.cells, "127.0.0.1", 0, token, extra, nil)
			if err != nil {
				return interruptedOr(ctx, err)
			}
			defer g.stop()
			tgt = sim.Target{Cells: g.urls, AdminToken: token}
		}
		info.Embedded = true
		for _, f := range cloud.AllFaults() {
			if faults.Has(f) {
				info.Faults = append(info.Faults, string(f))
			}
		}
	} else {
		if fl.faults != "" || fl.tgtRate != 0 || fl.tgtBurst != 0 {
			return usagef(c, errors.New("--target-fault and --target-max-connect-rate/--target-connect-burst apply to the built-in target only; drop --target or them"))
		}
		if fl.adminToken == "" && fl.provision {
			return usagef(c, errors.New("--target needs --admin-token (or HERD_ADMIN_TOKEN) to provision the fleet, or --provision=false for a fleet provisioned from 'herd fleet export'"))
		}
		if !fl.provision && fl.keyFile == "" {
			return usagef(c, errors.New("--provision=false needs --key-file: the backend holds the fleet 'herd fleet export --key-file' wrote, whose names and tokens derive from that key"))
		}
		for _, u := range strings.Split(fl.target, ",") {
			tgt.Cells = append(tgt.Cells, strings.TrimSpace(u))
		}
	}
	info.URLs = tgt.Cells

	opts := append([]sim.Option{sim.WithRampRate(fl.rampRate), sim.WithMaxDialing(fl.maxDialing)}, sh.opts...)
	lv, err := startLive(c, fl)
	if err != nil {
		return err
	}
	defer lv.close()
	if fl.metricsListen != "" {
		opts = append(opts, sim.WithProgressLatency())
	}
	if !fl.quiet || fl.metricsListen != "" {
		opts = append(opts, sim.WithProgress(time.Second, func(p sim.Progress) { lv.update(statusOf(p)) }))
	}
	if fl.memProfile != "" {
		opts = append(opts, sim.WithPlanEnd(func() {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			logf(stderr, false, "memprofile: heap in use %d MB, goroutine stacks %d MB, %d goroutines", ms.HeapInuse>>20, ms.StackInuse>>20, runtime.NumGoroutine())
			if err := atomicfile.Write(fl.memProfile, pprof.WriteHeapProfile); err != nil {
				logf(stderr, false, "memprofile: %v", err)
			}
		}))
	}
	if plan.workers > 1 {
		if len(sh.opts) > 0 {
			return usagef(c, errors.New("--start-at applies to a run in one process or a --shard; this fleet needs worker processes"))
		}
		return runCoordinated(c, d, tgt, info, fl, plan, lv)
	}
	fleet, err := sim.New(d.sc, d.layout, tgt, opts...)
	if err != nil {
		return usagef(c, err)
	}
	if fl.provision {
		logf(stderr, fl.quiet, "provisioning %d cameras in %d accounts (seed %d, run %s) at %s", d.layout.Cameras(), d.layout.Accounts(), d.sc.Fleet.Seed, d.layout.Namespace(), strings.Join(tgt.Cells, ","))
		if err := fleet.Provision(ctx); err != nil {
			return interruptedOr(ctx, err)
		}
	}
	if err := fleet.Preflight(ctx); err != nil {
		return interruptedOr(ctx, err)
	}
	logf(stderr, fl.quiet, "drill %s: %s of phases, policy %s", d.sc.Name, d.sc.Total().Round(time.Second), d.sc.Reconnect.Policy)
	out, err := fleet.Run(ctx)
	if err != nil {
		return err
	}
	res := reports.Build(d.sc, out, info, herdVersion())
	return finish(c, res, fl.out, &fl.reports)
}

// shardSetup is what --shard, --shards, --start-at and --key-file ask for.
type shardSetup struct {
	shard, shards int
	opts          []sim.Option
}

func shardOptions(c *cobra.Command, fl *runFlags, embedded bool) (shardSetup, error) {
	sh := shardSetup{shards: 1}
	switch {
	case fl.shard != "" && fl.shards != 0:
		return sh, usagef(c, errors.New("give --shard I/N or --shards N, not both"))
	case fl.shard != "":
		i, n, ok := strings.Cut(fl.shard, "/")
		var err1, err2 error
		sh.shard, err1 = strconv.Atoi(i)
		sh.shards, err2 = strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || sh.shards < 1 || sh.shard < 0 || sh.shard >= sh.shards {
			return sh, usagef(c, fmt.Errorf("--shard %q: want I/N with 0 <= I < N, e.g. --shard 0/4", fl.shard))
		}
	case fl.shards != 0:
		idx := os.Getenv("JOB_COMPLETION_INDEX")
		i, err := strconv.Atoi(idx)
		if fl.shards < 1 || err != nil || i < 0 || i >= fl.shards {
			return sh, usagef(c, fmt.Errorf("--shards %d takes the shard's index from JOB_COMPLETION_INDEX, which is %q: want 0 to %d (or use --shard I/N)", fl.shards, idx, fl.shards-1))
		}
		sh.shard, sh.shards = i, fl.shards
	}
	if sh.shards > 1 {
		if embedded {
			return sh, usagef(c, errors.New("--shard needs --target: the shards of a run must drill one target (start one with 'herd target')"))
		}
		if fl.keyFile == "" {
			return sh, usagef(c, errors.New("--shard needs --key-file: every shard must seal and check provenance with one key (make one with 'herd key > key.hex')"))
		}
		sh.opts = append(sh.opts, sim.WithShard(sh.shard, sh.shards))
	}
	if fl.startAt != "" {
		t, err := time.Parse(time.RFC3339, fl.startAt)
		if err != nil {
			return sh, usagef(c, fmt.Errorf("--start-at %q: want an RFC 3339 instant such as 2026-12-01T10:00:00Z", fl.startAt))
		}
		if late := time.Since(t); late > 0 {
			return sh, usagef(c, fmt.Errorf("--start-at %s is %s in the past: the shards would not start together; give a later instant", fl.startAt, late.Round(time.Second)))
		}
		sh.opts = append(sh.opts, sim.WithStart(t))
	} else if sh.shards > 1 {
		logf(c.ErrOrStderr(), fl.quiet, "warning: --shard without --start-at starts now; other shards will not be simultaneous")
	}
	return sh, nil
}

// cellLookupTimeout is the registry look-up time-out of the cells herd run
// starts for its built-in target.
const cellLookupTimeout = 250 * time.Millisecond

// runCoordinated provisions the fleet, checks the target, and runs the
// drill on worker processes.
func runCoordinated(c *cobra.Command, d *drillSetup, tgt sim.Target, info reports.TargetInfo, fl *runFlags, plan processPlan, lv *liveOutputs) error {
	ctx, stderr := c.Context(), c.ErrOrStderr()
	probe, err := sim.New(d.sc, d.layout, tgt)
	if err != nil {
		return usagef(c, err)
	}
	if fl.provision {
		logf(stderr, fl.quiet, "provisioning %d cameras in %d accounts (seed %d, run %s) at %d cells", d.layout.Cameras(), d.layout.Accounts(), d.sc.Fleet.Seed, d.layout.Namespace(), len(tgt.Cells))
		if err := sim.Provision(ctx, d.layout, tgt); err != nil {
			return interruptedOr(ctx, err)
		}
	}
	if err := probe.Preflight(ctx); err != nil {
		return interruptedOr(ctx, err)
	}
	logf(stderr, fl.quiet, "drill %s: %s of phases, policy %s", d.sc.Name, d.sc.Total().Round(time.Second), d.sc.Reconnect.Policy)
	res, err := runWorkers(c, d, tgt, info, fl, plan, lv)
	if err != nil {
		return err
	}
	return finish(c, res, fl.out, &fl.reports)
}

// finish writes the result (even a partial one) and maps the verdict to
// the exit code.
func finish(c *cobra.Command, res *reports.Result, outPath string, rf *reportFlags) error {
	var werr error
	if outPath != "" {
		if err := atomicfile.Write(outPath, func(w io.Writer) error { return reports.WriteJSON(w, res) }); err != nil {
			werr = fmt.Errorf("writing %s: %w", outPath, err)
		}
	}
	if rf != nil {
		werr = errors.Join(werr, writeReports(res, rf))
	}
	if err := reports.WriteSummary(c.OutOrStdout(), res); err != nil {
		return err
	}
	if werr != nil {
		return werr
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

type embedded struct{ base, token string }

// randomToken makes an admin token for a target nobody else reaches.
func randomToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// startEmbeddedTarget serves the reference target on a loopback port in
// this process. stop shuts it down and waits for it.
func startEmbeddedTarget(cfg cloud.Config) (embedded, func(), error) {
	token, err := randomToken()
	if err != nil {
		return embedded{}, nil, err
	}
	cfg.AdminToken = token
	srv, err := cloud.New(cfg)
	if err != nil {
		return embedded{}, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return embedded{}, nil, fmt.Errorf("starting the built-in target: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stop := func() { cancel(); <-done }
	return embedded{base: "http://" + ln.Addr().String(), token: token}, stop, nil
}
