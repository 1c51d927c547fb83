load test_helper

# Reliability: faults that once made smap hang, leak a job, lose a limit,
# misreport, or run out of a resource it did not need.

setup() {
	marked_sleep
	T=$BATS_TEST_TMPDIR
	SMAP_PID=
	MOUNTS=()
	NPDIR=
	# Runs a command with only descriptors 0, 1 and 2 open (bats keeps
	# fd 3 and more) and at most N of them: lowfd N COMMAND [ARG ...]
	cat >"$T/lowfd" <<-'EOF'
		#!/bin/bash
		n=$1
		shift
		for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-"
		done
		ulimit -n "$n" || exit 99
		exec "$@"
	EOF
	chmod +x "$T/lowfd"
}

teardown() {
	local m
	if [[ -n $SMAP_PID ]] && kill -KILL "$SMAP_PID" 2>/dev/null; then
		wait "$SMAP_PID" 2>/dev/null || true
	fi
	kill_marked
	[[ ! -S $T/tmux ]] || tmux -S "$T/tmux" kill-server 2>/dev/null || true
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	[[ -z $NPDIR ]] || rm -rf "$NPDIR"
}

# Skips a test that limits virtual memory: sanitizers reserve terabytes.
no_sanitizer() {
	[ -z "${SMAP_SANITIZED:-}" ] || skip "sanitizer: $1"
}

# Mounts a tmpfs of SIZE on DIR, or skips the test (not root, no tmpfs).
#	mount_tmpfs DIR SIZE
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o size="$2" tmpfs "$1" 2>/dev/null ||
	    skip "cannot mount a tmpfs"
	MOUNTS+=("$1")
}

# True when at least N processes other than smap hold the marker.
marked_at_least() {
	(($(marked_pids | grep -vcx "${SMAP_PID:-0}") >= $1))
}

# Starts smap in the background as smap_bg does, but with SIG ignored.
#	smap_bg_ignoring SIG [ARG ...]
smap_bg_ignoring() {
	local sig=$1
	shift
	env --default-signal --ignore-signal="$sig" smap "$@" \
	    <"${SMAP_IN:-/dev/null}" >"$T/out" 2>"$T/err" 3>&- 7>&- 8>&- &
	SMAP_PID=$!
}

