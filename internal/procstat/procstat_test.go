package procstat

import (
	"os"
	"runtime"
	"testing"
)

func TestReadsOwnProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	rss := RSS()
	peak := PeakRSS() // read after RSS: the peak can only have grown since
	if rss <= 0 || peak < rss {
		t.Errorf("RSS %d, peak %d: want 0 < RSS <= peak", rss, peak)
	}
	before := OpenFiles()
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := OpenFiles(); got != before+1 {
		t.Errorf("OpenFiles after opening one file = %d, want %d", got, before+1)
	}
	if RaiseFileLimit() == 0 || FileLimit() == 0 {
		t.Error("no open-file limit read")
	}
}
