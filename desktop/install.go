package desktop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/isofsd/isofsd/internal/safepath"
)

// Layout says where Install writes.
type Layout struct {
	// DataDir holds applications/, mime/ and kio/servicemenus/
	// (~/.local/share, or /usr/local/share for the system).
	DataDir string
	// ConfigDir holds mimeapps.list and Thunar/uca.xml (~/.config, or
	// /etc/xdg for the system).
	ConfigDir string
	// SharedDataDirs are where the shared MIME database is looked up
	// ($XDG_DATA_DIRS); DataDir itself is skipped.
	SharedDataDirs []string
	// SystemConfigDirs are where Thunar's system uca.xml is looked up
	// ($XDG_CONFIG_DIRS): a user file that does not exist yet starts as
	// a copy of it, since Thunar reads only the first uca.xml it finds
	// and the system's actions would disappear otherwise.
	SystemConfigDirs []string
	// ExecutableServiceMenu makes the KDE service menu executable: KDE
	// Frameworks 5.85 and later ignore service menus outside system
	// directories that are not.
	ExecutableServiceMenu bool
}

// xdgDirs splits a colon-separated list, keeping absolute entries.
func xdgDirs(v string, def ...string) []string {
	var out []string
	for _, d := range strings.Split(v, ":") {
		if filepath.IsAbs(d) {
			out = append(out, filepath.Clean(d))
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// UserLayout is the per-user layout of the XDG base directory
// specification for the user whose home is home.
func UserLayout(home string, getenv func(string) string) Layout {
	data := getenv("XDG_DATA_HOME")
	if !filepath.IsAbs(data) {
		data = filepath.Join(home, ".local", "share")
	}
	conf := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(conf) {
		conf = filepath.Join(home, ".config")
	}
	return Layout{
		DataDir: data, ConfigDir: conf, ExecutableServiceMenu: true,
		SharedDataDirs:   xdgDirs(getenv("XDG_DATA_DIRS"), "/usr/local/share", "/usr/share"),
		SystemConfigDirs: xdgDirs(getenv("XDG_CONFIG_DIRS"), "/etc/xdg"),
	}
}

// SystemLayout installs for every user: /usr/local/share (the place for
// software installed outside the package manager) and /etc/xdg.
func SystemLayout(getenv func(string) string) Layout {
	return Layout{
		DataDir: "/usr/local/share", ConfigDir: "/etc/xdg",
		SharedDataDirs:   xdgDirs(getenv("XDG_DATA_DIRS"), "/usr/local/share", "/usr/share"),
		SystemConfigDirs: nil, // /etc/xdg/Thunar/uca.xml is the system file itself
	}
}

// ManifestPath is where Install records what it did.
func (l Layout) ManifestPath() string {
	return filepath.Join(l.DataDir, "isofsd", "desktop-install.json")
}

// Options configure Install.
type Options struct {
	Layout
	// Binary is the absolute path of isofsd that the entries run.
	Binary string
	// Default makes isofsd the default application of DefaultTypes.
	Default bool
	// Run runs a cache tool (update-desktop-database DIR,
	// update-mime-database DIR); nil runs it from PATH, skipping a tool
	// that is not installed.
	Run func(name string, args ...string) error
}

// ErrToolMissing is what Options.Run returns for a tool not installed.
var ErrToolMissing = errors.New("desktop: tool not installed")

// runTool runs a cache tool from PATH.
func runTool(name string, args ...string) error {
	p, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrToolMissing, name)
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ManifestVersion is the manifest format Install writes.
const ManifestVersion = 1

// MaxManifestSize caps the manifest read back.
const MaxManifestSize = 16 << 20

// Manifest records what Install did, for Uninstall.
type Manifest struct {
	Version int    `json:"version"`
	Binary  string `json:"binary"`
	// Files are the files Install wrote.
	Files []string `json:"files"`
	// Dirs are the directories that did not exist before, parents first.
	Dirs []string `json:"dirs"`
	// Caches are the cache tools run, with what they created.
	Caches []Cache `json:"caches,omitempty"`
	// Edits are the files of others that Install changed.
	Edits []Edit `json:"edits,omitempty"`
	// Notes say what was skipped and why.
	Notes []string `json:"notes,omitempty"`
}

// Cache is one run of a cache tool on a directory.
type Cache struct {
	Tool string `json:"tool"`
	Dir  string `json:"dir"`
	// Created are the files and directories the run created (they did
	// not exist before), parents first.
	Created []string `json:"created,omitempty"`
}

// Edit kinds.
const (
	EditMimeApps = "mimeapps"
	EditUCA      = "uca"
)

// Edit is a change to a file that is not ours alone.
type Edit struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	// Existed tells whether the file was there; Before is its content.
	Existed bool   `json:"existed"`
	Before  []byte `json:"before,omitempty"`
	// After is the SHA-256 of what Install left: if the file is still
	// that, Uninstall puts Before back byte for byte; otherwise it takes
	// out only what Install put in.
	After string `json:"after"`
	// Previous holds the values the keys we set had (mimeapps; null for
	// keys that were absent).
	Previous map[string]*string `json:"previous,omitempty"`
	// Seed is the SHA-256 of the content a uca.xml we created started
	// from (the system's): stripped back to it, the file is removed.
	Seed string `json:"seed,omitempty"`
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// installer carries one Install.
type installer struct {
	o Options
	m *Manifest
}

// Install writes the desktop entry, the MIME package (when needed), the
// KDE service menu and the Thunar actions, sets the defaults if asked,
// and records it all in the manifest (see Layout.ManifestPath). An
// earlier installation is uninstalled first. On failure what was done is
// undone.
func Install(o Options) (*Manifest, error) {
	if err := checkBinary(o.Binary); err != nil {
		return nil, err
	}
	if o.Run == nil {
		o.Run = runTool
	}
	if _, err := Uninstall(o.Layout, o.Run); err != nil && !errors.Is(err, ErrNotInstalled) {
		return nil, fmt.Errorf("desktop: removing the earlier installation: %w", err)
	}
	in := &installer{o: o, m: &Manifest{Version: ManifestVersion, Binary: o.Binary}}
	if err := in.run(); err != nil {
		undo(in.m, o.Run)
		return nil, err
	}
	return in.m, nil
}

func (in *installer) run() error {
	o, m := in.o, in.m
	entry, err := DesktopEntry(o.Binary)
	if err != nil {
		return err
	}
	apps := filepath.Join(o.DataDir, "applications")
	if err := in.write(filepath.Join(apps, DesktopID), entry, 0o644); err != nil {
		return err
	}

	var shared []string
	for _, d := range o.SharedDataDirs {
		if filepath.Clean(d) != filepath.Clean(o.DataDir) {
			shared = append(shared, d)
		}
	}
	if missing := MissingTypes(KnownGlobs(shared)); len(missing) > 0 {
		mime := filepath.Join(o.DataDir, "mime")
		if err := in.write(filepath.Join(mime, "packages", MIMEPackageName), MIMEPackage(missing), 0o644); err != nil {
			return err
		}
		if err := in.cache("update-mime-database", mime); err != nil {
			return err
		}
	} else {
		m.Notes = append(m.Notes, "the shared MIME database knows *.img and *.udf: no MIME package needed")
	}
	if err := in.cache("update-desktop-database", apps); err != nil {
		return err
	}

	menu, err := ServiceMenu(o.Binary)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if o.ExecutableServiceMenu {
		mode = 0o755
	}
	if err := in.write(filepath.Join(o.DataDir, "kio", "servicemenus", ServiceMenuName), menu, mode); err != nil {
		return err
	}

	if err := in.editUCA(); err != nil {
		return err
	}
	if o.Default {
		if err := in.editMimeApps(); err != nil {
			return err
		}
	}
	return in.saveManifest()
}

// write writes one of our files.
func (in *installer) write(path string, data []byte, mode os.FileMode) error {
	created, err := writeFile(path, data, mode, false)
	in.m.Dirs = append(in.m.Dirs, created...)
	if err != nil {
		return err
	}
	in.m.Files = append(in.m.Files, path)
	return nil
}

// listTree lists the paths under dir (dir excluded), sorted (parents
// before their children).
func listTree(dir string) map[string]bool {
	out := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			out[p] = true
		}
		return nil
	})
	return out
}

