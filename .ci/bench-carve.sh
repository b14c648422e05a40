#!/usr/bin/env bash
# bench-carve.sh — isofsd carve/undelete against PhotoRec on the same disk.
#
# Builds (once, cached in $BENCH_DIR) a disk image holding five deleted ISO
# images (xorriso, random payloads of 32-160 MB, the odd ones with an
# implanted MD5), fragmented:
#   - ntfs (default): 1 GiB, mkntfs + ntfs-3g, 64 MiB of random fillers,
#     half of them deleted again, the images written interleaved, the rest
#     of the disk filled with random data, the images deleted;
#   - fat: 2 GiB FAT32, mkfs.fat + mtools (which write whole files), filled
#     with 4 MiB random fillers, every other one deleted, the images copied
#     one after another into the holes, the rest filled, the images deleted.
# Then, with the disk in the page cache and again after dropping it (root
# only), it times:
#   - isofsd carve --scan-only (file-system metadata, then the signature
#     scan of the whole disk),
#   - isofsd carve --scan-only --no-fs (signature scan only),
#   - isofsd carve -o DIR (everything, images written and verified),
#   - photorec /cmd IMG wholespace,fileopt,everything,disable,iso,enable,search
#     (PhotoRec 7 from testdisk, ISO signature only, whole disk),
# and prints the seconds, MB/s and what each recovered byte-exact.
#
# Usage: .ci/bench-carve.sh [ntfs|fat]   (ntfs as root: ntfs-3g; root also
#        drops the caches for the cold runs)
# Env:   BENCH_DIR (default /var/tmp/isofsd-bench-carve; the disk goes in
#        a subdirectory named after the file system)
set -euo pipefail

FS=${1:-ntfs}
case $FS in ntfs | fat) ;; *) echo "usage: $0 [ntfs|fat]" >&2; exit 2 ;; esac
BENCH_DIR=${BENCH_DIR:-/var/tmp/isofsd-bench-carve}/$FS
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BENCH_DIR"
BIN=$BENCH_DIR/isofsd
(cd "$ROOT" && go build -o "$BIN" ./cmd/isofsd)
DISK=$BENCH_DIR/$FS.img
SIZE=$((1 << 30))
if [ "$FS" = fat ]; then SIZE=$((2 << 30)); fi

now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
mbps() { awk -v n="$SIZE" -v s="$1" 'BEGIN { if (s > 0) printf "%.0f", n / s / 1e6; else print "-" }'; }

