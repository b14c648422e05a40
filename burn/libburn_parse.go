package burn

// Parsers for what libburn's front ends print: `xorriso -devices`,
// `xorriso -toc -list_speeds -tell_media_space`, `cdrskin --devices`,
// `cdrskin -scanbus`, `cdrskin -minfo`, and the progress and message lines
// of a burn run. The formats come from libburn's sources (xorriso's
// drive_mgt.c, cdrskin.c) and from captured output of real drives (the
// fixtures in testdata/, each with its origin). The text is untrusted:
// a drive's vendor and model strings are whatever its firmware says.

import (
	"bufio"
	"regexp"
	"strconv"
	"strings"

	"github.com/isofsd/isofsd/internal/safetext"
)

// Caps on what is read from an engine's output: a real listing has a few
// lines per drive, a progress run one line per second.
const (
	maxOutputLines = 100_000
	maxLineBytes   = 4096
	maxDrives      = 64
	maxSpeeds      = 64
)

// lines splits text at \n and \r (cdrskin redraws its progress line with
// \r), dropping empty lines, cutting long ones, and stopping after
// maxOutputLines.
func lines(text string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	sc.Split(splitLines)
	for sc.Scan() && len(out) < maxOutputLines {
		if l := strings.TrimRight(sc.Text(), " \t"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// splitLines is a bufio.SplitFunc that ends a line at \n or \r and hands
// out over-long lines in pieces instead of failing.
func splitLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
		if i+1 >= maxLineBytes {
			return i + 1, data[:i+1], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// shellWord reads one word as libburn's Text_shellsafe quotes it — 'text',
// with a quote inside written as '"'"' — or a bare word, from the start of
// s (after blanks). It returns the word and the rest of s; ok is false when
// there is no word or a quote is not closed.
func shellWord(s string) (word, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return "", "", false
	}
	var b strings.Builder
	i := 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		switch s[i] {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", "", false
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return "", "", false
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), s[i:], true
}

// quoted reads a '...' string libburn printed without escaping (vendor,
// model and revision come straight from the drive's INQUIRY data). The
// string ends at the quote followed by a blank or the end of the line;
// a missing closing quote takes the rest of the line.
func quoted(s string) (word, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(s, "'") {
		return "", s, false
	}
	s = s[1:]
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t') {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", true
}

// cleanID trims the blanks SCSI INQUIRY strings are padded with and drops
// what a firmware may put there to act on a terminal (safetext.Strip: C0
// and C1 controls, format characters such as U+202E).
func cleanID(s string) string {
	return strings.TrimSpace(safetext.Strip(s))
}

// ParseDevices reads the drive list of a libburn program: `xorriso
// -devices` (or -device_links) output,
//
//	0  -dev '/dev/sr0' rwrw-- :  'TSSTcorp' 'CDDVDW SH-S223C'
//
// or `cdrskin --devices` output,
//
//	0  dev='/dev/sr0'  rwrw-- :  'TSSTcorp'  'CDDVDW SH-S223C'
//
// The two differ only in how the address is introduced; program
// ("xorriso" or "cdrskin") says which to expect, and lines of the other
// form are not drives.
func ParseDevices(program, text string) []*Drive {
	prefix := "-dev "
	if program == "cdrskin" {
		prefix = "dev="
	}
	var out []*Drive
	for _, l := range lines(text) {
		t := strings.TrimSpace(l)
		n := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
		if n <= 0 {
			continue
		}
		rest := strings.TrimLeft(t[n:], " \t")
		if !strings.HasPrefix(rest, prefix) {
			continue
		}
		d := parseDriveLine(rest[len(prefix):])
		if d != nil && len(out) < maxDrives {
			d.Engine = program
			out = append(out, d)
		}
	}
	return out
}

// parseDriveLine reads "'PATH' PERMS : 'VENDOR' 'MODEL'".
func parseDriveLine(s string) *Drive {
	path, rest, ok := shellWord(s)
	if !ok || path == "" {
		return nil
	}
	_, rest, _ = shellWord(rest) // permissions, e.g. rwrw--
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, ":") {
		return nil
	}
	d := &Drive{Path: path, Device: path}
	vendor, rest, ok := quoted(rest[1:])
	if ok {
		d.Vendor = cleanID(vendor)
		if model, _, ok := quoted(rest); ok {
			d.Model = cleanID(model)
		}
	}
	return d
}

// ScanbusEntry is one drive of `cdrskin -scanbus` (cdrecord's format):
//
//	0,0,0	  0) 'HL-DT-ST' 'DVDRAM GH41N    ' 'MN01' Removable CD-ROM
//
// The address (bus,target,lun) is what dev= accepts; there is no device
// path, so entries are matched to --devices drives by vendor and model.
type ScanbusEntry struct {
	Address                 string
	Vendor, Model, Revision string
}

var scanbusRE = regexp.MustCompile(`^\s*(\d{1,9},\d{1,9},\d{1,9})\s+\d{1,12}\)\s+(.*)$`)

// ParseScanbus reads `cdrskin -scanbus` (or cdrecord/wodim -scanbus)
// output; "*" lines (empty addresses) are skipped.
func ParseScanbus(text string) []ScanbusEntry {
	var out []ScanbusEntry
	for _, l := range lines(text) {
		m := scanbusRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v, rest, ok := quoted(m[2])
		if !ok {
			continue
		}
		e := ScanbusEntry{Address: m[1], Vendor: cleanID(v)}
		if mo, rest2, ok := quoted(rest); ok {
			e.Model = cleanID(mo)
			if r, _, ok := quoted(rest2); ok {
				e.Revision = cleanID(r)
			}
		}
		if len(out) < maxDrives {
			out = append(out, e)
		}
	}
	return out
}

// field splits "Key : value" lines as xorriso prints them ("Media status :
// is blank"); key has its inner blanks collapsed.
func field(l string) (key, val string, ok bool) {
	i := strings.IndexByte(l, ':')
	if i <= 0 {
		return "", "", false
	}
	return strings.Join(strings.Fields(l[:i]), " "), strings.TrimSpace(l[i+1:]), true
}

// atoi64 parses a non-negative decimal, refusing overflow.
func atoi64(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil && n >= 0
}

// sectors converts a sector count to bytes, refusing counts no medium has.
func sectors(n int64) int64 {
	const maxSectors = 1 << 40 / SectorSize * 1024 // 1 PiB: far beyond any disc
	if n < 0 || n > maxSectors {
		return -1
	}
	return n * SectorSize
}

// xorrisoSize reads xorriso's short sizes ("703m", "79.2g", "342k", "0"),
// binary units.
func xorrisoSize(s string) int64 {
	s = strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult = 1 << 10
	case strings.HasSuffix(s, "m"):
		mult = 1 << 20
	case strings.HasSuffix(s, "g"):
		mult = 1 << 30
	case strings.HasSuffix(s, "t"):
		mult = 1 << 40
	}
	s = strings.TrimRight(s, "kmgt")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1<<50 {
		return -1
	}
	return int64(f * mult)
}

var (
	driveTypeRE   = regexp.MustCompile(`vendor '(.*)' product '(.*)' revision '(.*)'$`)
	mediaBlocksRE = regexp.MustCompile(`^(\d+) readable , (\d+) writable , (\d+) overall`)
	summaryRE     = regexp.MustCompile(`^(\d+) sessions?, (\d+) data blocks, *([\d.]+[kmgt]?) data, *([\d.]+[kmgt]?) free`)
	speedRE       = regexp.MustCompile(`^(\d+)k , *([\d.]+)x([CDB])`)
)

// ParseXorrisoMedia reads the output of
// `xorriso -outdev DRIVE -toc -list_speeds -tell_media_space`: the drive's
// identity and the medium's type, state, size and write speeds. d may be
// nil; identity found in the text is stored into it. It returns nil when
// the text holds no media report at all.
func ParseXorrisoMedia(text string, d *Drive) *Media {
	m := &Media{State: StateUnknown, Sessions: -1, Free: -1, Capacity: -1}
	seen := false
	var speeds, limits []Speed
	var mediaSpace int64 = -1
	for _, l := range lines(text) {
		key, val, ok := field(l)
		if !ok {
			continue
		}
		switch key {
		case "Drive type":
			if mm := driveTypeRE.FindStringSubmatch(val); mm != nil && d != nil {
				d.Vendor, d.Model, d.Revision = cleanID(mm[1]), cleanID(mm[2]), cleanID(mm[3])
			}
		case "Media current":
			seen = true
			if val == "is not recognizable" || val == "" {
				m.Type = ""
			} else {
				m.Type = cleanID(val)
				m.Present = true
			}
		case "Media product":
			m.Product = cleanID(val)
		case "Media status":
			seen = true
			switch {
			case strings.Contains(val, "is not present"):
				m.Present = false
				m.State = StateNone
			case strings.Contains(val, "is blank"):
				m.Present, m.State = true, StateBlank
			case strings.Contains(val, "is closed"):
				m.Present, m.State = true, StateClosed
			case strings.Contains(val, "is appendable"):
				m.Present, m.State = true, StateAppendable
			}
		case "Media blocks":
			if mm := mediaBlocksRE.FindStringSubmatch(val); mm != nil {
				w, _ := atoi64(mm[2])
				all, _ := atoi64(mm[3])
				m.Free, m.Capacity = sectors(w), sectors(all)
			}
		case "Media summary":
			if mm := summaryRE.FindStringSubmatch(val); mm != nil {
				if n, ok := atoi64(mm[1]); ok && n < 1<<20 {
					m.Sessions = int(n)
				}
				if m.Free < 0 {
					m.Free = xorrisoSize(mm[4])
				}
			}
		case "Media space":
			if n, ok := atoi64(strings.TrimSuffix(val, "s")); ok {
				mediaSpace = sectors(n)
			}
		case "Write speed", "Write speed L", "Write speed H", "Write speed l", "Write speed h":
			mm := speedRE.FindStringSubmatch(val)
			if mm == nil {
				continue
			}
			kbps, err := strconv.Atoi(mm[1])
			if err != nil || kbps <= 0 || kbps > 1_000_000 {
				continue
			}
			s := SpeedFromKBps(kbps, map[string]string{"C": "CD", "D": "DVD", "B": "BD"}[mm[3]])
			if key == "Write speed" {
				speeds = appendSpeed(speeds, s)
			} else {
				limits = appendSpeed(limits, s)
			}
		}
	}
	if !seen {
		return nil
	}
	// "is not present" wins whatever line order the text has.
	if m.State == StateNone || !m.Present {
		return NoMedia()
	}
	if m.Free < 0 && mediaSpace >= 0 {
		m.Free = mediaSpace
	}
	if m.Capacity < 0 && m.State == StateBlank {
		m.Capacity = m.Free
	}
	m.Class = ClassifyType(m.Type)
	if len(speeds) == 0 {
		speeds = limits
	}
	m.WriteSpeeds = sortSpeeds(speeds)
	return m
}

func appendSpeed(list []Speed, s Speed) []Speed {
	for _, o := range list {
		if o.KBps == s.KBps {
			return list
		}
	}
	if len(list) >= maxSpeeds {
		return list
	}
	return append(list, s)
}

func sortSpeeds(s []Speed) []Speed {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].KBps < s[j-1].KBps; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// ParseCdrskinMedia reads `cdrskin dev=DRIVE -minfo` output (cdrecord's
// -minfo layout, with libburn's status line) and, when space is not
// negative, the sector count `cdrskin --tell_media_space` printed.
func ParseCdrskinMedia(text string, space int64, d *Drive) *Media {
	m := &Media{State: StateUnknown, Sessions: -1, Free: -1, Capacity: -1}
	seen := false
	var blankTrack, remaining, leadout int64 = -1, -1, -1
	for _, l := range lines(text) {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "cdrskin: status "):
			seen = true
			switch {
			case strings.Contains(t, "burn_disc_empty"):
				m.Present, m.State = false, StateNone
			case strings.Contains(t, "burn_disc_blank"):
				m.Present, m.State = true, StateBlank
			case strings.Contains(t, "burn_disc_appendable"):
				m.Present, m.State = true, StateAppendable
			case strings.Contains(t, "burn_disc_full"):
				m.Present, m.State = true, StateClosed
			}
			continue
		}
		key, val, ok := field(t)
		if !ok {
			// Track table rows: "1     1 Blank  0          12219391   12219392"
			if f := strings.Fields(t); len(f) == 6 && f[2] == "Blank" {
				if n, ok := atoi64(f[5]); ok {
					blankTrack = sectors(n)
				}
			}
			continue
		}
		switch key {
		case "Vendor_info":
			if v, _, ok := quoted(val); ok && d != nil {
				d.Vendor = cleanID(v)
			}
		case "Identifikation":
			if v, _, ok := quoted(val); ok && d != nil {
				d.Model = cleanID(v)
			}
		case "Revision":
			if v, _, ok := quoted(val); ok && d != nil {
				d.Revision = cleanID(v)
			}
		case "Mounted media type":
			seen = true
			m.Present = true
			m.Type = cleanID(val)
		case "Product Id":
			m.Product = cleanID(val)
		case "disk status":
			seen = true
			switch val {
			case "empty":
				m.State = StateBlank
			case "incomplete", "incomplete/appendable":
				m.State = StateAppendable
			case "complete":
				m.State = StateClosed
			}
		case "number of sessions":
			if n, ok := atoi64(val); ok && n < 1<<20 {
				m.Sessions = int(n)
			}
		case "Remaining writable size":
			if n, ok := atoi64(val); ok {
				remaining = sectors(n)
			}
		case "Last session leadout start address":
			if n, ok := atoi64(val); ok {
				leadout = sectors(n)
			}
		}
	}
	if !seen {
		return nil
	}
	if m.State == StateNone || !m.Present {
		return NoMedia()
	}
	m.Class = ClassifyType(m.Type)
	if m.Class == ClassOverwritable && m.State == StateClosed {
		// cdrecord calls overwritable media with data "complete"; they are
		// written in place, not closed.
		m.State = StateAppendable
	}
	if m.State == StateBlank && m.Sessions == 1 {
		m.Sessions = 0 // -minfo counts the empty session being recorded
	}
	switch {
	case remaining >= 0:
		m.Free = remaining
	case blankTrack >= 0:
		m.Free = blankTrack
	case space >= 0:
		m.Free = space
	}
	switch {
	case m.State == StateBlank:
		m.Capacity = m.Free
	case leadout > 0 && m.Class != ClassWriteOnce:
		m.Capacity = max(leadout, m.Free)
	case space >= 0:
		m.Capacity = space
	}
	return m
}

