#!/usr/bin/env bash
# bench-carve.sh — isofsd carve/undelete against PhotoRec on the same disk.
#
# Builds (once, cached in $BENCH_DIR) a 1 GiB NTFS disk image with mkntfs +
# ntfs-3g: 64 MiB of random fillers, half of them deleted again, then five
# ISO images (xorriso, random payloads of 40-160 MB, two of them with an
# implanted MD5) written interleaved so they fragment, the rest of the
# disk filled with random data, and the images deleted. Then, with the
# disk in the page cache and again after dropping it (root only), it
# times:
#   - isofsd carve --scan-only (NTFS metadata, then the signature scan of
#     the whole disk),
#   - isofsd carve --scan-only --no-fs (signature scan only),
#   - isofsd carve -o DIR (everything, images written and verified),
#   - photorec /cmd IMG wholespace,fileopt,everything,disable,iso,enable,search
#     (PhotoRec 7 from testdisk, ISO signature only, whole disk),
# and prints the seconds, MB/s and what each recovered byte-exact.
#
# Usage: .ci/bench-carve.sh        (as root: ntfs-3g, dropping caches)
# Env:   BENCH_DIR (default /var/tmp/isofsd-bench-carve)
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/var/tmp/isofsd-bench-carve}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BENCH_DIR"
BIN=$BENCH_DIR/isofsd
(cd "$ROOT" && go build -o "$BIN" ./cmd/isofsd)
DISK=$BENCH_DIR/ntfs.img
SIZE=$((1 << 30))

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

echo "disk: $DISK (1 GiB NTFS, 5 deleted ISOs written interleaved)"
for cache in warm cold; do
	for c in isofsd_scan isofsd_sig isofsd_full photorec_iso; do
		if [ $cache = warm ]; then warm; else drop; fi
		run "$c" "$c"
	done
	if [ "$(id -u)" != 0 ]; then break; fi
done
grep -h "iso:" "$BENCH_DIR"/out-photorec_iso/recup*/report.xml 2>/dev/null | head -1 || true
grep -E "^(exact|likely|damaged|truncated) " "$BENCH_DIR/log-isofsd_full" || true
