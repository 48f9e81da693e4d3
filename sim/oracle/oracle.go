// Package oracle proves or disproves that a target kept accounts apart.
//
// Every thumbnail and live-view frame a simulated camera uploads is sealed
// with provenance only herd can produce: a keyed MAC over (kind, account,
// device, sequence, time, content) under a Key that is random per run and
// never leaves herd. Everything that comes back from the target — events in
// an Events tab, thumbnails, frames, welcomes, acks — is checked against
// those bytes and herd's own fleet layout, never against the target's
// labels: a target that says an event belongs to account A does not make it
// so.
//
// The Oracle is shared by every camera and app-user goroutine of a run. The
// clean path takes no global lock (atomics and per-camera state); a mutex is
// taken only to keep a violation's evidence.
package oracle

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-drill/herd/catalog"
	"github.com/herd-drill/herd/sim/wire"
)

// Fleet is the fleet as herd laid it out. The oracle trusts it, not the
// target, to say which account owns which camera; cameras are numbered
// 0..Cameras()-1 and an account owns a contiguous run of them.
type Fleet interface {
	// Names is the run's identifier scheme.
	Names() *Names
	// Cameras and Accounts are the fleet's sizes.
	Cameras() int
	Accounts() int
	// AccountOf is the account that owns camera cam.
	AccountOf(cam int) int
	// CamerasOf is the half-open range of cameras account a owns.
	CamerasOf(a int) (first, end int)
}

// Class is a kind of violation.
type Class string

// Violation classes, in the order Classes lists them; package catalog
// names them and says what each means.
const (
	// CrossAccount is content from a camera of another account: the leak.
	CrossAccount Class = catalog.CrossAccount
	// Forged is bytes without valid provenance, or an event id herd never
	// produced (unknown device, or a seq beyond what that camera sent).
	Forged Class = catalog.Forged
	// Mislabelled is genuine content owned by the viewer but labelled as
	// another device, seq, account or kind.
	Mislabelled Class = catalog.Mislabelled
	// Lost is an acknowledged event absent from its account at the final
	// audit.
	Lost Class = catalog.Lost
	// Duplicate is an event id listed more than once in an account.
	Duplicate Class = catalog.Duplicate
	// Misaddressed is a welcome naming another device or account, an ack
	// for an event the camera did not send, or a live request or frame
	// meant for another device.
	Misaddressed Class = catalog.Misaddressed
	// IDOR is a deliberate cross-account probe answered with data.
	IDOR Class = catalog.IDOR
)

// classes are catalog's, in its order.
var classes = func() []Class {
	var cs []Class
	for _, c := range catalog.Classes() {
		cs = append(cs, Class(c.Name))
	}
	if len(cs) > maxClasses {
		panic("oracle: more violation classes than maxClasses")
	}
	return cs
}()

// maxClasses bounds the violation classes the oracle counts in arrays.
const maxClasses = 16

// Classes returns every violation class, the leak first.
func Classes() []Class { return slices.Clone(classes) }

func classIndex(c Class) int { return slices.Index(classes, c) }

// Evidence is one observed violation, with what is needed to reproduce it.
type Evidence struct {
	Class  Class  `json:"class"`
	Viewer string `json:"viewer,omitempty"` // account that was shown the data
	Owner  string `json:"owner,omitempty"`  // account that really owns it (from the bytes / herd's fleet)
	Device string `json:"device,omitempty"`
	Event  string `json:"event,omitempty"`
	Path   string `json:"path,omitempty"` // request path, or "ws:welcome", "ws:ack", ...
	// JSONPath is where in the response body the data stood
	// ("$.events[3].device"), for what CheckBody finds.
	JSONPath string `json:"json_path,omitempty"`
	// SinceOutageEndS is seconds since the outage ended (negative: before
	// it ended); nil when no outage end was set yet.
	SinceOutageEndS *float64 `json:"since_outage_end_s,omitempty"`
	Detail          string   `json:"detail"`
	AtMs            int64    `json:"at_ms"` // Unix ms when observed
}

// Violations is what the oracle found: exact counts per class and a capped
// sample of evidence.
type Violations struct {
	// Counts has every class, zero included.
	Counts map[Class]int64 `json:"counts"`
	// Evidence is ordered by AtMs, at most Cap records per class.
	Evidence []Evidence `json:"evidence"`
	// Cap is the evidence cap per class that Merge keeps; zero (as after
	// decoding JSON) means DefaultEvidenceCap.
	Cap int `json:"-"`
}

