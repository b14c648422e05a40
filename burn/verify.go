package burn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/isofsd/isofsd/internal/diskio"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/recover"
)

// Verification verdicts.
const (
	VerdictOK      = "ok"
	VerdictDamaged = "damaged"
)

// DefaultChunkSize is the read size of verification: large reads keep a
// drive streaming; a failing read is retried sector by sector.
const DefaultChunkSize = 1 << 20

// giveUpChunks is how many consecutive wholly unreadable chunks end the
// read-back: each bad sector can cost a drive seconds of retries, and a
// disc that has yielded nothing for that long is not going to.
const giveUpChunks = 16

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Progress is called after each chunk with the bytes compared.
	Progress func(done, total int64)
	// ChunkSize is the read size, a multiple of SectorSize (default
	// DefaultChunkSize).
	ChunkSize int
}

// MD5Verdict is checkisomd5's verdict on the disc: the isomd5sum checksum
// implanted in the image, recomputed over the bytes read back.
type MD5Verdict struct {
	Expected string `json:"expected"`
	Computed string `json:"computed,omitempty"`
	OK       bool   `json:"ok"`
	// FirstBadFragment is the first fragment (0-based) whose sum failed,
	// -1 if none.
	FirstBadFragment int    `json:"first_bad_fragment"`
	Err              string `json:"error,omitempty"`
}

// VerifyReport is what reading the disc back found.
type VerifyReport struct {
	// Size is how many bytes were compared: exactly the image's length.
	Size        int64  `json:"size"`
	ImageSHA256 string `json:"image_sha256"`
	// DiscSHA256 is empty when some sector could not be read.
	DiscSHA256 string `json:"disc_sha256,omitempty"`
	Match      bool   `json:"match"`
	// Unreadable and Differ are byte ranges of the image (sector-aligned)
	// that could not be read from the disc or read differently.
	Unreadable []recover.Range `json:"unreadable,omitempty"`
	Differ     []recover.Range `json:"differ,omitempty"`
	// GaveUp says the read-back stopped early, and why.
	GaveUp string `json:"gave_up,omitempty"`
	// MD5 is nil when the image carries no isomd5sum checksum.
	MD5 *MD5Verdict `json:"implanted_md5,omitempty"`
	// Files names the files on bad ranges (nil when the image is not an
	// ISO 9660/UDF image isofmt can read, or nothing was bad).
	Files   *recover.FileDamage `json:"files,omitempty"`
	Verdict string              `json:"verdict"`
}

