// Package ddmap reads and writes mapfiles in GNU ddrescue's format, so a
// rescue started by isofsd can be continued by ddrescue and the other way
// round, and ddrescuelog can summarise our maps.
//
// A mapfile is text: '#' comment lines, then a status line
// "current_pos current_status current_pass", then one "pos size status"
// line per block, positions and sizes in hexadecimal. The blocks cover the
// rescue domain contiguously from position 0.
package ddmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/isofsd/isofsd/internal/diskio"
)

// Status is the state of a block, one character in the mapfile.
type Status byte

// Block states, as GNU ddrescue writes them.
const (
	NonTried   Status = '?' // never read
	NonTrimmed Status = '*' // a read failed somewhere in it; edges not yet trimmed
	NonScraped Status = '/' // interior of a failed area, not yet read sector by sector
	BadSector  Status = '-' // read sector by sector and failed
	Finished   Status = '+' // read successfully
)

// Phase is the "current_status" of the status line: what ddrescue was
// doing when it wrote the map.
type Phase byte

// Phases; Copying..Retrying mirror the block states they work on.
const (
	Copying    Phase = '?'
	Trimming   Phase = '*'
	Scraping   Phase = '/'
	Retrying   Phase = '-'
	Filling    Phase = 'F'
	Generating Phase = 'G'
	Done       Phase = '+'
)

// maxLineLen bounds one mapfile line; real lines are well under 100 bytes,
// so anything longer is not a mapfile.
const maxLineLen = 4096

// ErrFormat is returned (wrapped, with the line number) for text that is
// not a valid mapfile.
var ErrFormat = errors.New("ddmap: invalid mapfile")

// Block is one contiguous area in a single state.
type Block struct {
	Pos    int64
	Size   int64
	Status Status
}

// End is the position just past the block.
func (b Block) End() int64 { return b.Pos + b.Size }

// Map is a parsed mapfile. Blocks are sorted, contiguous from 0, and
// adjacent blocks never share a state (Set keeps it that way).
type Map struct {
	Pos    int64 // current_pos
	Phase  Phase // current_status
	Pass   int   // current_pass (1 when the file had none)
	Blocks []Block
	// CommandLine is written as a comment; informational only.
	CommandLine string
	started     time.Time
}

// New returns a map of size bytes, all non-tried.
func New(size int64) *Map {
	m := &Map{Phase: Copying, Pass: 1, started: time.Now()}
	if size > 0 {
		m.Blocks = []Block{{0, size, NonTried}}
	}
	return m
}

func validStatus(c byte) bool {
	switch Status(c) {
	case NonTried, NonTrimmed, NonScraped, BadSector, Finished:
		return true
	}
	return false
}

func validPhase(c byte) bool {
	switch Phase(c) {
	case Copying, Trimming, Scraping, Retrying, Filling, Generating, Done:
		return true
	}
	return false
}

// parseNum accepts what ddrescue writes (0x-prefixed hex) and, like
// ddrescue, decimal and 0-prefixed octal.
func parseNum(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("negative number %q", s)
	}
	return v, nil
}

