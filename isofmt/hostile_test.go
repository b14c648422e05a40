package isofmt_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

func openBytes(t *testing.T, data []byte, tree string) *isofmt.Image {
	t.Helper()
	img, err := isofmt.Open(bytes.NewReader(data), int64(len(data)), &isofmt.Options{Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestLogicalBlockSizes reads images whose logical block size is 512 or
// 1024 bytes (directories still pack records into 2048-byte sectors).
func TestLogicalBlockSizes(t *testing.T) {
	for _, bs := range []int{512, 1024, 2048} {
		t.Run(fmt.Sprint(bs), func(t *testing.T) {
			b := isotest.NewBuilder(bs)
			per := 2048 / bs
			root, sub := b.Alloc(per), b.Alloc(per)
			hello := []byte(strings.Repeat("hello, block size ", 200))
			data := b.Alloc((len(hello) + bs - 1) / bs)
			b.Write(data, hello)
			subSize := b.WriteDir(sub, root, 2048, []isotest.Record{{Name: "A.TXT;1", LBA: data, Size: 5}}, nil)
			rootSize := b.WriteDir(root, root, 2048, []isotest.Record{
				{Name: "HELLO.TXT;1", LBA: data, Size: uint32(len(hello))},
				{Name: "SUB", LBA: sub, Size: subSize, Dir: true},
			}, nil)
			img := openBytes(t, b.Image(root, rootSize, 0), "")
			got, err := fs.ReadFile(img, "HELLO.TXT")
			if err != nil || !bytes.Equal(got, hello) {
				t.Fatalf("HELLO.TXT: %v (%d bytes)", err, len(got))
			}
			if got, err := fs.ReadFile(img, "SUB/A.TXT"); err != nil || string(got) != "hello" {
				t.Fatalf("SUB/A.TXT: %q, %v", got, err)
			}
		})
	}
}

// hostileCase builds an image and says what reading it must give.
type hostileCase struct {
	name  string
	build func() []byte
	// wantErr must be met somewhere in the walk (or Open).
	wantErr error
	// check runs extra assertions on the opened image.
	check func(t *testing.T, img *isofmt.Image)
}

func TestHostileImages(t *testing.T) {
	cases := []hostileCase{
		{name: "directory cycle A→B→A", wantErr: isofmt.ErrCorrupt, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, a, bb := b.Alloc(1), b.Alloc(1), b.Alloc(1)
			b.WriteDir(bb, a, 2048, []isotest.Record{{Name: "BACK", LBA: a, Size: 2048, Dir: true}}, nil)
			b.WriteDir(a, root, 2048, []isotest.Record{{Name: "B", LBA: bb, Size: 2048, Dir: true}}, nil)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "A", LBA: a, Size: 2048, Dir: true}}, nil)
			return b.Image(root, 2048, 0)
		}},
		{name: "directory lists itself", wantErr: isofmt.ErrCorrupt, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, a := b.Alloc(1), b.Alloc(1)
			b.WriteDir(a, root, 2048, []isotest.Record{{Name: "SELF", LBA: a, Size: 2048, Dir: true}}, nil)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "A", LBA: a, Size: 2048, Dir: true}}, nil)
			return b.Image(root, 2048, 0)
		}},
		{name: "subdirectory points at the root", wantErr: isofmt.ErrCorrupt, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, a := b.Alloc(1), b.Alloc(1)
			b.WriteDir(a, root, 2048, []isotest.Record{{Name: "UP", LBA: root, Size: 2048, Dir: true}}, nil)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "A", LBA: a, Size: 2048, Dir: true}}, nil)
			return b.Image(root, 2048, 0)
		}},
		{name: "fan-out of references to one directory", wantErr: isofmt.ErrCorrupt, build: func() []byte {
			// 30 names for one directory that names itself 30 times: an
			// exponential tree if references were followed blindly.
			b := isotest.NewBuilder(2048)
			root, a := b.Alloc(1), b.Alloc(2)
			var recs []isotest.Record
			for i := 0; i < 30; i++ {
				recs = append(recs, isotest.Record{Name: fmt.Sprintf("D%02d", i), LBA: a, Size: 4096, Dir: true})
			}
			b.WriteDir(a, root, 2048, recs, nil)
			b.WriteDir(root, root, 2048, recs, nil)
			return b.Image(root, 2048, 0)
		}},
		{name: "Rock Ridge CL points at an ancestor", wantErr: isofmt.ErrCorrupt, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, a := b.Alloc(1), b.Alloc(1)
			su := append(isotest.NM("loop"), isotest.CL(root)...)
			b.WriteDir(a, root, 2048, []isotest.Record{{Name: "LOOP;1", SystemUse: su}}, isotest.PX(0o40755, 2, 0, 0))
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "A", LBA: a, Size: 2048, Dir: true, SystemUse: isotest.PX(0o40755, 2, 0, 0)}},
				append(isotest.SP(), isotest.PX(0o40755, 3, 0, 0)...))
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			if img.Tree() != isofmt.TreeRockRidge {
				t.Errorf("tree %s, want rockridge", img.Tree())
			}
		}},
		{name: "directory claims 4 GiB", wantErr: isofmt.ErrLimit, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, a := b.Alloc(1), b.Alloc(1)
			b.WriteDir(a, root, 2048, nil, nil)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "HUGE", LBA: a, Size: 0xFFFFF800, Dir: true}}, nil)
			return b.Image(root, 2048, 0)
		}},
		{name: "file extent beyond the image end", wantErr: isofmt.ErrTruncated, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root := b.Alloc(1)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "GONE.BIN;1", LBA: 1 << 20, Size: 1 << 20}}, nil)
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			_, err := fs.ReadFile(img, "GONE.BIN")
			if err == nil || !strings.Contains(err.Error(), "GONE.BIN") || !strings.Contains(err.Error(), "sector 1048576") {
				t.Errorf("read error %v: want one naming the file and its sector", err)
			}
		}},
		{name: "1100 nested directories", wantErr: isofmt.ErrLimit, build: func() []byte {
			b := isotest.NewBuilder(2048)
			const depth = 1100
			lbas := make([]uint32, depth+1)
			for i := range lbas {
				lbas[i] = b.Alloc(1)
			}
			for i := 0; i <= depth; i++ {
				var recs []isotest.Record
				if i < depth {
					recs = []isotest.Record{{Name: "D", LBA: lbas[i+1], Size: 2048, Dir: true}}
				}
				parent := lbas[max(i-1, 0)]
				b.WriteDir(lbas[i], parent, 2048, recs, nil)
			}
			return b.Image(lbas[0], 2048, 0)
		}},
		{name: "duplicate names stay reachable", build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, d1, d2 := b.Alloc(1), b.Alloc(1), b.Alloc(1)
			b.Write(d1, []byte("one"))
			b.Write(d2, []byte("two"))
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "SAME;1", LBA: d1, Size: 3}, {Name: "SAME;1", LBA: d2, Size: 3}, {Name: "SAME.;1", LBA: d2, Size: 3}}, nil)
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			for name, want := range map[string]string{"SAME": "one", "SAME_": "two", "SAME__": "two"} {
				if got, err := fs.ReadFile(img, name); err != nil || string(got) != want {
					t.Errorf("%s: %q %v, want %q", name, got, err, want)
				}
			}
		}},
		{name: "one name repeated 12 000 times", build: func() []byte {
			// Appending "_" until a name was free took quadratic time and
			// memory here (7e7 appends of names up to 12 000 bytes).
			b := isotest.NewBuilder(2048)
			d := b.Alloc(1)
			b.Write(d, []byte("x"))
			recs := []isotest.Record{{Name: "SAME;1", LBA: d, Size: 1}, {Name: "SAME_4;1", LBA: d, Size: 1}}
			for range 12000 {
				recs = append(recs, isotest.Record{Name: "SAME;1", LBA: d, Size: 1})
			}
			root := b.Alloc(len(recs)*40/2048 + 2)
			size := b.WriteDir(root, root, 0, recs, nil)
			return b.Image(root, size, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			ents, err := img.ReadDir(".")
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 12002 {
				t.Fatalf("%d entries, want 12002", len(ents))
			}
			seen := map[string]bool{}
			for _, e := range ents {
				if seen[e.Name()] {
					t.Fatalf("name %q listed twice", e.Name())
				}
				seen[e.Name()] = true
				if len(e.Name()) > 12 {
					t.Fatalf("name %q: suffixes should stay short", e.Name())
				}
			}
			for _, name := range []string{"SAME", "SAME_", "SAME__", "SAME___", "SAME_4", "SAME_5", "SAME_12000"} {
				if !seen[name] {
					t.Errorf("%s missing", name)
				}
			}
		}},
		{name: "Rock Ridge names that are not path elements fall back", build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, d := b.Alloc(1), b.Alloc(1)
			b.Write(d, []byte("data"))
			b.WriteDir(root, root, 2048, []isotest.Record{
				{Name: "SLASH.TXT;1", LBA: d, Size: 4, SystemUse: isotest.NM("a/b")},
				{Name: "DOTDOT.TXT;1", LBA: d, Size: 4, SystemUse: isotest.NM("..")},
				{Name: "NUL.TXT;1", LBA: d, Size: 4, SystemUse: isotest.NM("x\x00y")},
			}, isotest.SP())
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			for _, name := range []string{"SLASH.TXT", "DOTDOT.TXT", "NUL.TXT"} {
				if _, err := img.Stat(name); err != nil {
					t.Errorf("%s: %v (want the ISO 9660 name as fallback)", name, err)
				}
			}
		}},
		{name: "CE chain longer than the cap", build: func() []byte {
			// 40 continuation areas, each pointing at the next.
			b := isotest.NewBuilder(2048)
			root, ce, d := b.Alloc(1), b.Alloc(1), b.Alloc(1)
			area := make([]byte, 2048)
			for i := 0; i < 40; i++ {
				copy(area[i*40:], isotest.CE(ce, uint32((i+1)*40), 40))
			}
			b.Write(ce, area)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "F.TXT;1", LBA: d, Size: 0, SystemUse: isotest.CE(ce, 0, 40)}}, isotest.SP())
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			if _, err := img.Stat("F.TXT"); err != nil {
				t.Errorf("file with a capped CE chain must stay visible: %v", err)
			}
			found := false
			for _, w := range img.Warnings() {
				found = found || strings.Contains(w, "continuation areas")
			}
			if !found {
				t.Errorf("no warning about the CE chain: %q", img.Warnings())
			}
		}},
		{name: "multi-extent file joins its records", build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, d := b.Alloc(1), b.Alloc(3)
			b.Write(d, bytes.Repeat([]byte("A"), 2048))
			b.Write(d+1, bytes.Repeat([]byte("B"), 2048))
			b.Write(d+2, []byte("CC"))
			b.WriteDir(root, root, 2048, []isotest.Record{
				{Name: "M.BIN;1", LBA: d, Size: 2048, Flags: 0x80},
				{Name: "M.BIN;1", LBA: d + 1, Size: 2048, Flags: 0x80},
				{Name: "M.BIN;1", LBA: d + 2, Size: 2},
			}, nil)
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			got, err := fs.ReadFile(img, "M.BIN")
			want := strings.Repeat("A", 2048) + strings.Repeat("B", 2048) + "CC"
			if err != nil || string(got) != want {
				t.Fatalf("M.BIN: %d bytes, %v", len(got), err)
			}
			fi, _ := img.Stat("M.BIN")
			if n := len(fi.Sys().(*isofmt.Stat).Extents); n != 3 {
				t.Errorf("%d extents, want 3", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.build()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			img := openBytes(t, data, "")
			_, problems := walkAll(img)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("allocated %d MiB for a %d KiB image", grew>>20, len(data)>>10)
			}
			if c.wantErr != nil {
				found := false
				for _, p := range problems {
					found = found || errors.Is(p, c.wantErr)
				}
				if !found {
					t.Errorf("walk reported %v; want an error wrapping %v", problems, c.wantErr)
				}
			} else if len(problems) > 0 {
				t.Errorf("unexpected problems: %v", problems)
			}
			if c.check != nil {
				c.check(t, img)
			}
		})
	}
}

// TestTruncatedEverywhere cuts a real image at many points: Open and the
// walk must end with an error or a partial result, never a panic or hang.
func TestTruncatedEverywhere(t *testing.T) {
	data := mustRead(t, buildImage(t, masterings[2]))
	for cut := int64(0); cut < int64(len(data)); cut += int64(len(data)) / 97 {
		img, err := isofmt.Open(bytes.NewReader(data[:cut]), cut, nil)
		if err != nil {
			continue
		}
		walkAll(img)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	img, err := isofmt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	b, err := io.ReadAll(io.NewSectionReader(img.Source(), 0, img.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
