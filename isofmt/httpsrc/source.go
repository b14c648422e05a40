// Package httpsrc reads a remote image over range requests and presents
// it as an io.ReaderAt for isofmt.Open. It speaks HTTP(S) itself; other
// protocols plug in as a Fetcher (s3src reads s3:// objects that way) and
// get the same pinning, checks, caches and read-ahead.
//
// The object is pinned when it is opened: its size comes from the first
// response's Content-Range and its strong ETag (or else Last-Modified) is
// sent as If-Range with every later request, so a replaced object yields
// ErrChanged instead of a mix of two images. Servers that ignore Range
// yield ErrNoRange. An object without any validator can only be checked
// by its size.
//
// Opening costs two requests: the first 1 MiB + 64 KiB of the image, and
// the last as much, sent as soon as the size is known. Those are the
// regions isofmt.Open reads (descriptors, directories written right after
// them, UDF anchors probed at both ends), so it needs no further round
// trips for common layouts.
//
// Reads are served in 64 KiB blocks from a bounded in-memory LRU and, if
// configured, a size-bounded on-disk cache. Adjacent missing blocks are
// fetched with one request; concurrent readers of a block share one fetch;
// a reader that moves sequentially gets an asynchronous read-ahead window
// that doubles, like rclone's VFS chunked reader, from MinChunk up to
// MaxChunk (split into parallel requests of at most 4 MiB), but never
// beyond half of what that reader has read so far, so a reader that stops
// at a file's end wastes little. Callers that know where their data ends
// use ReadAtLimit and waste nothing. Failed requests are retried with
// backoff on 5xx, 429, 408 and lost connections; a request that makes no
// progress for Timeout is cut.
//
// Nothing is allocated from a length the server merely claims: every
// response must carry exactly the requested range, and bodies are read into
// buffers sized by the request.
package httpsrc

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BlockSize is the unit of caching and of range requests.
const BlockSize = 64 << 10

// PinOnly is the Options.OpenPrefetch of sources used only through
// CopyRange: the object is pinned with a one-byte request.
const PinOnly = -1

// Defaults for zero Options fields.
const (
	DefaultMemCache     = 64 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultRetries      = 4
	DefaultMinChunk     = 128 << 10
	DefaultMaxChunk     = 16 << 20
	DefaultConcurrency  = 8
	DefaultOpenPrefetch = 1<<20 + 64<<10
	DefaultOpenTail     = 1<<20 + 64<<10
	DefaultDiskCache    = 1 << 30
)

// Sentinel errors; test with errors.Is.
var (
	// ErrChanged means the remote object is no longer the one that was
	// opened (another ETag, Last-Modified or size).
	ErrChanged = errors.New("httpsrc: remote image changed since it was opened")
	// ErrNoRange means the server does not honour Range requests.
	ErrNoRange = errors.New("httpsrc: server does not support range requests")
	// ErrProtocol means the server sent a response that contradicts the
	// request (wrong Content-Range, wrong length, short body).
	ErrProtocol = errors.New("httpsrc: invalid response from server")
	// ErrClosed is returned by reads after Close.
	ErrClosed = errors.New("httpsrc: source closed")
)

// StatusError is an unexpected HTTP status.
type StatusError struct {
	URL    string
	Code   int
	Status string
}

func (e *StatusError) Error() string { return fmt.Sprintf("httpsrc: %s: HTTP %s", e.URL, e.Status) }

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Header is added to every request (authorization, cookies).
	Header http.Header
	// Client performs the requests; nil uses a client with HTTP/2 and
	// enough keep-alive connections for Concurrency.
	Client *http.Client
	// CacheDir enables the on-disk cache; CacheSize bounds all of CacheDir
	// (DefaultDiskCache if 0).
	CacheDir  string
	CacheSize int64
	// MemCache bounds the in-memory block cache (DefaultMemCache if 0).
	MemCache int64
	// Timeout cuts a request that makes no progress (no headers, no body
	// bytes) for this long (DefaultTimeout if 0).
	Timeout time.Duration
	// Retries is how often a failed request is retried (DefaultRetries if
	// 0; negative disables retries).
	Retries int
	// MinChunk and MaxChunk bound the sequential read-ahead window.
	MinChunk, MaxChunk int64
	// Concurrency bounds simultaneous requests (DefaultConcurrency if 0).
	Concurrency int
	// OpenPrefetch is how much of the image start the opening request
	// fetches (DefaultOpenPrefetch if 0), and OpenTail how much of its end
	// a second request, sent as soon as the size is known, fetches
	// (DefaultOpenTail if 0, none if negative). Opening an image reads
	// both ends: the ISO 9660 descriptors sit at 32 KiB, xorriso puts the
	// directories right after them, and UDF anchors are probed at sector
	// 256 and N-257 / N-1 for block sizes up to 4096 (ECMA-167 3/8.4.2.1),
	// i.e. within the first and last 1 MiB + 4 KiB. Fetching those ends
	// whole keeps isofmt.Open to two requests instead of a dozen.
	// PinOnly as OpenPrefetch pins the object with a one-byte request
	// and caches nothing: for CopyRange users (downloads, repairs).
	OpenPrefetch, OpenTail int64
	// retryBase is the first backoff delay (tests shorten it).
	retryBase time.Duration
}

