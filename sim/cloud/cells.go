package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/herd-drill/herd/internal/procs"
)

// Cells is the reference target run as cell processes of herd's own
// binary ('herd target' each), for fleets that do not fit one process's
// open files. An account lives in cell FNV-1a-32(account id) mod N (herd's
// cell routing rule); herd provisions and routes each account to its cell.
type Cells struct {
	*procs.Group
	URLs    []string // the cells' base URLs, in cell order
	Brokers []string // their MQTT brokers (mqtt://), when they serve one
}

// CellReady is what a cell says once it listens: where.
type CellReady struct {
	URL    string `json:"url"`
	Broker string `json:"broker,omitempty"` // mqtt://host:port, with --mqtt-listen
}

// StartCells starts n cells on consecutive ports from listen's (host:port;
// port 0 puts each on a free port), all with one admin token, and waits
// until each has said where it listens. extra are further 'herd target'
// flags (faults, limits); forward, when set, gets their stderr.
func StartCells(ctx context.Context, n int, listen, token string, extra []string, forward io.Writer) (*Cells, error) {
	host, basePort, err := cellPorts(listen, n)
	if err != nil {
		return nil, err
	}
	specs := make([]procs.Spec, n)
	for i := range specs {
		port := 0
		if basePort != 0 {
			port = basePort + i
		}
		specs[i] = procs.Spec{Name: fmt.Sprintf("cell %d", i), Args: append([]string{"target", "--listen", fmt.Sprintf("%s:%d", host, port)}, extra...),
			Env: []string{"HERD_ADMIN_TOKEN=" + token}, Forward: forward}
	}
	g, err := procs.StartGroup(specs)
	if err != nil {
		return nil, err
	}
	ready, err := g.Ready(ctx, 30*time.Second)
	if err != nil {
		g.Stop(time.Second)
		return nil, err
	}
	cells := &Cells{Group: g}
	for i, raw := range ready {
		var r CellReady
		if raw == nil || json.Unmarshal(raw, &r) != nil || r.URL == "" {
			g.Stop(time.Second)
			return nil, fmt.Errorf("target cell %d did not start: %s", i, g.Children[i].Failure())
		}
		cells.URLs = append(cells.URLs, r.URL)
		if r.Broker != "" {
			cells.Brokers = append(cells.Brokers, r.Broker)
		}
	}
	return cells, nil
}

// CheckListen says whether n cells can listen on consecutive ports from
// listen's.
func CheckListen(listen string, n int) error {
	_, _, err := cellPorts(listen, n)
	return err
}

func cellPorts(listen string, n int) (host string, base int, err error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("--listen %q: %w", listen, err)
	}
	base, err = strconv.Atoi(portText)
	if err != nil || base < 0 || base+n-1 > 65535 {
		return "", 0, fmt.Errorf("--listen %q: with %d cells the ports %s..%d must all be valid", listen, n, portText, base+n-1)
	}
	return host, base, nil
}

// ServeLoopback serves a target of cfg on a free loopback port in this
// process, and returns its base URL, its broker's URL (with withMQTT: its
// embedded broker on another free port) and how to stop it (stop waits
// until it has).
func ServeLoopback(cfg Config, withMQTT bool) (url, broker string, stop func(), err error) {
	srv, err := New(cfg)
	if err != nil {
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return "", "", nil, fmt.Errorf("starting the built-in target: %w", err)
	}
	var mln net.Listener
	if withMQTT {
		if mln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			ln.Close()
			srv.Close()
			return "", "", nil, fmt.Errorf("starting the built-in target's broker: %w", err)
		}
		broker = "mqtt://" + mln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- srv.Serve(ctx, ln) }()
	if mln != nil {
		go func() { done <- srv.ServeMQTT(ctx, mln) }()
	}
	return "http://" + ln.Addr().String(), broker, func() {
		cancel()
		<-done
		if mln != nil {
			<-done
		}
	}, nil
}

// Wait waits until ctx ends or a cell dies, then stops every cell; a cell
// that died is the error.
func (c *Cells) Wait(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Stop(15 * time.Second)
			return nil
		case <-tick.C:
			if dead := c.Dead(); len(dead) > 0 {
				c.Stop(15 * time.Second)
				return fmt.Errorf("a target cell died, stopping the others: %s", strings.Join(dead, "; "))
			}
		}
	}
}
