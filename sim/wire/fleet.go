package wire

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Device is a device in a provisioning line.
type Device struct {
	Device string `json:"device"`
	Token  string `json:"token"`
}

// Account is one provisioning line: an account, its app user's token and its
// devices.
type Account struct {
	Account   string   `json:"account"`
	UserToken string   `json:"user_token"`
	Devices   []Device `json:"devices"`
}

// LineError is a provisioning line that breaks the contract.
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// MaxLine is the longest provisioning line ReadFleet accepts.
const MaxLine = 4 << 20

// ReadFleet streams provisioning JSON Lines from r, calling fn for each
// valid account in order. Blank lines are skipped. It stops at the first bad
// line with a *LineError, or at the first error fn returns.
func ReadFleet(r io.Reader, fn func(line int, a *Account) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		var a Account
		if err := json.Unmarshal(b, &a); err != nil {
			return &LineError{Line: line, Reason: "not a JSON account object: " + err.Error()}
		}
		if err := a.Validate(); err != nil {
			return &LineError{Line: line, Reason: err.Error()}
		}
		if err := fn(line, &a); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return &LineError{Line: line + 1, Reason: fmt.Sprintf("line longer than %d bytes", MaxLine)}
		}
		return err
	}
	return nil
}

// Validate checks identifiers and tokens of a, and that no device repeats.
func (a *Account) Validate() error {
	if !ValidID(a.Account) {
		return fmt.Errorf("account %q is not a valid identifier", a.Account)
	}
	if a.UserToken == "" {
		return fmt.Errorf("account %q has no user_token", a.Account)
	}
	seen := make(map[string]struct{}, len(a.Devices))
	for i, d := range a.Devices {
		if !ValidID(d.Device) {
			return fmt.Errorf("devices[%d]: %q is not a valid identifier", i, d.Device)
		}
		if d.Token == "" {
			return fmt.Errorf("devices[%d] (%s) has no token", i, d.Device)
		}
		if _, dup := seen[d.Device]; dup {
			return fmt.Errorf("devices[%d]: device %s appears twice", i, d.Device)
		}
		seen[d.Device] = struct{}{}
	}
	return nil
}

// WriteAccount writes a as one provisioning line.
func WriteAccount(w io.Writer, a *Account) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