if [ ! -s "$DISK" ] || [ ! -s "$BENCH_DIR/sums" ]; then
	echo "building $DISK ..." >&2
	rm -rf "$BENCH_DIR/src" "$BENCH_DIR/mnt" "$DISK"
	mkdir -p "$BENCH_DIR/src" "$BENCH_DIR/mnt"
	: >"$BENCH_DIR/sums"
	for i in 1 2 3 4 5; do
		t=$BENCH_DIR/src/t$i
		mkdir -p "$t"
		head -c $((i * 32 * 1000 * 1000)) /dev/urandom >"$t/payload.bin"
		xorriso -as mkisofs -quiet -R -V "BENCH_$i" -o "$BENCH_DIR/src/image$i.iso" "$t" 2>/dev/null
		rm -rf "$t"
		if [ $((i % 2)) = 1 ]; then implantisomd5 "$BENCH_DIR/src/image$i.iso" >/dev/null; fi
		(cd "$BENCH_DIR/src" && sha256sum "image$i.iso") >>"$BENCH_DIR/sums"
	done
	if [ "$FS" = fat ]; then
		truncate -s $SIZE "$DISK"
		mkfs.fat -F 32 "$DISK" >/dev/null
		export MTOOLS_SKIP_CHECK=1
		mkdir -p "$BENCH_DIR/fill"
		n=0
		while :; do # fillers in batches of 20 until the disk is full
			names=()
			for k in $(seq $n $((n + 19))); do
				head -c 4194304 /dev/urandom >"$BENCH_DIR/fill/f$k"
				names+=("$BENCH_DIR/fill/f$k")
			done
			mcopy -i "$DISK" "${names[@]}" ::/ 2>/dev/null || break
			rm -f "$BENCH_DIR"/fill/*
			n=$((n + 20))
		done
		rm -rf "$BENCH_DIR/fill"
		del=()
		for k in $(seq 0 2 $((n + 19))); do del+=("::/f$k"); done
		mdel -i "$DISK" "${del[@]}" 2>/dev/null || true
		for i in 1 2 3 4 5; do mcopy -i "$DISK" "$BENCH_DIR/src/image$i.iso" ::/; done
		head -c $SIZE /dev/urandom | mcopy -i "$DISK" - ::/rest 2>/dev/null || true
		for i in 1 2 3 4 5; do mdel -i "$DISK" "::/image$i.iso"; done
	else
		truncate -s $SIZE "$DISK"
		mkntfs -q -F -f "$DISK" >/dev/null 2>&1
		ntfs-3g -o no_detach "$DISK" "$BENCH_DIR/mnt" >/dev/null 2>&1 &
		pid=$!
		for _ in $(seq 100); do mountpoint -q "$BENCH_DIR/mnt" && break; sleep 0.1; done
		for i in $(seq 0 255); do head -c 262144 /dev/urandom >"$BENCH_DIR/mnt/f$i"; done
		sync
		for i in $(seq 0 2 255); do rm "$BENCH_DIR/mnt/f$i"; done
		sync
		python3 - "$BENCH_DIR/src" "$BENCH_DIR/mnt" <<'EOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
names = ["image%d.iso" % i for i in range(1, 6)]
ins = [open(os.path.join(src, n), "rb") for n in names]
outs = [open(os.path.join(dst, n), "wb") for n in names]
live = list(range(5))
while live:
    for k in list(live):
        b = ins[k].read(1 << 20)
        if not b:
            live.remove(k)
            continue
        outs[k].write(b); outs[k].flush(); os.fsync(outs[k].fileno())
for f in outs: f.close()
EOF
		# Fill the rest with random data so no scanner sees long zero runs.
		head -c $((SIZE)) /dev/urandom >"$BENCH_DIR/mnt/rest" 2>/dev/null || true
		sync
		rm "$BENCH_DIR"/mnt/image*.iso
		sync
		umount "$BENCH_DIR/mnt"
		wait $pid
	fi
	rm -f "$BENCH_DIR"/src/*.iso
fi

drop() { if [ "$(id -u)" = 0 ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi; }
warm() { cat "$DISK" >/dev/null; }

exact() { # DIR: how many files in DIR match the original sums
	local n=0
	for f in "$1"/* "$1"/*/*; do
		[ -f "$f" ] || continue
		s=$(sha256sum "$f" | cut -d' ' -f1)
		grep -q "^$s " "$BENCH_DIR/sums" && n=$((n + 1))
	done
	echo "$n"
}

run() { # NAME CMD...: prints one line
	local name=$1
	shift
	local out=$BENCH_DIR/out-$name
	rm -rf "$out"
	mkdir -p "$out"
	local t0
	t0=$(now_ns)
	"$@" "$out" >"$BENCH_DIR/log-$name" 2>&1 || true
	local s
	s=$(secs "$t0")
	printf '%-34s %7s s %6s MB/s  %s of 5 byte-exact\n' "$name ($cache)" "$s" "$(mbps "$s")" "$(exact "$out")"
}

isofsd_scan() { "$BIN" carve --scan-only "$DISK"; }
isofsd_sig() { "$BIN" carve --scan-only --no-fs "$DISK"; }
isofsd_full() { "$BIN" carve -o "$1/r" "$DISK"; }
# photorec /log writes photorec.log into the current directory: run it in
# its output directory, not in the checkout.
photorec_iso() { (cd "$1" && photorec /log /d recup /cmd "$(realpath "$DISK")" wholespace,fileopt,everything,disable,iso,enable,search); }

echo "disk: $DISK ($((SIZE >> 30)) GiB $FS, 5 deleted ISOs, fragmented)"
for cache in warm cold; do
	for c in isofsd_scan isofsd_sig isofsd_full photorec_iso; do
		if [ $cache = warm ]; then warm; else drop; fi
		run "$c" "$c"
	done
	if [ "$(id -u)" != 0 ]; then break; fi
done
grep -h "iso:" "$BENCH_DIR"/out-photorec_iso/recup*/report.xml 2>/dev/null | head -1 || true
grep -E "^(exact|likely|damaged|truncated) " "$BENCH_DIR/log-isofsd_full" || true
