package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestReadFleet(t *testing.T) {
	good := `{"account":"acct-1","user_token":"u1","devices":[{"device":"cam-1","token":"t1"}]}`
	tests := []struct {
		name     string
		in       string
		want     []string // accounts handed to fn, in order
		wantLine int      // 0: no error
		wantMsg  string
	}{
		{name: "one", in: good + "\n", want: []string{"acct-1"}},
		{name: "no final newline", in: good, want: []string{"acct-1"}},
		{name: "blank and CRLF lines", in: "\n \r\n" + good + "\r\n\n" + strings.Replace(good, "acct-1", "acct-2", 1) + "\n", want: []string{"acct-1", "acct-2"}},
		{name: "no devices", in: `{"account":"a","user_token":"u","devices":[]}`, want: []string{"a"}},
		{name: "empty body", in: "", want: nil},
		{name: "bad JSON", in: good + "\n{oops\n", want: []string{"acct-1"}, wantLine: 2, wantMsg: "not a JSON account object"},
		{name: "JSON but not an object", in: "[1]\n", wantLine: 1},
		{name: "bad account id", in: `{"account":"a b","user_token":"u"}`, wantLine: 1, wantMsg: "not a valid identifier"},
		{name: "missing user token", in: `{"account":"a"}`, wantLine: 1, wantMsg: "no user_token"},
		{name: "bad device id", in: `{"account":"a","user_token":"u","devices":[{"device":"","token":"t"}]}`, wantLine: 1, wantMsg: "devices[0]"},
		{name: "device without token", in: `{"account":"a","user_token":"u","devices":[{"device":"d"}]}`, wantLine: 1, wantMsg: "has no token"},
		{name: "device twice", in: `{"account":"a","user_token":"u","devices":[{"device":"d","token":"t"},{"device":"d","token":"t2"}]}`, wantLine: 1, wantMsg: "appears twice"},
		{name: "line too long", in: good + "\n" + strings.Repeat(" ", MaxLine+1) + "\n", want: []string{"acct-1"}, wantLine: 2, wantMsg: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ReadFleet(strings.NewReader(tc.in), func(line int, a *Account) error {
				got = append(got, a.Account)
				return nil
			})
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("accounts %v, want %v", got, tc.want)
			}
			if tc.wantLine == 0 {
				if err != nil {
					t.Errorf("ReadFleet: %v", err)
				}
				return
			}
			var le *LineError
			if !errors.As(err, &le) || le.Line != tc.wantLine || !strings.Contains(le.Reason, tc.wantMsg) {
				t.Errorf("error %v, want a *LineError on line %d containing %q", err, tc.wantLine, tc.wantMsg)
			}
		})
	}
}

func TestReadFleetStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	in := strings.Repeat(`{"account":"a","user_token":"u"}`+"\n", 3)
	calls := 0
	err := ReadFleet(strings.NewReader(in), func(line int, a *Account) error {
		calls++
		if line == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Errorf("err %v after %d calls, want stop after 2", err, calls)
	}
}

func TestWriteAccountRoundTrip(t *testing.T) {
	accts := []Account{
		{Account: "acct-1", UserToken: "secret with spaces\n", Devices: []Device{{Device: "cam-1", Token: "t\"1"}}},
		{Account: "acct-2", UserToken: "u2", Devices: []Device{}},
	}
	var b bytes.Buffer
	for i := range accts {
		if err := WriteAccount(&b, &accts[i]); err != nil {
			t.Fatal(err)
		}
	}
	var got []Account
	if err := ReadFleet(&b, func(_ int, a *Account) error { got = append(got, *a); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(accts) {
		t.Errorf("got %+v, want %+v", got, accts)
	}
}

// FuzzReadFleet: ReadFleet never panics, hands fn only valid accounts with
// increasing line numbers, and fails only with a *LineError.
func FuzzReadFleet(f *testing.F) {
	for _, s := range []string{
		`{"account":"acct-1","user_token":"u1","devices":[{"device":"cam-1","token":"t1"}]}` + "\n",
		"\n\n" + `{"account":"a","user_token":"u"}`,
		`{"account":"a","user_token":"u","devices":[{"device":"d","token":"t"},{"device":"d","token":"t"}]}`,
		"{oops\n", "[]\n", "null\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		last := 0
		err := ReadFleet(bytes.NewReader(b), func(line int, a *Account) error {
			if line <= last {
				t.Fatalf("line %d after line %d", line, last)
			}
			last = line
			if err := a.Validate(); err != nil {
				t.Fatalf("fn got an invalid account: %v", err)
			}
			return nil
		})
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line <= last {
				t.Fatalf("error %v: want a *LineError after line %d", err, last)
			}
		}
	})
}
