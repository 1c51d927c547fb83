# Exit status: 0, 123 for failed jobs (all still run), 1 for an output error.
load test_helper

@test "exit 0 when every job exits 0" {
	run -0 --separate-stderr timeout 10 smap 'echo {}; true' < <(seq 5)
	assert_output $'1\n2\n3\n4\n5'
	assert_equal "$stderr" ""
}

@test "exit 123 when a job exits non-zero; the others still run" {
	run -123 --separate-stderr timeout 10 smap 'echo {}; [ {} != 3 ]' \
	    < <(seq 5)
	assert_output $'1\n2\n3\n4\n5'
	assert_equal "$stderr" ""
}

@test "exit 123 when every job fails" {
	run -123 --separate-stderr timeout 10 smap 'echo {}; exit {}' \
	    < <(seq 5)
	assert_output $'1\n2\n3\n4\n5'
}

@test "exit 123 when a job exits 255; the others still run, unlike xargs" {
	run -123 --separate-stderr timeout 10 smap -j 1 \
	    'echo {}; [ {} != 1 ] || exit 255' < <(seq 4)
	assert_output $'1\n2\n3\n4'
}

@test "exit 123 when a job is killed by a signal; the others still run" {
	for sig in KILL TERM HUP; do
		run -123 --separate-stderr timeout 10 smap -j 2 \
		    "[ {} != 2 ] || kill -s $sig \$\$; echo {}" < <(seq 4)
		assert_output $'1\n3\n4'
	done
}

@test "exit 123 when a program is not found; the others still run" {
	no_valgrind "a failed execve"
	run -123 --separate-stderr timeout 10 smap -j 1 nosuch_smap_program \
	    < <(seq 3)
	assert_output ""
	assert_equal "$(grep -c 'nosuch_smap_program.*not found' <<<"$stderr")" 3
	run -123 --separate-stderr timeout 10 smap -j 1 \
	    'echo {}; [ {} != 1 ] || nosuch_smap_program' < <(seq 3)
	assert_output $'1\n2\n3'
}

@test "exit 123 when a program is not executable" {
	printf 'echo ran\n' > "$BATS_TEST_TMPDIR/noexec"
	chmod 644 "$BATS_TEST_TMPDIR/noexec"
	run -123 --separate-stderr timeout 10 smap "$BATS_TEST_TMPDIR/noexec" \
	    < <(seq 2)
	assert_output ""
}

@test "all records run after an early failure" {
	run -123 --separate-stderr timeout 10 smap -j 1 \
	    'echo {}; [ {} != 1 ]' < <(seq 20)
	assert_output "$(seq 20)"
}

@test "exit 1 for an output error: 'smap: stdout: No space left on device'" {
	run -1 --separate-stderr timeout 10 bash -c 'exec smap echo > /dev/full' \
	    < <(seq 5)
	assert_output ""
	assert_equal "$stderr" "smap: stdout: No space left on device"
}

@test "an output error stops the running jobs and exits 1 at once" {
	start=$(now_ms)
	run -1 --separate-stderr timeout 10 bash -c '
	    exec smap -j 2 "echo {}; sleep 8; : $1" > /dev/full' _ "$(marker)" \
	    < <(seq 100)
	ms=$(($(now_ms) - start))
	assert_equal "$stderr" "smap: stdout: No space left on device"
	[ "$ms" -lt 3000 ] || fail "smap took $ms ms to exit"
	wait_until 1 no_marked || fail "a job outlived smap"
}

teardown() {
	kill_marked
}
