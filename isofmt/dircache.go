package isofmt

import (
	"container/list"
	"sync"
)

// dirCacheEntries bounds the parsed directory entries kept in memory.
// Beyond it, the least recently used directories are dropped and parsed
// again (from the sector cache) when next asked for.
const dirCacheEntries = 1 << 16

// listing is one parsed directory. It is in the cache from the moment
// the first caller asks for it; load parses it once, and callers that
// come while it is being parsed wait for that parse instead of starting
// their own (a background preload and the request it anticipates, or
// two readers of one directory: each would otherwise get its own set of
// nodes for the same entries).
type listing struct {
	load  sync.Once
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
	n   int // entries counted for l (0 until it is loaded)
}

// dirCache is an LRU of listings keyed by directory inode.
type dirCache struct {
	mu      sync.Mutex
	items   map[uint64]*list.Element
	lru     list.List
	entries int
	parsed  int64 // directories parsed so far
}

func newDirCache() *dirCache { return &dirCache{items: make(map[uint64]*list.Element)} }

// get returns the listing of key, adding an unloaded one if there is
// none.
func (c *dirCache) get(key uint64) *listing {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*dirCacheItem).l
	}
	l := &listing{}
	c.items[key] = c.lru.PushFront(&dirCacheItem{key: key, l: l})
	c.entries++
	return l
}

// loaded counts the entries of l, just parsed, against the bound and
// drops the least recently used listings beyond it (never l itself).
func (c *dirCache) loaded(key uint64, l *listing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parsed++
	el, ok := c.items[key]
	if !ok || el.Value.(*dirCacheItem).l != l {
		return // dropped while it was parsed
	}
	el.Value.(*dirCacheItem).n = len(l.nodes)
	c.entries += len(l.nodes)
	for c.entries > dirCacheEntries && c.lru.Len() > 1 {
		old := c.lru.Back()
		if old == el {
			break
		}
		it := old.Value.(*dirCacheItem)
		c.lru.Remove(old)
		delete(c.items, it.key)
		c.entries -= it.n + 1
	}
}
