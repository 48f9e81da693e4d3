package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/herd-drill/herd/sim/wire"
)

// Provision registers the fleet with every target cell.
func (f *Fleet) Provision(ctx context.Context) error {
	return ProvisionAccounts(ctx, f.layout, f.target, func(a int) bool { return a%f.shards == f.shard })
}

// Provision registers layout l with every cell of t: each cell gets the
// accounts herd routes to it, streamed as herd/1 JSON Lines.
func Provision(ctx context.Context, l *Layout, t Target) error {
	return ProvisionAccounts(ctx, l, t, func(int) bool { return true })
}

// ProvisionAccounts registers the accounts a of l for which keep(a) is
// true (a shard's), each with its cell.
func ProvisionAccounts(ctx context.Context, l *Layout, t Target, keep func(a int) bool) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for cell := range t.Cells {
		g.Go(func() error { return provisionCell(ctx, l, t, cell, keep) })
	}
	return g.Wait()
}

func provisionCell(ctx context.Context, l *Layout, t Target, cell int, keep func(a int) bool) error {
	pr, pw := io.Pipe()
	go func() {
		err := l.Export(pw, func(a int) bool { return keep(a) && CellOf(l.AccountID(a), len(t.Cells)) == cell })
		pw.CloseWithError(err)
	}()
	url := strings.TrimSuffix(t.Cells[cell], "/") + wire.PathFleet
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		pr.Close()
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.AdminToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	pr.Close()
	if err != nil {
		return fmt.Errorf("provisioning %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		return fmt.Errorf("provisioning %s: 401: the target refused the admin token (check --admin-token)", url)
	default:
		return fmt.Errorf("provisioning %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
}

// Preflight checks that the target works at all before a drill: camera 0
// connects and is welcomed as itself, and its owner can list the Events
// tab. It says what failed and what to check.
func (f *Fleet) Preflight(ctx context.Context) error {
	if len(f.mine) == 0 {
		return nil // a shard without accounts has nothing to check
	}
	acct := f.mine[0] // this fleet's (shard's) first camera
	cam, _ := f.layout.CamerasOf(acct)
	hdr := http.Header{"Authorization": {"Bearer " + f.layout.DeviceToken(cam)}}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	dev := f.layout.Device(cam)
	conn, resp, err := f.dialer(0).DialContext(dctx, f.wsURL(acct), hdr)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("preflight: camera %s could not connect to %s: status %d (was the fleet provisioned with the same --seed, --cameras and --key-file?)", dev, f.wsURL(acct), resp.StatusCode)
		}
		return fmt.Errorf("preflight: camera %s could not connect to %s: %w", dev, f.wsURL(acct), err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(welcomeTimeout))
	_, b, err := conn.ReadMessage()
	if err != nil {
		return fmt.Errorf("preflight: no welcome from the target: %w", err)
	}
	m, err := wire.Decode(b)
	if err != nil || m.Type != wire.TypeWelcome {
		return fmt.Errorf("preflight: the target's first frame is not a herd/1 welcome: %.200q", b)
	}
	if m.Device != dev || m.Account != f.layout.AccountID(acct) {
		return fmt.Errorf("preflight: the target welcomed %s as device %q of account %q", dev, m.Device, m.Account)
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "preflight"), time.Now().Add(time.Second))

	path := wire.EventsPath(f.layout.AccountID(acct)) + "?limit=5"
	st, body, _, err := f.do(ctx, http.MethodGet, f.baseURL(acct)+path, f.layout.UserToken(acct))
	if err != nil {
		return fmt.Errorf("preflight: listing %s: %w", path, err)
	}
	if st != http.StatusOK {
		return fmt.Errorf("preflight: listing %s: status %d: %.200s", path, st, body)
	}
	// Before any camera of this run has sent, its accounts hold nothing of
	// this run: events in this run's namespace mean an earlier drill used
	// the same key (and so the same names), and its events would be taken
	// for this drill's. Events of other namespaces are left to the oracle:
	// an honest target never shows them here, a leaky one may.
	var page wire.EventsPage
	if json.Unmarshal(body, &page) == nil {
		for _, ev := range page.Events {
			if strings.HasPrefix(ev.ID, f.layout.Namespace()+".") {
				return fmt.Errorf("preflight: account %s already lists event %s before this drill began: an earlier drill used this run's key, so its events carry this run's names; make a fresh key with 'herd key' (or drop --key-file)", f.layout.AccountID(acct), ev.ID)
			}
		}
	}
	return nil
}
