package burn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/isofsd/isofsd/internal/safetext"
)

// Every parser reads text another program printed; a drive's vendor and
// model strings are whatever its firmware says, and a pseudo-drive's path
// is whatever a user named it. The fuzz targets and the hostile table below
// check that no input panics, that nothing grows past the caps, and that
// every number that comes out is sane.

// seedFixtures adds every text fixture as a seed.
func seedFixtures(f *testing.F, prefixes ...string) {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		for _, p := range prefixes {
			if strings.HasPrefix(e.Name(), p) && strings.HasSuffix(e.Name(), ".txt") {
				b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(string(b))
			}
		}
	}
}

func checkDrives(t *testing.T, ds []*Drive) {
	t.Helper()
	if len(ds) > maxDrives {
		t.Fatalf("%d drives, cap is %d", len(ds), maxDrives)
	}
	for _, d := range ds {
		checkID(t, d)
	}
}

func checkID(t *testing.T, d *Drive) {
	t.Helper()
	for _, s := range []string{d.Vendor, d.Model, d.Revision} {
		if !safetext.IsTerm(s) {
			t.Fatalf("control or format character kept in %q", s)
		}
		if len(s) > maxLineBytes {
			t.Fatalf("identity string of %d bytes", len(s))
		}
	}
}

func checkMedia(t *testing.T, m *Media) {
	t.Helper()
	if m == nil {
		return
	}
	if m.Free < -1 || m.Capacity < -1 || m.Sessions < -1 {
		t.Fatalf("negative size or count: %+v", m)
	}
	if len(m.WriteSpeeds) > maxSpeeds {
		t.Fatalf("%d speeds", len(m.WriteSpeeds))
	}
	for i, s := range m.WriteSpeeds {
		if s.KBps <= 0 || s.X < 0 || (i > 0 && s.KBps < m.WriteSpeeds[i-1].KBps) {
			t.Fatalf("bad speed list %+v", m.WriteSpeeds)
		}
	}
	if m.Present != (m.State != StateNone) {
		t.Fatalf("present %v with state %s", m.Present, m.State)
	}
	if m.Class != ClassifyType(m.Type) && m.Present {
		t.Fatalf("class %s for type %q", m.Class, m.Type)
	}
}

func FuzzParseDevices(f *testing.F) {
	seedFixtures(f, "xorriso-dev", "cdrskin-dev")
	f.Fuzz(func(t *testing.T, text string) {
		checkDrives(t, ParseDevices("xorriso", text))
		checkDrives(t, ParseDevices("cdrskin", text))
	})
}

func FuzzParseScanbus(f *testing.F) {
	seedFixtures(f, "scanbus")
	f.Fuzz(func(t *testing.T, text string) {
		es := ParseScanbus(text)
		if len(es) > maxDrives {
			t.Fatalf("%d entries", len(es))
		}
		for _, e := range es {
			checkID(t, &Drive{Vendor: e.Vendor, Model: e.Model, Revision: e.Revision})
		}
	})
}

func FuzzParseXorrisoMedia(f *testing.F) {
	seedFixtures(f, "xorriso-")
	f.Add(listSpeedsDVDR)
	f.Fuzz(func(t *testing.T, text string) {
		d := &Drive{}
		checkMedia(t, ParseXorrisoMedia(text, d))
		checkID(t, d)
	})
}

func FuzzParseCdrskinMedia(f *testing.F) {
	seedFixtures(f, "cdrskin-")
	f.Fuzz(func(t *testing.T, text string) {
		d := &Drive{}
		m := ParseCdrskinMedia(text, 1<<20, d)
		checkMedia(t, m)
		checkID(t, d)
		for _, s := range cdrskinMaxSpeed(lines(text), m.Family()) {
			if s.KBps <= 0 {
				t.Fatalf("speed %+v", s)
			}
		}
	})
}

