package burn

// The Windows engine: IMAPI2, the COM burning API built into Windows since
// Vista. The sequence of IMAPI2 calls is written here against a small
// automation interface (comObject), so that it builds and is tested on
// every platform with a recording fake; imapi_windows.go implements the
// interface with go-ole and adds what IDispatch cannot do (an IStream on
// the image, the progress event sink).

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// comObject is the part of an OLE Automation (IDispatch) object the IMAPI2
// code uses. Values are string, integer types, bool, []any (SAFEARRAY) and
// comObject.
type comObject interface {
	Get(name string, args ...any) (any, error)
	Put(name string, v any) error
	Call(name string, args ...any) (any, error)
	Release()
}

// imapiHost is a COM session on one thread.
type imapiHost interface {
	// Create makes an object from its ProgID ("IMAPI2.MsftDiscMaster2").
	Create(progID string) (comObject, error)
	// ImageStream opens path as the IStream IDiscFormat2Data.Write takes.
	ImageStream(path string) (stream any, release func(), err error)
	// Advise subscribes update to format's DDiscFormat2DataEvents; update
	// receives the IDiscFormat2DataEventArgs of each Update event.
	Advise(format comObject, update func(args comObject)) (unadvise func(), err error)
	// Close ends the session.
	Close()
}

// IMAPI2 is the Windows burn engine.
type IMAPI2 struct {
	// open starts a COM session on the calling goroutine's thread.
	open func() (imapiHost, error)
}

// Name implements Engine.
func (e *IMAPI2) Name() string { return "imapi2" }

// Pseudo implements Engine: IMAPI2 knows real recorders only.
func (e *IMAPI2) Pseudo() bool { return false }

// clientName is what IMAPI2 shows other programs as the drive's user.
const clientName = "isofsd"

// IMAPI_MEDIA_PHYSICAL_TYPE, named as libburn names MMC profiles.
var imapiMediaTypes = map[int64]string{
	1: "CD-ROM", 2: "CD-R", 3: "CD-RW", 4: "DVD-ROM", 5: "DVD-RAM", 6: "DVD+R", 7: "DVD+RW", 8: "DVD+R/DL",
	9: "DVD-R", 10: "DVD-RW", 11: "DVD-R/DL", 12: "Removable disk", 13: "DVD+RW/DL",
	14: "HD DVD-ROM", 15: "HD DVD-R", 16: "HD DVD-RAM", 17: "BD-ROM", 18: "BD-R", 19: "BD-RE",
}

// IMAPI_FORMAT2_DATA_MEDIA_STATE flags.
const (
	imapiStateOverwriteOnly = 0x1
	imapiStateBlank         = 0x2
	imapiStateAppendable    = 0x4
	imapiStateFinalSession  = 0x8
	imapiStateDamaged       = 0x400
	imapiStateEraseRequired = 0x800
	imapiStateFinalized     = 0x4000
	imapiStateUnsupported   = 0x8000
)

// Sectors per second at 1x, as IMAPI2 counts write speeds
// (IMAPI_SECTORS_PER_SECOND_AT_1X_*).
var imapiSectorsAt1x = map[string]int64{"CD": 75, "DVD": 680, "BD": 2195}

// IMAPI2 HRESULTs isofsd tells apart.
const (
	hrNoMedia       = 0xC0AA0202 // E_IMAPI_RECORDER_MEDIA_NO_MEDIA
	hrRecorderInUse = 0xC0AA0210 // E_IMAPI_RECORDER_LOCKED (another application holds it)
)

// hresulter is implemented by the Windows host's errors.
type hresulter interface{ HRESULT() uint32 }

func hresult(err error) uint32 {
	var h hresulter
	if errors.As(err, &h) {
		return h.HRESULT()
	}
	return 0
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n < 1<<63 {
			return int64(n), true
		}
	}
	return 0, false
}

func getString(o comObject, name string) string {
	v, err := o.Get(name)
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return cleanID(s)
}

func getInt(o comObject, name string) (int64, error) {
	v, err := o.Get(name)
	if err != nil {
		return 0, err
	}
	n, ok := toInt64(v)
	if !ok {
		return 0, fmt.Errorf("imapi2: %s is a %T, not a number", name, v)
	}
	return n, nil
}

