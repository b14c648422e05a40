package burn

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type driveID struct{ Path, Vendor, Model string }

func ids(ds []*Drive) []driveID {
	var out []driveID
	for _, d := range ds {
		out = append(out, driveID{d.Path, d.Vendor, d.Model})
	}
	return out
}

func TestParseDevicesFixtures(t *testing.T) {
	for _, tc := range []struct {
		file    string
		program string
		want    []driveID
	}{
		{"xorriso-devices-tssl633j.txt", "xorriso", []driveID{{"/dev/sr0", "TSSTcorp", "DVD+-RW TS-L633J"}}},
		// The busy drive is not listed (libburn could not open it); its
		// SORRY lines must not be taken for drives.
		{"xorriso-devices-busy.txt", "xorriso", []driveID{{"/dev/sr0", "TSSTcorp", "CDDVDW SH-S223C"}}},
		// The man page's first line lacks its closing quote.
		{"xorriso-device_links-manpage.txt", "xorriso", []driveID{
			{"/dev/cdrom1", "TSSTcorp", "DVD-ROM SH-D162C"},
			{"/dev/cdrw", "TSSTcorp", "CDDVDW SH-S223B"},
			{"/dev/cdrw3", "HL-DT-ST", "BDDVDRW_GGC-H20L"}}},
		{"cdrskin-devices-busy.txt", "cdrskin", []driveID{{"/dev/sr0", "TSSTcorp", "CDDVDW SH-S223C"}}},
		// Each front end's listing read by the other's parser yields nothing.
		{"cdrskin-devices-busy.txt", "xorriso", nil},
		{"xorriso-devices-busy.txt", "cdrskin", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := ids(ParseDevices(tc.program, fixture(t, tc.file)))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseScanbusFixtures(t *testing.T) {
	got := ParseScanbus(fixture(t, "scanbus-wodim-gh41n.txt"))
	want := []ScanbusEntry{{"1,0,0", "HL-DT-ST", "DVDRAM GH41N", "MN01"}, {"11,0,0", "ASUS", "SDRW-08D1S-U", "A202"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wodim: got %+v\nwant %+v", got, want)
	}
	got = ParseScanbus(fixture(t, "scanbus-cdrecord-lkml.txt"))
	want = []ScanbusEntry{{"0,0,0", "LG", "CD-ROM CRD-8400B", "1.03"}, {"0,1,0", "PIONEER", "DVD-ROM DVD-103", "1.16"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lkml: got %+v\nwant %+v", got, want)
	}
}

func TestParseXorrisoMediaFixtures(t *testing.T) {
	for _, tc := range []struct {
		file            string
		vendor, model   string
		want            Media
		speeds          []string
		drivePathUnused bool
	}{
		{file: "xorriso-toc-dvdplusr-appendable.txt", vendor: "TSSTcorp", model: "CDDVDW SE-S084F",
			want: Media{Present: true, Type: "DVD+R", Class: ClassWriteOnce, State: StateAppendable, Sessions: 5,
				Free: 1925136 * 2048, Capacity: 2295104 * 2048, Product: "CMC_MAG/M01/48 , CMC Magnetics Corporation"}},
		// A half-burnt disc whose table of content cannot be read: still
		// appendable write-once media, which burn refuses.
		{file: "xorriso-toc-dvdplusr-notoc.txt", vendor: "TSSTcorp", model: "CDDVDW SE-S084F",
			want: Media{Present: true, Type: "DVD+R", Class: ClassWriteOnce, State: StateAppendable, Sessions: -1,
				Free: 36416 * 2048, Capacity: 2295104 * 2048, Product: "CMC_MAG/M01/48 , CMC Magnetics Corporation"}},
		{file: "xorriso-toc-dvdrw-appendable.txt",
			want: Media{Present: true, Type: "DVD-RW sequential recording", Class: ClassRewritable, State: StateAppendable,
				Sessions: 1, Free: 2123520 * 2048, Capacity: 2298496 * 2048, Product: "RITEKW04 , Ritek Corp"}},
		{file: "xorriso-toc-nomedia.txt", vendor: "TSSTcorp", model: "DVD+-RW TS-L633J",
			want: Media{State: StateNone, Sessions: -1, Free: -1, Capacity: -1}},
		{file: "xorriso-space-dvdrw-overwrite.txt",
			want: Media{Present: true, Type: "DVD-RW restricted overwrite", Class: ClassOverwritable, State: StateBlank,
				Sessions: 0, Free: 4488 << 20, Capacity: 4488 << 20}},
		{file: "xorriso-toc-stdio-loop2m.txt", vendor: "YOYODYNE", model: "WARP DRIVE",
			want: Media{Present: true, Type: "stdio file, overwriteable", Class: ClassOverwritable, State: StateBlank,
				Sessions: 0, Free: 2 << 20, Capacity: 2 << 20}},
		{file: "xorriso-toc-stdio-written.txt", vendor: "YOYODYNE", model: "WARP DRIVE",
			want: Media{Present: true, Type: "stdio file, overwriteable", Class: ClassOverwritable, State: StateAppendable, Sessions: 1}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := &Drive{}
			m := ParseXorrisoMedia(fixture(t, tc.file), d)
			if m == nil {
				t.Fatal("no media report found")
			}
			if tc.want.Free == 0 && tc.want.Capacity == 0 {
				// The pseudo-drive's free space is the filesystem's: only
				// check that it was read.
				if m.Free <= 0 || m.Capacity <= 0 {
					t.Errorf("free %d capacity %d, want both read", m.Free, m.Capacity)
				}
				tc.want.Free, tc.want.Capacity = m.Free, m.Capacity
			}
			m.WriteSpeeds = nil
			if !reflect.DeepEqual(*m, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *m, tc.want)
			}
			if d.Vendor != tc.vendor || d.Model != tc.model {
				t.Errorf("drive %q %q, want %q %q", d.Vendor, d.Model, tc.vendor, tc.model)
			}
		})
	}
}

// xorriso's -list_speeds lines, in the format of xorriso's drive_mgt.c
// (" %5dk , %4.1fx%s"): built for this test, with the speeds an ASUS
// BW-16D1HT offers for a 16x DVD-R according to libburn's author (8x, 12x,
// 16x; Ubuntu Forums, "Brasero - Speed and Finalisation", 2018-03-20).
const listSpeedsDVDR = `Media current: DVD-R sequential recording
Media status : is blank
Media blocks : 0 readable , 2298496 writable , 2298496 overall
Write speed  :  22160k , 16.0xD
Write speed  :  11080k ,  8.0xD
Write speed  :  16620k , 12.0xD
Write speed L:  11080k ,  8.0xD
Write speed H:  22160k , 16.0xD
`

func TestParseXorrisoSpeeds(t *testing.T) {
	m := ParseXorrisoMedia(listSpeedsDVDR, nil)
	var got []string
	for _, s := range m.WriteSpeeds {
		got = append(got, s.String())
	}
	if want := []string{"8x DVD", "12x DVD", "16x DVD"}; !reflect.DeepEqual(got, want) {
		t.Errorf("speeds %v, want %v (sorted, the L/H summary lines not repeated)", got, want)
	}
	// Without individual entries the L and H lines are the list.
	m = ParseXorrisoMedia(strings.ReplaceAll(listSpeedsDVDR, "Write speed  :", "Other        :"), nil)
	if len(m.WriteSpeeds) != 2 || m.WriteSpeeds[0].KBps != 11080 {
		t.Errorf("L/H only: %+v", m.WriteSpeeds)
	}
}

func TestParseCdrskinMediaFixtures(t *testing.T) {
	for _, tc := range []struct {
		file                    string
		space                   int64
		vendor, model, revision string
		want                    Media
		speed                   string
	}{
		{file: "cdrskin-minfo-bdr-blank.txt", space: -1, vendor: "PIONEER", model: "BD-RW BDR-207D", revision: "1.21",
			want: Media{Present: true, Type: "BD-R sequential recording", Class: ClassWriteOnce, State: StateBlank,
				Sessions: 0, Free: 12219392 * 2048, Capacity: 12219392 * 2048, Product: "RITEK/BR2/0"},
			speed: "10x BD"},
		// Overwritable media with data: cdrecord says "complete", but they
		// are rewritten in place, never closed.
		{file: "cdrskin-minfo-dvdplusrw.txt", space: 2295104, vendor: "HL-DT-ST", model: "DVDRAM GT50N", revision: "LC02",
			want: Media{Present: true, Type: "DVD+RW", Class: ClassOverwritable, State: StateAppendable,
				Sessions: 1, Free: 2295104 * 2048, Capacity: 2295104 * 2048, Product: "RITEK/004/48"},
			speed: "4x DVD"},
		{file: "cdrskin-minfo-dvdrom.txt", space: -1, vendor: "hp", model: "DVD-ROM SU-108GB", revision: "JN00",
			want: Media{Present: true, Type: "DVD-ROM", Class: ClassReadOnly, State: StateClosed, Sessions: 1,
				Free: -1, Capacity: 2295104 * 2048}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := &Drive{}
			text := fixture(t, tc.file)
			space := tc.space
			if space > 0 {
				space *= SectorSize
			}
			m := ParseCdrskinMedia(text, space, d)
			if m == nil {
				t.Fatal("no media report found")
			}
			if !reflect.DeepEqual(*m, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *m, tc.want)
			}
			if d.Vendor != tc.vendor || d.Model != tc.model || d.Revision != tc.revision {
				t.Errorf("drive %q %q %q", d.Vendor, d.Model, d.Revision)
			}
			sp := cdrskinMaxSpeed(lines(text), m.Family())
			got := ""
			if len(sp) == 1 {
				got = sp[0].String()
			}
			if got != tc.speed {
				t.Errorf("max speed %q, want %q", got, tc.speed)
			}
		})
	}
}

func TestParseLibburnProgressFixtures(t *testing.T) {
	type step struct {
		phase       Phase
		done, total int64
	}
	for _, tc := range []struct {
		file  string
		first step
		last  step
		count int
	}{
		{"xorriso-burn-dvdplusr.txt", step{PhaseWrite, 0, 1986 << 20}, step{PhaseWrite, 823 << 20, 1986 << 20}, 7},
		{"xorriso-burn-stdio.txt", step{PhaseWrite, 0, 58 << 20}, step{PhaseWrite, 48 << 20, 58 << 20}, 9},
		// cdrskin redraws its line with \r, and ends with the exact count.
		{"cdrskin-burn-stdio.txt", step{PhaseWrite, 2 << 20, 57 << 20}, step{PhaseWrite, 60751872, 60751872}, 25},
		{"cdrskin-burn-bdr.txt", step{PhaseWrite, 22514 << 20, 22514 << 20}, step{PhaseWrite, 23608295424, 23608295424}, 4},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var got []Progress
			for _, l := range lines(fixture(t, tc.file)) {
				if p, ok := ParseLibburnProgress(l); ok {
					got = append(got, p)
				}
			}
			if len(got) != tc.count {
				t.Fatalf("%d progress lines, want %d: %+v", len(got), tc.count, got)
			}
			var writes []Progress
			for _, p := range got {
				if p.Phase == PhaseWrite {
					writes = append(writes, p)
				}
			}
			f, l := writes[0], writes[len(writes)-1]
			if (step{f.Phase, f.Done, f.Total}) != tc.first || (step{l.Phase, l.Done, l.Total}) != tc.last {
				t.Errorf("first %+v last %+v, want %+v %+v", f, l, tc.first, tc.last)
			}
		})
	}
	if p, ok := ParseLibburnProgress("Fixating..."); !ok || p.Phase != PhaseClose {
		t.Errorf("Fixating: %+v %v", p, ok)
	}
	if p, ok := ParseLibburnProgress("xorriso : UPDATE : Blanking  ( 12.5% done in 3 seconds )"); !ok || p.Phase != PhaseBlank || p.Percent != 12.5 {
		t.Errorf("blanking: %+v %v", p, ok)
	}
}