# The SigIgn mask of the /proc/self/status line in $output, as a number.
sigign() {
	local ign
	ign=$(awk '$1 == "SigIgn:" { print $2 }' <<<"$output")
	[[ -n $ign ]] || fail "no SigIgn in: $output"
	echo $((16#$ign))
}

# True when the tmux pane shows LINE.
pane_has() {
	tmux -S "$T/tmux" capture-pane -p | grep -qxF -- "$1"
}

# Fault: --timeout stopped counting once a job closed its output.

@test "--timeout holds after a job closes its stdout" {
	local t0 t1
	t0=$(now_ms)
	run -123 --separate-stderr timeout -s KILL 10 \
	    smap --timeout 1 "exec >/dev/null; $(marker) 4; : {}" <<<x
	t1=$(now_ms)
	(((t1 - t0) < 3000)) || fail "smap took $((t1 - t0)) ms"
	assert_output ""
	no_marked || fail "a job outlives smap: $(marked_pids)"
}

@test "--timeout holds after a job closes its stdout and stderr" {
	local t0 t1
	t0=$(now_ms)
	run -123 --separate-stderr timeout -s KILL 10 \
	    smap --timeout 1 "exec >&- 2>&-; $(marker) 4; : {}" <<<x
	t1=$(now_ms)
	(((t1 - t0) < 3000)) || fail "smap took $((t1 - t0)) ms"
	no_marked || fail "a job outlives smap: $(marked_pids)"
}

# Fault: each held output took a descriptor (a temporary file of its own).

@test "held output costs no descriptor per job: 10 outputs of 2 MB under ulimit -n 9" {
	no_valgrind "valgrind needs descriptors"
	# smap itself needs 0, 1, 2, a signalfd, a control pipe (2) and
	# /dev/null: 7; a starting job 2 more, a running one 1.
	run -0 --separate-stderr bash -c "seq 10 | '$T/lowfd' 9 \
	    timeout -s KILL 30 smap -j2 'head -c 2000000 /dev/zero; : {}' | wc -c"
	assert_output 20000000
	assert_equal "$stderr" ""
}

@test "held output costs no descriptor per job: 29 spilled outputs under ulimit -n 12, byte-exact" {
	no_valgrind "valgrind needs descriptors"
	# Job 1 sleeps: jobs 2 to 30 end meanwhile and their 2 MB outputs are
	# held.  --max-memory 1M: they must go to disk (in memory, smap would
	# not need a descriptor for them).  7 for smap, 1 shared temporary
	# file, 4 running jobs: 12 leaves room to start a job while 2 run.
	local want i
	want=$(for i in $(seq 30); do
		head -c 2000000 /dev/zero | tr '\0' $((i % 10))
	done | cksum)
	run -0 --separate-stderr bash -c "seq 30 | TMPDIR='$T' '$T/lowfd' 12 \
	    timeout -s KILL 60 smap -j4 --max-memory 1M \
	    '[ {} != 1 ] || sleep 1; head -c 2000000 /dev/zero | tr \"\\0\" \$(({} % 10))' |
	    cksum"
	assert_output "$want"
	assert_equal "$stderr" ""
}

# Fault: --halt was not seen by workers waiting for a descriptor.

@test "--halt now ends while workers wait for descriptors" {
	no_valgrind "valgrind needs descriptors"
	local t0 t1
	t0=$(now_ms)
	run -124 --separate-stderr bash -c "seq 10 | '$T/lowfd' 9 \
	    timeout -s KILL 10 smap -j4 --halt now,fail=1 \
	    'sleep 0.3; exit 1; : {}'"
	t1=$(now_ms)
	(((t1 - t0) < 5000)) || fail "smap took $((t1 - t0)) ms"
}

@test "--halt soon starts no job after the policy fired, though workers waited for descriptors" {
	no_valgrind "valgrind needs descriptors"
	run -124 --separate-stderr bash -c "seq 10 | '$T/lowfd' 9 \
	    timeout -s KILL 10 smap -j4 --halt soon,fail=1 \
	    'echo {}; sleep 0.3; exit 1'"
	assert_output 1
}

# Fault: a fatal error (no memory, thread or process) left jobs running.

@test "out of memory: smap stops its jobs and exits 1" {
	no_valgrind "ulimit -v"
	no_sanitizer "ulimit -v"
	# Record 1 ("x") starts a job that sleeps; record 2, 800 MB without
	# a newline, exhausts memory.
	run -1 --separate-stderr bash -c "
	    { echo x; sleep 1; head -c 800000000 /dev/zero; } |
	    (ulimit -v 400000; exec timeout -s KILL 30 \
	    smap --pipe -N1 '$(marker) 30; cat >/dev/null')"
	wait_until 1 no_marked || fail "jobs outlive smap: $(marked_pids)"
	[[ $stderr == *"Cannot allocate memory"* ]] || fail "stderr: $stderr"
}

@test "out of processes or threads (RLIMIT_NPROC): smap never leaves a job running" {
	no_valgrind "threads"
	command -v setpriv >/dev/null || skip "no setpriv"
	((EUID == 0)) || skip "not root: cannot change user"
	local ju j u
	# A sleep named after the marker, that user nobody can run.
	NPDIR=$(mktemp -d /tmp/smap-nproc.XXXXXX)
	chmod 755 "$NPDIR"
	ln -s "$(command -v sleep)" "$NPDIR/$(marker)"
	# -j:ulimit -u.  Threads, then jobs, run out; each job sleeps 0.5 s.
	for ju in 1000:100 50:60 50:70; do
		j=${ju%:*} u=${ju#*:}
		run --separate-stderr bash -c "yes 0.5 | head -40 |
		    timeout -s KILL 60 setpriv --reuid=65534 --regid=65534 \
		    --clear-groups bash -c 'ulimit -u $u
		    exec smap -j$j $NPDIR/$(marker)' 3>&-"
		# Its jobs have no children: once reaped, they are gone.
		no_marked ||
		    fail "-j$j, ulimit -u $u: exit $status, jobs left: $(marked_pids)"
		case $status in
		0)
			assert_equal "$stderr" ""
			;;
		1)
			[[ $stderr == *"Resource temporarily unavailable"* ]] ||
			    fail "-j$j, ulimit -u $u: exit 1: $stderr"
			;;
		*)
			fail "-j$j, ulimit -u $u: exit $status: $stderr"
			;;
		esac
	done
}

