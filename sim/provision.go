package sim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/wire"
)

// Provision registers drill d's accounts (its segment's) with the target:
// each cell gets the accounts herd routes to it, streamed as herd/1 JSON
// Lines.
func Provision(ctx context.Context, d Drill) error {
	seg := d.segment()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for cell := range d.Target.Cells {
		g.Go(func() error { return provisionCell(ctx, d.Layout, d.Target, cell, seg) })
	}
	return g.Wait()
}

func provisionCell(ctx context.Context, l *Layout, t Target, cell int, seg Segment) error {
	pr, pw := io.Pipe()
	go func() {
		err := l.Export(pw, func(a int) bool { return seg.Owns(a) && CellOf(l.AccountID(a), len(t.Cells)) == cell })
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
	tr, err := t.httpTransport(&http.Transport{})
	if err != nil {
		pr.Close()
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Minute, Transport: tr}).Do(req)
	pr.Close()
	if err != nil {
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) {
			err = link.HandshakeFailure(err, "target") // says what to give
		}
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

// Preflight checks that the target works at all before drill d: the first
// camera of d's segment connects through the cameras' own transport and is
// welcomed as itself, and its owner can list the Events tab, which holds
// nothing of this run yet. It says what failed and what to check.
func Preflight(ctx context.Context, d Drill) error {
	if err := d.check(); err != nil {
		return err
	}
	l := d.Layout
	mine := d.Segment.Accounts(l)
	if len(mine) == 0 {
		return nil // a segment without accounts has nothing to check
	}
	acct := mine[0]
	cam, _ := l.CamerasOf(acct)
	dev := l.Device(cam)
	cell := CellOf(l.AccountID(acct), len(d.Target.Cells))
	dialer, err := newLink(d, 1, d.SourceOffset)
	if err != nil {
		return err
	}
	conn, welcome, err := dialer.Dial(ctx, link.Camera{Index: cam, Cell: cell, Device: dev, Token: l.DeviceToken(cam)}, preflightHandler{})
	if err != nil {
		where := d.Target.Cells[cell]
		if b := d.Target.Brokers; len(b) > 0 {
			where = "the broker " + b[cell%len(b)]
		}
		var lf *link.Failure
		if errors.As(err, &lf) && (lf.Class == link.ErrHTTP401 || lf.Class == link.ErrHTTPOther) {
			return fmt.Errorf("preflight: camera %s could not connect to %s: %v (was the fleet provisioned with the same --seed, --cameras and --key-file?)", dev, where, err)
		}
		return fmt.Errorf("preflight: camera %s could not connect to %s: %w", dev, where, err)
	}
	conn.Close()
	dialer.Close()
	if welcome.Device != dev || welcome.Account != l.AccountID(acct) {
		return fmt.Errorf("preflight: the target welcomed %s as device %q of account %q", dev, welcome.Device, welcome.Account)
	}

	path := wire.EventsPath(l.AccountID(acct)) + "?limit=5"
	tr, err := d.Target.httpTransport(&http.Transport{DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext})
	if err != nil {
		return err
	}
	client := newAppClient(tr)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(d.Target.Cells[cell], "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+l.UserToken(acct))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("preflight: listing %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("preflight: listing %s: status %d: %.200s", path, resp.StatusCode, body)
	}
	// Before any camera of this run has sent, its accounts hold nothing of
	// this run: events in this run's namespace mean an earlier drill used
	// the same key (and so the same names), and its events would be taken
	// for this drill's. Events of other namespaces are left to the oracle:
	// an honest target never shows them here, a leaky one may.
	var page wire.EventsPage
	if json.Unmarshal(body, &page) == nil {
		for _, ev := range page.Events {
			if strings.HasPrefix(ev.ID, l.Namespace()+".") {
				return fmt.Errorf("preflight: account %s already lists event %s before this drill began: an earlier drill used this run's key, so its events carry this run's names; make a fresh key with 'herd key' (or drop --key-file)", l.AccountID(acct), ev.ID)
			}
		}
	}
	return nil
}

// preflightHandler ignores what the preflight's connection brings.
type preflightHandler struct{}

func (preflightHandler) Message(link.Conn, []byte) {}
func (preflightHandler) Lost(link.Conn, error)     {}
