package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herd-drill/herd/sim/oracle"
)

// Exposure is a drill's blast radius in the incident's own terms: how many
// people were shown another account's events, opened a stranger's
// thumbnail, watched a stranger's live view; whose data it was; when it
// began. Its field names are fixed for other tools. The counts are exact
// across workers and shards: Sets keeps the members, and a merge adds
// them up as sets.
type Exposure struct {
	ViewersListed  int64 `json:"viewers_listed"`  // accounts shown another account's event in a list
	ViewersOpened  int64 `json:"viewers_opened"`  // accounts whose app opened another account's thumbnail
	ViewersWatched int64 `json:"viewers_watched"` // accounts that received another account's live frame
	Victims        int64 `json:"victims"`         // accounts whose data was shown to another account
	DevicesExposed int64 `json:"devices_exposed"` // their cameras whose data was
	// FirstMs is when the first exposure happened, from the drill's start;
	// FirstSinceOutageEndMs from the end of the outage (negative: before
	// it ended). Null when nothing was exposed, or no outage had ended.
	FirstMs               *float64 `json:"first_ms"`
	FirstSinceOutageEndMs *float64 `json:"first_since_outage_end_ms"`
	// First is FirstMs as an instant, which a merge compares.
	First  *time.Time      `json:"first,omitempty"`
	Phases []PhaseExposure `json:"phases"`
	// Pairs are the viewer → victim pairs, most often first (at most
	// MaxPairs).
	Pairs []ExposurePair `json:"pairs"`
	Sets  ExposureSets   `json:"sets"`
}

// PhaseExposure is the viewers of one phase of the drill.
type PhaseExposure struct {
	Phase          string `json:"phase"`
	ViewersListed  int64  `json:"viewers_listed"`
	ViewersOpened  int64  `json:"viewers_opened"`
	ViewersWatched int64  `json:"viewers_watched"`
	Sets           struct {
		ViewersListed  oracle.Set `json:"viewers_listed"`
		ViewersOpened  oracle.Set `json:"viewers_opened"`
		ViewersWatched oracle.Set `json:"viewers_watched"`
	} `json:"sets"`
}

// ExposurePair is how often an account was shown another's data, by how.
type ExposurePair struct {
	Viewer  string `json:"viewer"`
	Victim  string `json:"victim"`
	Listed  int64  `json:"listed"`
	Opened  int64  `json:"opened"`
	Watched int64  `json:"watched"`
	Data    int64  `json:"data"` // identifiers, and what the audit fetched
}

// ExposureSets are the members behind the counts: account indexes of the
// fleet (devices: camera indexes), compactly encoded.
type ExposureSets struct {
	ViewersListed  oracle.Set `json:"viewers_listed"`
	ViewersOpened  oracle.Set `json:"viewers_opened"`
	ViewersWatched oracle.Set `json:"viewers_watched"`
	Victims        oracle.Set `json:"victims"`
	Devices        oracle.Set `json:"devices"`
}

// MaxPairs is how many viewer → victim pairs a result keeps.
const MaxPairs = 200

// exposureOf is the oracle's exposure as a Result's part.
func exposureOf(e oracle.Exposure) Exposure {
	out := Exposure{Sets: ExposureSets{
		ViewersListed: e.Viewers[0], ViewersOpened: e.Viewers[1], ViewersWatched: e.Viewers[2],
		Victims: e.Victims, Devices: e.Devices,
	}}
	if !e.First.IsZero() {
		t := e.First.UTC()
		out.First = &t
		if e.FirstSinceOutageEnd != nil {
			v := ms(*e.FirstSinceOutageEnd)
			out.FirstSinceOutageEndMs = &v
		}
	}
	for _, p := range e.Phases {
		pe := PhaseExposure{Phase: p.Phase}
		pe.Sets.ViewersListed, pe.Sets.ViewersOpened, pe.Sets.ViewersWatched = p.Viewers[0], p.Viewers[1], p.Viewers[2]
		out.Phases = append(out.Phases, pe)
	}
	for _, p := range e.Pairs {
		out.Pairs = append(out.Pairs, ExposurePair{Viewer: p.Viewer, Victim: p.Victim,
			Data: p.Counts[oracle.SeenData], Listed: p.Counts[oracle.SeenListed], Opened: p.Counts[oracle.SeenOpened], Watched: p.Counts[oracle.SeenWatched]})
	}
	return out
}

