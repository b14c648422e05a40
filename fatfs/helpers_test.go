package fatfs

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// materialize writes a layout's regions into w at base, taking file
// contents from Node.Data ([]byte).
func materialize(t testing.TB, w io.WriterAt, base int64, l *Layout) {
	t.Helper()
	for _, r := range l.Regions {
		var b []byte
		switch r.Kind {
		case RegionBytes:
			b = r.Bytes
		case RegionZero:
			continue // the image starts zeroed
		case RegionFAT:
			b = make([]byte, r.Len)
			l.FATBytes(b, 0)
		case RegionFile:
			b = r.File.Data.([]byte)
		}
		if int64(len(b)) != r.Len {
			t.Fatalf("region at %d: %d bytes, want %d", r.Off, len(b), r.Len)
		}
		_, err := w.WriteAt(b, base+r.Off)
		must(t, err)
	}
}

// mtools runs an mtools command on img (with TZ=UTC, so that FAT's local
// times read as UTC) and returns its output.
func mtools(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// testTree is a tree exercising names, sizes and times.
func testTree() *Node {
	at := func(y, mo, d, h, mi, s int) time.Time { return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC) }
	file := func(name string, data []byte, mod time.Time) *Node {
		return &Node{Name: name, Size: int64(len(data)), Data: data, Modified: mod, Created: mod.Add(-time.Hour), Accessed: mod}
	}
	dir := func(name string, mod time.Time, kids ...*Node) *Node {
		return &Node{Name: name, Dir: true, Modified: mod, Created: mod, Children: kids}
	}
	var many []*Node
	for i := range 300 {
		many = append(many, file(fmt.Sprintf("entry number %03d.txt", i), []byte(strings.Repeat("x", i)), at(2020, 1, 1, 0, 0, 0)))
	}
	return dir("", at(2021, 1, 1, 0, 0, 0),
		file("BOOTMGR", randBytes(1, 383786), at(2019, 12, 7, 9, 48, 40)),
		file("setup.exe", randBytes(2, 80000), at(2019, 12, 7, 9, 48, 41)),
		file("autorun.inf", []byte("[AutoRun.Amd64]\r\nopen=setup.exe\r\n"), at(2019, 12, 7, 9, 48, 42)),
		file("empty", nil, at(2005, 6, 7, 8, 9, 10)),
		file("Grüße aus Köln.txt", []byte("grüße\n"), at(2030, 2, 3, 4, 5, 6)),
		file("日本語のファイル名.txt", []byte("nihongo\n"), at(2001, 9, 9, 1, 46, 40)),
		file("a name that is much longer than thirteen characters and needs several long-name entries.bin", randBytes(3, 5000), at(1999, 1, 1, 0, 0, 0)),
		file("UPPER.TXT", []byte("upper"), at(2010, 10, 10, 10, 10, 10)),
		file("upper2.txt", []byte("lower"), at(2010, 10, 10, 10, 10, 12)),
		file(".hidden", []byte("dot"), at(2010, 1, 1, 1, 1, 2)),
		file("two.dots.tar.gz", []byte("tgz"), at(2010, 1, 1, 1, 1, 2)),
		dir("efi", at(2019, 12, 7, 9, 0, 0),
			dir("boot", at(2019, 12, 7, 9, 0, 0),
				file("bootx64.efi", randBytes(4, 1<<20+1), at(2019, 12, 7, 9, 48, 40)),
				file("bootia32.efi", randBytes(5, 4096), at(2019, 12, 7, 9, 48, 40)))),
		dir("sources", at(2019, 12, 7, 9, 0, 0),
			file("boot.wim", randBytes(6, 3<<20+17), at(2019, 12, 7, 9, 48, 40)),
			dir("many", at(2019, 12, 7, 9, 0, 0), many...),
			dir("empty dir", at(2019, 12, 7, 9, 0, 0))),
	)
}
