package reports

import (
	"errors"
	"fmt"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/herd-drill/herd/scenarios"
)

// Input is one result to merge and where it came from, for error messages.
type Input struct {
	Name string // a file name, or "worker 3"
	R    *Result
}

// Merge combines the results of the shards of one run into one Result,
// exactly: histograms are merged bucket by bucket, counts summed, curves
// summed on the wall clock, evidence picked again over all shards, and the
// thresholds judged again on the whole. It refuses results of different
// scenarios, seeds, fleet sizes, policies or oracle keys, and a shard
// given twice. Missing shards are listed in the verdict's reasons; extra
// shards that failed (ShardFailed, no data) can be passed in failed.
func Merge(in []Input, failed ...ShardInfo) (*Result, error) {
	if len(in) == 0 {
		return nil, errors.New("merge: no results")
	}
	first := in[0]
	if first.R.ScenarioYAML == "" {
		return nil, fmt.Errorf("merge: %s has no scenario_yaml: it was written by an older herd and cannot be re-judged", first.Name)
	}
	sc, err := scenarios.Parse(first.R.Scenario+" (from "+first.Name+")", []byte(first.R.ScenarioYAML))
	if err != nil {
		return nil, fmt.Errorf("merge: %s: its scenario does not parse: %w", first.Name, err)
	}
	seen := map[int]string{}
	for _, x := range in {
		r := x.R
		if r.Schema != Schema {
			return nil, fmt.Errorf("merge: %s is %q, want %q", x.Name, r.Schema, Schema)
		}
		for _, diff := range []struct {
			what      string
			got, want any
		}{
			{"scenario", r.Scenario, first.R.Scenario},
			{"seed", r.Seed, first.R.Seed},
			{"fleet size", r.FleetCameras, first.R.FleetCameras},
			{"policy", r.Policy, first.R.Policy},
			{"oracle key", r.KeyID, first.R.KeyID},
			{"run namespace", r.Run, first.R.Run},
			{"shard count", shardCount(r), shardCount(first.R)},
			{"curve step", r.Curve.StepMs, first.R.Curve.StepMs},
			{"scenario (as run)", r.ScenarioYAML, first.R.ScenarioYAML},
		} {
			if diff.got != diff.want {
				if diff.what == "scenario (as run)" {
					return nil, fmt.Errorf("merge: %s and %s ran the scenario with different settings (durations, thresholds or reconnect policy): results of one run only", x.Name, first.Name)
				}
				return nil, fmt.Errorf("merge: %s has %s %v, but %s has %v: results of one run only", x.Name, diff.what, diff.got, first.Name, diff.want)
			}
		}
		for _, s := range r.Shards {
			if prev, ok := seen[s.Index]; ok {
				return nil, fmt.Errorf("merge: shard %d of %d is in both %s and %s: give each shard once", s.Index, s.Of, prev, x.Name)
			}
			seen[s.Index] = x.Name
		}
	}
	for _, s := range failed {
		if prev, ok := seen[s.Index]; ok {
			return nil, fmt.Errorf("merge: shard %d both failed and has a result (%s)", s.Index, prev)
		}
	}

	var t total
	for _, x := range in {
		if err := t.add(x.Name, x.R); err != nil {
			return nil, fmt.Errorf("merge: %s: %w", x.Name, err)
		}
	}
	t.r.Shards = append(t.r.Shards, failed...)
	m := t.finalize()
	judge(m, sc, true)
	return m, nil
}

// shardCount is how many shards the run had, as r records it.
func shardCount(r *Result) int {
	if len(r.Shards) == 0 {
		return 1
	}
	return r.Shards[0].Of
}

func mergeHDR(into map[string]*hdrhistogram.Histogram, name, enc string) error {
	if enc == "" {
		return nil
	}
	h, err := hdrhistogram.Decode([]byte(enc))
	if err != nil {
		return err
	}
	if prev, ok := into[name]; ok {
		prev.Merge(h)
	} else {
		into[name] = h
	}
	return nil
}

func joinEvidence(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
