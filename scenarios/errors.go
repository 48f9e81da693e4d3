package scenarios

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a scenario, located as precisely as herd can:
// the file, the line (0 when unknown, as for a scenario built in code), the
// field as a path such as "phases[1].down", what is wrong and how to fix it.
type Error struct {
	File   string
	Line   int
	Field  string
	Msg    string
	Remedy string
}

// Error formats e as "file:line: field: msg (remedy)", leaving out the
// parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	if e.Remedy != "" {
		b.WriteString(" (" + e.Remedy + ")")
	}
	return b.String()
}

// ErrorList is several problems found in one scenario, in line order. Parse
// returns one when there is more than one problem, so that a user fixes a
// file in one pass rather than one error per run.
type ErrorList []error

// Error joins the errors' messages, one a line.
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error { return l }

// Errors returns the problems err holds: the elements of an ErrorList, err
// itself otherwise, nil for nil.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if l, ok := err.(ErrorList); ok {
		return l
	}
	return []error{err}
}

// sortByLine orders errors by line, keeping the order of equal lines (the
// order they were found in: parse before validate).
func sortByLine(errs []error) {
	line := func(e error) int {
		if e, ok := e.(*Error); ok {
			return e.Line
		}
		return 0
	}
	sort.SliceStable(errs, func(i, j int) bool { return line(errs[i]) < line(errs[j]) })
}

// suggest returns the candidate closest to s when it is close enough to be
// what the user meant, or "". Case, '_' and '-' are ignored, so eventsPerMinute
// and events-per-minute both find events_per_minute.
func suggest(s string, candidates []string) string {
	norm := func(x string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(x))
	}
	ns := norm(s)
	best, bestD := "", -1
	for _, c := range candidates {
		d := distance(ns, norm(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(1, min(len(ns), len(norm(best)))/3) {
		return ""
	}
	return best
}

// distance is the Levenshtein edit distance between a and b, in bytes.
// Inputs are capped so that a hostile file cannot make it quadratic in
// megabytes.
func distance(a, b string) int {
	const capLen = 64
	if len(a) > capLen {
		a = a[:capLen]
	}
	if len(b) > capLen {
		b = b[:capLen]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// oneOf phrases a list of allowed values: "a, b or c".
func oneOf(values []string) string {
	switch len(values) {
	case 0:
		return ""
	case 1:
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// didYouMean is the remedy for a value that is not one of values.
func didYouMean(got string, values []string) string {
	if s := suggest(got, values); s != "" {
		return "did you mean " + s + "? use " + oneOf(values)
	}
	return "use " + oneOf(values)
}
