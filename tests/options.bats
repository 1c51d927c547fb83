# Options: parsing, usage errors, --help, --version, long forms.
load test_helper

# Shows each record in brackets, one a line.
show="printf '[%s]\n'"

# Checks that the last run was a usage error whose first line is "smap: $1".
assert_usage_error() {
	assert_equal "$status" 2
	assert_output ""
	assert_equal "$stderr" "smap: $1
Try 'smap --help' for more information."
}

# Checks that the usage text in $output names option $1 as a whole word.
assert_mentions() {
	local re="(^|[^-[:alnum:]])$1($|[^-[:alnum:]])"
	[[ $output =~ $re ]] || fail "--help does not mention $1"
}

# Runs smap "$@" on three records that each wait, up to 5 s, until three
# jobs have started: each prints its record and how many had started.
three_at_once() {
	local d=$BATS_TEST_TMPDIR/started
	rm -rf "$d"
	mkdir "$d"
	run -0 --separate-stderr timeout 10 smap "$@" \
	    "touch $d/{}; i=0
	    while [ \$(ls $d | wc -l) -lt 3 ] && [ \$i -lt 100 ]; do
		sleep 0.05; i=\$((i + 1))
	    done; echo {} \$(ls $d | wc -l)" < <(printf '1\n2\n3\n')
	assert_output $'1 3\n2 3\n3 3'
}

@test "-j 0 is refused" {
	run -2 --separate-stderr smap -j 0 true < /dev/null
	assert_usage_error "-j 0: too small"
}

@test "-j 3x is refused" {
	run -2 --separate-stderr smap -j 3x true < /dev/null
	assert_usage_error "-j 3x: invalid"
}

@test "-j x is refused" {
	run -2 --separate-stderr smap -j x true < /dev/null
	assert_usage_error "-j x: invalid"
}

@test "-b 0 is refused" {
	run -2 --separate-stderr smap -b 0 true < /dev/null
	assert_usage_error "-b 0: too small"
}

@test "-b x is refused" {
	run -2 --separate-stderr smap -b x true < /dev/null
	assert_usage_error "-b x: invalid"
}

@test "-d with more than one byte is refused" {
	run -2 --separate-stderr smap -d ab true < /dev/null
	assert_usage_error "-d ab: not a single byte"
}

