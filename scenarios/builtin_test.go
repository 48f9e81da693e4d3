package scenarios

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBuiltins(t *testing.T) {
	bs := Builtins()
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if want := []string{"aws-outage", "az-outage", "flapping", "rolling-reboot"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Builtins() = %v, want %v", names, want)
	}
	for _, b := range bs {
		t.Run(b.Name, func(t *testing.T) {
			src, ok := BuiltinSource(b.Name)
			if !ok {
				t.Fatal("no source")
			}
			s, err := Parse("builtin:"+b.Name, src)
			if err != nil {
				t.Fatal(err)
			}
			if errs := s.Validate(); len(errs) > 0 {
				t.Errorf("Validate() = %v", errs)
			}
			if s.Name != b.Name {
				t.Errorf("name: %q in the file, %q as a built-in", s.Name, b.Name)
			}
			if b.Description == "" || b.Description != s.Description || strings.Contains(b.Description, "\n") {
				t.Errorf("description %q, want the file's one line %q", b.Description, s.Description)
			}
			// Every built-in explains itself: the source starts with comments.
			if !bytes.HasPrefix(src, []byte("# "+b.Name+": ")) {
				t.Errorf("source does not start with a comment naming it")
			}
			if !s.hasThreshold("violations.total == 0") {
				t.Errorf("no violations.total == 0 threshold")
			}
			if s.Total() > 2*time.Minute {
				t.Errorf("lasts %v; built-ins stay under two minutes", s.Total())
			}
		})
	}
}

func (s *Scenario) hasThreshold(expr string) bool {
	for _, t := range s.Thresholds {
		if t.Expr == expr {
			return true
		}
	}
	return false
}

// TestBuiltinShapes pins what each built-in is for.
func TestBuiltinShapes(t *testing.T) {
	load := func(name string) *Scenario {
		t.Helper()
		s, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	outage := func(s *Scenario) Phase {
		t.Helper()
		for _, p := range s.Phases {
			if p.Kind == KindOutage {
				return p
			}
		}
		t.Fatalf("%s has no outage", s.Name)
		return Phase{}
	}

	s := load(Default)
	if s.Total() > 70*time.Second {
		t.Errorf("the default drill lasts %v; it must stay well under two minutes", s.Total())
	}
	if p := outage(s); p.Fraction != 1 || p.Mode != ModeReset {
		t.Errorf("aws-outage outage = %+v, want the whole fleet reset", p)
	}
	for _, want := range []string{"violations.total == 0", "recovery.t99 < 60s", "connect.p99 < 5s", "errors.rate < 5%"} {
		if !s.hasThreshold(want) {
			t.Errorf("aws-outage lacks threshold %q", want)
		}
	}
	if r := s.Reconnect; r.Policy != PolicyImmediate || r.Base.Duration != time.Second || r.Cap.Duration != 30*time.Second {
		t.Errorf("aws-outage reconnect = %+v", r)
	}

	if p := outage(load("az-outage")); p.Fraction != 0.34 || p.Select != SelectZone || p.Zones() != 3 {
		t.Errorf("az-outage outage = %+v (zones %d), want one zone of three", p, p.Zones())
	}
	if p := outage(load("flapping")); p.Repeat < 2 || p.Down.Duration >= p.Duration.Duration || p.Fraction >= 1 {
		t.Errorf("flapping outage = %+v, want repeated partial drops", p)
	}
	if p := outage(load("rolling-reboot")); p.Fraction != 1 || p.Mode != ModeClose || p.Down.Duration != 10*time.Second || p.Stagger.Duration != time.Minute {
		t.Errorf("rolling-reboot outage = %+v", p)
	}
}

func TestBuiltinSource(t *testing.T) {
	for _, name := range []string{"aws-outage", "builtin:aws-outage"} {
		if _, ok := BuiltinSource(name); !ok {
			t.Errorf("BuiltinSource(%q) not found", name)
		}
	}
	for _, name := range []string{"", "nope", "../builtin/aws-outage", "aws-outage.yaml", "builtin:"} {
		if _, ok := BuiltinSource(name); ok {
			t.Errorf("BuiltinSource(%q) found something", name)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "drill.yaml")
	if err := os.WriteFile(file, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file that shares a built-in's name wins: the path is what was asked.
	shadow := filepath.Join(dir, "flapping")
	if err := os.WriteFile(shadow, []byte("name: mine\n"+minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#\n"), MaxFileSize), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		arg        string
		wantName   string
		wantSource string
		wantErr    string
	}{
		{arg: file, wantName: "drill", wantSource: file},
		{arg: shadow, wantName: "mine", wantSource: shadow},
		{arg: "flapping", wantName: "flapping", wantSource: "builtin:flapping"},
		{arg: "builtin:az-outage", wantName: "az-outage", wantSource: "builtin:az-outage"},
		{arg: "aws-outge", wantErr: "aws-outge: no such file, and no built-in scenario of that name (did you mean aws-outage? built-ins: aws-outage, az-outage, flapping, rolling-reboot)"},
		{arg: "builtin:nope", wantErr: "builtin:nope: no built-in scenario of that name (built-ins: aws-outage, az-outage, flapping, rolling-reboot)"},
		{arg: dir, wantErr: dir + ": is a directory (give a scenario file or a built-in name)"},
		{arg: big, wantErr: big + ": the file is 1048577 bytes, more than the 1048576 a scenario may have (a scenario is a few dozen lines of YAML; check the file name)"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.arg), func(t *testing.T) {
			s, err := Load(tt.arg)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error\ngot  %v\nwant %s", err, tt.wantErr)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Errorf("error is a %T, want *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != tt.wantName || s.Source != tt.wantSource {
				t.Errorf("Load = name %q source %q, want %q %q", s.Name, s.Source, tt.wantName, tt.wantSource)
			}
		})
	}
}

func TestLoadReportsFileErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(file, []byte("phases:\n  - {kind: steady, duration: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file)
	want := file + ":2: phases[0].duration: duration 1 has no unit (write e.g. duration: 10s; units are ms, s, m and h)"
	if err == nil || err.Error() != want {
		t.Errorf("Load error\ngot  %v\nwant %s", err, want)
	}
}
