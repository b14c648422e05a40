package desktop

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// userUCA is a uca.xml as Thunar writes it, with the user's own action.
const userUCA = `<?xml version="1.0" encoding="UTF-8"?>
<actions>
<action>
	<icon>utilities-terminal</icon>
	<name>Open Terminal Here</name>
	<submenu></submenu>
	<unique-id>1612104464586264-1</unique-id>
	<command>exo-open --working-directory %f --launch TerminalEmulator</command>
	<description>Example for a custom action</description>
	<range></range>
	<patterns>*</patterns>
	<startup-notify/>
	<directories/>
</action>
<action><name>Mine &amp; only mine</name><unique-id>isofsd-not-quite</unique-id><command>echo %f</command><patterns>*</patterns><other-files/></action>
</actions>
`

func TestUCAInsertStrip(t *testing.T) {
	ours, err := UCAActions("/usr/bin/isofsd")
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"thunar's":   userUCA,
		"empty":      ucaEmpty,
		"no newline": `<?xml version="1.0"?><actions><action><unique-id>u1</unique-id></action></actions>`,
		"comments":   "<!-- mine -->\n<actions>\n<!-- keep me -->\n</actions>\n<!-- end -->\n",
	} {
		got, err := ucaInsert([]byte(doc), ours)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		acts, _, err := ucaSpans(got)
		if err != nil {
			t.Fatalf("%s: result does not parse: %v\n%s", name, err, got)
		}
		n := 0
		for _, a := range acts {
			if strings.HasPrefix(a.id, ucaIDPrefix) && a.id != "isofsd-not-quite" {
				n++
			}
		}
		if n != len(Verbs) {
			t.Errorf("%s: %d of our actions after insert, want %d", name, n, len(Verbs))
		}
		// Installing twice keeps one copy.
		again, err := ucaInsert(got, ours)
		if err != nil || !bytes.Equal(again, got) {
			t.Errorf("%s: second insert changed the file: %v\n%s", name, err, again)
		}
		back, err := ucaStrip(got)
		if err != nil {
			t.Fatal(err)
		}
		want := doc
		if name == "no newline" {
			want = strings.Replace(doc, "</actions>", "\n</actions>", 1)
		}
		// isofsd-not-quite starts like ours and is stripped too: the
		// prefix is reserved. Everything else is kept byte for byte.
		want = strings.Replace(want, "<action><name>Mine &amp; only mine</name><unique-id>isofsd-not-quite</unique-id><command>echo %f</command><patterns>*</patterns><other-files/></action>\n", "", 1)
		if string(back) != want {
			t.Errorf("%s: strip(insert(doc)) differs:\n%s\nwant:\n%s", name, back, want)
		}
	}
}

func TestUCARefusesWhatItCannotEdit(t *testing.T) {
	ours, _ := UCAActions("/usr/bin/isofsd")
	for name, doc := range map[string]string{
		"not xml":       "hello",
		"wrong root":    "<menu></menu>",
		"two roots":     "<actions></actions><actions></actions>",
		"unclosed":      "<actions><action>",
		"empty":         "",
		"huge":          "<actions>" + strings.Repeat(" ", MaxUCASize) + "</actions>",
		"bad entity":    "<actions>&bogus;</actions>",
		"mismatched":    "<actions><action></actions></action>",
		"doctype bomb":  `<!DOCTYPE a [<!ENTITY x "xx">]><actions>&x;</actions>`,
		"text after it": "<actions></actions>junk<",
	} {
		if _, err := ucaInsert([]byte(doc), ours); !errors.Is(err, ErrUCA) {
			t.Errorf("%s: insert gave %v, want ErrUCA", name, err)
		}
	}
}

// FuzzUCA: whatever the user's uca.xml holds, inserting ours either
// refuses it or gives a file that parses, holds our actions, and from
// which stripping takes out exactly ours.
func FuzzUCA(f *testing.F) {
	f.Add([]byte(userUCA))
	f.Add([]byte(ucaEmpty))
	f.Add([]byte("<actions><action><unique-id>isofsd-mount</unique-id></action></actions>"))
	ours, _ := UCAActions("/usr/bin/isofsd")
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := ucaInsert(doc, ours)
		if err != nil {
			return
		}
		acts, _, err := ucaSpans(got)
		if err != nil {
			t.Fatalf("inserted result does not parse: %v", err)
		}
		n := 0
		for _, a := range acts {
			if strings.HasPrefix(a.id, ucaIDPrefix) {
				n++
			}
		}
		if n < len(Verbs) {
			t.Fatalf("%d of our actions after insert", n)
		}
		back, err := ucaStrip(got)
		if err != nil {
			t.Fatalf("strip: %v", err)
		}
		left, _, err := ucaSpans(back)
		if err != nil {
			t.Fatalf("stripped result does not parse: %v", err)
		}
		for _, a := range left {
			if strings.HasPrefix(a.id, ucaIDPrefix) {
				t.Fatalf("action %q left after strip", a.id)
			}
		}
	})
}

