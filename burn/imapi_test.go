package burn

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The IMAPI2 call sequences, checked against a fake COM host that records
// every call: the real objects exist only on Windows.

type hrErr uint32

func (h hrErr) Error() string   { return fmt.Sprintf("HRESULT %#x", uint32(h)) }
func (h hrErr) HRESULT() uint32 { return uint32(h) }

type fakeCOM struct {
	log      []string
	objects  map[string]func(*fakeObj) // set-up per ProgID
	onWrite  func(update func(comObject))
	update   func(comObject)
	streams  int
	advised  int
	sessions int
}

type fakeObj struct {
	com   *fakeCOM
	name  string
	props map[string]any
	calls map[string]func(args []any) (any, error)
}

func (f *fakeCOM) Create(progID string) (comObject, error) {
	short := strings.TrimPrefix(progID, "IMAPI2.Msft")
	f.log = append(f.log, "create "+short)
	o := &fakeObj{com: f, name: short, props: map[string]any{}, calls: map[string]func([]any) (any, error){}}
	if set := f.objects[progID]; set != nil {
		set(o)
	}
	return o, nil
}

func (f *fakeCOM) ImageStream(path string) (any, func(), error) {
	f.log = append(f.log, "stream "+path)
	f.streams++
	return "stream", func() { f.streams--; f.log = append(f.log, "stream released") }, nil
}

func (f *fakeCOM) Advise(format comObject, update func(comObject)) (func(), error) {
	f.log = append(f.log, "advise")
	f.advised++
	f.update = update
	return func() { f.advised--; f.log = append(f.log, "unadvise") }, nil
}

func (f *fakeCOM) Close() { f.sessions-- }

func (o *fakeObj) Get(name string, args ...any) (any, error) {
	if fn := o.calls["get "+name]; fn != nil {
		return fn(args)
	}
	v, ok := o.props[name]
	if !ok {
		return nil, fmt.Errorf("%s has no property %s", o.name, name)
	}
	if err, ok := v.(error); ok {
		return nil, err
	}
	return v, nil
}

func (o *fakeObj) Put(name string, v any) error {
	if f, ok := v.(*fakeObj); ok {
		v = f.name
	}
	o.com.log = append(o.com.log, fmt.Sprintf("%s.%s=%v", o.name, name, v))
	o.props[name] = v
	return nil
}

func (o *fakeObj) Call(name string, args ...any) (any, error) {
	var s []string
	for _, a := range args {
		if f, ok := a.(*fakeObj); ok {
			a = f.name
		}
		s = append(s, fmt.Sprint(a))
	}
	o.com.log = append(o.com.log, fmt.Sprintf("%s.%s(%s)", o.name, name, strings.Join(s, ",")))
	if fn := o.calls[name]; fn != nil {
		return fn(args)
	}
	return nil, nil
}

func (o *fakeObj) Release() {}

