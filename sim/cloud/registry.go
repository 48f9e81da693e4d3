package cloud

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/herd-drill/herd/sim/cloud/internal/shard"
	"github.com/herd-drill/herd/sim/wire"
)

// registry is the source of truth for who owns what: accounts, their users'
// tokens, their devices and the devices' tokens. The target reads it only
// through the registry server and its cache client (see lookup).
type registry struct {
	mu           sync.Mutex // serialises provisioning requests; look-ups never take it
	accounts     *shard.Map[accountRec]
	devices      *shard.Map[deviceRec]
	deviceTokens *shard.Map[string] // device token → device
	userTokens   *shard.Map[string] // user token → account
}

type accountRec struct {
	userToken string
	devices   []string
}

type deviceRec struct {
	account, token string
}

func newRegistry() *registry {
	return &registry{
		accounts:     shard.New[accountRec](),
		devices:      shard.New[deviceRec](),
		deviceTokens: shard.New[string](),
		userTokens:   shard.New[string](),
	}
}

// Registry key prefixes of the look-ups the target makes.
const (
	keyDeviceToken = "dtok:" // → "<device> <account>"
	keyUserToken   = "utok:" // → "<account>"
	keyDevice      = "dev:"  // → "<account>"
	keyEvent       = "evt:"  // → "<account>"
)

// lookup answers the registry server's look-ups.
func (s *Server) lookup(key string) (string, bool) {
	switch {
	case strings.HasPrefix(key, keyDeviceToken):
		tok := key[len(keyDeviceToken):]
		dev, ok := s.reg.deviceTokens.Get(tok)
		if !ok {
			return "", false
		}
		rec, ok := s.reg.devices.Get(dev)
		if !ok || rec.token != tok {
			return "", false
		}
		// Identifiers never contain a space.
		return dev + " " + rec.account, true
	case strings.HasPrefix(key, keyUserToken):
		return s.reg.userTokens.Get(key[len(keyUserToken):])
	case strings.HasPrefix(key, keyDevice):
		rec, ok := s.reg.devices.Get(key[len(keyDevice):])
		return rec.account, ok
	case strings.HasPrefix(key, keyEvent):
		ev, ok := s.store.get(key[len(keyEvent):])
		if !ok {
			return "", false
		}
		return ev.account, true
	}
	return "", false
}

// handleFleet is POST /v1/fleet: streamed, all-or-nothing, idempotent
// provisioning.
func (s *Server) handleFleet(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	tok, ok := bearer(r)
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
		writeError(w, http.StatusUnauthorized, "wrong or missing admin token")
		return
	}
	var (
		staged  []wire.Account
		lines   []int
		acctAt  = map[string]int{}
		devAt   = map[string]int{}
		dtokAt  = map[string]int{}
		utokAt  = map[string]int{}
		problem error
	)
	// Nothing is applied before the last line is read and checked: a bad
	// line anywhere rejects the whole request.
	err := wire.ReadFleet(r.Body, func(line int, a *wire.Account) error {
		if at, dup := acctAt[a.Account]; dup {
			return &wire.LineError{Line: line, Reason: fmt.Sprintf("account %s already given on line %d", a.Account, at)}
		}
		if at, dup := utokAt[a.UserToken]; dup {
			return &wire.LineError{Line: line, Reason: fmt.Sprintf("user_token already used on line %d", at)}
		}
		for _, d := range a.Devices {
			if at, dup := devAt[d.Device]; dup {
				return &wire.LineError{Line: line, Reason: fmt.Sprintf("device %s already given on line %d", d.Device, at)}
			}
			if at, dup := dtokAt[d.Token]; dup && at != line {
				return &wire.LineError{Line: line, Reason: fmt.Sprintf("token of device %s already used on line %d", d.Device, at)}
			} else if dup {
				return &wire.LineError{Line: line, Reason: fmt.Sprintf("token of device %s used twice", d.Device)}
			}
			devAt[d.Device] = line
			dtokAt[d.Token] = line
		}
		acctAt[a.Account] = line
		utokAt[a.UserToken] = line
		staged = append(staged, *a)
		lines = append(lines, line)
		return nil
	})
	if err == nil {
		problem = s.reg.apply(staged, lines, acctAt, devAt)
	}
	var le *wire.LineError
	switch {
	case errors.As(err, &le):
		writeError(w, http.StatusBadRequest, le.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
	case errors.As(problem, &le):
		writeError(w, http.StatusBadRequest, le.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// apply checks the staged accounts against the registry and, if no token
// would end up with two owners, registers them, replacing accounts that
// exist. Devices named by a new account move to it.
func (reg *registry) apply(staged []wire.Account, lines []int, inAcct, inDev map[string]int) error {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	// A token may be taken over only from an account or device this request
	// re-provisions; anyone else keeps theirs.
	for i, a := range staged {
		if owner, ok := reg.userTokens.Get(a.UserToken); ok && owner != a.Account {
			if _, replaced := inAcct[owner]; !replaced {
				return &wire.LineError{Line: lines[i], Reason: "user_token already belongs to another account"}
			}
		}
		for _, d := range a.Devices {
			owner, ok := reg.deviceTokens.Get(d.Token)
			if !ok || owner == d.Device {
				continue
			}
			if _, replaced := inDev[owner]; replaced {
				continue
			}
			if rec, ok := reg.devices.Get(owner); ok {
				if _, replaced := inAcct[rec.account]; replaced {
					continue
				}
			}
			return &wire.LineError{Line: lines[i], Reason: fmt.Sprintf("token of device %s already belongs to another device", d.Device)}
		}
	}
	for _, a := range staged {
		reg.replace(&a)
	}
	return nil
}

func (reg *registry) replace(a *wire.Account) {
	keep := make(map[string]bool, len(a.Devices))
	for _, d := range a.Devices {
		keep[d.Device] = true
	}
	if old, ok := reg.accounts.Get(a.Account); ok {
		reg.dropToken(reg.userTokens, old.userToken, a.Account)
		for _, dev := range old.devices {
			if keep[dev] {
				continue
			}
			if rec, ok := reg.devices.Get(dev); ok && rec.account == a.Account {
				reg.devices.Delete(dev)
				reg.dropToken(reg.deviceTokens, rec.token, dev)
			}
		}
	}
	devs := make([]string, 0, len(a.Devices))
	for _, d := range a.Devices {
		if rec, ok := reg.devices.Get(d.Device); ok {
			if rec.account != a.Account {
				reg.accounts.Update(rec.account, func(old accountRec, ok bool) (accountRec, bool) {
					if !ok {
						return old, false
					}
					kept := make([]string, 0, len(old.devices))
					for _, x := range old.devices {
						if x != d.Device {
							kept = append(kept, x)
						}
					}
					old.devices = kept
					return old, true
				})
			}
			if rec.token != d.Token {
				reg.dropToken(reg.deviceTokens, rec.token, d.Device)
			}
		}
		reg.devices.Set(d.Device, deviceRec{account: a.Account, token: d.Token})
		reg.deviceTokens.Set(d.Token, d.Device)
		devs = append(devs, d.Device)
	}
	reg.userTokens.Set(a.UserToken, a.Account)
	reg.accounts.Set(a.Account, accountRec{userToken: a.UserToken, devices: devs})
}

// dropToken removes tok from m if it still points at owner: within one
// request a token may already have moved to its new owner.
func (reg *registry) dropToken(m *shard.Map[string], tok, owner string) {
	m.Update(tok, func(cur string, ok bool) (string, bool) {
		return cur, ok && cur != owner
	})
}
