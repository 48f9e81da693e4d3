package kv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func echo(key string) (string, bool) {
	if strings.HasPrefix(key, "missing") {
		return "", false
	}
	return "value of " + key, true
}

func TestRESPRoundTrip(t *testing.T) {
	keys := []string{"a", "", "with space", "crlf\r\ninside", strings.Repeat("k", 1000)}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	for _, k := range keys {
		writeGet(w, k)
	}
	w.Flush()
	r := bufio.NewReader(&b)
	for _, want := range keys {
		got, err := readGet(r)
		if err != nil || got != want {
			t.Errorf("readGet = %q, %v, want %q", got, err, want)
		}
	}
	b.Reset()
	writeReply(w, "v", true)
	writeReply(w, "", false)
	writeReply(w, "", true)
	w.Flush()
	for _, want := range []struct {
		val   string
		found bool
	}{{"v", true}, {"", false}, {"", true}} {
		val, found, err := readBulk(r)
		if err != nil || val != want.val || found != want.found {
			t.Errorf("readBulk = %q, %v, %v, want %q, %v", val, found, err, want.val, want.found)
		}
	}
}

func TestRESPRejectsGarbage(t *testing.T) {
	for _, in := range []string{
		"GET a\r\n",
		"*3\r\n$3\r\nGET\r\n$1\r\na\r\n$1\r\nb\r\n",
		"*2\r\n$3\r\nSET\r\n$1\r\na\r\n",
		"*2\r\n$3\r\nGET\r\n$5\r\na\r\n",
		"*2\r\n$3\r\nGET\r\n$-1\r\n",
		"*2\r\n$3\r\nGET\r\n$99999999\r\n",
		"*x\r\n",
	} {
		if _, err := readGet(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("readGet(%q) accepted it", in)
		}
	}
}

// pool makes a server answering with echo and a client of conns
// connections to it.
func pool(t *testing.T, service, timeout time.Duration, conns int, stale bool) (*Server, *Client) {
	t.Helper()
	s := NewServer(echo, service)
	c := NewClient(s.Pipe(conns), timeout, stale)
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return s, c
}

func TestGet(t *testing.T) {
	_, c := pool(t, 0, time.Second, 2, false)
	tests := []struct {
		key   string
		val   string
		found bool
	}{
		{"a", "value of a", true},
		{"missing-1", "", false},
		{"b c", "value of b c", true},
	}
	for _, tc := range tests {
		val, found, err := c.Get(context.Background(), tc.key)
		if err != nil || val != tc.val || found != tc.found {
			t.Errorf("Get(%q) = %q, %v, %v, want %q, %v", tc.key, val, found, err, tc.val, tc.found)
		}
	}
}

// herd sends n concurrent look-ups and counts answers meant for another key
// and time-outs.
func herd(c *Client, n int) (wrong, timeouts int64) {
	var w, to atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger arrivals so that callers keep coming while others
			// give up.
			time.Sleep(time.Duration(i%50) * time.Millisecond)
			key := fmt.Sprintf("key-%d", i)
			val, _, err := c.Get(context.Background(), key)
			switch {
			case errors.Is(err, ErrTimeout):
				to.Add(1)
			case err == nil && val != "value of "+key:
				w.Add(1)
			}
		}()
	}
	wg.Wait()
	return w.Load(), to.Load()
}

// TestTimeoutUnderLoad: a herd makes look-ups time out. The correct client
// never hands a caller another caller's answer; the stale client does.
func TestTimeoutUnderLoad(t *testing.T) {
	for _, stale := range []bool{false, true} {
		t.Run(fmt.Sprintf("stale=%v", stale), func(t *testing.T) {
			_, c := pool(t, 500*time.Microsecond, 10*time.Millisecond, 2, stale)
			wrong, timeouts := herd(c, 400)
			t.Logf("wrong %d, timeouts %d", wrong, timeouts)
			if timeouts == 0 {
				t.Fatal("no time-outs: the load did not trigger the mechanism")
			}
			if stale && wrong == 0 {
				t.Error("stale client: no caller read another caller's reply")
			}
			if !stale && wrong != 0 {
				t.Errorf("correct client: %d callers got another caller's reply", wrong)
			}
			// Once the load is gone, the correct client answers right again.
			time.Sleep(300 * time.Millisecond)
			if !stale {
				for i := range 20 {
					key := fmt.Sprintf("after-%d", i)
					if val, _, err := c.Get(context.Background(), key); err != nil || val != "value of "+key {
						t.Errorf("after the herd: Get(%q) = %q, %v", key, val, err)
					}
				}
			}
		})
	}
}

// TestServerCapacity: the single worker serves one request per service
// time, so a burst waits in line.
func TestServerCapacity(t *testing.T) {
	const n, service = 200, 100 * time.Microsecond
	_, c := pool(t, service, 10*time.Second, 4, false)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Get(context.Background(), fmt.Sprint(i))
		}()
	}
	wg.Wait()
	if took, min := time.Since(start), n*service-2*sleepSlack; took < min {
		t.Errorf("%d look-ups took %v, want at least %v", n, took, min)
	}
}

func TestClosed(t *testing.T) {
	s, c := pool(t, 0, time.Second, 1, false)
	s.Close()
	if _, _, err := c.Get(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		// The reader may not have seen the close yet: the write fails, or
		// the reply never comes.
		if err == nil {
			t.Fatal("Get on a closed server succeeded")
		}
	}
	c.Close()
	if _, _, err := c.Get(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
}

func TestContextCancel(t *testing.T) {
	_, c := pool(t, 50*time.Millisecond, time.Second, 1, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	c.Get(context.Background(), "warm") // makes the worker busy for 50ms
	if _, _, err := c.Get(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with an expiring context: %v", err)
	}
}

func BenchmarkGet(b *testing.B) {
	s := NewServer(echo, 0)
	c := NewClient(s.Pipe(4), time.Second, false)
	defer s.Close()
	defer c.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(context.Background(), "key"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