// Verify reads size bytes of disc and compares them with image, computing
// both SHA-256 sums and, when img (the parsed image, may be nil) carries an
// isomd5sum checksum, checkisomd5's verdict on the disc's bytes — in the
// same single pass, since every pass over an optical disc costs minutes.
// Bad ranges are assigned to the files of img they hit. An error is
// returned only when the image itself cannot be read or ctx ends; what is
// wrong with the disc is in the report.
func Verify(ctx context.Context, disc, image io.ReaderAt, size int64, img *isofmt.Image, o VerifyOptions) (*VerifyReport, error) {
	chunk := o.ChunkSize
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	chunk = max(chunk/SectorSize, 1) * SectorSize
	rep := &VerifyReport{Size: size}
	ih, dh := sha256.New(), sha256.New()
	discHashed := true

	md5 := startMD5(img)
	if md5 != nil {
		rep.MD5 = md5.verdict
	}
	dbuf := diskio.AlignedBuffer(chunk)
	ibuf := make([]byte, chunk)
	badRun := 0
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			md5.abort(err)
			return rep, err
		}
		n := int(min(int64(chunk), size-off))
		if got, err := image.ReadAt(ibuf[:n], off); got < n {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			md5.abort(err)
			return rep, fmt.Errorf("burn: reading the image at byte %d: %w", off+int64(got), err)
		}
		ih.Write(ibuf[:n])

		good, ended := readDisc(disc, dbuf, off, n)
		allBad := true
		for s := 0; s < n; s += SectorSize {
			e := min(s+SectorSize, n)
			r := recover.Range{Offset: off + int64(s), Length: int64(e - s)}
			switch {
			case !good[s/SectorSize]:
				rep.Unreadable = addRange(rep.Unreadable, r)
			case !bytes.Equal(dbuf[s:e], ibuf[s:e]):
				rep.Differ = addRange(rep.Differ, r)
				allBad = false
			default:
				allBad = false
			}
		}
		// The MD5 check and the disc's SHA-256 see the disc's bytes up to
		// the first sector that could not be read.
		readable := n
		for s := 0; s < n; s += SectorSize {
			if !good[s/SectorSize] {
				readable = s
				break
			}
		}
		if discHashed {
			dh.Write(dbuf[:readable])
		}
		md5.feed(dbuf[:readable])
		if readable < n {
			discHashed = false
			md5.abort(fmt.Errorf("the disc cannot be read at byte %d", off+int64(readable)))
		}
		off += int64(n)
		if o.Progress != nil {
			o.Progress(off, size)
		}
		if ended >= 0 {
			rep.GaveUp = fmt.Sprintf("the disc ends at byte %d, before the end of the image", ended)
			break
		}
		if allBad {
			badRun++
		} else {
			badRun = 0
		}
		if badRun >= giveUpChunks {
			rep.GaveUp = fmt.Sprintf("nothing could be read from byte %d to %d; the rest was not tried", off-int64(badRun*chunk), off)
			break
		}
	}
	if off < size {
		rep.Unreadable = addRange(rep.Unreadable, recover.Range{Offset: off, Length: size - off})
		// The image's own hash still covers all of it.
		if _, err := io.Copy(ih, io.NewSectionReader(image, off, size-off)); err != nil {
			md5.abort(err)
			return rep, fmt.Errorf("burn: reading the image: %w", err)
		}
	}
	md5.finish()
	rep.ImageSHA256 = hex.EncodeToString(ih.Sum(nil))
	if discHashed && len(rep.Unreadable) == 0 {
		rep.DiscSHA256 = hex.EncodeToString(dh.Sum(nil))
	}
	rep.Match = rep.DiscSHA256 != "" && rep.DiscSHA256 == rep.ImageSHA256 && len(rep.Differ) == 0
	rep.Verdict = VerdictDamaged
	if rep.Match && (rep.MD5 == nil || rep.MD5.OK) {
		rep.Verdict = VerdictOK
	}
	if img != nil && (len(rep.Unreadable) > 0 || len(rep.Differ) > 0) {
		rep.Files = nameFiles(img, rep.Differ, rep.Unreadable)
	}
	return rep, nil
}

// readDisc reads n bytes at off into buf (reading whole sectors, as
// O_DIRECT and optical drives want) and says which sectors were read.
// A failed read is retried sector by sector so that one bad sector costs
// only itself. ended is where the disc ended, -1 if it did not.
func readDisc(disc io.ReaderAt, buf []byte, off int64, n int) (good []bool, ended int64) {
	nsec := (n + SectorSize - 1) / SectorSize
	good = make([]bool, nsec)
	rn := nsec * SectorSize
	got, err := disc.ReadAt(buf[:rn], off)
	if got >= n {
		for i := range good {
			good[i] = true
		}
		return good, -1
	}
	if err == nil || errors.Is(err, io.EOF) {
		// A short read without an I/O error: the disc (or the file
		// posing as one) ends here.
		for i := 0; i < got/SectorSize; i++ {
			good[i] = true
		}
		return good, off + int64(got/SectorSize*SectorSize)
	}
	for i := 0; i < nsec; i++ {
		s := i * SectorSize
		g, err := disc.ReadAt(buf[s:s+SectorSize], off+int64(s))
		if g >= min(SectorSize, n-s) {
			good[i] = true
			continue
		}
		if err == nil || errors.Is(err, io.EOF) {
			return good, off + int64(s)
		}
	}
	return good, -1
}

