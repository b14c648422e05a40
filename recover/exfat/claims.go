package exfat

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Directory clusters written over deleted files.
//
// A directory made after a file was deleted gets its clusters wherever
// the allocation bitmap has free ones — the deleted file's among them —
// and once the directory is deleted too, the bitmap shows them free again
// and nothing claims them but the directory's own deleted entry. Deleted
// walks deleted directories anyway (for the files in them); each cluster
// of one that holds an entry set with a valid set checksum now is the
// directory's, and a deleted file on it has lost those bytes.

// maxDirClaims caps the deleted-directory clusters remembered.
const maxDirClaims = 1 << 20

// noteDeletedDir remembers the clusters of a deleted directory (its
// bytes b, read from clusters cs) that hold one of its entry sets.
func (v *Volume) noteDeletedDir(path string, b []byte, cs []uint32) {
	if len(cs) == 0 {
		return
	}
	// Deletion zeroes a directory's FAT chain, and drivers shrink its
	// recorded size as entries go (exfat-fuse leaves one cluster): the
	// clusters it had after the ones read are unknown. A directory grows
	// into the next free ones, so those after the last one read are tried
	// as long as they hold entry sets now.
	for c := cs[len(cs)-1] + 1; len(cs) > 0 && int64(len(cs))*v.ClusterSize < MaxDirBytes && v.valid(c); c++ {
		x := make([]byte, v.ClusterSize)
		if _, err := v.r.ReadAt(x, v.offset(c)); err != nil || !holdsEntrySet(x) {
			break
		}
		b = append(b[:min(int64(len(b)), int64(len(cs))*v.ClusterSize)], x...)
		cs = append(cs, c)
	}
	for i, c := range cs {
		lo := int64(i) * v.ClusterSize
		if lo >= int64(len(b)) || len(v.dirClaims) >= maxDirClaims {
			return
		}
		if !holdsEntrySet(b[lo:min(lo+v.ClusterSize, int64(len(b)))]) {
			continue
		}
		v.dirClaims = append(v.dirClaims, fsmeta.Claim{Physical: v.offset(c), Length: v.ClusterSize,
			What: fmt.Sprintf("a cluster of deleted directory %s", path), After: true})
	}
}

// holdsEntrySet reports whether a directory cluster holds a whole file
// entry set (live or deleted) whose set checksum matches.
func holdsEntrySet(b []byte) bool {
	for i := 0; i+64 <= len(b); i += 32 {
		if b[i]&^inUse != entryFile&^inUse {
			continue
		}
		n := 32 * (1 + int(b[i+1]))
		if b[i+1] < 2 || i+n > len(b) {
			continue
		}
		if setChecksum(b[i:i+n]) == binary.LittleEndian.Uint16(b[i+2:]) {
			return true
		}
	}
	return false
}

// setChecksum is exFAT's entry set checksum (the file entry's own
// checksum field skipped), computed as the set was when in use:
// deletion clears each entry's in-use bit afterwards.
func setChecksum(set []byte) uint16 {
	var sum uint16
	for i, x := range set {
		if i == 2 || i == 3 {
			continue
		}
		if i%32 == 0 {
			x |= inUse
		}
		sum = (sum<<15 | sum>>1) + uint16(x)
	}
	return sum
}

// Claims records on f (extents relative to the volume) the clusters of
// deleted directories that lie on its clusters now. Deleted gathers them;
// callers ask only for the files they recover.
func (v *Volume) Claims(f *fsmeta.File) {
	if !v.claimsSorted {
		sort.Slice(v.dirClaims, func(i, j int) bool { return v.dirClaims[i].Physical < v.dirClaims[j].Physical })
		v.claimsSorted = true
	}
	for _, e := range f.Extents {
		if e.Zero {
			continue
		}
		i := sort.Search(len(v.dirClaims), func(i int) bool { return v.dirClaims[i].Physical+v.dirClaims[i].Length > e.Physical })
		for ; i < len(v.dirClaims) && v.dirClaims[i].Physical < e.Physical+e.Length; i++ {
			c := v.dirClaims[i]
			lo, hi := max(c.Physical, e.Physical), min(c.Physical+c.Length, e.Physical+e.Length)
			c.Physical, c.Length = lo, hi-lo
			f.AddClaim(c)
		}
	}
}

// Metadata reports whether cluster b of a recovered file holds an exFAT
// directory (an entry set whose checksum matches), "" when not: the last
// check before a file is called exact on the file system's word, for
// directories no entry still names.
func Metadata(b []byte) string {
	if holdsEntrySet(b) {
		return "an exFAT directory cluster"
	}
	return ""
}
