package mountinfo

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
42 27 0:39 / /tmp/with\040space/mnt ro,nosuid,nodev,relatime shared:5 master:2 - fuse.isofsd /img/a\040b.iso ro,user_id=0,group_id=0
short line
43 27 0:40 / /x rw - 
`
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("parsed %d entries: %+v", len(got), got)
	}
	want := Entry{ID: 42, Major: 0, Minor: 39, MountPoint: "/tmp/with space/mnt", Options: "ro,nosuid,nodev,relatime",
		FSType: "fuse.isofsd", Source: "/img/a b.iso", SuperOptions: "ro,user_id=0,group_id=0"}
	if got[1] != want {
		t.Errorf("got %+v, want %+v", got[1], want)
	}
	if got[0].ID != 22 || got[0].Major != 253 || got[0].MountPoint != "/" || got[0].FSType != "ext4" {
		t.Errorf("root entry %+v", got[0])
	}
	if !HasOption(got[1].Options, "nodev") || HasOption(got[1].Options, "dev") || HasOption(got[1].Options, "no") {
		t.Errorf("HasOption on %q", got[1].Options)
	}
}

// TestParseRejectsBadDevice: a device number that is not MAJ:MIN is an
// error naming the line.
func TestParseRejectsBadDevice(t *testing.T) {
	for _, in := range []string{"1 2 x:y / / rw - ext4 /dev/a rw\n", "x 2 8:1 / / rw - ext4 /dev/a rw\n"} {
		if _, err := Parse(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Fatalf("%q: err %v, want one naming line 1", in, err)
		}
	}
}

// TestFindIn: the topmost mount at a path, found without parsing the
// other lines, is the one Parse gives; escaped names match; a path that
// is only a prefix of another does not.
func TestFindIn(t *testing.T) {
	table := `22 1 0:21 / /mnt rw - tmpfs tmpfs rw
30 22 0:40 / /mnt/a\040b rw,nosuid - fuse.isofsd /i/one.iso ro,user_id=0
31 22 0:41 / /mnt/a rw - fuse.isofsd /i/two.iso ro
32 31 0:42 / /mnt/a ro,nosuid,nodev - fuse.isofsd /i/three.iso ro
33 22 0:43 / /mnt/ab ro - fuse.isofsd /i/four.iso ro
`
	all, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range []string{"/mnt", "/mnt/a b", "/mnt/a", "/mnt/ab", "/mnt/none", "/mn"} {
		got, ok, err := FindIn(strings.NewReader(table), mp)
		var want Entry
		wantOK := false
		for _, e := range all {
			if e.MountPoint == mp {
				want, wantOK = e, true
			}
		}
		if err != nil || ok != wantOK || got != want {
			t.Errorf("FindIn(%q) = %+v %v %v, want %+v %v", mp, got, ok, err, want, wantOK)
		}
	}
	if got := Escape("/a b\\c\td"); got != `/a\040b\134c\011d` {
		t.Errorf("Escape: %q", got)
	}
}
