package writer

import (
	"encoding/hex"
	"io"
)

// MD5Check is the result of checking an image's implanted MD5 (isomd5sum,
// as checkisomd5 does at boot) against the bytes read back from a target.
type MD5Check struct {
	Target   string `json:"target"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	OK       bool   `json:"ok"`
	// FirstBadFragment is the first fragment whose sum failed, -1 if none.
	FirstBadFragment int    `json:"first_bad_fragment"`
	Err              string `json:"error,omitempty"`
}

// checkImplantedMD5 runs the isomd5sum check (isofmt) over r, the bytes of
// a target that verified, so the result describes what is on the drive.
func (p *Plan) checkImplantedMD5(name string, r io.ReaderAt) *MD5Check {
	m := p.Image.MD5
	res, err := m.Check(r, p.Image.VolumeSectors, func(done, total int64) {
		p.progress(Progress{Target: name, Phase: PhaseMD5, Done: done, Total: total})
	})
	c := &MD5Check{Target: name, Expected: hex.EncodeToString(m.MD5[:])}
	if err != nil {
		c.Err = err.Error()
		p.opts.Log.Warnf("%s: implanted MD5 check: %v", name, err)
	}
	if res != nil {
		c.OK = res.OK && err == nil
		c.Got = hex.EncodeToString(res.Computed[:])
		c.FirstBadFragment = res.FirstBadFragment
	}
	return c
}
