# The options users bring from GNU parallel and xargs.
load test_helper

setup() {
	T=$(mktemp -d)
}

teardown() {
	rm -rf "$T"
}

@test "--tag prefixes every line with the record and a tab" {
	run -0 --separate-stderr smap -j2 --tag 'printf "x\ny\n"' < <(printf 'a b\nc\n')
	assert_output "$(printf 'a b\tx\na b\ty\nc\tx\nc\ty')"
}

@test "--tag prefixes a last line without newline too" {
	run -0 smap --tag 'printf "x\ny"' < <(printf 'r\n')
	assert_output "$(printf 'r\tx\nr\ty')"
}

@test "--tag with -n prefixes the records joined by spaces" {
	run -0 smap -n2 --tag 'echo x; : {}' < <(seq 3)
	assert_output "$(printf '1 2\tx\n3\tx')"
}

@test "-k is accepted and keeps input order" {
	run -0 smap -k -j4 'sleep 0.$((4 - {})); echo {}' < <(seq 4)
	assert_output "$(seq 4)"
}

@test "-n N gives each job up to N records, appended as words" {
	run -0 smap -n3 printf '[%s]' < <(seq 7)
	assert_output "[1][2][3][4][5][6][7]"
	run -0 smap -n3 "sh -c 'echo \$#' sh" < <(seq 7)
	assert_output "$(printf '3\n3\n1')"
}

@test "-n N: {} expands to every record, each quoted" {
	run -0 smap -n2 'printf "<%s>" {}; echo' < <(printf 'a b\n$(x)\nc\n')
	assert_output "$(printf '<a b><$(x)>\n<c>')"
}

@test "--max-args is -n; {#} counts jobs, not records" {
	run -0 smap --max-args 2 'echo {#}: {}' < <(seq 5)
	assert_output "$(printf '1: 1 2\n2: 3 4\n3: 5')"
}

@test "-j N% is a share of the online processors" {
	local n
	n=$(nproc)
	run -0 smap -j 100% 'echo {%}' < <(seq 200)
	run -0 bash -c "sort -un <<<'$output' | tail -1"
	[ "$output" -le "$n" ]
}

@test "-j +N and -j -N add to or take from the online processors" {
	local n
	n=$(nproc)
	run -0 smap -j +2 -b inf 'sleep 0.3; echo {%}' < <(seq $((n + 2)))
	run -0 bash -c "sort -un <<<'$output' | wc -l"
	assert_output "$((n + 2))"
	run -0 smap -j -100 'echo {%}' < <(seq 5)
	assert_output "$(printf '1\n1\n1\n1\n1')"
}

@test "--dry-run prints each command line in order and runs nothing" {
	run -0 smap --dry-run -j4 "touch $T/ran; echo {}" < <(printf 'a b\nc\n')
	assert_output "$(printf "touch $T/ran; echo 'a b'\ntouch $T/ran; echo c")"
	[ ! -e "$T/ran" ]
}

@test "--joblog writes GNU parallel's header and a line per job" {
	run -123 smap -j2 --joblog "$T/log" 'printf ab; exit $(({} - 1))' < <(seq 3)
	run -0 head -1 "$T/log"
	assert_output "$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')"
	run -0 bash -c "tail -n +2 '$T/log' | sort -n | cut -f1,2,5,6,7,8,9"
	assert_output "$(printf '1\t:\t0\t2\t0\t0\tprintf ab; exit $((1 - 1))\n2\t:\t0\t2\t1\t0\tprintf ab; exit $((2 - 1))\n3\t:\t0\t2\t2\t0\tprintf ab; exit $((3 - 1))')"
	# Starttime: epoch seconds with three decimals; JobRuntime: 10 wide.
	run -0 bash -c "tail -n +2 '$T/log' | cut -f3,4"
	assert_line --regexp '^[0-9]{10}\.[0-9]{3}	 +[0-9]+\.[0-9]{3}$'
	run -0 bash -c "tail -n +2 '$T/log' | cut -f4 | awk '{ print length(\$0) }' | sort -u"
	assert_output 10
}

