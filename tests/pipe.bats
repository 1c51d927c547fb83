load test_helper

# smap between real pipes: endless input, a reader that goes away.

setup() {
	marked_sleep
	T=$BATS_TEST_TMPDIR
}

teardown() {
	kill_marked
}

@test "endless input through head -20 gives 1 to 20 in order, then ends" {
	run -0 timeout 20 bash -c \
	    "seq inf | smap -j2 -b100 'sleep 0.1; echo {}' | head -20"
	assert_output "$(seq 20)"
}

@test "endless input keeps its order when early records finish last" {
	run -0 timeout 20 bash -c "seq inf |
	    smap -j4 -b100 'n={}; sleep 0.\$((4 - n % 4)); echo \$n' | head -12"
	assert_output "$(seq 12)"
}

@test "endless input through head -1 ends" {
	run -0 timeout 20 bash -c "seq inf | smap -j2 echo | head -1"
	assert_output "1"
}

@test "a closed downstream makes smap die of SIGPIPE, silently" {
	seq inf | timeout 20 smap -j2 echo 2>"$T/err" | head -1 >"$T/out"
	local st=("${PIPESTATUS[@]}")
	assert_equal "${st[1]}" 141
	assert_equal "$(cat "$T/out")" "1"
	assert_equal "$(cat "$T/err")" ""
}

@test "a closed downstream is noticed while every job sleeps silently" {
	# Job 1 prints, then all jobs sleep: head leaves while smap has
	# nothing to write, so only poll(2) can tell it the reader is gone.
	local t0 t1
	t0=$(now_ms)
	seq inf | timeout 20 smap -j2 "echo {}; $(marker) 30" 2>"$T/err" |
	    head -1 >"$T/out"
	local st=("${PIPESTATUS[@]}")
	t1=$(now_ms)
	assert_equal "${st[1]}" 141
	assert_equal "$(cat "$T/out")" "1"
	assert_equal "$(cat "$T/err")" ""
	(((t1 - t0) < 3000)) || fail "smap took $((t1 - t0)) ms to end"
	wait_until 2 no_marked || fail "jobs outlive smap: $(marked_pids)"
}

@test "a closed downstream stops jobs that write forever" {
	seq inf | timeout 20 smap -j2 "yes {} $(marker)" 2>"$T/err" |
	    head -1 >"$T/out"
	local st=("${PIPESTATUS[@]}")
	assert_equal "${st[1]}" 141
	assert_equal "$(cat "$T/out")" "1 $(marker)"
	assert_equal "$(cat "$T/err")" ""
	wait_until 2 no_marked || fail "jobs outlive smap: $(marked_pids)"
}

@test "a closed downstream kills jobs that ignore SIGTERM" {
	local t0 t1
	t0=$(now_ms)
	seq inf |
	    timeout 20 smap -j2 "trap '' TERM; echo {}; $(marker) 30" \
	    2>"$T/err" | head -1 >"$T/out"
	local st=("${PIPESTATUS[@]}")
	t1=$(now_ms)
	assert_equal "${st[1]}" 141
	assert_equal "$(cat "$T/out")" "1"
	assert_equal "$(cat "$T/err")" ""
	(((t1 - t0) < 5000)) || fail "smap took $((t1 - t0)) ms to end"
	wait_until 2 no_marked || fail "jobs outlive smap: $(marked_pids)"
}

@test "a reader that closes after the first byte ends smap" {
	seq 3 | timeout 20 smap -j2 "head -c 1000000 /dev/zero; : {}" \
	    2>"$T/err" | dd bs=1 count=1 status=none | od -An -c >"$T/out"
	local st=("${PIPESTATUS[@]}")
	assert_equal "${st[1]}" 141
	assert_equal "$(cat "$T/out")" '  \0'
	assert_equal "$(cat "$T/err")" ""
}

@test "a reader that never reads ends smap (broken-pipe.sh)" {
	# As OpenSSH's regress/broken-pipe.sh: the reader exits at once.
	# smap either wrote first (0) or found the pipe closed (SIGPIPE).
	local i st
	for i in 1 2 3 4; do
		echo "$i" | timeout 20 smap echo 2>"$T/err" | true
		st=${PIPESTATUS[1]}
		[[ $st == 0 || $st == 141 ]] ||
		    fail "round $i: smap returned $st"
		assert_equal "$(cat "$T/err")" ""
	done
}

@test "head -2000 behind a slow reader gets exactly 2000 lines (yes-head.sh)" {
	no_valgrind "too slow"
	run -0 timeout 20 bash -c \
	    "seq 100000 | smap -j4 echo | head -2000 | (sleep 0.5; wc -l)"
	assert_output "2000"
}
