package wim

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Image is what the XML data says about one image of the WIM: for
// Windows media, one edition.
type Image struct {
	Index       int    `json:"index"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	// Flags is the edition as DISM shows it ("Professional", "Core").
	Flags     string `json:"flags,omitempty"`
	EditionID string `json:"edition_id,omitempty"`
	// Arch is "x86", "x64", "arm", "arm64", "ia64", or the number found.
	Arch             string   `json:"arch,omitempty"`
	ProductName      string   `json:"product_name,omitempty"`
	InstallationType string   `json:"installation_type,omitempty"`
	Languages        []string `json:"languages,omitempty"`
	DefaultLanguage  string   `json:"default_language,omitempty"`
	// Version is major.minor.build, with .spbuild when recorded.
	Version    string `json:"version,omitempty"`
	Build      int    `json:"build,omitempty"`
	DirCount   int64  `json:"dir_count"`
	FileCount  int64  `json:"file_count"`
	TotalBytes int64  `json:"total_bytes"`
}

// Edition is the edition name: EDITIONID, else FLAGS.
func (im *Image) Edition() string {
	if im.EditionID != "" {
		return im.EditionID
	}
	return im.Flags
}

// xmlWIM mirrors the parts of the XML data read here. Element names are
// upper case in every WIM writer (imagex, DISM, wimlib).
type xmlWIM struct {
	XMLName xml.Name   `xml:"WIM"`
	Images  []xmlImage `xml:"IMAGE"`
}

type xmlImage struct {
	Index       string `xml:"INDEX,attr"`
	Name        string `xml:"NAME"`
	Description string `xml:"DESCRIPTION"`
	DisplayName string `xml:"DISPLAYNAME"`
	Flags       string `xml:"FLAGS"`
	DirCount    string `xml:"DIRCOUNT"`
	FileCount   string `xml:"FILECOUNT"`
	TotalBytes  string `xml:"TOTALBYTES"`
	Windows     struct {
		Arch             string `xml:"ARCH"`
		ProductName      string `xml:"PRODUCTNAME"`
		EditionID        string `xml:"EDITIONID"`
		InstallationType string `xml:"INSTALLATIONTYPE"`
		Languages        struct {
			Language []string `xml:"LANGUAGE"`
			Default  string   `xml:"DEFAULT"`
		} `xml:"LANGUAGES"`
		Version struct {
			Major   string `xml:"MAJOR"`
			Minor   string `xml:"MINOR"`
			Build   string `xml:"BUILD"`
			SPBuild string `xml:"SPBUILD"`
		} `xml:"VERSION"`
	} `xml:"WINDOWS"`
}

// MaxXMLImages caps the images taken from the XML data.
const MaxXMLImages = MaxImages

// Images parses the XML data into one Image per IMAGE element, in the
// order of their INDEX.
func (w *WIM) Images() ([]Image, error) {
	raw, err := w.XMLData()
	if err != nil {
		return nil, err
	}
	return ParseXML(raw)
}

// ParseXML decodes XML data as WIMs store it: UTF-16LE, normally with a
// byte-order mark (UTF-8 is accepted too).
func ParseXML(raw []byte) ([]Image, error) {
	text, err := decodeXMLText(raw)
	if err != nil {
		return nil, err
	}
	var doc xmlWIM
	d := xml.NewDecoder(strings.NewReader(text))
	// The document says encoding="UTF-16"; it has been decoded already.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := d.Decode(&doc); err != nil {
		return nil, errorf("XML data", -1, ErrCorrupt, "%v", err)
	}
	if len(doc.Images) > MaxXMLImages {
		return nil, errorf("XML data", -1, ErrCorrupt, "%d images (at most %d)", len(doc.Images), MaxXMLImages)
	}
	out := make([]Image, 0, len(doc.Images))
	for i, x := range doc.Images {
		im := Image{
			Name:             strings.TrimSpace(x.Name),
			Description:      strings.TrimSpace(x.Description),
			DisplayName:      strings.TrimSpace(x.DisplayName),
			Flags:            strings.TrimSpace(x.Flags),
			EditionID:        strings.TrimSpace(x.Windows.EditionID),
			ProductName:      strings.TrimSpace(x.Windows.ProductName),
			InstallationType: strings.TrimSpace(x.Windows.InstallationType),
			DefaultLanguage:  strings.TrimSpace(x.Windows.Languages.Default),
			DirCount:         atoi64(x.DirCount),
			FileCount:        atoi64(x.FileCount),
			TotalBytes:       atoi64(x.TotalBytes),
		}
		im.Index = int(atoi64(x.Index))
		if im.Index <= 0 {
			im.Index = i + 1
		}
		for _, l := range x.Windows.Languages.Language {
			if l = strings.TrimSpace(l); l != "" && len(im.Languages) < 64 {
				im.Languages = append(im.Languages, l)
			}
		}
		if a := strings.TrimSpace(x.Windows.Arch); a != "" {
			im.Arch = archName(a)
		}
		v := x.Windows.Version
		if maj := strings.TrimSpace(v.Major); maj != "" {
			im.Version = fmt.Sprintf("%s.%s.%s", maj, strings.TrimSpace(v.Minor), strings.TrimSpace(v.Build))
			if sp := strings.TrimSpace(v.SPBuild); sp != "" {
				im.Version += "." + sp
			}
		}
		im.Build = int(atoi64(v.Build))
		out = append(out, im)
	}
	return out, nil
}

// archName maps the PROCESSOR_ARCHITECTURE numbers of the XML data.
func archName(s string) string {
	switch s {
	case "0":
		return "x86"
	case "5":
		return "arm"
	case "6":
		return "ia64"
	case "9":
		return "x64"
	case "12":
		return "arm64"
	}
	return s
}

func atoi64(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// decodeXMLText turns the XML resource into a Go string.
func decodeXMLText(raw []byte) (string, error) {
	switch {
	case bytes.HasPrefix(raw, []byte{0xff, 0xfe}):
		raw = raw[2:]
	case bytes.HasPrefix(raw, []byte{0xef, 0xbb, 0xbf}):
		return string(raw[3:]), nil
	case bytes.HasPrefix(raw, []byte("<")) && !bytes.HasPrefix(raw, []byte("<\x00")):
		return string(raw), nil
	}
	if len(raw)%2 != 0 {
		return "", errorf("XML data", -1, ErrCorrupt, "odd length %d for UTF-16 text", len(raw))
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return string(utf16.Decode(u)), nil
}