func TestParseMessages(t *testing.T) {
	var errs []string
	for _, l := range lines(fixture(t, "xorriso-burn-dvdplusrdl-failed.txt")) {
		if m, ok := ParseMessage(l); ok && m.IsError() {
			errs = append(errs, m.Source+" "+m.Severity)
		}
	}
	want := []string{"libburn FATAL", "xorriso FATAL", "xorriso FAILURE", "xorriso FAILURE"}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("errors %v, want %v", errs, want)
	}
	m, ok := ParseMessage("cdrskin: FATAL : No suitable media detected")
	if !ok || m.Source != "cdrskin" || m.Severity != "FATAL" || m.Text != "No suitable media detected" {
		t.Errorf("cdrskin message: %+v %v", m, ok)
	}
	if m, ok := ParseMessage("cdrskin: SORRY: Cannot obtain speed list info"); !ok || !m.IsError() {
		t.Errorf("cdrskin SORRY without a blank: %+v %v", m, ok)
	}
	for _, l := range []string{"xorriso : UPDATE :    0 of 1986 MB written", "xorriso : NOTE : Gave up -outdev ''"} {
		if m, ok := ParseMessage(l); !ok || m.IsError() {
			t.Errorf("%q: %+v %v, want a message that is not an error", l, m, ok)
		}
	}
}

