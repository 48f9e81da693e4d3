package cloud

import (
	"fmt"
	"sync"
	"testing"
)

func TestStorePut(t *testing.T) {
	ev := func(id, dev string) *event { return &event{id: id, device: dev, account: "acct-" + dev, kind: "k"} }
	tests := []struct {
		name  string
		first *event
		then  *event
		dedup bool
		want  putResult
		count int // events listed for the second event's account
	}{
		{"new id", nil, ev("x/1", "x"), true, stored, 1},
		{"resend", ev("x/1", "x"), ev("x/1", "x"), true, duplicate, 1},
		{"resend without dedup", ev("x/1", "x"), ev("x/1", "x"), false, stored, 2},
		{"another device's id", ev("x/1", "x"), ev("x/1", "y"), true, foreign, 0},
		{"another device's id without dedup", ev("x/1", "x"), ev("x/1", "y"), false, foreign, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore()
			if tc.first != nil {
				st.put(tc.first, true)
			}
			if got := st.put(tc.then, tc.dedup); got != tc.want {
				t.Errorf("put = %d, want %d", got, tc.want)
			}
			if got := st.version(tc.then.account); got != tc.count {
				t.Errorf("%s has %d events, want %d", tc.then.account, got, tc.count)
			}
			if got, _ := st.get("x/1"); got.device != "x" {
				t.Errorf("the id now belongs to %s, want x (never overwritten)", got.device)
			}
		})
	}
}

// TestStorePutConcurrentResends: the same event arriving on two sockets at
// once is stored once.
func TestStorePutConcurrentResends(t *testing.T) {
	st := newStore()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				st.put(&event{id: fmt.Sprint("x/", i), device: "x", account: "a"}, true)
			}
		}()
	}
	wg.Wait()
	if got := st.version("a"); got != 200 {
		t.Errorf("%d events stored, want 200", got)
	}
}

func TestStorePageAndCursors(t *testing.T) {
	st := newStore()
	for i := range 5 {
		st.put(&event{id: fmt.Sprint("x/", i), device: "x", account: "a"}, true)
	}
	tests := []struct {
		from, limit int
		wantIDs     string
		wantNext    int
		wantMore    bool
		wantOK      bool
	}{
		{0, 2, "[x/0 x/1]", 2, true, true},
		{4, 2, "[x/4]", 5, false, true},
		{5, 2, "[]", 5, false, true},
		{6, 2, "[]", 6, false, false},
	}
	for _, tc := range tests {
		evs, next, more, ok := st.page("a", tc.from, tc.limit)
		var ids []string
		for _, e := range evs {
			ids = append(ids, e.id)
		}
		if got := fmt.Sprint(ids); got != tc.wantIDs || next != tc.wantNext || more != tc.wantMore || ok != tc.wantOK {
			t.Errorf("page(%d, %d) = %s %d %v %v, want %s %d %v %v", tc.from, tc.limit, got, next, more, ok, tc.wantIDs, tc.wantNext, tc.wantMore, tc.wantOK)
		}
	}
	c := cursorCodec{key: []byte("k")}
	other := cursorCodec{key: []byte("another process")}
	cur := c.encode("a", 3)
	for _, tc := range []struct {
		codec   cursorCodec
		account string
		cursor  string
		want    int
		ok      bool
	}{
		{c, "a", cur, 3, true},
		{c, "b", cur, 0, false},
		{other, "a", cur, 0, false},
		{c, "a", cur[:len(cur)-1], 0, false},
		{c, "a", "", 0, false},
		{c, "a", "!!!", 0, false},
	} {
		if got, ok := tc.codec.decode(tc.account, tc.cursor); got != tc.want || ok != tc.ok {
			t.Errorf("decode(%s, %q) = %d, %v, want %d, %v", tc.account, tc.cursor, got, ok, tc.want, tc.ok)
		}
	}
}
