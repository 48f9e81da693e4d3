package catalog

import "testing"

func TestTheCatalogIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Metrics() {
		if seen[m.Name] {
			t.Errorf("metric %s twice", m.Name)
		}
		seen[m.Name] = true
		if m.Help == "" || m.Path == "" || (m.Unit != UnitMillis && m.Unit != UnitRatio && m.Unit != UnitCount) {
			t.Errorf("metric %+v: want a unit, a help and a path", m)
		}
		if got, ok := LookupMetric(m.Name); !ok || got != m {
			t.Errorf("LookupMetric(%s) = %+v, %v", m.Name, got, ok)
		}
	}
	for _, c := range Classes() {
		if !seen["violations."+c.Name] {
			t.Errorf("class %s has no metric violations.%s", c.Name, c.Name)
		}
		if ClassHelp(c.Name) != c.Help || c.Help == "" {
			t.Errorf("class %s: help %q", c.Name, ClassHelp(c.Name))
		}
	}
	if Classes()[0].Name != CrossAccount {
		t.Error("the leak comes first")
	}
	if ClassHelp("haunted") == "" {
		t.Error("an unknown class needs a meaning too")
	}
}