// Stats counts what a Source did.
type Stats struct {
	Requests  int64 // HTTP requests sent
	Bytes     int64 // response body bytes received
	Retries   int64 // requests repeated after a failure
	MemHits   int64 // blocks served from memory
	DiskHits  int64 // blocks served from the disk cache
	Fetched   int64 // blocks fetched from the server
	ReadAhead int64 // blocks requested by read-ahead
}

// Source is an io.ReaderAt over a remote object. It is safe for
// concurrent use.
type Source struct {
	f       Fetcher
	name    string // f.Name()
	size    int64
	tail    int64
	etag    string // as sent by the server, quotes included
	lastMod string
	ifRange string // strong validator for If-Range, "" if none
	timeout time.Duration
	retries int
	base    time.Duration
	minCh   int64
	maxCh   int64
	sem     chan struct{} // all requests
	raSem   chan struct{} // read-ahead requests: leaves room for readers

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	disk   *diskCache

	mu       sync.Mutex
	closed   bool
	blocks   map[int64]*list.Element // → *memBlock
	lru      list.List
	memBytes int64
	memMax   int64
	pending  map[int64]*pendingBlock
	streams  []*stream
	tick     uint64

	st struct {
		requests, bytes, retries, memHits, diskHits, fetched, readAhead atomic.Int64
	}
}

type memBlock struct {
	idx  int64
	data []byte
}

// pendingBlock is a block being fetched; done closes when data or err is set.
type pendingBlock struct {
	done chan struct{}
	data []byte
	err  error
}

// stream tracks one sequential reader: next is where it is expected to
// read next, raEnd where read-ahead has been requested up to.
type stream struct {
	start, next, raEnd int64
	win                int64
	used               uint64
}

// maxRequest splits read-ahead windows into requests that run in
// parallel: over links that throttle each connection this multiplies
// throughput, and a lost connection costs less to resume.
const maxRequest = 4 << 20

// maxStreams bounds the sequential readers tracked at once.
const maxStreams = 32

// IsURL reports whether an image argument names an http:// or https://
// URL rather than a local path.
func IsURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// Open pins the object at rawURL with one ranged GET (the first
// OpenPrefetch bytes, kept in the cache) and returns a Source of its size.
func Open(ctx context.Context, rawURL string, opts Options) (*Source, error) {
	f, err := newHTTPFetcher(rawURL, opts)
	if err != nil {
		return nil, err
	}
	return OpenFetcher(ctx, f, opts)
}

