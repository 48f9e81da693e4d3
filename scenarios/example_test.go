package scenarios_test

import (
	"fmt"

	"github.com/herd-drill/herd/scenarios"
)

func ExampleParse() {
	_, err := scenarios.Parse("drill.yaml", []byte(`
name: my-drill
phases:
  - kind: steady
    duration: 30s
  - kind: outage
    duraton: 10s
thresholds:
  - connect.p99 < 5000
`))
	for _, e := range scenarios.Errors(err) {
		fmt.Println(e)
	}
	// Output:
	// drill.yaml:7: phases[1].duraton: unknown field (did you mean duration?)
	// drill.yaml:9: thresholds[0]: connect.p99 is a time but 5000 has no time unit (write a duration such as 5s or 250ms)
}

func ExampleLoad() {
	s, err := scenarios.Load(scenarios.Default)
	if err != nil {
		panic(err)
	}
	quick := s.Scaled(0.1)
	fmt.Println(s.Source, s.Total(), "scaled:", quick.Total())
	for _, p := range quick.Phases {
		fmt.Println(p.Name, p.Kind, p.Duration)
	}
	// Output:
	// builtin:aws-outage 1m0s scaled: 6s
	// steady steady 1s
	// outage outage 1s
	// recovery settle 4s
}

func ExampleThreshold_Check() {
	t, err := scenarios.ParseThreshold("recovery.t99 < 60s")
	if err != nil {
		panic(err)
	}
	// Measurements are in the metric's unit: milliseconds here.
	fmt.Println(t.Metric, t.Op, t.Value, t.Check(42_000), t.Check(75_000))
	// Output: recovery.t99 < 60000 true false
}
