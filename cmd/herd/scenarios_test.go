package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/scenarios"
)

func TestScenariosCmd(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	for name, src := range map[string]string{
		good: "phases: [{kind: steady, duration: 10s}]\n",
		bad:  "phases: [{kind: steady, duration: 10}]\ncamera: {thumb_bytes: 1}\n",
	} {
		if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	awsSource, _ := scenarios.BuiltinSource("aws-outage")

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    []string // substrings of stdout
		wantErr    []string // substrings of stderr
		wantOutAll string   // exact stdout, when set
	}{
		{name: "list", args: []string{"scenarios"}, wantCode: exitcode.OK,
			wantOut: []string{"aws-outage ", "(default)", "az-outage ", "flapping ", "rolling-reboot "}},
		{name: "unknown subcommand", args: []string{"scenarios", "sho"}, wantCode: exitcode.Usage,
			wantErr: []string{`unknown command "sho"`, "did you mean show?"}},
		{name: "show", args: []string{"scenarios", "show", "aws-outage"}, wantCode: exitcode.OK, wantOutAll: string(awsSource)},
		{name: "show unknown", args: []string{"scenarios", "show", "nope"}, wantCode: exitcode.Usage,
			wantErr: []string{`no built-in scenario "nope"`, "aws-outage, az-outage"}},
		{name: "show needs a name", args: []string{"scenarios", "show"}, wantCode: exitcode.Usage},
		{name: "show resolved file", args: []string{"scenarios", "show", "--resolved", good}, wantCode: exitcode.OK,
			wantOut: []string{"name: good\n", "policy: full-jitter", "page_size: 50"}},
		{name: "show resolved invalid", args: []string{"scenarios", "show", "--resolved", bad}, wantCode: exitcode.Usage,
			wantErr: []string{bad + ":1: phases[0].duration: duration 10 has no unit", "is invalid, 2 errors"}},
		{name: "validate", args: []string{"scenarios", "validate", good, "flapping"}, wantCode: exitcode.OK,
			wantOut: []string{good + ": ok (good: 1000 cameras, 1 phases, 10s)", "builtin:flapping: ok"}},
		{name: "validate reports every error", args: []string{"scenarios", "validate", good, bad}, wantCode: exitcode.Usage,
			wantOut: []string{good + ": ok"},
			wantErr: []string{
				bad + ":1: phases[0].duration: duration 10 has no unit (write e.g. duration: 10s; units are ms, s, m and h)\n" +
					bad + ":2: camera.thumb_bytes: must be between 64 and 524288, got 1 (thumbnails are a few KiB, e.g. 1024)\n",
				"herd: 1 of 2 scenarios invalid, 2 errors"}},
		{name: "validate stdin", args: []string{"scenarios", "validate", "-"}, stdin: "name: piped\nphases: [{kind: settle, duration: 1s}]\n",
			wantCode: exitcode.OK, wantOut: []string{"<stdin>: ok (piped:"}},
		{name: "validate missing file", args: []string{"scenarios", "validate", filepath.Join(dir, "nope.yaml")}, wantCode: exitcode.Usage,
			wantErr: []string{"no such file, and no built-in scenario of that name"}},
		{name: "validate needs files", args: []string{"scenarios", "validate"}, wantCode: exitcode.Usage,
			wantErr: []string{"want at least one scenario file"}},
		{name: "metrics", args: []string{"scenarios", "metrics"}, wantCode: exitcode.OK,
			wantOut: []string{"METRIC", "recovery.t99", "errors.rate", "ratio", "violations.idor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			root := newRootCmd(&stdout, &stderr)
			root.SetIn(strings.NewReader(tt.stdin))
			root.SetArgs(tt.args)
			err := root.ExecuteContext(context.Background())
			if code := exitcode.Of(err); code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if err != nil {
				// What run adds when it ends the process.
				stderr.WriteString("herd: " + err.Error() + "\n")
			}
			if tt.wantOutAll != "" && stdout.String() != tt.wantOutAll {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), tt.wantOutAll)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}
