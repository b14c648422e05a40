package httpsrc

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/isofsd/isofsd/internal/diskio"
)

// The on-disk cache keeps one directory per URL under CacheDir:
//
//	meta.json   the pinned object (ETag, Last-Modified, size)
//	map         one little-endian CRC-32C per block, 0 = absent
//	seg-NNNNNN  sparse files of segBlocks blocks each
//
// A block is served only if its CRC matches, so a crash between writing
// data and the map, or two processes sharing the directory, can only cause
// misses, never wrong bytes. Eviction drops whole segments (deleting a file
// frees its blocks everywhere, unlike hole punching), least recently used
// first; other URLs' directories are removed oldest first when CacheDir
// would exceed its bound.
const (
	segBlocks     = 64 // 4 MiB per segment file
	maxOpenSegs   = 32
	mapFlushEvery = 256 // new blocks between map writes
	// maxDiskImage caps the object size the disk cache accepts, so the
	// block map (4 bytes per 64 KiB) stays ≤ 16 MiB whatever size a server
	// claims.
	maxDiskImage = 256 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type diskMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag"`
	LastModified string `json:"last_modified"`
	Size         int64  `json:"size"`
	BlockSize    int    `json:"block_size"`
}

type diskCache struct {
	root, dir string
	limit     int64 // bytes this entry may hold

	mu      sync.Mutex
	m       *diskMeta
	crcs    []uint32
	present int64 // blocks present
	dirty   int
	segs    map[int64]*os.File
	segUse  map[int64]uint64
	tick    uint64
	failed  error // a write error disables the cache
}

// openDiskCache opens (or creates) the entry for rawURL under root and
// removes other entries until they use at most half of limit.
func openDiskCache(root, rawURL string, limit int64) (*diskCache, error) {
	sum := sha256.Sum256([]byte(rawURL))
	name := hex.EncodeToString(sum[:16])
	d := &diskCache{root: root, dir: filepath.Join(root, name), segs: map[int64]*os.File{}, segUse: map[int64]uint64{}}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("httpsrc: cache dir: %w", err)
	}
	others := pruneOthers(root, name, limit/2)
	d.limit = max(limit-others, segBlocks*BlockSize)
	if b, err := os.ReadFile(filepath.Join(d.dir, "meta.json")); err == nil {
		var m diskMeta
		if json.Unmarshal(b, &m) == nil && m.BlockSize == BlockSize && m.Size > 0 && m.Size <= maxDiskImage {
			if crcs, ok := readMap(filepath.Join(d.dir, "map"), m.Size); ok {
				d.m, d.crcs = &m, crcs
				for _, c := range crcs {
					if c != 0 {
						d.present++
					}
				}
			}
		}
	}
	return d, nil
}

// pruneOthers deletes the least recently used entries other than keep
// while their total size exceeds budget; it returns what remains.
func pruneOthers(root, keep string, budget int64) int64 {
	ents, err := os.ReadDir(root)
	if err != nil {
		return 0
	}
	type entry struct {
		path  string
		size  int64
		mtime int64
	}
	var list []entry
	var total int64
	for _, e := range ents {
		if !e.IsDir() || e.Name() == keep || len(e.Name()) != 32 {
			continue
		}
		p := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(p, "meta.json")); err != nil {
			continue // not ours
		}
		en := entry{path: p, size: entryUsage(p)}
		files, _ := os.ReadDir(p)
		for _, f := range files {
			if fi, err := f.Info(); err == nil {
				en.mtime = max(en.mtime, fi.ModTime().UnixNano())
			}
		}
		list = append(list, en)
		total += en.size
	}
	sort.Slice(list, func(i, j int) bool { return list[i].mtime < list[j].mtime })
	for _, en := range list {
		if total <= budget {
			break
		}
		if os.RemoveAll(en.path) == nil {
			total -= en.size
		}
	}
	return total
}

// entryUsage is the data an entry holds according to its map: segment
// files are sparse, so their apparent sizes overstate it. An entry without
// a readable map counts by its files' apparent sizes.
func entryUsage(dir string) int64 {
	if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil {
		var m diskMeta
		if json.Unmarshal(b, &m) == nil && m.Size > 0 && m.Size <= maxDiskImage {
			if crcs, ok := readMap(filepath.Join(dir, "map"), m.Size); ok {
				var n int64
				for _, c := range crcs {
					if c != 0 {
						n++
					}
				}
				return n * BlockSize
			}
		}
	}
	var total int64
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		if fi, err := f.Info(); err == nil {
			total += fi.Size()
		}
	}
	return total
}

func readMap(path string, size int64) ([]uint32, bool) {
	n := (size + BlockSize - 1) / BlockSize
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) != 4*n {
		return nil, false
	}
	crcs := make([]uint32, n)
	for i := range crcs {
		crcs[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return crcs, true
}

// meta returns the pinned object of a usable entry, or nil.
func (d *diskCache) meta() *diskMeta {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		return nil
	}
	m := *d.m
	return &m
}

