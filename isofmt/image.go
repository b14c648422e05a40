package isofmt

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/isofsd/isofsd/isofmt/filesrc"
	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// CacheSize bounds the metadata sector cache in bytes (default 32 MiB).
	CacheSize int64
	// Tree forces a tree: "udf", "rockridge", "joliet" or "iso9660".
	// Empty selects the richest tree present.
	Tree string
}

// Image is an opened ISO 9660 / UDF image. It implements fs.FS,
// fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS over the selected tree and is
// safe for concurrent use.
type Image struct {
	src    io.ReaderAt
	cache  *sectorCache
	size   int64
	closer io.Closer
	vol    *volume
	tree   core.Tree
	dirs   *dirCache
}

// volume is what all tree views of one image share.
type volume struct {
	pvd    *VolumeDescriptor
	joliet *VolumeDescriptor
	evd    *VolumeDescriptor
	descs  []Descriptor
	sets   []int64 // sectors where descriptor sets start
	// partitionVolumeEnd is the volume end given by a second descriptor
	// set (xorriso -partition_offset), 0 if there is none.
	partitionVolumeEnd int64
	bootLBA            uint32
	hasBoot            bool
	trees              map[string]core.Tree
	order              []string // kinds present, richest first
	rrExt              []string
	rrAfterXA          bool
	warnMu             sync.Mutex
	warnings           []string
	warnSeen           map[string]bool

	infoOnce sync.Once
	info     *Info
}

func (v *volume) warn(s string) {
	v.warnMu.Lock()
	defer v.warnMu.Unlock()
	// Bounded: a hostile image can produce one warning per record.
	if len(v.warnings) < 1000 && !v.warnSeen[s] {
		v.warnSeen[s] = true
		v.warnings = append(v.warnings, s)
	}
}

// Warnings returns the problems noticed so far (the list grows as
// directories are parsed).
func (img *Image) Warnings() []string {
	img.vol.warnMu.Lock()
	defer img.vol.warnMu.Unlock()
	return append([]string(nil), img.vol.warnings...)
}

// OpenFile opens the image file or block device at path through a
// filesrc.File, which refuses FIFOs, directories and character devices
// (diskio.OpenInput) and guards reads against the file being rewritten
// underneath; Close closes the file.
func OpenFile(path string, opts *Options) (*Image, error) {
	src, err := filesrc.Open(path)
	if err != nil {
		return nil, err
	}
	img, err := Open(src, src.Size(), opts)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	img.closer = src
	return img, nil
}

// Open reads the volume descriptors of the image in r (size bytes long) and
// returns it with the requested or richest tree selected. It does not walk
// any directory beyond the roots.
func Open(r io.ReaderAt, size int64, opts *Options) (*Image, error) {
	if opts == nil {
		opts = &Options{}
	}
	if size < 0 {
		return nil, fmt.Errorf("isofmt: negative image size %d", size)
	}
	img := &Image{src: r, size: size, cache: newSectorCache(r, size, opts.CacheSize), dirs: newDirCache()}
	v := &volume{trees: map[string]core.Tree{}, warnSeen: map[string]bool{}}
	img.vol = v
	isoErr := img.readDescriptors()
	if isoErr == nil {
		if err := img.buildISOTrees(); err != nil {
			isoErr = err
		}
	}
	// A UDF volume that is recognised but unusable is reported (and the
	// ISO 9660 trees still serve); plain "no UDF here" is not a problem.
	vol, udfErr := openUDF(img.cache, size)
	if udfErr == nil {
		v.trees[TreeUDF] = vol
	} else if !errors.Is(udfErr, ErrNotISO) || errors.Is(udfErr, ErrCorrupt) {
		v.warn(fmt.Sprintf("udf: %v", udfErr))
	}
	for _, k := range TreeNames {
		if v.trees[k] != nil {
			v.order = append(v.order, k)
		}
	}
	if len(v.order) == 0 {
		if udfErr != nil && (!errors.Is(udfErr, ErrNotISO) || errors.Is(udfErr, ErrCorrupt)) {
			return nil, udfErr
		}
		if isoErr != nil {
			return nil, isoErr
		}
		return nil, fmt.Errorf("%w: no readable directory tree", ErrNotISO)
	}
	if v.pvd != nil && v.pvd.VolumeBytes() > size {
		v.warn(fmt.Sprintf("image truncated: the primary volume descriptor claims %d bytes (%d blocks), the image has %d", v.pvd.VolumeBytes(), v.pvd.VolumeSpaceSize, size))
	}
	return img.WithTree(opts.Tree)
}

