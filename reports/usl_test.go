package reports

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// uslSynth samples X(N) of the law at sizes ns, each multiplied by a factor
// drawn uniformly from [1−noise, 1+noise] with a fixed seed.
func uslSynth(lambda, sigma, kappa, noise float64, ns ...float64) []USLPoint {
	u := USL{Lambda: lambda, Sigma: sigma, Kappa: kappa}
	rng := rand.New(rand.NewPCG(7, 11))
	var pts []USLPoint
	for _, n := range ns {
		x := u.At(n)
		if noise > 0 {
			x *= 1 + noise*(2*rng.Float64()-1)
		}
		pts = append(pts, USLPoint{N: n, X: x})
	}
	return pts
}

func uslWithin(got, want, rel, abs float64) bool {
	return math.Abs(got-want) <= math.Max(rel*math.Abs(want), abs)
}

func TestFitUSLRecoversParameters(t *testing.T) {
	sizes := []float64{1, 2, 4, 8, 16, 32, 64, 128}
	camSizes := []float64{500, 1000, 2000, 4000, 8000, 16000, 32000}
	cases := []struct {
		name                 string
		pts                  []USLPoint
		lambda, sigma, kappa float64
		rel                  float64 // relative tolerance on λ, σ, κ
		absSigma, absKappa   float64 // absolute tolerance, for parameters near 0
		minR2                float64
		peak                 bool
	}{
		{name: "retrograde, exact", pts: uslSynth(1000, 0.05, 0.0002, 0, sizes...),
			lambda: 1000, sigma: 0.05, kappa: 0.0002, rel: 1e-6, minR2: 0.999999, peak: true},
		{name: "camera scale, exact", pts: uslSynth(6, 0.02, 2e-7, 0, camSizes...),
			lambda: 6, sigma: 0.02, kappa: 2e-7, rel: 1e-6, minR2: 0.999999, peak: true},
		{name: "contention only, exact", pts: uslSynth(50, 0.1, 0, 0, sizes...),
			lambda: 50, sigma: 0.1, kappa: 0, rel: 1e-6, absKappa: 1e-12, minR2: 0.999999},
		{name: "linear, exact", pts: uslSynth(3, 0, 0, 0, sizes...),
			lambda: 3, sigma: 0, kappa: 0, rel: 1e-6, absSigma: 1e-9, absKappa: 1e-12, minR2: 0.999999},
		{name: "retrograde, 2% noise", pts: uslSynth(1000, 0.05, 0.0002, 0.02, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128),
			lambda: 1000, sigma: 0.05, kappa: 0.0002, rel: 0.05, minR2: 0.999, peak: true},
		{name: "camera scale, 2% noise", pts: uslSynth(6, 0.02, 2e-7, 0.02, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 24000, 32000),
			lambda: 6, sigma: 0.02, kappa: 2e-7, rel: 0.15, minR2: 0.98, peak: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FitUSL(tc.pts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("λ %g σ %g κ %g R² %g peak %+v", got.Lambda, got.Sigma, got.Kappa, got.R2, got.Peak)
			if !uslWithin(got.Lambda, tc.lambda, tc.rel, 0) {
				t.Errorf("λ = %g, want %g", got.Lambda, tc.lambda)
			}
			if !uslWithin(got.Sigma, tc.sigma, tc.rel, tc.absSigma) {
				t.Errorf("σ = %g, want %g", got.Sigma, tc.sigma)
			}
			if !uslWithin(got.Kappa, tc.kappa, tc.rel, tc.absKappa) {
				t.Errorf("κ = %g, want %g", got.Kappa, tc.kappa)
			}
			if got.R2 < tc.minR2 || got.R2 > 1 {
				t.Errorf("R² = %g, want in [%g, 1]", got.R2, tc.minR2)
			}
			if got.Points != len(tc.pts) {
				t.Errorf("Points = %d, want %d", got.Points, len(tc.pts))
			}
			if (got.Peak != nil) != tc.peak {
				t.Fatalf("peak = %+v, want a peak: %v", got.Peak, tc.peak)
			}
			if tc.peak {
				wantN := math.Sqrt((1 - tc.sigma) / tc.kappa)
				truth := USL{Lambda: tc.lambda, Sigma: tc.sigma, Kappa: tc.kappa}
				if !uslWithin(got.Peak.N, wantN, math.Max(tc.rel, 1e-6), 0) {
					t.Errorf("peak N = %g, want %g", got.Peak.N, wantN)
				}
				if !uslWithin(got.Peak.X, truth.At(wantN), math.Max(tc.rel/3, 1e-6), 0) {
					t.Errorf("peak X = %g, want %g", got.Peak.X, truth.At(wantN))
				}
				maxN := tc.pts[len(tc.pts)-1].N
				if got.Peak.Extrapolated != (got.Peak.N > maxN) {
					t.Errorf("peak at %g, extrapolated %v, largest size %g", got.Peak.N, got.Peak.Extrapolated, maxN)
				}
			}
		})
	}
}

