package sim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
)

// A target that sheds every Events-tab call once the drill's phases are
// over would keep the audit retrying account after account; the audit
// gives up after its stall time-out, counts the accounts it never read,
// and the run ends by itself.
func TestAuditGivesUpOnATargetThatStopsAnswering(t *testing.T) {
	srv, err := cloud.New(cloud.Config{AdminToken: "test-admin"})
	if err != nil {
		t.Fatal(err)
	}
	var shed atomic.Bool
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if shed.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events") {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"shedding"}`, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close() // closes the device sockets first: the test server waits for none
		ts.Close()
	})

	const stall = 300 * time.Millisecond
	out := drillAt(t, ts.URL, scenario("immediate", scenarios.ModeReset, ""), 60,
		sim.WithPlanEnd(func() { shed.Store(true) }), sim.WithAuditStall(stall))
	a := out.Audit
	if !a.Done || !a.GaveUp || a.Accounts == 0 || a.FailedAccounts != a.Accounts || a.Events != 0 {
		t.Errorf("audit %+v: want it done, given up, with all %d accounts unread", a, a.Accounts)
	}
	if out.Counts[sim.CountEventsAcked] == 0 {
		t.Error("no event acked before the target stopped answering")
	}
}