// OpenFetcher is Open for an object another protocol's Fetcher reads
// (Options.Header and Options.Client are HTTP's and ignored here).
func OpenFetcher(ctx context.Context, f Fetcher, opts Options) (*Source, error) {
	s := &Source{
		f: f, name: f.Name(),
		timeout: opts.Timeout, retries: opts.Retries, base: opts.retryBase,
		minCh: opts.MinChunk, maxCh: opts.MaxChunk, memMax: opts.MemCache, tail: opts.OpenTail,
		blocks: map[int64]*list.Element{}, pending: map[int64]*pendingBlock{},
	}
	conc := opts.concurrency()
	s.sem = make(chan struct{}, conc)
	s.raSem = make(chan struct{}, max(conc-conc/4, 1))
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.retries == 0 {
		s.retries = DefaultRetries
	} else if s.retries < 0 {
		s.retries = 0
	}
	if s.base <= 0 {
		s.base = 200 * time.Millisecond
	}
	if s.memMax <= 0 {
		s.memMax = DefaultMemCache
	}
	s.memMax = max(s.memMax, 4*BlockSize)
	if s.minCh <= 0 {
		s.minCh = DefaultMinChunk
	}
	if s.maxCh <= 0 {
		s.maxCh = DefaultMaxChunk
	}
	// A window larger than a quarter of the memory cache would evict
	// itself before the reader gets there.
	s.maxCh = max(min(s.maxCh, s.memMax/4), BlockSize)
	s.minCh = min(max(s.minCh, BlockSize), s.maxCh)
	pre := opts.OpenPrefetch
	switch {
	case pre < 0:
		pre = 1 // PinOnly
	case pre == 0:
		pre = DefaultOpenPrefetch
	default:
		pre = (pre + BlockSize - 1) / BlockSize * BlockSize
	}
	if s.tail == 0 {
		s.tail = DefaultOpenTail
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	var dc *diskCache
	if opts.CacheDir != "" {
		limit := opts.CacheSize
		if limit <= 0 {
			limit = DefaultDiskCache
		}
		var err error
		dc, err = openDiskCache(opts.CacheDir, s.name, limit)
		if err != nil {
			s.cancel()
			return nil, err
		}
	}
	if err := s.open(ctx, pre, dc); err != nil {
		s.cancel()
		s.wg.Wait()
		if dc != nil {
			dc.close()
		}
		return nil, err
	}
	return s, nil
}

// concurrency is Options.Concurrency or its default.
func (o Options) concurrency() int {
	if o.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return o.Concurrency
}

// open sends the pinning request. With a disk cache entry for this URL it
// asks conditionally, so an unchanged object costs no body bytes.
func (s *Source) open(ctx context.Context, pre int64, dc *diskCache) error {
	var meta *diskMeta
	if dc != nil {
		meta = dc.meta()
	}
	// One cancelable context per attempt; the timer cuts a stalled
	// request, and is pushed back as body bytes arrive.
	var resp *Response
	var err error
	var timer *time.Timer
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		timer = time.AfterFunc(s.timeout, cancel)
		defer timer.Stop()
		resp, err = s.openRequest(rctx, pre, meta)
		if err == nil || !retryable(err) || attempt >= s.retries || ctx.Err() != nil {
			break
		}
		s.st.retries.Add(1)
		if !sleepCtx(ctx, s.backoff(attempt)) {
			break
		}
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		if meta == nil {
			return fmt.Errorf("httpsrc: %s: unsolicited 304 Not Modified: %w", s.name, ErrProtocol)
		}
		s.size, s.etag, s.lastMod = meta.Size, meta.ETag, meta.LastModified
		s.ifRange = strongValidator(s.etag, s.lastMod)
		s.disk = dc
		s.prefetchTail(0)
		return nil
	case http.StatusPartialContent:
	case http.StatusOK:
		return fmt.Errorf("httpsrc: %s: the server answered a Range request with the whole object (HTTP 200): %w", s.name, ErrNoRange)
	case http.StatusRequestedRangeNotSatisfiable:
		if _, _, total, ok := parseContentRange(resp.ContentRange); ok && total == 0 {
			return fmt.Errorf("httpsrc: %s: the remote object is empty", s.name)
		}
		return fmt.Errorf("httpsrc: %s: HTTP %s to bytes=0-%d: %w", s.name, resp.Status, pre-1, ErrProtocol)
	default:
		return &StatusError{URL: s.name, Code: resp.StatusCode, Status: resp.Status}
	}
	if ce := resp.ContentEncoding; ce != "" && ce != "identity" {
		return fmt.Errorf("httpsrc: %s: Content-Encoding %q on a range: %w", s.name, ce, ErrProtocol)
	}
	first, last, total, ok := parseContentRange(resp.ContentRange)
	if !ok || first != 0 || total <= 0 || last != min(pre, total)-1 {
		return fmt.Errorf("httpsrc: %s: Content-Range %q does not answer bytes=0-%d: %w",
			s.name, resp.ContentRange, pre-1, ErrProtocol)
	}
	s.size = total
	s.etag = resp.ETag
	s.lastMod = resp.LastModified
	s.ifRange = strongValidator(s.etag, s.lastMod)
	if dc != nil {
		if s.ifRange == "" {
			// Without a validator a cached block cannot be trusted.
			dc.close()
			os.Remove(dc.dir) // only if nothing was ever stored there
			dc = nil
		} else if err := dc.bind(diskMeta{URL: s.name, ETag: s.etag, LastModified: s.lastMod, Size: s.size}); err != nil {
			dc.close()
			dc = nil
		}
		s.disk = dc
	}
	if want := last + 1; resp.ContentLength >= 0 && resp.ContentLength != want {
		return fmt.Errorf("httpsrc: %s: Content-Length %d for a %d-byte range: %w", s.name, resp.ContentLength, want, ErrProtocol)
	}
	s.prefetchTail(last + 1)
	if pre < BlockSize {
		// PinOnly: the byte asked for only pins the object.
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, last+1))
		s.st.bytes.Add(n)
		if err != nil {
			return fmt.Errorf("httpsrc: %s: reading bytes 0-%d: %w", s.name, last, err)
		}
		if n != last+1 {
			return fmt.Errorf("httpsrc: %s: reading bytes 0-%d: short body, %d bytes: %w", s.name, last, n, ErrProtocol)
		}
		return nil
	}
	for b := int64(0); b*BlockSize <= last; b++ {
		buf := make([]byte, s.blockLen(b))
		n, err := io.ReadFull(resp.Body, buf)
		s.st.bytes.Add(int64(n))
		timer.Reset(s.timeout)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return fmt.Errorf("httpsrc: %s: reading bytes 0-%d: short body, %d bytes: %w", s.name, last, b*BlockSize+int64(n), ErrProtocol)
		} else if err != nil {
			return fmt.Errorf("httpsrc: %s: reading bytes 0-%d: %w", s.name, last, err)
		}
		s.mu.Lock()
		s.insertLocked(b, buf)
		s.mu.Unlock()
		s.st.fetched.Add(1)
		if s.disk != nil {
			s.disk.put(b, buf)
		}
	}
	return nil
}

