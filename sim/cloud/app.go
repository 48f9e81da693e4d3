package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herd-drill/herd/sim/cloud/internal/kv"
	"github.com/herd-drill/herd/sim/cloud/internal/shard"
	"github.com/herd-drill/herd/sim/wire"
)

// Handler returns the http.Handler of every herd/1 route. The Server's
// machinery must be running: it is from New until Close.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.route) }

// route dispatches on the decoded path by hand rather than with a pattern
// mux: identifiers may contain "/" (sent raw or as %2F) and "." segments,
// which a mux would split or clean.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == wire.PathFleet:
		s.handleFleet(w, r)
		return
	case p == wire.PathConnect:
		s.handleConnect(w, r)
		return
	}
	if id, ok := between(p, "/v1/accounts/", "/events"); ok {
		s.handleEvents(w, r, id)
		return
	}
	if id, ok := between(p, "/v1/events/", "/thumbnail"); ok {
		s.handleThumbnail(w, r, id)
		return
	}
	if id, ok := between(p, "/v1/devices/", "/live"); ok {
		s.handleLive(w, r, id)
		return
	}
	writeError(w, http.StatusNotFound, "no such route")
}

// between returns what p has between prefix and suffix, if that is a valid
// identifier.
func between(p, prefix, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, suffix)
	return id, ok && wire.ValidID(id)
}

// admitApp counts an app call, applies the app-call bucket and resolves the
// user token; on failure it has answered.
func (s *Server) admitApp(w http.ResponseWriter, r *http.Request, method string) (account string, ok bool) {
	s.stats.appCalls.Add(1)
	if r.Method != method {
		methodNotAllowed(w, method)
		return "", false
	}
	if s.apps != nil {
		if ok, wait := s.apps.take(time.Now()); !ok {
			s.stats.appShed.Add(1)
			shed(w, wait, "app call rate limit")
			return "", false
		}
	}
	tok, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "missing user token")
		return "", false
	}
	account, err := s.lookupAccount(r.Context(), keyUserToken+tok)
	switch {
	case errors.Is(err, errUnknown):
		writeError(w, http.StatusUnauthorized, "unknown user token")
		return "", false
	case err != nil:
		s.stats.appShed.Add(1)
		shed(w, time.Second, err.Error())
		return "", false
	}
	return account, true
}

// owns reports whether caller may see what belongs to owner. Under the idor
// fault any valid token may.
func (s *Server) owns(caller, owner string) bool {
	return caller == owner || s.faults.Has(IDOR)
}

// handleEvents is the Events tab: GET /v1/accounts/{account}/events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, account string) {
	caller, ok := s.admitApp(w, r, http.MethodGet)
	if !ok {
		return
	}
	q := r.URL.Query()
	// The idor-after bug: a page after a cursor is loaded by the cursor,
	// and the check that the caller owns the account is on the first page
	// only.
	if !s.owns(caller, account) && !(s.faults.Has(IDORAfter) && q.Get("after") != "") {
		writeError(w, http.StatusForbidden, "not your account")
		return
	}
	limit := DefaultPageLimit
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > wire.MaxPage {
			writeError(w, http.StatusBadRequest, "limit must be an integer from 1 to "+strconv.Itoa(wire.MaxPage))
			return
		}
		limit = n
	}
	from := 0
	after := q.Get("after")
	if after != "" {
		pos, ok := s.cursors.decode(account, after)
		if !ok {
			writeError(w, http.StatusBadRequest, "not a cursor this target issued for this account")
			return
		}
		from = pos
	}

	now := time.Now()
	var key string
	if s.faults.Has(SharedCacheKey) {
		// The bug: the key is the route and its query, as if the route
		// template named the resource; the account is not in it.
		key = "events?" + r.URL.RawQuery
	} else {
		// The account's event count is in the key so that an acked event is
		// visible at once, not after the TTL.
		key = account + "\x00" + strconv.Itoa(from) + "\x00" + strconv.Itoa(limit) + "\x00" + strconv.Itoa(s.store.version(account))
	}
	if body, ok := s.listings.get(key, now); ok {
		writeJSON(w, body)
		return
	}
	evs, next, more, ok := s.store.page(account, from, limit)
	if !ok {
		writeError(w, http.StatusBadRequest, "cursor beyond the account's events")
		return
	}
	page := wire.EventsPage{Events: make([]wire.EventInfo, len(evs)), Next: s.cursors.encode(account, next), More: more}
	for i, ev := range evs {
		page.Events[i] = wire.EventInfo{
			ID:       ev.id,
			Device:   ev.device,
			Account:  ev.account,
			Seq:      ev.seq,
			At:       ev.at,
			Kind:     ev.kind,
			ThumbURL: wire.ThumbPath(ev.id),
		}
	}
	body, err := json.Marshal(&page)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.listings.put(key, body, now)
	writeJSON(w, body)
}