@test "--joblog records a job killed by a signal" {
	run -123 smap --joblog "$T/log" 'kill -9 $$' < <(echo x)
	run -0 bash -c "tail -1 '$T/log' | cut -f7,8"
	assert_output "$(printf '0\t9')"
}

@test "--joblog - writes to standard error, a line as each job ends" {
	run -0 --separate-stderr smap --joblog - 'echo {}' < <(seq 2)
	assert_output "$(seq 2)"
	[ "$(grep -c $'\t:\t' <<<"$stderr")" -eq 2 ]
}

@test "--joblog is written as jobs end, not at exit" {
	smap -j1 --joblog "$T/log" 'sleep {}' < <(printf '0\n5\n') &
	local pid=$!
	timeout 4 bash -c "until [ \$(wc -l <'$T/log' 2>/dev/null || echo 0) -ge 2 ]; do sleep 0.05; done"
	local rc=$?
	kill $pid; wait $pid || true
	assert_equal "$rc" 0
}

@test "--timeout stops a job that runs too long, keeps its output, counts it failed" {
	run -123 --separate-stderr timeout 10 smap -j2 --timeout 0.5 'echo start {}; [ {} = 1 ] || sleep 30; echo end {}' < <(seq 3)
	assert_output "$(printf 'start 1\nend 1\nstart 2\nstart 3')"
}

@test "--timeout accepts s, m, h suffixes and rejects others" {
	run -0 smap --timeout 1.5s true < <(echo x)
	run -0 smap --timeout 2m true < <(echo x)
	run -0 smap --timeout 1h true < <(echo x)
	run -2 --separate-stderr smap --timeout 5x true
	assert_equal "${stderr_lines[0]}" "smap: --timeout 5x: invalid duration"
	run -2 smap --timeout 0 true
}

@test "--timeout kills a job that ignores SIGTERM after the grace period" {
	run -123 timeout 10 smap --timeout 0.3 --joblog "$T/log" "trap '' TERM; sleep 30; : {}" < <(echo x)
	run -0 bash -c "tail -1 '$T/log' | cut -f8"
	assert_output 9
}

@test "--retries N tries a failing job N times in all and writes only the last try" {
	run -0 smap --retries 3 --joblog "$T/log" "n=\$(cat $T/c{} 2>/dev/null || echo 0); echo \$((n+1)) >$T/c{}; echo try \$((n+1)); [ \$n -ge 2 ]" < <(seq 2)
	assert_output "$(printf 'try 3\ntry 3')"
	[ "$(tail -n +2 "$T/log" | wc -l)" -eq 6 ]
}

@test "--retries: a job failing every try counts failed once, its last output kept" {
	run -123 smap --retries 2 'echo out{}; exit 1' < <(seq 2)
	assert_output "$(printf 'out1\nout2')"
}

@test "--retries keeps order while a held try waits" {
	run -0 smap -j3 --retries 2 "sleep 0.\$((3 - {})); [ -e $T/f{} ] || { touch $T/f{}; echo bad; exit 1; }; echo {}" < <(seq 3)
	assert_output "$(seq 3)"
}

@test "--halt now,fail=1 stops running jobs, exits 124, writes what ended" {
	run -124 timeout 10 smap -j2 --halt now,fail=1 'if [ {} = 2 ]; then sleep 0.3; exit 1; fi; if [ {} = 1 ]; then echo one; exit 0; fi; sleep 30; echo late' < <(seq 10)
	assert_output "one"
}

@test "--fail-fast is --halt now,fail=1" {
	run -124 timeout 10 smap -j2 --fail-fast 'if [ {} = 1 ]; then exit 1; fi; sleep 30' < <(seq 10)
	assert_output ""
}

@test "--halt soon,fail=1 lets running jobs finish and starts no more" {
	run -124 timeout 10 smap -j2 --halt soon,fail=1 'if [ {} = 1 ]; then sleep 0.2; exit 1; fi; sleep 0.5; echo {}' < <(seq 10)
	assert_output "2"
}

@test "--halt now,success=1 stops at the first success" {
	run -124 timeout 10 smap -j2 --halt now,success=1 'if [ {} = 2 ]; then echo two; exit 0; fi; sleep 30' < <(seq 10)
	assert_output "two"
}

