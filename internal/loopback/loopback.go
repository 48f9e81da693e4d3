// Package loopback spreads many client sockets over loopback source
// addresses. One address pair has about 28,000 ephemeral ports, and one
// source address slows well before that (~14k sockets here), so a load
// generator aimed at a loopback target dials from 127.0.0.2, 127.0.0.3, …
package loopback

import "net"

// maxSources bounds the source addresses used: 127.0.0.2 to 127.0.0.251.
const maxSources = 250

// Sources returns the local addresses that sockets clients should dial
// from, perSource sockets each: socket i uses Sources[(i/perSource) %
// len]. The addresses start after the first offset ones, so processes of
// one run can each take their own. For a target that is not loopback IPv4
// it returns one nil address (let the kernel choose).
func Sources(host string, sockets, perSource, offset int) []net.Addr {
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() || perSource < 1 {
		return []net.Addr{nil}
	}
	n := min(max((sockets+perSource-1)/perSource, 1), maxSources)
	out := make([]net.Addr, n)
	for i := range out {
		out[i] = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+(offset+i)%maxSources))}
	}
	return out
}