// WithTree returns a view of the same image (sharing its source and
// sector cache) with another tree selected; "" selects the richest.
func (img *Image) WithTree(kind string) (*Image, error) {
	if kind == "" {
		kind = img.vol.order[0]
	}
	t := img.vol.trees[kind]
	if t == nil {
		return nil, &TreeError{Want: kind, Have: img.Trees()}
	}
	out := *img
	out.tree = t
	out.dirs = newDirCache()
	return &out, nil
}

// TreeError says that the tree asked for is unknown (Is ErrUnknownTree)
// or not on the image (Is ErrNoTree), and which trees the image has.
type TreeError struct {
	Want string
	Have []string
}

func (e *TreeError) Error() string {
	if !slices.Contains(TreeNames, e.Want) {
		return fmt.Sprintf("isofmt: unknown tree %q: want %s", e.Want, strings.Join(TreeNames, ", "))
	}
	return fmt.Sprintf("isofmt: no %s tree in the image (it has %s)", e.Want, strings.Join(e.Have, ", "))
}

// Is makes errors.Is match ErrUnknownTree or ErrNoTree.
func (e *TreeError) Is(target error) bool {
	if !slices.Contains(TreeNames, e.Want) {
		return target == ErrUnknownTree
	}
	return target == ErrNoTree
}

// Trees lists the trees present, richest first.
func (img *Image) Trees() []string { return append([]string(nil), img.vol.order...) }

// Tree names the selected tree.
func (img *Image) Tree() string { return img.tree.Kind() }

// Size is the size of the image source in bytes.
func (img *Image) Size() int64 { return img.size }

// Source returns the raw image bytes (not cached); file extents index it.
func (img *Image) Source() io.ReaderAt { return img.src }

// DropCache empties the metadata sector cache, and the source's own
// cache if it keeps one (a remote source's blocks in memory); parsed
// descriptors and directories stay, and later reads fill the caches
// again. A server of many images calls it once an image is open and
// idle: the blocks read while opening (descriptors, anchors at both
// ends, the root) would otherwise stay, ~64–200 KiB per local image and
// ~2 MiB per remote one.
func (img *Image) DropCache() {
	img.cache.drop()
	if c, ok := img.src.(interface{ DropCache() }); ok {
		c.DropCache()
	}
}

// CacheStats reports the metadata sector cache's counters.
func (img *Image) CacheStats() CacheStats { return img.cache.stats() }

// Close closes the file opened by OpenFile; it is a no-op for Open.
func (img *Image) Close() error {
	if img.closer != nil {
		return img.closer.Close()
	}
	return nil
}

