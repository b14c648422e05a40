package isofmt

import (
	"container/list"
	"sync"
)

// dirCacheEntries bounds the parsed directory entries kept in memory.
// Beyond it, the least recently used directories are dropped and parsed
// again (from the sector cache) when next asked for.
const dirCacheEntries = 1 << 16

// listing is one parsed directory.
type listing struct {
	nodes []*Node
	err   error

	indexOnce sync.Once
	index     map[string]int
}

func (l *listing) lookup(name string) (*Node, bool) {
	l.indexOnce.Do(func() {
		l.index = make(map[string]int, len(l.nodes))
		for i := len(l.nodes) - 1; i >= 0; i-- { // first entry of a duplicate name wins
			l.index[l.nodes[i].Name] = i
		}
	})
	i, ok := l.index[name]
	if !ok {
		return nil, false
	}
	return l.nodes[i], true
}

type dirCacheItem struct {
	key uint64
	l   *listing
}

// dirCache is an LRU of listings keyed by directory inode.
type dirCache struct {
	mu      sync.Mutex
	items   map[uint64]*list.Element
	lru     list.List
	entries int
}

func newDirCache() *dirCache { return &dirCache{items: make(map[uint64]*list.Element)} }

func (c *dirCache) get(key uint64) *listing {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*dirCacheItem).l
	}
	return nil
}

func (c *dirCache) put(key uint64, l *listing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.lru.PushFront(&dirCacheItem{key, l})
	c.entries += len(l.nodes) + 1
	for c.entries > dirCacheEntries && c.lru.Len() > 1 {
		old := c.lru.Back()
		it := old.Value.(*dirCacheItem)
		c.lru.Remove(old)
		delete(c.items, it.key)
		c.entries -= len(it.l.nodes) + 1
	}
}