@test "--halt fail=50% counts failures among the jobs ended" {
	# 1 of 4 (25%), 2 of 5 (40%), 3 of 6 (50%): halt.
	run -124 smap -j1 --halt soon,fail=50% 'echo {}; [ {} -lt 4 ]' < <(seq 10)
	assert_output "$(seq 6)"
	run -2 smap --halt soon,fail=101% true
	run -2 smap --halt sometimes true
}

@test "--progress=always draws a line on stderr and a final one" {
	run -0 --separate-stderr smap --progress=always 'echo {}' < <(seq 5)
	assert_output "$(seq 5)"
	run -0 bash -c "printf '%s' \"\$1\" | tr '\r' '\n' | grep -v '^$' | tail -1" _ "$stderr"
	assert_output --regexp '^smap: 5 done, 0 running, 0 failed, '
}

@test "--progress is silent when stderr is not a terminal" {
	run -0 --separate-stderr smap --progress 'echo {}' < <(seq 3)
	assert_equal "$stderr" ""
}

@test "--progress shows percent of input and ETA for a regular file" {
	seq 10 >"$T/in"
	run -0 --separate-stderr smap --progress=always -a "$T/in" 'sleep 0.05'
	run -0 bash -c "printf '%s' \"\$1\" | tr '\r' '\n' | grep -v '^$' | tail -1" _ "$stderr"
	assert_output --regexp '100% of input, ETA 0:00:00'
}

@test "--progress draws on a real terminal" {
	command -v script >/dev/null || skip "no script(1)"
	seq 3 >"$T/in"
	run -0 timeout 10 script -qec "$(command -v smap) --progress -a $T/in 'sleep 0.2' >/dev/null" /dev/null
	assert_output --partial "smap: 3 done, 0 running, 0 failed"
}

@test "--pipe gives each job its records on standard input, in order" {
	run -0 smap --pipe -N 3 'echo "job {#}: $(tr "\n" " ")"' < <(seq 7)
	assert_output "$(printf 'job 1: 1 2 3 \njob 2: 4 5 6 \njob 3: 7 ')"
}

@test "--pipe --block cuts chunks at record boundaries, nothing lost" {
	seq 50000 >"$T/in"
	run -0 smap --pipe --block 10k -j2 'sum=0; while read -r l; do sum=$((sum + 1)); done; echo $sum' < "$T/in"
	local total=0 n
	for n in $output; do total=$((total + n)); done
	assert_equal "$total" 50000
	[ "${#lines[@]}" -gt 10 ]
	run -0 bash -c "smap --pipe --block 10k cat < '$T/in' | cmp - '$T/in'"
}

@test "--pipe keeps a last record without delimiter as it is" {
	run -0 smap --pipe -N 2 'od -An -c | tr -s " "' < <(printf 'a\nb\nc')
	assert_line --index 1 " c"
}

@test "--colsep splits records into {1} {2} ..." {
	run -0 smap --colsep , 'echo {2}-{1}-{3}' < <(printf 'a,b,c\nd,e\n')
	assert_output "$(printf 'b-a-c\ne-d-')"
}

@test "--colsep takes a regular expression; columns are quoted" {
	run -0 smap --colsep '[;:]+' printf "'<%s>'" < <(printf 'a b;;$(x):c\n')
	assert_output '<a b><$(x)><c>'
}

@test "--colsep with a bad regular expression is a usage error" {
	run -2 --separate-stderr smap --colsep '(' true
	assert_regex "${stderr_lines[0]}" '^smap: --colsep \(: '
}

@test "--help lists every option on one screen" {
	run -0 smap --help
	[ "${#lines[@]}" -le 40 ]
	local o
	for o in -0 -a -b -d -h -I -j -k -n -u -V --block --colsep --dry-run \
	    --fail-fast --halt --joblog --max-memory --pipe --progress \
	    --retries --shell --tag --timeout; do
		assert_output --partial -- "$o"
	done
}

@test "--version prints the version from configure.ac" {
	local v
	v=$(sed -n 's/^AC_INIT(\[smap\], \[\([^]]*\)\]).*/\1/p' "$BATS_TEST_DIRNAME/../configure.ac")
	run -0 smap --version
	assert_output "smap $v"
}
