package desktop

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Thunar keeps its custom actions in one file, $XDG_CONFIG_HOME/Thunar/
// uca.xml, that the user edits too (Edit → Configure custom actions
// rewrites it). We never re-serialise it: ucaSpans finds the byte ranges
// of the top-level <action> elements and of the closing </actions>, so
// that ours are spliced in and out and every other byte stays as the
// user (or Thunar) wrote it.

// MaxUCASize caps the uca.xml we edit: a file of hundreds of actions is
// some tens of KiB.
const MaxUCASize = 4 << 20

// ucaEmpty is the file we start from when neither the user nor the
// system has one.
const ucaEmpty = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<actions>\n</actions>\n"

// ErrUCA means a uca.xml we were to edit is not one we can edit safely.
var ErrUCA = errors.New("desktop: uca.xml")

// ucaAction is one top-level <action> element: its bytes [start, end)
// and its unique-id.
type ucaAction struct {
	start, end int64
	id         string
}

// ucaSpans parses uca.xml: the top-level actions and the offset of the
// closing </actions> tag.
func ucaSpans(doc []byte) (actions []ucaAction, closeAt int64, err error) {
	if len(doc) > MaxUCASize {
		return nil, 0, fmt.Errorf("%w: %d bytes, over %d", ErrUCA, len(doc), MaxUCASize)
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	depth := 0
	closeAt = -1
	var cur *ucaAction
	var inID bool
	var id strings.Builder
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrUCA, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local != "actions":
				return nil, 0, fmt.Errorf("%w: root element <%s>, want <actions>", ErrUCA, t.Name.Local)
			case depth == 1 && closeAt >= 0:
				return nil, 0, fmt.Errorf("%w: a second root element", ErrUCA)
			case depth == 2 && t.Name.Local == "action":
				cur = &ucaAction{start: off}
				id.Reset()
			case depth == 3 && cur != nil && t.Name.Local == "unique-id":
				inID = true
			}
		case xml.CharData:
			if inID {
				id.Write(t)
			}
		case xml.EndElement:
			switch {
			case depth == 3:
				inID = false
			case depth == 2 && cur != nil:
				cur.end = dec.InputOffset()
				cur.id = strings.TrimSpace(id.String())
				actions = append(actions, *cur)
				cur = nil
			case depth == 1:
				closeAt = off
			}
			depth--
		}
	}
	if closeAt < 0 {
		return nil, 0, fmt.Errorf("%w: no <actions> element", ErrUCA)
	}
	return actions, closeAt, nil
}

// ucaStrip removes our actions (unique-id starting with ucaIDPrefix),
// each with the newline that follows it.
func ucaStrip(doc []byte) ([]byte, error) {
	actions, _, err := ucaSpans(doc)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	last := int64(0)
	for _, a := range actions {
		if !strings.HasPrefix(a.id, ucaIDPrefix) {
			continue
		}
		out.Write(doc[last:a.start])
		last = a.end
		if last < int64(len(doc)) && doc[last] == '\n' {
			last++
		}
	}
	out.Write(doc[last:])
	return out.Bytes(), nil
}

// ucaInsert adds ours (UCAActions) right before </actions>, after
// removing any of ours already there (a reinstall).
func ucaInsert(doc, ours []byte) ([]byte, error) {
	doc, err := ucaStrip(doc)
	if err != nil {
		return nil, err
	}
	_, closeAt, err := ucaSpans(doc)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(doc)+len(ours)+1)
	out = append(out, doc[:closeAt]...)
	if closeAt > 0 && doc[closeAt-1] != '\n' {
		// "<actions></actions>": keep ours on lines of their own. The
		// newline stays when ours are stripped again, which is harmless.
		out = append(out, '\n')
	}
	out = append(out, ours...)
	return append(out, doc[closeAt:]...), nil
}
