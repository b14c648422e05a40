package filecopy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/isofsd/isofsd/fatfs"
	"github.com/isofsd/isofsd/internal/diskio"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/usbboot"
	"github.com/isofsd/isofsd/wim"
)

// ErrRefused is wrapped when the image cannot be put on FAT32.
var ErrRefused = errors.New("filecopy: the image cannot be copied to FAT32")

// Options tune New.
type Options struct {
	// PartSize is the largest .swm part (default wim.DefaultPartSize).
	// Tests use small sizes to get many parts from a small WIM.
	PartSize int64
	// SplitAbove is the size from which install.wim is split (default:
	// over FAT32's 4 GiB − 1). Tests lower it to split small WIMs.
	SplitAbove int64
}

// Source kinds of a planned file.
const (
	FromImage     = "image"      // a file of the ISO tree
	FromWIMPart   = "wim part"   // a part of a split install.wim
	FromBootImage = "boot image" // a loader inside the El Torito EFI image
)

// File is one file of the planned drive.
type File struct {
	// Path is its path on the FAT volume (slash-separated, no leading /).
	Path string
	// ImagePath is the path in the image it comes from (for a WIM part,
	// the WIM's path; for a boot-image loader, its path in the FAT image).
	ImagePath string
	Kind      string
	Size      int64
	// Node is the image file (FromImage, FromWIMPart).
	Node *isofmt.Node
	// Part is the WIM part (FromWIMPart).
	Part *wim.Part
	// Boot is the loader (FromBootImage).
	Boot *usbboot.BootFile

	fat   *fatfs.Node
	order int64 // where its bytes are in the image, for the data order
}

// Open returns a reader of the file's content as it goes on the drive.
func (f *File) Open(img *isofmt.Image) io.Reader {
	switch f.Kind {
	case FromWIMPart:
		return f.Part.Open()
	case FromBootImage:
		return io.NewSectionReader(f.Boot.Reader, 0, f.Size)
	}
	return io.NewSectionReader(img.OpenNode(f.Node), 0, f.Size)
}

// readerAt returns random access to the content when the source has it
// (WIM parts are produced sequentially).
func (f *File) readerAt(img *isofmt.Image) io.ReaderAt {
	switch f.Kind {
	case FromImage:
		return img.OpenNode(f.Node)
	case FromBootImage:
		return f.Boot.Reader
	}
	return nil
}

// Split is a planned install.wim split.
type Split struct {
	// WIM is the path of the WIM in the image.
	WIM   string
	Size  int64
	Parts []*File
	// Duplicates counts blob table entries dropped (see wim.Split).
	Duplicates int
}

// Plan is a drive's content, decided before anything is written.
type Plan struct {
	Image *isofmt.Image
	// Tree is the image tree copied ("udf" for Windows media).
	Tree string
	// Label is the FAT volume label made from the image's.
	Label string
	// Files lists every file in the order its data is written.
	Files []*File
	// Dirs counts the directories (the root not included).
	Dirs   int
	Splits []*Split
	// Bytes is the total file data.
	Bytes int64
	// Notes are things the user should know: skipped entries (symbolic
	// links, devices: FAT has none), renamed entries, loaders added from
	// the boot image.
	Notes []string

	root *fatfs.Node
}

// maxNotes bounds Plan.Notes; the rest are counted.
const maxNotes = 50

func (p *Plan) note(format string, args ...any) {
	switch {
	case len(p.Notes) < maxNotes:
		p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
	case len(p.Notes) == maxNotes:
		p.Notes = append(p.Notes, "(further notes left out)")
	}
}

