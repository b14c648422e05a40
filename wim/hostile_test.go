package wim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	must(t, err)
	return b
}

// TestSamples reads the committed samples: header, blob table, XML.
func TestSamples(t *testing.T) {
	w, err := Open(bytes.NewReader(sample(t, "two-images-lzx.wim")), int64(len(sample(t, "two-images-lzx.wim"))))
	must(t, err)
	if w.Header.ImageCount != 2 || w.Header.Compression() != "LZX" || w.Header.Integrity.IsZero() {
		t.Fatalf("header %+v", w.Header)
	}
	imgs, err := w.Images()
	must(t, err)
	want := []Image{
		{Index: 1, Name: "Windows 10 Pro", DisplayName: "Windows 10 Pro", Flags: "Professional", EditionID: "Professional", Arch: "x64",
			ProductName: "Microsoft® Windows® Operating System", InstallationType: "Client", Languages: []string{"en-US"}, DefaultLanguage: "en-US",
			Version: "10.0.19045.2965", Build: 19045, DirCount: 3, FileCount: 3, TotalBytes: 620},
		{Index: 2, Name: "Windows 10 Home", Flags: "Core", EditionID: "Core", Arch: "arm64", Languages: []string{"de-DE"},
			Version: "10.0.22621", Build: 22621, DirCount: 1, FileCount: 1, TotalBytes: 7},
	}
	if len(imgs) != 2 {
		t.Fatalf("images %+v", imgs)
	}
	for i := range want {
		if g, w := imgs[i], want[i]; g.Name != w.Name || g.DisplayName != w.DisplayName || g.Edition() != w.EditionID || g.Arch != w.Arch ||
			g.ProductName != w.ProductName || g.InstallationType != w.InstallationType || strings.Join(g.Languages, ",") != strings.Join(w.Languages, ",") ||
			g.DefaultLanguage != w.DefaultLanguage || g.Version != w.Version || g.Build != w.Build || g.FileCount != w.FileCount ||
			g.TotalBytes != w.TotalBytes || g.Index != w.Index || g.Flags != w.Flags {
			t.Errorf("image %d:\n got %+v\nwant %+v", i+1, g, w)
		}
	}
	md, err := w.Metadata()
	must(t, err)
	if len(md) != 2 {
		t.Errorf("%d metadata resources", len(md))
	}
}