// add adds o's exposure to e: sets united, pairs summed, the earliest first.
func (e *Exposure) add(o Exposure) {
	s, t := &e.Sets, o.Sets
	s.ViewersListed, s.ViewersOpened, s.ViewersWatched = s.ViewersListed.Union(t.ViewersListed), s.ViewersOpened.Union(t.ViewersOpened), s.ViewersWatched.Union(t.ViewersWatched)
	s.Victims, s.Devices = s.Victims.Union(t.Victims), s.Devices.Union(t.Devices)
	if o.First != nil && (e.First == nil || o.First.Before(*e.First)) {
		first := *o.First
		e.First, e.FirstSinceOutageEndMs = &first, o.FirstSinceOutageEndMs
	}
	for _, op := range o.Phases {
		i := 0
		for i < len(e.Phases) && e.Phases[i].Phase != op.Phase {
			i++
		}
		if i == len(e.Phases) {
			e.Phases = append(e.Phases, PhaseExposure{Phase: op.Phase})
		}
		ps := &e.Phases[i].Sets
		ps.ViewersListed = ps.ViewersListed.Union(op.Sets.ViewersListed)
		ps.ViewersOpened = ps.ViewersOpened.Union(op.Sets.ViewersOpened)
		ps.ViewersWatched = ps.ViewersWatched.Union(op.Sets.ViewersWatched)
	}
	for _, op := range o.Pairs {
		i := 0
		for i < len(e.Pairs) && (e.Pairs[i].Viewer != op.Viewer || e.Pairs[i].Victim != op.Victim) {
			i++
		}
		if i == len(e.Pairs) {
			e.Pairs = append(e.Pairs, ExposurePair{Viewer: op.Viewer, Victim: op.Victim})
		}
		p := &e.Pairs[i]
		p.Listed, p.Opened, p.Watched, p.Data = p.Listed+op.Listed, p.Opened+op.Opened, p.Watched+op.Watched, p.Data+op.Data
	}
}

// finalize derives the counts from the sets, FirstMs from the drill's
// start, and keeps the most frequent pairs.
func (e *Exposure) finalize(started time.Time) {
	s := e.Sets
	e.ViewersListed, e.ViewersOpened, e.ViewersWatched = int64(s.ViewersListed.Len()), int64(s.ViewersOpened.Len()), int64(s.ViewersWatched.Len())
	e.Victims, e.DevicesExposed = int64(s.Victims.Len()), int64(s.Devices.Len())
	e.FirstMs = nil
	if e.First != nil {
		v := ms(e.First.Sub(started))
		e.FirstMs = &v
	}
	for i := range e.Phases {
		p := &e.Phases[i]
		p.ViewersListed, p.ViewersOpened, p.ViewersWatched = int64(p.Sets.ViewersListed.Len()), int64(p.Sets.ViewersOpened.Len()), int64(p.Sets.ViewersWatched.Len())
	}
	if e.Phases == nil {
		e.Phases = []PhaseExposure{}
	}
	total := func(p ExposurePair) int64 { return p.Listed + p.Opened + p.Watched + p.Data }
	slices.SortFunc(e.Pairs, func(a, b ExposurePair) int {
		return cmp.Or(cmp.Compare(total(b), total(a)), cmp.Compare(a.Viewer, b.Viewer), cmp.Compare(a.Victim, b.Victim))
	})
	if len(e.Pairs) > MaxPairs {
		e.Pairs = e.Pairs[:MaxPairs]
	}
	if e.Pairs == nil {
		e.Pairs = []ExposurePair{}
	}
}

// Any reports whether anything was exposed.
func (e Exposure) Any() bool {
	return e.Victims > 0 || e.ViewersListed+e.ViewersOpened+e.ViewersWatched > 0
}

// Sentence says the exposure in the words of an incident report.
func (e Exposure) Sentence() string {
	if !e.Any() {
		return "none: no account was shown another account's data"
	}
	accounts := func(n int64) string { return fmt.Sprintf("%d %s", n, plural(int(n), "account was", "accounts were")) }
	parts := []string{
		accounts(e.ViewersListed) + " shown another account's events",
		fmt.Sprintf("%d opened a stranger's thumbnail", e.ViewersOpened),
		fmt.Sprintf("%d watched a stranger's live view", e.ViewersWatched),
		fmt.Sprintf("data of %d %s (%d %s) exposed", e.Victims, plural(int(e.Victims), "account", "accounts"), e.DevicesExposed, plural(int(e.DevicesExposed), "camera", "cameras")),
	}
	s := strings.Join(parts, "; ")
	switch {
	case e.FirstSinceOutageEndMs != nil && *e.FirstSinceOutageEndMs >= 0:
		s += fmt.Sprintf("; first at +%.1f s after the outage ended", *e.FirstSinceOutageEndMs/1000)
	case e.FirstSinceOutageEndMs != nil:
		s += fmt.Sprintf("; first %.1f s before the outage ended", -*e.FirstSinceOutageEndMs/1000)
	case e.FirstMs != nil:
		s += fmt.Sprintf("; first at %.1f s into the drill", *e.FirstMs/1000)
	}
	return s + "."
}
