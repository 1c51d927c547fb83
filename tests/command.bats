# The command line of a record: replacement strings, quoting, the shell,
# the job's environment, and the fast path that runs a program directly.
load test_helper

# Shows each argument in brackets, one a line, so that empty ones show.
show="printf '[%s]\n'"

setup() {
	cd "$BATS_TEST_TMPDIR" || return
	# Prints its argument count, then each argument in brackets.
	argv=$BATS_TEST_TMPDIR/argv
	cat > "$argv" <<-'EOF'
		#!/bin/sh
		printf '%s' "$#"
		printf ' [%s]' "$@"
		echo
	EOF
	chmod +x "$argv"
	# The paths on which GNU parallel's replacement strings are checked.
	printf '%s\n' .bashrc a.tar.gz a/b. dir.d/file a/b/ / a > paths
}

# Runs smap "$@" on the records in ./in, then again with --shell /bin/sh,
# which disables the fast path: output, stderr and status must be the same.
# One job at a time, so that the jobs' stderr comes in order.
same_as_shell() {
	run --separate-stderr timeout 10 smap -j 1 "$@" < in
	fast_status=$status fast_output=$output fast_stderr=$stderr
	run --separate-stderr timeout 10 smap -j 1 --shell /bin/sh "$@" < in
	assert_equal "$fast_output" "$output"
	assert_equal "$fast_stderr" "$stderr"
	assert_equal "$fast_status" "$status"
}

@test "{} is the record" {
	run -0 --separate-stderr timeout 10 smap "$show" '{}' < paths
	assert_output $'[.bashrc]\n[a.tar.gz]\n[a/b.]\n[dir.d/file]\n[a/b/]\n[/]\n[a]'
}

@test "{.} is the record without its extension, as in GNU parallel" {
	run -0 --separate-stderr timeout 10 smap "$show" '{.}' < paths
	assert_output $'[]\n[a.tar]\n[a/b]\n[dir.d/file]\n[a/b/]\n[/]\n[a]'
}

@test "{/} is the basename, as in GNU parallel" {
	run -0 --separate-stderr timeout 10 smap "$show" '{/}' < paths
	assert_output $'[.bashrc]\n[a.tar.gz]\n[b.]\n[file]\n[]\n[]\n[a]'
}

@test "{//} is the dirname, as in GNU parallel" {
	run -0 --separate-stderr timeout 10 smap "$show" '{//}' < paths
	assert_output $'[.]\n[.]\n[a]\n[dir.d]\n[a]\n[/]\n[.]'
}

@test "{/.} is the basename without extension, as in GNU parallel" {
	run -0 --separate-stderr timeout 10 smap "$show" '{/.}' < paths
	assert_output $'[]\n[a.tar]\n[b]\n[file]\n[]\n[]\n[a]'
}

@test "{#} is the sequence number, from 1, in input order" {
	run -0 --separate-stderr timeout 10 smap -j 3 \
	    'sleep 0.$((5 - {#})); echo {#}:{}' < <(printf '%s\n' e d c b a)
	assert_output $'1:e\n2:d\n3:c\n4:b\n5:a'
}

@test "{%} is the job slot, within 1..j, never two running at once" {
	run -0 --separate-stderr timeout 10 smap -j 3 \
	    'mkdir slot{%} || echo clash; sleep 0.2; rmdir slot{%}; echo {%}' \
	    < <(seq 9)
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 9
	for l in "${lines[@]}"; do
		[[ $l == [123] ]] || fail "slot '$l' not within 1..3"
	done
	run -0 --separate-stderr timeout 10 smap -j 1 echo '{%}' < <(seq 3)
	assert_output $'1\n1\n1'
}

@test "-I STR replaces STR, and {} is then plain text" {
	run -0 --separate-stderr timeout 10 smap -I XX "$show" XX.XX {} \
	    < <(printf 'a b\nc\n')
	assert_output $'[a b.a b]\n[{}]\n[c.c]\n[{}]'
}

@test "without a replacement string the record is appended as one word" {
	run -0 --separate-stderr timeout 10 smap "$argv" first < <(echo 'a b')
	assert_output "2 [first] [a b]"
}

@test "{#} or {%} alone is a replacement: nothing is appended" {
	run -0 --separate-stderr timeout 10 smap -j 1 "$argv" '{#}' \
	    < <(printf 'zz\nyy\n')
	assert_output $'1 [1]\n1 [2]'
	run -0 --separate-stderr timeout 10 smap -j 1 "$argv" '{%}' \
	    < <(printf 'zz\nyy\n')
	assert_output $'1 [1]\n1 [1]'
}

@test "the words are joined with spaces into one shell command line" {
	run -0 --separate-stderr timeout 10 smap 'echo a; echo {}' \
	    < <(printf 'x\ny\n')
	assert_output $'a\nx\na\ny'
	run -0 --separate-stderr timeout 10 smap echo {} '|' tr a-z A-Z \
	    < <(printf 'abc\n')
	assert_output "ABC"
}

