#!/usr/bin/env bash
# bench-fleet.sh — the fleet daemon: `isofsd daemon --watch` on a folder of
# N images (default 1000), measured the way issue 22 asks, beside one
# fuseiso process per image as the peer (the usual way to serve many ISOs).
#
# Prints, for isofsd: the time from start until READY (every image
# mounted), the daemon's RSS with no image and with N idle mounts and the
# difference per mount (also from /proc/PID/smaps: anonymous memory), its
# threads, a `find` over all mounts (first walk and again), and the time
# from SIGTERM until every mount is gone. For fuseiso (FUSE_PEERS images,
# default 100): the RSS of one process per image and the time to mount
# them. Targets: ≤ 256 KiB per idle mount, READY within 10 s for 1000.
#
# Usage: sudo .ci/bench-fleet.sh [N]     (root: mounts without fusermount3;
#        mount_max in /etc/fuse.conf is raised while it runs, then restored)
# Env:   BENCH_DIR (default /var/tmp/isofsd-fleet), FUSE_PEERS (100),
#        DAEMON_FLAGS (extra flags for the daemon, e.g. "--request-size 1M").
# The wall time to READY depends on the machine's load; the daemon's CPU
# time until READY is printed beside it.
set -euo pipefail

N=${1:-1000}
FUSE_PEERS=${FUSE_PEERS:-100}
BENCH_DIR=${BENCH_DIR:-/var/tmp/isofsd-fleet}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BENCH_DIR"
BIN=$BENCH_DIR/isofsd
(cd "$ROOT" && go build -o "$BIN" ./cmd/isofsd)