func FuzzParseLibburnProgress(f *testing.F) {
	seedFixtures(f, "xorriso-burn", "cdrskin-burn")
	f.Fuzz(func(t *testing.T, text string) {
		for _, l := range lines(text) {
			if p, ok := ParseLibburnProgress(l); ok {
				if p.Done < 0 || p.Total < p.Done || p.Percent > 100 || (p.Percent < 0 && p.Percent != -1) {
					t.Fatalf("%q: %+v", l, p)
				}
			}
			if m, ok := ParseMessage(l); ok && (m.Source == "" || m.Severity == "") {
				t.Fatalf("%q: %+v", l, m)
			}
		}
	})
}

func FuzzParseCDROMInfo(f *testing.F) {
	seedFixtures(f, "cdrom-info")
	f.Fuzz(func(t *testing.T, text string) {
		cs := ParseCDROMInfo(text)
		if len(cs) > maxDrives {
			t.Fatalf("%d drives", len(cs))
		}
		for _, c := range cs {
			if len(c.Caps) > maxCDROMRows {
				t.Fatalf("%d capabilities", len(c.Caps))
			}
			c.Writes()
		}
	})
}

func FuzzShellWord(f *testing.F) {
	for _, s := range []string{`'/dev/sr0' rwrw--`, `'/tmp/a'"'"'b' x`, `bare rest`, `'unclosed`, `"x"'y'z`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, rest, ok := shellWord(s)
		if ok && len(w)+len(rest) > len(s) {
			t.Fatalf("%q: word %q rest %q longer than the input", s, w, rest)
		}
		q, rest2, _ := quoted(s)
		if len(q)+len(rest2) > len(s) {
			t.Fatalf("%q: quoted %q rest %q", s, q, rest2)
		}
	})
}

