package sim_test

import (
	"bytes"
	"fmt"

	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/oracle"
)

// A fleet layout is fixed by its size and seed, and named for its run: the
// same size, seed and key give the same accounts, devices and tokens on
// every machine, and herd maps a device id back to its owner without asking
// the target.
func ExampleNewLayout() {
	// A run's key is random (oracle.NewKey); this one is fixed so that the
	// output is.
	key, err := oracle.KeyFromBytes(bytes.Repeat([]byte{7}, oracle.KeySize))
	if err != nil {
		panic(err)
	}
	l, err := sim.NewLayout(10, 42, key)
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Cameras(), "cameras in", l.Accounts(), "accounts, run", l.Namespace())
	for a := 0; a < l.Accounts(); a++ {
		first, end := l.CamerasOf(a)
		fmt.Println(l.AccountID(a), "owns", end-first)
	}
	cam, owner, ok := l.Camera(l.Namespace() + ".cam-00000003")
	fmt.Println(cam, owner, ok)
	fmt.Println("cell of", owner, "among 4:", sim.CellOf(owner, 4))
	// Output:
	// 10 cameras in 2 accounts, run h1a64a71b0d
	// h1a64a71b0d.acct-0000000 owns 1
	// h1a64a71b0d.acct-0000001 owns 9
	// 3 h1a64a71b0d.acct-0000001 true
	// cell of h1a64a71b0d.acct-0000001 among 4: 3
}