// cache runs a cache tool on dir and records what it created (by the
// paths under dir as the layout names it; the tool is given the
// directory's real path, which nobody but the caller and root controls).
func (in *installer) cache(tool, dir string) error {
	real, err := realDir(dir)
	if err != nil {
		return err
	}
	before := listTree(real)
	err = in.o.Run(tool, real)
	if errors.Is(err, ErrToolMissing) {
		in.m.Notes = append(in.m.Notes, fmt.Sprintf("%s is not installed: %s not updated", tool, dir))
		return nil
	}
	c := Cache{Tool: tool, Dir: dir}
	for p := range listTree(real) {
		if !before[p] {
			c.Created = append(c.Created, filepath.Join(dir, strings.TrimPrefix(p, real)))
		}
	}
	slices.Sort(c.Created)
	in.m.Caches = append(in.m.Caches, c)
	return err
}

// editUCA adds our actions to the user's Thunar actions.
func (in *installer) editUCA() error {
	path := filepath.Join(in.o.ConfigDir, "Thunar", "uca.xml")
	before, mode, existed, err := readFile(path, MaxUCASize)
	if err != nil {
		return err
	}
	e := Edit{Kind: EditUCA, Path: path, Existed: existed, Before: before}
	doc := before
	if !existed {
		doc = []byte(ucaEmpty)
		for _, d := range in.o.SystemConfigDirs {
			// Read like the rest: a system directory another user
			// controls (XDG_CONFIG_DIRS kept by sudo -E) seeds nothing.
			if b, _, ok, err := readFile(filepath.Join(d, "Thunar", "uca.xml"), MaxUCASize); err == nil && ok {
				if _, _, err := ucaSpans(b); err == nil {
					doc = b
					break
				}
			} else if err != nil {
				in.m.Notes = append(in.m.Notes, fmt.Sprintf("system Thunar actions not copied: %v", err))
			}
		}
		e.Seed = sum(doc)
	}
	ours, err := UCAActions(in.o.Binary)
	if err != nil {
		return err
	}
	after, err := ucaInsert(doc, ours)
	if err != nil {
		return fmt.Errorf("%s: %w (left unchanged)", path, err)
	}
	created, err := writeFile(path, after, mode, true)
	in.m.Dirs = append(in.m.Dirs, created...)
	if err != nil {
		return err
	}
	e.After = sum(after)
	in.m.Edits = append(in.m.Edits, e)
	return nil
}

