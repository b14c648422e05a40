package burn

// The macOS engine: drutil lists drives, reads the disc's state and ejects;
// `hdiutil burn` writes, with -puppetstrings progress ("PERCENT:12.5",
// "MESSAGE:..."). The command lines and parsers are plain Go so that they
// are tested on every platform; only engine_darwin.go selects the engine.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Darwin is the macOS burn engine.
type Darwin struct {
	run runner
}

// NewDarwin returns the macOS engine (drutil and hdiutil are part of
// macOS).
func NewDarwin() *Darwin { return &Darwin{run: execRunner} }

// Name implements Engine.
func (e *Darwin) Name() string { return "hdiutil" }

// Pseudo implements Engine: hdiutil burns real drives only.
func (e *Darwin) Pseudo() bool { return false }

// DrutilDrive is one line of `drutil list`.
type DrutilDrive struct {
	Index                          int
	Vendor, Product, Revision, Bus string
}

// ParseDrutilList reads `drutil list`: a header naming the columns, then
// one row per drive, numbered from 1; the columns are found from the
// header, since vendor and product strings hold blanks:
//
//	   Vendor   Product           Rev   Bus       SupportLevel
//	1  HL-DT-ST DVDRW  GX40N      RQ00  USB       Unsupported
func ParseDrutilList(text string) []DrutilDrive {
	var out []DrutilDrive
	var cols []int
	for _, l := range lines(text) {
		if v, p, r := strings.Index(l, "Vendor"), strings.Index(l, "Product"), strings.Index(l, "Rev"); v >= 0 && p > v && r > p {
			cols = []int{v, p, r, strings.Index(l, "Bus"), strings.Index(l, "SupportLevel")}
			continue
		}
		if cols == nil {
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n <= 0 || n > maxDrives {
			continue
		}
		d := DrutilDrive{Index: n, Vendor: column(l, cols, 0), Product: column(l, cols, 1), Revision: column(l, cols, 2), Bus: column(l, cols, 3)}
		if len(out) < maxDrives {
			out = append(out, d)
		}
	}
	return out
}

// column cuts column i out of a row whose columns start at cols.
func column(l string, cols []int, i int) string {
	if i >= len(cols) || cols[i] < 0 || cols[i] >= len(l) {
		return ""
	}
	end := len(l)
	for _, c := range cols[i+1:] {
		if c > cols[i] {
			end = min(c, len(l))
			break
		}
	}
	return cleanID(l[cols[i]:end])
}

// DrutilStatus is what `drutil status` says about a drive and its disc.
type DrutilStatus struct {
	Vendor, Product, Revision string
	// Device is the disc's device node ("/dev/disk4"), "" without a disc.
	Device string
	Media  *Media
}

var drutilBlocksRE = regexp.MustCompile(`blocks:\s*(\d{1,15})\b`)

// ParseDrutilStatus reads `drutil status` (or `drutil -drive N status`):
//
//	Vendor   Product           Rev
//	ASUS     SDRW-08U9M-U      A114
//
//	          Type: CD-R                 Name: /dev/disk4
//	  Write Speeds: 10x, 16x, 24x
//	    Space Free:   79:57:69         blocks:   359844 / 736.96MB / 702.82MiB
//	    Space Used:   00:00:00         blocks:        0 /   0.00MB /   0.00MiB
//	   Writability: appendable, blank, overwritable
//
// It returns nil when the text reports no drive.
func ParseDrutilStatus(text string) *DrutilStatus {
	var st *DrutilStatus
	var cols []int
	m := &Media{State: StateUnknown, Sessions: -1, Free: -1, Capacity: -1}
	var used int64 = -1
	var writability []string
	var speeds []float64
	for _, l := range lines(text) {
		if v, p, r := strings.Index(l, "Vendor"), strings.Index(l, "Product"), strings.Index(l, "Rev"); v >= 0 && p > v && r > p && !strings.Contains(l, ":") {
			cols = []int{v, p, r}
			continue
		}
		if cols != nil && st == nil {
			st = &DrutilStatus{Vendor: column(l, cols, 0), Product: column(l, cols, 1), Revision: column(l, cols, 2)}
			continue
		}
		if st == nil {
			continue
		}
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "Type:"):
			v := strings.TrimSpace(strings.TrimPrefix(t, "Type:"))
			if name, dev, ok := strings.Cut(v, "Name:"); ok {
				v = strings.TrimSpace(name)
				if f := strings.Fields(dev); len(f) > 0 && strings.HasPrefix(f[0], "/dev/") {
					st.Device = f[0]
				}
			}
			m.Type = cleanID(v)
		case strings.HasPrefix(t, "Write Speeds:"):
			for _, s := range strings.Split(strings.TrimPrefix(t, "Write Speeds:"), ",") {
				s = strings.TrimSuffix(strings.TrimSpace(s), "x")
				if x, err := strconv.ParseFloat(s, 64); err == nil && x > 0 && x < 1000 && len(speeds) < maxSpeeds {
					speeds = append(speeds, x)
				}
			}
		case strings.HasPrefix(t, "Space Free:"), strings.HasPrefix(t, "Space Used:"):
			mm := drutilBlocksRE.FindStringSubmatch(t)
			if mm == nil {
				continue
			}
			n, _ := atoi64(mm[1])
			if strings.HasPrefix(t, "Space Free:") {
				m.Free = sectors(n)
			} else {
				used = sectors(n)
			}
		case strings.HasPrefix(t, "Writability:"):
			for _, w := range strings.Split(strings.TrimPrefix(t, "Writability:"), ",") {
				writability = append(writability, strings.ToLower(strings.TrimSpace(w)))
			}
		case strings.HasPrefix(t, "Blank:"), strings.HasPrefix(t, "Appendable:"), strings.HasPrefix(t, "Overwritable:"), strings.HasPrefix(t, "Erasable:"):
			// Older drutil prints one "Key: Yes/No" line per property
			// instead of the Writability list.
			k, v, _ := strings.Cut(t, ":")
			if strings.EqualFold(strings.TrimSpace(v), "yes") {
				writability = append(writability, strings.ToLower(k))
			} else if len(writability) == 0 {
				writability = append(writability, "readable")
			}
		case strings.HasPrefix(t, "Sessions:"):
			if f := strings.Fields(strings.TrimPrefix(t, "Sessions:")); len(f) > 0 {
				if n, ok := atoi64(f[0]); ok && n < 1<<20 {
					m.Sessions = int(n)
				}
			}
		}
	}
	if st == nil {
		return nil
	}
	if m.Type == "" || strings.Contains(strings.ToLower(m.Type), "no media") {
		st.Media = NoMedia()
		st.Device = ""
		return st
	}
	m.Present = true
	m.Class = ClassifyType(m.Type)
	has := func(w string) bool {
		for _, x := range writability {
			if x == w {
				return true
			}
		}
		return false
	}
	switch {
	case has("blank"):
		m.State = StateBlank
	case has("appendable"):
		m.State = StateAppendable
	case len(writability) > 0 || used > 0:
		m.State = StateClosed
	}
	if m.Class == ClassOverwritable && m.State == StateClosed {
		m.State = StateAppendable // written in place, never closed
	}
	if m.State == StateBlank && m.Sessions < 0 {
		m.Sessions = 0
	}
	if m.Free >= 0 {
		m.Capacity = m.Free + max(used, 0)
	} else if used >= 0 && m.State == StateClosed {
		m.Free, m.Capacity = 0, used
	}
	fam := m.Family()
	for _, x := range speeds {
		s := Speed{X: x, Family: fam}
		if f := familyKBps[fam]; f > 0 {
			s.KBps = int(x*f + 0.5)
		}
		if s.KBps > 0 {
			m.WriteSpeeds = appendSpeed(m.WriteSpeeds, s)
		}
	}
	m.WriteSpeeds = sortSpeeds(m.WriteSpeeds)
	st.Media = m
	return st
}

