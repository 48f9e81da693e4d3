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

	"github.com/herd-drill/herd/sim/wire"
)

// Fleet is the fleet as herd laid it out. The oracle trusts it, not the
// target, to say which account owns which camera.
type Fleet interface {
	// Camera maps a device id to herd's camera index and owning account;
	// ok is false when herd did not simulate it.
	Camera(device string) (cam int, account string, ok bool)
	// Cameras is the number of cameras; indices run from 0 to Cameras()-1.
	Cameras() int
	// Device is the device id of camera index cam.
	Device(cam int) string
	// Account is the owning account of camera cam.
	Account(cam int) string
}

// Class is a kind of violation.
type Class string

// Violation classes, in the order Classes lists them.
const (
	// CrossAccount is content from a camera of another account: the leak.
	CrossAccount Class = "cross_account"
	// Forged is bytes without valid provenance, or an event id herd never
	// produced (unknown device, or a seq beyond what that camera sent).
	Forged Class = "forged"
	// Mislabelled is genuine content owned by the viewer but labelled as
	// another device, seq, account or kind.
	Mislabelled Class = "mislabelled"
	// Lost is an acknowledged event absent from its account at the final
	// audit.
	Lost Class = "lost"
	// Duplicate is an event id listed more than once in an account.
	Duplicate Class = "duplicate"
	// Misaddressed is a welcome naming another device or account, an ack
	// for an event the camera did not send, or a live request or frame
	// meant for another device.
	Misaddressed Class = "misaddressed"
	// IDOR is a deliberate cross-account probe answered with data.
	IDOR Class = "idor"
)

var classes = [...]Class{CrossAccount, Forged, Mislabelled, Lost, Duplicate, Misaddressed, IDOR}

// Classes returns every violation class, the leak first.
func Classes() []Class { return slices.Clone(classes[:]) }

func classIndex(c Class) int {
	switch c {
	case CrossAccount:
		return 0
	case Forged:
		return 1
	case Mislabelled:
		return 2
	case Lost:
		return 3
	case Duplicate:
		return 4
	case Misaddressed:
		return 5
	case IDOR:
		return 6
	}
	return -1
}

