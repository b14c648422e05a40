package mounter

import (
	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/isofmt"
)

// BootImages lists the El Torito images of img (from its boot catalog)
// as files for the hidden boot directory; an image without a catalog
// gets an empty directory.
func BootImages(img *isofmt.Image) []isofs.BootImage {
	out := []isofs.BootImage{}
	bc := img.Info().Boot
	if bc == nil {
		return out
	}
	seen := map[string]bool{}
	for _, e := range bc.Entries {
		if e.Size <= 0 || e.Name == "" || seen[e.Name] {
			continue
		}
		seen[e.Name] = true
		out = append(out, isofs.BootImage{Name: e.Name, Offset: e.Offset, Size: e.Size})
	}
	return out
}
