# Bounded memory: held output past --max-memory goes to unlinked
# temporary files, is never lost, and none remains afterwards.
load test_helper

setup() {
	T=$(mktemp -d)
	mkdir "$T/tmp"
}

teardown() {
	rm -rf "$T"
}

# Peak RSS in KiB of the smap run by "$@", its output's checksum in $T/sum.
peak_rss() {
	/usr/bin/time -f %M -o "$T/rss" "$@" | sha256sum | cut -d' ' -f1 >"$T/sum"
	cat "$T/rss"
}

# Waits until smap, process $1, has a temporary file in $T/tmp open.
await_spill() {
	wait_until 5 bash -c "ls -l /proc/$1/fd 2>/dev/null | grep -q '$T/tmp'" ||
	    fail "no temporary file opened"
}

@test "4 fast jobs of 128 MiB behind a slow one: RSS stays near --max-memory, output exact" {
	[ -z "${SMAP_VALGRIND:-}" ] || skip "too slow under valgrind"
	[ -x /usr/bin/time ] || skip "no /usr/bin/time"
	local want rss
	want=$( { echo slow; for i in 1 2 3 4; do head -c 134217728 /dev/zero | tr '\0' "$i"; done; } | sha256sum | cut -d' ' -f1)
	rss=$(TMPDIR=$T/tmp peak_rss smap -j5 --max-memory 16M \
	    'if [ {} = 0 ]; then sleep 1; echo slow; else head -c 134217728 /dev/zero | tr "\0" {}; fi' < <(seq 0 4))
	assert_equal "$(cat "$T/sum")" "$want"
	# 16 MiB held, plus smap itself: well under 16 + 16 MiB (a sanitizer's
	# shadow memory and quarantine do not count).
	[ -n "${SMAP_SANITIZED:-}" ] || [ "$rss" -lt $((32 * 1024)) ] ||
	    fail "peak RSS $rss KiB"
	assert_equal "$(ls -A "$T/tmp")" ""
}

@test "held output in temporary files is invisible in TMPDIR while smap runs" {
	local pid
	TMPDIR=$T/tmp smap -j2 --max-memory 64K \
	    'if [ {} = 1 ]; then sleep 30; else head -c 1000000 /dev/zero; fi' \
	    < <(seq 2) >/dev/null &
	pid=$!
	await_spill "$pid"
	assert_equal "$(ls -A "$T/tmp")" ""
	run bash -c "ls -l /proc/$pid/fd | grep '$T/tmp' | grep -vc deleted"
	assert_output 0
	kill -TERM "$pid"
	wait "$pid" || true
}

@test "smap killed by SIGTERM while holding output leaves no temporary file" {
	local pid
	TMPDIR=$T/tmp smap -j3 --max-memory 64K \
	    'if [ {} = 1 ]; then sleep 30; else head -c 2000000 /dev/zero; sleep 30; fi' \
	    < <(seq 3) >/dev/null &
	pid=$!
	await_spill "$pid"
	kill -TERM "$pid"
	wait "$pid" && fail "smap exited 0" || assert_equal "$?" 143
	assert_equal "$(ls -A "$T/tmp")" ""
}

@test "a TMPDIR that cannot be written is an error naming it, exit 1" {
	no_valgrind "valgrind writes to TMPDIR"
	run -1 --separate-stderr bash -c "TMPDIR=$T/nosuch smap -j2 --max-memory 64K \
	    'if [ {} = 1 ]; then sleep 0.5; else head -c 1000000 /dev/zero; fi' < <(seq 2) >/dev/null"
	assert_equal "$stderr" "smap: $T/nosuch: No such file or directory"
}

@test "a full TMPDIR (file size limit) is an error, never silent loss" {
	run -1 --separate-stderr bash -c "ulimit -f 512; TMPDIR=$T/tmp smap -j2 --max-memory 64K \
	    'if [ {} = 1 ]; then sleep 0.5; else head -c 4000000 /dev/zero; fi' < <(seq 2) >/dev/null"
	assert_equal "$stderr" "smap: $T/tmp: File too large"
}

@test "--max-memory takes K, M, G and rejects nonsense" {
	run -0 smap --max-memory 10K echo < <(echo x)
	run -0 smap --max-memory 1G echo < <(echo x)
	run -2 --separate-stderr smap --max-memory lots echo
	assert_equal "${stderr_lines[0]}" "smap: --max-memory lots: invalid size"
}

@test "a job holding over 1 MiB goes to a temporary file early, under the default --max-memory" {
	local pid
	TMPDIR=$T/tmp smap -j2 \
	    'if [ {} = 1 ]; then sleep 30; else head -c 3000000 /dev/zero; fi' \
	    < <(seq 2) >/dev/null &
	pid=$!
	await_spill "$pid"
	kill -TERM "$pid"
	wait "$pid" || true
}

@test "without a usable TMPDIR, held output stays in memory up to --max-memory" {
	no_valgrind "valgrind needs a TMPDIR"
	local want
	want=$( { echo one; head -c 3000000 /dev/zero | tr '\0' 2; } | cksum)
	run -0 --separate-stderr bash -c "TMPDIR=$T/nosuch smap -j2 \
	    'if [ {} = 1 ]; then sleep 0.3; echo one; else head -c 3000000 /dev/zero | tr \"\\0\" 2; fi' \
	    < <(seq 2) | cksum"
	assert_output "$want"
	assert_equal "$stderr" ""
}

@test "big outputs stay exact while jobs take over stdout in the middle of their output" {
	local want i
	want=$(for i in 1 2 3 4 5 6; do yes "line $i" | head -c 5000000; done | cksum)
	run -0 bash -c "seq 6 | smap -j4 'sleep 0.\$(( {} % 3 )); yes \"line {}\" | head -c 5000000' | cksum"
	assert_output "$want"
	run -0 bash -c "seq 6 | smap -j4 'sleep 0.\$(( {} % 3 )); yes \"line {}\" | head -c 5000000' > '$T/out'"
	assert_equal "$(cksum < "$T/out")" "$want"
}
