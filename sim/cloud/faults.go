package cloud

import (
	"fmt"
	"sort"
	"strings"
)

// Fault names one failure mechanism the target can be started with. Every
// fault is off by default; each one is a real mechanism in the target's
// inside, which shows up only under the load that triggers it.
type Fault string

// The faults the reference target knows.
const (
	// StaleReply: a registry look-up that times out under load leaves its
	// reply unread on a pooled cache connection, and the next caller reads
	// it. Devices get bound to other devices' accounts, tokens resolve to
	// other accounts. Quiet at low load.
	StaleReply Fault = "stale-reply"
	// SharedCacheKey: Events-tab responses are cached under a key that omits
	// the account, so two accounts reading their first page close together
	// get the same body.
	SharedCacheKey Fault = "shared-cache-key"
	// IDOR: app calls check that the token is valid but not that its
	// account owns the account, event or device asked for.
	IDOR Fault = "idor"
	// DropAcked: the write-behind queue acks events when it takes them and
	// drops them when it overflows, as it does when a herd flushes backlogs.
	DropAcked Fault = "drop-acked"
	// DupOnRetry: de-duplication is scoped to the socket, so an event resent
	// after a reconnect is stored twice.
	DupOnRetry Fault = "dup-on-retry"
	// LiveMisroute: the session table's clean-up frees the wrong slot when a
	// device's abandoned socket is dropped after it reconnected, and a
	// live-view request is relayed to another device's socket.
	LiveMisroute Fault = "live-misroute"
	// ThumbCacheKey: thumbnail bodies are cached under a key made from the
	// event's sequence number alone, like a CDN path template that forgot
	// the device (/thumbs/{seq}.jpg): the event, its labels and the
	// ownership check are right, the picture is whoever's was cached first.
	ThumbCacheKey Fault = "thumb-cache-key"
	// DropThumb: thumbnails go to a blob store through a small queue of
	// their own, apart from the event's row; when a herd fills it the blob
	// is dropped, while the row is stored and acked, so the event is
	// listed and its picture is gone.
	DropThumb Fault = "drop-thumb"
	// IDORAfter: the Events tab checks that the token owns the account on
	// its first page only; a request with a cursor loads the page the
	// cursor points at and trusts that it is the caller's.
	IDORAfter Fault = "idor-after"
)

// AllFaults returns every fault the target knows, in a fixed order.
func AllFaults() []Fault {
	return []Fault{StaleReply, SharedCacheKey, IDOR, DropAcked, DupOnRetry, LiveMisroute, ThumbCacheKey, DropThumb, IDORAfter}
}

// summaries say in a line what each fault does, for help text.
var summaries = map[Fault]string{
	StaleReply:     "a registry look-up that times out under a herd leaves its reply on a pooled cache connection for the next caller",
	SharedCacheKey: "Events-tab responses cached under a key without the account",
	IDOR:           "app calls check the token, not that it owns what it asks for",
	DropAcked:      "the write-behind queue acks on enqueue and drops on overflow",
	DupOnRetry:     "de-duplication per socket: a resent event is stored twice",
	LiveMisroute:   "the session table frees the wrong slot after a silent reconnect, and live view reaches another device",
	ThumbCacheKey:  "thumbnails cached under the event's sequence number alone: the right event, another camera's picture",
	DropThumb:      "thumbnails dropped by their own full queue while the event is stored and acked",
	IDORAfter:      "the Events tab checks ownership on the first page only; a cursor's page is trusted",
}

// FaultNames lists every fault's name, comma-separated.
func FaultNames() string {
	var names []string
	for _, f := range AllFaults() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// FaultTable is every fault with a line on what it does, indented for a
// command's help.
func FaultTable() string {
	var b strings.Builder
	for _, f := range AllFaults() {
		line := fmt.Sprintf("  %-17s", f)
		for _, w := range strings.Fields(summaries[f]) {
			if len(line)+1+len(w) > 78 {
				b.WriteString(line + "\n")
				line = strings.Repeat(" ", 20) + w
				continue
			}
			line += " " + w
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// Faults is a set of faults. The nil set has none.
type Faults map[Fault]bool

// Has reports whether f is in the set.
func (fs Faults) Has(f Fault) bool { return fs[f] }

// String lists the faults in the set, comma-separated in AllFaults order,
// or "none"; ParseFaults reads it back.
func (fs Faults) String() string {
	var names []string
	for _, f := range AllFaults() {
		if fs[f] {
			names = append(names, string(f))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// ParseFaults reads a comma-separated list of fault names. The empty string
// and "none" are the empty set; an unknown name is an error that lists the
// valid ones.
func ParseFaults(s string) (Faults, error) {
	fs := Faults{}
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return fs, nil
	}
	known := make(map[Fault]bool)
	for _, f := range AllFaults() {
		known[f] = true
	}
	for _, name := range strings.Split(s, ",") {
		f := Fault(strings.TrimSpace(name))
		if !known[f] {
			valid := make([]string, 0, len(known))
			for _, k := range AllFaults() {
				valid = append(valid, string(k))
			}
			sort.Strings(valid)
			return nil, fmt.Errorf("unknown fault %q (valid: %s)", f, strings.Join(valid, ", "))
		}
		fs[f] = true
	}
	return fs, nil
}
