//go:build windows

package burn

// The COM side of the IMAPI2 engine: go-ole for OLE Automation calls
// (IDispatch with VARIANT conversion), plus the two things go-ole does not
// do for IMAPI2: passing an IStream (VT_UNKNOWN) argument, which go-ole's
// argument conversion does not know, and an event sink for
// DDiscFormat2DataEvents — go-ole's oleutil.ConnectObject dispatches events
// only by names the source looked up with GetIDsOfNames, which IMAPI2
// never does (it invokes DISPID 0x200 directly).

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	ole "github.com/go-ole/go-ole"
	"github.com/go-ole/go-ole/oleutil"
	"golang.org/x/sys/windows"
)

// NewIMAPI2 returns the Windows engine.
func NewIMAPI2() *IMAPI2 { return &IMAPI2{open: openCOM} }

// diidDataEvents is DIID_DDiscFormat2DataEvents (imapi2.h).
var diidDataEvents = ole.NewGUID("{2735413C-7F64-5B0F-8F00-5D77AFBE261E}")

// dispidUpdate is DISPID_DDISCFORMAT2DATAEVENTS_UPDATE.
const dispidUpdate = 0x200

const (
	hrSFalse      = 1
	hrENotImpl    = 0x80004001
	hrENoIntrface = 0x80004002
)

// hrError is a COM failure with its HRESULT.
type hrError struct {
	err  error
	code uint32
}

func (e *hrError) Error() string   { return e.err.Error() }
func (e *hrError) Unwrap() error   { return e.err }
func (e *hrError) HRESULT() uint32 { return e.code }

func comError(err error) error {
	var oe *ole.OleError
	if errors.As(err, &oe) {
		return &hrError{err: err, code: uint32(oe.Code())}
	}
	return err
}

// comHost is a COM session pinned to one OS thread: COM state belongs to
// the thread that initialised it, and goroutines move between threads.
type comHost struct{}

func openCOM() (imapiHost, error) {
	runtime.LockOSThread()
	if err := ole.CoInitializeEx(0, ole.COINIT_MULTITHREADED); err != nil {
		var oe *ole.OleError
		if !errors.As(err, &oe) || oe.Code() != hrSFalse { // S_FALSE: already initialised
			runtime.UnlockOSThread()
			return nil, err
		}
	}
	return &comHost{}, nil
}

func (h *comHost) Close() {
	ole.CoUninitialize()
	runtime.UnlockOSThread()
}

func (h *comHost) Create(progID string) (comObject, error) {
	unk, err := oleutil.CreateObject(progID)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", progID, comError(err))
	}
	defer unk.Release()
	d, err := unk.QueryInterface(ole.IID_IDispatch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", progID, comError(err))
	}
	return &dispObject{d: d}, nil
}

// dispObject is an IDispatch the code owns a reference to.
type dispObject struct{ d *ole.IDispatch }

// borrowed wraps an IDispatch the caller does not own (an event's
// argument): Release does nothing.
type borrowed struct{ dispObject }

func (b *borrowed) Release() {}

func (o *dispObject) Release() { o.d.Release() }

// oleArgs turns comObjects into the *ole.IDispatch go-ole passes on.
func oleArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case *dispObject:
			out[i] = v.d
		case *borrowed:
			out[i] = v.d
		default:
			out[i] = a
		}
	}
	return out
}

func fromVariant(v *ole.VARIANT) any {
	switch {
	case v.VT == ole.VT_DISPATCH:
		d := v.ToIDispatch()
		d.AddRef()
		return &dispObject{d: d}
	case v.VT&ole.VT_ARRAY != 0:
		if a := v.ToArray(); a != nil {
			return a.ToValueArray()
		}
		return []any(nil)
	}
	return v.Value()
}

func (o *dispObject) Get(name string, args ...any) (any, error) {
	v, err := oleutil.GetProperty(o.d, name, oleArgs(args)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, comError(err))
	}
	defer v.Clear()
	return fromVariant(v), nil
}

func (o *dispObject) Put(name string, val any) error {
	v, err := oleutil.PutProperty(o.d, name, oleArgs([]any{val})...)
	if err != nil {
		return fmt.Errorf("%s: %w", name, comError(err))
	}
	v.Clear()
	return nil
}

func (o *dispObject) Call(name string, args ...any) (any, error) {
	if len(args) == 1 {
		if s, ok := args[0].(*imapiStream); ok {
			return nil, invokeWithUnknown(o.d, name, s.u)
		}
	}
	v, err := oleutil.CallMethod(o.d, name, oleArgs(args)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, comError(err))
	}
	defer v.Clear()
	return fromVariant(v), nil
}

// dispParams mirrors DISPPARAMS (go-ole's fields are not exported).
type dispParams struct {
	rgvarg            *ole.VARIANT
	rgdispidNamedArgs *int32
	cArgs             uint32
	cNamedArgs        uint32
}

// invokeWithUnknown calls method name with one VT_UNKNOWN argument.
func invokeWithUnknown(d *ole.IDispatch, name string, u *ole.IUnknown) error {
	id, err := d.GetSingleIDOfName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, comError(err))
	}
	arg := ole.NewVariant(ole.VT_UNKNOWN, int64(uintptr(unsafe.Pointer(u))))
	params := dispParams{rgvarg: &arg, cArgs: 1}
	var result ole.VARIANT
	ole.VariantInit(&result)
	var excep ole.EXCEPINFO
	hr, _, _ := syscall.SyscallN(d.VTable().Invoke, uintptr(unsafe.Pointer(d)), uintptr(id),
		uintptr(unsafe.Pointer(ole.IID_NULL)), 0, ole.DISPATCH_METHOD,
		uintptr(unsafe.Pointer(&params)), uintptr(unsafe.Pointer(&result)), uintptr(unsafe.Pointer(&excep)), 0)
	runtime.KeepAlive(u)
	ole.VariantClear(&result)
	if hr != 0 {
		msg := excep.Error()
		excep.Clear()
		return &hrError{err: fmt.Errorf("%s: HRESULT %#x: %s", name, uint32(hr), msg), code: uint32(hr)}
	}
	return nil
}