# Fault: signals ignored at start were not kept, others left ignored.

# Starts smap with SIG ignored and a job that runs 1 s; sends it SIG:
# smap and the job carry on, and it exits 0.
#	ignored_goes_on SIG
ignored_goes_on() {
	echo x >"$T/in"
	SMAP_IN=$T/in smap_bg_ignoring "$1" "$(marker) 1; echo done {}"
	wait_until 5 marked_at_least 1 || fail "the job did not start"
	kill -"$1" "$SMAP_PID"
	wait_exit "$SMAP_PID" 10 || fail "smap did not end"
	assert_equal "$status" 0
	assert_equal "$(cat "$T/out")" "done x"
}

@test "SIGINT ignored at start: smap ignores it and the job completes" {
	ignored_goes_on INT
}

@test "SIGHUP ignored at start (nohup): smap ignores it and the job completes" {
	ignored_goes_on HUP
}

@test "SIGINT ignored at start stays ignored in jobs" {
	run -0 --separate-stderr env --default-signal --ignore-signal=INT \
	    smap 'grep SigIgn /proc/self/status; : {}' <<<x
	(($(sigign) & 0x2)) || fail "SIGINT not ignored: $output"
}

@test "SIGHUP ignored at start stays ignored in jobs" {
	run -0 --separate-stderr env --default-signal --ignore-signal=HUP \
	    smap 'grep SigIgn /proc/self/status; : {}' <<<x
	(($(sigign) & 0x1)) || fail "SIGHUP not ignored: $output"
}

@test "SIGPIPE ignored at start is at its default in jobs" {
	run -0 --separate-stderr env --default-signal --ignore-signal=PIPE \
	    smap 'grep SigIgn /proc/self/status; : {}' <<<x
	(($(sigign) & 0x1000)) && fail "SIGPIPE ignored: $output"
	true
}

@test "nothing ignored at start: a job run without a shell ignores no signal" {
	# glibc's posix_spawn(3) used to leave 32 and 33 ignored: 0000000180000000.
	run -0 --separate-stderr env --default-signal \
	    smap grep SigIgn <<</proc/self/status
	assert_output "$(printf 'SigIgn:\t0000000000000000')"
	assert_equal "$stderr" ""
}

@test "nothing ignored at start: a shell line ignores no signal" {
	run -0 --separate-stderr env --default-signal \
	    smap 'grep SigIgn /proc/self/status; : {}' <<<x
	assert_output "$(printf 'SigIgn:\t0000000000000000')"
	assert_equal "$stderr" ""
}

# Fault: with stty tostop, a job writing to the terminal hung smap.

# Runs `seq 2 | smap LINE' in a tmux pane under `stty tostop', and
# checks that smap ends (rc=0) and the pane shows WORD 1 and WORD 2.
#	tostop_pane LINE WORD
tostop_pane() {
	command -v tmux >/dev/null || skip "no tmux"
	cat >"$T/pane.sh" <<-EOF
		PATH='$PATH'
		stty tostop
		seq 2 | timeout --foreground -s KILL 20 smap '$1; : $(marker)'
		echo "rc=\$?"
		exec sleep 30
	EOF
	tmux -S "$T/tmux" new-session -d -x 80 -y 24 "sh $T/pane.sh"
	wait_until 10 pane_has "rc=0" ||
	    fail "pane: $(tmux -S "$T/tmux" capture-pane -p)"
	pane_has "$2 1" || fail "no $2 1"
	pane_has "$2 2" || fail "no $2 2"
}