// The peak is the maximum of the fitted curve, and the curve is the law.
func TestUSLPeakIsTheMaximum(t *testing.T) {
	u, err := FitUSL(uslSynth(100, 0.03, 0.001, 0, 1, 5, 10, 20, 40, 80))
	if err != nil {
		t.Fatal(err)
	}
	if u.Peak == nil || u.Peak.Extrapolated {
		t.Fatalf("peak = %+v, want one within the data", u.Peak)
	}
	for _, n := range []float64{u.Peak.N * 0.9, u.Peak.N * 1.1, 1, 80} {
		if u.At(n) > u.Peak.X {
			t.Errorf("X(%g) = %g exceeds the peak X(%g) = %g", n, u.At(n), u.Peak.N, u.Peak.X)
		}
	}
}

func TestFitUSLFlatThroughput(t *testing.T) {
	// Throughput that does not grow at all: all contention.
	u, err := FitUSL([]USLPoint{{1, 40}, {10, 40}, {100, 40}, {1000, 40}})
	if err != nil {
		t.Fatal(err)
	}
	if !uslWithin(u.Sigma, 1, 1e-6, 0) || !uslWithin(u.Lambda, 40, 1e-6, 0) || u.R2 != 1 {
		t.Errorf("fit = %+v, want λ 40, σ 1, R² 1", u)
	}
	if u.Peak == nil || u.Peak.N != 1 {
		t.Errorf("peak = %+v, want at one camera", u.Peak)
	}
}

func TestFitUSLErrors(t *testing.T) {
	cases := []struct {
		name string
		pts  []USLPoint
		want string
	}{
		{"no points", nil, "at least 3 distinct sizes, got 0"},
		{"two points", []USLPoint{{1, 10}, {2, 19}}, "at least 3 distinct sizes, got 2"},
		{"three points, two sizes", []USLPoint{{1, 10}, {2, 19}, {2, 18}}, "got 2 (3 points)"},
		{"zero throughput", []USLPoint{{1, 10}, {2, 19}, {4, 0}}, "point 3 (N=4) has throughput 0"},
		{"all zero", []USLPoint{{1, 0}, {2, 0}, {4, 0}}, "point 1 (N=1) has throughput 0"},
		{"negative throughput", []USLPoint{{1, 10}, {2, -1}, {4, 30}}, "has throughput -1"},
		{"size below one", []USLPoint{{0, 10}, {2, 19}, {4, 30}}, "N=0; a size is at least one camera"},
		{"NaN", []USLPoint{{1, 10}, {2, math.NaN()}, {4, 30}}, "not a finite number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := FitUSL(tc.pts)
			if err == nil {
				t.Fatalf("fit = %+v, want an error", u)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// Least squares finds the minimum: on noisy data the fit's residual is
// never larger than that of the parameters the data was made from,
// whatever the shape (nearly flat, retrograde, linear).
func TestFitUSLIsNoWorseThanTheTruth(t *testing.T) {
	ssr := func(u *USL, pts []USLPoint) float64 {
		s := 0.0
		for _, p := range pts {
			s += (p.X - u.At(p.N)) * (p.X - u.At(p.N))
		}
		return s
	}
	truths := []USL{
		{Lambda: 0.1, Sigma: 0.03, Kappa: 2e-8},  // flat over the sizes: noise dominates
		{Lambda: 0.1, Sigma: 0.002, Kappa: 4e-8}, // peaks inside the data
		{Lambda: 0.1, Sigma: 0, Kappa: 0},        // linear
		{Lambda: 5, Sigma: 0.5, Kappa: 1e-6},     // steep contention
	}
	sizes := []float64{1000, 2000, 3000, 4000, 8000, 16000}
	for i, truth := range truths {
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			var pts []USLPoint
			for _, n := range sizes {
				pts = append(pts, USLPoint{N: n, X: truth.At(n) * (1 + 0.04*(rng.Float64()-0.5))})
			}
			got, err := FitUSL(pts)
			if err != nil {
				t.Fatal(err)
			}
			if fit, want := ssr(got, pts), ssr(&truth, pts); fit > want*(1+1e-9) {
				t.Errorf("truth %+v, seed %d: fit %+v has residual %g, the truth %g", truth, seed, got, fit, want)
			}
		}
	}
}
