// Package kv is the reference target's registry cache: a small server that
// answers ownership look-ups in a RESP-like protocol with a finite capacity,
// and a pipelined client that shares a small pool of connections among many
// callers.
//
// Replies carry no key, exactly like RESP: a client matches replies to
// requests by their order on the connection alone. That is what makes the
// client's handling of a timed-out request matter, and what the stale-reply
// fault gets wrong.
package kv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxKey is the longest key the server accepts; a longer one is a protocol
// error that closes the connection.
const MaxKey = 64 << 10

var errProtocol = errors.New("kv: protocol error")

// writeGet writes the request GET key as a RESP array of bulk strings.
func writeGet(w *bufio.Writer, key string) {
	w.WriteString("*2\r\n$3\r\nGET\r\n$")
	w.WriteString(strconv.Itoa(len(key)))
	w.WriteString("\r\n")
	w.WriteString(key)
	w.WriteString("\r\n")
}

// readGet reads one GET request and returns its key.
func readGet(r *bufio.Reader) (string, error) {
	n, err := readHeader(r, '*')
	if err != nil {
		return "", err
	}
	if n != 2 {
		return "", fmt.Errorf("%w: array of %d", errProtocol, n)
	}
	cmd, ok, err := readBulk(r)
	if err != nil {
		return "", err
	}
	if !ok || cmd != "GET" {
		return "", fmt.Errorf("%w: unknown command %q", errProtocol, cmd)
	}
	key, ok, err := readBulk(r)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: nil key", errProtocol)
	}
	return key, nil
}

// writeReply writes a bulk string, or the nil bulk string when found is false.
func writeReply(w *bufio.Writer, val string, found bool) {
	if !found {
		w.WriteString("$-1\r\n")
		return
	}
	w.WriteString("$")
	w.WriteString(strconv.Itoa(len(val)))
	w.WriteString("\r\n")
	w.WriteString(val)
	w.WriteString("\r\n")
}

// readBulk reads one bulk string; ok is false for the nil bulk string.
func readBulk(r *bufio.Reader) (s string, ok bool, err error) {
	n, err := readHeader(r, '$')
	if err != nil {
		return "", false, err
	}
	if n == -1 {
		return "", false, nil
	}
	if n < 0 || n > MaxKey {
		return "", false, fmt.Errorf("%w: bulk length %d", errProtocol, n)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", false, err
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return "", false, fmt.Errorf("%w: bulk string not ended by CRLF", errProtocol)
	}
	return string(buf[:n]), true, nil
}

// readHeader reads a line "<kind><integer>\r\n" and returns the integer.
func readHeader(r *bufio.Reader, kind byte) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, fmt.Errorf("%w: header line too long", errProtocol)
		}
		return 0, err
	}
	if len(line) < 4 || line[0] != kind || line[len(line)-2] != '\r' {
		return 0, fmt.Errorf("%w: bad header %q", errProtocol, line)
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil {
		return 0, fmt.Errorf("%w: bad length in %q", errProtocol, line)
	}
	return n, nil
}
