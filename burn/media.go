package burn

import (
	"fmt"
	"os"
	"strings"

	"github.com/isofsd/isofsd/internal/units"
)

// SectorSize is the size of a data sector on every optical medium (mode 1
// / DVD / BD user data), and the unit engines count media in.
const SectorSize = 2048

// MediaClass says what can be done with a kind of medium.
type MediaClass string

// Media classes.
const (
	// ClassWriteOnce media (CD-R, DVD±R, BD-R) are written once; a
	// non-blank one can never be made blank again.
	ClassWriteOnce MediaClass = "write-once"
	// ClassRewritable media (CD-RW, sequential DVD-RW) must be blanked
	// before they can be written from the start again.
	ClassRewritable MediaClass = "rewritable"
	// ClassOverwritable media (DVD+RW, DVD-RAM, BD-RE, formatted DVD-RW,
	// and libburn's stdio: pseudo-drives) are written in place.
	ClassOverwritable MediaClass = "overwritable"
	// ClassReadOnly media (CD-ROM, DVD-ROM, BD-ROM) cannot be written.
	ClassReadOnly MediaClass = "read-only"
	// ClassUnknown is a medium type isofsd does not know; it is never
	// written.
	ClassUnknown MediaClass = "unknown"
)

// MediaState is the recording state of the medium in a drive.
type MediaState string

// Media states.
const (
	StateNone       MediaState = "none"       // no medium in the drive
	StateBlank      MediaState = "blank"      // nothing recorded
	StateAppendable MediaState = "appendable" // recorded, further sessions possible
	StateClosed     MediaState = "closed"     // recorded and finalized
	StateUnknown    MediaState = "unknown"    // the engine could not tell
)

// Speed is a write speed a drive offers for the loaded medium.
type Speed struct {
	// KBps is the rate in kB/s (1000 bytes), as MMC counts it.
	KBps int `json:"kbps"`
	// X is the rate as a multiple of the media family's 1x speed.
	X float64 `json:"x"`
	// Family is "CD", "DVD" or "BD": whose 1x X is a multiple of.
	Family string `json:"family,omitempty"`
}

func (s Speed) String() string {
	x := fmt.Sprintf("%.1f", s.X)
	x = strings.TrimSuffix(x, ".0")
	if s.Family == "" {
		return x + "x"
	}
	return x + "x " + s.Family
}

// 1x speeds of each family in kB/s (1000 bytes): CD 176.4 (raw bytes, as
// libburn counts it), DVD 1385, BD 4495.625.
var familyKBps = map[string]float64{"CD": 176.4, "DVD": 1385, "BD": 4495.625}

// SpeedFromKBps makes a Speed for a family ("CD", "DVD", "BD").
func SpeedFromKBps(kbps int, family string) Speed {
	s := Speed{KBps: kbps, Family: family}
	if f := familyKBps[family]; f > 0 {
		s.X = float64(int(float64(kbps)/f*10+0.5)) / 10
	}
	return s
}

// Media is what a drive holds.
type Media struct {
	Present bool `json:"present"`
	// Type is the medium type as the engine names it ("DVD+RW", "CD-R",
	// "BD-R sequential recording", "stdio file", ...).
	Type  string     `json:"type,omitempty"`
	Class MediaClass `json:"class,omitempty"`
	State MediaState `json:"state"`
	// Sessions recorded so far (-1 when unknown).
	Sessions int `json:"sessions"`
	// Free is how many bytes can be written now; Capacity how many the
	// medium takes when written from its start (after blanking). -1 when
	// unknown.
	Free     int64 `json:"free_bytes"`
	Capacity int64 `json:"capacity_bytes"`
	// WriteSpeeds the drive offers for this medium, slowest first.
	WriteSpeeds []Speed `json:"write_speeds,omitempty"`
	// Product names the medium's maker, when the engine tells.
	Product string `json:"product,omitempty"`
}

// NoMedia is the Media of an empty drive.
func NoMedia() *Media {
	return &Media{State: StateNone, Sessions: -1, Free: -1, Capacity: -1}
}

// Family is "CD", "DVD" or "BD" for the medium type, "" when unknown: the
// unit of x-speeds.
func (m *Media) Family() string {
	if m == nil {
		return ""
	}
	t := strings.ToUpper(m.Type)
	switch {
	case strings.HasPrefix(t, "CD"):
		return "CD"
	case strings.HasPrefix(t, "DVD"), strings.HasPrefix(t, "HD DVD"):
		return "DVD"
	case strings.HasPrefix(t, "BD"):
		return "BD"
	}
	return ""
}

