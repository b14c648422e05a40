package isofmt

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/internal/core"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// md5AppUse returns the application-use area of the primary descriptor at sector 16.
func md5AppUse(img []byte) []byte { return img[md5AppUseOffset : md5AppUseOffset+md5AppUseSize] }

// md5Implanted builds an image of about size bytes with xorriso and implants
// its MD5 with implantisomd5.
func md5Implanted(t testing.TB, dir, name string, size int) []byte {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "implantisomd5", "checkisomd5")
	root := filepath.Join(dir, name+"-root")
	os.Mkdir(root, 0o755)
	btRandomFile(t, filepath.Join(root, "payload.bin"), size, 11)
	os.WriteFile(filepath.Join(root, "marker.txt"), []byte(strings.Repeat("MARKER-LINE\n", 200)), 0o644)
	iso := filepath.Join(dir, name+".iso")
	saRun(t, dir, "xorriso", "-as", "mkisofs", "-R", "-o", iso, root)
	saRun(t, dir, "implantisomd5", iso)
	img, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(root)
	os.Remove(iso)
	return img
}

// md5CheckTool runs checkisomd5 --verbose on img and reports its PASS verdict.
func md5CheckTool(t *testing.T, dir string, img []byte) bool {
	t.Helper()
	p := filepath.Join(dir, "check.iso")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	out, err := exec.Command("checkisomd5", "--verbose", p).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	pass := err == nil
	if pass != strings.Contains(string(out), "result is: PASS") {
		t.Fatalf("checkisomd5 exit %v but output %q", err, out)
	}
	return pass
}

// md5Ours runs ParseImplantedMD5 and Check on img; a Check error counts as FAIL.
func md5Ours(t *testing.T, img []byte) (*ImplantedMD5, *MD5Result, error) {
	t.Helper()
	m, ok := ParseImplantedMD5(md5AppUse(img))
	if !ok {
		return nil, nil, nil
	}
	var last, calls int64
	vol := int64(binary.LittleEndian.Uint32(img[16*2048+80:]))
	res, err := m.Check(bytes.NewReader(img), vol, func(done, total int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		last = done
		calls++
	})
	if err == nil && res.OK && (calls == 0 || last != (vol-m.SkipSectors)*2048) {
		t.Errorf("progress ended at %d after %d calls, want %d", last, calls, (vol-m.SkipSectors)*2048)
	}
	return m, res, err
}

