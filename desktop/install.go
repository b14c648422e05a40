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
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/isofsd/isofsd/internal/diskio"
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
	if _, err := os.Stat(o.ManifestPath()); err == nil {
		if _, err := Uninstall(o.Layout, o.Run); err != nil {
			return nil, fmt.Errorf("desktop: removing the earlier installation: %w", err)
		}
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

// mkdirs creates dir and its missing parents, recording them.
func (in *installer) mkdirs(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("desktop: %w", err)
		}
		in.m.Dirs = append(in.m.Dirs, missing[i])
	}
	return nil
}

// write writes one of our files.
func (in *installer) write(path string, data []byte, mode os.FileMode) error {
	if err := in.mkdirs(filepath.Dir(path)); err != nil {
		return err
	}
	if err := writeAtomic(path, data, mode); err != nil {
		return err
	}
	in.m.Files = append(in.m.Files, path)
	return nil
}

// writeAtomic replaces path with data (diskio.WriteFileAtomic: a
// temporary file in the same directory, synced, then renamed), so that
// readers never see half a file and a symlink at path is replaced, not
// followed.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := diskio.WriteFileAtomic(path, data, mode); err != nil {
		return fmt.Errorf("desktop: %s: %w", path, err)
	}
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

// cache runs a cache tool on dir and records what it created.
func (in *installer) cache(tool, dir string) error {
	before := listTree(dir)
	err := in.o.Run(tool, dir)
	if errors.Is(err, ErrToolMissing) {
		in.m.Notes = append(in.m.Notes, fmt.Sprintf("%s is not installed: %s not updated", tool, dir))
		return nil
	}
	c := Cache{Tool: tool, Dir: dir}
	for p := range listTree(dir) {
		if !before[p] {
			c.Created = append(c.Created, p)
		}
	}
	slices.Sort(c.Created)
	in.m.Caches = append(in.m.Caches, c)
	return err
}

// readEdited reads a file we are about to edit, with a size cap.
func readEdited(path string, limit int64) ([]byte, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("desktop: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, true, fmt.Errorf("desktop: %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, true, fmt.Errorf("desktop: %s: over %d bytes; not edited", path, limit)
	}
	return b, true, nil
}

// editTarget is where an edited file is written: through a symlink to
// its target (dotfiles kept elsewhere stay linked).
func editTarget(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// fileMode is the mode of path, or def when it does not exist.
func fileMode(path string, def os.FileMode) os.FileMode {
	if st, err := os.Stat(path); err == nil {
		return st.Mode().Perm()
	}
	return def
}

// editUCA adds our actions to the user's Thunar actions.
func (in *installer) editUCA() error {
	path := filepath.Join(in.o.ConfigDir, "Thunar", "uca.xml")
	before, existed, err := readEdited(path, MaxUCASize)
	if err != nil {
		return err
	}
	e := Edit{Kind: EditUCA, Path: path, Existed: existed, Before: before}
	doc := before
	if !existed {
		doc = []byte(ucaEmpty)
		for _, d := range in.o.SystemConfigDirs {
			if b, ok, err := readEdited(filepath.Join(d, "Thunar", "uca.xml"), MaxUCASize); err == nil && ok {
				if _, _, err := ucaSpans(b); err == nil {
					doc = b
					break
				}
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
	if !existed {
		if err := in.mkdirs(filepath.Dir(path)); err != nil {
			return err
		}
	}
	if err := writeAtomic(editTarget(path), after, fileMode(path, 0o644)); err != nil {
		return err
	}
	e.After = sum(after)
	in.m.Edits = append(in.m.Edits, e)
	return nil
}

// editMimeApps makes isofsd the default application of DefaultTypes.
func (in *installer) editMimeApps() error {
	path := filepath.Join(in.o.ConfigDir, "mimeapps.list")
	before, existed, err := readEdited(path, MaxMimeAppsSize)
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
	if !existed {
		if err := in.mkdirs(filepath.Dir(path)); err != nil {
			return err
		}
	}
	if err := writeAtomic(editTarget(path), after, fileMode(path, 0o644)); err != nil {
		return err
	}
	in.m.Edits = append(in.m.Edits, Edit{Kind: EditMimeApps, Path: path, Existed: existed, Before: before, After: sum(after), Previous: prev})
	return nil
}

// saveManifest writes the manifest (0600: it holds copies of the files
// we edited).
func (in *installer) saveManifest() error {
	path := in.o.ManifestPath()
	if err := in.mkdirs(filepath.Dir(path)); err != nil {
		return err
	}
	b, err := json.MarshalIndent(in.m, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'), 0o600)
}

// ErrNotInstalled means there is no manifest to uninstall from.
var ErrNotInstalled = errors.New("desktop: not installed")

// ReadManifest reads the manifest of layout l.
func ReadManifest(l Layout) (*Manifest, error) {
	b, ok, err := readEdited(l.ManifestPath(), MaxManifestSize)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w (no %s)", ErrNotInstalled, l.ManifestPath())
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("desktop: %s: %w", l.ManifestPath(), err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("desktop: %s: version %d, want %d", l.ManifestPath(), m.Version, ManifestVersion)
	}
	return &m, nil
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
	if err := os.Remove(l.ManifestPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, c := range m.Caches {
		if _, err := os.Stat(c.Dir); err != nil {
			continue
		}
		if !cacheSources(c) {
			for i := len(c.Created) - 1; i >= 0; i-- {
				os.Remove(c.Created[i]) // a directory only if empty
			}
			if !hasFiles(c.Dir) {
				continue
			}
		}
		// Other sources remain (or caches that were there before): the
		// tool rebuilds the caches without our entries, and directories
		// it created for them are left empty.
		if err := run(c.Tool, c.Dir); err != nil && !errors.Is(err, ErrToolMissing) {
			errs = append(errs, err)
		}
		for i := len(c.Created) - 1; i >= 0; i-- {
			if st, err := os.Lstat(c.Created[i]); err == nil && st.IsDir() {
				os.Remove(c.Created[i])
			}
		}
	}
	removeDirs(m.Dirs)
	return errs
}

// cacheSources reports whether the sources of a cache directory remain:
// MIME packages under mime/packages, desktop files under applications/.
func cacheSources(c Cache) bool {
	switch c.Tool {
	case "update-mime-database":
		ents, _ := os.ReadDir(filepath.Join(c.Dir, "packages"))
		return len(ents) > 0
	default:
		found := false
		filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
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
		os.Remove(dirs[i]) // fails, as it should, when not empty
	}
}

// undoEdit takes our part out of an edited file: the file as it was when
// it is still what we left, else only our keys or actions.
func undoEdit(e Edit) error {
	cur, ok, err := readEdited(e.Path, max(MaxUCASize, MaxMimeAppsSize))
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	target := editTarget(e.Path)
	mode := fileMode(e.Path, 0o644)
	if sum(cur) == e.After {
		if !e.Existed {
			return os.Remove(e.Path)
		}
		return writeAtomic(target, e.Before, mode)
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
		return os.Remove(e.Path)
	}
	if bytes.Equal(out, cur) {
		return nil
	}
	return writeAtomic(target, out, mode)
}