// Total returns the sum of the counts.
func (v *Violations) Total() int64 {
	var n int64
	for _, c := range v.Counts {
		n += c
	}
	return n
}

// Merge adds o into v, as when merging the shards of a run: counts are
// summed, and evidence is merged by AtMs keeping the earliest records up to
// the cap per class (the larger of the two caps).
func (v *Violations) Merge(o Violations) {
	if v.Counts == nil {
		v.Counts = make(map[Class]int64, len(classes))
	}
	for _, c := range classes {
		v.Counts[c] += 0
	}
	for c, n := range o.Counts {
		v.Counts[c] += n
	}
	v.Cap = max(v.Cap, o.Cap)
	limit := v.Cap
	if limit <= 0 {
		limit = DefaultEvidenceCap
	}
	all := append(slices.Clone(v.Evidence), o.Evidence...)
	slices.SortStableFunc(all, func(a, b Evidence) int { return cmp.Compare(a.AtMs, b.AtMs) })
	kept := make(map[Class]int, len(classes))
	v.Evidence = all[:0]
	for _, e := range all {
		if kept[e.Class] < limit {
			kept[e.Class]++
			v.Evidence = append(v.Evidence, e)
		}
	}
	if v.Evidence == nil {
		v.Evidence = []Evidence{}
	}
}

// DefaultEvidenceCap is how many evidence records the oracle keeps per
// class. The cap is per class so that a flood of one class (say, lost events
// at the final audit) cannot push out the one cross_account record that
// matters most.
const DefaultEvidenceCap = 100

// Option configures an Oracle.
type Option func(*Oracle)

// WithEvidenceCap keeps at most n evidence records per class (counts stay
// exact). n < 0 is taken as 0.
func WithEvidenceCap(n int) Option { return func(o *Oracle) { o.cap = max(n, 0) } }

// WithClock sets the clock that stamps evidence; the default is time.Now.
func WithClock(now func() time.Time) Option { return func(o *Oracle) { o.now = now } }

// WithAccounts makes the oracle keep books only for the cameras of the
// accounts for which owns is true: the accounts this process runs (a shard
// of the fleet). Every other camera's events are still judged by their
// owner, never by their sequence. The default is every account.
func WithAccounts(owns func(account int) bool) Option { return func(o *Oracle) { o.owns = owns } }

// WithEvidenceSink hands every evidence record to sink as it is reported,
// beyond the cap too: for a file of all of them. sink must be safe for
// concurrent use.
func WithEvidenceSink(sink func(Evidence)) Option { return func(o *Oracle) { o.sink = sink } }

// noOutage marks outageEnd as unset.
const noOutage = math.MinInt64

// Oracle checks what the target returns against herd's provenance and
// ledger. It is safe for concurrent use.
type Oracle struct {
	key   *Key
	fleet Fleet
	names *Names
	cap   int
	now   func() time.Time
	owns  func(account int) bool
	// phaseAt names the run's phase at an instant (WithPhases).
	phaseAt func(time.Time) string
	// sink gets every evidence record as it is reported (WithEvidenceSink).
	sink func(Evidence)

	outageEnd atomic.Int64 // Unix ns, or noOutage

	// pos maps a camera to its ledger in cams, -1 for cameras this process
	// does not run: 4 bytes a camera of the fleet, the ledger only for its
	// own.
	pos        []int32
	cams       []camLedger
	sentTotal  atomic.Int64
	ackedTotal atomic.Int64
	frozen     atomic.Bool  // FreezeAcks was called
	lateAcks   atomic.Int64 // acks that came after FreezeAcks

	counts [maxClasses]atomic.Int64
	kept   [maxClasses]atomic.Int64 // evidence kept per class: lets Report skip the lock once full

	mu       sync.Mutex
	evidence []Evidence
	other    map[Class]int64 // counts of classes not in Classes, reported by callers

	audit auditState
	exp   exposure
}

