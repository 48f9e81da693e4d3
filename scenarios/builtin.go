package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
)

// Default is the built-in scenario herd runs when given none.
const Default = "aws-outage"

const builtinPrefix = "builtin:"

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin names and describes one built-in scenario.
type Builtin struct {
	Name        string
	Description string
}

// builtins reads the embedded files once. A built-in that does not parse
// still gets listed (with its error as description), so that the failure
// shows; the tests make sure none does.
var builtins = sync.OnceValue(func() []Builtin {
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		panic("scenarios: embedded built-ins: " + err.Error()) // cannot happen: go:embed checked the pattern at build time
	}
	var bs []Builtin
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok {
			continue
		}
		b := Builtin{Name: name}
		src, _ := BuiltinSource(name)
		if s, err := Parse(builtinPrefix+name, src); err != nil {
			b.Description = "invalid: " + err.Error()
		} else {
			b.Description = s.Description
		}
		bs = append(bs, b)
	}
	sort.Slice(bs, func(i, j int) bool {
		if (bs[i].Name == Default) != (bs[j].Name == Default) {
			return bs[i].Name == Default
		}
		return bs[i].Name < bs[j].Name
	})
	return bs
})

// Builtins lists the built-in scenarios, the default first and the others
// by name.
func Builtins() []Builtin { return append([]Builtin(nil), builtins()...) }

func builtinNames() []string {
	var names []string
	for _, b := range builtins() {
		names = append(names, b.Name)
	}
	return names
}

// BuiltinSource returns the YAML source of the built-in scenario name
// (with or without the "builtin:" prefix), comments included: the best
// starting point for a scenario of one's own.
func BuiltinSource(name string) ([]byte, bool) {
	name = strings.TrimPrefix(name, builtinPrefix)
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, false
	}
	src, err := builtinFS.ReadFile(path.Join("builtin", name+".yaml"))
	if err != nil {
		return nil, false
	}
	return src, true
}

// Load returns the scenario nameOrPath names: the file at that path when
// one exists, else the built-in of that name ("builtin:NAME" always means
// the built-in). Its Source is the path or "builtin:NAME". When neither
// exists, the error lists the built-ins.
func Load(nameOrPath string) (*Scenario, error) {
	if name, ok := strings.CutPrefix(nameOrPath, builtinPrefix); ok {
		return loadBuiltin(nameOrPath, name)
	}
	data, err := readFile(nameOrPath)
	switch {
	case err == nil:
		return Parse(nameOrPath, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return loadBuiltin(nameOrPath, nameOrPath)
}

func loadBuiltin(asked, name string) (*Scenario, error) {
	if src, ok := BuiltinSource(name); ok {
		return Parse(builtinPrefix+name, src)
	}
	names := builtinNames()
	msg := "no such file, and no built-in scenario of that name"
	if strings.HasPrefix(asked, builtinPrefix) {
		msg = "no built-in scenario of that name"
	}
	remedy := "built-ins: " + strings.Join(names, ", ")
	if s := suggest(name, names); s != "" {
		remedy = "did you mean " + s + "? " + remedy
	}
	return nil, &Error{File: asked, Msg: msg, Remedy: remedy}
}

// readFile reads a scenario file, refusing directories and reading no more
// than MaxFileSize+1 bytes (enough for Parse to refuse the file).
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, &Error{File: name, Msg: "cannot open: " + unwrapPathError(err), Remedy: "check the path and its permissions"}
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &Error{File: name, Msg: "is a directory", Remedy: "give a scenario file or a built-in name"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: name, Msg: "cannot read: " + unwrapPathError(err), Remedy: "check the file"}
	}
	return data, nil
}

// unwrapPathError drops the *fs.PathError's repetition of the path, which
// the *Error already shows.
func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return fmt.Sprint(err)
}

// Text is the YAML s was loaded from: a built-in's source, comments
// included, or the file's bytes as they are now.
func (s *Scenario) Text() ([]byte, error) {
	if src, ok := BuiltinSource(s.Source); ok && strings.HasPrefix(s.Source, builtinPrefix) {
		return src, nil
	}
	b, err := readFile(s.Source)
	if err != nil {
		return nil, fmt.Errorf("reading the scenario: %w", err)
	}
	return b, nil
}

// LoadArg is Load of a command-line argument: "-" reads the scenario from
// stdin.
func LoadArg(arg string, stdin io.Reader) (*Scenario, error) {
	if arg != "-" {
		return Load(arg)
	}
	data, err := io.ReadAll(io.LimitReader(stdin, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return Parse("<stdin>", data)
}
