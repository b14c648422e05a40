package recover

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/fatfs"

	"github.com/isofsd/isofsd/recover/fsmeta"
	"github.com/isofsd/isofsd/recover/fsmeta/fsmetatest"
)

// TestFATSeedImage: the deleted files of a real FAT volume (mkfs.fat +
// mtools, recover/testdata/undelete/mk.sh) are listed under their long
// names, rebuilt over the free clusters after their first one, and the
// notes say that was assumed.
func TestFATSeedImage(t *testing.T) {
	img := fsmetatest.Image(t, "fat.img")
	fss := FindFileSystems(bytes.NewReader(img), int64(len(img)))
	if len(fss) != 1 || fss[0].Kind != "fat" {
		t.Fatalf("file systems: %+v", fss)
	}
	files, err := fss[0].list(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var frag *fsmeta.File
	for _, f := range files {
		if f.Name == "fragmented.iso" {
			frag = f
		}
	}
	if frag == nil || frag.Size != 40000 || frag.Complete || len(frag.Notes) == 0 {
		t.Fatalf("fragmented.iso: %+v", frag)
	}
	t.Logf("fragmented.iso: %+v", frag.Extents)
	for _, e := range frag.Extents {
		if i := bytes.IndexFunc(img[e.Physical:e.Physical+e.Length], func(r rune) bool { return r != 'a' }); i >= 0 {
			t.Errorf("extent %+v holds other bytes at %d", e, i)
		}
	}
}

// FuzzFileSystems runs file-system detection and the deleted-file
// listing of every reader over mutated real volumes (exFAT, ext4, FAT;
// NTFS has its own targets in recover/ntfs).
func FuzzFileSystems(f *testing.F) {
	for _, n := range []string{"exfat.img", "ext4.img", "fat.img"} {
		f.Add(fsmetatest.Sparse(fsmetatest.Image(f, n)))
	}
	const size = 4 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		src := fsmetatest.FromSparse(b, size)
		for _, fs := range FindFileSystems(src, size) {
			if fs.list == nil {
				continue
			}
			files, _ := fs.list(ctx, nil)
			for _, f := range files {
				for _, e := range f.Extents {
					if !e.Zero && (e.Physical < 0 || e.Physical+e.Length > size) {
						t.Fatalf("%s %s: extent %+v outside the source", fs.Kind, f.ID, e)
					}
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatal("listing took more than 10 s")
		}
	})
}

// TestFATHostile: boot sectors with impossible geometry are not taken
// for FAT, and a deleted entry claiming a 4 GiB file maps no more than the
// free clusters.
func TestFATHostile(t *testing.T) {
	img := fsmetatest.Image(t, "fat.img")
	for _, c := range []struct {
		name string
		edit func(b []byte)
	}{
		{"zero sectors per cluster", func(b []byte) { b[13] = 0 }},
		{"3 sectors per cluster", func(b []byte) { b[13] = 3 }},
		{"FAT larger than the volume", func(b []byte) { binary.LittleEndian.PutUint16(b[22:], 0xFFFF) }},
		{"no signature", func(b []byte) { b[510] = 0 }},
	} {
		b := append([]byte(nil), img...)
		c.edit(b)
		if fss := FindFileSystems(bytes.NewReader(b), int64(len(b))); len(fss) != 0 {
			t.Errorf("%s: taken for %+v", c.name, fss[0])
		}
	}
	// A deleted entry with size 4 GiB - 1.
	b := append([]byte(nil), img...)
	fss := FindFileSystems(bytes.NewReader(b), int64(len(b)))
	files, err := fss[0].list(context.Background(), nil)
	if err != nil || len(files) == 0 {
		t.Fatalf("%v, %d files", err, len(files))
	}
	// Find its directory entry and make it claim 4 GiB.
	var id string
	for _, f := range files {
		if f.Name == "fragmented.iso" {
			id = f.ID
		}
	}
	var at int64
	if _, err := fmt.Sscanf(id, "deleted directory entry at byte %d", &at); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[at+28:], 0xFFFFFFFF)
	files, _ = fss[0].list(context.Background(), nil)
	files2, _ := FindFileSystems(bytes.NewReader(b), int64(len(b)))[0].list(context.Background(), nil)
	for _, f := range append(files, files2...) {
		if f.Stored() > int64(len(img)) {
			t.Errorf("%s maps %d bytes on a %d-byte volume", f.Name, f.Stored(), len(img))
		}
	}
}

// TestFATListingDamage: a live directory that cannot be read makes the
// listing an error naming it, while the files of the other directories
// are still listed; a deleted directory whose first cluster is in use
// again is a note, not an error.
func TestFATListingDamage(t *testing.T) {
	img := append([]byte(nil), fsmetatest.Image(t, "fat.img")...)
	v, err := fatfs.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := v.ReadDirEntries(".", true)
	if err != nil {
		t.Fatal(err)
	}
	var live, gone *fatfs.Entry
	var free uint32
	for i := range root {
		e := &root[i]
		switch {
		case e.Name == "fragmented.iso":
			free = e.FirstCluster
		case !e.Deleted && live == nil:
			live = e
		case e.Deleted && gone == nil:
			gone = e
		}
	}
	if live == nil || gone == nil || free == 0 {
		t.Fatalf("seed image: %+v", root)
	}
	asDir := func(e *fatfs.Entry, c uint32) {
		img[e.Offset+11] = byte(fatfs.AttrDirectory)
		binary.LittleEndian.PutUint16(img[e.Offset+26:], uint16(c))
	}
	asDir(gone, live.FirstCluster) // in use by the live file
	asDir(live, free)              // a free cluster: no chain
	fss := FindFileSystems(bytes.NewReader(img), int64(len(img)))
	if len(fss) != 1 {
		t.Fatalf("file systems: %+v", fss)
	}
	files, err := fss[0].list(context.Background(), nil)
	t.Logf("error: %v; notes: %q", err, fss[0].Notes)
	if err == nil || !strings.Contains(err.Error(), "could not be read") || !strings.Contains(err.Error(), "directory "+live.Name) {
		t.Errorf("listing error: %v", err)
	}
	found := false
	for _, f := range files {
		found = found || f.Name == "fragmented.iso"
	}
	if !found {
		t.Errorf("fragmented.iso not listed beside the broken directory")
	}
	if n := strings.Join(fss[0].Notes, "; "); !strings.Contains(n, "hold other data since") || !strings.Contains(n, "in use again") {
		t.Errorf("notes: %q", n)
	}
}
