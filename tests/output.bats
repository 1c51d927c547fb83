# Output: input order, the oldest job live, -u, byte-exactness, held
# output past --max-memory, and the window of -b.
load test_helper

@test "output is in input order when early records finish last" {
	run -0 --separate-stderr timeout 10 smap -j 5 'sleep 0.{}; echo {}' \
	    < <(printf '%s\n' 9 7 5 3 1)
	assert_output $'9\n7\n5\n3\n1'
	assert_equal "$stderr" ""
}

@test "the oldest job's output is passed through while it runs" {
	run -0 --separate-stderr timeout 10 bash -c '
	    printf "1\n2\n" |
	    smap -j 2 "if [ {} = 1 ]; then echo a; sleep 3; echo b; else echo c; fi" |
	    { IFS= read -r -t 1.5 first || exit 9; echo "$first"; cat; }'
	assert_output $'a\nb\nc'
}

@test "later jobs' output is held until their turn, never interleaved" {
	run -0 --separate-stderr timeout 10 smap -j 4 \
	    'for i in 1 2 3 4 5 6 7 8 9 10; do
		echo {}.$i; sleep 0.0$((5 - {}))
	    done' < <(seq 4)
	expected=$(for r in 1 2 3 4; do
		for i in 1 2 3 4 5 6 7 8 9 10; do
			echo "$r.$i"
		done
	done)
	assert_output "$expected"
}

@test "-u writes each job's output whole, in order of completion" {
	run -0 --separate-stderr timeout 10 smap -u -j 3 \
	    'echo {}-1; sleep 0.{}; echo {}-2; sleep 0.{}; echo {}-3' \
	    < <(printf '8\n2\n5\n')
	assert_output $'2-1\n2-2\n2-3\n5-1\n5-2\n5-3\n8-1\n8-2\n8-3'
}

@test "output is byte-exact: binary output passes unchanged" {
	d=$BATS_TEST_TMPDIR
	head -c 1000000 /dev/urandom > "$d/data.1"
	head -c 300001 /dev/urandom > "$d/data.2"
	head -c 77777 /dev/urandom > "$d/data.3"
	cat "$d/data.1" "$d/data.2" "$d/data.3" "$d/data.1" > "$d/expected"
	timeout 10 smap -j 4 "[ {} = 0 ] && sleep 0.5; cat $d/data.\$(({} % 3 + 1))" \
	    < <(printf '0\n1\n2\n3\n') > "$d/out"
	cmp "$d/expected" "$d/out"
	timeout 10 smap -j 4 "cat $d/data.\$(({} % 3 + 1))" \
	    < <(printf '0\n1\n2\n3\n') | sha256sum > "$d/sum"
	assert_equal "$(cat "$d/sum")" "$(sha256sum < "$d/expected")"
}

@test "output without a final newline is kept exact" {
	d=$BATS_TEST_TMPDIR
	timeout 10 smap -j 3 "printf 'line{}\nend{}'" < <(seq 3) > "$d/out"
	printf 'line1\nend1line2\nend2line3\nend3' > "$d/expected"
	cmp "$d/expected" "$d/out"
	timeout 10 smap printf %s < <(printf 'a\n\nb\n') > "$d/out"
	printf 'ab' > "$d/expected"
	cmp "$d/expected" "$d/out"
}

@test "held output past --max-memory is byte-exact; no temp file remains" {
	d=$BATS_TEST_TMPDIR
	mkdir "$d/tmp"
	echo first > "$d/data.1"
	for i in 2 3 4; do
		head -c 8388608 /dev/urandom > "$d/data.$i"
	done
	cat "$d/data.1" "$d/data.2" "$d/data.3" "$d/data.4" > "$d/expected"
	TMPDIR=$d/tmp timeout 20 smap -j 4 --max-memory 1M \
	    "[ {} = 1 ] && sleep 1; cat $d/data.{}" < <(seq 4) > "$d/out"
	cmp "$d/expected" "$d/out"
	assert_equal "$(ls -A "$d/tmp")" ""
}

@test "held output past --max-memory goes to unlinked files under TMPDIR" {
	[ -d /proc/self/fd ] || skip "no /proc"
	d=$BATS_TEST_TMPDIR
	mkdir "$d/tmp"
	seq 2 > "$d/in"
	TMPDIR=$d/tmp SMAP_IN=$d/in smap_bg -j 2 --max-memory 1M \
	    "if [ {} = 1 ]; then
		i=0; while [ ! -e $d/go ] && [ \$i -lt 200 ]; do
		    sleep 0.05; i=\$((i + 1)); done; echo first
	    else head -c 8388608 /dev/zero; fi"
	spilled() {
		ls -l "/proc/$SMAP_PID/fd" 2>/dev/null |
		    grep -F -- "$d/tmp/" | grep -qF "(deleted)"
	}
	wait_until 5 spilled || fail "no unlinked file of smap's under \$TMPDIR"
	touch "$d/go"
	wait_exit "$SMAP_PID" 10 || fail "smap does not end"
	assert_equal "$status" 0
	assert_equal "$(head -1 "$d/out")" "first"
	assert_equal "$(wc -c < "$d/out")" $((6 + 8388608))
	assert_equal "$(ls -A "$d/tmp")" ""
}

teardown() {
	if [ -n "${SMAP_PID:-}" ] && ! ended "$SMAP_PID"; then
		kill "$SMAP_PID" 2>/dev/null || true
	fi
	[ -z "${BATS_TEST_TMPDIR:-}" ] || touch "$BATS_TEST_TMPDIR/go"
}

@test "-b 3 with a stopped reader: at most 3 jobs start, then all run" {
	d=$BATS_TEST_TMPDIR/started
	mkdir "$d"
	run -0 --separate-stderr timeout 20 bash -c '
	    seq 20 | smap -j 4 -b 3 "touch $1/{}; head -c 2000000 /dev/zero" |
	    { sleep 2; ls "$1" | wc -l > "$1.count"; wc -c; }' _ "$d"
	assert_output 40000000
	count=$(cat "$d.count")
	[ "$count" -ge 1 ] && [ "$count" -le 3 ] ||
	    fail "$count jobs started with -b 3 and a stopped reader"
	assert_equal "$(ls "$d" | wc -l)" 20
}
