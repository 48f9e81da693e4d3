package cloud

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/herd-drill/herd/sim/wire"
)

// FuzzProvision: POST /v1/fleet answers 204 or 400 to any body, never
// panics, and a rejected body changes nothing.
func FuzzProvision(f *testing.F) {
	f.Add(fleetBody(fleetOf(2, 2)))
	f.Add([]byte(`{"account":"a","user_token":"u","devices":[{"device":"d","token":"t"}]}` + "\n{bad"))
	f.Add([]byte(`{"account":"a","user_token":"u","devices":[{"device":"d","token":"t"}]}` + "\n" +
		`{"account":"b","user_token":"u2","devices":[{"device":"d","token":"t2"}]}`))
	f.Add([]byte("\n\n"))
	s, err := New(Config{AdminToken: testAdmin})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		before := [4]int{s.reg.accounts.Len(), s.reg.devices.Len(), s.reg.deviceTokens.Len(), s.reg.userTokens.Len()}
		req := httptest.NewRequest(http.MethodPost, wire.PathFleet, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdmin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		after := [4]int{s.reg.accounts.Len(), s.reg.devices.Len(), s.reg.deviceTokens.Len(), s.reg.userTokens.Len()}
		switch rec.Code {
		case http.StatusNoContent:
		case http.StatusBadRequest:
			if before != after {
				t.Fatalf("a rejected body changed the registry: %v → %v", before, after)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		// Every device token maps to a device that holds it.
		s.reg.deviceTokens.Range(func(tok, dev string) bool {
			if rec, ok := s.reg.devices.Get(dev); !ok || rec.token != tok {
				t.Fatalf("token %q points at device %q, which holds %q", tok, dev, rec.token)
			}
			return true
		})
	})
}
