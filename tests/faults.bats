load test_helper

# Faults: smap's own output and input, odd jobs, few resources, odd records.

setup() {
	marked_sleep
	T=$BATS_TEST_TMPDIR
}

teardown() {
	kill_marked
	[[ ! -S $T/tmux ]] || tmux -S "$T/tmux" kill-server 2>/dev/null || true
}

# True when the tmux pane shows LINE.
pane_has() {
	tmux -S "$T/tmux" capture-pane -p | grep -qxF -- "$1"
}

# Writes N bytes of the letter x.
xs() {
	head -c "$1" /dev/zero | tr '\0' x
}

@test "a closed standard output is an error" {
	run -1 --separate-stderr bash -c 'smap echo >&-' <<<x
	assert_output ""
	assert_equal "$stderr" "smap: stdout: Bad file descriptor"
}

@test "a closed standard input is an error" {
	run -1 --separate-stderr bash -c 'smap echo <&-'
	assert_output ""
	assert_equal "$stderr" "smap: stdin: Bad file descriptor"
}

@test "a full standard output is an error" {
	run -1 --separate-stderr bash -c 'smap echo >/dev/full' <<<x
	assert_output ""
	assert_equal "$stderr" "smap: stdout: No space left on device"
}

@test "a full standard output stops the running jobs" {
	local t0 t1
	t0=$(now_ms)
	run -1 --separate-stderr timeout 20 bash -c \
	    "seq 4 | smap -j2 'echo {}; $(marker) 30' >/dev/full"
	t1=$(now_ms)
	assert_equal "$stderr" "smap: stdout: No space left on device"
	(((t1 - t0) < 5000)) || fail "smap took $((t1 - t0)) ms to end"
	wait_until 2 no_marked || fail "jobs outlive smap: $(marked_pids)"
}

@test "a directory as standard input is an error" {
	run -1 --separate-stderr bash -c 'smap echo </'
	assert_output ""
	assert_equal "$stderr" "smap: stdin: Is a directory"
}

@test "a job that closes its output early is still waited for" {
	# Job 2's status comes after its end of file: it must still count.
	run -123 --separate-stderr smap -j3 \
	    'echo {}; exec >&-; sleep 0.2; [ {} != 2 ]' < <(seq 3)
	assert_output "$(seq 3)"
	assert_equal "$stderr" ""
}

@test "a job that closes its output early does not end the run" {
	run -0 --separate-stderr smap -j2 \
	    'exec >&-; sleep 0.$((4 - {})); echo {} >&2' < <(seq 3)
	assert_output ""
	assert_equal "$(sort <<<"$stderr")" "$(seq 3)"
}

@test "jobs that write nothing give no output" {
	run -0 --separate-stderr smap -j2 \
	    'if [ {} = 2 ]; then echo two; fi' < <(seq 3)
	assert_output "two"
	assert_equal "$stderr" ""
}

@test "output without a final newline is passed as is" {
	printf 'a\nb\nc\n' | smap -j3 printf %s >"$T/out"
	printf abc >"$T/expected"
	cmp "$T/out" "$T/expected"
}

@test "a job that exits 255 is a failed job, the others still run" {
	# xargs stops at 255; smap goes on and exits 123.
	run -123 --separate-stderr smap -j1 \
	    'echo {}; [ {} != 2 ] || exit 255' < <(seq 4)
	assert_output "$(seq 4)"
}

@test "a job killed by a signal is a failed job, the others still run" {
	run -123 --separate-stderr smap -j2 \
	    'echo {}; [ {} != 2 ] || kill -9 $$' < <(seq 4)
	assert_output "$(seq 4)"
}

@test "a job that forks 100 children gets all their output, in its turn" {
	run -0 --separate-stderr timeout 30 smap -j3 \
	    'for i in $(seq 100); do echo {}.$i & done; wait' < <(seq 3)
	local counts
	counts=$(cut -d. -f1 <<<"$output" | uniq -c | awk '{ print $2 ":" $1 }')
	assert_equal "$counts" "$(printf '1:100\n2:100\n3:100')"
	assert_equal "$(sort -t. -k1,1n -k2,2n <<<"$output")" \
	    "$(for r in 1 2 3; do seq -f "$r.%g" 100; done)"
}

