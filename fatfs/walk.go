package fatfs

// Directory is one directory Walk visits.
type Directory struct {
	// Path is its names from the root joined by "/" ("" for the root).
	Path string
	// Entry is its entry in its parent directory, nil for the root.
	Entry *Entry
	// Entries are its entries, deleted ones included when asked for; nil
	// when Err is set.
	Entries []Entry
	// Err says why the directory could not be read.
	Err error
	// Queued counts the directories found but not visited yet, for
	// progress reports.
	Queued int
}

// WalkOptions tune Walk.
type WalkOptions struct {
	// Deleted includes deleted entries and descends into deleted
	// directories, after every live one.
	Deleted bool
	// NextDeleted continues a deleted directory past a cluster that does
	// not end it: it names the cluster taken to follow c, false for none.
	// Deletion freed the directory's chain, so only its first cluster is
	// known and what followed is the caller's assumption (a recovery tool
	// takes the next free cluster). Nil reads first clusters only.
	NextDeleted func(c uint32) (uint32, bool)
}

// Walk calls fn for every directory reachable from the root: the live
// ones breadth first, then, with o.Deleted, the deleted ones and what
// they hold. It reaches directories no path names (deleted entries'
// names repeat, and a deleted short name lost its first character),
// which is what a recovery tool needs.
//
// No cluster is read as a directory twice, so the walk costs at most one
// read of the data area however the directories loop or share clusters:
// a directory whose chain reaches a cluster read already is passed to fn
// with ErrLoop and not read. A deleted directory is read from its first
// cluster only while that cluster is free in the FAT, and each of its
// clusters only while it holds nothing but well-formed entries: any of
// them may hold a later file's data by now. Nesting stops at MaxDepth.
//
// A directory that cannot be read is passed to fn with Err set, and the
// walk goes on; an error fn returns ends the walk and is returned.
func (f *FS) Walk(o WalkOptions, fn func(*Directory) error) error {
	type pending struct {
		e     Entry
		path  string
		depth int
	}
	seen := newBitmap(f.Clusters) // clusters read as directories
	var live, gone []pending
	// Once the live tree is done, everything found goes on the deleted
	// queue: a live entry inside a deleted directory leads into it.
	liveDone := false
	visit := func(dir *Entry, path string, depth int, ents []Entry, err error) error {
		d := &Directory{Path: path, Entry: dir, Entries: ents, Err: err}
		if err == nil && depth < MaxDepth {
			for _, e := range ents {
				if !e.IsDir() {
					continue
				}
				p := pending{e, joinPath(path, e.Name), depth + 1}
				if e.Deleted || liveDone {
					gone = append(gone, p)
				} else {
					live = append(live, p)
				}
			}
		}
		d.Queued = len(live) + len(gone)
		return fn(d)
	}
	ents, _, err := f.readDirSeen(nil, o.Deleted, seen)
	if err := visit(nil, "", 0, ents, err); err != nil {
		return err
	}
	for len(live) > 0 {
		p := live[0]
		live = live[1:]
		ents, _, err := f.readDirSeen(&p.e, o.Deleted, seen)
		if err := visit(&p.e, p.path, p.depth, ents, err); err != nil {
			return err
		}
	}
	if !o.Deleted {
		return nil
	}
	liveDone = true
	for len(gone) > 0 {
		p := gone[0]
		gone = gone[1:]
		var ents []Entry
		var err error
		if p.e.Deleted {
			ents, err = f.readDeletedDir(&p.e, seen, o.NextDeleted)
		} else {
			// A live entry inside a deleted directory: its chain may
			// still stand.
			ents, _, err = f.readDirSeen(&p.e, true, seen)
		}
		if err := visit(&p.e, p.path, p.depth, ents, err); err != nil {
			return err
		}
	}
	return nil
}

// readDeletedDir reads a deleted directory from its first cluster on,
// as far as its clusters hold well-formed entries and do not end it,
// asking next for each following cluster.
func (f *FS) readDeletedDir(e *Entry, seen *Bitmap, next func(uint32) (uint32, bool)) ([]Entry, error) {
	what := "deleted directory " + e.Name
	c := e.FirstCluster
	if !f.validCluster(c) {
		return nil, errorf(what, e.Offset, ErrCorrupt, "first cluster %d outside 2..%d", c, f.Clusters+1)
	}
	if seen.Allocated(c) {
		return nil, errorf(what, e.Offset, ErrLoop, "its first cluster %d was read as another directory's", c)
	}
	if st, err := f.State(c); err != nil {
		return nil, err
	} else if st != Free {
		return nil, errorf(what, e.Offset, ErrCorrupt, "its first cluster %d is in use again (FAT: %s)", c, st)
	}
	var buf []byte
	var runs []Run
	for n := int64(0); ; n++ {
		b := make([]byte, f.ClusterSize)
		if err := f.read(b, f.ClusterOffset(c), what); err != nil {
			if n == 0 {
				return nil, err
			}
			break
		}
		if !plausibleDir(b) {
			if n == 0 {
				return nil, errorf(what, f.ClusterOffset(c), ErrCorrupt, "its first cluster %d holds no directory entries (overwritten since)", c)
			}
			break
		}
		seen.set(c)
		buf = append(buf, b...)
		if k := len(runs); k > 0 && runs[k-1].First+runs[k-1].Count == c {
			runs[k-1].Count++
		} else {
			runs = append(runs, Run{c, 1})
		}
		if dirEnd(b) >= 0 || n+1 >= f.maxDirClusters() || next == nil {
			break
		}
		nc, ok := next(c)
		if !ok || !f.validCluster(nc) || seen.Allocated(nc) {
			break
		}
		if st, err := f.State(nc); err != nil || st != Free {
			break
		}
		c = nc
	}
	ents, _ := f.parseRuns(buf, runs, true)
	return ents, nil
}

// joinPath joins a directory path and a name as Walk does.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
