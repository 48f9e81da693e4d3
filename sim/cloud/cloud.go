// Package cloud is herd's reference target: a small in-memory camera cloud
// that speaks herd/1 (docs/PROTOCOL.md) and can be started with real fault
// mechanisms, so that herd works out of the box and its detectors can be
// shown to catch what they claim to catch.
//
// Its inside is shaped like a real camera cloud's. Device sockets and app
// calls are served over HTTP and WebSocket; every ownership look-up (device
// token → device and account, user token → account, event → account, device
// → account) goes through a pipelined cache client over a small pool of
// connections to a registry server of finite capacity; events go through a
// write-behind queue into a sharded in-memory store; Events-tab responses go
// through a short-lived response cache; live-view requests are routed
// through a session table. The faults (see Fault) live in those layers.
package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/cloud/internal/kv"
)

// Defaults of Config's zero values.
const (
	// DefaultPingInterval is how often the target pings each device socket.
	DefaultPingInterval = 10 * time.Second
	// DefaultLiveTimeout is how long a live-view call waits for the frame.
	DefaultLiveTimeout = 5 * time.Second
	// DefaultLookupService is the registry server's cost per look-up. One
	// worker serves all look-ups, so this sets its capacity (10,000/s).
	DefaultLookupService = 100 * time.Microsecond
	// DefaultLookupTimeout is how long a look-up waits for its reply. A few
	// hundred connects per second never come close to it; a herd of a
	// thousand cameras queues past it.
	DefaultLookupTimeout = 25 * time.Millisecond
	// DefaultLookupHealthCheck is the cache client's health-check interval:
	// a pooled connection idle this long is checked before reuse.
	DefaultLookupHealthCheck = 500 * time.Millisecond
	// DefaultLookupConns is the size of the cache client's connection pool.
	DefaultLookupConns = 4
	// DefaultWriteQueue is the capacity of the write-behind queue, in events.
	DefaultWriteQueue = 1024
	// DefaultWriteCost is the store's cost per event write; one writer
	// drains the write-behind queue, so this sets its capacity (40,000/s).
	DefaultWriteCost = 25 * time.Microsecond
	// DefaultListingTTL is how long an Events-tab response stays cached.
	DefaultListingTTL = time.Second
	// DefaultThumbTTL is how long the thumb-cache-key fault's cache keeps a
	// thumbnail.
	DefaultThumbTTL = 5 * time.Second
	// DefaultBlobQueue is the drop-thumb fault's blob queue, in thumbnails.
	DefaultBlobQueue = 64
	// DefaultNackRetryAfter is the retry_after_ms a nack asks for.
	DefaultNackRetryAfter = time.Second
	// DefaultPageLimit is the page size of an Events-tab call without limit.
	DefaultPageLimit = 100
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	AdminToken     string  // bearer token of POST /v1/fleet; required
	Faults         Faults  // faults to switch on; nil for none
	MaxConnectRate float64 // token bucket for upgrades, and one for app calls, per second; 0 = unlimited
	ConnectBurst   int     // bucket size; 0 = max(1, MaxConnectRate)

	PingInterval time.Duration // target → device pings; a device silent for 2 intervals is dropped
	LiveTimeout  time.Duration // live-view wait for a frame

	LookupService time.Duration // registry server's service time per look-up
	LookupTimeout time.Duration // cache client's look-up time-out
	LookupConns   int           // cache client's pool size
	// LookupHealthCheck pings a pooled connection idle this long before
	// reusing it; negative turns the check off.
	LookupHealthCheck time.Duration
	WriteQueue        int           // write-behind queue capacity
	WriteCost         time.Duration // store's cost per event write
	ListingTTL        time.Duration // Events-tab response cache TTL; negative disables the cache
}