@test "the line runs as sh -c LINE" {
	run -0 --separate-stderr timeout 10 smap 'echo "[$BASH_VERSION]" $0' \
	    < <(echo x)
	assert_output "$(/bin/sh -c 'echo "[$BASH_VERSION]" sh x')"
}

@test "--shell /bin/bash runs the line with bash" {
	run -0 --separate-stderr timeout 10 smap --shell /bin/bash \
	    'echo "[$BASH_VERSION]"' < <(echo x)
	assert_output --regexp '^\[[0-9][^]]*\] x$'
}

# The records that must each reach the command as exactly one word.
nasty=(
	'$(touch marker)' '`touch marker`' '$(touch marker' "it's" "'" '"'
	'say "hi"' "'\"'\"" 'back\slash' '\' '\n' 'a;touch marker'
	'a && touch marker' 'a || touch marker' 'a | touch marker' 'a > marker'
	'< marker' 'a & touch marker' '&' '*' '?' '[ab]' 'a*' '~' '~/x' '~root'
	'-n' '-e' '--' '-' ' leading space' 'trailing space ' 'two  spaces'
	$'tab\there' $'\t' $'new\nline' $'\n' $'trailing newline\n'
	$'\xff\xfe invalid \xc3\x28 utf-8 \xed\xa0\x80' '$HOME' '${HOME}' '$1'
	'$@' '!' '!!' '#' 'a #b' '%' '%s' '{}' '{.}' '{#}' 'x=1' 'PATH=' '('
	')' '{' '}' 'if' 'then' 'exit 1' ' ' ''
)

@test "a record reaches the command as exactly one word, never interpreted" {
	touch a b ab
	printf '%s\0' "${nasty[@]}" > in
	printf '1 [%s]\n' "${nasty[@]}" > expected
	timeout 10 smap -0 "$argv" < in > out
	cmp expected out
	[ ! -e marker ] || fail "the shell interpreted a record"
}

@test "a record is one word with {}, inside a word, twice, through a shell" {
	touch a b ab
	printf '%s\0' "${nasty[@]}" > in
	for r in "${nasty[@]}"; do
		printf '3 [%s] [x%sy] [%s]\n' "$r" "$r" "$r"
	done > expected
	timeout 10 smap -0 "$argv" {} x{}y '{}' < in > out
	cmp expected out
	timeout 10 smap -0 --shell /bin/bash "$argv" {} x{}y '{}' < in > out
	cmp expected out
	timeout 10 smap -0 \
	    "sh -c 'printf %s \$#; printf \" [%s]\" \"\$@\"; echo' sh" \
	    {} x{}y {} < in > out
	cmp expected out
	[ ! -e marker ] || fail "the shell interpreted a record"
}

@test "a job has SMAP_SEQ and SMAP_SLOT in its environment" {
	run -0 --separate-stderr timeout 10 smap -j 3 \
	    'sleep 0.1; echo $SMAP_SEQ $SMAP_SLOT {#} {%}' < <(seq 7)
	assert_equal "${#lines[@]}" 7
	n=0
	for l in "${lines[@]}"; do
		n=$((n + 1))
		read -r seq slot hseq hslot <<<"$l"
		assert_equal "$seq" "$n"
		assert_equal "$hseq" "$n"
		assert_equal "$slot" "$hslot"
		[[ $slot == [123] ]] || fail "SMAP_SLOT '$slot' not within 1..3"
	done
}

@test "a program run directly has SMAP_SEQ, SMAP_SLOT and smap's environment" {
	run -0 --separate-stderr env SMAP_TEST_VAR=kept timeout 10 \
	    smap -j 1 printenv SMAP_SEQ SMAP_TEST_VAR \
	    < <(printf 'SMAP_SLOT\nSMAP_SLOT\n')
	assert_output $'1\nkept\n1\n2\nkept\n1'
}

@test "fast path: printf gives what the shell gives" {
	printf 'a b\nc\n' > in
	same_as_shell printf %s:
	assert_equal "$status" 0
	assert_output "a b:c:"
	same_as_shell /usr/bin/printf %s-
	assert_equal "$status" 0
	assert_output "a b-c-"
}

@test "fast path: env sees the environment the shell gives" {
	printf 'A=1\n' > in
	run -0 --separate-stderr env -i PATH="$PATH" HOME="$HOME" PWD="$PWD" \
	    X='a b' Y= timeout 10 smap -j 1 env -u SMAP_NOSUCH < in
	fast=$(sort <<<"$output")
	run -0 --separate-stderr env -i PATH="$PATH" HOME="$HOME" PWD="$PWD" \
	    X='a b' Y= timeout 10 smap -j 1 --shell /bin/sh env -u SMAP_NOSUCH \
	    < in
	assert_equal "$fast" "$(sort <<<"$output")"
	assert_line A=1
	assert_line 'X=a b'
	assert_line Y=
	assert_line SMAP_SEQ=1
	assert_line SMAP_SLOT=1
}

