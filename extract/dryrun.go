package extract

import (
	"errors"
	"io/fs"
)

// dryRun reports, for each entry of the plan, what Run would do with it,
// looking at DIR (which it does not create) without writing anything.
func (x *run) dryRun(dir string) error {
	root, err := lookDest(dir, x.o.portable)
	if err != nil {
		return err
	}
	// handles[i] is the open directory of plan entry i when it exists
	// (merge); nil when it would be created.
	handles := make([]dirHandle, len(x.plan))
	defer func() {
		for _, h := range handles {
			if h != nil {
				h.close()
			}
		}
		if root != nil {
			root.close()
		}
	}()
	taken := map[[2]any]bool{} // names chosen by earlier Rename decisions
	for i, e := range x.plan {
		parent := root
		if e.parent >= 0 {
			parent = handles[e.parent]
			if st := x.plan[e.parent].state.Load(); st != done {
				e.state.Store(st)
				continue
			}
		}
		act, dest := ActCreate, e.name
		if parent != nil {
			typ, _, err := parent.lstat(e.name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				x.fail(e, err)
				continue
			case e.isDir() && typ == fs.ModeDir:
				act = ActMerge
				if handles[i], err = parent.openDir(e.name); err != nil {
					x.fail(e, err)
					continue
				}
			default:
				switch x.o.Overwrite {
				case Refuse:
					act = ActRefuse
				case Skip:
					act = ActSkip
				case Replace:
					act = ActReplace
				case Rename:
					act = ActRename
					for n := 1; n <= maxRename; n++ {
						dest = renamed(e.name, n)
						key := [2]any{parent, dest}
						if _, _, err := parent.lstat(dest); errors.Is(err, fs.ErrNotExist) && !taken[key] {
							taken[key] = true
							break
						}
					}
				}
			}
		}
		switch act {
		case ActRefuse:
			e.state.Store(failed)
			x.mu.Lock()
			x.res.Failed++
			x.mu.Unlock()
		case ActSkip:
			e.state.Store(skipped)
			x.mu.Lock()
			x.res.Existing++
			x.mu.Unlock()
		default:
			e.state.Store(done)
			x.countPlanned(e)
		}
		x.event(Event{Kind: Planned, Path: e.rel, Sector: e.sector(), Type: e.typeLetter(), Size: e.size(), Action: act, Dest: dest})
	}
	return nil
}

// countPlanned counts an entry a dry run would write.
func (x *run) countPlanned(e *entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case e.isDir():
		x.res.Dirs++
	case e.linkTo >= 0:
		x.res.Links++
	case e.isRegular():
		x.res.Files++
		x.bytes.Add(e.size())
	case e.node.Stat.Mode&fs.ModeSymlink != 0:
		x.res.Symlinks++
	default:
		x.res.Special++
	}
}