func TestMD5Check(t *testing.T) {
	dir := t.TempDir()
	medium := md5Implanted(t, dir, "medium", 3_000_000)
	small := md5Implanted(t, dir, "small", 100_000)
	marker := bytes.Index(medium, []byte("MARKER-LINE"))
	if marker < 0 {
		t.Fatal("marker not found")
	}
	vol := int(binary.LittleEndian.Uint32(medium[16*2048+80:])) * 2048
	tests := []struct {
		name    string
		base    []byte
		mutate  func(b []byte) []byte
		wantOK  bool
		wantErr error
		// flipped, if set, must lie in the reported bad range.
		flipped int
	}{
		{name: "clean", base: medium, mutate: func(b []byte) []byte { return b }, wantOK: true},
		{name: "flip in file", base: medium, mutate: func(b []byte) []byte { b[marker] ^= 1; return b }, flipped: marker},
		{name: "flip early", base: medium, mutate: func(b []byte) []byte { b[40000] ^= 0x80; return b }, flipped: 40000},
		{name: "flip in last fragment", base: medium, mutate: func(b []byte) []byte { b[vol-15*2048-10] ^= 1; return b }},
		{name: "flip in skipped sectors", base: medium, mutate: func(b []byte) []byte { b[vol-15*2048+10] ^= 1; return b }, wantOK: true},
		{name: "flip in system area", base: medium, mutate: func(b []byte) []byte { b[100] ^= 1; return b }, flipped: 100},
		{name: "truncated", base: medium, mutate: func(b []byte) []byte { return b[:len(b)/2] }, wantErr: core.ErrTruncated},
		{name: "truncated in skipped sectors", base: medium, mutate: func(b []byte) []byte { return b[:vol-2048] }, wantOK: true},
		// checkisomd5 fails freshly implanted small images: with fragments
		// shorter than its 32 KiB reads it skips checkpoints and compares
		// with the wrong slot. Same verdict expected.
		{name: "small image quirk", base: small, mutate: func(b []byte) []byte { return b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.mutate(bytes.Clone(tc.base))
			m, res, err := md5Ours(t, img)
			if m == nil {
				t.Fatal("implanted md5 not found")
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			ok := err == nil && res.OK
			if ok != tc.wantOK {
				t.Errorf("OK = %v, want %v (%+v)", ok, tc.wantOK, res)
			}
			if tool := md5CheckTool(t, dir, img); tool != ok {
				t.Errorf("checkisomd5 says PASS=%v, we say %v", tool, ok)
			}
			if ok && hex.EncodeToString(res.Computed[:]) != hex.EncodeToString(m.MD5[:]) {
				t.Errorf("computed %x, implanted %x", res.Computed, m.MD5)
			}
			if ok {
				// info --json shows sums as hex text.
				jm, err1 := json.Marshal(m)
				jr, err2 := json.Marshal(res)
				sum := hex.EncodeToString(m.MD5[:])
				if err1 != nil || err2 != nil || !strings.Contains(string(jm), `"md5":"`+sum+`"`) || !strings.Contains(string(jr), `"computed":"`+sum+`"`) ||
					!strings.Contains(string(jm), `"skip_sectors":15`) {
					t.Errorf("json %s %s (%v %v)", jm, jr, err1, err2)
				}
			}
			if tc.flipped != 0 && (res.FirstBadFragment < 0 || int64(tc.flipped) < res.BadRange[0] || int64(tc.flipped) >= res.BadRange[1]) {
				t.Errorf("flipped byte %d not in bad fragment %d range %v", tc.flipped, res.FirstBadFragment, res.BadRange)
			}
		})
	}
}

// TestMD5Parse writes variants of the field into an image and compares what
// we parse, and the verdict, with checkisomd5 --md5sumonly / --verbose.
func TestMD5Parse(t *testing.T) {
	dir := t.TempDir()
	base := md5Implanted(t, dir, "base", 3_000_000)
	canon := strings.TrimRight(string(md5AppUse(base)), " ")
	sum, rest, _ := strings.Cut(strings.TrimPrefix(canon, "ISO MD5SUM = "), ";")
	_, frag, _ := strings.Cut(rest, "FRAGMENT SUMS = ")
	frag, _, _ = strings.Cut(frag, ";")
	tests := []struct {
		name, field string
		found       bool
	}{
		{"canonical", canon, true},
		{"no skipsectors", "ISO MD5SUM = " + sum + ";FRAGMENT SUMS = " + frag + ";FRAGMENT COUNT = 20;", false},
		{"no md5", "SKIPSECTORS = 15;FRAGMENT SUMS = " + frag + ";FRAGMENT COUNT = 20;", false},
		{"bad skip number", "ISO MD5SUM = " + sum + ";SKIPSECTORS = 15x;FRAGMENT SUMS = " + frag + ";FRAGMENT COUNT = 20;", false},
		{"empty skip number", "ISO MD5SUM = " + sum + ";SKIPSECTORS = ;FRAGMENT SUMS = " + frag + ";FRAGMENT COUNT = 20;", true},
		{"skip with spaces", "ISO MD5SUM = " + sum + ";SKIPSECTORS =  +15;FRAGMENT SUMS = " + frag + ";FRAGMENT COUNT = 20;", true},
		{"reordered with junk", "junk;SKIPSECTORS = 15;xx FRAGMENT COUNT = 20;ISO MD5SUM = " + sum + ";FRAGMENT SUMS = " + frag + ";", true},
		{"other skip", strings.Replace(canon, "SKIPSECTORS = 15", "SKIPSECTORS = 16", 1), true},
		{"negative skip", strings.Replace(canon, "SKIPSECTORS = 15", "SKIPSECTORS = -5", 1), true},
		{"huge skip", strings.Replace(canon, "SKIPSECTORS = 15", "SKIPSECTORS = 99999999999999999999", 1), true},
		{"uppercase md5", strings.Replace(canon, sum, strings.ToUpper(sum), 1), true},
		{"fragment count 0", strings.Replace(canon, "FRAGMENT COUNT = 20", "FRAGMENT COUNT = 0", 1), true},
		{"fragment count 3", strings.Replace(canon, "FRAGMENT COUNT = 20", "FRAGMENT COUNT = 3", 1), true},
		{"fragment count 100", strings.Replace(canon, "FRAGMENT COUNT = 20", "FRAGMENT COUNT = 100", 1), true},
		{"damaged fragment sums", strings.Replace(canon, frag, "0"+frag[1:], 1), true},
		{"md5 at the end", strings.Repeat(" ", 470) + "SKIPSECTORS = 1;ISO MD5SUM = " + sum, false},
		{"blank", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := bytes.Clone(base)
			area := md5AppUse(img)
			copy(area, bytes.Repeat([]byte{' '}, md5AppUseSize))
			copy(area, tc.field)
			m, res, err := md5Ours(t, img)
			if (m != nil) != tc.found {
				t.Fatalf("found = %v, want %v", m != nil, tc.found)
			}
			p := filepath.Join(dir, "p.iso")
			os.WriteFile(p, img, 0o644)
			out, cerr := exec.Command("checkisomd5", "--md5sumonly", p).CombinedOutput()
			toolFound := cerr == nil && strings.Contains(string(out), p+":")
			if toolFound != tc.found {
				t.Fatalf("checkisomd5 --md5sumonly found=%v (%v): %s", toolFound, cerr, out)
			}
			if !tc.found {
				return
			}
			if !strings.Contains(string(out), ":   "+m.md5Text+"\n") {
				t.Errorf("checkisomd5 shows %q, we parsed %q", out, m.md5Text)
			}
			if m.FragmentCount > 0 && strings.Contains(string(out), "Fragment sums:") {
				want := "Fragment sums: " + strings.SplitN(m.FragmentSums, "\x00", 2)[0] + "\n"
				if !strings.Contains(string(out), want) || !strings.Contains(string(out), "Fragment count: "+strconv.Itoa(m.FragmentCount)+"\n") {
					t.Errorf("checkisomd5 shows %q, we parsed sums %q count %d", out, m.FragmentSums, m.FragmentCount)
				}
			}
			ok := err == nil && res.OK
			if tool := md5CheckTool(t, dir, img); tool != ok {
				t.Errorf("checkisomd5 says PASS=%v, we say %v (%+v, %v)", tool, ok, res, err)
			}
		})
	}
}

