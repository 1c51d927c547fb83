#!/usr/bin/env bash
# Soak test (make soak; not part of make check): many records through
# smap -j 16, each job sleeping 0-5 ms, exiting with a random status and
# printing a random amount; the output must be byte for byte what the
# records call for, in order, the exit status 123 when any job failed,
# and smap's memory and descriptors must stay flat through the run.
#
# Records ("seq size ms status") come from a seeded generator, up front:
#	size	2% 0 B; 78% 1 B-1 KiB; 17% 1-64 KiB; 2.9% 64-256 KiB;
#		0.1% 256 KiB-1 MiB (1 MiB included)	(mean about 11 KiB)
#	ms	0-5, uniform (0: no sleep(1) at all)
#	status	95% 0; 5% 1-255, uniform
# A job prints its seq as 10 digits and a newline, then size - 11 bytes
# of one of 8 text patterns (by seq), cut to size bytes in all.  The
# expected stream is made by awk from the same records, without smap.
#
# smap's VmRSS (/proc/PID/status) and open descriptors (/proc/PID/fd)
# are sampled every 0.5 s.  Flat: the largest RSS of the second half of
# the run at most 1.2 times the largest of the first half + 2 MiB, and
# never more descriptors than 3 * jobs + 10.
#
# Environment: SMAP (default ./src/smap), SOAK_RECORDS (200000),
# SOAK_JOBS (16), SOAK_SEED (1), SOAK_ARGS (more smap options).
set -euo pipefail

smap=${SMAP:-./src/smap}
nrec=${SOAK_RECORDS:-200000}
njobs=${SOAK_JOBS:-16}
seed=${SOAK_SEED:-1}
[ -x "$smap" ] || { echo "soak: $smap: not executable" >&2; exit 2; }
smap=$(cd "$(dirname "$smap")" && pwd)/$(basename "$smap")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smap-soak.XXXXXX")
pid=
# shellcheck disable=SC2317
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
export TMPDIR=$tmp

# 8 patterns of 1 MiB: 16384 lines of 63 characters, from a pool of 4096.
awk -v seed="$seed" -v dir="$tmp" 'BEGIN {
	a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	srand(seed)
	for (i = 0; i < 4096; i++) {
		s = ""
		for (j = 0; j < 63; j++)
			s = s substr(a, int(rand() * 64) + 1, 1)
		pool[i] = s
	}
	for (k = 0; k < 8; k++) {
		f = dir "/pat" k
		for (i = 0; i < 16384; i++)
			print pool[int(rand() * 4096)] > f
		close(f)
	}
}'

awk -v n="$nrec" -v seed="$seed" 'BEGIN {
	srand(seed + 1)
	for (i = 1; i <= n; i++) {
		r = rand()
		if (r < 0.02)		size = 0
		else if (r < 0.80)	size = 1 + int(rand() * 1024)
		else if (r < 0.97)	size = 1025 + int(rand() * 64512)
		else if (r < 0.999)	size = 65537 + int(rand() * 196608)
		else			size = 262145 + int(rand() * 786432)
		ms = int(rand() * 6)
		st = rand() < 0.95 ? 0 : 1 + int(rand() * 255)
		print i, size, ms, st
	}
}' >"$tmp/records"

cat >"$tmp/job" <<'EOF'
#!/bin/sh
# $1: "seq size ms status"
set -f
set -- $1
[ "$3" -gt 0 ] && sleep "0.00$3"
if [ "$2" -ge 11 ]; then
	printf '%010d\n' "$1"
	head -c "$(($2 - 11))" "$SOAK_PAT$(($1 % 8))"
elif [ "$2" -gt 0 ]; then
	printf '%010d\n' "$1" | head -c "$2"
fi
exit "$4"
EOF
chmod +x "$tmp/job"
export SOAK_PAT=$tmp/pat

want_status=0
awk '$4 != 0 { f = 1 } END { exit !f }' "$tmp/records" && want_status=123
mkfifo "$tmp/want" "$tmp/out" "$tmp/out2"
sha256sum <"$tmp/want" >"$tmp/want.sum" &
sumpid=$!
awk -v dir="$tmp" 'BEGIN {
	RS = "\001"
	for (k = 0; k < 8; k++) {
		getline p < (dir "/pat" k)
		pat[k] = p
	}
	RS = "\n"
}
{
	hdr = sprintf("%010d\n", $1)
	if ($2 >= 11)
		printf "%s%s", hdr, substr(pat[$1 % 8], 1, $2 - 11)
	else if ($2 > 0)
		printf "%s", substr(hdr, 1, $2)
}' "$tmp/records" | tee "$tmp/want" | wc -c >"$tmp/want.bytes"
wait "$sumpid"
read -r want_sum _ <"$tmp/want.sum"
want_bytes=$(cat "$tmp/want.bytes")

