#!/usr/bin/env bash
# bench-winusb.sh — `isofsd write --mode files` (FAT32 file copy with the
# install.wim split) against `cat` of the same image, side by side.
#
# Builds (once, cached in $BENCH_DIR) a Windows-like image of about
# $SIZE_GB GB: genisoimage -udf -allow-limited-size with an uncompressed
# install.wim of random data made by wimlib (over 4 GiB, so it is split),
# a boot.wim and the small boot files. Then, with the image in the page
# cache, best of $RUNS runs each:
#   tmpfs   cat IMAGE > /dev/shm/out; sync     vs  isofsd write --mode files (and --mode raw)
#   loop    cat IMAGE > /dev/loopN; sync       vs  isofsd write --mode files (and --mode raw)
# isofsd runs with --no-verify: the time is writing and syncing, as for cat
# (the verify pass is reported separately in the last column).
# The loop device is backed by a file in $BENCH_DIR; it needs root.
# Goal (issue 23): file-copy throughput >= 0.9 x cat's.
#
# Usage: .ci/bench-winusb.sh        Env: BENCH_DIR (default /var/tmp/isofsd-bench-winusb),
#        SIZE_GB (default 5), RUNS (default 3), SHM (default /dev/shm)
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/var/tmp/isofsd-bench-winusb}
SIZE_GB=${SIZE_GB:-5}
RUNS=${RUNS:-3}
SHM=${SHM:-/dev/shm}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BENCH_DIR"
BIN=$BENCH_DIR/isofsd
(cd "$ROOT" && go build -o "$BIN" ./cmd/isofsd)
IMG=$BENCH_DIR/windows-like-${SIZE_GB}g.iso

now_ns() { date +%s%N; }
if [ ! -s "$IMG" ]; then
	for t in wimlib-imagex genisoimage; do
		command -v $t >/dev/null || { echo "bench-winusb: $t is needed (apt-get install wimtools genisoimage)" >&2; exit 2; }
	done
	echo "building $IMG ..." >&2
	SRC=$BENCH_DIR/src TREE=$BENCH_DIR/tree
	rm -rf "$SRC" "$TREE" && mkdir -p "$SRC/Windows/System32" "$TREE/sources" "$TREE/efi/boot" "$TREE/boot" "$TREE/efi/microsoft/boot"
	# Random data: nothing compresses or deduplicates, nothing is sparse.
	wim_mb=$((SIZE_GB * 1024 - 400))
	n=$(((wim_mb + 511) / 512))
	for i in $(seq 1 "$n"); do
		head -c $((512 << 20)) /dev/urandom >"$SRC/Windows/System32/payload$i.dat"
	done
	for i in $(seq 1 200); do head -c $((i * 997)) /dev/urandom >"$SRC/Windows/System32/small$i.dll"; done
	wimlib-imagex capture "$SRC" "$TREE/sources/install.wim" "Windows 11 Pro" --compress=none >/dev/null
	rm -rf "$SRC"
	head -c $((300 << 20)) /dev/urandom >"$TREE/sources/boot.wim"
	head -c $((1 << 20)) /dev/urandom >"$TREE/efi/boot/bootx64.efi"
	head -c 400000 /dev/urandom >"$TREE/bootmgr"
	head -c 4096 /dev/zero >"$TREE/boot/etfsboot.com"
	head -c $((2 << 20)) /dev/zero >"$TREE/efi/microsoft/boot/efisys.bin"
	for i in $(seq 1 500); do mkdir -p "$TREE/sources/lang$((i % 20))"; head -c $((i * 131)) /dev/urandom >"$TREE/sources/lang$((i % 20))/f$i.mui"; done
	genisoimage -quiet -udf -allow-limited-size -iso-level 3 -J -joliet-long -V CCCOMA_X64FRE_EN-US_DV9 \
		-b boot/etfsboot.com -no-emul-boot -boot-load-size 8 -o "$IMG.tmp" "$TREE"
	mv "$IMG.tmp" "$IMG"
	rm -rf "$TREE"
fi
SIZE=$(stat -c %s "$IMG")
cat "$IMG" >/dev/null # into the page cache: every contender reads from memory

# best CMD...: the best wall time of $RUNS runs, in seconds.
best() {
	local b=""
	for _ in $(seq 1 "$RUNS"); do
		local s e
		s=$(now_ns)
		"$@" >/dev/null 2>&1
		e=$(now_ns)
		local d=$(((e - s) / 1000000))
		if [ -z "$b" ] || [ "$d" -lt "$b" ]; then b=$d; fi
	done
	awk -v ms="$b" 'BEGIN { printf "%.3f", ms / 1000 }'
}
rate() { awk -v n="$SIZE" -v s="$1" 'BEGIN { printf "%.0f", n / s / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

OUT=$SHM/isofsd-bench-winusb-$$.img
cleanup() { rm -f "$OUT"; if [ -n "${LOOP:-}" ]; then losetup -d "$LOOP"; fi; rm -f "$BENCH_DIR/loop.img"; }
trap cleanup EXIT

cat_tmpfs() { rm -f "$OUT"; cat "$IMG" >"$OUT"; sync "$OUT"; }
files_tmpfs() { rm -f "$OUT"; "$BIN" write --yes --to-file --no-verify --mode files "$IMG" "$OUT"; }
raw_tmpfs() { rm -f "$OUT"; "$BIN" write --yes --to-file --no-verify --mode raw "$IMG" "$OUT"; }
verify_tmpfs() { rm -f "$OUT"; "$BIN" write --yes --to-file --mode files "$IMG" "$OUT"; }

# row TARGET LABEL FUNCTION [CAT_SECONDS]: times FUNCTION (best of
# $RUNS) and prints its line, its speed against cat's when CAT_SECONDS is
# given (cat's own line otherwise); the seconds are left in $last.
row() {
	last=$(best "$3")
	local x=1.00
	if [ -n "${4:-}" ]; then x=$(ratio "$4" "$last"); fi
	printf '%-8s %-34s %9s %9s %8s\n' "$1" "$2" "$last" "$(rate "$last")" "$x"
}

printf '%-8s %-34s %9s %9s %8s\n' target contender seconds MiB/s "x cat"
row tmpfs "cat IMAGE > file; sync" cat_tmpfs
c=$last
row tmpfs "isofsd write --mode files" files_tmpfs "$c"
row tmpfs "isofsd write --mode raw" raw_tmpfs "$c"
v=$(RUNS=1 best verify_tmpfs)
printf '%-8s %-34s %9s %9s %8s\n' tmpfs "  same, with file-by-file verify" "$v" "-" "-"
rm -f "$OUT"

if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null; then
	truncate -s $((SIZE + (256 << 20))) "$BENCH_DIR/loop.img"
	LOOP=$(losetup -f --show "$BENCH_DIR/loop.img")
	cat_loop() { cat "$IMG" >"$LOOP"; sync; blockdev --flushbufs "$LOOP"; }
	files_loop() { "$BIN" write --yes --allow-loop --no-verify --mode files "$IMG" "$LOOP"; }
	raw_loop() { "$BIN" write --yes --allow-loop --no-verify --mode raw "$IMG" "$LOOP"; }
	row loop "cat IMAGE > /dev/loopN; sync" cat_loop
	c=$last
	row loop "isofsd write --mode files" files_loop "$c"
	row loop "isofsd write --mode raw" raw_loop "$c"
else
	echo "loop: skipped (needs root and losetup)"
fi
echo "image: $IMG ($SIZE bytes); rates are image bytes per second"