// imapiStream is an IStream on the image file.
type imapiStream struct{ u *ole.IUnknown }

var procSHCreateStreamOnFileEx = windows.NewLazySystemDLL("shlwapi.dll").NewProc("SHCreateStreamOnFileEx")

func (h *comHost) ImageStream(path string) (any, func(), error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, nil, err
	}
	const stgmRead, stgmShareDenyWrite = 0x0, 0x20
	var s *ole.IUnknown
	hr, _, _ := procSHCreateStreamOnFileEx.Call(uintptr(unsafe.Pointer(p)), stgmRead|stgmShareDenyWrite, 0, 0, 0, uintptr(unsafe.Pointer(&s)))
	if hr != 0 || s == nil {
		return nil, nil, &hrError{err: fmt.Errorf("SHCreateStreamOnFileEx(%s): HRESULT %#x", path, uint32(hr)), code: uint32(hr)}
	}
	return &imapiStream{u: s}, func() { s.Release() }, nil
}

// eventSink is a minimal IDispatch that receives DDiscFormat2DataEvents.
// COM holds a pointer to it; sinks keeps it reachable until Unadvise.
type eventSink struct {
	vtbl   *sinkVtbl
	refs   int32
	update func(comObject)
}

type sinkVtbl struct {
	QueryInterface, AddRef, Release, GetTypeInfoCount, GetTypeInfo, GetIDsOfNames, Invoke uintptr
}

var (
	// Callbacks are a scarce resource (Windows allows a fixed number per
	// process): one vtable serves every sink.
	sinkVtblOnce sync.Once
	sharedVtbl   *sinkVtbl
	sinks        sync.Map // *eventSink → struct{}
)

func vtable() *sinkVtbl {
	sinkVtblOnce.Do(func() {
		sharedVtbl = &sinkVtbl{
			QueryInterface:   syscall.NewCallback(sinkQueryInterface),
			AddRef:           syscall.NewCallback(sinkAddRef),
			Release:          syscall.NewCallback(sinkRelease),
			GetTypeInfoCount: syscall.NewCallback(sinkGetTypeInfoCount),
			GetTypeInfo:      syscall.NewCallback(sinkNotImpl4),
			GetIDsOfNames:    syscall.NewCallback(sinkNotImpl6),
			Invoke:           syscall.NewCallback(sinkInvoke),
		}
	})
	return sharedVtbl
}

func sinkQueryInterface(this *eventSink, iid *ole.GUID, out **eventSink) uintptr {
	if ole.IsEqualGUID(iid, ole.IID_IUnknown) || ole.IsEqualGUID(iid, ole.IID_IDispatch) || ole.IsEqualGUID(iid, diidDataEvents) {
		*out = this
		atomic.AddInt32(&this.refs, 1)
		return 0
	}
	*out = nil
	return hrENoIntrface
}

func sinkAddRef(this *eventSink) uintptr  { return uintptr(atomic.AddInt32(&this.refs, 1)) }
func sinkRelease(this *eventSink) uintptr { return uintptr(atomic.AddInt32(&this.refs, -1)) }

func sinkGetTypeInfoCount(this *eventSink, n *uint32) uintptr {
	*n = 0
	return 0
}

func sinkNotImpl4(this, a, b, c uintptr) uintptr       { return hrENotImpl }
func sinkNotImpl6(this, a, b, c, d, e uintptr) uintptr { return hrENotImpl }

func sinkInvoke(this *eventSink, dispid, iid, lcid, flags uintptr, params *dispParams, result, excep, argErr uintptr) uintptr {
	if int32(dispid) != dispidUpdate || params == nil || params.cArgs < 2 || params.rgvarg == nil {
		return 0
	}
	// Update(object, progress): DISPPARAMS holds the arguments last first.
	args := unsafe.Slice(params.rgvarg, params.cArgs)
	if args[0].VT == ole.VT_DISPATCH {
		this.update(&borrowed{dispObject{d: args[0].ToIDispatch()}})
	}
	return 0
}

func (h *comHost) Advise(format comObject, update func(comObject)) (func(), error) {
	o, ok := format.(*dispObject)
	if !ok {
		return nil, errors.New("imapi2: not a COM object")
	}
	unk, err := o.d.QueryInterface(ole.IID_IConnectionPointContainer)
	if err != nil {
		return nil, comError(err)
	}
	container := (*ole.IConnectionPointContainer)(unsafe.Pointer(unk))
	defer container.Release()
	var point *ole.IConnectionPoint
	if err := container.FindConnectionPoint(diidDataEvents, &point); err != nil {
		return nil, comError(err)
	}
	s := &eventSink{vtbl: vtable(), refs: 1, update: update}
	sinks.Store(s, struct{}{})
	cookie, err := point.Advise((*ole.IUnknown)(unsafe.Pointer(s)))
	if err != nil {
		point.Release()
		sinks.Delete(s)
		return nil, comError(err)
	}
	return func() {
		point.Unadvise(cookie)
		point.Release()
		sinks.Delete(s)
	}, nil
}
