package wim

import (
	"bytes"
	"io"
	"testing"
)

// Fuzz targets: any input may fail, none may panic, hang or allocate
// beyond what its own size allows. Seeds are the real WIMs in testdata.

func addSamples(f *testing.F) {
	for _, n := range []string{"two-images-lzx.wim", "one-image-xpress.wim", "uncompressed.wim"} {
		f.Add(sample(f, n))
	}
}

// FuzzWIM drives everything a split reads: header, blob table, XML, the
// split plan and every part's bytes, then checks the parts against the
// input.
func FuzzWIM(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		w.Blobs()
		w.Images()
		sp, err := w.Split(4 << 10)
		if err != nil {
			return
		}
		var parts []*WIM
		for _, p := range sp.Parts {
			var buf bytes.Buffer
			n, err := io.Copy(&buf, p.Open())
			if err != nil {
				return
			}
			if n != p.Size {
				t.Fatalf("part %d: %d bytes, planned %d", p.Number, n, p.Size)
			}
			pw, err := Open(bytes.NewReader(buf.Bytes()), n)
			if err != nil {
				t.Fatalf("part %d does not open: %v", p.Number, err)
			}
			parts = append(parts, pw)
		}
		if _, err := CheckSplit(w, parts); err != nil && w.Header.XML.StoredSize > 0 {
			// A split of a readable WIM must match it, unless the XML
			// itself is unreadable (then neither side can be compared).
			if _, xerr := w.Images(); xerr == nil {
				t.Fatalf("CheckSplit of our own split: %v", err)
			}
		}
	})
}

// FuzzHeader feeds ParseHeader arbitrary headers and file sizes.
func FuzzHeader(f *testing.F) {
	for _, n := range []string{"two-images-lzx.wim", "uncompressed.wim"} {
		f.Add(sample(f, n)[:HeaderSize], int64(5000))
	}
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		h, err := ParseHeader(b, size)
		if err != nil {
			return
		}
		// What parses encodes back to the same fields.
		h2, err := ParseHeader(h.Bytes(), size)
		if err != nil || *h2 != *h {
			t.Fatalf("round trip: %+v, %v; want %+v", h2, err, h)
		}
	})
}

// FuzzXML parses arbitrary XML data.
func FuzzXML(f *testing.F) {
	for _, n := range []string{"two-images-lzx.wim", "one-image-xpress.wim"} {
		w, err := Open(bytes.NewReader(sample(f, n)), int64(len(sample(f, n))))
		if err != nil {
			f.Fatal(err)
		}
		x, err := w.XMLData()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		imgs, err := ParseXML(raw)
		if err == nil && len(imgs) > MaxXMLImages {
			t.Fatalf("%d images", len(imgs))
		}
	})
}