// New returns an oracle for fleet, checking provenance with key.
func New(key *Key, fleet Fleet, opts ...Option) *Oracle {
	o := &Oracle{
		key:   key,
		fleet: fleet,
		names: fleet.Names(),
		cap:   DefaultEvidenceCap,
		now:   time.Now,
	}
	o.outageEnd.Store(noOutage)
	for _, opt := range opts {
		opt(o)
	}
	o.pos = make([]int32, fleet.Cameras())
	n := 0
	for a := range fleet.Accounts() {
		first, end := fleet.CamerasOf(a)
		for cam := first; cam < end; cam++ {
			o.pos[cam] = -1
			if o.owns == nil || o.owns(a) {
				o.pos[cam] = int32(n)
				n++
			}
		}
	}
	o.cams = make([]camLedger, n)
	return o
}

// ledger is camera cam's books, or nil when this process does not run it.
func (o *Oracle) ledger(cam int) *camLedger {
	if cam < 0 || cam >= len(o.pos) || o.pos[cam] < 0 {
		return nil
	}
	return &o.cams[o.pos[cam]]
}

// SetOutageEnd records when the outage ended (or will end), so evidence can
// say how long after the reconnect it was observed.
func (o *Oracle) SetOutageEnd(t time.Time) { o.outageEnd.Store(t.UnixNano()) }

// Captured records that camera cam captured its event seq (it may be sent
// later, or never, if the camera's backlog drops it).
func (o *Oracle) Captured(cam int, seq uint64) {
	if l := o.ledger(cam); l != nil {
		l.capture(seq)
	}
}

// Sent records that camera cam sends its event seq on a socket. Call it
// before the event is written: a listing, or an ack, of a seq the ledger
// has not seen sent is taken as the target's invention. Re-sending an event
// changes nothing.
func (o *Oracle) Sent(cam int, seq uint64) {
	if l := o.ledger(cam); l != nil && l.send(seq) {
		o.sentTotal.Add(1)
	}
}

// Acked records that the target acknowledged camera cam's event seq. Pass
// only seqs CheckAck accepted; a seq the camera did not send is ignored
// here, since CheckAck is what reports it.
func (o *Oracle) Acked(cam int, seq uint64) {
	if o.frozen.Load() {
		o.lateAcks.Add(1)
		return
	}
	l := o.ledger(cam)
	if l == nil || !l.wasSent(seq) {
		return
	}
	if l.ack(seq) {
		o.ackedTotal.Add(1)
	}
}

// FreezeAcks stops recording acks: call it when the final audit begins.
// An ack that arrives while the audit lists accounts may be for an event
// stored after its account was listed; counting it would report an honest
// target's event as lost. Events acked before the freeze were stored
// before it (a target acks what is visible), so the audit must list them.
func (o *Oracle) FreezeAcks() { o.frozen.Store(true) }

// LateAcks returns how many acks came after FreezeAcks and were not
// counted for the audit.
func (o *Oracle) LateAcks() int64 { return o.lateAcks.Load() }

// SentCount returns how many distinct events the cameras sent.
func (o *Oracle) SentCount() int64 { return o.sentTotal.Load() }

// AckedCount returns how many distinct events the target acknowledged.
func (o *Oracle) AckedCount() int64 { return o.ackedTotal.Load() }

// CapturedOf returns how many events camera cam captured (0 for a camera
// this process does not run).
func (o *Oracle) CapturedOf(cam int) uint64 {
	if l := o.ledger(cam); l != nil {
		return l.captured.Load()
	}
	return 0
}

// SomeAcked returns one of camera cam's acknowledged events, picked by u in
// [0,1): an event its owner really has, for a probe to ask for.
func (o *Oracle) SomeAcked(cam int, u float64) (seq uint64, ok bool) {
	l := o.ledger(cam)
	if l == nil {
		return 0, false
	}
	n := l.ackedCount()
	if n == 0 {
		return 0, false
	}
	return l.nthAcked(min(int(u*float64(n)), n-1))
}

// device and account spell camera cam's device id and its owner's account
// id, for evidence.
func (o *Oracle) device(cam int) string  { return o.names.Device(cam) }
func (o *Oracle) account(cam int) string { return o.names.Account(o.fleet.AccountOf(cam)) }

