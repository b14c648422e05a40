package burn

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseDrutil(t *testing.T) {
	list := ParseDrutilList(fixture(t, "drutil-list.txt"))
	want := []DrutilDrive{{1, "ASUS", "SDRW-08U9M-U", "A114", "USB"}, {2, "HL-DT-ST", "DVDRW  GX40N", "RQ00", "USB"}}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("drutil list: %+v", list)
	}
	for _, tc := range []struct {
		file   string
		device string
		want   Media
		speeds string
	}{
		{"drutil-status-cdr-blank.txt", "/dev/disk4", Media{Present: true, Type: "CD-R", Class: ClassWriteOnce, State: StateBlank,
			Sessions: 0, Free: 359844 * 2048, Capacity: 359844 * 2048}, "10x CD, 16x CD, 24x CD"},
		{"drutil-status-cdr-used.txt", "/dev/disk4", Media{Present: true, Type: "CD-R", Class: ClassWriteOnce, State: StateClosed,
			Sessions: -1, Free: 0, Capacity: 160597 * 2048}, "10x CD, 16x CD, 24x CD"},
		{"drutil-status-nomedia.txt", "", Media{State: StateNone, Sessions: -1, Free: -1, Capacity: -1}, ""},
		{"drutil-status-dvdrw-yesno.txt", "/dev/disk5", Media{Present: true, Type: "DVD+RW", Class: ClassOverwritable, State: StateAppendable,
			Sessions: 1, Free: 2231904 * 2048, Capacity: (2231904 + 63436) * 2048}, "2.4x DVD, 4x DVD, 6x DVD, 8x DVD"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			st := ParseDrutilStatus(fixture(t, tc.file))
			if st == nil {
				t.Fatal("no drive found")
			}
			var sp []string
			for _, s := range st.Media.WriteSpeeds {
				sp = append(sp, s.String())
			}
			m := *st.Media
			m.WriteSpeeds = nil
			if st.Device != tc.device || !reflect.DeepEqual(m, tc.want) || strings.Join(sp, ", ") != tc.speeds {
				t.Errorf("device %q media %+v speeds %v", st.Device, m, sp)
			}
		})
	}
	if st := ParseDrutilStatus("Warning: No drives found\n"); st != nil {
		t.Errorf("no drive: %+v", st)
	}
}

func TestParseHdiutil(t *testing.T) {
	list := ParseHdiutilList(fixture(t, "hdiutil-burn-list.txt"))
	if len(list) != 2 || list[1].Description != "HL-DT-ST DVDRW  GX40N RQ00" || !strings.HasSuffix(list[0].Path, "/IODVDServices") {
		t.Fatalf("%+v", list)
	}
	var phases []string
	for _, l := range lines(fixture(t, "hdiutil-burn-puppetstrings.txt")) {
		if p, ok := ParsePuppetstrings(l); ok {
			phases = append(phases, string(p.Phase)+":"+strconv.FormatFloat(p.Percent, 'f', -1, 64))
		}
	}
	want := []string{"write:-1", "write:0", "write:12.5", "write:57.25", "write:100", "close:-1", "write:-1", "close:-1"}
	if !reflect.DeepEqual(phases, want) {
		t.Errorf("phases %v\nwant   %v", phases, want)
	}
	for _, bad := range []string{"PERCENT:150", "PERCENT:-7", "PERCENT:NaN", "PERCENT:", "MESSAGE:"} {
		if p, ok := ParsePuppetstrings(bad); ok && (p.Percent > 100 || p.Percent < -1 || p.Percent != p.Percent) {
			t.Errorf("%q: %+v", bad, p)
		}
	}
}

