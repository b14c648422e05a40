// Package zsync reads zsync control files (.zsync, as zsyncmake writes
// them and Ubuntu publishes beside its images) and finds, in local data,
// the blocks of the file a control file describes: zsync's algorithm — a
// rolling checksum per block to find candidates at every byte offset, an
// MD4 prefix per block to confirm them, optionally two blocks in a row
// ("sequential matches") — so that only the blocks found nowhere locally
// need to be downloaded.
//
// Why not a library: the Go port by zsync's own author (github.com/
// cph6/zsync, 2025–26) keeps its matcher in internal packages, writes its
// own temporary files and could not be fetched through the module proxy
// this project builds with (403 "not available"); AppImageCrafters'
// libzsync-go has been unmaintained since 2021. The format and algorithm
// are small and fixed (zsync 0.6.2), and here every length read from a
// control file — which comes from a server, so is untrusted — is checked
// before use: nothing is allocated from a claimed size.
package zsync

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// ErrFormat means the bytes are not a usable zsync control file.
var ErrFormat = errors.New("zsync: invalid control file")

// Limits on what a control file may claim.
const (
	// MaxControl bounds a control file's size: a 64 GiB image with 2 KiB
	// blocks and the largest hashes needs 640 MiB, real ones (4 KiB
	// blocks, 2+3..5-byte hashes) a few MiB per GiB.
	MaxControl = 1 << 30
	// MaxHeaderLines and MaxLine bound the text header.
	MaxHeaderLines = 256
	MaxLine        = 4096
	// MinBlockSize and MaxBlockSize bound the block size (a power of 2).
	MinBlockSize = 128
	MaxBlockSize = 16 << 20
)

// Control is a parsed control file.
type Control struct {
	Version  string
	Filename string
	MTime    time.Time
	// URLs are where the file can be downloaded, as written (often
	// relative to the control file's own URL).
	URLs []string
	// BlockSize and Length describe the file: Blocks() blocks, the last
	// one padded with zeros.
	BlockSize int
	Length    int64
	// SeqMatches (1 or 2), RsumBytes (1–4) and ChecksumBytes (3–16) are
	// the Hash-Lengths: how many consecutive blocks must match, and how
	// many bytes of each block's rolling and MD4 checksum are kept.
	SeqMatches, RsumBytes, ChecksumBytes int
	// FileHash and HashName verify the whole file: "SHA-1" (zsync 0.6)
	// or "SHA-256" (File-Hash of zsync 0.7); nil when the file has none.
	FileHash []byte
	HashName string

	blocks int
	amask  uint16 // the part of rsum a that is recorded
	bmask  uint16
	rsums  []uint32 // (a&amask)<<16 | b&bmask per block
	strong []byte   // ChecksumBytes of MD4 per block
}

// Blocks is the number of blocks of the file.
func (c *Control) Blocks() int { return c.blocks }

// NewFileHash returns a hash of the kind FileHash holds, or nil.
func (c *Control) NewFileHash() hash.Hash {
	switch c.HashName {
	case "SHA-1":
		return sha1.New()
	case "SHA-256":
		return sha256.New()
	}
	return nil
}

