package cloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"

	"github.com/herd-drill/herd/sim/cloud/internal/shard"
)

// event is one stored event. It is never modified once stored.
type event struct {
	id, device, account string
	seq                 uint64
	at                  int64
	kind                string
	thumb               []byte
}

// accountLog is an account's events in the order they were stored. It only
// grows, so a position in it is a stable cursor.
type accountLog struct {
	mu     sync.RWMutex
	events []*event
}

// store is the in-memory event store: an index by event id and one log per
// account, both sharded, so writes to different accounts never share a lock.
type store struct {
	ids  *shard.Map[*event]
	logs *shard.Map[*accountLog]
}

func newStore() *store {
	return &store{ids: shard.New[*event](), logs: shard.New[*accountLog]()}
}

// putResult is what became of a stored event.
type putResult int

const (
	stored    putResult = iota // appended to its account's log
	duplicate                  // the same device's event id was already stored
	foreign                    // the id is already stored for another device
)

// put stores ev. With dedup, an id already in the store is not stored
// again; without it (the dup-on-retry fault, whose de-duplication lives in
// the socket instead) every call appends. An id stored for another device is
// never overwritten.
func (st *store) put(ev *event, dedup bool) putResult {
	old, loaded := st.ids.LoadOrStore(ev.id, ev)
	if loaded {
		if old.device != ev.device {
			return foreign
		}
		if dedup {
			return duplicate
		}
	}
	lg := st.log(ev.account)
	lg.mu.Lock()
	lg.events = append(lg.events, ev)
	lg.mu.Unlock()
	return stored
}

func (st *store) log(account string) *accountLog {
	if lg, ok := st.logs.Get(account); ok {
		return lg
	}
	lg, _ := st.logs.LoadOrStore(account, &accountLog{})
	return lg
}

// get returns the event stored under id.
func (st *store) get(id string) (*event, bool) { return st.ids.Get(id) }

// version is the number of events account has; it changes whenever the
// account's Events tab does.
func (st *store) version(account string) int {
	lg, ok := st.logs.Get(account)
	if !ok {
		return 0
	}
	lg.mu.RLock()
	defer lg.mu.RUnlock()
	return len(lg.events)
}

// page returns up to limit events of account from position from on, the
// position after them and whether more events exist. ok is false when from
// is beyond the log (no cursor of ours points there).
func (st *store) page(account string, from, limit int) (evs []*event, next int, more, ok bool) {
	lg, found := st.logs.Get(account)
	if !found {
		return nil, from, false, from == 0
	}
	lg.mu.RLock()
	defer lg.mu.RUnlock()
	n := len(lg.events)
	if from > n {
		return nil, from, false, false
	}
	end := min(from+limit, n)
	evs = append([]*event(nil), lg.events[from:end]...)
	return evs, end, end < n, true
}

// cursorCodec makes opaque Events-tab cursors: a position in an account's
// log, signed with a key of this process together with the account, so a
// cursor the target did not issue for that account is recognised.
type cursorCodec struct {
	key []byte
}

const cursorMACLen = 12

func (c cursorCodec) mac(account string, pos []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write(pos)
	return h.Sum(nil)[:cursorMACLen]
}

func (c cursorCodec) encode(account string, pos int) string {
	b := binary.AppendUvarint(nil, uint64(pos))
	b = append(b, c.mac(account, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decode returns the position of cursor s issued for account.
func (c cursorCodec) decode(account, s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) <= cursorMACLen {
		return 0, false
	}
	pos, body := b[:len(b)-cursorMACLen], b[len(b)-cursorMACLen:]
	if !hmac.Equal(body, c.mac(account, pos)) {
		return 0, false
	}
	v, n := binary.Uvarint(pos)
	if n != len(pos) || v > 1<<40 {
		return 0, false
	}
	return int(v), true
}
