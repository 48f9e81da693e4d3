package scenarios

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes. It must never panic; what it
// accepts must validate, survive a Marshal round trip and stay valid when
// scaled down; what it refuses must be explained by *Errors whose lines lie
// in the file.
func FuzzParse(f *testing.F) {
	src, _ := BuiltinSource(Default)
	f.Add(src)
	f.Add([]byte(minimal))
	f.Add([]byte("phases:\n  - &o {kind: outage, duration: 9s, down: 2s, stagger: 7s, select: zone, fraction: 0.5}\n  - <<: *o\n    repeat: 3\nthresholds: [errors.rate < 5%, recovery.t50 <= 1m]\n"))
	f.Add([]byte("fleet: {cameras: x}\nphases: [{kind: outge, duraton: 1s}]\nthresholds: [a < b]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			// YAML breaks lines at \n, \r and \r\n; counting both bounds it.
			lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") + 2
			for _, e := range Errors(err) {
				var pe *Error
				if !errors.As(e, &pe) {
					t.Fatalf("error %v is a %T", e, e)
				}
				if pe.File != "f.yaml" || pe.Line < 0 || pe.Line > lines || pe.Msg == "" {
					t.Fatalf("bad error %+v for a %d-line file", pe, lines)
				}
			}
			return
		}
		if errs := s.Validate(); len(errs) > 0 {
			t.Fatalf("Parse accepted a scenario that does not validate: %v", errs)
		}
		if s.Total() <= 0 {
			t.Fatalf("accepted scenario lasts %v", s.Total())
		}
		roundTrip(t, s)
		if errs := s.Scaled(0.37).Validate(); len(errs) > 0 {
			t.Fatalf("Scaled(0.37) does not validate: %v", errs)
		}
	})
}