// Evidence is one observed violation, with what is needed to reproduce it.
type Evidence struct {
	Class  Class  `json:"class"`
	Viewer string `json:"viewer,omitempty"` // account that was shown the data
	Owner  string `json:"owner,omitempty"`  // account that really owns it (from the bytes / herd's fleet)
	Device string `json:"device,omitempty"`
	Event  string `json:"event,omitempty"`
	Path   string `json:"path,omitempty"` // request path, or "ws:welcome", "ws:ack", ...
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

// noOutage marks outageEnd as unset.
const noOutage = math.MinInt64

// Oracle checks what the target returns against herd's provenance and
// ledger. It is safe for concurrent use.
type Oracle struct {
	key   *Key
	fleet Fleet
	cap   int
	now   func() time.Time

	outageEnd atomic.Int64 // Unix ns, or noOutage

	cams       []camLedger
	sentTotal  atomic.Int64
	ackedTotal atomic.Int64
	frozen     atomic.Bool  // FreezeAcks was called
	lateAcks   atomic.Int64 // acks that came after FreezeAcks

	counts [len(classes)]atomic.Int64
	kept   [len(classes)]atomic.Int64 // evidence kept per class: lets Report skip the lock once full

	mu       sync.Mutex
	evidence []Evidence
	other    map[Class]int64 // counts of classes not in Classes, reported by callers

	audit auditState
}

// New returns an oracle for fleet, checking provenance with key.
func New(key *Key, fleet Fleet, opts ...Option) *Oracle {
	o := &Oracle{
		key:   key,
		fleet: fleet,
		cap:   DefaultEvidenceCap,
		now:   time.Now,
		cams:  make([]camLedger, fleet.Cameras()),
	}
	o.outageEnd.Store(noOutage)
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// SetOutageEnd records when the outage ended (or will end), so evidence can
// say how long after the reconnect it was observed.
func (o *Oracle) SetOutageEnd(t time.Time) { o.outageEnd.Store(t.UnixNano()) }

// Sent records that camera cam sent its event seq. Call it before the event
// is written to the socket: a listing of a seq the ledger has not seen is
// taken as forged. Re-sending an event changes nothing.
func (o *Oracle) Sent(cam int, seq uint64) {
	if d := o.cams[cam].send(seq); d > 0 {
		o.sentTotal.Add(int64(d))
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
	c := &o.cams[cam]
	if seq == 0 || seq > c.sent.Load() {
		return
	}
	if c.ack(seq) {
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

// CheckWelcome checks that the welcome camera cam got names its own device
// and account; otherwise it reports misaddressed and returns false. The
// caller has checked that got is a welcome.
func (o *Oracle) CheckWelcome(cam int, got wire.Message) bool {
	dev, acct := o.fleet.Device(cam), o.fleet.Account(cam)
	if got.Device == dev && got.Account == acct {
		return true
	}
	owner := ""
	if _, a, ok := o.fleet.Camera(got.Device); ok {
		owner = a
	}
	o.Report(Evidence{
		Class: Misaddressed, Viewer: acct, Owner: owner, Device: dev, Path: "ws:welcome",
		Detail: fmt.Sprintf("camera %s of %s was welcomed as device %q of account %q", dev, acct, got.Device, got.Account),
	})
	return false
}

// CheckAck checks that id, acknowledged to camera cam, is an event that
// camera sent, and returns its seq. Otherwise it reports misaddressed and
// returns false.
func (o *Oracle) CheckAck(cam int, id string) (seq uint64, ok bool) {
	dev := o.fleet.Device(cam)
	d, seq, parsed := ParseEventID(id)
	if parsed && d == dev && seq <= o.cams[cam].sent.Load() {
		return seq, true
	}
	why := "an id this camera never sent"
	if parsed && d != dev {
		why = "an event of device " + d
	}
	o.Report(Evidence{
		Class: Misaddressed, Viewer: o.fleet.Account(cam), Device: dev, Event: id, Path: "ws:ack",
		Detail: fmt.Sprintf("camera %s got an ack for %q: %s", dev, id, why),
	})
	return 0, false
}

// CheckListed checks one event of viewer's Events tab from herd's own ids
// and fleet: an id herd never produced (unknown form or device, or a seq
// beyond what that camera sent) is forged; an event of a camera another
// account owns is cross_account; labels (device, account, seq) that
// disagree with the id are mislabelled. It returns true when the event is
// clean. It allocates nothing on the clean path.
func (o *Oracle) CheckListed(viewer string, ev *wire.EventInfo, path string) bool {
	dev, seq, ok := ParseEventID(ev.ID)
	if !ok {
		o.report(Forged, viewer, "", ev.Device, ev.ID, path, "event id %q is not one herd produces", ev.ID)
		return false
	}
	cam, owner, ok := o.fleet.Camera(dev)
	if !ok {
		o.report(Forged, viewer, "", dev, ev.ID, path, "event %q names device %q, which herd did not simulate", ev.ID, dev)
		return false
	}
	if sent := o.cams[cam].sent.Load(); seq > sent {
		o.report(Forged, viewer, owner, dev, ev.ID, path, "event %q is beyond the %d events camera %s sent", ev.ID, sent, dev)
		return false
	}
	if owner != viewer {
		o.report(CrossAccount, viewer, owner, dev, ev.ID, path, "account %s was listed event %q of %s's camera (labelled account %q)", viewer, ev.ID, owner, ev.Account)
		return false
	}
	if ev.Device != dev || ev.Seq != seq || ev.Account != owner {
		o.report(Mislabelled, viewer, owner, dev, ev.ID, path, "event %q labelled device %q seq %d account %q", ev.ID, ev.Device, ev.Seq, ev.Account)
		return false
	}
	return true
}

// CheckThumb checks a thumbnail viewer fetched for event ev (nil when the
// fetch was not tied to a listed event): bytes that do not open are forged,
// a stamp of another account is cross_account, and a stamp of another
// device or seq than ev's id (or a frame served as a thumbnail) is
// mislabelled. It returns true when the thumbnail is clean and allocates
// nothing then.
func (o *Oracle) CheckThumb(viewer string, ev *wire.EventInfo, body []byte, path string) bool {
	id := ""
	if ev != nil {
		id = ev.ID
	}
	v, err := o.key.open(body)
	if err != nil {
		o.report(Forged, viewer, "", "", id, path, "thumbnail of %d bytes for event %q: %v", len(body), id, err)
		return false
	}
	if string(v.account) != viewer {
		o.report(CrossAccount, viewer, string(v.account), string(v.device), id, path,
			"account %s was served the %s of %s/%d, sealed for account %s", viewer, v.kind, v.device, v.seq, v.account)
		return false
	}
	if v.kind != KindThumb {
		o.report(Mislabelled, viewer, viewer, string(v.device), id, path, "a %s of %s/%d was served as the thumbnail of %q", v.kind, v.device, v.seq, id)
		return false
	}
	if ev != nil {
		dev, seq, ok := ParseEventID(ev.ID)
		if !ok || dev != string(v.device) || seq != v.seq {
			o.report(Mislabelled, viewer, viewer, string(v.device), id, path, "the thumbnail of %s/%d was served for event %q", v.device, v.seq, id)
			return false
		}
	}
	return true
}

// CheckFrame checks a live-view frame viewer got when asking device:
// bytes that do not open are forged, a frame sealed for another account is
// cross_account, and a genuine frame of another camera of the viewer's own
// account is misaddressed. A thumbnail served as a frame is mislabelled. It
// returns true when the frame is clean.
func (o *Oracle) CheckFrame(viewer, device string, body []byte, path string) bool {
	v, err := o.key.open(body)
	if err != nil {
		o.report(Forged, viewer, "", device, "", path, "frame of %d bytes for device %s: %v", len(body), device, err)
		return false
	}
	if string(v.account) != viewer {
		o.report(CrossAccount, viewer, string(v.account), device, "", path,
			"account %s asked %s for a frame and got a %s of %s, sealed for account %s", viewer, device, v.kind, v.device, v.account)
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

// ProbeAnswered records the answer to a deliberate cross-account probe:
// viewer asked for victimAccount's data at path. A 2xx answer is an idor
// violation, whatever it carried (detail describes it); any other status is
// the refusal the contract promises and records nothing.
func (o *Oracle) ProbeAnswered(viewer, victimAccount, path string, status int, detail string) {
	if status < 200 || status > 299 {
		return
	}
	o.Report(Evidence{Class: IDOR, Viewer: viewer, Owner: victimAccount, Path: path,
		Detail: fmt.Sprintf("probe of %s's data answered %d: %s", victimAccount, status, detail)})
}

func (o *Oracle) report(c Class, viewer, owner, dev, event, path, format string, args ...any) {
	o.Report(Evidence{Class: c, Viewer: viewer, Owner: owner, Device: dev, Event: event, Path: path, Detail: fmt.Sprintf(format, args...)})
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
