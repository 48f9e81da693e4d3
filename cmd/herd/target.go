package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/sim/target"
)

func init() { subcommands = append(subcommands, newTargetCmd) }

func newTargetCmd() *cobra.Command {
	var (
		listen     string
		adminToken string
		faults     string
		cfg        target.Config
	)
	c := &cobra.Command{
		Use:   "target",
		Short: "Serve the reference camera cloud (herd/1), optionally with faults",
		Long: `target serves herd's reference target: a small in-memory camera cloud that
speaks herd/1 (docs/PROTOCOL.md) — provisioning, device WebSockets, the
Events tab, thumbnails and live view.

Faults are off by default. Each one is a real mechanism inside the target
that shows up only under the load that triggers it:

  stale-reply       a registry look-up that times out under a herd leaves its
                    reply on a pooled cache connection for the next caller
  shared-cache-key  Events-tab responses cached under a key without the account
  idor              app calls check the token, not that it owns what it asks for
  drop-acked        the write-behind queue acks on enqueue and drops on overflow
  dup-on-retry      de-duplication per socket: a resent event is stored twice
  live-misroute     the session table frees the wrong slot after a silent
                    reconnect, and live view reaches another device

On start it prints one line with its base URL and admin token to stdout.
SIGINT or SIGTERM closes every device socket with 1001 and exits 0.`,
		Example: `  herd target
  herd target --listen 127.0.0.1:9000 --admin-token s3cret
  herd target --fault stale-reply,drop-acked
  herd target --max-connect-rate 2000 --connect-burst 500
  herd run --target http://127.0.0.1:8080 --admin-token s3cret   # drill it from another shell`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fs, err := target.ParseFaults(faults)
			if err != nil {
				return usagef(c, fmt.Errorf("--fault: %w", err))
			}
			cfg.Faults = fs
			if adminToken == "" {
				b := make([]byte, 16)
				if _, err := rand.Read(b); err != nil {
					return err
				}
				adminToken = hex.EncodeToString(b)
			}
			cfg.AdminToken = adminToken
			srv, err := target.New(cfg)
			if err != nil {
				return usagef(c, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				srv.Close()
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "herd target listening on http://%s admin-token=%s\n", ln.Addr(), adminToken)
			fmt.Fprintf(c.ErrOrStderr(), "herd target: faults %s\n", fs)
			err = srv.Serve(c.Context(), ln)
			st := srv.Stats()
			fmt.Fprintf(c.ErrOrStderr(), "herd target: stopped: %d connects accepted, %d refused, %d events stored, %d acks, %d nacks\n",
				st.ConnectsAccepted, st.ConnectsRefused+st.ConnectsUnauthorized, st.EventsStored, st.Acks, st.Nacks)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve on (host:port; port 0 picks a free one)")
	f.StringVar(&adminToken, "admin-token", "", "bearer token of POST /v1/fleet (generated and printed when absent)")
	f.StringVar(&faults, "fault", "", "faults to switch on, comma-separated: stale-reply, shared-cache-key, idor, drop-acked, dup-on-retry, live-misroute")
	f.Float64Var(&cfg.MaxConnectRate, "max-connect-rate", 0, "token-bucket rate for upgrades, and for app calls, per second (0 = unlimited); refusals get 503 + Retry-After")
	f.IntVar(&cfg.ConnectBurst, "connect-burst", 0, "token-bucket size (default: the rate, at least 1)")
	f.DurationVar(&cfg.PingInterval, "ping-interval", target.DefaultPingInterval, "interval of target → device pings; a device silent for two intervals is dropped")
	f.DurationVar(&cfg.LiveTimeout, "live-timeout", target.DefaultLiveTimeout, "how long a live-view call waits for the device's frame")
	f.DurationVar(&cfg.LookupTimeout, "lookup-timeout", target.DefaultLookupTimeout, "registry look-up time-out of the cache client")
	f.DurationVar(&cfg.LookupService, "lookup-service", target.DefaultLookupService, "registry server's service time per look-up (sets its capacity)")
	f.IntVar(&cfg.WriteQueue, "write-queue", target.DefaultWriteQueue, "write-behind queue capacity, in events")
	f.DurationVar(&cfg.WriteCost, "write-cost", target.DefaultWriteCost, "store's cost per event write (sets the writer's capacity)")
	c.PreRunE = func(c *cobra.Command, _ []string) error {
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"ping-interval", cfg.PingInterval}, {"live-timeout", cfg.LiveTimeout}, {"lookup-timeout", cfg.LookupTimeout}, {"lookup-service", cfg.LookupService}, {"write-cost", cfg.WriteCost}} {
			if d.v <= 0 {
				return usagef(c, fmt.Errorf("--%s must be positive", d.name))
			}
		}
		if cfg.MaxConnectRate < 0 || cfg.ConnectBurst < 0 || cfg.WriteQueue <= 0 {
			return usagef(c, errors.New("--max-connect-rate and --connect-burst must not be negative, --write-queue must be positive"))
		}
		return nil
	}
	return c
}