// editMimeApps makes isofsd the default application of DefaultTypes.
func (in *installer) editMimeApps() error {
	path := filepath.Join(in.o.ConfigDir, "mimeapps.list")
	before, mode, existed, err := readFile(path, MaxMimeAppsSize)
	if err != nil {
		return err
	}
	id := DesktopID
	set := map[string]*string{}
	for _, t := range DefaultTypes {
		set[t] = &id
	}
	after, prev, err := setDefaults(before, set)
	if err != nil {
		return err
	}
	created, err := writeFile(path, after, mode, true)
	in.m.Dirs = append(in.m.Dirs, created...)
	if err != nil {
		return err
	}
	in.m.Edits = append(in.m.Edits, Edit{Kind: EditMimeApps, Path: path, Existed: existed, Before: before, After: sum(after), Previous: prev})
	return nil
}

// saveManifest writes the manifest (0600: it holds copies of the files
// we edited).
func (in *installer) saveManifest() error {
	path := in.o.ManifestPath()
	// Its directory first, so that the manifest lists it too.
	d, created, err := safepath.OpenDir(filepath.Dir(path), policy(), safepath.Options{Create: true})
	in.m.Dirs = append(in.m.Dirs, created...)
	if err != nil {
		return fmt.Errorf("desktop: %w", err)
	}
	d.Close()
	b, err := json.MarshalIndent(in.m, "", "  ")
	if err != nil {
		return err
	}
	_, err = writeFile(path, append(b, '\n'), 0o600, false)
	return err
}

