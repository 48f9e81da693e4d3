package reports

import (
	"errors"
	"fmt"
	"math"
)

// USLPoint is one measured size: N cameras drove throughput X (events
// acknowledged per second, or any other rate of completed work).
type USLPoint struct {
	N float64 `json:"n"`
	X float64 `json:"x"`
}

// USL is a fit of Gunther's Universal Scalability Law,
//
//	X(N) = λN / (1 + σ(N−1) + κN(N−1)),
//
// to measured throughput: Lambda is the throughput of one camera alone,
// Sigma the contention (the share of work that queues for something
// shared), Kappa the coherency cost (pairwise crosstalk, which makes
// throughput fall past a peak). The fit keeps 0 ≤ σ ≤ 1 and κ ≥ 0.
type USL struct {
	Lambda float64 `json:"lambda"`
	Sigma  float64 `json:"sigma"`
	Kappa  float64 `json:"kappa"`
	// R2 is the coefficient of determination of the fit on X.
	R2 float64 `json:"r2"`
	// Points is how many points were fitted.
	Points int `json:"points"`
	// Peak is the size of greatest throughput; nil when the fit has none
	// (κ has no measurable effect within the sizes measured, so throughput
	// only flattens).
	Peak *USLPeak `json:"peak"`
}

// USLPeak is where a USL curve peaks: past N, adding cameras lowers
// throughput.
type USLPeak struct {
	N float64 `json:"n"`
	X float64 `json:"x"`
	// Extrapolated is true when N lies beyond the largest size measured:
	// a prediction, not an observation.
	Extrapolated bool `json:"extrapolated"`
}

// At returns the fitted throughput at n cameras.
func (u *USL) At(n float64) float64 {
	return u.Lambda * n / (1 + u.Sigma*(n-1) + u.Kappa*n*(n-1))
}

// MinUSLSizes is how many distinct sizes a fit needs: the law has three
// parameters.
const MinUSLSizes = 3

// negligibleCoherency is how small κN(N−1) must be, relative to the
// denominator at the largest size measured, for the fit to report no peak:
// below it, the data cannot tell κ from zero and a "peak" would be an
// artefact of rounding, at a size a thousand or more times the largest
// measured.
const negligibleCoherency = 1e-6

// FitUSL fits the Universal Scalability Law to points by nonlinear least
// squares on X (Levenberg–Marquardt with bounds σ ∈ [0,1], κ ≥ 0, from
// several starting points, the best fit kept). It needs at least
// MinUSLSizes distinct sizes, every N ≥ 1 and every X > 0.
func FitUSL(points []USLPoint) (*USL, error) {
	if err := checkUSLPoints(points); err != nil {
		return nil, err
	}
	f := newUSLFitter(points)
	best := uslParams{}
	bestCost := math.Inf(1)
	for _, start := range f.starts() {
		p, cost := f.solve(start)
		if cost < bestCost {
			best, bestCost = p, cost
		}
	}
	if math.IsInf(bestCost, 1) || math.IsNaN(bestCost) {
		return nil, errors.New("USL fit did not converge")
	}
	u := &USL{
		Lambda: best.a * f.ys / f.ns,
		Sigma:  best.c / f.ns,
		Kappa:  best.b / (f.ns * f.ns),
		Points: len(points),
	}
	u.R2 = rSquared(points, u)
	u.Peak = peakOf(u, f.ns)
	return u, nil
}

func checkUSLPoints(points []USLPoint) error {
	sizes := map[float64]bool{}
	for i, p := range points {
		switch {
		case math.IsNaN(p.N) || math.IsInf(p.N, 0) || math.IsNaN(p.X) || math.IsInf(p.X, 0):
			return fmt.Errorf("USL fit: point %d (N=%g, X=%g) is not a finite number", i+1, p.N, p.X)
		case p.N < 1:
			return fmt.Errorf("USL fit: point %d has N=%g; a size is at least one camera", i+1, p.N)
		case p.X <= 0:
			return fmt.Errorf("USL fit: point %d (N=%g) has throughput %g; the law models positive throughput, so a size where nothing completed cannot be fitted (leave it out and say so)", i+1, p.N, p.X)
		}
		sizes[p.N] = true
	}
	if len(sizes) < MinUSLSizes {
		return fmt.Errorf("USL fit needs at least %d distinct sizes, got %d (%d points): the law has three parameters", MinUSLSizes, len(sizes), len(points))
	}
	return nil
}

