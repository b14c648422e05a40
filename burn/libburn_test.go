package burn

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// fakeRun replays canned output for each command and records the command
// lines, so that the engine code runs without a drive.
type fakeRun struct {
	calls []command
	reply func(c command) (string, error)
}

func (f *fakeRun) run(ctx context.Context, c command, line func(string)) error {
	f.calls = append(f.calls, c)
	out, err := f.reply(c)
	for _, l := range lines(out) {
		line(l)
	}
	return err
}

func (f *fakeRun) argv() [][]string {
	var out [][]string
	for _, c := range f.calls {
		out = append(out, c.args)
	}
	return out
}

func fakeEngine(program string, reply func(c command) (string, error)) (*Libburn, *fakeRun) {
	f := &fakeRun{reply: reply}
	return &Libburn{Program: program, Bin: "/usr/bin/" + program, run: f.run}, f
}

func pseudoDrive(t *testing.T) *Drive {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "disc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &Drive{Path: "stdio:" + f.Name(), Device: f.Name(), Pseudo: true, file: f}
}

func TestLibburnBurnArgs(t *testing.T) {
	sr0 := &Drive{Path: "/dev/sr0", Device: "/dev/sr0"}
	pd := pseudoDrive(t)
	for _, tc := range []struct {
		program string
		job     Job
		want    []string
	}{
		{"xorriso", Job{Drive: sr0, Image: "/img/a.iso"},
			[]string{"-as", "cdrecord", "-v", "dev=/dev/sr0", "padsize=300k", "-data", "/img/a.iso"}},
		{"xorriso", Job{Drive: sr0, Image: "/img/a.iso", Speed: 4, Blank: true},
			[]string{"-as", "cdrecord", "-v", "dev=/dev/sr0", "speed=4", "blank=as_needed", "padsize=300k", "-data", "/img/a.iso"}},
		{"xorriso", Job{Drive: pd, Image: "/img/a.iso", Dummy: true, NoPad: true},
			[]string{"-as", "cdrecord", "-v", "dev=stdio:/dev/fd/3", "-dummy", "-nopad", "-data", "/img/a.iso"}},
		{"cdrskin", Job{Drive: sr0, Image: "/img/-odd name.iso", Speed: 8},
			[]string{"-v", "dev=/dev/sr0", "speed=8", "padsize=300k", "-data", "/img/-odd name.iso"}},
		{"cdrskin", Job{Drive: pd, Image: "/img/a.iso"},
			[]string{"-v", "--allow_emulated_drives", "dev=stdio:/dev/fd/3", "padsize=300k", "-data", "/img/a.iso"}},
	} {
		e, f := fakeEngine(tc.program, func(command) (string, error) {
			if tc.program == "xorriso" {
				return "Writing to 'x' completed successfully.", nil
			}
			return "cdrskin: burning done", nil
		})
		if err := e.Burn(context.Background(), tc.job, nil); err != nil {
			t.Errorf("%s %+v: %v", tc.program, tc.job, err)
		}
		if len(f.calls) != 1 || !reflect.DeepEqual(f.calls[0].args, tc.want) {
			t.Errorf("%s: args %q\nwant %q", tc.program, f.argv(), tc.want)
		}
		// A pseudo-drive's target goes along as descriptor 3.
		if wantFiles := map[bool]int{true: 1, false: 0}[tc.job.Drive.Pseudo]; len(f.calls[0].files) != wantFiles {
			t.Errorf("%s: %d files passed", tc.program, len(f.calls[0].files))
		}
	}
}

func TestLibburnBurnOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name, program, file string
		exit                error
		ok                  bool
		started             bool
		busy                bool
		written             int64
		says                string
	}{
		{name: "stdio burn", program: "xorriso", file: "xorriso-burn-stdio.txt", ok: true},
		{name: "cdrskin BD-R burn", program: "cdrskin", file: "cdrskin-burn-bdr.txt", ok: true},
		// xorriso may end with status 0 after a FATAL event: the messages
		// decide.
		{name: "medium error at the first write", program: "xorriso", file: "xorriso-burn-dvdplusrdl-failed.txt",
			started: true, says: "Medium error. Session fixation error writing lead-in"},
		{name: "refused by the engine", program: "cdrskin", file: "cdrskin-burn-dvdrom-refused.txt",
			exit: &exitStatus{"exit status 1"}, says: "No suitable media detected"},
		{name: "interrupted", program: "xorriso", file: "xorriso-burn-stdio-sigterm.txt", exit: &exitStatus{"exit status 1"},
			started: true, written: 16 << 20, says: "(it received SIGTERM): Burn run failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := fixture(t, tc.file)
			e, _ := fakeEngine(tc.program, func(command) (string, error) { return text, tc.exit })
			var prog []Progress
			err := e.Burn(context.Background(), Job{Drive: &Drive{Path: "/dev/sr0"}, Image: "/a.iso", Size: 1 << 40},
				func(p Progress) { prog = append(prog, p) })
			if tc.ok {
				if err != nil || len(prog) == 0 {
					t.Fatalf("err %v, %d progress updates", err, len(prog))
				}
				return
			}
			var ee *EngineError
			if !errors.As(err, &ee) {
				t.Fatalf("err %v, want an EngineError", err)
			}
			if ee.Started != tc.started || ee.Busy != tc.busy || ee.Written != tc.written || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%+v\n%v", ee, err)
			}
		})
	}
	// Status 0, no error message, no success line: not a success.
	e, _ := fakeEngine("xorriso", func(command) (string, error) { return "Beginning to write data track.", nil })
	if err := e.Burn(context.Background(), Job{Drive: &Drive{Path: "/dev/sr0"}, Image: "/a.iso", Size: 1}, nil); err == nil {
		t.Fatal("a run without a success line passed")
	}
	// A busy drive.
	e, _ = fakeEngine("xorriso", func(command) (string, error) {
		return "libburn : SORRY : Cannot open busy device '/dev/sr0' : Device or resource busy\nxorriso : FAILURE : Cannot acquire drive '/dev/sr0'", &exitStatus{"exit status 5"}
	})
	err := e.Burn(context.Background(), Job{Drive: &Drive{Path: "/dev/sr0"}, Image: "/a.iso", Size: 1}, nil)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("busy drive: %v", err)
	}
}

