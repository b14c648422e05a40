// Package ctlproto holds the JSON messages spoken on the isofsd daemon's
// control socket, and the framing: one JSON object per line, each line at
// most MaxMessage bytes, every message carrying the protocol Version.
//
// It is its own tiny package so that clients (the CLI, scripts in other
// languages reading its documentation) depend on nothing else. A client
// sends a Request line and reads one Response line; a connection may
// carry any number of such exchanges.
package ctlproto

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// Version is the protocol version this package speaks. A daemon answers a
// request of another version with CodeVersion.
const Version = 1

// MaxMessage caps one line (request or response) in bytes: a request is a
// few paths and flags; a list response of many mounts stays far below.
// The reader never buffers more than this for one line.
const MaxMessage = 1 << 20

// MaxRequest is tighter: requests are small, and a peer streaming
// megabytes of garbage should be cut off early.
const MaxRequest = 64 << 10

// Operations.
const (
	OpMount   = "mount"
	OpUnmount = "unmount"
	OpList    = "list"
	OpStatus  = "status"
)

// Error codes, stable for scripts.
const (
	CodeBadRequest = "bad_request"   // malformed JSON, missing or invalid fields
	CodeTooLarge   = "too_large"     // the line exceeds the size cap
	CodeVersion    = "version"       // unsupported protocol version
	CodeUnknownOp  = "unknown_op"    // op not known to this daemon
	CodePermission = "permission"    // peer not allowed
	CodeNotFound   = "not_found"     // no such mount
	CodeBusy       = "busy"          // mountpoint in use, or files open on unmount
	CodeImage      = "image"         // image cannot be opened or parsed
	CodeMountpoint = "mountpoint"    // mountpoint missing or not a directory
	CodeNoFUSE     = "no_fuse"       // FUSE unavailable
	CodeRefused    = "refused"       // the kernel or fusermount3 refused the mount
	CodeShutdown   = "shutting_down" // the daemon is stopping
	CodeInternal   = "internal"      // anything else
)

// Request is one client request.
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// Mount is the mount to make (OpMount).
	Mount *MountRequest `json:"mount,omitempty"`
	// Mountpoint names the mount to remove (OpUnmount).
	Mountpoint string `json:"mountpoint,omitempty"`
	// Lazy detaches a busy mount instead of failing (OpUnmount).
	Lazy bool `json:"lazy,omitempty"`
}

// MountRequest describes a mount. Paths must be absolute: the daemon does
// not share the client's working directory.
type MountRequest struct {
	Image string `json:"image"`
	// Mountpoint is where to mount; empty with AutoMountpoint.
	Mountpoint string `json:"mountpoint"`
	// AutoMountpoint asks the daemon to make a mountpoint named after
	// the image's label (under /media/USER or $XDG_RUNTIME_DIR/isofsd)
	// and to remove it after unmounting; the response names it.
	AutoMountpoint bool   `json:"auto_mountpoint,omitempty"`
	Tree           string `json:"tree,omitempty"`
	CacheSize      int64  `json:"cache_size,omitempty"`
	// UID and GID own files of trees without ownership; nil: the
	// requesting peer's.
	UID        *uint32  `json:"uid,omitempty"`
	GID        *uint32  `json:"gid,omitempty"`
	Umask      uint32   `json:"umask,omitempty"`
	AllowOther bool     `json:"allow_other,omitempty"`
	Options    []string `json:"options,omitempty"`
	Boot       bool     `json:"boot,omitempty"`
	Splice     bool     `json:"splice,omitempty"`
	Prefetch   bool     `json:"prefetch,omitempty"`
	Xattr      bool     `json:"xattr,omitempty"`
	DirectIO   bool     `json:"direct_io,omitempty"`
	// Nonempty allows mounting over a directory that has entries.
	Nonempty bool `json:"nonempty,omitempty"`
}

// Response answers one request. OK is false exactly when Error is set.
type Response struct {
	Version int           `json:"version"`
	OK      bool          `json:"ok"`
	Error   *Error        `json:"error,omitempty"`
	Mount   *MountStatus  `json:"mount,omitempty"`
	Mounts  []MountStatus `json:"mounts,omitempty"`
	Status  *DaemonStatus `json:"status,omitempty"`
}

// MountStatus describes one live mount.
type MountStatus struct {
	Mountpoint string    `json:"mountpoint"`
	Image      string    `json:"image"`
	Tree       string    `json:"tree"`
	Since      time.Time `json:"since"`
	// Origin says who asked for the mount: "client" or "watch".
	Origin string `json:"origin"`
	// BytesRead is file data served; -1 when the backend does not count.
	BytesRead   int64  `json:"bytes_read"`
	CacheHits   uint64 `json:"cache_hits"`
	CacheMisses uint64 `json:"cache_misses"`
	// Lookups and ReadDirs count the name lookups and directory
	// listings the kernel asked for: whether anything walked the mount.
	Lookups  int64 `json:"lookups"`
	ReadDirs int64 `json:"readdirs"`
}

// Uptime is how long the mount has been up at now.
func (m MountStatus) Uptime(now time.Time) time.Duration { return now.Sub(m.Since) }

