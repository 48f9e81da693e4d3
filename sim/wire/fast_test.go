package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	for _, kind := range []string{"motion", `quote"and\back`, "ünïcode", "<tag>&"} {
		thumb := []byte{0, 1, 2, 250, 251, 255}
		got := AppendEvent(nil, "cam-00000117/17", 17, 1764412800123, kind, thumb)
		want, _ := json.Marshal(&Message{Type: TypeEvent, ID: "cam-00000117/17", Seq: 17, At: 1764412800123, Kind: kind, Thumb: thumb})
		if string(got) != string(want) {
			t.Errorf("kind %q:\n got %s\nwant %s", kind, got, want)
		}
	}
	got := AppendFrame(nil, "r-1", []byte("frame bytes"))
	want, _ := json.Marshal(&Message{Type: TypeFrame, Req: "r-1", Data: []byte("frame bytes")})
	if string(got) != string(want) {
		t.Errorf("frame:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeFlatAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"type":"ack","id":"cam-00000117/17"}`,
		` { "type" : "nack" , "id":"a/1","retry_after_ms":2000 } `,
		`{"type":"welcome","device":"cam-1","account":"acct-1"}`,
		`{"type":"live","req":"r-9"}`,
		`{"type":"ack","id":"x","id":"y"}`,
		`{"type":"event","id":"a/1","seq":17,"at":-5,"kind":"motion"}`,
		`{"type":"event","id":"a/1","seq":1,"at":9,"kind":"motion","thumb":"aGVyZA=="}`,
		`{"type":"event","id":"a/1","thumb":""}`,
		`{"type":"frame","req":"r-1","data":"AAA="}`,
		`{}`,
	} {
		var fast Message
		if !decodeFlat([]byte(in), &fast) {
			t.Errorf("decodeFlat(%s) refused a flat frame", in)
			continue
		}
		var slow Message
		if err := json.Unmarshal([]byte(in), &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("decodeFlat(%s) = %+v, encoding/json says %+v", in, fast, slow)
		}
	}
	for _, in := range []string{
		`{"type":"ack","id":"esc\"aped"}`, `{"Type":"ack"}`, `{"type":"ack","extra":true}`,
		`{"seq":1.5}`, `{"seq":01}`, `{"type":"frame","data":"AA!="}`, `{"type":"frame","data":"AAA"}`, `{"type":"ack"`, `[1]`, `{"type":"ack"}x`,
	} {
		var m Message
		if decodeFlat([]byte(in), &m) {
			t.Errorf("decodeFlat(%s) took a frame it must leave to encoding/json", in)
		}
	}
}

// FuzzDecodeFlat: whatever the fast path accepts, encoding/json decodes
// to the same message.
func FuzzDecodeFlat(f *testing.F) {
	f.Add([]byte(`{"type":"ack","id":"cam-00000117/17"}`))
	f.Add([]byte(`{"type":"nack","id":"a","retry_after_ms":-0}`))
	f.Add([]byte(`{"type":"event","id":"a/1","seq":1,"at":9,"kind":"motion","thumb":"aGVyZA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Message
		if !decodeFlat(b, &fast) {
			return
		}
		var slow Message
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast path took %q, encoding/json refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", b, fast, slow)
		}
	})
}
