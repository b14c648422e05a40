package mounter

import (
	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/isofmt"
)

// BootImages presents the El Torito images of img (isofmt's
// Image.BootImages) as files for the hidden boot directory; an image
// without a catalog gets an empty directory.
func BootImages(img *isofmt.Image) []isofs.BootImage {
	out := []isofs.BootImage{}
	for _, e := range img.BootImages() {
		out = append(out, isofs.BootImage{Name: e.Name, Offset: e.Offset, Size: e.Size})
	}
	return out
}
