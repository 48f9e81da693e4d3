package reports_test

import (
	"fmt"

	"github.com/herd-drill/herd/reports"
)

// FitUSL fits the Universal Scalability Law to throughput measured at
// several fleet sizes and predicts where throughput peaks.
func ExampleFitUSL() {
	points := []reports.USLPoint{
		{N: 1000, X: 32.9}, {N: 2000, X: 38.8}, {N: 4000, X: 41.5},
		{N: 8000, X: 40.9}, {N: 16000, X: 37.0},
	}
	u, err := reports.FitUSL(points)
	if err != nil {
		panic(err)
	}
	fmt.Printf("λ %.3f  σ %.4f  κ %.1e  R² %.3f\n", u.Lambda, u.Sigma, u.Kappa, u.R2)
	fmt.Printf("peak: about %.0f cameras, %.1f events/s\n", u.Peak.N, u.Peak.X)
	// Output:
	// λ 0.100  σ 0.0020  κ 4.0e-08  R² 1.000
	// peak: about 4992 cameras, 41.7 events/s
}

// KneeOf finds the largest size that met every threshold, and says so
// when a smaller size failed.
func ExampleKneeOf() {
	t99 := 20_000.0
	point := func(n int, verdict string) reports.CapacityPoint {
		return reports.CapacityPoint{Cameras: n, Verdict: verdict, RecoveryT99Ms: &t99}
	}
	k := reports.KneeOf([]reports.CapacityPoint{
		point(1000, reports.Pass), point(2000, reports.Pass), point(4000, reports.Fail),
	})
	fmt.Println(k.Cameras, k.FirstFailure)
	fmt.Println(k.Note)
	// Output:
	// 2000 4000
	// 2000 cameras is the largest size that met every threshold with zero violations; 4000 failed.
}