func getBool(o comObject, name string, args ...any) (bool, error) {
	v, err := o.Get(name, args...)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("imapi2: %s is a %T, not a boolean", name, v)
	}
	return b, nil
}

// session runs fn in a COM session.
func (e *IMAPI2) session(op string, fn func(h imapiHost) error) error {
	h, err := e.open()
	if err != nil {
		return &EngineError{Engine: "imapi2", Op: op, Status: err.Error()}
	}
	defer h.Close()
	if err := fn(h); err != nil {
		var ee *EngineError
		if errors.As(err, &ee) || errors.Is(err, ErrRefused) || errors.Is(err, ErrUnsupported) {
			return err
		}
		return &EngineError{Engine: "imapi2", Op: op, Status: err.Error(), Busy: hresult(err) == hrRecorderInUse}
	}
	return nil
}

// recorders lists the recorders' unique ids (IDiscMaster2).
func recorders(h imapiHost) ([]string, error) {
	master, err := h.Create("IMAPI2.MsftDiscMaster2")
	if err != nil {
		return nil, err
	}
	defer master.Release()
	if ok, err := getBool(master, "IsSupportEnabled"); err == nil && !ok {
		return nil, errors.New("IMAPI2 is disabled on this computer (IsSupportEnabled is false)")
	}
	n, err := getInt(master, "Count")
	if err != nil {
		return nil, err
	}
	var ids []string
	for i := int64(0); i < n && i < maxDrives; i++ {
		v, err := master.Get("Item", int32(i))
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && s != "" {
			ids = append(ids, s)
		}
	}
	return ids, nil
}

// openRecorder makes an IDiscRecorder2 for the recorder id.
func openRecorder(h imapiHost, id string) (comObject, error) {
	rec, err := h.Create("IMAPI2.MsftDiscRecorder2")
	if err != nil {
		return nil, err
	}
	if _, err := rec.Call("InitializeDiscRecorder", id); err != nil {
		rec.Release()
		return nil, err
	}
	return rec, nil
}