// uslParams are the fit's parameters in scaled units, all of order one
// for data that shows the law's shape: with S the largest size and Y the
// largest throughput, a = λS/Y, c = σS, b = κS². Scaling keeps the
// normal equations well conditioned whether κ is 1e-3 or 1e-9.
type uslParams struct{ a, c, b float64 }

func (p uslParams) get(i int) float64 { return [3]float64{p.a, p.c, p.b}[i] }

func (p *uslParams) set(i int, v float64) {
	switch i {
	case 0:
		p.a = v
	case 1:
		p.c = v
	default:
		p.b = v
	}
}

type uslFitter struct {
	u, w, y []float64 // u = N/S, w = (N−1)/S, y = X/Y
	ns, ys  float64   // S and Y
	lo, hi  [3]float64
}

func newUSLFitter(points []USLPoint) *uslFitter {
	f := &uslFitter{}
	for _, p := range points {
		f.ns = math.Max(f.ns, p.N)
		f.ys = math.Max(f.ys, p.X)
	}
	for _, p := range points {
		f.u = append(f.u, p.N/f.ns)
		f.w = append(f.w, (p.N-1)/f.ns)
		f.y = append(f.y, p.X/f.ys)
	}
	// a > 0 (a floor keeps it strictly positive), 0 ≤ σ ≤ 1, κ ≥ 0.
	f.lo = [3]float64{1e-12, 0, 0}
	f.hi = [3]float64{math.Inf(1), f.ns, math.Inf(1)}
	return f
}

// model returns the scaled prediction at point i and its partial
// derivatives by a, c and b.
func (f *uslFitter) model(p uslParams, i int) (y float64, d [3]float64) {
	u, w := f.u[i], f.w[i]
	den := 1 + p.c*w + p.b*u*w
	y = p.a * u / den
	d[0] = u / den
	d[1] = -p.a * u * w / (den * den)
	d[2] = -p.a * u * u * w / (den * den)
	return y, d
}

func (f *uslFitter) cost(p uslParams) float64 {
	s := 0.0
	for i := range f.y {
		y, _ := f.model(p, i)
		r := f.y[i] - y
		s += r * r
	}
	if math.IsNaN(s) {
		return math.Inf(1)
	}
	return s
}

func (f *uslFitter) clamp(p uslParams) uslParams {
	for i := range 3 {
		p.set(i, math.Min(math.Max(p.get(i), f.lo[i]), f.hi[i]))
	}
	return p
}

// starts returns starting points for the solver. The first comes from
// linearising the law: with λ estimated from the best throughput per
// camera, λN/X − 1 = σ(N−1) + κN(N−1) is linear in σ and κ. The others
// cover the corners (no contention, no coherency) that the linear
// estimate can miss when the data is noisy.
func (f *uslFitter) starts() []uslParams {
	a0 := 0.0
	for i := range f.y {
		a0 = math.Max(a0, f.y[i]/f.u[i])
	}
	// Least squares for z = c·w + b·u·w, without an intercept.
	var s11, s12, s22, t1, t2 float64
	for i := range f.y {
		z := a0*f.u[i]/f.y[i] - 1
		x1, x2 := f.w[i], f.u[i]*f.w[i]
		s11 += x1 * x1
		s12 += x1 * x2
		s22 += x2 * x2
		t1 += x1 * z
		t2 += x2 * z
	}
	c0, b0 := 0.0, 0.0
	if det := s11*s22 - s12*s12; det > 1e-12*s11*s22 {
		c0 = (t1*s22 - t2*s12) / det
		b0 = (s11*t2 - s12*t1) / det
	}
	lin := f.clamp(uslParams{a0, c0, b0})
	return []uslParams{
		lin,
		f.clamp(uslParams{a0, 0, 0}),
		f.clamp(uslParams{a0, lin.c, 0}),
		f.clamp(uslParams{a0, 0, math.Max(lin.b, 1)}),
		f.clamp(uslParams{2 * a0, math.Max(lin.c, 1), math.Max(lin.b, 1)}),
	}
}

// Solver limits: LM iterations, and the damping beyond which no step
// lowers the cost any more (a minimum, possibly on a bound).
const (
	uslMaxIter = 500
	uslMaxMu   = 1e14
)