// ErrNotInstalled means there is no manifest to uninstall from.
var ErrNotInstalled = errors.New("desktop: not installed")

// ErrBadManifest means the manifest is not one Install wrote for this
// caller and layout: someone else's or writable by others, or naming
// files outside the layout's directories. Nothing it names is touched.
var ErrBadManifest = errors.New("desktop: manifest refused")

// ReadManifest reads the manifest of layout l. It must be a regular file
// of the caller's that nobody else may write (a manifest is a list of
// files to delete and contents to restore: whoever writes it chooses
// what Uninstall does), reached without following a link anyone else
// made, and every path it names must lie in the layout's directories.
func ReadManifest(l Layout) (*Manifest, error) {
	path := l.ManifestPath()
	d, name, _, err := safepath.Walk(path, policy(), safepath.Options{})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (no %s)", ErrNotInstalled, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	defer d.Close()
	f, err := d.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (no %s)", ErrNotInstalled, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("desktop: %s: %w", path, err)
	}
	if uid, ok := fileOwner(st); !ok || uid != os.Geteuid() {
		return nil, fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d)", ErrBadManifest, path, uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%w: %s may be written by others (mode %04o)", ErrBadManifest, path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("desktop: %s: %w", path, err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %s: over %d bytes", ErrBadManifest, path, MaxManifestSize)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadManifest, path, err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("%w: %s: version %d, want %d", ErrBadManifest, path, m.Version, ManifestVersion)
	}
	if err := l.checkManifest(&m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadManifest, path, err)
	}
	return &m, nil
}

// within reports whether p is a clean absolute path strictly inside dir.
func within(p, dir string) bool {
	return filepath.IsAbs(p) && p == filepath.Clean(p) && strings.HasPrefix(p, filepath.Clean(dir)+"/")
}

// checkManifest checks that m names only what Install could have made
// in l: files and caches in the layout's directories, directories there
// (or the layout's own directories and their parents, which Install
// makes when they are missing, removed only while empty), and edits of
// the two files Install edits.
func (l Layout) checkManifest(m *Manifest) error {
	bases := []string{l.DataDir, l.ConfigDir}
	inBase := func(p string) bool {
		return slices.ContainsFunc(bases, func(b string) bool { return within(p, b) })
	}
	for _, f := range m.Files {
		if !inBase(f) {
			return fmt.Errorf("file %q is outside %s", f, strings.Join(bases, " and "))
		}
	}
	for _, d := range m.Dirs {
		if !inBase(d) && !slices.ContainsFunc(bases, func(b string) bool { return d == filepath.Clean(b) || within(filepath.Clean(b), d) }) {
			return fmt.Errorf("directory %q is outside %s", d, strings.Join(bases, " and "))
		}
	}
	for _, c := range m.Caches {
		if !within(c.Dir, l.DataDir) {
			return fmt.Errorf("cache directory %q is outside %s", c.Dir, l.DataDir)
		}
		for _, p := range c.Created {
			if !within(p, c.Dir) {
				return fmt.Errorf("cache file %q is outside %s", p, c.Dir)
			}
		}
	}
	edited := map[string]string{
		EditUCA:      filepath.Join(l.ConfigDir, "Thunar", "uca.xml"),
		EditMimeApps: filepath.Join(l.ConfigDir, "mimeapps.list"),
	}
	for _, e := range m.Edits {
		if want, ok := edited[e.Kind]; !ok || e.Path != want {
			return fmt.Errorf("edit %s of %q: Install edits only %s", e.Kind, e.Path, strings.Join(slices.Sorted(maps.Values(edited)), " and "))
		}
	}
	return nil
}