// HdiutilDevice is one burner of `hdiutil burn -list`: the IOService path
// -device takes, and the description line under it.
type HdiutilDevice struct {
	Path, Description string
}

// ParseHdiutilList reads `hdiutil burn -list`: each burner's IOService
// path on a line of its own, its vendor, product and revision indented on
// the next.
func ParseHdiutilList(text string) []HdiutilDevice {
	var out []HdiutilDevice
	for _, l := range lines(text) {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "IOService:"):
			if len(out) < maxDrives {
				out = append(out, HdiutilDevice{Path: t})
			}
		case len(out) > 0 && out[len(out)-1].Description == "" && (l[0] == ' ' || l[0] == '\t'):
			out[len(out)-1].Description = cleanID(t)
		}
	}
	return out
}

// ParsePuppetstrings reads one line of hdiutil's -puppetstrings output:
// "PERCENT:<float>" (-1 while the percentage is unknown) and
// "MESSAGE:<text>", whose text names the phase.
func ParsePuppetstrings(l string) (Progress, bool) {
	t := strings.TrimSpace(l)
	if v, ok := strings.CutPrefix(t, "PERCENT:"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(f >= -1 && f <= 100) { // also refuses NaN
			return Progress{}, false
		}
		if f < 0 {
			f = -1
		}
		return Progress{Phase: PhaseWrite, Percent: f}, true
	}
	if v, ok := strings.CutPrefix(t, "MESSAGE:"); ok {
		v = strings.ToLower(v)
		switch {
		case strings.Contains(v, "eras"):
			return Progress{Phase: PhaseBlank, Percent: -1}, true
		case strings.Contains(v, "clos"), strings.Contains(v, "finish"):
			return Progress{Phase: PhaseClose, Percent: -1}, true
		}
	}
	return Progress{}, false
}

