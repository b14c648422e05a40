package udf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/internal/core"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

// retag recomputes the CRC and checksum of the descriptor whose tag is at
// off, so a test edit reaches the checks behind the tag.
func retag(img []byte, off int) {
	d := img[off:]
	n := int(binary.LittleEndian.Uint16(d[10:]))
	binary.LittleEndian.PutUint16(d[8:], crc16(d[16:16+n]))
	d[4] = tagChecksum(d)
}

// makeIE returns an indirect entry at block lbn pointing to block to of partition 0.
func makeIE(lbn, to uint32) []byte {
	ie := make([]byte, 52)
	binary.LittleEndian.PutUint16(ie, tagIE)
	binary.LittleEndian.PutUint16(ie[10:], 36)
	binary.LittleEndian.PutUint32(ie[12:], lbn)
	binary.LittleEndian.PutUint32(ie[36:], 2048)
	binary.LittleEndian.PutUint32(ie[40:], to)
	return ie
}

// retagFID retags a FID at off and, for a directory embedded in its file
// entry, the entry around it.
func retagFID(img []byte, dir *core.Node, off int) {
	retag(img, off)
	if loc := int(dir.Stat.Location); off > loc && off < loc+2048 {
		retag(img, loc)
	}
}

// walkTolerant walks everything reachable, counting entries and errors,
// the way a user-facing walker would (it never stops at damage).
func walkTolerant(v *Volume) (entries int, errs []error) {
	root, err := v.Root()
	if err != nil {
		return 0, []error{err}
	}
	var rec func(n *core.Node, depth int)
	rec = func(n *core.Node, depth int) {
		kids, err := v.ReadDir(n)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, k := range kids {
			entries++
			if k.Err != nil {
				errs = append(errs, k.Err)
			}
			if k.IsDir() && k.Err == nil {
				rec(k, depth+1)
			}
		}
	}
	rec(root, 0)
	return entries, errs
}

func openBytes(img []byte) (*Volume, error) {
	return Open(bytes.NewReader(img), int64(len(img)))
}