// Message is a message line of the libburn family: "xorriso : FAILURE :
// Cannot acquire drive", "libburn : SORRY : Cannot open busy device",
// "cdrskin: FATAL : No suitable media detected".
type Message struct {
	Source   string `json:"source"`
	Severity string `json:"severity"`
	Text     string `json:"text"`
}

func (m Message) String() string { return m.Source + ": " + m.Severity + ": " + m.Text }

// IsError says whether the severity reports a failure.
func (m Message) IsError() bool {
	switch m.Severity {
	case "FATAL", "FAILURE", "SORRY", "ABORT", "MISHAP":
		return true
	}
	return false
}

var messageRE = regexp.MustCompile(`^(xorriso|libburn|libisofs|libisoburn|cdrskin) ?: ?([A-Z]{3,10}) ?: ?(.*)$`)

// ParseMessage reads one message line.
func ParseMessage(l string) (Message, bool) {
	mm := messageRE.FindStringSubmatch(strings.TrimSpace(l))
	if mm == nil {
		return Message{}, false
	}
	return Message{Source: mm[1], Severity: mm[2], Text: strings.TrimSpace(mm[3])}, true
}

var (
	progressRE   = regexp.MustCompile(`\b(\d{1,9}) of +(\d{1,9}) MB written`)
	totalBytesRE = regexp.MustCompile(`Total bytes read/written: (\d{1,18})/(\d{1,18})\b`)
	percentRE    = regexp.MustCompile(`(Blanking|Formatting) *\( *([\d.]{1,8})% done`)
	xSpeedRE     = regexp.MustCompile(`\] +([\d.]{1,8})x\.`)
)