@test "stty tostop: a job writing to the terminal does not hang smap" {
	tostop_pane 'echo err {} >&2' err
}

@test "stty tostop: output that smap relays to the terminal still comes" {
	tostop_pane 'echo out {}' out
}

# Fault: a --joblog write error went unnoticed, repeated, or said Success.

@test "a --joblog that fills up: one message, No space left on device, exit 1" {
	local mnt=$T/mnt
	# tmpfs rounds to pages: 8k is 2 pages; 200 lines of log need more.
	mount_tmpfs "$mnt" 8k
	run -1 --separate-stderr timeout -s KILL 20 \
	    smap -j2 --joblog "$mnt/log" 'echo {}' < <(seq 200)
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == *"$mnt/log"*"No space left on device"* ]] ||
	    fail "stderr: $stderr"
}

@test "--joblog /dev/full: exit 1 before any job runs" {
	run -1 --separate-stderr timeout -s KILL 10 \
	    smap --joblog /dev/full "echo {}; touch $T/ran" < <(seq 3)
	assert_output ""
	[ ! -e "$T/ran" ] || fail "a job ran"
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == *"/dev/full"*"No space left on device"* ]] ||
	    fail "stderr: $stderr"
}

# Fault: --tag with --pipe tagged with records; its buffer was unbounded.

@test "--tag with --pipe tags each line with an empty argument and a tab" {
	seq 3 | smap --pipe --tag cat >"$T/out"
	printf '\t1\n\t2\n\t3\n' >"$T/want"
	cmp "$T/out" "$T/want"
	if command -v parallel >/dev/null; then
		seq 3 | parallel --will-cite --pipe --tag cat >"$T/pout"
		cmp "$T/out" "$T/pout"
	fi
}

@test "--tag with a 30000-byte record needs memory for its lines, not their product" {
	no_valgrind "ulimit -v"
	no_sanitizer "ulimit -v"
	local rec
	rec=$(head -c 30000 /dev/zero | tr '\0' a)
	# 300 lines of 201 bytes in one write: the old buffer for one read,
	# a tag per byte, was 60300 * 30001 bytes, 1.8 GB.
	printf '%s\n' "$rec" >"$T/in"
	seq -f %0200g 300 | sed "s/^/$rec\t/" >"$T/want"
	run -0 --separate-stderr bash -c "ulimit -v 300000
	    timeout -s KILL 20 smap --tag \
	    'x=\$(seq -f %0200g 300); echo \"\$x\"; : {}' <'$T/in' >'$T/out'"
	assert_equal "$stderr" ""
	cmp "$T/out" "$T/want"
}

# Fault: -n groups were cut short by the window, depending on timing.

@test "-n groups do not depend on timing: 10020 records in 3340 groups of 3" {
	run -0 --separate-stderr bash -c "seq 10020 |
	    timeout -s KILL 120 smap -n 3 -j2 \
	    '[ \$SMAP_SEQ = 1 ] && sleep 2; echo' >'$T/out'"
	assert_equal "$stderr" ""
	assert_equal "$(wc -l <"$T/out")" 3340
	run -0 awk 'NF != 3' "$T/out"
	assert_output ""
	tr ' ' '\n' <"$T/out" | cmp - <(seq 10020) || fail "not seq 10020"
}

@test "-n groups do not depend on the window: only the last group is short" {
	run -0 --separate-stderr smap -n 3 -b 4 echo < <(seq 10)
	assert_output "$(printf '1 2 3\n4 5 6\n7 8 9\n10')"
	assert_equal "$stderr" ""
}

# Fault: a bad record sank its -n group, got a wrong number, or ate memory.

@test "-n with a NUL in record 2 runs the good records and names record 2" {
	run -123 --separate-stderr smap -n 3 echo < <(printf 'a\nb\0x\nc\nd\n')
	assert_output "a c d"
	assert_equal "$stderr" "smap: record 2: contains a NUL byte"
}