@test "a background child that keeps the output open is waited for" {
	run -0 --separate-stderr timeout 20 smap -j2 \
	    '(sleep 1; echo {} late) & echo {} early' < <(seq 2)
	assert_output "$(printf '1 early\n1 late\n2 early\n2 late')"
	assert_equal "$stderr" ""
}

@test "few file descriptors: a clear error or a full run, never a crash or a hang" {
	no_valgrind "valgrind needs descriptors"
	local n bad
	seq 300 >"$T/in"
	for n in 5 8 12 16; do
		run --separate-stderr bash -c \
		    "exec <$T/in 3>&- 4>&-; ulimit -n $n
		    exec timeout -s KILL 20 smap -j20 'echo {}'"
		case $status in
		0)
			assert_output "$(seq 300)"
			;;
		1 | 123)
			[[ -n $stderr ]] ||
			    fail "ulimit -n $n: exit $status, silent"
			# One whole diagnostic a line: "smap: WHAT: CAUSE".
			bad=$(grep -Ev '^smap: [^:]+: [A-Z][A-Za-z ]*$' \
			    <<<"$stderr") || true
			[[ -z $bad ]] || fail "ulimit -n $n, exit $status: $bad"
			;;
		*)
			fail "ulimit -n $n: exit $status: $stderr"
			;;
		esac
	done
}

@test "a terminal as input: each line runs as soon as it is typed" {
	command -v tmux >/dev/null || skip "no tmux"
	tmux -S "$T/tmux" new-session -d -x 80 -y 24 \
	    "$(command -v smap) 'echo got {}'; echo \$? >$T/status; sleep 30"
	local word
	for word in alpha beta gamma; do
		tmux -S "$T/tmux" send-keys "$word" Enter
		wait_until 5 pane_has "got $word" ||
		    fail "no 'got $word': $(tmux -S "$T/tmux" capture-pane -p)"
	done
	tmux -S "$T/tmux" send-keys C-d
	wait_until 5 test -s "$T/status" || fail "smap did not end at ^D"
	assert_equal "$(cat "$T/status")" 0
}

@test "empty input runs no job" {
	run -0 --separate-stderr smap "echo run; : $(marker)" </dev/null
	assert_output ""
	assert_equal "$stderr" ""
}

@test "a lone delimiter is one empty record, one job" {
	run -0 --separate-stderr smap 'printf "%s|%s\n" $SMAP_SEQ {}' <<<""
	assert_output "1|"
	assert_equal "$stderr" ""
}

@test "a 1 MiB record is read whole" {
	{
		echo a
		xs 1048576
		echo
		echo b
	} >"$T/in"
	run -0 --separate-stderr smap 'echo {#}' <"$T/in"
	assert_output "$(seq 3)"
	assert_equal "$stderr" ""
}

@test "a 100 KiB record reaches its job whole" {
	xs 102400 >"$T/in"
	run -0 --separate-stderr smap 'printf %s {} | md5sum' <"$T/in"
	assert_output "$(md5sum <"$T/in")"
	assert_equal "$stderr" ""
}

@test "records longer than the argument limit fail, the others run" {
	{
		echo a
		xs 300000
		echo
		echo b
		xs 1048576
		echo
		echo c
	} >"$T/in"
	run -123 --separate-stderr smap -j2 echo <"$T/in"
	assert_output "$(printf 'a\nb\nc')"
	assert_equal "$(sort <<<"$stderr")" \
	    "$(printf 'smap: record %d: longer than 131071 bytes\n' 2 4)"
}

@test "records longer than the argument limit fail without a shell too" {
	{
		echo a
		xs 300000
		echo
		echo b
	} >"$T/in"
	run -123 --separate-stderr smap -j2 /bin/echo <"$T/in"
	assert_output "$(printf 'a\nb')"
	assert_equal "$stderr" "smap: record 2: longer than 131071 bytes"
}

@test "diagnostics of records failing together are whole lines" {
	# 200 records, each over Linux's 128 KiB limit on one argument.
	local line i
	line=$(xs 135000)
	for ((i = 0; i < 200; i++)); do
		printf '%s\n' "$line"
	done >"$T/in"
	run -123 --separate-stderr smap -j8 echo <"$T/in"
	assert_output ""
	assert_equal "$(sort -t' ' -k3n <<<"$stderr")" \
	    "$(seq -f 'smap: record %g: longer than 131071 bytes' 200)"
}
