#!/usr/bin/env bash
# bench-mount.sh — isofsd mount against fuseiso and archivemount, side by side.
#
# Builds (once, cached in $BENCH_DIR) a ~1.8 GB Rock Ridge image holding one
# 1.5 GB file and a 100 000-file image (0–3 KB files in 500 directories),
# warms both into the page cache, then for every contender prints:
# first, second and third sequential read of the 1.5 GB file, mount time of each
# image, find / ls -lR / tar cf - . over the 100k tree, and the daemon's RSS
# after the walk. `cat` of the raw image is the ceiling of cached reads; the
# rate of filling fresh page cache (tmpfs) is the ceiling of first reads
# that keep their pages. Contenders: isofsd as mounted by default, with
# --splice off, and with --direct-io (big files past the page cache).
#
# Usage: .ci/bench-mount.sh            (run as root for read-ahead tuning)
# Env:   BENCH_DIR (default /var/tmp/isofsd-bench), TIMEOUT (per step, 120 s),
#        SETTLE (seconds of idle before each first read, default 5),
#        PEERS="fuseiso archivemount" (which peers to run if installed).
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/var/tmp/isofsd-bench}
TIMEOUT=${TIMEOUT:-120}
PEERS=${PEERS:-"fuseiso archivemount"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BENCH_DIR"
BIN=$BENCH_DIR/isofsd
(cd "$ROOT" && go build -o "$BIN" ./cmd/isofsd)

BIG=$BENCH_DIR/big.iso
MANY=$BENCH_DIR/many.iso

now_ns() { date +%s%N; }
# secs START_NS: elapsed seconds with 3 decimals.
secs() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
# gbps BYTES START_NS
gbps() { awk -v n="$1" -v a="$2" -v b="$(now_ns)" 'BEGIN { printf "%.2f", n / ((b - a) / 1e9) / 1e9 }'; }

if [ ! -s "$BIG" ]; then
	echo "building $BIG ..." >&2
	rm -rf "$BENCH_DIR/big-src" && mkdir -p "$BENCH_DIR/big-src/extra"
	head -c 1500000000 /dev/urandom >"$BENCH_DIR/big-src/big.bin"
	head -c 300000000 /dev/urandom >"$BENCH_DIR/big-src/extra/filler.bin"
	xorriso -as mkisofs -R -J -quiet -o "$BIG.tmp" "$BENCH_DIR/big-src" 2>/dev/null
	mv "$BIG.tmp" "$BIG"
	rm -rf "$BENCH_DIR/big-src"
fi
if [ ! -s "$MANY" ]; then
	echo "building $MANY ..." >&2
	rm -rf "$BENCH_DIR/many-src"
	python3 - "$BENCH_DIR/many-src" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(1)
for d in range(500):
    dp = os.path.join(root, "dir%03d" % d)
    os.makedirs(dp)
    for f in range(200):
        with open(os.path.join(dp, "file%03d.dat" % f), "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(0, 3072)))
EOF
	xorriso -as mkisofs -R -J -quiet -o "$MANY.tmp" "$BENCH_DIR/many-src" 2>/dev/null
	mv "$MANY.tmp" "$MANY"
	rm -rf "$BENCH_DIR/many-src"
fi

# Warm the page cache with both images; measure cat of the raw big image,
# best of three. As root, the cache is dropped first so that the images
# come back through read-ahead, in the large folios ext4 gives it: cat's
# fastest case (pages left by xorriso's writes read up to 40 % slower), so
# the reference is never flattering.
if [ "$(id -u)" = 0 ]; then
	sync && echo 1 >/proc/sys/vm/drop_caches
fi
cat "$BIG" "$MANY" >/dev/null
# The programs too, so that no mount time includes loading one from disk.
"$BIN" info "$MANY" >/dev/null
for p in $PEERS fusermount3; do
	if command -v "$p" >/dev/null; then cat "$(command -v "$p")" >/dev/null; fi
done
BIGSIZE=$(stat -c %s "$BIG")
CAT=0
for _ in 1 2 3; do
	t0=$(now_ns); cat "$BIG" >/dev/null; c=$(gbps "$BIGSIZE" "$t0")
	CAT=$(awk -v a="$CAT" -v b="$c" 'BEGIN { print (b > a) ? b : a }')
done
FILESIZE=1500000000

# The rate at which this machine fills fresh page cache: 1.5 GB written to
# tmpfs, allocating and copying as a first read through a page cache
# must. No first read that keeps its pages can beat it. On VMs whose freed
# memory goes back to the host (free page reporting), each fresh page
# faults in the hypervisor: this is then far below cat of cached data.
FILL=?
if [ -d /dev/shm ] && [ "$(df --output=avail -B1 /dev/shm | tail -1)" -gt $((2 * FILESIZE)) ]; then
	t0=$(now_ns); dd if=/dev/zero of=/dev/shm/isofsd-bench-fill bs=1M count=$((FILESIZE >> 20)) status=none
	FILL=$(gbps $((FILESIZE >> 20 << 20)) "$t0"); rm -f /dev/shm/isofsd-bench-fill
fi
# Such a VM returns freed memory to the host about 2 s after it is freed.
# Every first read below starts after this settle time, so that none of
# them reuses pages just freed (by the fill, or by the previous
# contender's unmount) while another pays for fresh ones.
SETTLE=${SETTLE:-5}

MP=$BENCH_DIR/mnt
mkdir -p "$MP"

# The mount commands of each contender: mount_<name> IMAGE MOUNTPOINT.
mount_isofsd() { "$BIN" mount "$1" "$2"; }
mount_isofsd_nosplice() { "$BIN" mount --splice off "$1" "$2"; }
mount_isofsd_directio() { "$BIN" mount --direct-io "$1" "$2"; }
mount_fuseiso() { fuseiso "$1" "$2"; }
mount_archivemount() { archivemount -o readonly "$1" "$2"; }
umount_any() { fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null || umount -l "$1"; }

daemon_pid() { pgrep -n -f -- "$MP" || true; }

# result NAME FIELD VALUE
declare -A R
result() { R["$1|$2"]=$3; }

# timed CMD...: run with the step timeout; prints seconds or ">TIMEOUT s".
timed() {
	local t0; t0=$(now_ns)
	if timeout "$TIMEOUT" bash -c "$*" >/dev/null 2>&1; then secs "$t0"; else echo ">${TIMEOUT}s"; fi
}

run_contender() {
	local name=$1 mountf=$2
	echo "== $name" >&2
	local t0
	t0=$(now_ns); $mountf "$BIG" "$MP"; result "$name" mount_big "$(awk -v s="$(secs "$t0")" 'BEGIN{printf "%.0f", s*1000}')"
	local f; f=$(find "$MP" -name big.bin -print -quit)
	sleep "$SETTLE"
	for pass in first second third; do
		t0=$(now_ns)
		if timeout "$TIMEOUT" cat "$f" >/dev/null 2>&1; then
			result "$name" "$pass" "$(gbps $FILESIZE "$t0")"
		else
			result "$name" "$pass" ">${TIMEOUT}s"
		fi
	done
	umount_any "$MP"; sleep 0.5

	t0=$(now_ns); $mountf "$MANY" "$MP"; result "$name" mount_many "$(awk -v s="$(secs "$t0")" 'BEGIN{printf "%.0f", s*1000}')"
	result "$name" find "$(timed "find '$MP' | wc -l")"
	result "$name" lslR "$(timed "ls -lR '$MP'")"
	result "$name" tar "$(timed "cd '$MP' && tar cf - . | wc -c")"
	local pid; pid=$(daemon_pid)
	if [ -n "$pid" ]; then result "$name" rss "$(( $(ps -o rss= -p "$pid") / 1024 ))"; else result "$name" rss "?"; fi
	umount_any "$MP"; sleep 0.5
}

CONTENDERS="isofsd isofsd_nosplice isofsd_directio"
for p in $PEERS; do
	if command -v "$p" >/dev/null; then CONTENDERS="$CONTENDERS $p"; else echo "($p not installed: apt-get install -y $p)" >&2; fi
done
for c in $CONTENDERS; do run_contender "$c" "mount_$c"; done

printf '\nkernel %s, %s cores; cat of the raw image: %s GB/s; fresh page cache fill (tmpfs): %s GB/s\n\n' "$(uname -r)" "$(nproc)" "$CAT" "$FILL"
printf '%-18s %10s %10s %10s %9s %9s %8s %8s %8s %8s\n' "" "1st GB/s" "2nd GB/s" "3rd GB/s" "mount ms" "mount ms" "find s" "ls -lR s" "tar s" "RSS MiB"
printf '%-18s %10s %10s %10s %9s %9s %8s %8s %8s %8s\n' "" "(1.5 GB)" "(1.5 GB)" "(1.5 GB)" "(big)" "(100k)" "(100k)" "(100k)" "(100k)" "(walk)"
for c in $CONTENDERS; do
	printf '%-18s %10s %10s %10s %9s %9s %8s %8s %8s %8s\n' "$c" "${R[$c|first]}" "${R[$c|second]}" "${R[$c|third]}" "${R[$c|mount_big]}" \
		"${R[$c|mount_many]}" "${R[$c|find]}" "${R[$c|lslR]}" "${R[$c|tar]}" "${R[$c|rss]}"
done
printf '\nsecond read / cat:'
for c in $CONTENDERS; do
	printf ' %s %s' "$c" "$(awk -v a="${R[$c|second]}" -v b="$CAT" 'BEGIN { if (a + 0 > 0) printf "%.2f", a / b; else print "?" }')"
done
echo
