package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// hgrmTicks is how many percentile lines each halving of the distance to
// 100% gets: 5, HdrHistogram's usual choice.
const hgrmTicks = 5

// hgrmScale turns the histograms' microseconds into the file's milliseconds.
const hgrmScale = 1000.0

// WriteHgrm writes the whole histogram of l (its HDR field) as a
// percentile distribution in HdrHistogram's text format, values in
// milliseconds: the output of Java's outputPercentileDistribution(out, 5,
// 1000.0), which HdrHistogram's plotter and its ports read.
//
// hdrhistogram-go's own PercentilesPrint walks the same percentiles but
// prints another header, six decimals of percentile and an "inf" column on
// the last line, so the lines are formatted here as Java formats them.
func WriteHgrm(w io.Writer, l Latency) error {
	if l.HDR == "" {
		return errors.New("the result has no histogram for it (hdr is empty)")
	}
	h, err := hdrhistogram.Decode([]byte(l.HDR))
	if err != nil {
		return fmt.Errorf("its hdr field is not a V2 compressed HdrHistogram: %w", err)
	}
	bw := bufio.NewWriter(w)
	digits := h.SignificantFigures()
	fmt.Fprintf(bw, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")
	if h.TotalCount() > 0 {
		for _, b := range h.CumulativeDistributionWithTicks(hgrmTicks) {
			v, p := float64(b.ValueAt)/hgrmScale, b.Quantile/100
			if b.Quantile == 100 {
				fmt.Fprintf(bw, "%12.*f %2.12f %10d\n", digits, v, p, b.Count)
				continue
			}
			fmt.Fprintf(bw, "%12.*f %2.12f %10d %14.2f\n", digits, v, p, b.Count, 1/(1-p))
		}
	}
	buckets, subBuckets := hdrGeometry(h)
	fmt.Fprintf(bw, "#[Mean    = %12.*f, StdDeviation   = %12.*f]\n", digits, h.Mean()/hgrmScale, digits, h.StdDev()/hgrmScale)
	fmt.Fprintf(bw, "#[Max     = %12.*f, Total count    = %12d]\n", digits, float64(h.Max())/hgrmScale, h.TotalCount())
	fmt.Fprintf(bw, "#[Buckets = %12d, SubBuckets     = %12d]\n", buckets, subBuckets)
	return bw.Flush()
}

// hdrGeometry returns h's bucket and sub-bucket counts, which
// hdrhistogram-go keeps unexported, by HdrHistogram's own rule: sub-buckets
// give single-unit resolution up to 2·10^digits, rounded up to a power of
// two; buckets double until the highest trackable value fits.
func hdrGeometry(h *hdrhistogram.Histogram) (buckets, subBuckets int64) {
	unitMagnitude := max(int64(math.Floor(math.Log2(float64(max(h.LowestTrackableValue(), 1))))), 0)
	subBucketMagnitude := max(int64(math.Ceil(math.Log2(2*math.Pow10(int(h.SignificantFigures()))))), 1)
	subBuckets = int64(1) << subBucketMagnitude
	smallestUntrackable := subBuckets << unitMagnitude
	buckets = 1
	for smallestUntrackable <= h.HighestTrackableValue() {
		if smallestUntrackable > math.MaxInt64/2 {
			return buckets + 1, subBuckets
		}
		smallestUntrackable <<= 1
		buckets++
	}
	return buckets, subBuckets
}