func (e *Darwin) drutil(ctx context.Context, args ...string) (string, error) {
	out, err := output(ctx, e.run, command{name: "drutil", args: args})
	return strings.Join(out, "\n"), err
}

// Drives implements Engine: `drutil list`.
func (e *Darwin) Drives(ctx context.Context) ([]*Drive, error) {
	text, err := e.drutil(ctx, "list")
	list := ParseDrutilList(text)
	if err != nil && len(list) == 0 {
		return nil, &EngineError{Engine: "drutil", Op: "list drives", Status: err.Error()}
	}
	var ds []*Drive
	for _, l := range list {
		ds = append(ds, &Drive{Path: strconv.Itoa(l.Index), Vendor: l.Vendor, Model: l.Product, Revision: l.Revision, Engine: e.Name()})
	}
	return ds, nil
}

// driveIndex finds the drutil drive number for d.Path: a number, or the
// disc's device (/dev/disk4, /dev/rdisk4, disk4).
func (e *Darwin) driveIndex(ctx context.Context, path string) (int, error) {
	if n, err := strconv.Atoi(path); err == nil && n > 0 {
		return n, nil
	}
	want := "/dev/" + strings.TrimPrefix(strings.TrimPrefix(path, "/dev/"), "r")
	ds, err := e.Drives(ctx)
	if err != nil {
		return 0, err
	}
	for _, d := range ds {
		n, _ := strconv.Atoi(d.Path)
		text, _ := e.drutil(ctx, "-drive", d.Path, "status")
		if st := ParseDrutilStatus(text); st != nil && st.Device == want {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: %s: no drive holds that disc (drives are numbered as `drutil list` shows them)", ErrRefused, path)
}

// Inspect implements Engine: `drutil -drive N status`.
func (e *Darwin) Inspect(ctx context.Context, d *Drive) error {
	n, err := e.driveIndex(ctx, d.Path)
	if err != nil {
		return err
	}
	text, err := e.drutil(ctx, "-drive", strconv.Itoa(n), "status")
	st := ParseDrutilStatus(text)
	if st == nil {
		ee := &EngineError{Engine: "drutil", Op: "inspect drive " + d.Path}
		if err != nil {
			ee.Status = err.Error()
		}
		return ee
	}
	d.Path = strconv.Itoa(n)
	d.Vendor, d.Model, d.Revision = st.Vendor, st.Product, st.Revision
	d.Media, d.Engine = st.Media, e.Name()
	if st.Device != "" {
		// The raw device reads without the buffer cache.
		d.Device = "/dev/r" + strings.TrimPrefix(st.Device, "/dev/")
	}
	return nil
}

// burnDevice finds the -device argument for d: the hdiutil burner whose
// description names d's vendor and product, or the only burner.
func (e *Darwin) burnDevice(ctx context.Context, d *Drive) (string, error) {
	out, err := output(ctx, e.run, command{name: "hdiutil", args: []string{"burn", "-list"}})
	list := ParseHdiutilList(strings.Join(out, "\n"))
	for _, b := range list {
		if d.Model != "" && strings.Contains(b.Description, d.Model) && strings.Contains(b.Description, d.Vendor) {
			return b.Path, nil
		}
	}
	if len(list) == 1 {
		return list[0].Path, nil
	}
	if err != nil {
		return "", &EngineError{Engine: "hdiutil", Op: "list burners", Status: err.Error()}
	}
	return "", fmt.Errorf("%w: hdiutil lists %d burners and none is %s", ErrRefused, len(list), d.Name())
}

// burnArgs builds the hdiutil command line. -anydevice: most burners sold
// today are not on Apple's qualified list, and the drive was chosen by the
// user and is verified afterwards; -noverifyburn: isofsd reads the disc
// back itself; -forceclose: the disc is closed; -noeject: it stays in for
// the read-back.
func (e *Darwin) burnArgs(job Job, device string) []string {
	a := []string{"burn", job.Image, "-device", device, "-anydevice", "-puppetstrings", "-noverifyburn", "-forceclose", "-noeject"}
	if job.Speed > 0 {
		a = append(a, "-speed", strconv.Itoa(job.Speed))
	}
	if job.Dummy {
		a = append(a, "-testburn")
	}
	if job.Blank {
		a = append(a, "-erase")
	}
	return a
}

// Burn implements Engine.
func (e *Darwin) Burn(ctx context.Context, job Job, progress func(Progress)) error {
	dev, err := e.burnDevice(ctx, job.Drive)
	if err != nil {
		return err
	}
	ee := &EngineError{Engine: "hdiutil", Op: "burn"}
	err = e.run(ctx, command{name: "hdiutil", args: e.burnArgs(job, dev)}, func(l string) {
		if p, ok := ParsePuppetstrings(l); ok {
			if p.Phase == PhaseWrite && p.Percent >= 0 {
				ee.Started = true
				p.Done, p.Total = int64(p.Percent/100*float64(job.Size)), job.Size
				ee.Written = p.Done
			}
			if progress != nil {
				progress(p)
			}
			return
		}
		// "hdiutil: burn failed - Device failed to respond"
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "hdiutil: "); ok && len(ee.Messages) < maxKeptMessages {
			ee.Messages = append(ee.Messages, Message{Source: "hdiutil", Severity: "FAILURE", Text: rest})
		}
	})
	if err == nil {
		return nil
	}
	ee.Status = err.Error()
	ee.Interrupted = errors.Is(err, context.Canceled)
	return ee
}

// Eject implements Engine: `drutil -drive N eject`.
func (e *Darwin) Eject(ctx context.Context, d *Drive) error {
	n, err := e.driveIndex(ctx, d.Path)
	if err != nil {
		return err
	}
	if _, err := e.drutil(ctx, "-drive", strconv.Itoa(n), "eject"); err != nil {
		return &EngineError{Engine: "drutil", Op: "eject", Status: err.Error()}
	}
	return nil
}