// ParseLibburnProgress reads a progress line of a libburn burn run
// (xorriso's "UPDATE : 16 of 58 MB written (fifo 99%) [buf 50%] 12.1x.",
// cdrskin's "Track 01: 16 of 57 MB written ...", blanking and closing
// notices). Done and Total of the write phase are in bytes with the MiB
// resolution the engines print; the caller scales them to the image.
func ParseLibburnProgress(l string) (Progress, bool) {
	switch {
	case strings.Contains(l, "Total bytes read/written:"):
		if mm := totalBytesRE.FindStringSubmatch(l); mm != nil {
			done, ok1 := atoi64(mm[2])
			total, ok2 := atoi64(mm[1])
			if ok1 && ok2 {
				return Progress{Phase: PhaseWrite, Done: done, Total: max(total, done), Percent: -1}, true
			}
		}
	case strings.Contains(l, " MB written"):
		if mm := progressRE.FindStringSubmatch(l); mm != nil {
			done, _ := strconv.ParseInt(mm[1], 10, 64)
			total, _ := strconv.ParseInt(mm[2], 10, 64)
			p := Progress{Phase: PhaseWrite, Done: done << 20, Total: max(total, done) << 20, Percent: -1}
			if sm := xSpeedRE.FindStringSubmatch(l); sm != nil {
				p.Speed = sm[1] + "x"
			}
			return p, true
		}
	case strings.Contains(l, "Blanking") || strings.Contains(l, "Formatting"):
		if mm := percentRE.FindStringSubmatch(l); mm != nil {
			f, err := strconv.ParseFloat(mm[2], 64)
			if err == nil && f >= 0 && f <= 100 {
				return Progress{Phase: PhaseBlank, Percent: f}, true
			}
		}
	case strings.Contains(l, "Fixating"), strings.Contains(l, "Closing track/session"),
		strings.Contains(l, "Closing session"), strings.Contains(l, "working post-track"):
		return Progress{Phase: PhaseClose, Percent: -1}, true
	}
	return Progress{}, false
}
