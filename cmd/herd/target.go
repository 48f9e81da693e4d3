package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/sim/cloud"
)

func init() { subcommands = append(subcommands, newTargetCmd) }

func newTargetCmd() *cobra.Command {
	var (
		listen     string
		adminToken string
		faults     string
		cells      int
		cfg        cloud.Config
		mq         cloud.DeviceChannel
	)
	c := &cobra.Command{
		Use:   "target",
		Short: "Serve the reference camera cloud (herd/1), optionally with faults",
		Long: `target serves herd's reference target: a small in-memory camera cloud that
speaks herd/1 (docs/PROTOCOL.md) — provisioning, device WebSockets, the
Events tab, thumbnails and live view.

Faults are off by default. Each one is a real mechanism inside the target
that shows up only under the load that triggers it:

` + cloud.FaultTable() + `
On start it prints one line with its base URL and admin token to stdout.
SIGINT or SIGTERM closes every device socket with 1001 and exits 0.

With --cells N it runs N target processes on consecutive ports from
--listen's, one admin token for all, and prints their URLs as one
comma-separated list for 'herd run --target'. Cell routing rule: an account
lives in cell FNV-1a-32(account id) mod N; herd routes by the same rule, and
provisioning sends each account to its cell only. Each cell is a process
with its own file limit, so N cells hold N times the sockets.`,
		Example: `  herd target
  herd target --listen 127.0.0.1:9000 --admin-token s3cret
  herd target --fault stale-reply,drop-acked
  herd target --max-connect-rate 2000 --connect-burst 500
  herd target --cells 4 --listen 127.0.0.1:8080          # cells on 8080..8083
  herd run --target http://127.0.0.1:8080 --admin-token s3cret   # drill it from another shell`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fs, err := cloud.ParseFaults(faults)
			if err != nil {
				return usagef(c, fmt.Errorf("--fault: %w", err))
			}
			cfg.Faults = fs
			if adminToken == "" {
				if adminToken, err = cloud.NewToken(); err != nil {
					return err
				}
			}
			cfg.AdminToken = adminToken
			if cells > 1 {
				return serveCells(c, cells, listen, adminToken)
			}
			srv, err := cloud.New(cfg)
			if err != nil {
				return usagef(c, err)
			}
			ln, url, err := mq.ListenHTTP(listen)
			if err != nil {
				srv.Close()
				return err
			}
			mln, broker, err := mq.Listen()
			if err != nil {
				ln.Close()
				srv.Close()
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "herd target listening on %s admin-token=%s%s\n", url, adminToken, brokerNote(broker))
			fmt.Fprintf(c.ErrOrStderr(), "herd target: faults %s\n", fs)
			if p, ok := procs.FromParent(c.InOrStdin()); ok {
				p.Ready(cloud.CellReady{URL: url, Broker: broker}) // a cell of a herd run: tell it where
			}
			err = mq.Serve(c.Context(), srv, ln, mln)
			st := srv.Stats()
			fmt.Fprintf(c.ErrOrStderr(), "herd target: stopped: %d connects accepted, %d refused, %d events stored, %d acks, %d nacks\n",
				st.ConnectsAccepted, st.ConnectsRefused+st.ConnectsUnauthorized, st.EventsStored, st.Acks, st.Nacks)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve on (host:port; port 0 picks a free one)")
	f.StringVar(&adminToken, "admin-token", os.Getenv("HERD_ADMIN_TOKEN"), "bearer token of POST /v1/fleet (env HERD_ADMIN_TOKEN; generated and printed when absent)")
	f.IntVar(&cells, "cells", 1, "run this many target processes on consecutive ports (see the cell routing rule above)")
	mq.AddFlags(f)
	f.StringVar(&faults, "fault", "", "faults to switch on, comma-separated: "+cloud.FaultNames())
	f.Float64Var(&cfg.MaxConnectRate, "max-connect-rate", 0, "token-bucket rate for upgrades, and for app calls, per second (0 = unlimited); refusals get 503 + Retry-After")
	f.IntVar(&cfg.ConnectBurst, "connect-burst", 0, "token-bucket size (default: the rate, at least 1)")
	f.DurationVar(&cfg.PingInterval, "ping-interval", cloud.DefaultPingInterval, "interval of target → device pings; a device silent for two intervals is dropped")
	f.DurationVar(&cfg.LiveTimeout, "live-timeout", cloud.DefaultLiveTimeout, "how long a live-view call waits for the device's frame")
	f.DurationVar(&cfg.LookupTimeout, "lookup-timeout", cloud.DefaultLookupTimeout, "registry look-up time-out of the cache client (use 250ms when a large fleet runs on the same machine)")
	f.DurationVar(&cfg.LookupService, "lookup-service", cloud.DefaultLookupService, "registry server's service time per look-up (sets its capacity)")
	f.IntVar(&cfg.WriteQueue, "write-queue", cloud.DefaultWriteQueue, "write-behind queue capacity, in events")
	f.DurationVar(&cfg.WriteCost, "write-cost", cloud.DefaultWriteCost, "store's cost per event write (sets the writer's capacity)")
	c.PreRunE = func(c *cobra.Command, _ []string) error {
		err := errors.Join(cfg.CheckFlags(), cloud.CheckListen(listen, cells), mq.Check(cells))
		if cells < 1 || cells > maxCells {
			err = errors.Join(err, fmt.Errorf("--cells must be 1 to %d, got %d", maxCells, cells))
		}
		if err != nil {
			return usagef(c, err)
		}
		return nil
	}
	return c
}

// maxCells bounds --cells: each cell is a process.
const maxCells = 256

// serveCells runs n target cells as processes on consecutive ports from
// listen's and waits for a signal; a cell that dies ends them all.
func serveCells(c *cobra.Command, n int, listen, token string) error {
	var extra []string
	c.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "cells", "listen", "admin-token", "broker-password":
		default:
			extra = append(extra, "--"+f.Name+"="+f.Value.String())
		}
	})
	ctx := c.Context()
	g, err := cloud.StartCells(ctx, n, listen, token, extra, c.ErrOrStderr())
	if err != nil {
		return interruptedOr(ctx, err)
	}
	fmt.Fprintf(c.OutOrStdout(), "herd target listening on %s admin-token=%s%s\n", strings.Join(g.URLs, ","), token, brokerNote(strings.Join(g.Brokers, ",")))
	return g.Wait(ctx)
}

func brokerNote(broker string) string {
	if broker == "" {
		return ""
	}
	return " mqtt=" + broker
}