echo "soak: $nrec records, -j $njobs, seed $seed, expected $want_bytes bytes," \
    "exit $want_status"

sha256sum <"$tmp/out2" >"$tmp/got.sum" &
sumpid=$!
tee "$tmp/out2" <"$tmp/out" | wc -c >"$tmp/got.bytes" &
wcpid=$!
usec() { echo "${EPOCHREALTIME/./}"; }
start=$(usec)
# shellcheck disable=SC2086
"$smap" -j "$njobs" ${SOAK_ARGS:-} "$tmp/job" <"$tmp/records" >"$tmp/out" \
    2>"$tmp/stderr" &
pid=$!

# Samples: microseconds since start, VmRSS in KiB, open descriptors.
: >"$tmp/samples"
while :; do
	rss='' state=''
	while read -r k v _; do
		case $k in
		State:)	state=$v ;;
		VmRSS:)	rss=$v ;;
		esac
	done 2>/dev/null <"/proc/$pid/status" || break
	[ "$state" = Z ] || [ -z "$rss" ] && break
	if [ "/proc/$pid/exe" -ef "$BASH" ]; then
		sleep 0.05		# not yet exec'd
		continue
	fi
	fds=("/proc/$pid/fd/"*)
	echo "$(($(usec) - start)) $rss ${#fds[@]}" >>"$tmp/samples"
	sleep 0.5
done
rc=0
wait "$pid" || rc=$?
pid=
end=$(usec)
wait "$sumpid" "$wcpid"
read -r got_sum _ <"$tmp/got.sum"
got_bytes=$(cat "$tmp/got.bytes")

fail=0
printf 'soak: %d.%d s, exit %d (want %d), %s bytes (want %s)\n' \
    $(((end - start) / 1000000)) $(((end - start) / 100000 % 10)) "$rc" "$want_status" "$got_bytes" \
    "$want_bytes"
if [ "$rc" -ne "$want_status" ]; then
	echo "soak: FAIL: exit status $rc, not $want_status"
	fail=1
fi
if [ "$got_sum" != "$want_sum" ]; then
	echo "soak: FAIL: output sha256 $got_sum, not $want_sum"
	fail=1
fi
if [ -s "$tmp/stderr" ]; then
	echo "soak: smap's stderr ($(wc -l <"$tmp/stderr") lines), first 5:"
	head -5 "$tmp/stderr"
fi

awk -v jobs="$njobs" '
	{ t[NR] = $1; rss[NR] = $2; fd[NR] = $3 }
	END {
		n = NR
		if (n == 0) {
			print "soak: no samples (smap ended within 0.5 s)"
			exit 0
		}
		rmin = rmax = rss[1]; fmin = fmax = fd[1]
		for (i = 1; i <= n; i++) {
			if (rss[i] < rmin) rmin = rss[i]
			if (rss[i] > rmax) rmax = rss[i]
			if (fd[i] < fmin) fmin = fd[i]
			if (fd[i] > fmax) fmax = fd[i]
		}
		h = t[n] / 2; m1 = m2 = 0
		for (i = 1; i <= n; i++)
			if (t[i] < h) { if (rss[i] > m1) m1 = rss[i] }
			else if (rss[i] > m2) m2 = rss[i]
		printf "soak: %d samples; RSS KiB min %d max %d last %d; " \
		    "first half max %d, second half max %d\n",
		    n, rmin, rmax, rss[n], m1, m2
		printf "soak: descriptors min %d max %d last %d (bound %d)\n",
		    fmin, fmax, fd[n], 3 * jobs + 10
		bad = 0
		if (n >= 4 && m2 > 1.2 * m1 + 2048) {
			print "soak: FAIL: RSS grows: second half max " m2 \
			    " KiB > 1.2 * " m1 " + 2048"
			bad = 1
		} else if (n < 4)
			print "soak: too few samples to judge RSS"
		if (fmax > 3 * jobs + 10) {
			print "soak: FAIL: " fmax " descriptors > " 3 * jobs + 10
			bad = 1
		}
		exit bad
	}' "$tmp/samples" || fail=1

if [ "$fail" -eq 0 ]; then
	echo "soak: PASS: output exact, status $rc, memory and descriptors flat"
else
	echo "soak: FAIL"
fi
exit "$fail"
