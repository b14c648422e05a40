package diskio

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestOpenInputRefusesWhatIsNoImage(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "image.iso")
	if err := os.WriteFile(reg, make([]byte, 6144), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := OpenInput(reg)
	if err != nil {
		t.Fatalf("regular file: %v", err)
	}
	if in.Size != 6144 || in.Device {
		t.Errorf("regular file: size %d device %v, want 6144 false", in.Size, in.Device)
	}
	in.Close()

	cases := []struct{ name, path, kind string }{
		{"directory", dir, "directory"},
	}
	if fifo := makeFIFO(t, dir); fifo != "" {
		// Opening a FIFO for reading blocks until a writer comes: a test
		// that hangs here is the bug this guards against.
		cases = append(cases, struct{ name, path, kind string }{"fifo", fifo, "named pipe (FIFO)"})
		cases = append(cases, struct{ name, path, kind string }{"endless character device", "/dev/zero", "character device"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := OpenInput(c.path)
			if err == nil {
				in.Close()
				t.Fatalf("%s accepted as an input", c.path)
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Kind != c.kind || !errors.Is(err, ErrNotInput) {
				t.Fatalf("error %v (%T), want an *InputError of kind %q", err, err, c.kind)
			}
			if !strings.HasPrefix(err.Error(), c.path+": ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q does not start with the path or is not one line", err)
			}
		})
	}

	_, err = OpenInput(filepath.Join(dir, "missing.iso"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.iso") {
		t.Errorf("missing file: %v, want ErrNotExist naming the path", err)
	}
}

func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(p, 0o600, func(w io.Writer) error {
		w.Write([]byte("half of tw"))
		return errors.New("disk full")
	}); err == nil || err.Error() != "disk full" {
		t.Fatalf("failed fill: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Errorf("after a failed write the file holds %q, want the old %q", b, "one")
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "two" || (runtime.GOOS != "windows" && st.Mode().Perm() != 0o640) {
		t.Errorf("file holds %q mode %v, want %q 0640", b, st.Mode().Perm(), "two")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}

	// A symlink at the final name is replaced, never followed.
	if runtime.GOOS != "windows" {
		victim := filepath.Join(dir, "victim")
		os.WriteFile(victim, []byte("keep"), 0o644)
		link := filepath.Join(dir, "link")
		os.Symlink(victim, link)
		if err := WriteFileAtomic(link, []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(victim); string(b) != "keep" {
			t.Errorf("the write followed a symlink: victim holds %q", b)
		}
	}
}

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 1 << 20} {
		b := AlignedBuffer(n)
		if len(b) != n || cap(b) != n || !IsAligned(b) {
			t.Errorf("AlignedBuffer(%d): len %d cap %d aligned %v", n, len(b), cap(b), IsAligned(b))
		}
	}
}
