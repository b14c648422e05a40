package burn

import (
	"reflect"
	"testing"
)

func TestClassifyType(t *testing.T) {
	for name, want := range map[string]MediaClass{
		"CD-R": ClassWriteOnce, "CD-RW": ClassRewritable, "CD-ROM": ClassReadOnly,
		"DVD-R sequential recording": ClassWriteOnce, "DVD-R/DL layer jump recording": ClassWriteOnce,
		"DVD+R": ClassWriteOnce, "DVD+R/DL": ClassWriteOnce, "DVD+RW": ClassOverwritable,
		"DVD-RW sequential recording": ClassRewritable, "DVD-RW restricted overwrite": ClassOverwritable,
		"DVD-RAM": ClassOverwritable, "DVD-ROM": ClassReadOnly,
		"BD-R sequential recording": ClassWriteOnce, "BD-R random recording": ClassWriteOnce,
		"BD-RE": ClassOverwritable, "BD-ROM": ClassReadOnly,
		"stdio file, overwriteable": ClassOverwritable, "stdio file, sequential": ClassUnknown,
		"Removable disk": ClassOverwritable, "": ClassUnknown, "MO": ClassUnknown,
	} {
		if got := ClassifyType(name); got != want {
			t.Errorf("%q: %s, want %s", name, got, want)
		}
	}
}

func TestAssess(t *testing.T) {
	const img = 100 << 20
	media := func(typ string, st MediaState, free, capacity int64) *Media {
		return &Media{Present: true, Type: typ, Class: ClassifyType(typ), State: st, Free: free, Capacity: capacity, Sessions: -1}
	}
	for _, tc := range []struct {
		name  string
		d     Drive
		blank bool
		want  []ProblemCode
	}{
		{"blank CD-R that fits", Drive{Media: media("CD-R", StateBlank, 700<<20, 700<<20)}, false, nil},
		{"appendable DVD+R", Drive{Media: media("DVD+R", StateAppendable, 3<<30, 4<<30)}, false, []ProblemCode{ProblemWrittenOnce}},
		// --blank cannot help write-once media.
		{"closed BD-R with --blank", Drive{Media: media("BD-R sequential recording", StateClosed, 0, 23<<30)}, true, []ProblemCode{ProblemWrittenOnce}},
		{"written CD-RW", Drive{Media: media("CD-RW", StateClosed, 0, 700<<20)}, false, []ProblemCode{ProblemNeedsBlank}},
		// Erasing makes the whole disc available.
		{"written CD-RW with --blank", Drive{Media: media("CD-RW", StateClosed, 0, 700<<20)}, true, nil},
		{"written DVD+RW", Drive{Media: media("DVD+RW", StateAppendable, 1<<30, 4<<30)}, false, []ProblemCode{ProblemNeedsBlank}},
		{"DVD+RW of unknown state with --blank", Drive{Media: media("DVD+RW", StateUnknown, -1, 4<<30)}, true, nil},
		{"DVD+RW of unknown state", Drive{Media: media("DVD+RW", StateUnknown, -1, 4<<30)}, false, []ProblemCode{ProblemNeedsBlank}},
		{"blank CD-R too small", Drive{Media: media("CD-R", StateBlank, 50<<20, 50<<20)}, false, []ProblemCode{ProblemTooSmall}},
		{"CD-RW too small even erased", Drive{Media: media("CD-RW", StateAppendable, 1<<20, 80<<20)}, true, []ProblemCode{ProblemTooSmall}},
		{"blank disc of unknown size", Drive{Media: media("DVD-R sequential recording", StateBlank, -1, -1)}, false, nil},
		{"DVD-ROM", Drive{Media: media("DVD-ROM", StateClosed, 0, 4<<30)}, true, []ProblemCode{ProblemReadOnly}},
		{"unknown medium", Drive{Media: media("HVD", StateBlank, 1<<40, 1<<40)}, false, []ProblemCode{ProblemUnknown}},
		{"no disc", Drive{Media: NoMedia()}, false, []ProblemCode{ProblemNoMedia}},
		{"disc state unreadable", Drive{MediaErr: "xorriso: inspect failed"}, false, []ProblemCode{ProblemUnknown}},
		{"busy and appendable", Drive{Busy: "mounted", Media: media("DVD+R", StateAppendable, 1<<30, 4<<30)}, false, []ProblemCode{ProblemBusy, ProblemWrittenOnce}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Path = "/dev/sr0"
			var got []ProblemCode
			for _, p := range Assess(&tc.d, img, tc.blank) {
				got = append(got, p.Code)
				if p.Detail == "" {
					t.Errorf("%s without a detail", p.Code)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