// Parse reads a mapfile. It rejects overlapping, unsorted or gapped blocks,
// as ddrescue does without --loose-domain.
func Parse(r io.Reader) (*Map, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxLineLen)
	m := &Map{Pass: 1, started: time.Now()}
	haveStatus := false
	line := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrFormat, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			if strings.HasPrefix(text, "# Command line:") {
				m.CommandLine = strings.TrimSpace(strings.TrimPrefix(text, "# Command line:"))
			}
			continue
		}
		f := strings.Fields(text)
		if !haveStatus {
			if len(f) < 2 || len(f) > 3 {
				return nil, bad("status line wants 2 or 3 fields, has %d", len(f))
			}
			pos, err := parseNum(f[0])
			if err != nil {
				return nil, bad("current_pos: %v", err)
			}
			if len(f[1]) != 1 || !validPhase(f[1][0]) {
				return nil, bad("current_status %q", f[1])
			}
			m.Pos, m.Phase = pos, Phase(f[1][0])
			if len(f) == 3 {
				p, err := strconv.Atoi(f[2])
				if err != nil || p < 1 {
					return nil, bad("current_pass %q", f[2])
				}
				m.Pass = p
			}
			haveStatus = true
			continue
		}
		if len(f) != 3 {
			return nil, bad("block line wants 3 fields, has %d", len(f))
		}
		pos, err := parseNum(f[0])
		if err != nil {
			return nil, bad("pos: %v", err)
		}
		size, err := parseNum(f[1])
		if err != nil {
			return nil, bad("size: %v", err)
		}
		if len(f[2]) != 1 || !validStatus(f[2][0]) {
			return nil, bad("status %q", f[2])
		}
		want := int64(0)
		if n := len(m.Blocks); n > 0 {
			want = m.Blocks[n-1].End()
		}
		if pos != want {
			return nil, bad("block at %#x, expected %#x (blocks must be contiguous from 0)", pos, want)
		}
		if size == 0 {
			return nil, bad("empty block at %#x", pos)
		}
		if pos > (1<<63-1)-size {
			return nil, bad("block at %#x size %#x overflows", pos, size)
		}
		m.appendBlock(Block{pos, size, Status(f[2][0])})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d longer than %d bytes", ErrFormat, line+1, maxLineLen)
		}
		return nil, err
	}
	if !haveStatus {
		return nil, fmt.Errorf("%w: no status line", ErrFormat)
	}
	return m, nil
}