now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
mounted() { grep -c " $1/" /proc/self/mountinfo || true; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# cpu_s PID: user+system CPU seconds the process used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
anon_kb() { awk '/^Anonymous:/ {s += $2} END {print s}' "/proc/$1/smaps"; }

# A small image with a few directories and files, copied N times (each
# copy its own file, as a folder of downloads would be).
BASE=$BENCH_DIR/base.iso
if [ ! -s "$BASE" ]; then
	rm -rf "$BENCH_DIR/src" && mkdir -p "$BENCH_DIR/src/docs" "$BENCH_DIR/src/bin"
	echo "hello" >"$BENCH_DIR/src/docs/README"
	for i in 1 2 3 4; do head -c 20000 /dev/urandom >"$BENCH_DIR/src/bin/f$i"; done
	xorriso -as mkisofs -quiet -R -J -V FLEET -o "$BASE" "$BENCH_DIR/src" 2>/dev/null
fi

IMGS=$BENCH_DIR/images
MNT=$BENCH_DIR/mnt
SOCK=$BENCH_DIR/daemon.sock

# fusermount3 refuses a non-root user's mount once mount_max FUSE mounts
# (default 1000) exist on the machine, whoever made them: our N mounts
# would make every other user's mount fail while the bench runs. Raise the
# limit for the bench and put /etc/fuse.conf back afterwards.
FUSE_CONF=/etc/fuse.conf
FUSE_CONF_SAVED=
raise_mount_max() {
	local cur need=$((N + FUSE_PEERS + 1000))
	cur=$(sed -n 's/^[[:space:]]*mount_max[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$FUSE_CONF" 2>/dev/null | tail -1)
	[ "${cur:-1000}" -ge "$need" ] && return
	FUSE_CONF_SAVED=$BENCH_DIR/fuse.conf.saved
	if [ -e "$FUSE_CONF" ]; then cp -p "$FUSE_CONF" "$FUSE_CONF_SAVED"; else : >"$FUSE_CONF_SAVED.absent"; fi
	{ grep -v '^[[:space:]]*mount_max' "$FUSE_CONF" 2>/dev/null || true; echo "mount_max = $need"; } >"$FUSE_CONF.isofsd-bench"
	chmod 644 "$FUSE_CONF.isofsd-bench"
	mv "$FUSE_CONF.isofsd-bench" "$FUSE_CONF"
}
restore_mount_max() {
	[ -n "$FUSE_CONF_SAVED" ] || return 0
	if [ -e "$FUSE_CONF_SAVED.absent" ]; then rm -f "$FUSE_CONF" "$FUSE_CONF_SAVED.absent"; else mv "$FUSE_CONF_SAVED" "$FUSE_CONF"; fi
	FUSE_CONF_SAVED=
}

cleanup() {
	[ -n "${DPID:-}" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	for m in $(awk -v r="$MNT/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo); do umount -l "$m" 2>/dev/null || true; done
	restore_mount_max
}
trap cleanup EXIT
raise_mount_max

# run_daemon COUNT: starts the daemon on COUNT images; sets DPID and READY_S.
run_daemon() {
	if [ "$(mounted "$MNT")" != 0 ]; then echo "mounts left under $MNT" >&2; exit 1; fi
	rm -rf "$IMGS" "$MNT" "$SOCK"
	mkdir -p "$IMGS" "$MNT"
	for i in $(seq -w 1 "$1"); do cp "$BASE" "$IMGS/img$i.iso"; done
	local start
	start=$(now_ns)
	# shellcheck disable=SC2086
	"$BIN" daemon --socket "$SOCK" --watch "$IMGS" --mount-root "$MNT" --stable-for 1ms ${DAEMON_FLAGS:-} \
		>"$BENCH_DIR/daemon.log" 2>&1 &
	DPID=$!
	until grep -qs 'daemon ready' "$BENCH_DIR/daemon.log"; do
		kill -0 "$DPID" || { cat "$BENCH_DIR/daemon.log"; exit 1; }
		sleep 0.02
	done
	READY_S=$(secs "$start")
	READY_CPU=$(cpu_s "$DPID")
}

# stop_daemon: SIGTERM, and the time until the process is gone; sets STOP_S.
stop_daemon() {
	local start
	start=$(now_ns)
	kill -TERM "$DPID"
	wait "$DPID" || true
	STOP_S=$(secs "$start")
	DPID=
}

run_daemon 0
sleep 2
RSS0=$(rss_kb "$DPID") ANON0=$(anon_kb "$DPID")
stop_daemon

run_daemon "$N"
MOUNTED=$(mounted "$MNT")
sleep 3
RSSN=$(rss_kb "$DPID") ANONN=$(anon_kb "$DPID") THREADS=$(ls "/proc/$DPID/task" | wc -l)
start=$(now_ns); FILES=$(find "$MNT" -type f | wc -l); FIND1=$(secs "$start")
start=$(now_ns); find "$MNT" -type f >/dev/null; FIND2=$(secs "$start")
RSSW=$(rss_kb "$DPID")
stop_daemon
LEFT=$(mounted "$MNT")

printf '\n== isofsd daemon --watch, %d images ==\n' "$N"
printf '%-34s %s of %s\n' "mounted at READY" "$MOUNTED" "$N"
printf '%-34s %s s (daemon CPU %s s; the machine is shared)\n' "start to READY (all mounted)" "$READY_S" "$READY_CPU"
printf '%-34s %s KiB (no image: %s KiB)\n' "RSS, idle" "$RSSN" "$RSS0"
printf '%-34s %s KiB (anonymous: %s KiB)\n' "per idle mount" \
	"$(( (RSSN - RSS0) / N ))" "$(( (ANONN - ANON0) / N ))"
printf '%-34s %s\n' "threads" "$THREADS"
printf '%-34s %s s (%s files), again %s s; RSS after %s KiB\n' "find over all mounts" "$FIND1" "$FILES" "$FIND2" "$RSSW"
printf '%-34s %s s, %s mounts left\n' "SIGTERM to exit" "$STOP_S" "$LEFT"

if command -v fuseiso >/dev/null && [ "$FUSE_PEERS" -gt 0 ]; then
	rm -rf "$MNT" && mkdir -p "$MNT"
	start=$(now_ns)
	for i in $(seq -w 1 "$FUSE_PEERS"); do
		mkdir -p "$MNT/f$i"
		fuseiso "$IMGS/img$(printf "%0${#N}d" "$((10#$i))").iso" "$MNT/f$i" 2>/dev/null
	done
	FT=$(secs "$start")
	sleep 2
	total=0
	for p in $(pgrep -f "fuseiso .*$MNT/f" || true); do
		total=$((total + $(rss_kb "$p")))
	done
	printf '\n== fuseiso, one process per image, %d images ==\n' "$FUSE_PEERS"
	printf '%-34s %s s\n' "mount all" "$FT"
	printf '%-34s %s KiB\n' "RSS per mount (process)" "$(( total / FUSE_PEERS ))"
	for i in $(seq -w 1 "$FUSE_PEERS"); do fusermount3 -u "$MNT/f$i" 2>/dev/null || umount "$MNT/f$i"; done
fi
