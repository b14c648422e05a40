#!/bin/sh
# Builds the small file-system images the undelete readers' fuzz targets
# and hostile-case tables start from: each holds deleted fillers and two
# deleted files written after half the fillers were deleted (the
# fragmented scenarios themselves are built by the tests that mount, in
# recover/undelete_test.go). Run as root, then gzip -9 each image. The
# images are made by this project and are in the public domain.
set -e
fill() { # dir size count
	i=0; while [ $i -lt $3 ] && head -c $2 /dev/zero > $1/f$i 2>/dev/null; do i=$((i+1)); done
	sync; j=0; while [ $j -lt $i ]; do rm -f $1/f$j; j=$((j+2)); done; sync
}
files() {
	head -c 40000 /dev/zero | tr '\0' 'a' > $1/fragmented.iso; sync
	head -c 3000 /dev/zero | tr '\0' 'b' > $1/second.iso; sync
	rm $1/fragmented.iso $1/second.iso; sync
}
truncate -s 2M ntfs.img; mkntfs -q -F -f -c 512 ntfs.img
ntfs-3g -o no_detach ntfs.img m & P=$!; sleep 1; fill m 4096 40; files m; umount m; wait $P
truncate -s 2M exfat.img; mkfs.exfat -c 512 -b 4096 exfat.img >/dev/null; L=$(losetup -f --show exfat.img)
mount.exfat-fuse -d $L m >/dev/null 2>&1 & P=$!; sleep 1; fill m 4096 40; files m; umount m; wait $P; losetup -d $L
truncate -s 4M ext4.img; mkfs.ext4 -q -F -b 1024 -J size=1 -N 64 ext4.img; L=$(losetup -f --show ext4.img)
mount $L m; fill m 4096 60; files m; umount m; losetup -d $L
mkfs.fat -C fat.img 2048 >/dev/null; i=0; while [ $i -lt 60 ]; do head -c 4096 /dev/zero > f; mcopy -i fat.img f ::/f$i 2>/dev/null || break; i=$((i+1)); done
j=0; while [ $j -lt $i ]; do mdel -i fat.img ::/f$j; j=$((j+2)); done
head -c 40000 /dev/zero | tr '\0' 'a' > fragmented.iso; mcopy -i fat.img fragmented.iso ::/fragmented.iso; mdel -i fat.img ::/fragmented.iso
