load test_helper

# SIGINT, SIGTERM, SIGHUP, SIGTSTP sent to smap: its jobs share its fate.

setup() {
	marked_sleep
	T=$BATS_TEST_TMPDIR
	SMAP_PID=
}

teardown() {
	exec 7>&- 8>&-
	if [[ -n $SMAP_PID ]] && kill -KILL "$SMAP_PID" 2>/dev/null; then
		wait "$SMAP_PID" 2>/dev/null || true
	fi
	kill_marked
	[[ ! -S $T/tmux ]] || tmux -S "$T/tmux" kill-server 2>/dev/null || true
}

# Number of lines in FILE, 0 if it does not exist.
count_lines() {
	if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi
}

# True when FILE has at least N lines.
has_lines() {
	(($(count_lines "$1") >= $2))
}

# True when at least N processes other than smap hold the marker.
marked_at_least() {
	(($(marked_pids | grep -vcx "${SMAP_PID:-0}") >= $1))
}

# True when no marked process is left but smap itself.
no_jobs() {
	! marked_pids | grep -vqx "$SMAP_PID"
}

# True when smap and every marked process are stopped.
all_stopped() {
	local pid stat
	for pid in "$SMAP_PID" $(marked_pids); do
		stat=$(ps -o stat= -p "$pid") || continue
		[[ $stat == T* ]] || return 1
	done
}

# True when none of the pids in FILE (jobs smap started) is left, not
# even as a zombie: smap reaped them.
reaped() {
	local pid
	for pid in $(cat "$1"); do
		! ps -p "$pid" >/dev/null || return 1
	done
}

# Sends SIG to smap while it waits for input that does not come.
signal_while_reading() {
	local sig=$1
	mkfifo "$T/in"
	exec 7<>"$T/in"
	SMAP_IN=$T/in smap_bg -j2 echo
	echo first >&7
	wait_until 5 grep -qx first "$T/out" || fail "no output"
	kill -"$sig" "$SMAP_PID"
	wait_exit "$SMAP_PID" 5 || fail "smap did not end"
	assert_equal "$status" $((128 + $(kill -l "$sig")))
}

# Sends SIG to smap while two jobs run, each with a grandchild that keeps
# the output open and one that does not, and more records wait.
signal_while_jobs_run() {
	local sig=$1
	seq 4 >"$T/in"
	SMAP_IN=$T/in smap_bg -j2 "trap 'echo \$SMAP_SEQ >>$T/got; exit 1' $sig
	    echo \$\$ >>$T/pids
	    sh -c '$(marker) 30' &
	    $(marker) 30 >/dev/null 2>&1 &
	    $(marker) 30; : {}"
	wait_until 5 has_lines "$T/pids" 2 || fail "jobs did not start"
	wait_until 5 marked_at_least 8 || fail "jobs did not start"
	kill -"$sig" "$SMAP_PID"
	wait_exit "$SMAP_PID" 10 || fail "smap did not end"
	assert_equal "$status" $((128 + $(kill -l "$sig")))
	reaped "$T/pids" ||
	    fail "jobs left: $(ps -o pid=,stat= -p "$(paste -sd, "$T/pids")")"
	wait_until 2 no_marked || fail "processes outlive smap: $(marked_pids)"
	# Both jobs got the signal; no new job started after it.
	assert_equal "$(sort "$T/got")" "$(printf '1\n2')"
	assert_equal "$(count_lines "$T/pids")" 2
}

@test "SIGINT while reading input: smap dies of SIGINT" {
	signal_while_reading INT
}

@test "SIGTERM while reading input: smap dies of SIGTERM" {
	signal_while_reading TERM
}

@test "SIGHUP while reading input: smap dies of SIGHUP" {
	signal_while_reading HUP
}

@test "SIGINT while jobs run: it reaches their process groups, smap dies of it" {
	signal_while_jobs_run INT
}

@test "SIGTERM while jobs run: it reaches their process groups, smap dies of it" {
	signal_while_jobs_run TERM
}

@test "SIGHUP while jobs run: it reaches their process groups, smap dies of it" {
	signal_while_jobs_run HUP
}

@test "SIGTERM while output drains into a full pipe: smap dies of SIGTERM" {
	# Job 1 prints nothing; jobs 2 and 3 print 1 MB each and end; the
	# reader reads one byte and no more.
	seq 3 >"$T/in"
	mkfifo "$T/fifo"
	exec 8<>"$T/fifo"
	SMAP_IN=$T/in SMAP_OUT=$T/fifo smap_bg -j3 "echo \$\$ >>$T/pids
	    if [ {} = 1 ]; then $(marker) 0.5
	    else head -c 1000000 /dev/zero; fi; : $(marker)"
	wait_until 5 has_lines "$T/pids" 3 || fail "jobs did not start"
	dd bs=1 count=1 status=none <&8 >/dev/null
	wait_until 5 no_jobs || fail "jobs did not end"
	sleep 0.2
	kill -TERM "$SMAP_PID"
	wait_exit "$SMAP_PID" 5 || fail "smap did not end"
	assert_equal "$status" 143
}

