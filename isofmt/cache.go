package isofmt

import (
	"container/list"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// DefaultCacheSize is the sector cache size used when Options.CacheSize is 0.
const DefaultCacheSize = 32 << 20

// cacheBlockSize is the unit of caching: 32 sectors. Directories and SUSP
// areas written by mastering tools are mostly contiguous, so one block read
// serves many lookups; for remote sources it also bounds round trips.
const cacheBlockSize = 64 << 10

// CacheStats reports sector cache effectiveness.
type CacheStats struct {
	Hits, Misses uint64
	// Bytes is the memory currently held by cached blocks.
	Bytes int64
}

// sectorCache is a bounded, concurrency-safe LRU of fixed-size blocks in
// front of an io.ReaderAt. Concurrent misses on one block share one read.
type sectorCache struct {
	src       io.ReaderAt
	size      int64
	maxBlocks int

	mu       sync.Mutex
	blocks   map[int64]*list.Element // block index → element holding *cacheBlock
	lru      list.List               // front = most recent
	inflight map[int64]*blockCall
	bytes    int64

	hits, misses atomic.Uint64
}

type cacheBlock struct {
	idx  int64
	data []byte
}

type blockCall struct {
	done chan struct{}
	data []byte
	err  error
}

func newSectorCache(src io.ReaderAt, size, capacity int64) *sectorCache {
	if capacity <= 0 {
		capacity = DefaultCacheSize
	}
	n := int(capacity / cacheBlockSize)
	if n < 4 {
		n = 4
	}
	return &sectorCache{src: src, size: size, maxBlocks: n,
		blocks: make(map[int64]*list.Element), inflight: make(map[int64]*blockCall)}
}

// drop empties the cache (reads in flight finish as they are).
func (c *sectorCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.blocks)
	c.lru.Init()
	c.bytes = 0
}

func (c *sectorCache) stats() CacheStats {
	c.mu.Lock()
	b := c.bytes
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Bytes: b}
}

// ReadAt implements io.ReaderAt over the cached source. Reads that end past
// the image size return io.EOF after the available bytes.
func (c *sectorCache) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("isofmt: negative read offset %d", off)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= c.size {
			return n, io.EOF
		}
		idx := pos / cacheBlockSize
		data, err := c.block(idx)
		if err != nil {
			return n, err
		}
		in := pos - idx*cacheBlockSize
		if in >= int64(len(data)) {
			return n, io.EOF
		}
		n += copy(p[n:], data[in:])
	}
	return n, nil
}

func (c *sectorCache) block(idx int64) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.blocks[idx]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		c.hits.Add(1)
		return el.Value.(*cacheBlock).data, nil
	}
	if call, ok := c.inflight[idx]; ok {
		c.mu.Unlock()
		<-call.done
		c.hits.Add(1)
		return call.data, call.err
	}
	call := &blockCall{done: make(chan struct{})}
	c.inflight[idx] = call
	c.mu.Unlock()
	c.misses.Add(1)

	start := idx * cacheBlockSize
	want := min(int64(cacheBlockSize), c.size-start)
	buf := make([]byte, want)
	got, err := c.src.ReadAt(buf, start)
	if got == len(buf) {
		err = nil
	} else if err == nil || err == io.EOF {
		err = fmt.Errorf("isofmt: short read at byte %d: got %d of %d bytes (image shrank?): %w", start, got, want, ErrTruncated)
	} else {
		err = fmt.Errorf("isofmt: reading bytes %d-%d: %w", start, start+want, err)
	}
	call.data, call.err = buf, err
	if err != nil {
		call.data = nil
	}

	c.mu.Lock()
	delete(c.inflight, idx)
	if err == nil {
		c.blocks[idx] = c.lru.PushFront(&cacheBlock{idx: idx, data: buf})
		c.bytes += int64(len(buf))
		for c.lru.Len() > c.maxBlocks {
			old := c.lru.Back()
			ob := old.Value.(*cacheBlock)
			c.lru.Remove(old)
			delete(c.blocks, ob.idx)
			c.bytes -= int64(len(ob.data))
		}
	}
	c.mu.Unlock()
	close(call.done)
	return call.data, call.err
}