// New plans the drive for img, whose selected tree is copied (callers
// pass the richest: UDF on Windows media). Files FAT32 cannot hold are
// refused by name, except an install.wim or install.esd below sources/,
// which is split.
func New(img *isofmt.Image, o Options) (*Plan, error) {
	if o.PartSize == 0 {
		o.PartSize = wim.DefaultPartSize
	}
	if o.SplitAbove == 0 {
		o.SplitAbove = fatfs.MaxFileSize
	}
	in := img.Info()
	label := in.VolumeID
	if in.UDF != nil && (img.Tree() == isofmt.TreeUDF || label == "") && in.UDF.LogicalVolumeID != "" {
		label = in.UDF.LogicalVolumeID
	}
	p := &Plan{Image: img, Tree: img.Tree(), Label: fatfs.SanitizeLabel(label)}
	root, err := img.Root()
	if err != nil {
		return nil, fmt.Errorf("filecopy: root directory: %w", err)
	}
	p.root = &fatfs.Node{Dir: true}
	setTimes(p.root, &root.Stat)
	var tooBig []string
	if err := p.walk(root, p.root, "", o, &tooBig, 0); err != nil {
		return nil, err
	}
	if len(tooBig) > 0 {
		return nil, fmt.Errorf("%w: %s: FAT32 holds files of at most 4 GiB − 1 byte (only sources/install.wim is split)", ErrRefused, strings.Join(tooBig, "; "))
	}
	if err := p.addBootImageLoaders(img); err != nil {
		return nil, err
	}
	sort.SliceStable(p.Files, func(i, j int) bool { return p.Files[i].order < p.Files[j].order })
	for _, f := range p.Files {
		p.Bytes += f.Size
	}
	// Let fatfs check names, sizes and directory limits now, so that the
	// user hears of a problem before confirming.
	if _, err := fatfs.MinSize(p.root, 512, p.Label != ""); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return p, nil
}

// maxDepth caps the walk (isofmt caps path depth too).
const maxDepth = isofmt.MaxDepth

func (p *Plan) walk(dir *isofmt.Node, fdir *fatfs.Node, prefix string, o Options, tooBig *[]string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: /%s: deeper than %d directories", ErrRefused, prefix, maxDepth)
	}
	kids, err := p.Image.ReadDirNode(dir)
	if err != nil {
		return fmt.Errorf("filecopy: /%s: %w", prefix, err)
	}
	for _, k := range kids {
		ipath := path.Join(prefix, k.Name)
		name, changed := fatName(k.Name)
		if changed {
			p.note("/%s is named %q on the drive (FAT does not allow its name)", ipath, name)
		}
		fpath := path.Join(fatPath(fdir), name)
		switch {
		case k.IsDir():
			d := &fatfs.Node{Name: name, Dir: true, Data: fpath}
			setTimes(d, &k.Stat)
			fdir.Children = append(fdir.Children, d)
			p.Dirs++
			if err := p.walk(k, d, ipath, o, tooBig, depth+1); err != nil {
				return err
			}
		case k.Stat.Mode.IsRegular():
			if k.Err != nil {
				return fmt.Errorf("filecopy: /%s: %w", ipath, k.Err)
			}
			if k.Stat.Size > fatfs.MaxFileSize || k.Stat.Size > o.SplitAbove && isSplittable(ipath) {
				if isSplittable(ipath) {
					if err := p.split(k, ipath, fdir, o); err != nil {
						return err
					}
					continue
				}
				*tooBig = append(*tooBig, fmt.Sprintf("/%s is %d bytes", ipath, k.Stat.Size))
				continue
			}
			f := &File{Path: fpath, ImagePath: ipath, Kind: FromImage, Size: k.Stat.Size, Node: k, order: firstOffset(&k.Stat)}
			p.addFile(fdir, f, name, &k.Stat)
		case k.Stat.Mode&fs.ModeSymlink != 0:
			p.note("/%s is a symbolic link to %q: left out (FAT has no links)", ipath, k.Stat.Target)
		default:
			p.note("/%s is a %s: left out", ipath, diskio.KindOf(k.Stat.Mode))
		}
	}
	return nil
}

func fatPath(d *fatfs.Node) string {
	if s, ok := d.Data.(string); ok {
		return s
	}
	return ""
}

func (p *Plan) addFile(fdir *fatfs.Node, f *File, name string, st *isofmt.Stat) {
	n := &fatfs.Node{Name: name, Size: f.Size, Data: f}
	if st != nil {
		setTimes(n, st)
	}
	f.fat = n
	fdir.Children = append(fdir.Children, n)
	p.Files = append(p.Files, f)
}

// isSplittable: the WIMs Windows Setup reads as split sets.
func isSplittable(p string) bool {
	l := strings.ToLower(p)
	return l == "sources/install.wim" || l == "sources/install.esd"
}

