package reports

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/herd-drill/herd/sim"
)

func latencyWith(valuesUs ...int64) Latency {
	h := sim.NewHistogram()
	for _, v := range valuesUs {
		h.RecordValue(v)
	}
	return latencyOf(h)
}

func TestWriteHgrmIsHdrHistogramsPercentileFormat(t *testing.T) {
	var values []int64
	for i := int64(1); i <= 10000; i++ {
		values = append(values, i*100) // 0.1 ms to 1 s
	}
	l := latencyWith(values...)
	var out bytes.Buffer
	if err := WriteHgrm(&out, l); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if want := "       Value     Percentile TotalCount 1/(1-Percentile)"; lines[0] != want || lines[1] != "" {
		t.Fatalf("header = %q, %q; want %q and a blank line", lines[0], lines[1], want)
	}
	footer := lines[len(lines)-3:]
	rows := lines[2 : len(lines)-3]
	if want := "       0.100 0.000000000000          1           1.00"; rows[0] != want {
		t.Errorf("first row = %q, want %q", rows[0], want)
	}
	last := strings.Fields(rows[len(rows)-1])
	if len(last) != 3 || last[1] != "1.000000000000" || last[2] != "10000" {
		t.Errorf("last row = %q, want value, 1.000000000000 and the total, no fourth column", rows[len(rows)-1])
	}
	for _, r := range rows[:len(rows)-1] {
		if f := strings.Fields(r); len(f) != 4 {
			t.Errorf("row %q has %d columns, want 4", r, len(f))
		}
	}
	wantFooter := []string{
		fmt.Sprintf("#[Mean    = %12.3f, StdDeviation   = %12.3f]", valueMs(t, l, "mean"), valueMs(t, l, "std")),
		fmt.Sprintf("#[Max     = %12.3f, Total count    = %12d]", l.MaxMs, 10000),
		"#[Buckets = " + fmt.Sprintf("%12d", 22) + ", SubBuckets     = " + fmt.Sprintf("%12d", 2048) + "]",
	}
	for i := range wantFooter {
		if footer[i] != wantFooter[i] {
			t.Errorf("footer line %d = %q, want %q", i, footer[i], wantFooter[i])
		}
	}
	// The median is 500 ms, printed as the highest value equivalent to it
	// at 3 significant digits (buckets of 256 µs there), as Java prints it.
	median := false
	for _, r := range rows {
		if f := strings.Fields(r); f[1] == "0.500000000000" {
			median = true
			if f[0] != "500.223" || f[2] != "5002" {
				t.Errorf("median row %q: want 500.223 ms and 5002 values", r)
			}
		}
	}
	if !median {
		t.Error("no row at the 50th percentile")
	}
}

// valueMs reads the mean or standard deviation of l's histogram in ms.
func valueMs(t *testing.T, l Latency, what string) float64 {
	t.Helper()
	h, err := hdrhistogram.Decode([]byte(l.HDR))
	if err != nil {
		t.Fatal(err)
	}
	if what == "mean" {
		return h.Mean() / 1000
	}
	return h.StdDev() / 1000
}

// The rows walk the same percentiles as hdrhistogram-go's PercentilesPrint,
// which prints them in another layout: values, levels and counts agree.
func TestWriteHgrmAgreesWithPercentilesPrint(t *testing.T) {
	l := latencyWith(5, 5, 900, 1200, 1500, 40_000, 3_000_000, 3_000_001)
	h, _ := hdrhistogram.Decode([]byte(l.HDR))
	var theirs, ours bytes.Buffer
	if _, err := h.PercentilesPrint(&theirs, hgrmTicks, hgrmScale); err != nil {
		t.Fatal(err)
	}
	if err := WriteHgrm(&ours, l); err != nil {
		t.Fatal(err)
	}
	a, b := dataRows(theirs.String()), dataRows(ours.String())
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d rows here, %d from PercentilesPrint", len(b), len(a))
	}
	for i := range a {
		for col := 0; col < 3; col++ {
			x, _ := strconv.ParseFloat(a[i][col], 64)
			y, _ := strconv.ParseFloat(b[i][col], 64)
			if math.Abs(x-y) > 1e-6 {
				t.Errorf("row %d column %d: %s here, %s from PercentilesPrint", i, col, b[i][col], a[i][col])
			}
		}
	}
	// Bucket geometry: PercentilesPrint reads the library's own fields.
	if got, want := lastLine(ours.String()), lastLine(theirs.String()); got != want {
		t.Errorf("geometry line %q, PercentilesPrint says %q", got, want)
	}
}

func TestHdrGeometryMatchesTheLibrary(t *testing.T) {
	for _, g := range []struct {
		low, high int64
		digits    int
	}{{1, 3_600_000_000, 3}, {1, 3_600_000_000, 2}, {1000, 1 << 40, 1}, {1, 2, 5}, {1, math.MaxInt64, 3}} {
		h := hdrhistogram.New(g.low, g.high, g.digits)
		var theirs bytes.Buffer
		h.PercentilesPrint(&theirs, 5, 1)
		b, s := hdrGeometry(h)
		want := lastLine(theirs.String())
		if got := fmt.Sprintf("#[Buckets = %12d, SubBuckets     = %12d]", b, s); got != want {
			t.Errorf("%+v: %q, library says %q", g, got, want)
		}
	}
}

func TestWriteHgrmOfAnEmptyHistogramHasNoRows(t *testing.T) {
	var out bytes.Buffer
	if err := WriteHgrm(&out, latencyWith()); err != nil {
		t.Fatal(err)
	}
	if rows := dataRows(out.String()); len(rows) != 0 {
		t.Errorf("empty histogram has rows %q", rows)
	}
	if !strings.Contains(out.String(), "Total count    =            0]") {
		t.Errorf("footer lacks the zero count:\n%s", out.String())
	}
}

func TestWriteHgrmRejectsWhatIsNotAHistogram(t *testing.T) {
	for _, hdr := range []string{"", "bm90IGEgaGlzdG9ncmFt"} {
		if err := WriteHgrm(&bytes.Buffer{}, Latency{HDR: hdr}); err == nil {
			t.Errorf("hdr %q accepted", hdr)
		}
	}
}

// dataRows returns the fields of the lines between header and footer.
func dataRows(s string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(line, "#") || f[0] == "Value" {
			continue
		}
		rows = append(rows, f)
	}
	return rows
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