// handleThumbnail is GET /v1/events/{id}/thumbnail.
func (s *Server) handleThumbnail(w http.ResponseWriter, r *http.Request, id string) {
	caller, ok := s.admitApp(w, r, http.MethodGet)
	if !ok {
		return
	}
	ev, found := s.store.get(id)
	if !found {
		writeError(w, http.StatusNotFound, "no such event")
		return
	}
	if !s.faults.Has(IDOR) && !s.ownedBy(w, r, caller, keyEvent+id, "event") {
		return
	}
	thumb := ev.thumb
	if s.faults.Has(DropThumb) {
		var ok bool
		if thumb, ok = s.blobs.get(id); !ok {
			writeError(w, http.StatusNotFound, "no thumbnail for this event")
			return
		}
	}
	if s.faults.Has(ThumbCacheKey) {
		// The bug: the cache key is the path template's {seq}, which
		// many devices share.
		key := "thumbs/" + strconv.FormatUint(ev.seq, 10) + ".jpg"
		now := time.Now()
		if body, ok := s.thumbs.get(key, now); ok {
			thumb = body
		} else {
			s.thumbs.put(key, thumb, now)
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(thumb)))
	w.WriteHeader(http.StatusOK)
	w.Write(thumb)
}

// ownedBy checks, through the registry, that the thing under key belongs
// to caller's account, and answers the request itself when it does not:
// 404 unknown, 403 another account's, 503 when the look-up is shed.
func (s *Server) ownedBy(w http.ResponseWriter, r *http.Request, caller, key, what string) bool {
	owner, err := s.lookupAccount(r.Context(), key)
	switch {
	case errors.Is(err, errUnknown):
		writeError(w, http.StatusNotFound, "no such "+what)
		return false
	case err != nil:
		s.stats.appShed.Add(1)
		shed(w, time.Second, err.Error())
		return false
	case !s.owns(caller, owner):
		writeError(w, http.StatusForbidden, "not your "+what)
		return false
	}
	return true
}

// handleLive is POST /v1/devices/{device}/live.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request, device string) {
	caller, ok := s.admitApp(w, r, http.MethodPost)
	if !ok {
		return
	}
	if s.faults.Has(IDOR) {
		if _, found := s.reg.devices.Get(device); !found {
			writeError(w, http.StatusNotFound, "no such device")
			return
		}
	} else if !s.ownedBy(w, r, caller, keyDevice+device, "device") {
		return
	}
	ss := s.sessions.route(device)
	if ss == nil {
		s.stats.liveFailed.Add(1)
		writeError(w, http.StatusGatewayTimeout, "device offline")
		return
	}
	req := "live-" + strconv.FormatUint(s.liveSeq.Add(1), 10)
	data, ok := ss.relay(r.Context(), req, s.cfg.LiveTimeout)
	if !ok {
		s.stats.liveFailed.Add(1)
		writeError(w, http.StatusGatewayTimeout, "no frame from the device")
		return
	}
	s.stats.liveRelayed.Add(1)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// Look-up errors besides errUnknown; each is answered 503.
var (
	errShed    = errors.New("registry look-up timed out")
	errGarbled = errors.New("registry answered garbage")
	errClosed  = errors.New("registry unavailable")
)

// get asks the registry, through the cache client, for key.
func (s *Server) get(ctx context.Context, key string) (string, error) {
	val, found, err := s.kvc.Get(ctx, key)
	switch {
	case errors.Is(err, kv.ErrTimeout):
		s.stats.lookupTimeouts.Add(1)
		return "", errShed
	case errors.Is(err, kv.ErrClosed):
		return "", errClosed
	case err != nil:
		return "", err
	case !found:
		return "", errUnknown
	}
	return val, nil
}

// lookupAccount resolves a look-up whose answer is an account.
func (s *Server) lookupAccount(ctx context.Context, key string) (string, error) {
	val, err := s.get(ctx, key)
	if err != nil {
		return "", err
	}
	if !wire.ValidID(val) {
		return "", errGarbled
	}
	return val, nil
}

// responseCache caches Events-tab bodies for a short TTL. A TTL of zero or
// less disables it.
type responseCache struct {
	ttl time.Duration
	m   *shard.Map[cachedBody]
}

type cachedBody struct {
	body    []byte
	expires time.Time
}

func newResponseCache(ttl time.Duration) *responseCache {
	return &responseCache{ttl: ttl, m: shard.New[cachedBody]()}
}

func (c *responseCache) get(key string, now time.Time) ([]byte, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	e, ok := c.m.Get(key)
	if !ok || now.After(e.expires) {
		return nil, false
	}
	return e.body, true
}

func (c *responseCache) put(key string, body []byte, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.m.Set(key, cachedBody{body: body, expires: now.Add(c.ttl)})
}

// sweep forgets expired bodies.
func (c *responseCache) sweep(now time.Time) {
	c.m.DeleteIf(func(_ string, e cachedBody) bool { return now.After(e.expires) })
}

// bucket is a token bucket: rate tokens a second, at most burst saved up.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take spends one token, or says how long until one is there.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// writeError answers status with a wire.ErrorBody.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(wire.ErrorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// shed answers 503 with a Retry-After of wait rounded up to whole seconds.
func shed(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusServiceUnavailable, msg)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "use "+allow)
}