func TestParseCDROMInfoFixtures(t *testing.T) {
	for _, tc := range []struct {
		file   string
		names  []string
		writes [][]string
		speed  []int
	}{
		{"cdrom-info-two-drives.txt", []string{"sr1", "sr0"}, [][]string{nil, {"CD-R", "CD-RW", "DVD-R", "DVD-RAM"}}, []int{1, 48}},
		{"cdrom-info-dvdrom.txt", []string{"sr0"}, [][]string{nil}, []int{24}},
		{"cdrom-info-ide.txt", []string{"hdc"}, [][]string{{"CD-R", "CD-RW", "DVD-R"}}, []int{48}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := ParseCDROMInfo(fixture(t, tc.file))
			if len(got) != len(tc.names) {
				t.Fatalf("%d drives, want %d", len(got), len(tc.names))
			}
			for i, c := range got {
				if c.Name != tc.names[i] || !reflect.DeepEqual(c.Writes(), tc.writes[i]) || c.Speed != tc.speed[i] {
					t.Errorf("drive %d: %s writes %v speed %d, want %s %v %d", i, c.Name, c.Writes(), c.Speed, tc.names[i], tc.writes[i], tc.speed[i])
				}
				if !c.Caps["Can play audio"] {
					t.Errorf("%s: Can play audio not read", c.Name)
				}
			}
		})
	}
}

func TestSystemDrivesFixture(t *testing.T) {
	ds, err := SystemDrives("testdata/sysfs-optiarc", "/dev", "testdata/cdrom-info-two-drives.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Path+"|"+d.Vendor+"|"+d.Model+"|"+d.Revision+"|"+strings.Join(d.Writes, ","))
	}
	want := []string{
		"/dev/sr0|Optiarc|DVD RW AD-7200A|1.06|CD-R,CD-RW,DVD-R,DVD-RAM",
		"/dev/sr1||||", // a reader the post does not name: listed, writes nothing
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q (the hard disk sda must not be listed)", got, want)
	}
}
