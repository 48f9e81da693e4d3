package oracle

import (
	"strconv"
	"strings"
)

// EventID is the id herd's camera device gives its event number seq:
// "<device>/<seq>", seq counting from 1.
func EventID(device string, seq uint64) string {
	return device + "/" + strconv.FormatUint(seq, 10)
}

// ParseEventID splits an id made by EventID. ok is false for anything
// EventID cannot have produced: no "/", an empty device, a seq of 0, with a
// sign, leading zeros or non-digits. Being strict matters: "cam-1/017" is
// not an id herd sent, even though it names seq 17. It does not allocate.
func ParseEventID(id string) (device string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 || i == len(id)-1 {
		return "", 0, false
	}
	num := id[i+1:]
	if num[0] < '1' || num[0] > '9' {
		return "", 0, false
	}
	for j := 1; j < len(num); j++ {
		if num[j] < '0' || num[j] > '9' {
			return "", 0, false
		}
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i], seq, true
}