// solve runs bounded Levenberg–Marquardt from p and returns the parameters
// and their cost. A parameter on a bound whose gradient points out of the
// box is held there for the step (a simple active set); the others take
// a damped Gauss–Newton step, clamped into the box.
func (f *uslFitter) solve(p uslParams) (uslParams, float64) {
	cost := f.cost(p)
	mu := 1e-3
	for range uslMaxIter {
		var A [3][3]float64
		var g [3]float64
		for i := range f.y {
			y, d := f.model(p, i)
			r := f.y[i] - y
			for j := range 3 {
				g[j] += d[j] * r
				for k := range 3 {
					A[j][k] += d[j] * d[k]
				}
			}
		}
		var free []int
		for j := range 3 {
			v := p.get(j)
			if (v <= f.lo[j] && g[j] <= 0) || (v >= f.hi[j] && g[j] >= 0) {
				continue
			}
			free = append(free, j)
		}
		if len(free) == 0 {
			return p, cost
		}
		accepted := false
		for mu <= uslMaxMu {
			step, ok := dampedStep(A, g, free, mu)
			if !ok {
				mu *= 4
				continue
			}
			next := p
			for k, j := range free {
				next.set(j, p.get(j)+step[k])
			}
			next = f.clamp(next)
			nc := f.cost(next)
			if nc < cost {
				moved := 0.0
				for j := range 3 {
					moved = math.Max(moved, math.Abs(next.get(j)-p.get(j))/(1+math.Abs(p.get(j))))
				}
				drop := (cost - nc) / math.Max(cost, 1e-300)
				p, cost = next, nc
				mu = math.Max(mu/3, 1e-12)
				accepted = true
				if drop < 1e-15 || moved < 1e-13 || cost < 1e-30 {
					return p, cost
				}
				break
			}
			mu *= 4
		}
		if !accepted {
			return p, cost
		}
	}
	return p, cost
}

// dampedStep solves (A_ff + μ·diag(A_ff)) δ = g_f over the free
// parameters by Gaussian elimination with partial pivoting.
func dampedStep(A [3][3]float64, g [3]float64, free []int, mu float64) ([]float64, bool) {
	n := len(free)
	m := make([][]float64, n)
	for r, j := range free {
		m[r] = make([]float64, n+1)
		for c, k := range free {
			m[r][c] = A[j][k]
		}
		// A floor on the diagonal keeps a parameter with no effect on
		// the data from making the system singular.
		m[r][r] += mu * math.Max(A[j][j], 1e-12)
		m[r][n] = g[j]
	}
	for col := range n {
		piv := col
		for r := col + 1; r < n; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[piv][col]) {
				piv = r
			}
		}
		if m[piv][col] == 0 || math.IsNaN(m[piv][col]) {
			return nil, false
		}
		m[col], m[piv] = m[piv], m[col]
		for r := col + 1; r < n; r++ {
			k := m[r][col] / m[col][col]
			for c := col; c <= n; c++ {
				m[r][c] -= k * m[col][c]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for c := r + 1; c < n; c++ {
			s -= m[r][c] * x[c]
		}
		x[r] = s / m[r][r]
		if math.IsNaN(x[r]) || math.IsInf(x[r], 0) {
			return nil, false
		}
	}
	return x, true
}

func rSquared(points []USLPoint, u *USL) float64 {
	mean := 0.0
	for _, p := range points {
		mean += p.X
	}
	mean /= float64(len(points))
	var res, tot float64
	for _, p := range points {
		r := p.X - u.At(p.N)
		res += r * r
		tot += (p.X - mean) * (p.X - mean)
	}
	if tot == 0 {
		// Every throughput equal: a perfect fit explains all there is.
		if res <= 1e-24*mean*mean*float64(len(points)) {
			return 1
		}
		return 0
	}
	return 1 - res/tot
}

// peakOf returns where u peaks, maxN being the largest size measured.
// With σ ≥ 1 throughput never rises above one camera's, so the peak is at
// one camera.
func peakOf(u *USL, maxN float64) *USLPeak {
	if u.Sigma >= 1 {
		return &USLPeak{N: 1, X: u.At(1)}
	}
	if u.Kappa <= 0 || u.Kappa*maxN*(maxN-1) < negligibleCoherency*(1+u.Sigma*(maxN-1)) {
		return nil
	}
	n := math.Sqrt((1 - u.Sigma) / u.Kappa)
	if math.IsInf(n, 0) || math.IsNaN(n) {
		return nil
	}
	return &USLPeak{N: n, X: u.At(n), Extrapolated: n > maxN}
}