@test "SIGTERM while a job writes into a full pipe: smap dies of SIGTERM" {
	mkfifo "$T/fifo"
	exec 8<>"$T/fifo"
	echo x >"$T/in"
	SMAP_IN=$T/in SMAP_OUT=$T/fifo smap_bg "yes {} $(marker)"
	wait_until 5 marked_at_least 1 || fail "job did not start"
	dd bs=1 count=1 status=none <&8 >/dev/null
	sleep 0.2
	kill -TERM "$SMAP_PID"
	wait_exit "$SMAP_PID" 5 || fail "smap did not end"
	assert_equal "$status" 143
	wait_until 2 no_marked || fail "job outlives smap: $(marked_pids)"
}

@test "a job gets time to clean up after SIGTERM" {
	seq 2 >"$T/in"
	SMAP_IN=$T/in smap_bg -j2 "trap '$(marker) 0.3
		echo \$SMAP_SEQ >>$T/clean; exit 0' TERM
	    echo \$\$ >>$T/pids
	    $(marker) 30 &
	    wait; : {}"
	wait_until 5 has_lines "$T/pids" 2 || fail "jobs did not start"
	kill -TERM "$SMAP_PID"
	wait_exit "$SMAP_PID" 5 || fail "smap did not end"
	assert_equal "$status" 143
	assert_equal "$(sort "$T/clean")" "$(printf '1\n2')"
}

@test "a job that ignores SIGTERM is killed after the grace period" {
	local t0 t1
	seq 2 >"$T/in"
	SMAP_IN=$T/in smap_bg -j2 \
	    "trap '' TERM; echo \$\$ >>$T/pids; $(marker) 30; : {}"
	wait_until 5 has_lines "$T/pids" 2 || fail "jobs did not start"
	wait_until 5 marked_at_least 4 || fail "jobs did not start"
	t0=$(now_ms)
	kill -TERM "$SMAP_PID"
	wait_exit "$SMAP_PID" 10 || fail "smap did not end"
	t1=$(now_ms)
	assert_equal "$status" 143
	(((t1 - t0) < 5000)) || fail "smap took $((t1 - t0)) ms to end"
	reaped "$T/pids" || fail "jobs left"
	wait_until 2 no_marked || fail "processes outlive smap: $(marked_pids)"
}

@test "a second signal kills the jobs and smap at once" {
	local t0 t1
	seq 2 >"$T/in"
	# The jobs survive SIGTERM: they log it and sleep on.
	SMAP_IN=$T/in smap_bg -j2 "trap 'echo \$SMAP_SEQ >>$T/got' TERM
	    echo \$\$ >>$T/pids
	    while :; do $(marker) 1; done; : {}"
	wait_until 5 has_lines "$T/pids" 2 || fail "jobs did not start"
	kill -TERM "$SMAP_PID"
	wait_until 5 has_lines "$T/got" 1 || fail "no job got SIGTERM"
	t0=$(now_ms)
	kill -TERM "$SMAP_PID"
	wait_exit "$SMAP_PID" 5 || fail "smap did not end"
	t1=$(now_ms)
	assert_equal "$status" 143
	# Well before the end of the 1 s grace the first signal started.
	(((t1 - t0) < 600)) || fail "smap took $((t1 - t0)) ms to end"
	wait_until 2 no_marked || fail "processes outlive smap: $(marked_pids)"
}

@test "SIGTSTP stops the jobs with smap, SIGCONT resumes them all" {
	seq 2 >"$T/in"
	SMAP_IN=$T/in smap_bg -j2 "$(marker) 1; echo {}"
	wait_until 5 marked_at_least 4 || fail "jobs did not start"
	kill -TSTP "$SMAP_PID"
	wait_until 5 all_stopped ||
	    fail "not stopped: $(ps -o pid=,stat=,args= \
	    -p "$SMAP_PID,$(marked_pids | paste -sd,)")"
	# Stopped for longer than the jobs' sleep: they must not end.
	sleep 1.5
	all_stopped || fail "a job went on"
	assert_equal "$(cat "$T/out")" ""
	kill -CONT "$SMAP_PID"
	wait_exit "$SMAP_PID" 10 || fail "smap did not end"
	assert_equal "$status" 0
	assert_equal "$(cat "$T/out")" "$(seq 2)"
}

@test "Ctrl-C at a terminal stops the jobs and smap dies of SIGINT" {
	command -v tmux >/dev/null || skip "no tmux"
	seq 2 >"$T/in"
	# The pane's shell survives Ctrl-C (a caught signal is reset to its
	# default in smap) to write smap's status.
	cat >"$T/pane.sh" <<-EOF
		trap : INT
		smap -j2 '$(marker) 30; : {}' <$T/in
		echo \$? >$T/status
		exec sleep 30
	EOF
	tmux -S "$T/tmux" new-session -d -x 80 -y 24 "sh $T/pane.sh"
	wait_until 5 marked_at_least 4 || fail "jobs did not start"
	tmux -S "$T/tmux" send-keys C-c
	wait_until 5 test -s "$T/status" || fail "smap did not end"
	assert_equal "$(cat "$T/status")" 130
	wait_until 2 no_marked || fail "processes outlive smap: $(marked_pids)"
}