// recorderDrive reads a recorder's identity; Path is its first drive
// letter ("E:"), Device the volume to read the disc back from.
func recorderDrive(rec comObject, id string) *Drive {
	d := &Drive{Path: id, Vendor: getString(rec, "VendorId"), Model: getString(rec, "ProductId"),
		Revision: getString(rec, "ProductRevision"), Engine: "imapi2"}
	if v, err := rec.Get("VolumePathNames"); err == nil {
		if list, ok := v.([]any); ok {
			for _, p := range list {
				if s, ok := p.(string); ok && len(s) >= 2 && s[1] == ':' {
					d.Path = strings.ToUpper(s[:2])
					d.Device = `\\.\` + d.Path
					break
				}
			}
		}
	}
	return d
}

// findRecorder opens the recorder named by path: a drive letter ("E:",
// "e", `E:\`) or a recorder id.
func findRecorder(h imapiHost, path string) (comObject, *Drive, error) {
	ids, err := recorders(h)
	if err != nil {
		return nil, nil, err
	}
	want := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(path, `\`), ":"))
	for _, id := range ids {
		rec, err := openRecorder(h, id)
		if err != nil {
			return nil, nil, err
		}
		d := recorderDrive(rec, id)
		if id == path || strings.TrimSuffix(d.Path, ":") == want {
			return rec, d, nil
		}
		rec.Release()
	}
	return nil, nil, fmt.Errorf("%w: %s: no disc recorder has that drive letter or id", ErrRefused, path)
}

// Drives implements Engine.
func (e *IMAPI2) Drives(ctx context.Context) ([]*Drive, error) {
	var out []*Drive
	err := e.session("list drives", func(h imapiHost) error {
		ids, err := recorders(h)
		if err != nil {
			return err
		}
		for _, id := range ids {
			rec, err := openRecorder(h, id)
			if err != nil {
				return err
			}
			out = append(out, recorderDrive(rec, id))
			rec.Release()
		}
		return nil
	})
	return out, err
}

// Inspect implements Engine: the recorder's identity and, through
// IDiscFormat2Data, the disc's type, state, size and write speeds.
func (e *IMAPI2) Inspect(ctx context.Context, d *Drive) error {
	return e.session("inspect "+d.Path, func(h imapiHost) error {
		rec, found, err := findRecorder(h, d.Path)
		if err != nil {
			return err
		}
		defer rec.Release()
		d.Path, d.Device, d.Vendor, d.Model, d.Revision, d.Engine = found.Path, found.Device, found.Vendor, found.Model, found.Revision, "imapi2"
		if owner := getString(rec, "ExclusiveAccessOwner"); owner != "" {
			d.Busy = "held by " + owner
		}
		m, err := inspectMedia(h, rec)
		if err != nil {
			return err
		}
		d.Media = m
		return nil
	})
}

func inspectMedia(h imapiHost, rec comObject) (*Media, error) {
	format, err := h.Create("IMAPI2.MsftDiscFormat2Data")
	if err != nil {
		return nil, err
	}
	defer format.Release()
	if ok, err := format.Call("IsRecorderSupported", rec); err == nil && ok == false {
		return nil, fmt.Errorf("%w: the recorder cannot write data discs", ErrUnsupported)
	}
	if err := format.Put("Recorder", rec); err != nil {
		return nil, err
	}
	typ, err := getInt(format, "CurrentPhysicalMediaType")
	if hresult(err) == hrNoMedia {
		return NoMedia(), nil
	}
	if err != nil {
		return nil, err
	}
	m := &Media{Present: true, Type: imapiMediaTypes[typ], State: StateUnknown, Sessions: -1, Free: -1, Capacity: -1}
	if m.Type == "" {
		m.Type = fmt.Sprintf("IMAPI media type %d", typ)
	}
	m.Class = ClassifyType(m.Type)
	if st, err := getInt(format, "CurrentMediaStatus"); err == nil {
		switch {
		case st&imapiStateUnsupported != 0:
			m.Class = ClassUnknown
		case st&imapiStateBlank != 0:
			m.State = StateBlank
		case st&(imapiStateFinalized|imapiStateFinalSession) != 0:
			m.State = StateClosed
		case st&imapiStateAppendable != 0:
			m.State = StateAppendable
		case st&(imapiStateOverwriteOnly|imapiStateEraseRequired|imapiStateDamaged) != 0:
			m.State = StateAppendable
		}
		if m.Class == ClassOverwritable && m.State != StateBlank {
			if blank, err := getBool(format, "MediaHeuristicallyBlank"); err == nil && blank {
				m.State = StateBlank
			} else {
				m.State = StateAppendable
			}
		}
	}
	if n, err := getInt(format, "FreeSectorsOnMedia"); err == nil {
		m.Free = sectors(n)
	}
	if n, err := getInt(format, "TotalSectorsOnMedia"); err == nil {
		m.Capacity = sectors(n)
	}
	fam := m.Family()
	if v, err := format.Get("SupportedWriteSpeeds"); err == nil {
		if list, ok := v.([]any); ok {
			for _, x := range list {
				sps, ok := toInt64(x)
				if !ok || sps <= 0 || sps > 1<<30 {
					continue
				}
				s := Speed{KBps: int(sps * SectorSize / 1000), Family: fam}
				if at1 := imapiSectorsAt1x[fam]; at1 > 0 {
					s.X = float64(sps*10/at1) / 10
				}
				m.WriteSpeeds = appendSpeed(m.WriteSpeeds, s)
			}
		}
	}
	m.WriteSpeeds = sortSpeeds(m.WriteSpeeds)
	return m, nil
}

// IMAPI_FORMAT2_DATA_WRITE_ACTION, the phase of an Update event.
const (
	imapiActionWriting    = 4
	imapiActionFinalizing = 5
)

// Burn implements Engine. IMAPI2 cannot simulate a burn. The disc is
// erased first when asked (IDiscFormat2Erase), then written and closed
// (IDiscFormat2Data with ForceMediaToBeClosed), holding the recorder
// exclusively throughout. Cancellation is requested from inside the
// progress event, where IMAPI2 accepts CancelWrite.
func (e *IMAPI2) Burn(ctx context.Context, job Job, progress func(Progress)) error {
	if job.Dummy {
		return fmt.Errorf("%w: IMAPI2 cannot simulate a burn (--dummy)", ErrUnsupported)
	}
	ee := &EngineError{Engine: "imapi2", Op: "burn"}
	err := e.session("burn", func(h imapiHost) error {
		rec, _, err := findRecorder(h, job.Drive.Path)
		if err != nil {
			return err
		}
		defer rec.Release()
		if _, err := rec.Call("AcquireExclusiveAccess", true, clientName); err != nil {
			ee.Busy = true
			return err
		}
		defer rec.Call("ReleaseExclusiveAccess")
		if job.Blank {
			if progress != nil {
				progress(Progress{Phase: PhaseBlank, Percent: -1})
			}
			ee.Started = true
			if err := erase(h, rec); err != nil {
				return err
			}
		}
		format, err := h.Create("IMAPI2.MsftDiscFormat2Data")
		if err != nil {
			return err
		}
		defer format.Release()
		for _, p := range []struct {
			name string
			v    any
		}{{"Recorder", rec}, {"ClientName", clientName}, {"ForceMediaToBeClosed", true}} {
			if err := format.Put(p.name, p.v); err != nil {
				return fmt.Errorf("setting %s: %w", p.name, err)
			}
		}
		if job.Speed > 0 {
			fam := ""
			if job.Drive.Media != nil {
				fam = job.Drive.Media.Family()
			}
			sps := int64(job.Speed) * max(imapiSectorsAt1x[fam], 75)
			if _, err := format.Call("SetWriteSpeed", int32(sps), false); err != nil {
				return fmt.Errorf("setting the speed: %w", err)
			}
		}
		stream, release, err := h.ImageStream(job.Image)
		if err != nil {
			return fmt.Errorf("opening %s: %w", job.Image, err)
		}
		defer release()
		unadvise, err := h.Advise(format, func(args comObject) {
			if ctx.Err() != nil {
				ee.Interrupted = true
				format.Call("CancelWrite")
				return
			}
			p, ok := imapiProgress(args, job.Size)
			if !ok {
				return
			}
			if p.Phase == PhaseWrite {
				ee.Started = true
				ee.Written = p.Done
			}
			if progress != nil {
				progress(p)
			}
		})
		if err != nil {
			return fmt.Errorf("subscribing to progress: %w", err)
		}
		defer unadvise()
		ee.Started = true // from here the disc may be changed
		if _, err := format.Call("Write", stream); err != nil {
			return err
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrRefused) || errors.Is(err, ErrUnsupported) {
		return err
	}
	var se *EngineError
	if errors.As(err, &se) {
		ee.Status = se.Status
		ee.Busy = ee.Busy || se.Busy
	} else {
		ee.Status = err.Error()
	}
	return ee
}

// erase blanks rewritable media with IDiscFormat2Erase (a quick erase).
func erase(h imapiHost, rec comObject) error {
	er, err := h.Create("IMAPI2.MsftDiscFormat2Erase")
	if err != nil {
		return err
	}
	defer er.Release()
	for _, p := range []struct {
		name string
		v    any
	}{{"Recorder", rec}, {"ClientName", clientName}, {"FullErase", false}} {
		if err := er.Put(p.name, p.v); err != nil {
			return fmt.Errorf("erase: setting %s: %w", p.name, err)
		}
	}
	if _, err := er.Call("EraseMedia"); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return nil
}

// imapiProgress reads an IDiscFormat2DataEventArgs: the action and, while
// writing, the last sector written relative to the start.
func imapiProgress(args comObject, size int64) (Progress, bool) {
	action, err := getInt(args, "CurrentAction")
	if err != nil {
		return Progress{}, false
	}
	switch action {
	case imapiActionWriting:
		start, err1 := getInt(args, "StartLba")
		last, err2 := getInt(args, "LastWrittenLba")
		if err1 != nil || err2 != nil || last < start {
			return Progress{}, false
		}
		done := min(sectors(last-start), size)
		if done < 0 {
			return Progress{}, false
		}
		return Progress{Phase: PhaseWrite, Done: done, Total: size, Percent: -1}, true
	case imapiActionFinalizing:
		return Progress{Phase: PhaseClose, Percent: -1}, true
	}
	return Progress{}, false
}

// Eject implements Engine.
func (e *IMAPI2) Eject(ctx context.Context, d *Drive) error {
	return e.session("eject", func(h imapiHost) error {
		rec, _, err := findRecorder(h, d.Path)
		if err != nil {
			return err
		}
		defer rec.Release()
		_, err = rec.Call("EjectMedia")
		return err
	})
}
