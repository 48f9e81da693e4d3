package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/procstat"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/floor"
	"github.com/herd-drill/herd/sim/oracle"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks herd measures itself against",
	}
	c.AddCommand(newBenchFloorCmd())
	return c
}

func newBenchFloorCmd() *cobra.Command {
	var (
		targetURL, adminToken string
		cameras               int
		seed                  uint64
		provision             bool
		maxDialing            int
		processes             int
		shard                 string
		sourceOffset          int
		startAt               string
		keyFile               string
	)
	c := &cobra.Command{
		Use:   "floor",
		Short: "Bare gorilla/websocket clients: the floor herd is measured against",
		Long: `Open --cameras plain WebSocket clients against a herd/1 target, each of which
connects, reads its welcome, sends one event, waits for its ack and holds
the socket; then print the connect rate and the memory per socket as JSON.
Run it against a target in another process ('herd target', or 'herd target
--cells N' for large fleets; --target takes the cells' URLs comma-separated
and routes by the cell rule) so that the memory figure is the clients'
alone. A fleet larger than one process's open-file budget is spread over
--processes processes (by default as many as needed), each dialing from its
own loopback source addresses, all starting on one instant.
scripts/floor-vs-herd.sh runs it and 'herd run' side by side.`,
		Example: `  herd target --listen 127.0.0.1:18080 --admin-token secret &
  herd bench floor --target http://127.0.0.1:18080 --admin-token secret --cameras 10000
  herd target --cells 8 --listen 127.0.0.1:18080 --admin-token secret &
  herd bench floor --target http://127.0.0.1:18080,http://127.0.0.1:18081,... --admin-token secret --cameras 100000`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if targetURL == "" {
				return usagef(c, fmt.Errorf("--target is required (start one with 'herd target')"))
			}
			// The floor's fleet is a run of its own; its processes share the
			// key through a file the first one writes.
			key, err := runKey(c, keyFile)
			if err != nil {
				return err
			}
			l, err := sim.NewLayout(cameras, seed, key)
			if err != nil {
				return usagef(c, err)
			}
			cells := strings.Split(targetURL, ",")
			limit := int(procstat.RaiseFileLimit())
			ctx := c.Context()
			stderr := c.ErrOrStderr()
			if shard == "" && processes == 0 {
				processes = ceilDiv(cameras, min(maxPerWorker, max(limit-fileSlack, 1000)))
			}
			if provision && shard == "" {
				if err := sim.Provision(ctx, l, sim.Target{Cells: cells, AdminToken: adminToken}); err != nil {
					return err
				}
			}
			if shard == "" && processes > 1 {
				res, err := floorProcesses(c, cameras, seed, targetURL, processes, maxDialing, key)
				if err != nil {
					return interruptedOr(ctx, err)
				}
				return printFloor(c.OutOrStdout(), res)
			}
			cfg := floor.Config{
				Targets: cells, Cell: func(i int) int { return sim.CellOf(l.Account(i), len(cells)) },
				Cameras: cameras, MaxDialing: maxDialing, SourceOffset: sourceOffset,
				Device: l.Device, Token: l.DeviceToken,
				Progress: func(n, total int) { fmt.Fprintf(stderr, "herd: floor: %d/%d connected\n", n, total) },
			}
			if shard != "" {
				i, n, ok := strings.Cut(shard, "/")
				si, err1 := strconv.Atoi(i)
				sn, err2 := strconv.Atoi(n)
				if !ok || err1 != nil || err2 != nil || sn < 1 || si < 0 || si >= sn {
					return usagef(c, fmt.Errorf("--shard %q: want I/N", shard))
				}
				for a := si; a < l.Accounts(); a += sn {
					first, end := l.CamerasOf(a)
					for cam := first; cam < end; cam++ {
						cfg.Only = append(cfg.Only, cam)
					}
				}
				cfg.Progress = nil
			}
			if startAt != "" {
				t, err := time.Parse(time.RFC3339Nano, startAt)
				if err != nil {
					return usagef(c, fmt.Errorf("--start-at: %w", err))
				}
				cfg.Start = t
			}
			res, err := floor.Run(ctx, cfg)
			if err != nil {
				return interruptedOr(ctx, err)
			}
			return printFloor(c.OutOrStdout(), res)
		},
	}
	f := c.Flags()
	f.StringVar(&targetURL, "target", "", "base URL of the target (comma-separated for cells)")
	f.StringVar(&adminToken, "admin-token", "", "admin token of the target, to provision the fleet")
	f.IntVar(&cameras, "cameras", 1000, "sockets to open")
	f.Uint64Var(&seed, "seed", 1, "fleet seed (the same fleet herd run would provision)")
	f.BoolVar(&provision, "provision", true, "provision the fleet first")
	f.IntVar(&maxDialing, "max-dialing", floor.DefaultMaxDialing, "sockets in the handshake at once (split between processes)")
	f.IntVar(&processes, "processes", 0, "processes to spread the sockets over (default: as many as the open-file limit needs)")
	f.StringVar(&shard, "shard", "", "open only the sockets of shard I/N (for the processes of one floor run)")
	f.IntVar(&sourceOffset, "source-offset", 0, "skip this many loopback source addresses")
	f.StringVar(&startAt, "start-at", "", "start dialing at this RFC 3339 instant")
	f.StringVar(&keyFile, "key-file", "", "the floor run's key (default: a fresh one)")
	_ = f.MarkHidden("key-file")
	_ = f.MarkHidden("shard")
	_ = f.MarkHidden("source-offset")
	_ = f.MarkHidden("start-at")
	return c
}