// CheckWelcome checks that the welcome camera cam got names its own device
// and account; otherwise it reports misaddressed and returns false. The
// caller has checked that got is a welcome.
func (o *Oracle) CheckWelcome(cam int, got wire.Message) bool {
	dev, acct := o.device(cam), o.account(cam)
	if got.Device == dev && got.Account == acct {
		return true
	}
	owner := ""
	if c, ok := o.names.ParseDevice(got.Device); ok && c < o.fleet.Cameras() {
		owner = o.account(c)
	}
	o.Report(Evidence{
		Class: Misaddressed, Viewer: acct, Owner: owner, Device: dev, Path: "ws:welcome",
		Detail: fmt.Sprintf("camera %s of %s was welcomed as device %q of account %q", dev, acct, got.Device, got.Account),
	})
	return false
}

// SecondWelcome reports a welcome that came on a socket already welcomed:
// herd/1 has one welcome per connection, first; a second one rebinds the
// camera to whatever it names, behind the device's back.
func (o *Oracle) SecondWelcome(cam int, got wire.Message) {
	o.Report(Evidence{
		Class: Misaddressed, Viewer: o.account(cam), Device: o.device(cam), Path: "ws:welcome",
		Detail: fmt.Sprintf("camera %s got a second welcome on an open socket, naming device %q of account %q", o.device(cam), got.Device, got.Account),
	})
}

// CheckAck checks that id, acknowledged to camera cam, is an event that
// camera sent on a socket, and returns its seq. Otherwise it reports
// misaddressed and returns false: an ack for another device's event, for
// an event the camera captured but never sent (it waits in the camera's
// backlog, or the backlog dropped it), or for one it never captured.
func (o *Oracle) CheckAck(cam int, id string) (seq uint64, ok bool) {
	d, seq, parsed := ParseEventID(id)
	why := "an id herd never produces"
	if parsed {
		c, isDev := o.names.ParseDevice(d)
		switch l := o.ledger(cam); {
		case !isDev || c != cam:
			why = "an event of device " + d
		case l == nil:
			why = "a camera this process does not run"
		case l.wasSent(seq):
			return seq, true
		case seq <= l.captured.Load():
			why = fmt.Sprintf("an event the camera captured but never sent on any socket (seq %d)", seq)
		default:
			why = fmt.Sprintf("an event beyond the %d the camera captured", l.captured.Load())
		}
	}
	o.Report(Evidence{
		Class: Misaddressed, Viewer: o.account(cam), Device: o.device(cam), Event: id, Path: "ws:ack",
		Detail: fmt.Sprintf("camera %s got an ack for %q: %s", o.device(cam), id, why),
	})
	return 0, false
}

// CheckListed checks one event of viewer's Events tab from herd's own ids
// and fleet, the owner first: an event of another account's camera is
// cross_account whatever else is wrong with it, and so is an event of an
// earlier herd run's; an id herd never produced (unknown form or device,
// or a seq that camera never sent) is forged; labels that disagree with the
// id are mislabelled, or cross_account when they name another account's
// device or account. Judging the owner before the sequence keeps the class
// the same whichever process runs the owner's cameras. It returns true when
// the event is clean, and allocates nothing then.
func (o *Oracle) CheckListed(viewer string, ev *wire.EventInfo, path string) bool {
	e, ok := o.judgeListed(viewer, ev, path)
	if !ok {
		o.Report(e)
		o.exposeEvidence(SeenListed, e)
	}
	return ok
}

// exposeEvidence records the exposure cross_account evidence e stands for:
// its owner and device, as it names them.
func (o *Oracle) exposeEvidence(seen Seen, e Evidence) {
	if e.Class != CrossAccount {
		return
	}
	owner, cam := -1, -1
	if a, ok := o.names.ParseAccount(e.Owner); ok {
		owner = a
	}
	if c, ok := o.names.ParseDevice(e.Device); ok {
		cam = c
	}
	o.expose(seen, e.Viewer, owner, cam)
}

// Flags reports whether CheckListed would flag ev in viewer's tab, without
// reporting anything: for a check of the page around it that must not
// count the same event twice.
func (o *Oracle) Flags(viewer string, ev *wire.EventInfo) bool {
	_, ok := o.judgeListed(viewer, ev, "")
	return !ok
}