func TestDarwinEngine(t *testing.T) {
	f := &fakeRun{reply: func(c command) (string, error) {
		args := strings.Join(c.args, " ")
		switch {
		case c.name == "drutil" && args == "list":
			return fixture(t, "drutil-list.txt"), nil
		case c.name == "drutil" && args == "-drive 1 status":
			return fixture(t, "drutil-status-cdr-blank.txt"), nil
		case c.name == "drutil" && args == "-drive 2 status":
			return fixture(t, "drutil-status-nomedia.txt"), nil
		case c.name == "hdiutil" && args == "burn -list":
			return fixture(t, "hdiutil-burn-list.txt"), nil
		case c.name == "hdiutil" && strings.HasPrefix(args, "burn /img/a.iso"):
			return fixture(t, "hdiutil-burn-puppetstrings.txt"), nil
		case c.name == "drutil" && strings.HasSuffix(args, "eject"):
			return "", nil
		}
		return "", &exitStatus{"exit status 1"}
	}}
	e := &Darwin{run: f.run}
	ctx := context.Background()
	ds, err := e.Drives(ctx)
	if err != nil || len(ds) != 2 || ds[0].Path != "1" || ds[1].Model != "DVDRW  GX40N" {
		t.Fatalf("drives %+v %v", ds, err)
	}
	// A drive named by its disc's device is found through drutil status.
	d := &Drive{Path: "/dev/rdisk4"}
	if err := e.Inspect(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d.Path != "1" || d.Device != "/dev/rdisk4" || d.Media == nil || d.Media.State != StateBlank || d.Vendor != "ASUS" {
		t.Fatalf("inspect: %+v %+v", d, d.Media)
	}
	f.calls = nil
	var prog []Progress
	err = e.Burn(ctx, Job{Drive: d, Image: "/img/a.iso", Size: 1000, Speed: 16, Blank: true, Dummy: true}, func(p Progress) { prog = append(prog, p) })
	if err != nil {
		t.Fatal(err)
	}
	burn := f.calls[len(f.calls)-1].args
	list := ParseHdiutilList(fixture(t, "hdiutil-burn-list.txt"))
	want := []string{"burn", "/img/a.iso", "-device", list[0].Path, "-anydevice", "-puppetstrings", "-noverifyburn", "-forceclose", "-noeject",
		"-speed", "16", "-testburn", "-erase"}
	if !reflect.DeepEqual(burn, want) {
		t.Errorf("hdiutil args %q\nwant %q", burn, want)
	}
	var done []int64
	for _, p := range prog {
		if p.Phase == PhaseWrite && p.Percent >= 0 {
			done = append(done, p.Done)
		}
	}
	if !reflect.DeepEqual(done, []int64{0, 125, 572, 1000}) {
		t.Errorf("bytes done %v", done)
	}
	f.calls = nil
	if err := e.Eject(ctx, d); err != nil || !reflect.DeepEqual(f.calls[0].args, []string{"-drive", "1", "eject"}) {
		t.Errorf("eject %v %q", err, f.argv())
	}
	// A failing burn keeps hdiutil's reason.
	e.run = (&fakeRun{reply: func(c command) (string, error) {
		if strings.Join(c.args, " ") == "burn -list" {
			return fixture(t, "hdiutil-burn-list.txt"), nil
		}
		return "PERCENT:3.0\nhdiutil: burn failed - The device failed to respond properly", &exitStatus{"exit status 1"}
	}}).run
	err = e.Burn(ctx, Job{Drive: d, Image: "/img/a.iso", Size: 1000}, nil)
	var ee *EngineError
	if !errors.As(err, &ee) || !ee.Started || !strings.Contains(err.Error(), "The device failed to respond properly") {
		t.Fatalf("failed burn: %v", err)
	}
	// An unknown drive is refused.
	if err := (&Darwin{run: f.run}).Inspect(ctx, &Drive{Path: "/dev/disk9"}); !errors.Is(err, ErrRefused) {
		t.Fatalf("unknown drive: %v", err)
	}
}

func FuzzParseDrutil(f *testing.F) {
	seedFixtures(f, "drutil-", "hdiutil-")
	f.Fuzz(func(t *testing.T, text string) {
		if n := len(ParseDrutilList(text)); n > maxDrives {
			t.Fatalf("%d drives", n)
		}
		if st := ParseDrutilStatus(text); st != nil {
			checkMedia(t, st.Media)
			checkID(t, &Drive{Vendor: st.Vendor, Model: st.Product, Revision: st.Revision})
		}
		if n := len(ParseHdiutilList(text)); n > maxDrives {
			t.Fatalf("%d burners", n)
		}
		for _, l := range lines(text) {
			if p, ok := ParsePuppetstrings(l); ok && (p.Percent > 100 || (p.Percent < 0 && p.Percent != -1)) {
				t.Fatalf("%q: %+v", l, p)
			}
		}
	})
}