@test "-n with an over-long record 2 runs the good records and names record 2" {
	{
		echo a
		head -c 200000 /dev/zero | tr '\0' b
		echo
		echo c
	} >"$T/in"
	run -123 --separate-stderr smap -n 3 echo <"$T/in"
	assert_output "a c"
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == *"record 2"*"longer than"* ]] || fail "stderr: $stderr"
}

@test "an over-long record is reported with its number, the next one runs" {
	{
		head -c 300000 /dev/zero | tr '\0' x
		echo
		echo ok
	} >"$T/in"
	run -123 --separate-stderr smap echo <"$T/in"
	assert_output "ok"
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == *"record 1"*"longer than"* ]] || fail "stderr: $stderr"
}

@test "a 50 MB record is skipped in bounded memory" {
	local lim="ulimit -v 200000;"
	[[ -z ${SMAP_SANITIZED:-}${SMAP_VALGRIND:-} ]] || lim=
	run -123 --separate-stderr bash -c "$lim
	    head -c 50000000 /dev/zero | tr '\\0' x |
	    timeout -s KILL 30 smap echo"
	assert_output ""
	[[ $stderr == *"record 1"* ]] || fail "stderr: $stderr"
}

# Fault: -a - looked for a file named "-".

@test "-a - reads the records from standard input" {
	run -0 --separate-stderr smap -a - echo < <(seq 3)
	assert_output "$(seq 3)"
	assert_equal "$stderr" ""
}

# Fault: SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM killed smap and left its jobs.

# Sends SIG to smap while its job sleeps; smap dies of SIG, no job left.
signal_ends_jobs() {
	local sig=$1
	echo x >"$T/in"
	SMAP_IN=$T/in smap_bg "$(marker) 30; : {}"
	wait_until 5 marked_at_least 1 || fail "the job did not start"
	kill -"$sig" "$SMAP_PID"
	wait_exit "$SMAP_PID" 5 || fail "smap did not end"
	assert_equal "$status" $((128 + $(kill -l "$sig")))
	no_marked || fail "jobs outlive smap: $(marked_pids)"
}

@test "SIGQUIT ends smap's jobs first, smap dies of it (131)" {
	signal_ends_jobs QUIT
}

@test "SIGUSR1 ends smap's jobs first, smap dies of it" {
	signal_ends_jobs USR1
}

@test "SIGUSR2 ends smap's jobs first, smap dies of it" {
	signal_ends_jobs USR2
}

@test "SIGALRM ends smap's jobs first, smap dies of it" {
	signal_ends_jobs ALRM
}

# Fault: a directly run program killed by a signal, logged unlike parallel.

@test "--joblog: a directly run program killed by SIGSEGV has Exitval 0, Signal 11" {
	printf '#!/bin/sh\nkill -SEGV $$\n' >"$T/segv"
	chmod +x "$T/segv"
	run -123 --separate-stderr bash -c "ulimit -c 0
	    smap --joblog '$T/log' '$T/segv' <<<x"
	run -0 bash -c "tail -n +2 '$T/log' | cut -f7,8"
	assert_output "$(printf '0\t11')"
	if command -v parallel >/dev/null; then
		run bash -c "ulimit -c 0
		    parallel --will-cite --joblog '$T/plog' '$T/segv' <<<x"
		run -0 bash -c "tail -n +2 '$T/plog' | cut -f7,8"
		assert_output "$(printf '0\t11')"
	fi
}

# Fault: held output filled TMPDIR; now bounded by --max-disk.

@test "held output is bounded on disk by --max-disk: 100 MB through a 16 MiB TMPDIR" {
	mount_tmpfs "$T/tmp" 16m
	local want
	want=$( { echo one; head -c 100000000 /dev/zero; } | cksum)
	run -0 --separate-stderr bash -c "printf '1\n2\n' | TMPDIR='$T/tmp' \
	    timeout -s KILL 60 smap --max-memory 1M --max-disk 8M \
	    'if [ {} = 1 ]; then sleep 3; echo one; else head -c 100000000 /dev/zero; fi' |
	    cksum"
	assert_output "$want"
	assert_equal "$stderr" ""
}

