package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// ErrNoContent is the reason an entry named for Stream is refused: a
// FIFO, device or socket, or a symlink leading to none of the image's
// files, has no content to write.
var ErrNoContent = errors.New("no content to write")

// Stream writes the contents of the regular files that o selects to w,
// one after the other in the order of the walk (like bsdtar -xO or
// 7z e -so); `extract -O` and `cat` are this. o.Include, o.Exclude and
// o.Boot select, o.Report and o.Progress are used, o.DryRun checks
// without reading or writing, the rest is ignored.
//
// An Include without wildcards names a path, which is resolved as a file
// system resolves it: a symlink on it, the last element included, is
// followed inside the image (as cat does) — a named symlink to a file
// gives the file's contents, to a directory the files below. Symlinks
// matched by a wildcard or found below a selected directory have no
// contents of their own and are passed over, as are FIFOs, devices and
// sockets.
//
// Everything named is checked before a byte is written: an Include that
// matches nothing, or a path naming a FIFO, device or socket or a symlink
// leading to none of the image's files, is reported (Failed, with
// ErrNotFound or ErrNoContent) and Stream returns a nil Result and an
// error, having written nothing. Then a file that cannot be read to its
// end is reported (Failed) after the bytes read before the damage, and
// the next one follows. An error writing to w or a cancelled ctx stops
// it. In the Result, Files counts the files written whole, FailedEntries
// those cut short.
func Stream(ctx context.Context, img *isofmt.Image, w io.Writer, o Options) (*Result, error) {
	start := time.Now()
	o.Filter, o.Workers = nil, 1
	x, err := plan(ctx, img, o)
	if err != nil {
		return nil, err
	}
	files, err := x.streamFiles()
	if err != nil {
		return nil, err
	}
	x.plan = files
	if o.DryRun {
		for _, e := range files {
			e.state.Store(done)
		}
		return x.result(start), nil
	}
	var total int64
	for _, e := range files {
		total += e.size()
	}
	if o.Progress != nil {
		o.Progress.Start(total)
	}
	buf := make([]byte, copyBufSize)
	for _, e := range files {
		if err := ctx.Err(); err != nil {
			res := x.result(start)
			res.Interrupted = true
			return res, err
		}
		var r io.ReaderAt = e.data
		if e.node != nil {
			r = img.OpenNode(e.node)
		}
		e.state.Store(done)
		for off := int64(0); off < e.size(); {
			n, rerr := r.ReadAt(buf[:min(int64(len(buf)), e.size()-off)], off)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					e.state.Store(failed)
					return x.result(start), fmt.Errorf("writing %s: %w", e.rel, werr)
				}
				off += int64(n)
				x.bytes.Add(int64(n))
				if o.Progress != nil {
					o.Progress.Add(int64(n))
				}
			}
			if rerr != nil && !(rerr == io.EOF && off == e.size()) {
				if rerr == io.EOF {
					rerr = fmt.Errorf("file ends at byte %d, %d expected: %w", off, e.size(), isofmt.ErrTruncated)
				}
				x.fail(e, fmt.Errorf("%w (%d of %d bytes written)", rerr, off, e.size()))
				break
			}
		}
	}
	x.imageProblems()
	return x.result(start), nil
}

// streamFiles lists the files Stream writes, following named symlinks
// and resolving named paths the walk did not reach (through a symlinked
// directory), and checks that everything named has content.
func (x *run) streamFiles() ([]*entry, error) {
	var files []*entry
	refused := 0
	refuse := func(e *entry, p string, n *isofmt.Node, err error) {
		refused++
		if e != nil {
			x.fail(e, err)
		} else {
			x.failAt(p, n, err)
		}
	}
	// named adds what the path p, resolved to n, gives.
	named := func(e *entry, p string, n *isofmt.Node) {
		switch {
		case n.IsDir():
			files = append(files, x.filesBelow(n, p)...)
		case n.Stat.Mode.IsRegular():
			files = append(files, &entry{node: n, name: n.Name, rel: p, parent: -1, linkTo: -1})
		default:
			refuse(e, p, n, fmt.Errorf("leads to a %s, which has %w", typeName(n.Stat.Mode), ErrNoContent))
		}
	}
	for _, e := range x.plan {
		switch {
		case e.isRegular():
			files = append(files, e)
		case !e.named || e.isDir():
		case e.node.Stat.Mode&fs.ModeSymlink != 0:
			n, err := x.img.Resolve(e.rel)
			if err != nil {
				why := ""
				if !errors.Is(err, fs.ErrNotExist) {
					why = fmt.Sprintf(" (%v)", unwrapPathErr(err))
				}
				refuse(e, e.rel, nil, fmt.Errorf("a symlink to %q, which leads to none of the image's files%s, has %w", e.node.Stat.Target, why, ErrNoContent))
				continue
			}
			named(e, e.rel, n)
		default:
			refuse(e, e.rel, nil, fmt.Errorf("a %s has %w", typeName(e.node.Stat.Mode), ErrNoContent))
		}
	}
	for _, p := range x.sel.include {
		if p.hits > 0 {
			continue
		}
		if p.literal != "" {
			if n, err := x.img.Resolve(p.literal); err == nil {
				named(nil, p.literal, n)
				continue
			}
		}
		refuse(nil, "", nil, fmt.Errorf("%s: %w", p.raw, ErrNotFound))
	}
	switch {
	case refused == 1:
		return nil, errors.New("nothing written: a path named is not in the image or has no content (reported above)")
	case refused > 1:
		return nil, fmt.Errorf("nothing written: %d paths named are not in the image or have no content (reported above)", refused)
	}
	return files, nil
}

// filesBelow lists the regular files below directory n (at path p), as
// the walk would select them under a selected directory: Exclude still
// applies.
func (x *run) filesBelow(n *isofmt.Node, p string) []*entry {
	ex, err := newSelector(nil, x.o.Exclude)
	if err != nil {
		return nil // checked when the run was made
	}
	st := ex.start()
	if p != "." {
		for _, name := range strings.Split(p, "/") {
			var excluded bool
			if excluded, _, st = ex.step(st, name); excluded {
				return nil
			}
		}
	}
	states := map[*isofmt.Node]selState{n: st}
	var files []*entry
	err = isofmt.Walk(x.img, p, n, isofmt.WalkOptions{
		Visit: func(d *isofmt.WalkDir) ([]*isofmt.Node, error) {
			dst := states[d.Node]
			delete(states, d.Node)
			if d.Err != nil {
				x.failAt(d.Path, d.Node, fmt.Errorf("reading directory: %w", d.Err))
			}
			var enter []*isofmt.Node
			for _, k := range d.Entries {
				excluded, _, kid := ex.step(dst, k.Name)
				switch {
				case excluded:
				case k.IsDir():
					states[k] = kid
					enter = append(enter, k)
				case k.Stat.Mode.IsRegular():
					files = append(files, &entry{node: k, name: k.Name, rel: isofmt.JoinPath(d.Path, k.Name), parent: -1, linkTo: -1})
				}
			}
			return enter, nil
		},
		Refused: func(p string, n *isofmt.Node, why error) {
			x.failAt(p, n, fmt.Errorf("refused: %w", why))
		},
	})
	if err != nil {
		x.failAt(p, n, err)
	}
	return files
}
