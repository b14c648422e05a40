package isofmt

// Info summarises an image for `isofsd info`: descriptors, trees, boot
// entries, system area, implanted checksum and warnings.
type Info struct {
	ImageSize        int64             `json:"image_size"`
	VolumeID         string            `json:"volume_id"`
	VolumeSize       int64             `json:"volume_size"` // bytes claimed by the primary descriptor
	Truncated        bool              `json:"truncated"`
	Primary          *VolumeDescriptor `json:"primary,omitempty"`
	Joliet           *VolumeDescriptor `json:"joliet,omitempty"`
	Enhanced         *VolumeDescriptor `json:"enhanced,omitempty"`
	Descriptors      []Descriptor      `json:"descriptors"`
	DescriptorSets   []int64           `json:"descriptor_sets"`
	Trees            []string          `json:"trees"`
	Tree             string            `json:"tree"`
	RockRidgeVersion []string          `json:"rock_ridge_extensions,omitempty"`
	Warnings         []string          `json:"warnings,omitempty"`
}

// Info describes the image. Parts beyond the descriptors (boot catalog,
// partition tables) are read on the first call.
func (img *Image) Info() *Info {
	v := img.vol
	v.infoOnce.Do(func() {
		in := &Info{ImageSize: img.size, Primary: v.pvd, Joliet: v.joliet, Enhanced: v.evd,
			Descriptors: v.descs, DescriptorSets: v.sets, Trees: append([]string(nil), v.order...), RockRidgeVersion: v.rrExt}
		if v.pvd != nil {
			in.VolumeID = v.pvd.VolumeID
			in.VolumeSize = v.pvd.VolumeBytes()
			in.Truncated = in.VolumeSize > img.size
		}
		v.info = in
	})
	out := *v.info
	out.Tree = img.Tree()
	out.Warnings = img.Warnings()
	return &out
}
