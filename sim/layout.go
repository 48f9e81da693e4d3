package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	"github.com/herd-drill/herd/sim/wire"
)

// Layout is a seeded, reproducible fleet: accounts that own one to many
// cameras. Cameras are numbered 0..N-1 and an account owns a contiguous run
// of them, so the layout costs 4 bytes per camera and 4 per account.
//
// Homes are skewed the way consumer camera fleets are: most own one or two
// cameras, a long tail owns up to 16 (see CamerasPerAccount).
type Layout struct {
	seed    uint64
	owner   []uint32 // camera → account index
	first   []uint32 // account → its first camera; first[len] = N
	secret  [32]byte // derives tokens; from the seed, so an export and a run agree
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

// NewLayout builds the fleet of n cameras for seed. The same (n, seed) gives
// the same accounts, devices and tokens on every machine.
func NewLayout(n int, seed uint64) (*Layout, error) {
	if n < 1 {
		return nil, fmt.Errorf("a fleet needs at least one camera, got %d", n)
	}
	if n > 10_000_000 {
		return nil, fmt.Errorf("%d cameras is more than herd's layout supports (10,000,000)", n)
	}
	l := &Layout{seed: seed, owner: make([]uint32, n)}
	mac := hmac.New(sha256.New, []byte("herd fleet layout v1"))
	var sb [8]byte
	binary.LittleEndian.PutUint64(sb[:], seed)
	mac.Write(sb[:])
	copy(l.secret[:], mac.Sum(nil))
	l.zoneKey = splitmix(seed ^ 0x5a0e)

	rng := seed ^ 0x9e3779b97f4a7c15
	cam := 0
	for cam < n {
		rng = splitmix(rng)
		k := homeSize(float64(rng>>11)/(1<<53), splitmix(rng^0xabcdef))
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

// splitmix is the SplitMix64 finaliser: a cheap, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit maps a hash to [0,1).
func unit(x uint64) float64 { return float64(splitmix(x)>>11) / (1 << 53) }

// Seed returns the layout's seed.
func (l *Layout) Seed() uint64 { return l.seed }

// Cameras returns the number of cameras.
func (l *Layout) Cameras() int { return len(l.owner) }

// Accounts returns the number of accounts.
func (l *Layout) Accounts() int { return len(l.first) - 1 }

// AccountOf returns the account index that owns camera cam.
func (l *Layout) AccountOf(cam int) int { return int(l.owner[cam]) }

// CamerasOf returns the half-open range of camera indexes account a owns.
func (l *Layout) CamerasOf(a int) (first, end int) { return int(l.first[a]), int(l.first[a+1]) }

// Device returns the device id of camera cam.
func (l *Layout) Device(cam int) string { return DeviceName(cam) }

// Account returns the id of the account that owns camera cam.
func (l *Layout) Account(cam int) string { return AccountName(int(l.owner[cam])) }

// Camera maps a device id back to its camera index and owning account. It
// does not allocate on the device side and accepts only ids this layout made.
func (l *Layout) Camera(device string) (cam int, account string, ok bool) {
	cam, ok = parseNumbered(device, "cam-", 8)
	if !ok || cam >= len(l.owner) {
		return 0, "", false
	}
	return cam, l.Account(cam), true
}

// DeviceName is the device id of camera index cam: cam-00000117.
func DeviceName(cam int) string { return numbered("cam-", 8, cam) }

// AccountName is the id of account index a: acct-0000042.
func AccountName(a int) string { return numbered("acct-", 7, a) }

func numbered(prefix string, width, n int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return prefix + s
}

func parseNumbered(s, prefix string, width int) (int, bool) {
	if len(s) < len(prefix)+width || s[:len(prefix)] != prefix {
		return 0, false
	}
	n := 0
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || n > 1<<40 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	// Reject non-canonical spellings (extra leading zeros), so one camera
	// has exactly one id.
	if len(s) > len(prefix)+width && s[len(prefix)] == '0' {
		return 0, false
	}
	return n, true
}

// DeviceToken is the secret camera cam presents to connect. Tokens derive
// from the seed: anyone with the seed can act as the fleet, so use a seed of
// your own for drills against shared backends.
func (l *Layout) DeviceToken(cam int) string { return l.token('d', cam) }

// UserToken is the secret of account a's app user.
func (l *Layout) UserToken(a int) string { return l.token('u', a) }

func (l *Layout) token(kind byte, n int) string {
	var msg [9]byte
	msg[0] = kind
	binary.LittleEndian.PutUint64(msg[1:], uint64(n))
	m := hmac.New(sha256.New, l.secret[:])
	m.Write(msg[:])
	sum := m.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// Zone returns the failure zone (0..zones-1) of account a: an az-outage
// takes a whole zone down, and all of an account's cameras share its zone.
func (l *Layout) Zone(a, zones int) int {
	if zones <= 1 {
		return 0
	}
	return int(splitmix(l.zoneKey^uint64(a)) % uint64(zones))
}

// Provisioning returns account a as a herd/1 provisioning line.
func (l *Layout) Provisioning(a int) *wire.Account {
	first, end := l.CamerasOf(a)
	acc := &wire.Account{Account: AccountName(a), UserToken: l.UserToken(a), Devices: make([]wire.Device, 0, end-first)}
	for c := first; c < end; c++ {
		acc.Devices = append(acc.Devices, wire.Device{Device: DeviceName(c), Token: l.DeviceToken(c)})
	}
	return acc
}

// Export writes the accounts selected by keep (all when keep is nil) as
// herd/1 provisioning JSON Lines.
func (l *Layout) Export(w io.Writer, keep func(a int) bool) error {
	for a := 0; a < l.Accounts(); a++ {
		if keep != nil && !keep(a) {
			continue
		}
		if err := wire.WriteAccount(w, l.Provisioning(a)); err != nil {
			return err
		}
	}
	return nil
}