// patch returns a copy of b with f applied.
func patch(b []byte, f func(b []byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	return c
}

func put64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func put16(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }

// blobTableAt is the offset of the sample's blob table.
func blobTableAt(b []byte) int { return int(binary.LittleEndian.Uint64(b[56:])) }

// TestHostile: damaged and hostile WIMs give one clear error wrapping
// the right sentinel, in bounded time and memory, and never a panic.
func TestHostile(t *testing.T) {
	good := sample(t, "two-images-lzx.wim")
	tab := blobTableAt(good)
	for _, tc := range []struct {
		name string
		data []byte
		// stage is where the error must appear: open, blobs, xml, split.
		stage string
		want  error
		msg   string
	}{
		{"empty", nil, "open", ErrNotWIM, "shorter than a WIM header"},
		{"not a WIM", bytes.Repeat([]byte("x"), 300), "open", ErrNotWIM, "no MSWIM magic"},
		{"truncated header", good[:100], "open", ErrNotWIM, "shorter"},
		{"pipable", patch(good, func(b []byte) { copy(b, "WLPWM\x00\x00\x00") }), "open", ErrUnsupported, "pipable"},
		{"header size", patch(good, func(b []byte) { put32(b, 8, 1000) }), "open", ErrCorrupt, "header size 1000"},
		{"unknown version", patch(good, func(b []byte) { put32(b, 12, 7) }), "open", ErrUnsupported, "version"},
		{"part 0", patch(good, func(b []byte) { put16(b, 40, 0) }), "open", ErrCorrupt, "part 0 of 1"},
		{"part beyond total", patch(good, func(b []byte) { put16(b, 40, 3) }), "open", ErrCorrupt, "part 3 of 1"},
		{"huge image count", patch(good, func(b []byte) { put32(b, 44, 1<<30) }), "open", ErrCorrupt, "images"},
		{"boot index beyond images", patch(good, func(b []byte) { put32(b, 120, 9) }), "open", ErrCorrupt, "boot index 9"},
		{"bad chunk size", patch(good, func(b []byte) { put32(b, 20, 12345) }), "open", ErrCorrupt, "chunk size"},
		{"blob table past the end", patch(good, func(b []byte) { put64(b, 56, 1<<40) }), "open", ErrCorrupt, "outside"},
		{"blob table size past the end", patch(good, func(b []byte) { put64(b, 48, 1<<50|2<<56) }), "open", ErrCorrupt, "outside"},
		{"XML offset inside the header", patch(good, func(b []byte) { put64(b, 80, 100) }), "open", ErrCorrupt, "outside"},
		{"blob table odd size", patch(good, func(b []byte) {
			v := binary.LittleEndian.Uint64(b[48:])
			put64(b, 48, v-1)
			put64(b, 64, binary.LittleEndian.Uint64(b[64:])-1)
		}), "blobs", ErrCorrupt, "not a multiple of 50"},
		{"compressed blob table", patch(good, func(b []byte) { b[55] |= ResCompressed }), "blobs", ErrUnsupported, "compressed blob table"},
		{"blob past the end", patch(good, func(b []byte) { put64(b, tab+8, 1<<40) }), "blobs", ErrCorrupt, "outside"},
		{"bad part number", patch(good, func(b []byte) { put16(b, tab+24, 7) }), "blobs", ErrCorrupt, "part number 7"},
		{"uncompressed size mismatch", patch(good, func(b []byte) {
			// The first entry made uncompressed with sizes that disagree.
			b[tab+7] &^= ResCompressed
			put64(b, tab+16, 1<<20)
		}), "blobs", ErrCorrupt, "uncompressed resource"},
		{"overlapping resources", patch(good, func(b []byte) {
			// The second entry moved onto the first.
			copy(b[tab+50+8:tab+50+16], b[tab+8:tab+16])
		}), "split", ErrCorrupt, "overlaps"},
		{"resource over the blob table", patch(good, func(b []byte) { put64(b, tab+8, uint64(tab)) }), "split", ErrCorrupt, "overlaps"},
		{"solid resource", patch(good, func(b []byte) { b[tab+7] |= ResSolid }), "split", ErrUnsupported, "solid"},
		{"metadata missing", patch(good, func(b []byte) {
			for i := tab; i < tab+int(binary.LittleEndian.Uint64(b[64:])); i += 50 {
				b[i+7] &^= ResMetadata
			}
		}), "split", ErrCorrupt, "0 metadata resources for 2 images"},
		{"already split", patch(good, func(b []byte) { put16(b, 42, 2) }), "split", ErrUnsupported, "already part 1 of a 2-part set"},
		{"unfinished", patch(good, func(b []byte) { b[16] |= FlagWriteInProgress }), "split", ErrCorrupt, "not finished"},
		{"XML of odd length", patch(good, func(b []byte) {
			put64(b, 72, binary.LittleEndian.Uint64(b[72:])-1)
			put64(b, 88, binary.LittleEndian.Uint64(b[88:])-1)
		}), "xml", ErrCorrupt, "odd length"},
		{"XML garbage", patch(good, func(b []byte) {
			x := int(binary.LittleEndian.Uint64(b[80:]))
			b[x+2] = '>'
		}), "xml", ErrCorrupt, "expected element type <WIM>"},
		{"XML claims too much", patch(good, func(b []byte) { put64(b, 72, MaxXMLSize+2) }), "open", ErrCorrupt, "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			stage := "open"
			w, err := Open(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err == nil {
				stage = "blobs"
				_, err = w.Blobs()
			}
			if err == nil {
				stage = "xml"
				_, err = w.Images()
			}
			if err == nil {
				stage = "split"
				var sp *Split
				sp, err = w.Split(DefaultPartSize)
				if err == nil {
					for _, p := range sp.Parts {
						if _, err = io.Copy(io.Discard, p.Open()); err != nil {
							break
						}
					}
				}
			}
			if err == nil || stage != tc.stage || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error at %s: %v; want at %s: %v containing %q", stage, err, tc.stage, tc.want, tc.msg)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestParseXMLForms(t *testing.T) {
	doc := `<WIM><IMAGE INDEX="2"><NAME> Pro </NAME><WINDOWS><ARCH>0</ARCH></WINDOWS></IMAGE></WIM>`
	u := utf16.Encode([]rune(doc))
	le := []byte{0xff, 0xfe}
	for _, c := range u {
		le = binary.LittleEndian.AppendUint16(le, c)
	}
	for name, raw := range map[string][]byte{"utf16-bom": le, "utf16": le[2:], "utf8": []byte(doc), "utf8-bom": append([]byte{0xef, 0xbb, 0xbf}, doc...)} {
		imgs, err := ParseXML(raw)
		if err != nil || len(imgs) != 1 || imgs[0].Name != "Pro" || imgs[0].Arch != "x86" || imgs[0].Index != 2 {
			t.Errorf("%s: %+v, %v", name, imgs, err)
		}
	}
	if _, err := ParseXML([]byte("<WIM><IMAGE>")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unterminated XML: %v", err)
	}
}