// judgeListed is CheckListed's judgement: the evidence, and false, when ev
// is not clean.
func (o *Oracle) judgeListed(viewer string, ev *wire.EventInfo, path string) (Evidence, bool) {
	dev, seq, ok := ParseEventID(ev.ID)
	if !ok {
		return evid(Forged, viewer, "", ev.Device, ev.ID, path, "event id %q is not one herd produces", ev.ID), false
	}
	nm, ok := o.names.Parse(dev)
	if !ok || nm.Kind != NameDevice || (!nm.Foreign() && nm.Index >= o.fleet.Cameras()) {
		return evid(Forged, viewer, "", dev, ev.ID, path, "event %q names device %q, which herd did not simulate", ev.ID, dev), false
	}
	if nm.Foreign() {
		return evid(CrossAccount, viewer, "an account of herd run "+nm.Run, dev, ev.ID, path,
			"account %s was listed event %q of an earlier herd run (%s) against this backend: another account's", viewer, ev.ID, nm.Run), false
	}
	cam := nm.Index
	v := o.viewerIndex(viewer)
	if owner := o.fleet.AccountOf(cam); owner != v {
		return evid(CrossAccount, viewer, o.names.Account(owner), dev, ev.ID, path,
			"account %s was listed event %q of %s's camera (labelled account %q)", viewer, ev.ID, o.names.Account(owner), ev.Account), false
	}
	if l := o.ledger(cam); l == nil || !l.wasSent(seq) {
		captured := uint64(0)
		if l != nil {
			captured = l.captured.Load()
		}
		return evid(Forged, viewer, viewer, dev, ev.ID, path, "camera %s never sent event %q (it captured %d)", dev, ev.ID, captured), false
	}
	if ev.Device == dev && ev.Account == viewer && ev.Seq == seq {
		return Evidence{}, true
	}
	for _, label := range [...]string{ev.Device, ev.Account} {
		if lm, ok := o.names.Parse(label); ok {
			if owner, ok := o.ownerOf(lm); ok && owner != v {
				shown := lm.Kind.String() + " " + label
				if lm.Kind.Secret() {
					shown = "a " + lm.Kind.String() // never printed
				}
				return evid(CrossAccount, viewer, o.ownerName(hit{name: lm, owner: owner}), dev, ev.ID, path,
					"account %s was listed its event %q labelled with %s of another account", viewer, ev.ID, shown), false
			}
		}
	}
	return evid(Mislabelled, viewer, viewer, dev, ev.ID, path, "event %q labelled device %q seq %d account %q", ev.ID, ev.Device, ev.Seq, ev.Account), false
}

// CheckThumb checks a thumbnail viewer fetched for event ev (nil when the
// fetch was not tied to a listed event): bytes that do not open are forged
// (or cross_account, when they are another account's names or an earlier
// herd run's seal); a stamp of another account is cross_account; a stamp of
// another device or seq than ev's id, a frame served as a thumbnail, or a
// time or kind other than ev is listed with, is mislabelled. It returns
// true when the thumbnail is clean and allocates nothing then.
func (o *Oracle) CheckThumb(viewer string, ev *wire.EventInfo, body []byte, path string) bool {
	return o.checkThumb(SeenOpened, viewer, ev, body, path)
}

// checkThumb is CheckThumb, for a thumbnail seen so.
func (o *Oracle) checkThumb(seen Seen, viewer string, ev *wire.EventInfo, body []byte, path string) bool {
	id := ""
	if ev != nil {
		id = ev.ID
	}
	v, err := o.key.open(body)
	if err != nil {
		o.unopened(seen, viewer, "", id, body, path, fmt.Sprintf("thumbnail of %d bytes for event %q: %v", len(body), id, err))
		return false
	}
	if string(v.account) != viewer {
		e := evid(CrossAccount, viewer, string(v.account), string(v.device), id, path,
			"account %s was served the %s of %s/%d, sealed for account %s", viewer, v.kind, v.device, v.seq, v.account)
		o.Report(e)
		o.exposeEvidence(seen, e)
		return false
	}
	if v.kind != KindThumb {
		o.report(Mislabelled, viewer, viewer, string(v.device), id, path, "a %s of %s/%d was served as the thumbnail of %q", v.kind, v.device, v.seq, id)
		return false
	}
	if ev == nil {
		return true
	}
	dev, seq, ok := ParseEventID(ev.ID)
	switch {
	case !ok || dev != string(v.device) || seq != v.seq:
		o.report(Mislabelled, viewer, viewer, string(v.device), id, path, "the thumbnail of %s/%d was served for event %q", v.device, v.seq, id)
	case ev.At != v.at:
		o.report(Mislabelled, viewer, viewer, string(v.device), id, path, "event %q is listed at %d, but its camera captured it at %d (%+d ms)", id, ev.At, v.at, ev.At-v.at)
	case ev.Kind != string(v.eventKind):
		o.report(Mislabelled, viewer, viewer, string(v.device), id, path, "event %q is listed as %q, but its camera saw %q", id, ev.Kind, v.eventKind)
	default:
		return true
	}
	return false
}