// oneDVDRecorder sets up a machine with one recorder (E:) holding disc.
func oneDVDRecorder(disc map[string]any) *fakeCOM {
	f := &fakeCOM{}
	f.objects = map[string]func(*fakeObj){
		"IMAPI2.MsftDiscMaster2": func(o *fakeObj) {
			o.props["IsSupportEnabled"] = true
			o.props["Count"] = int32(1)
			o.calls["get Item"] = func(args []any) (any, error) { return `\\?\scsi#cdrom#rec0`, nil }
		},
		"IMAPI2.MsftDiscRecorder2": func(o *fakeObj) {
			o.props["VendorId"] = "HL-DT-ST"
			o.props["ProductId"] = "DVDRAM GT50N    "
			o.props["ProductRevision"] = "LC02"
			o.props["VolumePathNames"] = []any{`E:\`}
			o.props["ExclusiveAccessOwner"] = ""
		},
		"IMAPI2.MsftDiscFormat2Data": func(o *fakeObj) {
			for k, v := range disc {
				o.props[k] = v
			}
			o.calls["IsRecorderSupported"] = func([]any) (any, error) { return true, nil }
			o.calls["Write"] = func([]any) (any, error) {
				if f.onWrite != nil {
					f.onWrite(f.update)
				}
				if o.props["cancelled"] == true {
					return nil, hrErr(0xC0AA0002) // E_IMAPI_REQUEST_CANCELLED
				}
				return nil, nil
			}
			o.calls["CancelWrite"] = func([]any) (any, error) { o.props["cancelled"] = true; return nil, nil }
		},
	}
	return f
}

var blankDVDR = map[string]any{
	"CurrentPhysicalMediaType": int32(9), "CurrentMediaStatus": int32(imapiStateBlank),
	"MediaHeuristicallyBlank": true, "FreeSectorsOnMedia": int32(2298496), "TotalSectorsOnMedia": int32(2298496),
	"SupportedWriteSpeeds": []any{int32(10880), int32(5440), int32(2720)},
}

func engineFor(f *fakeCOM) *IMAPI2 {
	return &IMAPI2{open: func() (imapiHost, error) { f.sessions++; return f, nil }}
}

func eventArgs(action, start, last int64) comObject {
	return &fakeObj{props: map[string]any{"CurrentAction": int32(action), "StartLba": int32(start), "LastWrittenLba": int32(last)}}
}

func TestIMAPI2Inspect(t *testing.T) {
	f := oneDVDRecorder(blankDVDR)
	e := engineFor(f)
	ds, err := e.Drives(context.Background())
	if err != nil || len(ds) != 1 || ds[0].Path != "E:" || ds[0].Device != `\\.\E:` || ds[0].Model != "DVDRAM GT50N" {
		t.Fatalf("drives %+v %v", ds, err)
	}
	d := &Drive{Path: "e"}
	if err := e.Inspect(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	m := d.Media
	var sp []string
	for _, s := range m.WriteSpeeds {
		sp = append(sp, s.String())
	}
	if d.Path != "E:" || m.Type != "DVD-R" || m.Class != ClassWriteOnce || m.State != StateBlank || m.Free != 2298496*2048 ||
		!reflect.DeepEqual(sp, []string{"4x DVD", "8x DVD", "16x DVD"}) {
		t.Fatalf("drive %+v media %+v speeds %v", d, m, sp)
	}
	if f.sessions != 0 {
		t.Errorf("%d COM sessions left open", f.sessions)
	}

	// No disc: IMAPI2 answers the media type with E_IMAPI_RECORDER_MEDIA_NO_MEDIA.
	f = oneDVDRecorder(map[string]any{"CurrentPhysicalMediaType": hrErr(hrNoMedia)})
	d = &Drive{Path: "E:"}
	if err := engineFor(f).Inspect(context.Background(), d); err != nil || d.Media.Present {
		t.Fatalf("no disc: %+v %v", d.Media, err)
	}
	// A rewritable disc with data, and a drive another program holds.
	f = oneDVDRecorder(map[string]any{"CurrentPhysicalMediaType": int32(7), "CurrentMediaStatus": int32(imapiStateOverwriteOnly),
		"MediaHeuristicallyBlank": false, "FreeSectorsOnMedia": int32(0), "TotalSectorsOnMedia": int32(2295104)})
	f.objects["IMAPI2.MsftDiscRecorder2"] = func(o *fakeObj) {
		o.props["VolumePathNames"] = []any{`F:\`}
		o.props["ExclusiveAccessOwner"] = "Windows Media Player"
	}
	d = &Drive{Path: "F:"}
	if err := engineFor(f).Inspect(context.Background(), d); err != nil || d.Media.State != StateAppendable ||
		d.Media.Class != ClassOverwritable || d.Busy != "held by Windows Media Player" {
		t.Fatalf("DVD+RW: %+v %+v %v", d, d.Media, err)
	}
	if err := engineFor(f).Inspect(context.Background(), &Drive{Path: "Z:"}); !errors.Is(err, ErrRefused) {
		t.Fatalf("unknown letter: %v", err)
	}
}

func TestIMAPI2BurnSequence(t *testing.T) {
	f := oneDVDRecorder(blankDVDR)
	f.onWrite = func(update func(comObject)) {
		update(eventArgs(0, 0, 0)) // validating media: no progress
		update(eventArgs(imapiActionWriting, 0, 100))
		update(eventArgs(imapiActionWriting, 0, 500))
		update(eventArgs(imapiActionFinalizing, 0, 0))
	}
	d := &Drive{Path: "E:", Media: &Media{Type: "DVD-RW"}}
	var prog []Progress
	err := engineFor(f).Burn(context.Background(), Job{Drive: d, Image: `C:\img\a.iso`, Size: 500 * 2048, Speed: 8, Blank: true},
		func(p Progress) { prog = append(prog, p) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create DiscMaster2", "create DiscRecorder2", `DiscRecorder2.InitializeDiscRecorder(\\?\scsi#cdrom#rec0)`,
		"DiscRecorder2.AcquireExclusiveAccess(true,isofsd)",
		"create DiscFormat2Erase", "DiscFormat2Erase.Recorder=DiscRecorder2", "DiscFormat2Erase.ClientName=isofsd",
		"DiscFormat2Erase.FullErase=false", "DiscFormat2Erase.EraseMedia()",
		"create DiscFormat2Data", "DiscFormat2Data.Recorder=DiscRecorder2", "DiscFormat2Data.ClientName=isofsd",
		"DiscFormat2Data.ForceMediaToBeClosed=true", "DiscFormat2Data.SetWriteSpeed(5440,false)",
		`stream C:\img\a.iso`, "advise", "DiscFormat2Data.Write(stream)",
		"unadvise", "stream released", "DiscRecorder2.ReleaseExclusiveAccess()",
	}
	if !reflect.DeepEqual(f.log, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.log, "\n"), strings.Join(want, "\n"))
	}
	var got []string
	for _, p := range prog {
		got = append(got, fmt.Sprintf("%s %d/%d", p.Phase, p.Done, p.Total))
	}
	if w := []string{"blank 0/0", "write 204800/1024000", "write 1024000/1024000", "close 0/0"}; !reflect.DeepEqual(got, w) {
		t.Errorf("progress %v, want %v", got, w)
	}
	if f.sessions != 0 || f.advised != 0 || f.streams != 0 {
		t.Errorf("left open: %d sessions, %d sinks, %d streams", f.sessions, f.advised, f.streams)
	}
}

func TestIMAPI2BurnFailures(t *testing.T) {
	// --dummy: IMAPI2 has no simulation; nothing is touched.
	f := oneDVDRecorder(blankDVDR)
	err := engineFor(f).Burn(context.Background(), Job{Drive: &Drive{Path: "E:"}, Image: "a.iso", Dummy: true}, nil)
	if !errors.Is(err, ErrUnsupported) || len(f.log) != 0 {
		t.Fatalf("dummy: %v, calls %v", err, f.log)
	}
	// Another program holds the recorder.
	f = oneDVDRecorder(blankDVDR)
	f.objects["IMAPI2.MsftDiscRecorder2"] = func(o *fakeObj) {
		o.props["VolumePathNames"] = []any{`E:\`}
		o.calls["AcquireExclusiveAccess"] = func([]any) (any, error) { return nil, hrErr(hrRecorderInUse) }
	}
	err = engineFor(f).Burn(context.Background(), Job{Drive: &Drive{Path: "E:"}, Image: "a.iso", Size: 2048}, nil)
	var ee *EngineError
	if !errors.Is(err, ErrBusy) || !errors.As(err, &ee) || ee.Started {
		t.Fatalf("busy: %v", err)
	}
	for _, l := range f.log {
		if strings.Contains(l, "Write") {
			t.Fatalf("wrote to a busy recorder: %v", f.log)
		}
	}
	// Ctrl-C during the write: CancelWrite from inside the event.
	f = oneDVDRecorder(blankDVDR)
	ctx, cancel := context.WithCancel(context.Background())
	f.onWrite = func(update func(comObject)) {
		update(eventArgs(imapiActionWriting, 0, 10))
		cancel()
		update(eventArgs(imapiActionWriting, 0, 20))
	}
	err = engineFor(f).Burn(ctx, Job{Drive: &Drive{Path: "E:"}, Image: "a.iso", Size: 100 * 2048}, nil)
	if !errors.As(err, &ee) || !ee.Interrupted || !ee.Started || ee.Written != 10*2048 || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %+v %v", ee, err)
	}
	if !strings.Contains(strings.Join(f.log, " "), "DiscFormat2Data.CancelWrite()") {
		t.Fatalf("CancelWrite not called: %v", f.log)
	}
}

func TestIMAPI2Eject(t *testing.T) {
	f := oneDVDRecorder(blankDVDR)
	if err := engineFor(f).Eject(context.Background(), &Drive{Path: "E:"}); err != nil || f.log[len(f.log)-1] != "DiscRecorder2.EjectMedia()" {
		t.Fatalf("%v %v", err, f.log)
	}
}