// Parse reads a control file held in memory (at most MaxControl bytes).
func Parse(b []byte) (*Control, error) {
	if len(b) > MaxControl {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(b), MaxControl)
	}
	c := &Control{SeqMatches: 1, RsumBytes: 4, ChecksumBytes: 16}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	safe := map[string]bool{"Z-URL": true, "Min-Version": true, "Recompress": true}
	zurl := false
	rest := b
	for line := 0; ; line++ {
		if line >= MaxHeaderLines {
			return nil, bad("more than %d header lines", MaxHeaderLines)
		}
		i := bytes.IndexByte(rest[:min(len(rest), MaxLine+1)], '\n')
		if i < 0 {
			return nil, bad("header line %d: no end of line within %d bytes", line+1, MaxLine)
		}
		text := strings.TrimSuffix(string(rest[:i]), "\r")
		rest = rest[i+1:]
		if text == "" {
			break
		}
		key, value, ok := strings.Cut(text, ": ")
		if !ok {
			return nil, bad("header line %d %q is not \"Name: value\"", line+1, text)
		}
		if line == 0 {
			if key != "zsync" {
				return nil, bad("does not start with \"zsync:\"")
			}
			if value == "0.0.4" {
				return nil, bad("zsync 0.0.4 control files are not supported")
			}
			c.Version = value
			continue
		}
		var err error
		switch key {
		case "Filename":
			c.Filename = value
		case "MTime":
			if c.MTime, err = time.Parse(time.RFC1123Z, value); err != nil {
				return nil, bad("MTime %q", value)
			}
		case "URL":
			c.URLs = append(c.URLs, value)
		case "Blocksize":
			bs, err := strconv.Atoi(value)
			if err != nil || bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
				return nil, bad("Blocksize %q: want a power of 2 from %d to %d", value, MinBlockSize, MaxBlockSize)
			}
			c.BlockSize = bs
		case "Length":
			if c.Length, err = strconv.ParseInt(value, 10, 64); err != nil || c.Length <= 0 || c.Length > 1<<50 {
				return nil, bad("Length %q", value)
			}
		case "Hash-Lengths":
			f := strings.Split(value, ",")
			if len(f) != 3 {
				return nil, bad("Hash-Lengths %q", value)
			}
			seq, e1 := strconv.Atoi(f[0])
			rs, e2 := strconv.Atoi(f[1])
			cs, e3 := strconv.Atoi(f[2])
			if e1 != nil || e2 != nil || e3 != nil || seq < 1 || seq > 2 || rs < 1 || rs > 4 || cs < 3 || cs > 16 {
				return nil, bad("Hash-Lengths %q: want 1-2,1-4,3-16", value)
			}
			c.SeqMatches, c.RsumBytes, c.ChecksumBytes = seq, rs, cs
		case "SHA-1":
			h, err := hex.DecodeString(value)
			if err != nil || len(h) != sha1.Size {
				return nil, bad("SHA-1 %q", value)
			}
			c.FileHash, c.HashName = h, "SHA-1"
		case "File-Hash":
			alg, hx, _ := strings.Cut(value, ":")
			h, err := hex.DecodeString(hx)
			switch {
			case alg == "SHA-256" && err == nil && len(h) == sha256.Size:
				c.FileHash, c.HashName = h, "SHA-256"
			case alg == "SHA-1" && err == nil && len(h) == sha1.Size:
				c.FileHash, c.HashName = h, "SHA-1"
			}
		case "Safe":
			for _, s := range strings.Fields(value) {
				safe[s] = true
			}
		case "Z-Map2":
			// A map into a compressed copy (zsync 0.6 "-z" files): binary
			// data follows this line; skipped, its length checked first.
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 || n > int64(len(rest))/4 {
				return nil, bad("Z-Map2 %q: more entries than the file holds", value)
			}
			rest = rest[4*n:]
		default:
			if !safe[key] {
				return nil, bad("unknown header %q", key)
			}
			zurl = zurl || key == "Z-URL"
		}
	}
	if c.BlockSize == 0 || c.Length == 0 {
		return nil, bad("Blocksize or Length missing")
	}
	if len(c.URLs) == 0 && zurl {
		return nil, bad("only compressed downloads (Z-URL) offered; not supported")
	}
	blocks := (c.Length + int64(c.BlockSize) - 1) / int64(c.BlockSize)
	per := int64(c.RsumBytes + c.ChecksumBytes)
	// The table must be there in full before anything is sized by it.
	if int64(len(rest)) != blocks*per {
		return nil, bad("block table holds %d bytes; %d blocks of %d bytes need %d", len(rest), blocks, per, blocks*per)
	}
	c.blocks = int(blocks)
	switch {
	case c.RsumBytes >= 4:
		c.amask, c.bmask = 0xffff, 0xffff
	case c.RsumBytes == 3:
		c.amask, c.bmask = 0xff, 0xffff
	case c.RsumBytes == 2:
		c.amask, c.bmask = 0, 0xffff
	default:
		c.amask, c.bmask = 0, 0xff
	}
	c.rsums = make([]uint32, blocks)
	c.strong = make([]byte, 0, blocks*int64(c.ChecksumBytes))
	for i := range c.rsums {
		e := rest[int64(i)*per : int64(i+1)*per]
		// The rolling checksum is stored big-endian as a then b (2 bytes
		// each), keeping only its last RsumBytes bytes.
		var ab [4]byte
		copy(ab[4-c.RsumBytes:], e[:c.RsumBytes])
		a := uint16(ab[0])<<8 | uint16(ab[1])
		bb := uint16(ab[2])<<8 | uint16(ab[3])
		c.rsums[i] = uint32(a&c.amask)<<16 | uint32(bb&c.bmask)
		c.strong = append(c.strong, e[c.RsumBytes:]...)
	}
	return c, nil
}

// rsumOf is block i's recorded rolling checksum; one past the last block
// is zero (what zsync compares a sequential match of the last block to).
func (c *Control) rsumOf(i int) uint32 {
	if i >= c.blocks {
		return 0
	}
	return c.rsums[i]
}

// strongOf is block i's recorded MD4 prefix.
func (c *Control) strongOf(i int) []byte {
	return c.strong[i*c.ChecksumBytes : (i+1)*c.ChecksumBytes]
}

// BlockLen is the length of block i's data in the file (the last block
// may be short).
func (c *Control) BlockLen(i int) int {
	return int(min(int64(c.BlockSize), c.Length-int64(i)*int64(c.BlockSize)))
}

// CheckBlock reports whether data (block i's bytes, BlockLen(i) of them)
// matches the control file's checksums of block i.
func (c *Control) CheckBlock(i int, data []byte) bool {
	if i < 0 || i >= c.blocks || len(data) != c.BlockLen(i) {
		return false
	}
	buf := data
	if len(data) < c.BlockSize {
		buf = make([]byte, c.BlockSize)
		copy(buf, data)
	}
	r := rsum(buf)
	if r.key(c.amask, c.bmask) != c.rsums[i] {
		return false
	}
	s := md4sum(buf)
	return bytes.Equal(s[:c.ChecksumBytes], c.strongOf(i))
}