@test "fast path: env lacks what the shell drops (an exported function)" {
	printf 'A=1\n' > in
	run -0 --separate-stderr env -i PATH="$PATH" HOME="$HOME" PWD="$PWD" \
	    $'BASH_FUNC_f%%=() {  echo f\n}' timeout 10 \
	    smap -j 1 env -u SMAP_NOSUCH < in
	fast=$(sort <<<"$output")
	run -0 --separate-stderr env -i PATH="$PATH" HOME="$HOME" PWD="$PWD" \
	    $'BASH_FUNC_f%%=() {  echo f\n}' timeout 10 \
	    smap -j 1 --shell /bin/sh env -u SMAP_NOSUCH < in
	assert_equal "$fast" "$(sort <<<"$output")"
}

@test "fast path: a missing or stale PWD is set as the shell sets it" {
	printf 'A=1\n' > in
	# shellcheck disable=SC2086
	for pwd in "" PWD=/ PWD=/nonexistent "PWD=$PWD"; do
		run -0 --separate-stderr env -i PATH="$PATH" $pwd timeout 10 \
		    smap -j 1 env -u SMAP_NOSUCH < in
		fast=$(sort <<<"$output")
		run -0 --separate-stderr env -i PATH="$PATH" $pwd timeout 10 \
		    smap -j 1 --shell /bin/sh env -u SMAP_NOSUCH < in
		assert_equal "$fast" "$(sort <<<"$output")"
	done
}

@test "fast path: a program found on PATH, and a record with spaces" {
	mkdir bin
	cp "$argv" bin/showargs
	printf 'a  b\n-n\n' > in
	PATH=$BATS_TEST_TMPDIR/bin:$PATH same_as_shell showargs x
	assert_equal "$status" 0
	assert_output $'2 [x] [a  b]\n2 [x] [-n]'
}

@test "fast path: a missing program is 127, as from the shell: smap exits 123" {
	no_valgrind "a failed execve"
	printf 'a\nb\n' > in
	same_as_shell nosuch_smap_program
	assert_equal "$status" 123
	same_as_shell nosuch_smap_program x
	assert_equal "$status" 123
	assert_output ""
	[[ $stderr == *nosuch_smap_program*"not found"* ]]
}

@test "fast path: a program in the current directory is not searched for" {
	no_valgrind "a failed execve"
	cp "$argv" cwdprog
	printf 'a\n' > in
	same_as_shell cwdprog
	assert_equal "$status" 123
	same_as_shell cwdprog x
	assert_equal "$status" 123
	assert_output ""
}

@test "fast path: a file that is not executable is 126: smap exits 123" {
	no_valgrind "a failed execve"
	printf 'echo ran\n' > noexec
	chmod 644 noexec
	printf 'a\n' > in
	same_as_shell "$BATS_TEST_TMPDIR/noexec"
	assert_equal "$status" 123
	same_as_shell "$BATS_TEST_TMPDIR/noexec" x
	assert_equal "$status" 123
	assert_output ""
	[[ $stderr == *noexec*"Permission denied"* ]]
}

@test "fast path: a directory as the program is 126: smap exits 123" {
	no_valgrind "a failed execve"
	mkdir dir
	printf 'a\n' > in
	same_as_shell "$BATS_TEST_TMPDIR/dir"
	assert_equal "$status" 123
	same_as_shell "$BATS_TEST_TMPDIR/dir" x
	assert_equal "$status" 123
	assert_output ""
	[[ $stderr == *dir*"Permission denied"* ]]
}

@test "fast path: a script without #! is run by the shell" {
	no_valgrind "a failed execve"
	printf 'echo "script:$#:$1"\n' > noshebang
	chmod 755 noshebang
	printf 'a b\nc\n' > in
	same_as_shell "$BATS_TEST_TMPDIR/noshebang"
	assert_equal "$status" 0
	assert_output $'script:1:a b\nscript:1:c'
	same_as_shell "$BATS_TEST_TMPDIR/noshebang" x
	assert_equal "$status" 0
	assert_output $'script:2:x\nscript:2:x'
}

@test "fast path: a program that fails is the same failure" {
	printf 'a\nb\n' > in
	same_as_shell /bin/false
	assert_equal "$status" 123
	same_as_shell /bin/false x
	assert_equal "$status" 123
	same_as_shell ls "$BATS_TEST_TMPDIR/nosuch"
	assert_equal "$status" 123
	[[ $stderr == *nosuch* ]]
}

@test "a record in command position is a word, never an assignment or a keyword" {
	run -123 --separate-stderr smap -j1 '{} env' < <(printf 'A=1\nif\nin\ndone\n')
	refute_output --partial "A=1"
	assert_equal "$(sort <<<"$stderr")" "$(printf 'sh: 1: A=1: not found\nsh: 1: done: not found\nsh: 1: if: not found\nsh: 1: in: not found')"
}