// prefetchTail starts fetching the image's last s.tail bytes (those after
// headEnd) in the background.
func (s *Source) prefetchTail(headEnd int64) {
	if s.tail <= 0 || s.size <= headEnd {
		return
	}
	a := max((headEnd+BlockSize-1)/BlockSize, (s.size-s.tail)/BlockSize)
	s.mu.Lock()
	runs := s.registerLocked(a, (s.size+BlockSize-1)/BlockSize)
	s.wg.Add(len(runs))
	s.mu.Unlock()
	for _, r := range runs {
		go s.fetchRun(r[0], r[1], false)
	}
}

func (s *Source) openRequest(ctx context.Context, pre int64, meta *diskMeta) (*Response, error) {
	r := Request{First: 0, Last: pre - 1}
	if meta != nil {
		if isStrongETag(meta.ETag) {
			r.IfNoneMatch = meta.ETag
		} else if meta.LastModified != "" {
			r.IfModifiedSince = meta.LastModified
		}
	}
	resp, err := s.fetch(ctx, r)
	if err != nil {
		var rs *retryableStatus
		if errors.As(err, &rs) {
			return nil, err
		}
		return nil, fmt.Errorf("httpsrc: %s: %w", s.name, err)
	}
	return resp, nil
}

// fetch sends one request; a status worth retrying becomes an error.
func (s *Source) fetch(ctx context.Context, r Request) (*Response, error) {
	s.st.requests.Add(1)
	resp, err := s.f.Fetch(ctx, r)
	if err != nil {
		return nil, err
	}
	if retryStatus(resp.StatusCode) {
		resp.Body.Close()
		return nil, &retryableStatus{StatusError{URL: s.name, Code: resp.StatusCode, Status: resp.Status}}
	}
	return resp, nil
}

// stripURL drops the URL that net/http puts into its errors: presigned
// URLs carry credentials, and the caller names the object already.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Size is the size of the remote object in bytes.
func (s *Source) Size() int64 { return s.size }

// URL names the object for messages: its URL with any query string
// (credentials of presigned URLs) removed, or the Fetcher's name.
func (s *Source) URL() string { return s.name }

// ETag returns the validator the object is pinned by.
func (s *Source) ETag() string { return s.etag }

// DropCache empties the in-memory block cache (blocks being fetched
// arrive as usual; the disk cache is kept).
func (s *Source) DropCache() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.blocks)
	s.lru.Init()
	s.memBytes = 0
}

