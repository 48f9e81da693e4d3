// Package buildinfo says which herd this is: the module's version and the
// VCS revision it was built from, as the Go toolchain stamped them
// (debug.ReadBuildInfo).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Build is what the binary knows of its making.
type Build struct {
	Version  string // v1.2.3, a pseudo-version, or "devel"
	Revision string // the commit; "" when the build stamped none
	Time     string // the commit's time
	Modified bool   // the tree had uncommitted changes
}

// Read returns the build information; override, when set (-ldflags -X),
// is the version.
func Read(override string) Build {
	b := Build{Version: override}
	bi, ok := debug.ReadBuildInfo()
	if ok && b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if !ok {
		return b
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the version results and manifests record: the version, with
// the revision's first 12 digits when the version does not hold them
// already ("devel+1a2b3c4d5e6f.dirty").
func (b Build) String() string {
	v := b.Version
	if rev := b.Revision[:min(12, len(b.Revision))]; rev != "" && !strings.Contains(v, rev) {
		v += "+" + rev
		if b.Modified {
			v += ".dirty"
		}
	}
	return v
}

// Line is herd version's line: the version, where it was built from, and
// the toolchain.
func (b Build) Line() string {
	from := "no VCS revision: built outside a git checkout, or with -buildvcs=false"
	if b.Revision != "" {
		from = "revision " + b.Revision
		if b.Time != "" {
			from += " of " + b.Time
		}
		if b.Modified {
			from += ", with uncommitted changes"
		}
	}
	return "herd " + b.String() + " (" + from + "; " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