@test "held output is bounded on disk by default: 100 MB through a 16 MiB TMPDIR" {
	mount_tmpfs "$T/tmp" 16m
	local want
	want=$( { echo one; head -c 100000000 /dev/zero; } | cksum)
	run -0 --separate-stderr bash -c "printf '1\n2\n' | TMPDIR='$T/tmp' \
	    timeout -s KILL 60 smap --max-memory 1M \
	    'if [ {} = 1 ]; then sleep 3; echo one; else head -c 100000000 /dev/zero; fi' |
	    cksum"
	assert_output "$want"
	assert_equal "$stderr" ""
}

@test "-u past --max-disk: the waiting job takes stdout, its output still whole" {
	mount_tmpfs "$T/tmp" 16m
	local want
	# Job 1 prints "one" after 3 s; job 2, 100 MB, cannot be held whole
	# on 16 MiB: it is written first, whole, then "one".
	want=$( { head -c 100000000 /dev/zero; echo one; } | cksum)
	run -0 --separate-stderr bash -c "printf '1\n2\n' | TMPDIR='$T/tmp' \
	    timeout -s KILL 60 smap -u --max-memory 1M --max-disk 8M \
	    'if [ {} = 1 ]; then sleep 3; echo one; else head -c 100000000 /dev/zero; fi' |
	    cksum"
	assert_output "$want"
	assert_equal "$stderr" ""
}

@test "-u: two big outputs past --max-disk are never interleaved" {
	mount_tmpfs "$T/tmp" 16m
	local out
	run -0 --separate-stderr bash -c "seq 3 | TMPDIR='$T/tmp' \
	    timeout -s KILL 60 smap -u -j3 --max-memory 1M --max-disk 4M \
	    'yes {} | head -c 20000000' | uniq -c | awk '{ print \$2, \$1 }'"
	# Each job's lines come in one run: 3 runs of 10,000,000 lines.
	assert_equal "${#lines[@]}" 3
	assert_equal "$(sort <<<"$output")" "$(printf '%s 10000000\n' 1 2 3)"
	assert_equal "$stderr" ""
}

@test "--max-disk 0 and --max-disk x are usage errors" {
	local v
	for v in 0 x; do
		run -2 --separate-stderr smap --max-disk "$v" echo </dev/null
		[[ ${stderr_lines[0]} == *max-disk*"$v"* &&
		    ${stderr_lines[0]} != *unrecognized* ]] ||
		    fail "--max-disk $v: $stderr"
	done
}

# Fault: -j over 4096 got through in the +N form.

@test "-j over 4096 in any form is a usage error naming it" {
	local n v
	n=$(nproc)
	for v in 4097 +5000 300000% +$((4097 - n)); do
		run -2 --separate-stderr smap -j "$v" true </dev/null
		[[ ${stderr_lines[0]} == *"$v"* ]] || fail "-j $v: $stderr"
	done
}

@test "-j 4096, -j 100% and -j +N up to 4096 are accepted" {
	local n v
	n=$(nproc)
	for v in 4096 100% +$((4096 - n)); do
		run -0 --separate-stderr timeout -s KILL 30 smap -j "$v" echo <<<x
		assert_output x
	done
}

# Fault: --halt soon exited 124 though every record had run.

@test "--halt soon,fail=1 when the last job fails and every record ran exits 123" {
	run -123 --separate-stderr smap -j1 --halt soon,fail=1 \
	    '[ {} = 3 ] && exit 1; echo {}' < <(seq 3)
	assert_output "$(seq 2)"
}

@test "--halt soon,fail=1 with records left unrun exits 124" {
	run -124 --separate-stderr smap -j1 --halt soon,fail=1 \
	    '[ {} = 3 ] && exit 1; echo {}' < <(seq 5)
	assert_output "$(seq 2)"
}