// addRange appends r to sorted rs, merging it with the last range when
// they touch.
func addRange(rs []recover.Range, r recover.Range) []recover.Range {
	if n := len(rs); n > 0 && rs[n-1].End() == r.Offset {
		rs[n-1].Length += r.Length
		return rs
	}
	return append(rs, r)
}

// nameFiles says which files of img lie on the bad ranges.
func nameFiles(img *isofmt.Image, differ, unreadable []recover.Range) *recover.FileDamage {
	var out *recover.FileDamage
	for _, g := range []struct {
		rs     []recover.Range
		reason string
	}{{differ, "reads back differently from the image"}, {unreadable, "cannot be read from the disc"}} {
		if len(g.rs) == 0 {
			continue
		}
		// A partial walk (an unreadable directory) still names what it
		// reached; the unreadable directories are listed in d.
		d, _ := recover.Damage(img, g.rs, g.reason)
		if d == nil {
			continue
		}
		if out == nil {
			out = d
			continue
		}
		seen := map[string]int{}
		for i, f := range out.Damaged {
			seen[f.Path] = i
		}
		for _, f := range d.Damaged {
			if i, ok := seen[f.Path]; ok {
				out.Damaged[i].Reason += "; " + f.Reason
				out.Damaged[i].Ranges = append(out.Damaged[i].Ranges, f.Ranges...)
				continue
			}
			out.Damaged = append(out.Damaged, f)
		}
		out.Metadata = append(out.Metadata, d.Metadata...)
		out.Whole = out.Files - len(out.Damaged)
	}
	return out
}

// md5Feed runs the isomd5sum check over the disc's bytes as they are read:
// the check reads sequentially, so a pipe turns the single pass into its
// ReaderAt. A nil *md5Feed (no checksum in the image) does nothing.
type md5Feed struct {
	m       *isofmt.ImplantedMD5
	pw      *io.PipeWriter
	done    chan struct{}
	verdict *MD5Verdict
	closed  bool
}

func startMD5(img *isofmt.Image) *md5Feed {
	if img == nil {
		return nil
	}
	pvd := img.Info().Primary
	if pvd == nil {
		return nil
	}
	m, ok := isofmt.ParseImplantedMD5(pvd.ApplicationUse)
	if !ok {
		return nil
	}
	pr, pw := io.Pipe()
	f := &md5Feed{m: m, pw: pw, done: make(chan struct{}),
		verdict: &MD5Verdict{Expected: hex.EncodeToString(m.MD5[:]), FirstBadFragment: -1}}
	volume := pvd.VolumeBytes() / isofmt.SectorSize
	go func() {
		defer close(f.done)
		res, err := m.Check(&sequentialReaderAt{r: pr}, volume, nil)
		// The check may stop early (a failed fragment): let the feeder
		// finish its writes.
		io.Copy(io.Discard, pr)
		v := f.verdict
		if err != nil {
			v.Err = err.Error()
		}
		if res != nil {
			v.OK = res.OK && err == nil
			v.FirstBadFragment = res.FirstBadFragment
			if res.FirstBadFragment < 0 {
				v.Computed = hex.EncodeToString(res.Computed[:])
			}
		}
	}()
	return f
}

func (f *md5Feed) feed(p []byte) {
	if f == nil || f.closed || len(p) == 0 {
		return
	}
	if _, err := f.pw.Write(p); err != nil {
		f.closed = true
	}
}

// abort ends the check: the bytes after this point are not the disc's.
func (f *md5Feed) abort(err error) {
	if f == nil || f.closed {
		return
	}
	f.closed = true
	f.pw.CloseWithError(err)
	<-f.done
}

func (f *md5Feed) finish() {
	if f == nil {
		return
	}
	if !f.closed {
		f.closed = true
		f.pw.Close()
	}
	<-f.done
}

// sequentialReaderAt serves ReadAt calls that come in order, from a stream.
type sequentialReaderAt struct {
	r   io.Reader
	pos int64
}

func (s *sequentialReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off != s.pos {
		return 0, fmt.Errorf("burn: read at byte %d out of order (at %d)", off, s.pos)
	}
	n, err := io.ReadFull(s.r, p)
	s.pos += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
