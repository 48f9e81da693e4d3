// Package scenarios holds herd's drill descriptions: the Scenario type, the
// YAML file format that writes one down, its parser and validator, and the
// built-in scenarios embedded in the binary.
//
// A scenario is pure data. It says how big the simulated fleet is, how its
// cameras and app users behave, how cameras reconnect, which phases the
// drill goes through (steady state, outage, settle) and which thresholds
// fail it. The fleet engine turns a validated Scenario into a run; nothing
// here touches the network.
//
// # File format
//
// A scenario file is one YAML mapping. Every section is optional and every
// field has a default except the phases; keys are snake_case:
//
//	name: my-drill                  # default: the file's base name
//	description: one line shown by `herd scenarios`
//	fleet:     {cameras: 1000, seed: 1}
//	camera:    {events_per_minute: 6, thumb_bytes: 1024, frame_bytes: 4096,
//	            backlog: 20, kinds: [motion, person, package]}
//	reconnect: {policy: full-jitter, base: 1s, cap: 30s, reset_after: 30s,
//	            honour_retry_after: true, honour_1013: true}
//	app:       {active: 0.1, poll: 5s, surge: 0.8, surge_window: 2s,
//	            thumbnails: 0.5, live: 0.05, probes: 0.02, page_size: 50}
//	phases:
//	  - {kind: steady, duration: 10s}
//	  - {kind: outage, duration: 10s, fraction: 1, mode: reset}
//	  - {kind: settle, duration: 40s}
//	thresholds:
//	  - violations.total == 0
//	  - recovery.t99 < 60s
//	  - errors.rate < 5%
//	allow_violations: false
//
// Durations are Go durations with a unit ("250ms", "10s", "2m"); fractions
// are numbers between 0 and 1. A threshold is "METRIC OP VALUE" with OP one
// of < <= > >= == != and VALUE written in the metric's unit: a duration for
// times, a percentage or fraction for ratios, a plain number for counts
// (Metrics lists them). YAML anchors, aliases and merge keys (<<) work, so
// repeated phases can share one definition.
//
// Parse reports every problem at once, each as an *Error naming file, line
// and field with a remedy, and rejects unknown fields with a suggestion
// when one is close: a typo must never silently become a default.
package scenarios