func build(t *testing.T, o udfbuild.Options) []byte {
	t.Helper()
	img, err := udfbuild.Build(o, sampleEntries())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// findNode walks v to a slash path.
func findNode(t *testing.T, v *Volume, p string) *core.Node {
	t.Helper()
	n, err := v.Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range strings.Split(p, "/") {
		kids, err := v.ReadDir(n)
		if err != nil {
			t.Fatal(err)
		}
		var next *core.Node
		for _, k := range kids {
			if k.Name == c {
				next = k
			}
		}
		if next == nil {
			t.Fatalf("%s: no %q", p, c)
		}
		n = next
	}
	return n
}

// fidOffset finds the FID naming name (8-bit CS0) inside dir's data.
func fidOffset(t *testing.T, img []byte, dir *core.Node, name string) int {
	t.Helper()
	for _, e := range dir.Stat.Extents {
		data := img[e.Offset : e.Offset+e.Length]
		if i := bytes.Index(data, append([]byte{8}, name...)); i >= 38 {
			return int(e.Offset) + i - 38
		}
	}
	t.Fatalf("no FID for %q", name)
	return 0
}

const partStart2048 = 320 * 2048 // where udfbuild puts the partition

// TestHostile feeds damaged images and checks for clear errors (or
// documented recovery), never a panic or an endless walk.
func TestHostile(t *testing.T) {
	base := udfbuild.Options{Revision: 0x0201, BlockSize: 2048, EFE: true}
	meta := udfbuild.Options{Revision: 0x0250, BlockSize: 2048, EFE: true, Metadata: true}
	lvdMain, lvdRes := 260*2048, 276*2048
	tests := []struct {
		name    string
		opt     udfbuild.Options
		damage  func(t *testing.T, img []byte)
		openErr error  // Open must fail with this
		warn    string // Open succeeds with a warning containing this
		// check inspects the opened volume.
		check func(t *testing.T, v *Volume, img []byte)
	}{
		{name: "main LVD checksum", opt: base, damage: func(t *testing.T, img []byte) { img[lvdMain+4] ^= 0xFF }, warn: "using the reserve"},
		{name: "main LVD CRC", opt: base, damage: func(t *testing.T, img []byte) { img[lvdMain+100] ^= 1 }, warn: "using the reserve"},
		{name: "main LVD location", opt: base, damage: func(t *testing.T, img []byte) {
			binary.LittleEndian.PutUint32(img[lvdMain+12:], 999)
			retag(img, lvdMain)
		}, warn: "using the reserve"},
		{name: "both LVDs", opt: base, damage: func(t *testing.T, img []byte) { img[lvdMain+100] ^= 1; img[lvdRes+100] ^= 1 }, openErr: core.ErrCorrupt},
		{name: "first anchor", opt: base, damage: func(t *testing.T, img []byte) { img[256*2048+20] ^= 1 }, check: func(t *testing.T, v *Volume, img []byte) {
			if a := v.Info().Anchors; len(a) != 1 || a[0] != int64(len(img)/2048-1) {
				t.Errorf("anchors %v", a)
			}
		}},
		{name: "all anchors", opt: base, damage: func(t *testing.T, img []byte) { img[256*2048+20] ^= 1; img[len(img)-2048+20] ^= 1 }, openErr: core.ErrNotISO},
		{name: "absurd partition map count", opt: base, damage: func(t *testing.T, img []byte) {
			for _, o := range []int{lvdMain, lvdRes} {
				binary.LittleEndian.PutUint32(img[o+268:], 0xFFFFFFFF)
				retag(img, o)
			}
		}, openErr: core.ErrLimit},
		{name: "map table past descriptor", opt: base, damage: func(t *testing.T, img []byte) {
			for _, o := range []int{lvdMain, lvdRes} {
				binary.LittleEndian.PutUint32(img[o+264:], 100000)
				retag(img, o)
			}
		}, openErr: core.ErrCorrupt},
		{name: "partition map length zero", opt: base, damage: func(t *testing.T, img []byte) {
			for _, o := range []int{lvdMain, lvdRes} {
				img[o+441] = 0
				retag(img, o)
			}
		}, openErr: core.ErrCorrupt},
		{name: "VDS pointer loop", opt: base, damage: func(t *testing.T, img []byte) {
			// Turn both terminating descriptors into pointers back to their sequence start.
			for _, sec := range []int{262, 278} {
				o := sec * 2048
				d := make([]byte, 512)
				binary.LittleEndian.PutUint16(d, tagVDP)
				binary.LittleEndian.PutUint16(d[10:], 496)
				binary.LittleEndian.PutUint32(d[12:], uint32(sec))
				binary.LittleEndian.PutUint32(d[20:], 16*2048)
				binary.LittleEndian.PutUint32(d[24:], uint32(sec-5))
				copy(img[o:], d)
				retag(img, o)
			}
		}, warn: "pointer hops"},
		{name: "FID partition reference out of range", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			root, _ := v.Root()
			o := fidOffset(t, img, root, "README.TXT")
			binary.LittleEndian.PutUint16(img[o+28:], 77)
			retagFID(img, root, o)
			n := findNode(t, v, "README.TXT")
			if !errors.Is(n.Err, core.ErrCorrupt) || !strings.Contains(n.Err.Error(), "partition reference 77") {
				t.Errorf("README.TXT: %v", n.Err)
			}
		}},
		{name: "directory loop to root", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			root, _ := v.Root()
			o := fidOffset(t, img, root, "dir")
			binary.LittleEndian.PutUint32(img[o+24:], uint32(root.Stat.Inode-1))
			retagFID(img, root, o)
			n := findNode(t, v, "dir")
			if !errors.Is(n.Err, core.ErrCorrupt) || !strings.Contains(n.Err.Error(), "loop") {
				t.Errorf("dir: %v", n.Err)
			}
			if _, err := v.ReadDir(n); err == nil {
				t.Error("ReadDir of a looping directory succeeded")
			}
		}},
		{name: "deep directory loop", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			deep := findNode(t, v, "deep")
			da := findNode(t, v, "deep/da/db/dc")
			o := fidOffset(t, img, da, "dd")
			binary.LittleEndian.PutUint32(img[o+24:], uint32(deep.Stat.Inode-1))
			retagFID(img, da, o)
			n := findNode(t, v, "deep/da/db/dc/dd")
			if !errors.Is(n.Err, core.ErrCorrupt) {
				t.Errorf("dd: %v", n.Err)
			}
		}},
		{name: "file entry lengths past the block", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			n := findNode(t, v, "README.TXT")
			o := int(n.Stat.Location)
			binary.LittleEndian.PutUint32(img[o+212:], 0xFFFF)
			retag(img, o)
			n = findNode(t, v, "README.TXT")
			if !errors.Is(n.Err, core.ErrCorrupt) || !strings.Contains(n.Err.Error(), "past the block") {
				t.Errorf("README.TXT: %v", n.Err)
			}
		}},
		{name: "extent past the partition", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			n := findNode(t, v, "dir/big.bin")
			o := int(n.Stat.Location)
			binary.LittleEndian.PutUint32(img[o+216+4:], 0x7FFFFFFF)
			retag(img, o)
			n = findNode(t, v, "dir/big.bin")
			if !errors.Is(n.Err, core.ErrCorrupt) || !strings.Contains(n.Err.Error(), "past the end of partition") {
				t.Errorf("big.bin: %v", n.Err)
			}
		}},
		{name: "FID tag damaged", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			root, _ := v.Root()
			o := fidOffset(t, img, root, "README.TXT")
			img[o+40] ^= 1
			retag(img, int(root.Stat.Location)) // only the FID's own CRC is wrong
			if _, err := v.ReadDir(root); !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), "CRC") {
				t.Errorf("ReadDir: %v", err)
			}
		}},
		{name: "indirect entry loop", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			n := findNode(t, v, "README.TXT")
			o := int(n.Stat.Location)
			lbn := binary.LittleEndian.Uint32(img[o+12:])
			copy(img[o:], makeIE(lbn, lbn))
			retag(img, o)
			n = findNode(t, v, "README.TXT")
			if !errors.Is(n.Err, core.ErrLimit) {
				t.Errorf("README.TXT: %v", n.Err)
			}
		}},
		{name: "indirect entry", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			n := findNode(t, v, "README.TXT")
			h := findNode(t, v, "hidden.txt")
			o := int(n.Stat.Location)
			lbn := binary.LittleEndian.Uint32(img[o+12:])
			copy(img[o:], makeIE(lbn, uint32(h.Stat.Location/2048-320)))
			retag(img, o)
			n2 := findNode(t, v, "README.TXT")
			if n2.Err != nil || n2.Stat.Location != h.Stat.Location || n2.Stat.Size != h.Stat.Size || n2.Stat.Inode != n.Stat.Inode {
				t.Errorf("README.TXT through an indirect entry: %+v %v", n2.Stat, n2.Err)
			}
		}},
		{name: "strategy 4096 successor", opt: base, check: func(t *testing.T, v *Volume, img []byte) {
			n := findNode(t, v, "README.TXT")
			h := findNode(t, v, "hidden.txt")
			o := int(n.Stat.Location)
			lbn := binary.LittleEndian.Uint32(img[o+12:])
			binary.LittleEndian.PutUint16(img[o+20:], 4096)
			retag(img, o)
			copy(img[o+2048:], makeIE(lbn+1, uint32(h.Stat.Location/2048-320)))
			retag(img, o+2048)
			n2 := findNode(t, v, "README.TXT")
			if n2.Err != nil || n2.Stat.Location != h.Stat.Location {
				t.Errorf("README.TXT after its strategy 4096 successor: %+v %v", n2.Stat, n2.Err)
			}
		}},
		{name: "metadata file damaged", opt: meta, damage: func(t *testing.T, img []byte) { img[partStart2048+100] ^= 1 }, warn: "using the metadata mirror file",
			check: func(t *testing.T, v *Volume, img []byte) {
				if !v.Info().PartitionMaps[1].UsingMirror {
					t.Error("mirror not in use")
				}
				if _, errs := walkTolerant(v); len(errs) != 0 {
					t.Errorf("errors reading through the mirror: %v", errs)
				}
			}},
		{name: "metadata block damaged", opt: meta, check: func(t *testing.T, v *Volume, img []byte) {
			n := findNode(t, v, "README.TXT")
			want := hashNode(t, bytes.NewReader(img), n)
			img[n.Stat.Location+50] ^= 1
			n = findNode(t, v, "README.TXT")
			if n.Err != nil || hashNode(t, bytes.NewReader(img), n) != want {
				t.Errorf("README.TXT via the mirror: %v", n.Err)
			}
			if w := v.Info().Warnings; len(w) == 0 || !strings.Contains(w[len(w)-1], "mirror") {
				t.Errorf("warnings %v", w)
			}
		}},
		{name: "metadata file and mirror damaged", opt: meta, damage: func(t *testing.T, img []byte) {
			img[partStart2048+100] ^= 1
			img[partStart2048+2048+100] ^= 1
		}, openErr: core.ErrCorrupt},
		{name: "allocation extent descriptor loop", opt: udfbuild.Options{Revision: 0x0201, BlockSize: 512}, check: func(t *testing.T, v *Volume, img []byte) {
			// Point the first AED's continuation back at itself.
			for o := 0; o+512 <= len(img); o += 512 {
				if binary.LittleEndian.Uint16(img[o:]) != tagAED || img[o+4] != tagChecksum(img[o:]) {
					continue
				}
				l := int(binary.LittleEndian.Uint32(img[o+20:]))
				last := o + 24 + l - 8
				self := binary.LittleEndian.Uint32(img[o+12:])
				binary.LittleEndian.PutUint32(img[last+4:], self)
				retag(img, o)
				break
			}
			n := findNode(t, v, "dir/many-extents.bin")
			if !errors.Is(n.Err, core.ErrCorrupt) || !strings.Contains(n.Err.Error(), "loops") {
				t.Errorf("many-extents.bin: %v", n.Err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := build(t, tc.opt)
			if tc.damage != nil {
				tc.damage(t, img)
			}
			v, err := openBytes(img)
			if tc.openErr != nil {
				if !errors.Is(err, tc.openErr) {
					t.Fatalf("Open: %v, want %v", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if tc.warn != "" && !strings.Contains(strings.Join(v.Info().Warnings, "\n"), tc.warn) {
				t.Errorf("warnings %q lack %q", v.Info().Warnings, tc.warn)
			}
			if tc.check != nil {
				tc.check(t, v, img)
			}
			if tc.damage != nil && tc.check == nil {
				if _, errs := walkTolerant(v); len(errs) != 0 {
					t.Errorf("walk after recovery: %v", errs)
				}
			}
			walkTolerant(v) // must terminate whatever the damage
		})
	}
}

// TestTruncated cuts a built image and corpus images at many lengths:
// opening and walking must end with errors or partial trees, never hang or panic.
func TestTruncated(t *testing.T) {
	imgs := map[string][]byte{
		"built-2.01": build(t, udfbuild.Options{Revision: 0x0201, BlockSize: 2048, EFE: true}),
		"built-2.50": build(t, udfbuild.Options{Revision: 0x0250, BlockSize: 2048, EFE: true, Metadata: true}),
	}
	for _, rel := range []string{"libcdio/udf102.iso", "isolyzer/is9660_udf_imgburn.iso"} {
		b, err := os.ReadFile(corpusFile(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		imgs[rel] = b
	}
	for name, img := range imgs {
		start := time.Now()
		cuts := 0
		for cut := 32 << 10; cut < len(img); cut += len(img) / 97 {
			cuts++
			v, err := openBytes(img[:cut])
			if err != nil {
				if !errors.Is(err, core.ErrNotISO) && !errors.Is(err, core.ErrCorrupt) && !errors.Is(err, core.ErrTruncated) {
					t.Errorf("%s cut at %d: unexpected error kind: %v", name, cut, err)
				}
				continue
			}
			walkTolerant(v)
		}
		t.Logf("%s: %d truncations in %v", name, cuts, time.Since(start))
	}
}

// TestSparable remaps the packet holding the root directory of an mkudffs
// CD-RW image through its sparing table and checks the root is read from
// the spare area.
func TestSparable(t *testing.T) {
	isotest.RequireTool(t, "mkudffs")
	p := filepath.Join(t.TempDir(), "cdrw.img")
	if out, err := exec.Command("mkudffs", "--media-type=cdrw", p, "2000").CombinedOutput(); err != nil {
		t.Fatalf("mkudffs: %v\n%s", err, out)
	}
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := openBytes(img)
	if err != nil {
		t.Fatal(err)
	}
	in := v.Info()
	m := in.PartitionMaps[0]
	if m.Type != "sparable" || m.PacketLength != 32 || len(m.SparingTables) == 0 {
		t.Fatalf("map %+v", m)
	}
	root, _ := v.Root()
	bs := int64(in.BlockSize)
	rootLBN := (root.Stat.Location - m.Start) / bs
	packet := rootLBN &^ int64(m.PacketLength-1)
	var spare int64
	for _, loc := range m.SparingTables {
		o := int(loc) * int(bs)
		// Use the first available entry (0xFFFFFFF0) of each table copy.
		e := o + 56
		if binary.LittleEndian.Uint32(img[e:]) < 0xFFFFFFF0 {
			t.Fatalf("sparing table at %d: first entry in use", loc)
		}
		binary.LittleEndian.PutUint32(img[e:], uint32(packet))
		spare = int64(binary.LittleEndian.Uint32(img[e+4:]))
		retag(img, o)
	}
	pkt := img[m.Start+packet*bs : m.Start+(packet+int64(m.PacketLength))*bs]
	copy(img[spare*bs:], pkt)
	clear(pkt) // the original packet is now unreadable
	v, err = openBytes(img)
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Info().PartitionMaps[0].SparingEntries; n != 1 {
		t.Errorf("%d sparing entries", n)
	}
	root2, err := v.Root()
	if err != nil {
		t.Fatal(err)
	}
	if want := spare*bs + (rootLBN-packet)*bs; root2.Stat.Location != want {
		t.Errorf("root entry at %d, want %d in the spare area", root2.Stat.Location, want)
	}
	if _, err := v.ReadDir(root2); err != nil {
		t.Error(err)
	}
}

// TestDepthLimit builds directories nested past maxDepth: the walk must
// stop there with ErrLimit on the deepest directory.
func TestDepthLimit(t *testing.T) {
	p := strings.Repeat("a/", maxDepth+5) + "f"
	img, err := udfbuild.Build(udfbuild.Options{Revision: 0x0201, BlockSize: 512}, []udfbuild.Entry{{Path: p, Data: []byte("x"), Perm: 0o644}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := openBytes(img)
	if err != nil {
		t.Fatal(err)
	}
	n, errs := walkTolerant(v)
	if len(errs) != 1 || !errors.Is(errs[0], core.ErrLimit) {
		t.Fatalf("errors %v", errs)
	}
	if n != maxDepth {
		t.Errorf("walked %d entries before the limit, want %d", n, maxDepth)
	}
}