// CacheHitRate is hits / lookups in [0,1], or -1 before the first lookup.
func (m MountStatus) CacheHitRate() float64 {
	total := m.CacheHits + m.CacheMisses
	if total == 0 {
		return -1
	}
	return float64(m.CacheHits) / float64(total)
}

// DaemonStatus describes the daemon.
type DaemonStatus struct {
	PID       int       `json:"pid"`
	Socket    string    `json:"socket"`
	Started   time.Time `json:"started"`
	Mounts    int       `json:"mounts"`
	Watch     string    `json:"watch,omitempty"`
	MountRoot string    `json:"mount_root,omitempty"`
	// Pending counts watched images waiting to stop growing or to be
	// retried after a failure.
	Pending int `json:"pending"`
}

// Error is a failure reported by the daemon.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message + " (" + e.Code + ")" }

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrTooLarge is returned by the readers for a line over the cap; the
// connection cannot be resynchronised after it and should be closed.
var ErrTooLarge = errors.New("ctlproto: message too large")

// ReadLine reads one newline-terminated line of at most limit bytes
// (without the newline). A final line without a newline is returned with
// io.EOF only if it is empty.
func ReadLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit+1 {
			return nil, ErrTooLarge
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// DecodeRequest parses and validates one request line. The returned
// *Error is what the daemon should answer.
func DecodeRequest(line []byte) (*Request, *Error) {
	if len(line) > MaxRequest {
		return nil, Errorf(CodeTooLarge, "request of %d bytes exceeds %d", len(line), MaxRequest)
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	// Unknown fields are refused so that a typo ("mountpiont") is an
	// error rather than a silently different request.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, Errorf(CodeBadRequest, "malformed request: %v", err)
	}
	if dec.More() {
		return nil, Errorf(CodeBadRequest, "malformed request: trailing data after the JSON object")
	}
	if req.Version != Version {
		return nil, Errorf(CodeVersion, "protocol version %d not supported (this daemon speaks %d)", req.Version, Version)
	}
	switch req.Op {
	case OpList, OpStatus:
	case OpMount:
		m := req.Mount
		if m == nil {
			return nil, Errorf(CodeBadRequest, "mount: missing \"mount\" object")
		}
		if !filepath.IsAbs(m.Image) || (!filepath.IsAbs(m.Mountpoint) && !IsDrive(m.Mountpoint) && !m.AutoMountpoint) {
			return nil, Errorf(CodeBadRequest, "mount: image and mountpoint must be absolute paths (or a drive such as X:)")
		}
		if m.AutoMountpoint && m.Mountpoint != "" {
			return nil, Errorf(CodeBadRequest, "mount: auto_mountpoint and mountpoint exclude each other")
		}
		if m.CacheSize < 0 {
			return nil, Errorf(CodeBadRequest, "mount: negative cache_size")
		}
		if m.Umask > 0o777 {
			return nil, Errorf(CodeBadRequest, "mount: umask %o out of range", m.Umask)
		}
		switch m.Tree {
		case "", "udf", "rockridge", "joliet", "iso9660":
		default:
			return nil, Errorf(CodeBadRequest, "mount: unknown tree %q", m.Tree)
		}
	case OpUnmount:
		if !filepath.IsAbs(req.Mountpoint) && !IsDrive(req.Mountpoint) {
			return nil, Errorf(CodeBadRequest, "unmount: mountpoint must be an absolute path (or a drive such as X:)")
		}
	case "":
		return nil, Errorf(CodeBadRequest, "missing op")
	default:
		return nil, Errorf(CodeUnknownOp, "unknown op %q", req.Op)
	}
	return &req, nil
}

// IsDrive reports whether s names a Windows drive ("X:"), the other form
// a mountpoint may take there.
func IsDrive(s string) bool {
	return len(s) == 2 && s[1] == ':' && (s[0]|0x20) >= 'a' && (s[0]|0x20) <= 'z'
}

// DecodeResponse parses one response line. Unknown fields are accepted:
// a newer daemon may add some.
func DecodeResponse(line []byte) (*Response, error) {
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("ctlproto: malformed response: %w", err)
	}
	if resp.Version != Version {
		return nil, fmt.Errorf("ctlproto: daemon speaks protocol version %d, this client %d", resp.Version, Version)
	}
	if !resp.OK && resp.Error == nil {
		return nil, errors.New("ctlproto: response is neither ok nor an error")
	}
	return &resp, nil
}

// Write sends v as one line.
func Write(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxMessage {
		return ErrTooLarge
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Call sends req on rw and reads the response; a daemon error is
// returned as *Error.
func Call(rw io.ReadWriter, br *bufio.Reader, req *Request) (*Response, error) {
	req.Version = Version
	if err := Write(rw, req); err != nil {
		return nil, err
	}
	line, err := ReadLine(br, MaxMessage)
	if err != nil {
		return nil, fmt.Errorf("ctlproto: reading response: %w", err)
	}
	resp, err := DecodeResponse(line)
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return resp, resp.Error
	}
	return resp, nil
}
