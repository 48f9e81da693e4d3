package oracle_test

import (
	"bytes"
	"fmt"

	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// twoHomes is a fleet of two accounts with one camera each.
type twoHomes struct{ names *oracle.Names }

func (h twoHomes) Names() *oracle.Names     { return h.names }
func (twoHomes) Cameras() int               { return 2 }
func (twoHomes) Accounts() int              { return 2 }
func (twoHomes) AccountOf(cam int) int      { return cam }
func (twoHomes) CamerasOf(a int) (int, int) { return a, a + 1 }

// A camera seals its thumbnail; the target is then caught showing it to the
// wrong account.
func Example() {
	// A run's key is random; this one is fixed so that the output is.
	key, err := oracle.KeyFromBytes(bytes.Repeat([]byte{7}, oracle.KeySize))
	if err != nil {
		panic(err)
	}
	names := key.Names()
	o := oracle.New(key, twoHomes{names})
	alice, bob := names.Account(0), names.Account(1)
	camA := names.Device(0)

	// Alice's camera sends event 1 with a sealed 1 KiB thumbnail.
	o.Captured(0, 1)
	o.Sent(0, 1)
	thumb := key.Seal(nil, oracle.Stamp{Kind: oracle.KindThumb, Account: alice, Device: camA, Seq: 1, At: 1764412800123, EventKind: "motion"}, 1024)
	if seq, ok := o.CheckAck(0, oracle.EventID(camA, 1)); ok {
		o.Acked(0, seq)
	}

	ev := wire.EventInfo{ID: oracle.EventID(camA, 1), Device: camA, Account: alice, Seq: 1, At: 1764412800123, Kind: "motion"}
	fmt.Println("alice sees her own event:", o.CheckListed(alice, &ev, wire.EventsPath(alice)) &&
		o.CheckThumb(alice, &ev, thumb, wire.ThumbPath(ev.ID)))

	// The target lists the same event in Bob's tab, relabelled as his.
	leaked := wire.EventInfo{ID: ev.ID, Device: names.Device(1), Account: bob, Seq: 1}
	fmt.Println("bob's tab is clean:", o.CheckListed(bob, &leaked, wire.EventsPath(bob)))
	fmt.Println("bob's thumbnail is clean:", o.CheckThumb(bob, &leaked, thumb, wire.ThumbPath(leaked.ID)))
	fmt.Println("a forged thumbnail is clean:", o.CheckThumb(bob, &leaked, []byte("not herd's"), wire.ThumbPath(leaked.ID)))

	// The final audit: Alice's tab is empty, so her acknowledged event is lost.
	o.Audit(alice, nil, wire.EventsPath(alice))
	o.AuditDone()

	v := o.Snapshot()
	for _, c := range oracle.Classes() {
		if v.Counts[c] > 0 {
			fmt.Printf("%s: %d\n", c, v.Counts[c])
		}
	}
	fmt.Println(v.Evidence[0].Detail)
	// Output:
	// alice sees her own event: true
	// bob's tab is clean: false
	// bob's thumbnail is clean: false
	// a forged thumbnail is clean: false
	// cross_account: 2
	// forged: 1
	// lost: 1
	// account h1a64a71b0d.acct-0000001 was listed event "h1a64a71b0d.cam-00000000/1" of h1a64a71b0d.acct-0000000's camera (labelled account "h1a64a71b0d.acct-0000001")
}