@test "an unknown long option is a usage error" {
	run -2 --separate-stderr smap --foo true < /dev/null
	# getopt's own message names argv[0] (a full path under valgrind).
	stderr=smap:${stderr#*smap:}
	assert_usage_error "unrecognized option '--foo'"
}

@test "an unknown short option is a usage error" {
	run -2 --separate-stderr smap -y true < /dev/null
	stderr=smap:${stderr#*smap:}
	assert_usage_error "invalid option -- 'y'"
}

@test "a missing command is a usage error" {
	run -2 --separate-stderr smap < /dev/null
	assert_usage_error "missing command"
	run -2 --separate-stderr smap -j 2 -- < /dev/null
	assert_usage_error "missing command"
}

@test "--help prints the usage on stdout, mentions every option, exits 0" {
	run -0 --separate-stderr smap --help < /dev/null
	assert_equal "$stderr" ""
	for o in -0 --null -a --arg-file -b --buffer-size -d --delimiter \
	    -h --help -I -j --jobs -k --keep-order --max-memory --shell \
	    -u --unordered -V --version; do
		assert_mentions "$o"
	done
}

@test "-h is --help" {
	run -0 --separate-stderr smap --help < /dev/null
	help=$output
	run -0 --separate-stderr smap -h < /dev/null
	assert_output "$help"
	assert_equal "$stderr" ""
}

@test "--version prints 'smap 0.1'" {
	run -0 --separate-stderr smap --version < /dev/null
	assert_output "smap 0.1"
	assert_equal "$stderr" ""
	run -0 --separate-stderr smap -V < /dev/null
	assert_output "smap 0.1"
}

@test "-j 3 runs three jobs at once" {
	three_at_once -j 3
}

@test "-j3, --jobs 3 and --jobs=3 are -j 3" {
	three_at_once -j3
	three_at_once --jobs 3
	three_at_once --jobs=3
}

@test "-j 1 runs one job at a time" {
	d=$BATS_TEST_TMPDIR
	run -0 --separate-stderr timeout 10 smap -j 1 \
	    "mkdir $d/lock || echo overlap; sleep 0.05; rmdir $d/lock; echo {}" \
	    < <(seq 6)
	assert_output $'1\n2\n3\n4\n5\n6'
	assert_equal "$stderr" ""
}

@test "-b N takes a number or inf, in every form" {
	for b in "-b 1" -b5 "--buffer-size 7" --buffer-size=2 "-b inf" \
	    --buffer-size=inf; do
		# shellcheck disable=SC2086
		run -0 --separate-stderr timeout 10 smap -j 3 $b \
		    'sleep 0.$((3 - {})); echo {}' < <(seq 3)
		assert_output $'1\n2\n3'
		assert_equal "$stderr" ""
	done
}

@test "-I STR is the replacement string in place of {}" {
	run -0 --separate-stderr timeout 10 smap -I @@ echo x@@y {} \
	    < <(printf 'a\nb\n')
	assert_output $'xay {}\nxby {}'
}

@test "--shell PATH and --shell=PATH run the line with that shell" {
	run -0 --separate-stderr timeout 10 smap --shell /bin/bash \
	    'echo ${BASH_VERSION:+bash}' < <(echo a)
	assert_output "bash a"
	run -0 --separate-stderr timeout 10 smap --shell=/bin/bash \
	    'echo ${BASH_VERSION:+bash}' < <(echo a)
	assert_output "bash a"
}

@test "-k and --keep-order are accepted; output stays in order" {
	for k in -k --keep-order; do
		run -0 --separate-stderr timeout 10 smap -j 3 "$k" \
		    'sleep 0.{}; echo {}' < <(printf '4\n2\n0\n')
		assert_output $'4\n2\n0'
	done
}

@test "-u and --unordered are accepted" {
	for u in -u --unordered; do
		run -0 --separate-stderr timeout 10 smap -j 3 "$u" echo \
		    < <(printf 'a\nb\nc\n')
		assert_equal "$(sort <<<"$output")" $'a\nb\nc'
	done
}

@test "-0 and --null are the same" {
	for o in -0 --null; do
		run -0 --separate-stderr timeout 10 smap "$o" "$show" \
		    < <(printf 'a\nb\0c')
		assert_output $'[a\nb]\n[c]'
	done
}

@test "-d C, --delimiter C and --delimiter=C are the same" {
	for o in "-d ," "--delimiter ," --delimiter=, -d,; do
		# shellcheck disable=SC2086
		run -0 --separate-stderr timeout 10 smap $o "$show" \
		    < <(printf 'a\nb,c')
		assert_output $'[a\nb]\n[c]'
	done
}

@test "-a FILE, --arg-file FILE, --arg-file=FILE" {
	f=$BATS_TEST_TMPDIR/args
	printf 'x\ny\n' > "$f"
	for o in "-a $f" "--arg-file $f" "--arg-file=$f"; do
		# shellcheck disable=SC2086
		run -0 --separate-stderr timeout 10 smap $o "$show" < /dev/null
		assert_output $'[x]\n[y]'
	done
}

@test "--max-memory takes a size with K, M or G" {
	for m in 1M 64K 2G 100000; do
		run -0 --separate-stderr timeout 10 smap --max-memory "$m" echo \
		    < <(seq 3)
		assert_output $'1\n2\n3'
	done
	run -0 --separate-stderr timeout 10 smap --max-memory=1M echo < <(seq 2)
	assert_output $'1\n2'
}

@test "--max-memory x is a usage error" {
	run -2 --separate-stderr smap --max-memory x true < /dev/null
	assert_output ""
	[[ $stderr == "smap: "*$'\n'"Try 'smap --help' for more information." ]]
}

@test "options after the command are the command's" {
	run -0 --separate-stderr timeout 10 smap "$show" -u -j 3 < <(echo a)
	assert_output $'[-u]\n[-j]\n[3]\n[a]'
}

@test "-- ends the options" {
	run -0 --separate-stderr timeout 10 smap -j 2 -- "$show" -u < <(echo a)
	assert_output $'[-u]\n[a]'
}
