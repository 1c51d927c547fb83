load test_helper

# What a job gets from smap: stdin, stderr, file descriptors, signals,
# process group, environment; many jobs at once, or one.

setup() {
	marked_sleep
	T=$BATS_TEST_TMPDIR
	SMAP_PID=
}

teardown() {
	if [[ -n $SMAP_PID ]] && kill -KILL "$SMAP_PID" 2>/dev/null; then
		wait "$SMAP_PID" 2>/dev/null || true
	fi
	kill_marked
}

@test "a job's standard input is /dev/null" {
	run -0 --separate-stderr smap -j2 'readlink /proc/$$/fd/0; : {}' \
	    < <(seq 3)
	assert_output "$(printf '/dev/null\n%.0s' 1 2 3)"
	assert_equal "$stderr" ""
}

@test "a job that reads its input gets end of file at once, not the records" {
	seq 5 >"$T/in"
	run -0 --separate-stderr timeout 10 smap -j1 'cat; echo {}' <"$T/in"
	assert_output "$(seq 5)"
	assert_equal "$stderr" ""
}

@test "a job's standard error is smap's, not a pipe through smap" {
	run -0 --separate-stderr bash -c "echo x |
	    smap 'readlink /proc/\$\$/fd/2; echo {} to stderr >&2' 2>$T/err"
	assert_output "$T/err"
	assert_equal "$stderr" ""
	assert_equal "$(cat "$T/err")" "x to stderr"
}

@test "a job's standard error reaches smap's standard error" {
	run -0 --separate-stderr smap -j2 'echo out {}; echo err {} >&2' \
	    < <(seq 2)
	assert_output "$(printf 'out 1\nout 2')"
	assert_equal "$(sort <<<"$stderr")" "$(printf 'err 1\nerr 2')"
}

@test "a job has no file descriptor but 0, 1 and 2 (bats' own are open)" {
	# bats runs its tests with fds 3, 4 and more open.
	run -0 --separate-stderr smap 'ls /proc/$$/fd; : {}' <<<x
	assert_output "$(printf '0\n1\n2')"
	assert_equal "$stderr" ""
}

@test "a job has no file descriptor but 0, 1 and 2 (3, 4, 5 open in smap)" {
	run -0 --separate-stderr bash -c \
	    "smap 'ls /proc/\$\$/fd; : {}' 3</dev/null 4>$T/x 5<&0 <<<x"
	assert_output "$(printf '0\n1\n2')"
	assert_equal "$stderr" ""
}

@test "a job run without a shell has no file descriptor but 0, 1 and 2" {
	# ls itself opens the directory it lists: the lowest free fd, 3.
	run -0 --separate-stderr smap ls <<<"/proc/self/fd"
	assert_output "$(printf '0\n1\n2\n3')"
	assert_equal "$stderr" ""
}

@test "jobs running together do not get each other's pipes, nor -a's file" {
	seq 40 >"$T/in"
	run -0 --separate-stderr smap -j8 -a "$T/in" \
	    'ls /proc/$$/fd; sleep 0.05; : {}'
	local counts
	counts=$(sort <<<"$output" | uniq -c | awk '{ print $2 ":" $1 }')
	assert_equal "$counts" "$(printf '0:40\n1:40\n2:40')"
	assert_equal "$stderr" ""
}

# Checks the "SigBlk:" and "SigIgn:" lines of /proc/PID/status in $output:
# no signal blocked, none ignored but 32 and 33, glibc's internal ones,
# which glibc's posix_spawn(3) leaves ignored in every child it makes.
assert_fresh_signals() {
	local blk ign
	blk=$(awk '$1 == "SigBlk:" { print $2 }' <<<"$output")
	ign=$(awk '$1 == "SigIgn:" { print $2 }' <<<"$output")
	[[ -n $blk && -n $ign ]] || fail "no SigBlk, SigIgn in: $output"
	assert_equal "SigBlk: $blk" "SigBlk: 0000000000000000"
	assert_equal "SigIgn: $(printf %016x $((16#$ign & ~0x180000000)))" \
	    "SigIgn: 0000000000000000"
}

@test "a job gets SIGPIPE at its default and an empty mask though smap ignores it" {
	# smap starts with SIGPIPE ignored and SIGUSR1 blocked.
	run -0 --separate-stderr env --default-signal --ignore-signal=PIPE \
	    --block-signal=USR1 \
	    smap 'grep -E "^Sig(Blk|Ign)" /proc/self/status; : {}' <<<x
	assert_fresh_signals
	assert_equal "$stderr" ""
}