// CheckFlags says what is wrong with c as herd target's flags set it,
// where a zero is no default but a mistake: every duration must be
// positive, the rate and burst not negative, the write queue positive.
func (c Config) CheckFlags() error {
	var errs []error
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"ping-interval", c.PingInterval}, {"live-timeout", c.LiveTimeout}, {"lookup-timeout", c.LookupTimeout}, {"lookup-service", c.LookupService}, {"write-cost", c.WriteCost}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive, got %s", d.flag, d.v))
		}
	}
	if c.MaxConnectRate < 0 || c.ConnectBurst < 0 {
		errs = append(errs, errors.New("--max-connect-rate and --connect-burst must not be negative"))
	}
	if c.WriteQueue <= 0 {
		errs = append(errs, fmt.Errorf("--write-queue must be positive, got %d", c.WriteQueue))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() error {
	if c.AdminToken == "" {
		return errors.New("target: Config.AdminToken is required")
	}
	if c.MaxConnectRate < 0 || c.ConnectBurst < 0 {
		return errors.New("target: MaxConnectRate and ConnectBurst must not be negative")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PingInterval", &c.PingInterval, DefaultPingInterval},
		{"LiveTimeout", &c.LiveTimeout, DefaultLiveTimeout},
		{"LookupService", &c.LookupService, DefaultLookupService},
		{"LookupTimeout", &c.LookupTimeout, DefaultLookupTimeout},
		{"LookupHealthCheck", &c.LookupHealthCheck, DefaultLookupHealthCheck},
		{"WriteCost", &c.WriteCost, DefaultWriteCost},
		{"ListingTTL", &c.ListingTTL, DefaultListingTTL},
	} {
		if *d.v < 0 && d.name != "ListingTTL" && d.name != "LookupHealthCheck" {
			return fmt.Errorf("target: %s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.LookupConns < 0 || c.WriteQueue < 0 {
		return errors.New("target: LookupConns and WriteQueue must not be negative")
	}
	if c.LookupConns == 0 {
		c.LookupConns = DefaultLookupConns
	}
	if c.WriteQueue == 0 {
		c.WriteQueue = DefaultWriteQueue
	}
	if c.MaxConnectRate > 0 && c.ConnectBurst == 0 {
		c.ConnectBurst = max(1, int(c.MaxConnectRate))
	}
	return nil
}

// Stats are the target's counters since New.
type Stats struct {
	SocketsOpen          int64 // device sockets open now
	ConnectsAccepted     int64 // upgrades completed
	ConnectsRefused      int64 // upgrades refused with 503: rate limit or look-up shed
	ConnectsUnauthorized int64 // upgrades refused with 401
	SocketsClosedBadData int64 // sockets closed with 1007 or 1009
	SocketsTimedOut      int64 // sockets dropped after missed pongs
	EventsStored         int64 // events appended to an account's list
	EventsDuplicate      int64 // resent events recognised and acked without storing again
	EventsDropped        int64 // acked events the write-behind queue dropped (drop-acked)
	ThumbsDropped        int64 // thumbnails the blob queue dropped (drop-thumb)
	Acks                 int64 // acks sent
	Nacks                int64 // nacks sent
	AppCalls             int64 // app calls answered, any status
	AppShed              int64 // app calls refused with 503
	LookupTimeouts       int64 // registry look-ups that timed out
	LiveRelayed          int64 // live-view calls answered with a frame
	LiveFailed           int64 // live-view calls answered 504
}

type counters struct {
	socketsOpen, connectsAccepted, connectsRefused, connectsUnauthorized     atomic.Int64
	closedBadData, timedOut                                                  atomic.Int64
	eventsStored, eventsDuplicate, eventsDropped, thumbsDropped, acks, nacks atomic.Int64
	appCalls, appShed, lookupTimeouts, liveRelayed, liveFailed               atomic.Int64
}

// Server is the reference target. New starts its background machinery
// (registry server, write-behind writer, pinger); Serve, or Close for a
// Server used only through Handler, stops it.
type Server struct {
	cfg    Config
	faults Faults
	// deviceCerts: a device's WebSocket needs its own TLS certificate
	// (DeviceChannel's ClientCA on an HTTPS listener).
	deviceCerts bool

	reg      *registry
	store    *store
	kvs      *kv.Server
	kvc      *kv.Client
	writer   *writer
	sessions *sessionTable
	listings *responseCache
	thumbs   *responseCache // the thumb-cache-key fault's
	blobs    *blobStore     // the drop-thumb fault's; nil without it
	connects *bucket        // nil when unlimited
	apps     *bucket
	cursors  cursorCodec
	upgrader websocket.Upgrader
	stats    counters
	liveSeq  atomic.Uint64

	mu      sync.RWMutex // write-locked only by Close
	closing bool
	sockWG  sync.WaitGroup // device socket goroutines
	bgWG    sync.WaitGroup // pinger and janitor
	quit    chan struct{}
	once    sync.Once
}

// New validates cfg and starts a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		faults:   cfg.Faults,
		reg:      newRegistry(),
		store:    newStore(),
		sessions: newSessionTable(cfg.Faults.Has(LiveMisroute)),
		listings: newResponseCache(cfg.ListingTTL),
		thumbs:   newResponseCache(DefaultThumbTTL),
		quit:     make(chan struct{}),
	}
	if s.faults == nil {
		s.faults = Faults{}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s.cursors = cursorCodec{key: key}
	if cfg.MaxConnectRate > 0 {
		s.connects = newBucket(cfg.MaxConnectRate, cfg.ConnectBurst)
		s.apps = newBucket(cfg.MaxConnectRate, cfg.ConnectBurst)
	}
	s.upgrader = websocket.Upgrader{
		// Small buffers: one process holds tens of thousands of sockets, and
		// device frames are small. Write buffers are pooled, not per socket.
		ReadBufferSize:   512,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{},
		HandshakeTimeout: 10 * time.Second,
		// Devices are not browsers; there is no origin to check.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.kvs = kv.NewServer(s.lookup, cfg.LookupService)
	s.kvc = kv.NewClient(s.kvs.Pipe(cfg.LookupConns), cfg.LookupTimeout, s.faults.Has(StaleReply), kv.WithHealthCheck(cfg.LookupHealthCheck))
	if s.faults.Has(DropThumb) {
		// A blob is bigger than a row: it costs the store four writes.
		s.blobs = newBlobStore(DefaultBlobQueue, 4*cfg.WriteCost, &s.stats)
	}
	s.writer = newWriter(s.store, s.blobs, cfg.WriteQueue, cfg.WriteCost, &s.stats)
	s.bgWG.Add(1)
	go s.maintain()
	return s, nil
}

// Faults returns the faults s was started with.
func (s *Server) Faults() Faults { return s.faults }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		SocketsOpen:          c.socketsOpen.Load(),
		ConnectsAccepted:     c.connectsAccepted.Load(),
		ConnectsRefused:      c.connectsRefused.Load(),
		ConnectsUnauthorized: c.connectsUnauthorized.Load(),
		SocketsClosedBadData: c.closedBadData.Load(),
		SocketsTimedOut:      c.timedOut.Load(),
		EventsStored:         c.eventsStored.Load(),
		EventsDuplicate:      c.eventsDuplicate.Load(),
		EventsDropped:        c.eventsDropped.Load(),
		ThumbsDropped:        c.thumbsDropped.Load(),
		Acks:                 c.acks.Load(),
		Nacks:                c.nacks.Load(),
		AppCalls:             c.appCalls.Load(),
		AppShed:              c.appShed.Load(),
		LookupTimeouts:       c.lookupTimeouts.Load(),
		LiveRelayed:          c.liveRelayed.Load(),
		LiveFailed:           c.liveFailed.Load(),
	}
}

// shutdownGrace is how long Serve lets app calls in flight finish.
const shutdownGrace = time.Second

// Serve serves herd/1 on ln until ctx is done, then closes every device
// socket with 1001, stops the Server and returns nil once all its
// goroutines have ended. It returns an error if ln fails first. A Server
// serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute, // app clients that keep connections alive but go quiet
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	grace, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	// Shutdown does not touch hijacked device sockets; Close below does.
	if hs.Shutdown(grace) != nil {
		hs.Close()
	}
	cancel()
	s.Close()
	if serveErr == nil {
		serveErr = <-errc
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		return nil
	}
	return serveErr
}

// Close closes every device socket with 1001 (going away), stops the
// background machinery and waits for the Server's goroutines to end. Serve
// calls it; call it yourself for a Server used only through Handler. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		close(s.quit)
		s.sessions.closeAll(websocket.CloseGoingAway, "target shutting down")
		s.sockWG.Wait()
		s.writer.close()
		if s.blobs != nil {
			s.blobs.close()
		}
		s.kvc.Close()
		s.kvs.Close()
		s.bgWG.Wait()
	})
	return nil
}

// maintain pings every socket each PingInterval and sweeps the response
// cache; one goroutine for all sockets keeps per-socket memory small.
func (s *Server) maintain() {
	defer s.bgWG.Done()
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-ping.C:
			s.sessions.pingAll()
		case now := <-sweep.C:
			s.listings.sweep(now)
			s.thumbs.sweep(now)
		}
	}
}

// NewToken returns a fresh random admin token: 32 hex digits from
// crypto/rand.
func NewToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