// unopened judges bytes served as a thumbnail or frame that are not this
// run's seal: an earlier herd run's seal, or other accounts' names in them,
// are cross_account; anything else is forged.
func (o *Oracle) unopened(seen Seen, viewer, device, id string, body []byte, path, forged string) {
	if acct, ok := o.key.foreignSeal(body, o.names); ok {
		o.report(CrossAccount, viewer, acct, device, id, path, "account %s was served bytes that an earlier herd run sealed for its account %s", viewer, acct)
		o.expose(seen, viewer, -1, -1) // an earlier run's account: no victim of this fleet
		return
	}
	if o.CheckBody(viewer, body, "", path, nil) > 0 {
		return
	}
	o.report(Forged, viewer, "", device, id, path, "%s", forged)
}

// CheckFrame checks a live-view frame viewer got when asking device:
// bytes that do not open are forged, a frame sealed for another account is
// cross_account, and a genuine frame of another camera of the viewer's own
// account is misaddressed. A thumbnail served as a frame is mislabelled. It
// returns true when the frame is clean.
func (o *Oracle) CheckFrame(viewer, device string, body []byte, path string) bool {
	v, err := o.key.open(body)
	if err != nil {
		o.unopened(SeenWatched, viewer, device, "", body, path, fmt.Sprintf("frame of %d bytes for device %s: %v", len(body), device, err))
		return false
	}
	if string(v.account) != viewer {
		o.report(CrossAccount, viewer, string(v.account), device, "", path,
			"account %s asked %s for a frame and got a %s of %s, sealed for account %s", viewer, device, v.kind, v.device, v.account)
		o.exposeEvidence(SeenWatched, Evidence{Class: CrossAccount, Viewer: viewer, Owner: string(v.account), Device: string(v.device)})
		return false
	}
	if string(v.device) != device {
		o.report(Misaddressed, viewer, viewer, device, "", path, "asked %s for a frame and got a %s of %s", device, v.kind, v.device)
		return false
	}
	if v.kind != KindFrame {
		o.report(Mislabelled, viewer, viewer, device, "", path, "asked %s for a frame and got its thumbnail of event %d", device, v.seq)
		return false
	}
	return true
}

// ProbeResult is what became of a deliberate cross-account probe.
type ProbeResult uint8

// Probe results.
const (
	// ProbeRefused: 3xx, 401, 403 or 404 carrying none of the victim's
	// data, the refusal the contract promises.
	ProbeRefused ProbeResult = iota
	// ProbeAnswered: a success, or a refusal that carried the victim's
	// data: an idor violation, reported.
	ProbeAnswered
	// ProbeShed: 429 or 503, the target shedding load; neither.
	ProbeShed
	// ProbeUnexpected: any other status, neither a refusal nor data; the
	// caller counts it as an error.
	ProbeUnexpected
)