func FuzzImplantedMD5(f *testing.F) {
	for _, p := range saCorpusImages(f) {
		img, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(img) >= md5AppUseOffset+md5AppUseSize {
			f.Add(md5AppUse(img))
		}
	}
	if _, err := exec.LookPath("implantisomd5"); err == nil {
		f.Add(md5AppUse(md5Implanted(f, f.TempDir(), "seed", 20000)))
	}
	f.Fuzz(func(t *testing.T, area []byte) {
		m, ok := ParseImplantedMD5(area)
		if !ok {
			return
		}
		// A 40-sector volume holding the area: Check must end, whatever
		// the counts claim.
		img := make([]byte, 40*2048)
		copy(img[md5AppUseOffset:], area[:min(len(area), md5AppUseSize)])
		res, err := m.Check(bytes.NewReader(img), 40, nil)
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
	})
}

// TestMD5JSONRoundTrip: the JSON that `isofsd info --json` prints decodes
// back to the same values.
func TestMD5JSONRoundTrip(t *testing.T) {
	in := ImplantedMD5{SkipSectors: 15, FragmentCount: 20, FragmentSums: "abc", md5Text: "00112233445566778899aabbccddeeff"}
	copy(in.MD5[:], []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff})
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out ImplantedMD5
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if out.MD5 != in.MD5 || out.md5Text != in.md5Text || out.SkipSectors != 15 || out.FragmentSums != "abc" {
		t.Errorf("round trip of %s gave %+v", b, out)
	}
}