// split plans the parts of an install.wim too large for FAT32.
func (p *Plan) split(k *isofmt.Node, ipath string, fdir *fatfs.Node, o Options) error {
	fr := p.Image.OpenNode(k)
	w, err := wim.Open(fr, k.Stat.Size)
	if err != nil {
		return fmt.Errorf("%w: /%s is %d bytes, over FAT32's limit, and cannot be split: %v", ErrRefused, ipath, k.Stat.Size, err)
	}
	sp, err := w.Split(o.PartSize)
	if err != nil {
		hint := ""
		if errors.Is(err, wim.ErrUnsupported) {
			hint = " (an ESD is solid-compressed: export the editions you need to a non-solid WIM, e.g. wimlib-imagex export --compress=LZX, or use media with install.wim)"
		}
		return fmt.Errorf("%w: /%s is %d bytes, over FAT32's limit, and cannot be split: %v%s", ErrRefused, ipath, k.Stat.Size, err, hint)
	}
	s := &Split{WIM: ipath, Size: k.Stat.Size, Duplicates: sp.Duplicates}
	base := strings.TrimSuffix(path.Base(ipath), path.Ext(ipath))
	for _, part := range sp.Parts {
		name := wim.PartName(base+".swm", part.Number)
		for _, c := range fdir.Children {
			if strings.EqualFold(c.Name, name) {
				return fmt.Errorf("%w: /%s must be split into %s, but the image already has a file of that name", ErrRefused, ipath, path.Join(path.Dir(ipath), name))
			}
		}
		f := &File{Path: path.Join(fatPath(fdir), name), ImagePath: ipath, Kind: FromWIMPart, Size: part.Size, Node: k, Part: part,
			order: firstOffset(&k.Stat) + int64(part.Number)}
		p.addFile(fdir, f, name, &k.Stat)
		s.Parts = append(s.Parts, f)
	}
	p.Splits = append(p.Splits, s)
	p.note("/%s (%d bytes) is split into %d parts: %s … (Windows Setup reads them as one)", ipath, k.Stat.Size, len(s.Parts), s.Parts[0].Path)
	return nil
}

// addBootImageLoaders copies EFI/BOOT/BOOT*.EFI out of the El Torito EFI
// image when the tree has no loader of that name: some images keep their
// UEFI loader only there, and a drive boots from the file system.
func (p *Plan) addBootImageLoaders(img *isofmt.Image) error {
	in := img.Info()
	if in.Boot == nil {
		return nil
	}
	for _, e := range in.Boot.Entries {
		if e.Platform != "uefi" {
			continue
		}
		files, err := usbboot.BootFiles(img, e)
		if err != nil {
			p.note("El Torito UEFI image %d: %v", e.Index, err)
			continue
		}
		for _, bf := range files {
			efi := childDir(p.root, "EFI")
			boot := childDir(efi, "BOOT")
			name := path.Base(bf.Path)
			if child(boot, name) != nil {
				continue
			}
			f := &File{Path: path.Join(fatPath(boot), name), ImagePath: bf.Path, Kind: FromBootImage, Size: int64(bf.Entry.Size), Boot: &bf, order: e.Offset}
			p.addFile(boot, f, name, nil)
			f.fat.Modified = bf.Entry.Modified
			p.note("/%s is copied from the El Torito UEFI boot image: the tree has no such loader", f.Path)
		}
	}
	return nil
}

func child(d *fatfs.Node, name string) *fatfs.Node {
	for _, c := range d.Children {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

func childDir(d *fatfs.Node, name string) *fatfs.Node {
	if c := child(d, name); c != nil && c.Dir {
		return c
	}
	c := &fatfs.Node{Name: name, Dir: true, Data: path.Join(fatPath(d), name), Modified: d.Modified, Created: d.Created}
	d.Children = append(d.Children, c)
	return c
}

func firstOffset(st *isofmt.Stat) int64 {
	for _, e := range st.Extents {
		if !e.Sparse {
			return e.Offset
		}
	}
	return 0
}

func setTimes(n *fatfs.Node, st *isofmt.Stat) {
	n.Modified = st.ModTime.Time()
	n.Created = st.BirthTime.Time()
	n.Accessed = st.AccessTime.Time()
	if n.Modified.IsZero() {
		n.Modified = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
}

// fatName maps an image name to a FAT long name: characters FAT does not
// allow become '_', trailing dots and spaces go, and the name is cut to
// 255 UTF-16 units. changed reports a difference.
func fatName(name string) (string, bool) {
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"*/:<>?\|`, r) {
			b.WriteByte('_')
		} else {
			b.WriteRune(r)
		}
	}
	s := strings.TrimRight(b.String(), ". ")
	if u := utf16.Encode([]rune(s)); len(u) > 255 {
		s = string(utf16.Decode(u[:255]))
		s = strings.TrimRight(s, ". ")
	}
	if s == "" {
		s = "_"
	}
	return s, s != name
}