func TestHostileEngineText(t *testing.T) {
	manyDrives := strings.Repeat("0  -dev '/dev/sr0' rwrw-- :  'A' 'B'\n", 10*maxDrives)
	manySpeeds := "Media current: DVD-R\nMedia status : is blank\n"
	for i := 1; i <= 5*maxSpeeds; i++ {
		manySpeeds += "Write speed  :  " + strings.Repeat("1", 1+i%5) + "0k , 1.0xD\n"
	}
	huge := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name  string
		text  string
		check func(t *testing.T, text string)
	}{
		{"many drives are capped", manyDrives, func(t *testing.T, s string) {
			if n := len(ParseDevices("xorriso", s)); n != maxDrives {
				t.Errorf("%d drives, want the cap %d", n, maxDrives)
			}
		}},
		{"many speeds are capped", manySpeeds, func(t *testing.T, s string) {
			if m := ParseXorrisoMedia(s, nil); m == nil || len(m.WriteSpeeds) > maxSpeeds {
				t.Errorf("speeds not capped: %v", m)
			}
		}},
		{"a megabyte without a newline", "0  -dev '" + huge + "' rwrw-- : 'A' 'B'", func(t *testing.T, s string) {
			checkDrives(t, ParseDevices("xorriso", s))
			if ParseXorrisoMedia(s, nil) != nil {
				t.Error("media found in a single long line")
			}
		}},
		{"unclosed quote in the path", "0  -dev '/dev/sr0 rwrw-- :  'A' 'B'\n", func(t *testing.T, s string) {
			// The quote closes late, so the path swallows the rest: a
			// drive may come out, but never with a made-up identity.
			for _, d := range ParseDevices("xorriso", s) {
				if d.Vendor != "" || d.Model != "" {
					t.Errorf("identity from a broken line: %+v", d)
				}
			}
		}},
		{"terminal escapes in the model", "0  -dev '/dev/sr0' rwrw-- :  'EVIL\x1b[2J\u009b2J' 'M\x07odel\x00\u202e'\n", func(t *testing.T, s string) {
			ds := ParseDevices("xorriso", s)
			if len(ds) != 1 || ds[0].Vendor != "EVIL[2J2J" || ds[0].Model != "Model" {
				t.Errorf("got %+v", ids(ds))
			}
		}},
		{"overflowing block counts", "Media current: DVD+R\nMedia status : is blank\nMedia blocks : 0 readable , 99999999999999999999 writable , 18446744073709551615 overall\n", func(t *testing.T, s string) {
			m := ParseXorrisoMedia(s, nil)
			if m == nil || m.Free != -1 || m.Capacity != -1 {
				t.Errorf("sizes from overflowing counts: %+v", m)
			}
		}},
		{"sizes beyond any disc", "Media current: DVD+R\nMedia status : is blank\nMedia blocks : 0 readable , 9000000000000000 writable , 9000000000000000 overall\n", func(t *testing.T, s string) {
			if m := ParseXorrisoMedia(s, nil); m == nil || m.Free != -1 {
				t.Errorf("%+v", m)
			}
		}},
		{"absurd free space in the summary", "Media current: CD-R\nMedia status : is blank\nMedia summary: 0 sessions, 0 data blocks, 0 data, 1e300g free\n", func(t *testing.T, s string) {
			if m := ParseXorrisoMedia(s, nil); m == nil || m.Free != -1 {
				t.Errorf("%+v", m)
			}
		}},
		{"speeds out of range", "Media current: CD-R\nMedia status : is blank\nWrite speed  : 99999999999k , 1.0xC\nWrite speed  : 0k , 0.0xC\n", func(t *testing.T, s string) {
			if m := ParseXorrisoMedia(s, nil); m == nil || len(m.WriteSpeeds) != 0 {
				t.Errorf("%+v", m)
			}
		}},
		{"progress past its total", "xorriso : UPDATE :  999 of    1 MB written", func(t *testing.T, s string) {
			p, ok := ParseLibburnProgress(s)
			if !ok || p.Done > p.Total {
				t.Errorf("%+v", p)
			}
		}},
		{"progress numbers that overflow", "Track 01: Total bytes read/written: 1/99999999999999999999 (1 sectors).\nxorriso : UPDATE : 99999999999 of 1 MB written", func(t *testing.T, s string) {
			for _, l := range lines(s) {
				if p, ok := ParseLibburnProgress(l); ok {
					t.Errorf("%q parsed as %+v", l, p)
				}
			}
		}},
		{"blanking beyond 100%", "Blanking  ( 250.0% done in 3 seconds )", func(t *testing.T, s string) {
			if p, ok := ParseLibburnProgress(s); ok {
				t.Errorf("%+v", p)
			}
		}},
		{"cdrom info rows before the names", "Can write CD-R:\t1\t1\ndrive name:\tsr0\nCan write DVD-R:\t1\t1\t1\n", func(t *testing.T, s string) {
			cs := ParseCDROMInfo(s)
			if len(cs) != 1 || cs[0].Caps["Can write CD-R"] || !cs[0].Caps["Can write DVD-R"] {
				t.Errorf("%+v", cs)
			}
		}},
		{"cdrom info with a thousand drives", "drive name:" + strings.Repeat("\tsr0", 1000) + "\n" + strings.Repeat("Can x:\t1\n", 1000), func(t *testing.T, s string) {
			cs := ParseCDROMInfo(s)
			if len(cs) != maxDrives || len(cs[0].Caps) > maxCDROMRows {
				t.Errorf("%d drives, %d rows", len(cs), len(cs[0].Caps))
			}
		}},
		{"cdrskin minfo claiming a negative size", "cdrskin: status 1 burn_disc_blank\nMounted media type: CD-R\nRemaining writable size: -5\n", func(t *testing.T, s string) {
			m := ParseCdrskinMedia(s, -1, nil)
			checkMedia(t, m)
			if m.Free != -1 {
				t.Errorf("%+v", m)
			}
		}},
		{"not valid UTF-8", "0  -dev '/dev/sr\xff' rwrw-- :  '\xfe\xfd' 'x'\n", func(t *testing.T, s string) {
			for _, d := range ParseDevices("xorriso", s) {
				_ = utf8.ValidString(d.Vendor) // kept as bytes; must not panic
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, tc.text) })
	}
}