// readDescriptors reads the volume descriptor set starting at sector 16.
func (img *Image) readDescriptors() error {
	v := img.vol
	buf := make([]byte, SectorSize)
	if img.size < 17*SectorSize {
		return fmt.Errorf("%w: image is %d bytes, too small for ISO 9660 volume descriptors", ErrNotISO, img.size)
	}
	terminated := false
	for i := int64(0); i < MaxDescriptors; i++ {
		sector := 16 + i
		off := sector * SectorSize
		if off+SectorSize > img.size {
			break
		}
		if _, err := img.cache.ReadAt(buf, off); err != nil {
			return formatErr("volume descriptor", off, ErrCorrupt, "reading: %v", err)
		}
		if string(buf[1:6]) != "CD001" {
			if i == 0 {
				return fmt.Errorf("%w: no CD001 volume descriptor at sector 16", ErrNotISO)
			}
			v.warn(fmt.Sprintf("volume descriptor set ends at sector %d without a terminator", sector))
			break
		}
		d := Descriptor{Sector: sector}
		switch buf[0] {
		case vdBootRecord:
			d.Type = "boot record"
			if lba, ok := ParseBootRecord(buf); ok {
				v.bootLBA, v.hasBoot = lba, true
				d.Type = "boot record (El Torito)"
			}
		case vdPrimary:
			d.Type = "primary"
			pvd, err := parseVolumeDescriptor(buf, sector, v.warn)
			if err != nil {
				return err
			}
			if v.pvd == nil {
				v.pvd = pvd
			}
		case vdSupplementary:
			svd, err := parseVolumeDescriptor(buf, sector, v.warn)
			switch {
			case err != nil:
				v.warn(err.Error())
				d.Type = "supplementary (damaged)"
			case buf[6] == 2:
				d.Type = "enhanced"
				if v.evd == nil {
					v.evd = svd
				}
			default:
				d.Type = "supplementary"
				if lvl := jolietLevel(svd.EscapeSequences); lvl > 0 {
					d.Type, d.JolietLevel = "joliet", lvl
					svd.jolietLevel = lvl
					if v.joliet == nil {
						v.joliet = svd
					}
				}
			}
		case vdPartition:
			d.Type = "partition"
		case vdTerminator:
			d.Type = "terminator"
			terminated = true
		default:
			d.Type = fmt.Sprintf("unknown type %d", buf[0])
		}
		v.descs = append(v.descs, d)
		if terminated {
			break
		}
	}
	v.sets = append(v.sets, 16)
	// xorriso -partition_offset writes a second descriptor set 16 blocks
	// further, for the partition as seen on its own.
	last := int64(16 + len(v.descs))
	for _, s := range []int64{32, 48} {
		if s >= last && (s+1)*SectorSize <= img.size {
			if _, err := img.cache.ReadAt(buf, s*SectorSize); err == nil && buf[0] == vdPrimary && string(buf[1:6]) == "CD001" {
				v.sets = append(v.sets, s)
				// This set addresses blocks from its partition start
				// (s-16); its volume ends where the file system data
				// really ends, whereas the set at 16 may span appended
				// partitions too.
				if pvd2, err := parseVolumeDescriptor(buf, s, func(string) {}); err == nil {
					v.partitionVolumeEnd = (s-16)*SectorSize + pvd2.VolumeBytes()
				}
				break
			}
		}
	}
	if v.pvd == nil && v.joliet == nil {
		return fmt.Errorf("%w: no primary volume descriptor", ErrNotISO)
	}
	return nil
}

// buildISOTrees sets up the plain, Rock Ridge and Joliet trees present.
func (img *Image) buildISOTrees() error {
	v := img.vol
	mk := func(vd *VolumeDescriptor, kind string) (*isoTree, error) {
		rootOff := vd.Sector*SectorSize + 156
		rec := append([]byte(nil), vd.root...)
		if rec[0] > 34 {
			// The descriptor field holds exactly 34 bytes; some old
			// mastering tools (CSRG) claim a longer record there.
			v.warn(fmt.Sprintf("%s tree: root directory record at byte %d claims %d bytes; the descriptor field holds 34", kind, rootOff, rec[0]))
			rec[0] = 34
		}
		root, err := parseDirRecord(rec, rootOff)
		if err != nil {
			return nil, err
		}
		if !root.isDir() {
			v.warn(fmt.Sprintf("%s tree: root directory record at byte %d lacks the directory flag", kind, rootOff))
			root.flags |= flagDirectory
		}
		bs := int64(vd.LogicalBlockSize)
		t := &isoTree{kind: kind, src: img.cache, size: img.size, blockSize: bs, rootRec: root, warn: v.warn,
			susp: &suspReader{src: img.cache, size: img.size, blockSize: bs}}
		return t, nil
	}
	var firstErr error
	if v.pvd != nil {
		if t, err := mk(v.pvd, TreeISO9660); err != nil {
			firstErr = err
		} else {
			v.trees[TreeISO9660] = t
			// Rock Ridge is announced by SP in the root's "." record, at
			// its start or after a CD-XA field.
			if dot, err := t.readDot(t.rootRec.extLBA + uint32(t.rootRec.earLen)); err == nil {
				rootSkip := rootSUSPStart(dot.systemUse)
				rr := t.susp.parse(dot.systemUse, rootSkip, dot.offset)
				if rr.hasSP {
					rt, _ := mk(v.pvd, TreeRockRidge)
					rt.rr, rt.skip, rt.rootSkip = true, rr.spSkip, rootSkip
					v.trees[TreeRockRidge] = rt
					v.rrExt = rr.extensions
					v.rrAfterXA = rootSkip > 0
				}
			} else {
				v.warn(err.Error())
				firstErr = err
			}
		}
	}
	if v.joliet != nil {
		if t, err := mk(v.joliet, TreeJoliet); err != nil {
			v.warn(err.Error())
		} else {
			t.joliet = true
			v.trees[TreeJoliet] = t
		}
	}
	if len(v.trees) == 0 {
		return firstErr
	}
	return nil
}