// Load reads the mapfile at path (a regular file: diskio.OpenInput
// refuses a FIFO, which would block, or a directory).
func Load(path string) (*Map, error) {
	f, err := diskio.OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// appendBlock adds b at the end, merging with a last block of the same state.
func (m *Map) appendBlock(b Block) {
	if n := len(m.Blocks); n > 0 && m.Blocks[n-1].Status == b.Status && m.Blocks[n-1].End() == b.Pos {
		m.Blocks[n-1].Size += b.Size
		return
	}
	m.Blocks = append(m.Blocks, b)
}

// Size is the extent of the map (end of its last block).
func (m *Map) Size() int64 {
	if len(m.Blocks) == 0 {
		return 0
	}
	return m.Blocks[len(m.Blocks)-1].End()
}

// Resize makes the map cover exactly size bytes: new space is non-tried,
// space beyond size is dropped.
func (m *Map) Resize(size int64) {
	cur := m.Size()
	switch {
	case size > cur:
		m.appendBlock(Block{cur, size - cur, NonTried})
	case size < cur:
		i := m.find(size)
		if i < len(m.Blocks) && m.Blocks[i].Pos < size {
			m.Blocks[i].Size = size - m.Blocks[i].Pos
			i++
		}
		m.Blocks = m.Blocks[:i]
	}
}

// find returns the index of the block containing pos (len(Blocks) if none).
func (m *Map) find(pos int64) int {
	lo, hi := 0, len(m.Blocks)
	for lo < hi {
		mid := (lo + hi) / 2
		if m.Blocks[mid].End() <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// StatusAt returns the state of the byte at pos; ok is false outside the map.
func (m *Map) StatusAt(pos int64) (Status, bool) {
	i := m.find(pos)
	if i == len(m.Blocks) || pos < 0 {
		return 0, false
	}
	return m.Blocks[i].Status, true
}

// Set marks [pos, pos+size) with st, clamped to the map, splitting and
// merging blocks so the map stays canonical.
func (m *Map) Set(pos, size int64, st Status) {
	end := min(pos+size, m.Size())
	pos = max(pos, 0)
	if pos >= end {
		return
	}
	i := m.find(pos)
	j := m.find(end - 1)
	first, last := m.Blocks[i], m.Blocks[j]
	repl := make([]Block, 0, 3)
	if first.Pos < pos {
		repl = append(repl, Block{first.Pos, pos - first.Pos, first.Status})
	}
	repl = append(repl, Block{pos, end - pos, st})
	if last.End() > end {
		repl = append(repl, Block{end, last.End() - end, last.Status})
	}
	// Include the neighbours so merging sees them.
	lo, hi := i, j+1
	if lo > 0 {
		lo--
		repl = append([]Block{m.Blocks[lo]}, repl...)
	}
	if hi < len(m.Blocks) {
		repl = append(repl, m.Blocks[hi])
		hi++
	}
	merged := repl[:0:0]
	for _, b := range repl {
		if n := len(merged); n > 0 && merged[n-1].Status == b.Status {
			merged[n-1].Size += b.Size
			continue
		}
		merged = append(merged, b)
	}
	tail := append([]Block(nil), m.Blocks[hi:]...)
	m.Blocks = append(append(m.Blocks[:lo], merged...), tail...)
}

// Next returns the first block at or after pos (clipped to start at pos)
// whose state is st; ok is false when there is none.
func (m *Map) Next(pos int64, st Status) (Block, bool) {
	for i := m.find(pos); i < len(m.Blocks); i++ {
		b := m.Blocks[i]
		if b.Status != st {
			continue
		}
		if b.Pos < pos {
			b.Size -= pos - b.Pos
			b.Pos = pos
		}
		return b, true
	}
	return Block{}, false
}

// Prev returns the last block ending at or before end (clipped to end
// there) whose state is st, for backward passes.
func (m *Map) Prev(end int64, st Status) (Block, bool) {
	i := m.find(end - 1)
	if i == len(m.Blocks) {
		i--
	}
	for ; i >= 0; i-- {
		b := m.Blocks[i]
		if b.Status != st || b.Pos >= end {
			continue
		}
		if b.End() > end {
			b.Size = end - b.Pos
		}
		return b, true
	}
	return Block{}, false
}

// Totals returns the number of bytes and areas in each state, like
// `ddrescuelog -t`.
func (m *Map) Totals() map[Status]struct{ Bytes, Areas int64 } {
	t := map[Status]struct{ Bytes, Areas int64 }{}
	for _, b := range m.Blocks {
		v := t[b.Status]
		v.Bytes += b.Size
		v.Areas++
		t[b.Status] = v
	}
	return t
}

// Unfinished lists the blocks not in the Finished state.
func (m *Map) Unfinished() []Block {
	var out []Block
	for _, b := range m.Blocks {
		if b.Status != Finished {
			out = append(out, b)
		}
	}
	return out
}

func phaseText(p Phase) string {
	switch p {
	case Copying:
		return "Copying non-tried blocks"
	case Trimming:
		return "Trimming non-trimmed blocks"
	case Scraping:
		return "Scraping non-scraped blocks"
	case Retrying:
		return "Retrying bad sectors"
	case Done:
		return "Finished"
	}
	return "Working"
}

// WriteTo writes the map in ddrescue's layout.
func (m *Map) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	cw := &countWriter{w: bw}
	const tf = "2006-01-02 15:04:05"
	fmt.Fprintf(cw, "# Mapfile. Created by isofsd (GNU ddrescue format)\n")
	if m.CommandLine != "" {
		fmt.Fprintf(cw, "# Command line: %s\n", m.CommandLine)
	}
	if !m.started.IsZero() {
		fmt.Fprintf(cw, "# Start time:   %s\n", m.started.Format(tf))
	}
	fmt.Fprintf(cw, "# Current time: %s\n", time.Now().Format(tf))
	fmt.Fprintf(cw, "# %s\n", phaseText(m.Phase))
	fmt.Fprintf(cw, "# current_pos  current_status  current_pass\n")
	pass := max(m.Pass, 1)
	fmt.Fprintf(cw, "0x%08X     %c               %d\n", m.Pos, m.Phase, pass)
	fmt.Fprintf(cw, "#      pos        size  status\n")
	for _, b := range m.Blocks {
		fmt.Fprintf(cw, "0x%08X  0x%08X  %c\n", b.Pos, b.Size, b.Status)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// Save writes the map to path atomically: a reader (or a restart after a
// crash) sees either the old map or the new one, never a torn file.
func (m *Map) Save(path string) error {
	err := diskio.WriteAtomic(path, 0o644, func(w io.Writer) error {
		_, err := m.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("ddmap: save %s: %w", path, err)
	}
	return nil
}