func TestLibburnInspect(t *testing.T) {
	e, f := fakeEngine("xorriso", func(command) (string, error) {
		return fixture(t, "xorriso-toc-dvdplusr-notoc.txt"), &exitStatus{"exit status 32"}
	})
	d := &Drive{Path: "/dev/sr0"}
	if err := e.Inspect(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"-outdev", "/dev/sr0", "-toc", "-list_speeds", "-tell_media_space"}}; !reflect.DeepEqual(f.argv(), want) {
		t.Errorf("args %q", f.argv())
	}
	if d.Media == nil || d.Media.Type != "DVD+R" || d.Vendor != "TSSTcorp" || d.Engine != "xorriso" {
		t.Errorf("drive %+v media %+v", d, d.Media)
	}

	e, f = fakeEngine("cdrskin", func(c command) (string, error) {
		if c.args[len(c.args)-1] == "--tell_media_space" {
			return "cdrskin 1.5.6 : limited cdrecord compatibility wrapper for libburn\n2295104\n", nil
		}
		return fixture(t, "cdrskin-minfo-dvdplusrw.txt"), nil
	})
	d = pseudoDrive(t)
	if err := e.Inspect(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"--allow_emulated_drives", "dev=stdio:/dev/fd/3", "-minfo"}, {"--allow_emulated_drives", "dev=stdio:/dev/fd/3", "--tell_media_space"}}
	if !reflect.DeepEqual(f.argv(), want) {
		t.Errorf("args %q", f.argv())
	}
	if m := d.Media; m == nil || m.Type != "DVD+RW" || m.Capacity != 2295104*SectorSize || len(m.WriteSpeeds) != 1 {
		t.Errorf("media %+v", d.Media)
	}

	// Nothing recognisable: the engine's messages make the error.
	e, _ = fakeEngine("xorriso", func(command) (string, error) {
		return "xorriso : FAILURE : Cannot acquire drive '/dev/sr9'", &exitStatus{"exit status 5"}
	})
	err := e.Inspect(context.Background(), &Drive{Path: "/dev/sr9"})
	if err == nil || !strings.Contains(err.Error(), "Cannot acquire drive") {
		t.Fatalf("err %v", err)
	}
}

func TestLibburnDrivesAndEject(t *testing.T) {
	e, f := fakeEngine("xorriso", func(command) (string, error) {
		return "Beginning to scan for devices ...\nxorriso : SORRY : No drives found\n", &exitStatus{"exit status 32"}
	})
	ds, err := e.Drives(context.Background())
	if err != nil || len(ds) != 0 || !reflect.DeepEqual(f.argv(), [][]string{{"-devices"}}) {
		t.Fatalf("no drives: %v %v %q", ds, err, f.argv())
	}
	e, f = fakeEngine("cdrskin", func(command) (string, error) { return fixture(t, "cdrskin-devices-busy.txt"), nil })
	ds, err = e.Drives(context.Background())
	if err != nil || len(ds) != 1 || ds[0].Engine != "cdrskin" || !reflect.DeepEqual(f.argv(), [][]string{{"--devices"}}) {
		t.Fatalf("cdrskin: %v %v %q", ds, err, f.argv())
	}
	for program, want := range map[string][]string{"xorriso": {"-outdev", "/dev/sr0", "-eject", "out"}, "cdrskin": {"dev=/dev/sr0", "-eject"}} {
		e, f := fakeEngine(program, func(command) (string, error) { return "", nil })
		if err := e.Eject(context.Background(), &Drive{Path: "/dev/sr0"}); err != nil || !reflect.DeepEqual(f.argv(), [][]string{want}) {
			t.Errorf("%s eject: %v %q", program, err, f.argv())
		}
	}
}