@test "a job run without a shell gets SIGPIPE at its default and an empty mask" {
	run -0 --separate-stderr env --default-signal --ignore-signal=PIPE \
	    --block-signal=USR1 \
	    smap grep -e SigBlk -e SigIgn <<</proc/self/status
	assert_fresh_signals
	assert_equal "$stderr" ""
}

@test "a job that writes to a closed pipe dies of SIGPIPE though smap ignores it" {
	# Ignored, yes would get EPIPE, complain and exit 1.
	run -0 --separate-stderr env --ignore-signal=PIPE \
	    smap '(yes; echo "yes: $?" >&2) | head -1; : {}' <<<x
	assert_output "y"
	assert_equal "$stderr" "yes: 141"
}

@test "each job leads a process group of its own" {
	# The shell forks cut: cut's parent is the job, whose pid is the group.
	run -0 --separate-stderr smap -j3 \
	    'cut -d" " -f4,5 /proc/self/stat; : {}' < <(seq 3)
	assert_equal "${#lines[@]}" 3
	local l
	for l in "${lines[@]}"; do
		[[ ${l% *} == "${l#* }" ]] || fail "ppid, pgid: $l"
	done
	assert_equal "$stderr" ""
}

@test "a job run without a shell leads a process group of its own" {
	run -0 --separate-stderr smap cat <<</proc/self/stat
	local f
	read -ra f <<<"$output"
	# pid == pgid, or a shell forked cat and its parent leads the group.
	[[ ${f[0]} == "${f[4]}" || ${f[3]} == "${f[4]}" ]] ||
	    fail "pid ${f[0]} ppid ${f[3]} pgid ${f[4]}"
	[[ ${f[4]} != "$(ps -o pgid= -p $$ | tr -d ' ')" ]] ||
	    fail "in the group of the test"
}

@test "SMAP_SEQ is the record number, SMAP_SLOT a slot from 1 to -j" {
	run -0 --separate-stderr smap -j3 'echo {} $SMAP_SEQ $SMAP_SLOT' \
	    < <(seq 9)
	assert_equal "${#lines[@]}" 9
	local i f
	for ((i = 0; i < 9; i++)); do
		read -ra f <<<"${lines[i]}"
		assert_equal "${f[0]}" $((i + 1))
		assert_equal "${f[1]}" $((i + 1))
		((f[2] >= 1 && f[2] <= 3)) || fail "slot ${f[2]}"
	done
}

@test "jobs that run together have different slots" {
	# Each job waits (5 s at most) until all three have started.
	run -0 --separate-stderr smap -j3 "echo \$SMAP_SLOT >>$T/slots
	    i=0
	    while [ \$(wc -l <$T/slots) -lt 3 ] && [ \$i -lt 100 ]; do
		sleep 0.05; i=\$((i + 1))
	    done
	    echo \$SMAP_SLOT; : {}" < <(seq 3)
	assert_equal "$(sort <<<"$output")" "$(seq 3)"
}

@test "SMAP_SEQ and SMAP_SLOT reach a job run without a shell" {
	# printenv prints the variable each record names.
	run -0 --separate-stderr smap -j1 printenv \
	    <<<"$(printf 'SMAP_SLOT\nSMAP_SEQ\nSMAP_SEQ')"
	assert_output "$(printf '1\n2\n3')"
}

@test "finished jobs are reaped while a slow one runs" {
	seq 6 >"$T/in"
	SMAP_IN=$T/in smap_bg -j2 \
	    "echo {} >>$T/started; [ {} != 1 ] || $(marker) 30; echo {}"
	# Job 6 started: jobs 2 to 5 have ended, job 1 sleeps.
	wait_until 5 grep -qx 6 "$T/started" || fail "jobs did not start"
	only_slow_job() {
		[[ $(ps -o stat= --ppid "$SMAP_PID") == [^Z]* ]] &&
		    (($(ps -o stat= --ppid "$SMAP_PID" | wc -l) == 1))
	}
	wait_until 5 only_slow_job ||
	    fail "children: $(ps -o pid=,stat=,args= --ppid "$SMAP_PID")"
}

@test "-j 1000 runs a thousand jobs at once, in order" {
	# Run one by one, this would take 1000 s; two by two, 500 s.
	run -0 --separate-stderr timeout 60 smap -j 1000 'sleep 1; echo {}' \
	    < <(seq 1000)
	assert_output "$(seq 1000)"
	assert_equal "$stderr" ""
}

@test "-b 1 runs one job at a time and keeps the order" {
	# mkdir fails if another job holds the directory.
	run -0 --separate-stderr smap -j4 -b 1 \
	    "mkdir $T/busy || echo overlap; n={}; sleep 0.0\$((6 - n))
	    rmdir $T/busy; echo {}" \
	    < <(seq 6)
	assert_output "$(seq 6)"
	assert_equal "$stderr" ""
}