// bind makes the entry describe m, wiping it if it held another version.
func (d *diskCache) bind(m diskMeta) error {
	m.BlockSize = BlockSize
	if m.Size <= 0 || m.Size > maxDiskImage {
		return fmt.Errorf("httpsrc: disk cache: object of %d bytes exceeds the cacheable %d", m.Size, int64(maxDiskImage))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m != nil && d.m.ETag == m.ETag && d.m.LastModified == m.LastModified && d.m.Size == m.Size {
		return nil
	}
	d.closeSegsLocked()
	ents, _ := os.ReadDir(d.dir)
	for _, e := range ents {
		os.Remove(filepath.Join(d.dir, e.Name()))
	}
	b, _ := json.Marshal(m)
	if err := diskio.WriteFileAtomic(filepath.Join(d.dir, "meta.json"), b, 0o600); err != nil {
		d.failed = err
		return err
	}
	d.m = &m
	d.crcs = make([]uint32, (m.Size+BlockSize-1)/BlockSize)
	d.present = 0
	d.dirty = 1
	return d.flushLocked()
}

func (d *diskCache) has(b int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed == nil && b >= 0 && b < int64(len(d.crcs)) && d.crcs[b] != 0
}

// get returns block b (n bytes) if it is present and intact.
func (d *diskCache) get(b, n int64) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed != nil || b < 0 || b >= int64(len(d.crcs)) || d.crcs[b] == 0 {
		return nil, false
	}
	f, err := d.segLocked(b/segBlocks, false)
	if err != nil {
		d.dropLocked(b)
		return nil, false
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, (b%segBlocks)*BlockSize); err != nil || crc32.Checksum(buf, crcTable) != d.crcs[b] {
		d.dropLocked(b)
		return nil, false
	}
	return buf, true
}

func (d *diskCache) dropLocked(b int64) {
	if d.crcs[b] != 0 {
		d.crcs[b] = 0
		d.present--
		d.dirty++
	}
}

// put stores block b. Errors disable the cache rather than failing reads.
func (d *diskCache) put(b int64, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed != nil || b < 0 || b >= int64(len(d.crcs)) || d.crcs[b] != 0 {
		return
	}
	seg := b / segBlocks
	for (d.present+1)*BlockSize > d.limit {
		if !d.evictLocked(seg) {
			return
		}
	}
	f, err := d.segLocked(seg, true)
	if err != nil {
		d.failed = err
		return
	}
	if _, err := f.WriteAt(data, (b%segBlocks)*BlockSize); err != nil {
		d.failed = err
		return
	}
	c := crc32.Checksum(data, crcTable)
	if c == 0 {
		return // 0 means absent; such a block is simply not cached
	}
	d.crcs[b] = c
	d.present++
	d.dirty++
	if d.dirty >= mapFlushEvery {
		d.flushLocked()
	}
}

// evictLocked deletes the least recently used segment other than keep.
func (d *diskCache) evictLocked(keep int64) bool {
	victim, best := int64(-1), ^uint64(0)
	for seg := int64(0); seg*segBlocks < int64(len(d.crcs)); seg++ {
		if seg == keep || d.segUse[seg] >= best {
			continue
		}
		lo, hi := seg*segBlocks, min((seg+1)*segBlocks, int64(len(d.crcs)))
		for b := lo; b < hi; b++ {
			if d.crcs[b] != 0 {
				victim, best = seg, d.segUse[seg]
				break
			}
		}
	}
	if victim < 0 {
		return false
	}
	if f := d.segs[victim]; f != nil {
		f.Close()
		delete(d.segs, victim)
	}
	os.Remove(d.segPath(victim))
	lo, hi := victim*segBlocks, min((victim+1)*segBlocks, int64(len(d.crcs)))
	for b := lo; b < hi; b++ {
		d.dropLocked(b)
	}
	return true
}

func (d *diskCache) segPath(seg int64) string {
	return filepath.Join(d.dir, fmt.Sprintf("seg-%06d", seg))
}

func (d *diskCache) segLocked(seg int64, create bool) (*os.File, error) {
	d.tick++
	d.segUse[seg] = d.tick
	if f := d.segs[seg]; f != nil {
		return f, nil
	}
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(d.segPath(seg), flag, 0o600)
	if err != nil {
		return nil, err
	}
	if len(d.segs) >= maxOpenSegs {
		for k, g := range d.segs {
			g.Close()
			delete(d.segs, k)
			break
		}
	}
	d.segs[seg] = f
	return f, nil
}

func (d *diskCache) closeSegsLocked() {
	for k, f := range d.segs {
		f.Close()
		delete(d.segs, k)
	}
}

func (d *diskCache) flushLocked() error {
	if d.dirty == 0 || d.crcs == nil {
		return nil
	}
	b := make([]byte, 4*len(d.crcs))
	for i, c := range d.crcs {
		binary.LittleEndian.PutUint32(b[4*i:], c)
	}
	if err := diskio.WriteFileAtomic(filepath.Join(d.dir, "map"), b, 0o600); err != nil {
		return err
	}
	d.dirty = 0
	return nil
}

func (d *diskCache) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.flushLocked()
	d.closeSegsLocked()
	if d.failed != nil && !errors.Is(d.failed, fs.ErrClosed) {
		return fmt.Errorf("httpsrc: disk cache %s: %w", d.dir, d.failed)
	}
	return err
}