// Uninstall undoes what the manifest of l records and removes the
// manifest: our files, the directories and cache files that appeared
// with them (a cache is rebuilt instead while other sources remain), and
// our part of the files we edited. It returns the manifest it followed.
func Uninstall(l Layout, run func(string, ...string) error) (*Manifest, error) {
	if run == nil {
		run = runTool
	}
	m, err := ReadManifest(l)
	if err != nil {
		return nil, err
	}
	errs := undo(m, run)
	if err := removePath(l.ManifestPath()); err != nil {
		errs = append(errs, err)
	}
	removeDirs(m.Dirs)
	return m, errors.Join(errs...)
}

// undo reverts m: edits, files, caches, then empty directories.
func undo(m *Manifest, run func(string, ...string) error) []error {
	var errs []error
	for i := len(m.Edits) - 1; i >= 0; i-- {
		if err := undoEdit(m.Edits[i]); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range m.Files {
		if err := removePath(f); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range m.Caches {
		real, err := realDir(c.Dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !cacheSources(c.Tool, real) {
			for i := len(c.Created) - 1; i >= 0; i-- {
				removePath(c.Created[i]) // a directory only if empty
			}
			if !hasFiles(real) {
				continue
			}
		}
		// Other sources remain (or caches that were there before): the
		// tool rebuilds the caches without our entries, and directories
		// it created for them are left empty.
		if err := run(c.Tool, real); err != nil && !errors.Is(err, ErrToolMissing) {
			errs = append(errs, err)
		}
		for i := len(c.Created) - 1; i >= 0; i-- {
			if isDir(c.Created[i]) {
				removePath(c.Created[i])
			}
		}
	}
	removeDirs(m.Dirs)
	return errs
}

// cacheSources reports whether the sources of a cache directory (its
// real path) remain: MIME packages under mime/packages, desktop files
// under applications/.
func cacheSources(tool, dir string) bool {
	switch tool {
	case "update-mime-database":
		ents, _ := os.ReadDir(filepath.Join(dir, "packages"))
		return len(ents) > 0
	default:
		found := false
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".desktop") {
				found = true
			}
			return nil
		})
		return found
	}
}

// hasFiles reports whether anything but directories is under dir.
func hasFiles(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = true
		}
		return nil
	})
	return found
}

// removeDirs removes the directories that are empty, children first.
func removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		removePath(dirs[i]) // fails, as it should, when not empty
	}
}

// undoEdit takes our part out of an edited file: the file as it was when
// it is still what we left, else only our keys or actions.
func undoEdit(e Edit) error {
	cur, mode, ok, err := readFile(e.Path, max(MaxUCASize, MaxMimeAppsSize))
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if sum(cur) == e.After {
		if !e.Existed {
			return removePath(e.Path)
		}
		_, err := writeFile(e.Path, e.Before, mode, true)
		return err
	}
	var out []byte
	var remove bool
	switch e.Kind {
	case EditMimeApps:
		set := map[string]*string{}
		defaults := MimeAppsDefaults(cur)
		for k, prev := range e.Previous {
			if defaults[k] == DesktopID {
				set[k] = prev
			}
		}
		if out, _, err = setDefaults(cur, set); err != nil {
			return err
		}
		remove = !e.Existed && emptyDefaultGroup(out)
	case EditUCA:
		if out, err = ucaStrip(cur); err != nil {
			return fmt.Errorf("%s: %w (our actions left in it)", e.Path, err)
		}
		remove = !e.Existed && sum(out) == e.Seed
	default:
		return fmt.Errorf("desktop: %s: unknown edit %q", e.Path, e.Kind)
	}
	if remove {
		return removePath(e.Path)
	}
	if bytes.Equal(out, cur) {
		return nil
	}
	_, err = writeFile(e.Path, out, mode, true)
	return err
}