// LastModified returns the object's Last-Modified date as the server
// sent it ("" if none).
func (s *Source) LastModified() string { return s.lastMod }

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	return Stats{
		Requests: s.st.requests.Load(), Bytes: s.st.bytes.Load(), Retries: s.st.retries.Load(),
		MemHits: s.st.memHits.Load(), DiskHits: s.st.diskHits.Load(), Fetched: s.st.fetched.Load(),
		ReadAhead: s.st.readAhead.Load(),
	}
}

// Close stops all requests and writes the disk cache's map.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.disk != nil {
		return s.disk.close()
	}
	return nil
}

// ReadAt implements io.ReaderAt.
func (s *Source) ReadAt(p []byte, off int64) (int, error) {
	return s.readAt(p, off, s.size)
}

// ReadAtLimit is ReadAt for a caller that knows where the data it reads
// sequentially ends (a file's extent): read-ahead stops at limit instead
// of fetching bytes of whatever follows the file in the image.
func (s *Source) ReadAtLimit(p []byte, off, limit int64) (int, error) {
	return s.readAt(p, off, min(max(limit, off+int64(len(p))), s.size))
}

func (s *Source) readAt(p []byte, off, limit int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("httpsrc: negative offset %d", off)
	}
	if off >= s.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), s.size)
	if end == off {
		return 0, nil
	}
	b0, b1 := off/BlockSize, (end-1)/BlockSize
	type slot struct {
		data []byte
		pb   *pendingBlock
	}
	slots := make([]slot, b1-b0+1)
	var runs [][2]int64

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	for b := b0; b <= b1; b++ {
		i := b - b0
		if el, ok := s.blocks[b]; ok {
			s.lru.MoveToFront(el)
			slots[i].data = el.Value.(*memBlock).data
			s.st.memHits.Add(1)
		} else if pb, ok := s.pending[b]; ok {
			slots[i].pb = pb
		} else {
			pb := &pendingBlock{done: make(chan struct{})}
			s.pending[b] = pb
			slots[i].pb = pb
			if n := len(runs); n > 0 && runs[n-1][1] == b {
				runs[n-1][1] = b + 1
			} else {
				runs = append(runs, [2]int64{b, b + 1})
			}
		}
	}
	ra := s.readAheadLocked(off, end, b1+1, limit)
	// Counted under the lock, so Close (which sets closed under it) never
	// waits while fetches are still being added.
	s.wg.Add(len(runs) + len(ra))
	s.mu.Unlock()

	for _, r := range runs {
		go s.fetchRun(r[0], r[1], false)
	}
	for _, r := range ra {
		s.st.readAhead.Add(r[1] - r[0])
		go s.fetchRun(r[0], r[1], true)
	}

	n := 0
	for i := range slots {
		data := slots[i].data
		if data == nil {
			pb := slots[i].pb
			<-pb.done
			if pb.err != nil {
				return n, pb.err
			}
			data = pb.data
		}
		b := b0 + int64(i)
		pos := off + int64(n)
		n += copy(p[n:], data[pos-b*BlockSize:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readAheadLocked updates the stream that [off,end) continues (or starts a
// new one) and registers the blocks of the next window when the reader has
// consumed half of what is already requested ahead of it. from is the
// first block after this read; read-ahead stops at byte limit.
func (s *Source) readAheadLocked(off, end, from, limit int64) [][2]int64 {
	s.tick++
	var st *stream
	for _, c := range s.streams {
		slack := max(c.win, s.minCh)
		if off >= c.next-slack && off <= max(c.next, c.raEnd) {
			st = c
			break
		}
	}
	if st == nil {
		// A new stream fetches only what it reads: random access must not
		// pay for read-ahead.
		st = &stream{start: off, next: end, raEnd: from * BlockSize}
		if len(s.streams) < maxStreams {
			s.streams = append(s.streams, st)
		} else {
			oldest := 0
			for i, c := range s.streams {
				if c.used < s.streams[oldest].used {
					oldest = i
				}
			}
			s.streams[oldest] = st
		}
		st.used = s.tick
		return nil
	}
	st.used = s.tick
	st.next = max(st.next, end)
	st.raEnd = max(st.raEnd, from*BlockSize)
	if st.raEnd >= limit {
		return nil
	}
	// The window doubles but stays within half of what the stream has read
	// so far: a reader that stops at a file's end (unknown here) has then
	// caused at most 0.75 times its bytes of read-ahead past that end.
	win := min(max(2*st.win, s.minCh), s.maxCh, max((st.next-st.start)/2, s.minCh))
	if st.raEnd-st.next >= win/2 && st.win != 0 {
		return nil
	}
	// Blocks in flight are not in the LRU yet; keep them within half the
	// memory bound whatever the number of streams.
	if room := s.memMax/2 - int64(len(s.pending))*BlockSize; win > room {
		if room < s.minCh {
			return nil
		}
		win = room
	}
	st.win = win
	a := st.raEnd / BlockSize
	z := min((st.raEnd+win+BlockSize-1)/BlockSize, (limit+BlockSize-1)/BlockSize)
	st.raEnd = z * BlockSize
	return s.registerLocked(a, z)
}

// registerLocked marks the blocks of [a,z) that are neither cached nor
// being fetched as pending and returns them as runs of at most maxRequest
// bytes, for fetchRun.
func (s *Source) registerLocked(a, z int64) [][2]int64 {
	var runs [][2]int64
	for b := a; b < z; b++ {
		if _, ok := s.blocks[b]; ok {
			continue
		}
		if _, ok := s.pending[b]; ok {
			continue
		}
		s.pending[b] = &pendingBlock{done: make(chan struct{})}
		if n := len(runs); n > 0 && runs[n-1][1] == b && b-runs[n-1][0] < maxRequest/BlockSize {
			runs[n-1][1] = b + 1
		} else {
			runs = append(runs, [2]int64{b, b + 1})
		}
	}
	return runs
}

func (s *Source) blockLen(b int64) int64 { return min(int64(BlockSize), s.size-b*BlockSize) }

// insertLocked adds a block to the memory LRU, evicting the oldest.
func (s *Source) insertLocked(b int64, data []byte) {
	if el, ok := s.blocks[b]; ok {
		s.lru.MoveToFront(el)
		return
	}
	s.blocks[b] = s.lru.PushFront(&memBlock{idx: b, data: data})
	s.memBytes += int64(len(data))
	for s.memBytes > s.memMax && s.lru.Len() > 1 {
		old := s.lru.Back()
		ob := old.Value.(*memBlock)
		s.lru.Remove(old)
		delete(s.blocks, ob.idx)
		s.memBytes -= int64(len(ob.data))
	}
}

// publish completes pending block b.
func (s *Source) publish(b int64, data []byte, err error) {
	s.mu.Lock()
	pb := s.pending[b]
	delete(s.pending, b)
	if err == nil && !s.closed {
		s.insertLocked(b, data)
	}
	s.mu.Unlock()
	if pb != nil {
		pb.data, pb.err = data, err
		close(pb.done)
	}
}

// fetchRun fills pending blocks [first,end): from the disk cache where it
// can, the rest with one request per run of disk misses. Read-ahead
// (ahead) may hold only part of the request slots, so a reader's own
// miss never queues behind a full set of read-ahead windows.
func (s *Source) fetchRun(first, end int64, ahead bool) {
	defer s.wg.Done()
	for i := first; i < end; {
		if s.disk != nil {
			if data, ok := s.disk.get(i, s.blockLen(i)); ok {
				s.st.diskHits.Add(1)
				s.publish(i, data, nil)
				i++
				continue
			}
		}
		j := i + 1
		for j < end && (s.disk == nil || !s.disk.has(j)) {
			j++
		}
		s.fetchHTTP(i, j, ahead)
		i = j
	}
}

// fetchHTTP fetches blocks [first,end) with retries; a retry resumes at
// the first block not yet received.
func (s *Source) fetchHTTP(first, end int64, ahead bool) {
	pos := first
	var err error
	for attempt := 0; ; attempt++ {
		pos, err = s.rangeGet(pos, end, ahead)
		if err == nil {
			return
		}
		if !retryable(err) || attempt >= s.retries || s.ctx.Err() != nil {
			break
		}
		s.st.retries.Add(1)
		if !sleepCtx(s.ctx, s.backoff(attempt)) {
			break
		}
	}
	if s.ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ErrClosed, err)
	}
	for b := pos; b < end; b++ {
		s.publish(b, nil, err)
	}
}

func (s *Source) backoff(attempt int) time.Duration {
	d := s.base << min(attempt, 6)
	return min(d, 10*time.Second)
}

// rangeGet requests blocks [first,end) and publishes each block as it
// arrives. It returns the first block not published.
func (s *Source) rangeGet(first, end int64, ahead bool) (int64, error) {
	if ahead {
		select {
		case s.raSem <- struct{}{}:
		case <-s.ctx.Done():
			return first, s.ctx.Err()
		}
		defer func() { <-s.raSem }()
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return first, s.ctx.Err()
	}
	defer func() { <-s.sem }()

	lo, hi := first*BlockSize, min(end*BlockSize, s.size)-1
	rr, err := s.request(s.ctx, nil, lo, hi)
	if err != nil {
		return first, err
	}
	defer rr.close()
	b := first
	for ; b < end; b++ {
		buf := make([]byte, s.blockLen(b))
		for got := 0; got < len(buf); {
			n, err := rr.body.Read(buf[got:])
			got += n
			rr.got(n)
			if err != nil && got < len(buf) {
				if err == io.EOF {
					return b, rr.cut(b*BlockSize + int64(got))
				}
				return b, rr.wrap(err)
			}
		}
		s.st.fetched.Add(1)
		s.publish(b, buf, nil)
		if s.disk != nil {
			s.disk.put(b, buf)
		}
	}
	return b, nil
}

// rangeRequest is one range request's response body being read, with
// the stall timer that cancels it when no byte arrives for s.timeout.
type rangeRequest struct {
	s      *Source
	lo, hi int64
	body   io.ReadCloser
	timer  *time.Timer
	// stalled is set when the timer fired; callerDone reports the
	// caller's own cancellation (not a network error), nil for none.
	stalled    *atomic.Bool
	callerDone func() bool
	release    func()
}

// request sends one request for bytes lo-hi (inclusive) of the pinned
// object under ctx (also cancelled by Close when ctx is not s.ctx), and
// checks the response's status, range and validators. caller, when not
// nil, is the context whose cancellation is the caller's wish rather than
// a network failure (its errors are returned unwrapped).
func (s *Source) request(ctx context.Context, caller context.Context, lo, hi int64) (*rangeRequest, error) {
	rctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel) // Close cuts downloads too
	rr := &rangeRequest{s: s, lo: lo, hi: hi, stalled: new(atomic.Bool), callerDone: func() bool { return false }}
	if caller != nil {
		rr.callerDone = func() bool { return caller.Err() != nil }
	}
	rr.timer = time.AfterFunc(s.timeout, func() { rr.stalled.Store(true); cancel() })
	rr.release = func() { rr.timer.Stop(); stop(); cancel() }
	resp, err := s.fetch(rctx, Request{First: lo, Last: hi, IfRange: s.ifRange})
	if err != nil {
		rr.release()
		var rs *retryableStatus
		if errors.As(err, &rs) {
			return nil, err
		}
		return nil, rr.wrap(err)
	}
	rr.body = resp.Body
	if err := s.checkResponse(resp, lo, hi); err != nil {
		rr.close()
		return nil, err
	}
	return rr, nil
}

// got counts n bytes received and, when there were any, re-arms the
// stall timer.
func (rr *rangeRequest) got(n int) {
	rr.s.st.bytes.Add(int64(n))
	if n > 0 {
		rr.timer.Reset(rr.s.timeout)
	}
}

// wrap names the range (and a stall) in a transfer error.
func (rr *rangeRequest) wrap(err error) error {
	err = stripURL(err)
	if rr.stalled.Load() {
		return &netError{fmt.Errorf("httpsrc: %s: bytes %d-%d: no progress for %v: %w", rr.s.name, rr.lo, rr.hi, rr.s.timeout, err)}
	}
	if rr.callerDone() {
		return err
	}
	return &netError{fmt.Errorf("httpsrc: %s: bytes %d-%d: %w", rr.s.name, rr.lo, rr.hi, err)}
}

// cut is the error for a body that ended at byte at, short of hi.
func (rr *rangeRequest) cut(at int64) error {
	return &netError{fmt.Errorf("httpsrc: %s: bytes %d-%d: body ended at byte %d: %w", rr.s.name, rr.lo, rr.hi, at, ErrProtocol)}
}

func (rr *rangeRequest) close() {
	if rr.body != nil {
		rr.body.Close()
	}
	rr.release()
}

// checkResponse verifies that resp is exactly bytes lo-hi of the pinned
// object.
func (s *Source) checkResponse(resp *Response, lo, hi int64) error {
	u := s.name
	switch {
	case resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusOK:
		// If-Range failed, or the server stopped honouring Range.
		if et := resp.ETag; s.ifRange != "" && (et != s.etag || resp.LastModified != s.lastMod) {
			return fmt.Errorf("%w: %s: the server sent the whole object (ETag %s, Last-Modified %q; opened as %s, %q)", ErrChanged, u, et, resp.LastModified, s.etag, s.lastMod)
		}
		if resp.ContentLength >= 0 && resp.ContentLength != s.size {
			return fmt.Errorf("%w: %s: the server sent a whole object of %d bytes, opened as %d", ErrChanged, u, resp.ContentLength, s.size)
		}
		return fmt.Errorf("httpsrc: %s: bytes %d-%d: HTTP 200 to a Range request: %w", u, lo, hi, ErrNoRange)
	case resp.StatusCode == http.StatusPreconditionFailed:
		// S3's answer to an If-Match the object no longer matches.
		return fmt.Errorf("%w: %s: the object no longer matches ETag %s (HTTP %s)", ErrChanged, u, s.etag, resp.Status)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if _, _, total, ok := parseContentRange(resp.ContentRange); ok && total != s.size {
			return fmt.Errorf("%w: %s: size is now %d bytes, opened as %d", ErrChanged, u, total, s.size)
		}
		return fmt.Errorf("httpsrc: %s: bytes %d-%d: HTTP %s: %w", u, lo, hi, resp.Status, ErrProtocol)
	case retryStatus(resp.StatusCode):
		return &retryableStatus{StatusError{URL: u, Code: resp.StatusCode, Status: resp.Status}}
	default:
		return &StatusError{URL: u, Code: resp.StatusCode, Status: resp.Status}
	}
	if ce := resp.ContentEncoding; ce != "" && ce != "identity" {
		return fmt.Errorf("httpsrc: %s: bytes %d-%d: Content-Encoding %q: %w", u, lo, hi, ce, ErrProtocol)
	}
	if et := resp.ETag; et != "" && s.etag != "" && et != s.etag {
		return fmt.Errorf("%w: %s: ETag is now %s, opened as %s", ErrChanged, u, et, s.etag)
	}
	cr := resp.ContentRange
	a, z, total, ok := parseContentRange(cr)
	if !ok {
		return fmt.Errorf("httpsrc: %s: bytes %d-%d: Content-Range %q: %w", u, lo, hi, cr, ErrProtocol)
	}
	if total != s.size {
		return fmt.Errorf("%w: %s: Content-Range says %d bytes, opened as %d", ErrChanged, u, total, s.size)
	}
	if a != lo || z != hi {
		return fmt.Errorf("httpsrc: %s: asked for bytes %d-%d, got Content-Range %q: %w", u, lo, hi, cr, ErrProtocol)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != hi-lo+1 {
		return fmt.Errorf("httpsrc: %s: Content-Length %d for a %d-byte range: %w", u, resp.ContentLength, hi-lo+1, ErrProtocol)
	}
	return nil
}

// parseContentRange parses "bytes first-last/total" (or "bytes */total",
// returning first = last = -1). The total must be known.
func parseContentRange(v string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	total, err := strconv.ParseInt(tot, 10, 64)
	if err != nil || total < 0 {
		return 0, 0, 0, false
	}
	if rng == "*" {
		return -1, -1, total, true
	}
	f, l, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	first, err1 := strconv.ParseInt(f, 10, 64)
	last, err2 := strconv.ParseInt(l, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first || last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

func isStrongETag(et string) bool {
	return len(et) >= 2 && et[0] == '"' && et[len(et)-1] == '"'
}

// strongValidator picks what If-Range may carry: a strong ETag, or else
// Last-Modified (weak ETags are not allowed there).
func strongValidator(etag, lastMod string) string {
	if isStrongETag(etag) {
		return etag
	}
	return lastMod
}

// netError marks failures worth retrying (lost connection, stall, short
// body).
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

type retryableStatus struct{ StatusError }

func (e *retryableStatus) Unwrap() error { return &e.StatusError }

func retryStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

func retryable(err error) bool {
	var ne *netError
	var rs *retryableStatus
	return errors.As(err, &ne) || errors.As(err, &rs)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// redact drops the query string and user info: presigned URLs carry
// credentials there.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	q := u.RawQuery
	u.RawQuery, u.ForceQuery = "", false
	if q != "" {
		return u.String() + "?…"
	}
	return u.String()
}