const userMimeApps = `[Added Associations]
text/plain=gedit.desktop;

[Default Applications]
# my choices
text/plain=gedit.desktop
application/x-cd-image=gnome-disk-image-mounter.desktop

[Removed Associations]
image/png=gimp.desktop;
`

func TestSetDefaults(t *testing.T) {
	id := DesktopID
	set := map[string]*string{}
	for _, ty := range DefaultTypes {
		set[ty] = &id
	}
	for name, doc := range map[string]string{"user's": userMimeApps, "none": "", "no group": "[Added Associations]\na/b=c.desktop;", "xdg-mime's": "\n[Default Applications]\ninode/directory=thunar.desktop\n"} {
		got, prev, err := setDefaults([]byte(doc), set)
		if err != nil {
			t.Fatal(err)
		}
		d := MimeAppsDefaults(got)
		for _, ty := range DefaultTypes {
			if d[ty] != DesktopID {
				t.Errorf("%s: %s → %q, want ours", name, ty, d[ty])
			}
		}
		for k, v := range MimeAppsDefaults([]byte(doc)) {
			if _, ours := set[k]; !ours && d[k] != v {
				t.Errorf("%s: %s changed from %q to %q", name, k, v, d[k])
			}
		}
		if name == "user's" {
			if p := prev["application/x-cd-image"]; p == nil || *p != "gnome-disk-image-mounter.desktop" {
				t.Errorf("previous x-cd-image default: %v", p)
			}
			if prev["application/vnd.efi.iso"] != nil {
				t.Errorf("previous vnd.efi.iso default: %v, want none", *prev["application/vnd.efi.iso"])
			}
			for _, keep := range []string{"[Added Associations]\ntext/plain=gedit.desktop;\n", "# my choices\n", "[Removed Associations]\nimage/png=gimp.desktop;\n"} {
				if !strings.Contains(string(got), keep) {
					t.Errorf("lost %q:\n%s", keep, got)
				}
			}
		}
		// Undo: the previous values back, ours gone.
		back, _, err := setDefaults(got, prev)
		if err != nil {
			t.Fatal(err)
		}
		if bd, od := MimeAppsDefaults(back), MimeAppsDefaults([]byte(doc)); len(bd) != len(od) {
			t.Errorf("%s: defaults after undo %v, want %v", name, bd, od)
		} else {
			for k, v := range od {
				if bd[k] != v {
					t.Errorf("%s: after undo %s → %q, want %q", name, k, bd[k], v)
				}
			}
		}
		if name == "none" && !emptyDefaultGroup(back) {
			t.Errorf("undo of a new file leaves more than an empty group:\n%s", back)
		}
	}
}

// FuzzSetDefaults: setting our defaults and putting the previous values
// back gives the original defaults, whatever the file holds.
func FuzzSetDefaults(f *testing.F) {
	f.Add([]byte(userMimeApps))
	f.Add([]byte("[Default Applications]\napplication/x-cd-image=a\napplication/x-cd-image=b\n[Default Applications]\nx=y"))
	f.Add([]byte("\x00=\n[\n="))
	id := DesktopID
	set := map[string]*string{}
	for _, ty := range DefaultTypes {
		set[ty] = &id
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if bytes.ContainsAny(doc, "\r") {
			return // a lone CR splits lines differently on each side
		}
		got, prev, err := setDefaults(doc, set)
		if err != nil {
			return
		}
		d := MimeAppsDefaults(got)
		for _, ty := range DefaultTypes {
			if d[ty] != DesktopID {
				t.Fatalf("%s → %q after set", ty, d[ty])
			}
		}
		back, _, err := setDefaults(got, prev)
		if err != nil {
			t.Fatal(err)
		}
		od, bd := MimeAppsDefaults(doc), MimeAppsDefaults(back)
		for _, ty := range DefaultTypes {
			if od[ty] != bd[ty] {
				t.Fatalf("%s: %q after undo, was %q", ty, bd[ty], od[ty])
			}
		}
	})
}