// Summary is a one-line description ("DVD+RW, appendable, 1 session, 1.8
// GiB free of 4.4 GiB").
func (m *Media) Summary() string {
	if m == nil {
		return "unknown"
	}
	if !m.Present {
		return "no disc"
	}
	s := fmt.Sprintf("%s (%s), %s", orUnknown(m.Type), m.Class, m.State)
	if m.Sessions > 0 {
		s += fmt.Sprintf(", %d session", m.Sessions)
		if m.Sessions > 1 {
			s += "s"
		}
	}
	switch {
	case m.Free >= 0 && m.Capacity >= 0 && m.Free != m.Capacity:
		s += fmt.Sprintf(", %s free of %s", units.Bytes(m.Free), units.Bytes(m.Capacity))
	case m.Free >= 0:
		s += fmt.Sprintf(", %s free", units.Bytes(m.Free))
	case m.Capacity >= 0:
		s += fmt.Sprintf(", %s", units.Bytes(m.Capacity))
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown type"
	}
	return s
}

// ClassifyType maps a medium type name, as libburn, drutil or IMAPI2
// name it, to its class. Names are matched on their start so that the
// MMC profile suffixes ("sequential recording", "restricted overwrite",
// "/DL") need no entry of their own where they do not change the class.
func ClassifyType(name string) MediaClass {
	t := strings.ToUpper(strings.TrimSpace(name))
	switch {
	case t == "":
		return ClassUnknown
	case strings.HasPrefix(t, "STDIO FILE"):
		// libburn's pseudo-drives: "stdio file, overwriteable" for files
		// and block devices, "sequential" or "write-only" for pipes,
		// which cannot be read back.
		if strings.Contains(t, "SEQUENTIAL") || strings.Contains(t, "WRITE-ONLY") {
			return ClassUnknown
		}
		return ClassOverwritable
	case t == "REMOVABLE DISK":
		return ClassOverwritable
	case strings.Contains(t, "ROM"):
		return ClassReadOnly
	case strings.HasPrefix(t, "DVD-RW") && strings.Contains(t, "RESTRICTED OVERWRITE"):
		return ClassOverwritable
	case strings.HasPrefix(t, "DVD+RW"), strings.HasPrefix(t, "DVD-RAM"), strings.HasPrefix(t, "BD-RE"),
		strings.HasPrefix(t, "HD DVD-RW"), strings.HasPrefix(t, "HD DVD-RAM"):
		return ClassOverwritable
	case strings.HasPrefix(t, "CD-RW"), strings.HasPrefix(t, "DVD-RW"):
		return ClassRewritable
	case strings.HasPrefix(t, "CD-R"), strings.HasPrefix(t, "DVD-R"), strings.HasPrefix(t, "DVD+R"),
		strings.HasPrefix(t, "BD-R"), strings.HasPrefix(t, "HD DVD-R"):
		return ClassWriteOnce
	}
	return ClassUnknown
}

// Drive is one optical drive (or a libburn stdio: pseudo-drive).
type Drive struct {
	// Path addresses the drive for the engine: /dev/sr0, stdio:/path,
	// a drutil drive number, an IMAPI2 recorder id.
	Path string `json:"path"`
	// Device is what the disc is read back through: /dev/sr0, the
	// pseudo-drive's file, /dev/rdisk4, \\.\E:. Empty when unknown.
	Device   string `json:"device,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Writes lists the media families the drive can write, when the
	// system tells (Linux: /proc/sys/dev/cdrom/info).
	Writes []string `json:"writes,omitempty"`
	// Pseudo is set for libburn stdio: pseudo-drives.
	Pseudo bool `json:"pseudo,omitempty"`
	// Busy says why the drive is in use ("" when it is not).
	Busy string `json:"busy,omitempty"`
	// Media is what the drive holds; nil when it could not be read, and
	// MediaErr says why.
	Media    *Media `json:"media,omitempty"`
	MediaErr string `json:"media_error,omitempty"`
	// Engine names the engine that reported the drive.
	Engine string `json:"engine,omitempty"`

	// file is a pseudo-drive's target, opened and checked by isofsd.
	file *os.File
}

// Name is the vendor and model ("HL-DT-ST DVDRAM GT50N").
func (d *Drive) Name() string {
	n := strings.TrimSpace(strings.Join(strings.Fields(d.Vendor+" "+d.Model), " "))
	if n == "" {
		return "unknown drive"
	}
	return n
}

// Describe is a one-line summary for listings and confirmations.
func (d *Drive) Describe() string {
	s := d.Path + ": " + d.Name()
	if d.Media != nil {
		s += ", " + d.Media.Summary()
	} else if d.MediaErr != "" {
		s += ", disc state unknown: " + d.MediaErr
	}
	return s
}