// Probe judges the answer to a deliberate cross-account probe: viewer
// asked for victim's data at path (echo is the request's path and query,
// which a refusal may repeat). Any 2xx is an idor violation, whatever it
// carried (an empty page too: the target answered a question about an
// account the token does not own). A redirect, 401, 403 or 404 is a
// refusal unless its body or Location carries data of an account other
// than viewer's (names the request did not carry, or another account's
// sealed bytes): then it is idor too. Probes never follow redirects.
func (o *Oracle) Probe(viewer, victim, echo string, status int, location string, body []byte, path string) ProbeResult {
	what := fmt.Sprintf("status %d with %d bytes", status, len(body))
	switch {
	case status >= 200 && status <= 299:
		o.Report(Evidence{Class: IDOR, Viewer: viewer, Owner: victim, Path: path,
			Detail: fmt.Sprintf("probe of %s's data answered %s", victim, what)})
		return ProbeAnswered
	case status >= 300 && status <= 399, status == 401, status == 403, status == 404:
		v := o.viewerIndex(viewer)
		if bv, err := o.key.open(body); err == nil && string(bv.account) != viewer {
			o.Report(Evidence{Class: IDOR, Viewer: viewer, Owner: string(bv.account), Device: string(bv.device), Path: path,
				Detail: fmt.Sprintf("probe of %s's data was refused with status %d but carried the sealed %s of %s/%d", victim, status, bv.kind, bv.device, bv.seq)})
			return ProbeAnswered
		}
		for _, part := range [...]struct {
			where string
			b     []byte
		}{{"the Location header", []byte(location)}, {"the body", body}} {
			if !o.hasForeign(part.b, v, echo) {
				continue
			}
			reported := false
			o.foreignValues(part.b, v, echo, func(jsonPath string, hits []hit) {
				if reported {
					return
				}
				reported = true
				e := o.exposed(IDOR, viewer, hits, path, jsonPath)
				e.Detail = fmt.Sprintf("probe of %s's data was refused with status %d, but %s carried it: %s", victim, status, part.where, e.Detail)
				o.Report(e)
			})
			return ProbeAnswered
		}
		return ProbeRefused
	case status == 429 || status == 503:
		return ProbeShed
	}
	return ProbeUnexpected
}

func (o *Oracle) report(c Class, viewer, owner, dev, event, path, format string, args ...any) {
	o.Report(evid(c, viewer, owner, dev, event, path, format, args...))
}

func evid(c Class, viewer, owner, dev, event, path, format string, args ...any) Evidence {
	return Evidence{Class: c, Viewer: viewer, Owner: owner, Device: dev, Event: event, Path: path, Detail: fmt.Sprintf(format, args...)}
}

// Report records a violation found elsewhere (or by the checks above). An
// unset AtMs is stamped from the clock, and SinceOutageEndS is filled in when
// an outage end is known. The count is exact; the evidence is kept while its
// class has fewer than the cap.
func (o *Oracle) Report(e Evidence) {
	if e.AtMs == 0 {
		e.AtMs = o.now().UnixMilli()
	}
	if end := o.outageEnd.Load(); e.SinceOutageEndS == nil && end != noOutage {
		s := float64(e.AtMs*int64(time.Millisecond)-end) / float64(time.Second)
		e.SinceOutageEndS = &s
	}
	if o.sink != nil {
		o.sink(e)
	}
	i := classIndex(e.Class)
	if i < 0 {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.other == nil {
			o.other = make(map[Class]int64)
		}
		o.other[e.Class]++
		if o.other[e.Class] <= int64(o.cap) {
			o.evidence = append(o.evidence, e)
		}
		return
	}
	// Count first, then keep: a Snapshot never shows evidence its count
	// does not include.
	o.counts[i].Add(1)
	if o.kept[i].Load() >= int64(o.cap) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kept[i].Load() < int64(o.cap) {
		o.kept[i].Add(1)
		o.evidence = append(o.evidence, e)
	}
}

// Snapshot returns a consistent copy of what was found so far: every class
// present in Counts, and evidence ordered by AtMs.
func (o *Oracle) Snapshot() Violations {
	o.mu.Lock()
	ev := slices.Clone(o.evidence)
	v := Violations{Counts: make(map[Class]int64, len(classes)+len(o.other)), Cap: o.cap}
	for i, c := range classes {
		v.Counts[c] = o.counts[i].Load()
	}
	for c, n := range o.other {
		v.Counts[c] += n
	}
	o.mu.Unlock()
	if ev == nil {
		ev = []Evidence{}
	}
	slices.SortStableFunc(ev, func(a, b Evidence) int { return cmp.Compare(a.AtMs, b.AtMs) })
	v.Evidence = ev
	return v
}

// Counts returns the number of violations found so far per class, every
// class present.
func (o *Oracle) Counts() map[string]int64 {
	out := make(map[string]int64, len(classes))
	for i, c := range classes {
		out[string(c)] = o.counts[i].Load()
	}
	o.mu.Lock()
	for c, n := range o.other {
		out[string(c)] += n
	}
	o.mu.Unlock()
	return out
}

// Total returns the number of violations found so far.
func (o *Oracle) Total() int64 {
	var n int64
	for i := range o.counts {
		n += o.counts[i].Load()
	}
	o.mu.Lock()
	for _, c := range o.other {
		n += c
	}
	o.mu.Unlock()
	return n
}
