package recover

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/isofsd/isofsd/isofmt"
)

// implantedMD5Plan parses the isomd5sum field, remembers it for
// checkImplantedMD5 and returns how many bytes the check will hash.
func (v *verifier) implantedMD5Plan() int64 {
	pvd := v.img.Info().Primary
	if pvd == nil {
		return 0
	}
	m, ok := isofmt.ParseImplantedMD5(pvd.ApplicationUse)
	if !ok {
		return 0
	}
	v.md5 = m
	v.md5Sectors = pvd.VolumeBytes() / isofmt.SectorSize
	return max(v.md5Sectors-m.SkipSectors, 0) * isofmt.SectorSize
}

// checkImplantedMD5 recomputes the implanted sum as checkisomd5 does. A
// failed fragment sum gives the byte range holding the damage (from the
// last good checkpoint to the failing one), which becomes a bad range so
// the files in it are named.
func (v *verifier) checkImplantedMD5() {
	if v.md5 == nil {
		v.add("implanted md5", CheckAbsent, "no isomd5sum data in the primary descriptor")
		return
	}
	base := v.done
	res, err := v.md5.Check(v.img.Source(), v.md5Sectors, func(done, total int64) {
		v.done = base + done
		if v.o.Progress != nil {
			v.o.Progress(v.done, v.total)
		}
	})
	switch {
	case res == nil:
		v.add("implanted md5", CheckUnknown, fmt.Sprintf("cannot compute: %v", err))
	case errors.Is(err, isofmt.ErrTruncated):
		v.add("implanted md5", CheckDamaged, fmt.Sprintf("image too short for the checksum: %v", err))
	case res.FirstBadFragment >= 0:
		r := Range{res.BadRange[0], res.BadRange[1] - res.BadRange[0]}
		v.addBad(fmt.Sprintf("data lies in implanted-MD5 fragment %d, which does not match", res.FirstBadFragment+1), true, r)
		v.add("implanted md5", CheckDamaged, fmt.Sprintf("fragment %d of %d differs: damage in image bytes %d-%d", res.FirstBadFragment+1, v.md5.FragmentCount, r.Offset, r.End()-1))
	case !res.OK:
		v.add("implanted md5", CheckDamaged, fmt.Sprintf("computed %s, implanted %s", hex.EncodeToString(res.Computed[:]), hex.EncodeToString(v.md5.MD5[:])))
	default:
		v.add("implanted md5", CheckOK, "matches "+hex.EncodeToString(res.Computed[:]))
	}
	v.done = base + max(v.md5Sectors-v.md5.SkipSectors, 0)*isofmt.SectorSize
}
