package sim_test

import (
	"fmt"

	"github.com/herd-drill/herd/sim"
)

// A fleet layout is fixed by its size and seed: the same pair gives the same
// accounts, devices and tokens on every machine, and herd maps a device id
// back to its owner without asking the target.
func ExampleNewLayout() {
	l, err := sim.NewLayout(10, 42)
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Cameras(), "cameras in", l.Accounts(), "accounts")
	for a := 0; a < l.Accounts(); a++ {
		first, end := l.CamerasOf(a)
		fmt.Println(sim.AccountName(a), "owns", end-first)
	}
	cam, owner, ok := l.Camera("cam-00000003")
	fmt.Println(cam, owner, ok)
	fmt.Println("cell of", owner, "among 4:", sim.CellOf(owner, 4))
	// Output:
	// 10 cameras in 2 accounts
	// acct-0000000 owns 1
	// acct-0000001 owns 9
	// 3 acct-0000001 true
	// cell of acct-0000001 among 4: 0
}
