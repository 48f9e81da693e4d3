package shard

import (
	"fmt"
	"sort"
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	m := New[int]()
	m.Set("a", 1)
	m.Set("b", 2)
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Errorf("Get(a) = %d, %v", v, ok)
	}
	if v, loaded := m.LoadOrStore("a", 9); !loaded || v != 1 {
		t.Errorf("LoadOrStore(a) = %d, %v, want 1, true", v, loaded)
	}
	if v, loaded := m.LoadOrStore("c", 3); loaded || v != 3 {
		t.Errorf("LoadOrStore(c) = %d, %v, want 3, false", v, loaded)
	}
	m.Update("b", func(old int, ok bool) (int, bool) { return old * 10, ok })
	m.Update("c", func(int, bool) (int, bool) { return 0, false })
	m.Delete("missing")
	var got []string
	m.Range(func(k string, v int) bool {
		got = append(got, fmt.Sprintf("%s=%d", k, v))
		return true
	})
	sort.Strings(got)
	if fmt.Sprint(got) != "[a=1 b=20]" || m.Len() != 2 {
		t.Errorf("entries %v (Len %d), want [a=1 b=20]", got, m.Len())
	}
	m.DeleteIf(func(k string, _ int) bool { return k == "a" })
	if _, ok := m.Get("a"); ok || m.Len() != 1 {
		t.Errorf("DeleteIf left a (Len %d)", m.Len())
	}
}

func TestMapConcurrent(t *testing.T) {
	m := New[int]()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := fmt.Sprint(i)
				m.Update(k, func(old int, _ bool) (int, bool) { return old + 1, true })
				m.Get(fmt.Sprint(g))
			}
		}()
	}
	wg.Wait()
	bad := 0
	m.Range(func(_ string, v int) bool {
		if v != 8 {
			bad++
		}
		return true
	})
	if m.Len() != 1000 || bad != 0 {
		t.Errorf("Len %d, %d counters not 8", m.Len(), bad)
	}
}

func BenchmarkGetParallel(b *testing.B) {
	m := New[int]()
	for i := range 1000 {
		m.Set(fmt.Sprint(i), i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Get("500")
			i++
		}
	})
}
