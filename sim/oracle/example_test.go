package oracle_test

import (
	"fmt"

	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// twoHomes is a fleet of two accounts with one camera each.
type twoHomes struct{}

func (twoHomes) Camera(device string) (int, string, bool) {
	switch device {
	case "cam-a":
		return 0, "alice", true
	case "cam-b":
		return 1, "bob", true
	}
	return 0, "", false
}
func (twoHomes) Cameras() int           { return 2 }
func (twoHomes) Device(cam int) string  { return []string{"cam-a", "cam-b"}[cam] }
func (twoHomes) Account(cam int) string { return []string{"alice", "bob"}[cam] }

// A camera seals its thumbnail; the target is then caught showing it to the
// wrong account.
func Example() {
	key, err := oracle.NewKey()
	if err != nil {
		panic(err)
	}
	o := oracle.New(key, twoHomes{})

	// Alice's camera sends event 1 with a sealed 1 KiB thumbnail.
	o.Sent(0, 1)
	thumb := key.Seal(nil, oracle.Stamp{Kind: oracle.KindThumb, Account: "alice", Device: "cam-a", Seq: 1, At: 1764412800123}, 1024)
	if seq, ok := o.CheckAck(0, oracle.EventID("cam-a", 1)); ok {
		o.Acked(0, seq)
	}

	ev := wire.EventInfo{ID: "cam-a/1", Device: "cam-a", Account: "alice", Seq: 1}
	fmt.Println("alice sees her own event:", o.CheckListed("alice", &ev, wire.EventsPath("alice")) &&
		o.CheckThumb("alice", &ev, thumb, wire.ThumbPath(ev.ID)))

	// The target lists the same event in Bob's tab, relabelled as his.
	leaked := wire.EventInfo{ID: "cam-a/1", Device: "cam-b", Account: "bob", Seq: 1}
	fmt.Println("bob's tab is clean:", o.CheckListed("bob", &leaked, wire.EventsPath("bob")))
	fmt.Println("bob's thumbnail is clean:", o.CheckThumb("bob", &leaked, thumb, wire.ThumbPath(leaked.ID)))
	fmt.Println("a forged thumbnail is clean:", o.CheckThumb("bob", &leaked, []byte("not herd's"), wire.ThumbPath(leaked.ID)))

	// The final audit: Alice's tab is empty, so her acknowledged event is lost.
	o.Audit("alice", nil, wire.EventsPath("alice"))
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
	// account bob was listed event "cam-a/1" of alice's camera (labelled account "bob")
}
