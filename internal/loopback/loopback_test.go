package loopback

import (
	"net"
	"testing"
)

func TestSources(t *testing.T) {
	cases := []struct {
		host    string
		sockets int
		want    int
		first   string
	}{
		{"127.0.0.1", 1, 1, "127.0.0.2:0"},
		{"127.0.0.1", 8000, 1, "127.0.0.2:0"},
		{"127.0.0.1", 8001, 2, "127.0.0.2:0"},
		{"127.0.0.1", 300000, 38, "127.0.0.2:0"},
		{"127.0.0.1", 10_000_000, 250, "127.0.0.2:0"},
		{"10.0.0.5", 50000, 1, ""},
		{"::1", 50000, 1, ""},
		{"example.internal", 50000, 1, ""},
	}
	for _, tc := range cases {
		got := Sources(tc.host, tc.sockets, 8000, 0)
		if len(got) != tc.want {
			t.Errorf("Sources(%s, %d) has %d addresses, want %d", tc.host, tc.sockets, len(got), tc.want)
			continue
		}
		first := ""
		if got[0] != nil {
			first = got[0].String()
		}
		if first != tc.first {
			t.Errorf("Sources(%s, %d)[0] = %q, want %q", tc.host, tc.sockets, first, tc.first)
		}
	}
	if last := Sources("127.0.0.1", 10_000_000, 8000, 0)[249].(*net.TCPAddr).IP.String(); last != "127.0.0.251" {
		t.Errorf("last source %s, want 127.0.0.251", last)
	}
	if got := Sources("127.0.0.1", 9000, 8000, 3)[0].(*net.TCPAddr).IP.String(); got != "127.0.0.5" {
		t.Errorf("offset 3: first address %s, want 127.0.0.5", got)
	}
}