func printFloor(w io.Writer, res floor.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		floor.Result
		ElapsedS float64 `json:"elapsed_s"`
	}{res, res.Elapsed.Round(time.Millisecond).Seconds()})
}

// floorProcesses runs the floor as n processes of this binary, each the
// shard of accounts a mod n, starting on one instant, and sums them.
func floorProcesses(c *cobra.Command, cameras int, seed uint64, target string, n, maxDialing int, key *oracle.Key) (floor.Result, error) {
	start := time.Now().Add(time.Duration(n)*300*time.Millisecond + 2*time.Second)
	dir, err := os.MkdirTemp("", "herd-floor-")
	if err != nil {
		return floor.Result{}, err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key.Bytes())+"\n"), 0o600); err != nil {
		return floor.Result{}, err
	}
	var kids []*child
	outs := make([][]byte, n)
	var wg sync.WaitGroup
	offset := 0
	per := ceilDiv(cameras, n)
	for i := 0; i < n; i++ {
		args := []string{"bench", "floor", "--provision=false", "--target", target, fmt.Sprintf("--cameras=%d", cameras), fmt.Sprintf("--seed=%d", seed),
			fmt.Sprintf("--shard=%d/%d", i, n), fmt.Sprintf("--source-offset=%d", offset), "--start-at", start.Format(time.RFC3339Nano),
			fmt.Sprintf("--max-dialing=%d", max(minDialingPerWorker, maxDialing/n)), "--key-file=" + keyFile}
		offset += ceilDiv(per, floor.DefaultPerSource) + 1
		ch, err := startChild(fmt.Sprintf("floor %d", i), args, nil, c.ErrOrStderr())
		if err != nil {
			return floor.Result{}, err
		}
		kids = append(kids, ch)
		wg.Go(func() {
			var b []byte
			for ch.lines.Scan() {
				b = append(append(b, ch.lines.Bytes()...), '\n')
			}
			outs[i] = b
		})
	}
	fmt.Fprintf(c.ErrOrStderr(), "herd: floor: %d cameras over %d processes, starting together at %s\n", cameras, n, start.Format(time.TimeOnly))
	wg.Wait()
	var sum floor.Result
	for i, ch := range kids {
		<-ch.done
		var r floor.Result
		if err := json.Unmarshal(outs[i], &r); err != nil {
			return sum, fmt.Errorf("floor process %d: %s", i, ch.failure())
		}
		sum.Cameras += r.Cameras
		sum.Connected += r.Connected
		sum.Acked += r.Acked
		sum.Failed += r.Failed
		sum.RSSBytes += r.RSSBytes
		sum.BaseRSSBytes += r.BaseRSSBytes
		if sum.Started.IsZero() || r.Started.Before(sum.Started) {
			sum.Started = r.Started
		}
		if r.Ended.After(sum.Ended) {
			sum.Ended = r.Ended
		}
	}
	sum.Elapsed = sum.Ended.Sub(sum.Started)
	if sum.Elapsed > 0 {
		sum.ConnectsPerSec = float64(sum.Connected) / sum.Elapsed.Seconds()
	}
	if sum.Acked > 0 {
		sum.RSSPerConnKB = float64(sum.RSSBytes-sum.BaseRSSBytes) / float64(sum.Acked) / 1024
	}
	return sum, nil
}
