// Package shard holds a string-keyed map split into independently locked
// shards, so that the target's hot paths (connects, event writes, look-ups)
// never queue behind one global lock.
package shard

import (
	"hash/maphash"
	"sync"
)

// n is the number of shards: a power of two comfortably above the number of
// cores, so that two goroutines rarely want the same lock.
const n = 64

// Map is a concurrent map from strings to V. The zero value is not usable;
// make one with New.
type Map[V any] struct {
	seed   maphash.Seed
	shards [n]part[V]
}

type part[V any] struct {
	mu sync.RWMutex
	m  map[string]V
	_  [40]byte // keeps neighbouring shards' locks off one cache line
}

// New returns an empty Map.
func New[V any]() *Map[V] {
	m := &Map[V]{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[string]V)
	}
	return m
}

func (m *Map[V]) part(k string) *part[V] {
	return &m.shards[maphash.String(m.seed, k)&(n-1)]
}

// Get returns the value stored under k.
func (m *Map[V]) Get(k string) (V, bool) {
	p := m.part(k)
	p.mu.RLock()
	v, ok := p.m[k]
	p.mu.RUnlock()
	return v, ok
}

// Set stores v under k.
func (m *Map[V]) Set(k string, v V) {
	p := m.part(k)
	p.mu.Lock()
	p.m[k] = v
	p.mu.Unlock()
}

// Delete removes k.
func (m *Map[V]) Delete(k string) {
	p := m.part(k)
	p.mu.Lock()
	delete(p.m, k)
	p.mu.Unlock()
}

// LoadOrStore returns the value under k if there is one (loaded true);
// otherwise it stores v and returns it.
func (m *Map[V]) LoadOrStore(k string, v V) (actual V, loaded bool) {
	p := m.part(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.m[k]; ok {
		return old, true
	}
	p.m[k] = v
	return v, false
}

// Update replaces the value under k with what fn returns, holding k's shard
// lock so that the read and the write are one step. fn gets the current
// value and whether there is one; returning keep false deletes k.
func (m *Map[V]) Update(k string, fn func(old V, ok bool) (v V, keep bool)) {
	p := m.part(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.m[k]
	v, keep := fn(old, ok)
	if keep {
		p.m[k] = v
	} else if ok {
		delete(p.m, k)
	}
}

// Range calls fn for every entry, one shard at a time, until fn returns
// false. fn must not call back into m. Entries added or removed meanwhile may
// or may not be seen.
func (m *Map[V]) Range(fn func(k string, v V) bool) {
	for i := range m.shards {
		p := &m.shards[i]
		p.mu.RLock()
		for k, v := range p.m {
			if !fn(k, v) {
				p.mu.RUnlock()
				return
			}
		}
		p.mu.RUnlock()
	}
}

// DeleteIf removes every entry for which fn returns true.
func (m *Map[V]) DeleteIf(fn func(k string, v V) bool) {
	for i := range m.shards {
		p := &m.shards[i]
		p.mu.Lock()
		for k, v := range p.m {
			if fn(k, v) {
				delete(p.m, k)
			}
		}
		p.mu.Unlock()
	}
}

// Len returns the number of entries.
func (m *Map[V]) Len() int {
	total := 0
	for i := range m.shards {
		p := &m.shards[i]
		p.mu.RLock()
		total += len(p.m)
		p.mu.RUnlock()
	}
	return total
}
