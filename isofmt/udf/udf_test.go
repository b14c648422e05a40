package udf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/isofsd/isofsd/isofmt/internal/core"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestCorpus reads the third-party UDF images and compares every name,
// size and content hash with 7-Zip's view.
func TestCorpus(t *testing.T) {
	tests := []struct {
		file     string
		revision uint16
		// wantName is a file the corpus README documents.
		wantName string
	}{
		{"libcdio/udf102.iso", 0x0102, "FéжΘvrier"},
		{"libcdio/test-udf1.iso", 0x0102, ""},
		{"isolyzer/udf.iso", 0x0201, ""},
		{"isolyzer/iso9660_udf.iso", 0x0102, ""},
		{"isolyzer/is9660_udf_imgburn.iso", 0x0102, ""},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			p := corpusFile(t, tc.file)
			v, f := openPath(t, p)
			if v.Kind() != "udf" {
				t.Errorf("Kind %q", v.Kind())
			}
			in := v.Info()
			if in.Revision != tc.revision {
				t.Errorf("revision %#x, want %#x", in.Revision, tc.revision)
			}
			if in.BlockSize != 2048 || len(in.PartitionMaps) == 0 || in.PartitionMaps[0].Type != "physical" {
				t.Errorf("info %+v", in)
			}
			if len(in.Warnings) != 0 {
				t.Errorf("warnings on an intact image: %v", in.Warnings)
			}
			ours := compareWithSevenZip(t, p, v, f)
			if tc.wantName != "" {
				if _, ok := ours[tc.wantName]; !ok {
					t.Errorf("no %q among %v", tc.wantName, keys(ours))
				}
			}
			for name, n := range ours {
				checkStat(t, name, n)
			}
		})
	}
}

func keys(m map[string]*core.Node) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkStat checks the invariants every node must meet.
func checkStat(t *testing.T, name string, n *core.Node) {
	t.Helper()
	st := n.Stat
	if st.Inode == 0 || st.Nlink == 0 || !st.HasPerm || st.Location <= 0 {
		t.Errorf("%s: incomplete stat %+v", name, st)
	}
	if st.ModTime.IsZero() {
		t.Errorf("%s: no modification time", name)
	}
	if n.IsDir() && n.Ref == nil {
		t.Errorf("%s: directory without Ref", name)
	}
	if st.StoredSize() != st.Size {
		t.Errorf("%s: extents cover %d of %d bytes", name, st.StoredSize(), st.Size)
	}
}

// TestMkudffs opens empty volumes made by mkudffs across block sizes,
// revisions and media types (plain, VAT, sparable, ICB strategy 4096).
func TestMkudffs(t *testing.T) {
	isotest.RequireTool(t, "mkudffs")
	type tc struct {
		name     string
		args     []string
		blocks   int
		bs       int
		rev      uint16
		maps     []string
		sevenZip bool // 7-Zip reads only plain physical partitions
	}
	var tests []tc
	for _, bs := range []int{512, 1024, 2048, 4096} {
		for _, rev := range []uint16{0x0102, 0x0150, 0x0201} {
			tests = append(tests, tc{
				name:   fmt.Sprintf("hd-bs%d-rev%04x", bs, rev),
				args:   []string{"--media-type=hd", fmt.Sprintf("--blocksize=%d", bs), fmt.Sprintf("--udfrev=0x%04x", rev)},
				blocks: 8 << 20 / bs, bs: bs, rev: rev, maps: []string{"physical"},
				// 7-Zip 26 refuses 1024- and 4096-byte blocks ("Is not archive").
				sevenZip: bs == 512 || bs == 2048,
			})
		}
	}
	tests = append(tests,
		tc{name: "cdr-vat-2.01", args: []string{"--media-type=cdr"}, blocks: 2000, bs: 2048, rev: 0x0201, maps: []string{"physical", "virtual"}},
		tc{name: "cdr-vat-1.50", args: []string{"--media-type=cdr", "--udfrev=1.50"}, blocks: 2000, bs: 2048, rev: 0x0150, maps: []string{"physical", "virtual"}},
		tc{name: "cdrw-sparable", args: []string{"--media-type=cdrw"}, blocks: 2000, bs: 2048, rev: 0x0201, maps: []string{"sparable"}},
		tc{name: "bdr-2.50", args: []string{"--media-type=bdr", "--udfrev=2.50"}, blocks: 20000, bs: 2048, rev: 0x0250, maps: []string{"physical", "virtual"}},
		tc{name: "bdr-2.60", args: []string{"--media-type=bdr", "--udfrev=2.60"}, blocks: 20000, bs: 2048, rev: 0x0260, maps: []string{"physical", "virtual"}},
		tc{name: "strategy-4096", args: []string{"--media-type=hd", "--blocksize=2048", "--strategy=4096"}, blocks: 4000, bs: 2048, rev: 0x0201, maps: []string{"physical"}},
	)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "udf.img")
			args := append(append([]string{}, tc.args...), "--label=MKUDF", img, fmt.Sprint(tc.blocks))
			if out, err := exec.Command("mkudffs", args...).CombinedOutput(); err != nil {
				t.Fatalf("mkudffs %v: %v\n%s", args, err, out)
			}
			v, f := openPath(t, img)
			in := v.Info()
			if in.BlockSize != tc.bs || in.Revision != tc.rev || in.VolumeID != "MKUDF" || in.LogicalVolumeID != "MKUDF" {
				t.Errorf("info: bs %d rev %#x vid %q lvid %q", in.BlockSize, in.Revision, in.VolumeID, in.LogicalVolumeID)
			}
			var maps []string
			for _, m := range in.PartitionMaps {
				maps = append(maps, m.Type)
			}
			if fmt.Sprint(maps) != fmt.Sprint(tc.maps) {
				t.Errorf("partition maps %v, want %v", maps, tc.maps)
			}
			root, err := v.Root()
			if err != nil {
				t.Fatal(err)
			}
			checkStat(t, "/", root)
			if root.Stat.Mode != fs.ModeDir|0755 {
				t.Errorf("root mode %v", root.Stat.Mode)
			}
			if tc.sevenZip {
				compareWithSevenZip(t, img, v, f)
			} else if kids, err := v.ReadDir(root); err != nil || len(kids) != 0 {
				t.Errorf("root of a fresh volume: %v entries, %v", len(kids), err)
			}
		})
	}
}

// TestNotUDF checks that images without UDF are rejected with ErrNotISO.
func TestNotUDF(t *testing.T) {
	for _, rel := range []string{"libcdio/copying.iso", "isolyzer/iso9660.iso", "libcdio/malformed.iso", "isolyzer/iso9660_trunc.iso"} {
		p := corpusFile(t, rel)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		_, err = Open(f, st.Size())
		f.Close()
		if !errors.Is(err, core.ErrNotISO) {
			t.Errorf("%s: %v, want ErrNotISO", rel, err)
		}
	}
}
