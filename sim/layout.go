package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/herd-drill/herd/sim/internal/draw"
	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// Layout is a seeded, reproducible fleet: accounts that own one to many
// cameras, named by the run's identifier scheme (oracle.Names). Cameras are
// numbered 0..N-1 and an account owns a contiguous run of them, so the
// layout costs 4 bytes per camera and 4 per account.
//
// Homes are skewed the way consumer camera fleets are: most own one or two
// cameras, a long tail owns up to 16 (see CamerasPerAccount). The seed fixes
// the shape; the run's key fixes the names, so that every drill against one
// backend provisions accounts of its own.
type Layout struct {
	seed    uint64
	key     *oracle.Key
	names   *oracle.Names
	owner   []uint32 // camera → account index
	first   []uint32 // account → its first camera; first[len] = N
	zoneKey uint64
}

// CamerasPerAccount is the distribution of cameras per home, as cumulative
// percentages: 45% own 1, 25% own 2, 11% own 3, 7% own 4, 9% own 5–8 and 3%
// own 9–16 (mean ≈ 2.5). Figures follow the shape vendors report for
// consumer fleets: most homes have a doorbell and maybe one more camera.
var CamerasPerAccount = []struct {
	Cumulative float64
	Min, Max   int
}{
	{0.45, 1, 1}, {0.70, 2, 2}, {0.81, 3, 3}, {0.88, 4, 4}, {0.97, 5, 8}, {1.00, 9, 16},
}

// NewLayout builds the fleet of n cameras for seed, named for the run whose
// key is key. The same (n, seed, key) gives the same accounts, devices and
// tokens on every machine: the shards and workers of a run share the key.
func NewLayout(n int, seed uint64, key *oracle.Key) (*Layout, error) {
	if n < 1 {
		return nil, fmt.Errorf("a fleet needs at least one camera, got %d", n)
	}
	if n > 10_000_000 {
		return nil, fmt.Errorf("%d cameras is more than herd's layout supports (10,000,000)", n)
	}
	if key == nil {
		return nil, errors.New("sim: NewLayout: nil key")
	}
	l := &Layout{seed: seed, key: key, names: key.Names(), owner: make([]uint32, n)}
	l.zoneKey = draw.Mix(seed ^ 0x5a0e)

	rng := seed ^ 0x9e3779b97f4a7c15
	cam := 0
	for cam < n {
		rng = draw.Mix(rng)
		k := homeSize(float64(rng>>11)/(1<<53), draw.Mix(rng^0xabcdef))
		if cam+k > n {
			k = n - cam
		}
		acct := uint32(len(l.first))
		l.first = append(l.first, uint32(cam))
		for i := 0; i < k; i++ {
			l.owner[cam+i] = acct
		}
		cam += k
	}
	l.first = append(l.first, uint32(n))
	return l, nil
}

func homeSize(u float64, r uint64) int {
	for _, b := range CamerasPerAccount {
		if u < b.Cumulative {
			return b.Min + int(r%uint64(b.Max-b.Min+1))
		}
	}
	return 1
}

// Seed returns the layout's seed.
func (l *Layout) Seed() uint64 { return l.seed }

// Key returns the run's key: the layout's names derive from it, and the
// fleet seals its provenance with it.
func (l *Layout) Key() *oracle.Key { return l.key }

// Names returns the run's identifier scheme.
func (l *Layout) Names() *oracle.Names { return l.names }

// Namespace returns the run namespace every identifier of the layout
// starts with.
func (l *Layout) Namespace() string { return l.names.Namespace() }

// Cameras returns the number of cameras.
func (l *Layout) Cameras() int { return len(l.owner) }

// Accounts returns the number of accounts.
func (l *Layout) Accounts() int { return len(l.first) - 1 }

// AccountOf returns the account index that owns camera cam.
func (l *Layout) AccountOf(cam int) int { return int(l.owner[cam]) }

// CamerasOf returns the half-open range of camera indexes account a owns.
func (l *Layout) CamerasOf(a int) (first, end int) { return int(l.first[a]), int(l.first[a+1]) }

// Device returns the device id of camera cam.
func (l *Layout) Device(cam int) string { return l.names.Device(cam) }

// AccountID returns the id of account a.
func (l *Layout) AccountID(a int) string { return l.names.Account(a) }

// Account returns the id of the account that owns camera cam.
func (l *Layout) Account(cam int) string { return l.names.Account(int(l.owner[cam])) }

// Camera maps a device id back to its camera index and owning account. It
// accepts only ids this layout made.
func (l *Layout) Camera(device string) (cam int, account string, ok bool) {
	cam, ok = l.names.ParseDevice(device)
	if !ok || cam >= len(l.owner) {
		return 0, "", false
	}
	return cam, l.Account(cam), true
}

// DeviceToken is the secret camera cam presents to connect.
func (l *Layout) DeviceToken(cam int) string { return l.names.DeviceToken(cam) }

// UserToken is the secret of account a's app user.
func (l *Layout) UserToken(a int) string { return l.names.UserToken(a) }

// Zone returns the failure zone (0..zones-1) of account a: an az-outage
// takes a whole zone down, and all of an account's cameras share its zone.
func (l *Layout) Zone(a, zones int) int {
	if zones <= 1 {
		return 0
	}
	return int(draw.Mix(l.zoneKey^uint64(a)) % uint64(zones))
}

// Provisioning returns account a as a herd/1 provisioning line.
func (l *Layout) Provisioning(a int) *wire.Account {
	first, end := l.CamerasOf(a)
	acc := &wire.Account{Account: l.AccountID(a), UserToken: l.UserToken(a), Devices: make([]wire.Device, 0, end-first)}
	for c := first; c < end; c++ {
		acc.Devices = append(acc.Devices, wire.Device{Device: l.Device(c), Token: l.DeviceToken(c)})
	}
	return acc
}

// Export writes the accounts selected by keep (all when keep is nil) as
// herd/1 provisioning JSON Lines, buffered.
func (l *Layout) Export(w io.Writer, keep func(a int) bool) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	for a := 0; a < l.Accounts(); a++ {
		if keep != nil && !keep(a) {
			continue
		}
		if err := wire.WriteAccount(bw, l.Provisioning(a)); err != nil {
			return err
		}
	}
	return bw.Flush()
}
