# Input: records, delimiters, -a, bytes, bad records, laziness.
load test_helper

# Shows each record in brackets, one a line, so that empty records show.
show="printf '[%s]\n'"

@test "a record ends at a newline" {
	run -0 --separate-stderr timeout 10 smap "$show" \
	    < <(printf 'one\ntwo words\nthree\n')
	assert_output $'[one]\n[two words]\n[three]'
	assert_equal "$stderr" ""
}

@test "a last record without a delimiter still counts" {
	run -0 --separate-stderr timeout 10 smap "$show" < <(printf 'one\ntwo')
	assert_output $'[one]\n[two]'
}

@test "a final delimiter does not make an empty record" {
	timeout 10 smap "$show" < <(printf 'one\ntwo\n') > "$BATS_TEST_TMPDIR/out"
	printf '[one]\n[two]\n' > "$BATS_TEST_TMPDIR/expected"
	cmp "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/out"
}

@test "an empty line is a record" {
	run -0 --separate-stderr timeout 10 smap "$show" \
	    < <(printf '\none\n\n\ntwo\n')
	assert_output $'[]\n[one]\n[]\n[]\n[two]'
}

@test "a lone newline is one empty record" {
	run -0 --separate-stderr timeout 10 smap "$show" < <(printf '\n')
	assert_output "[]"
}

@test "empty input runs no job and exits 0" {
	run -0 --separate-stderr timeout 10 \
	    smap "touch $BATS_TEST_TMPDIR/ran.{#}" < <(:)
	assert_output ""
	assert_equal "$stderr" ""
	run -0 --separate-stderr timeout 10 \
	    smap "touch $BATS_TEST_TMPDIR/ran.{#}" < /dev/null
	assert_output ""
	assert_equal "$stderr" ""
	assert_equal "$(cd "$BATS_TEST_TMPDIR" && echo ran.*)" "ran.*"
}

@test "-0 ends a record at a NUL byte" {
	run -0 --separate-stderr timeout 10 smap -0 "$show" \
	    < <(printf 'a b\0c\nd\0\0e')
	assert_output $'[a b]\n[c\nd]\n[]\n[e]'
}

@test "--null is -0, and a final NUL makes no empty record" {
	run -0 --separate-stderr timeout 10 smap --null "$show" \
	    < <(printf 'a\0b\n\0')
	assert_output $'[a]\n[b\n]'
}

@test "-d C ends a record at a plain byte" {
	run -0 --separate-stderr timeout 10 smap -d , "$show" \
	    < <(printf 'a,b\nc,,d')
	assert_output $'[a]\n[b\nc]\n[]\n[d]'
}

@test "-d '\\n' is a newline" {
	run -0 --separate-stderr timeout 10 smap -d '\n' "$show" \
	    < <(printf 'a\tb\nc,d\n')
	assert_output $'[a\tb]\n[c,d]'
}

@test "-d '\\t' is a tab" {
	run -0 --separate-stderr timeout 10 smap -d '\t' "$show" \
	    < <(printf 'a\tb c\nd\t')
	assert_output $'[a]\n[b c\nd]'
}

@test "-d '\\0' is a NUL byte" {
	run -0 --separate-stderr timeout 10 smap -d '\0' "$show" \
	    < <(printf 'a\0b\nc\0')
	assert_output $'[a]\n[b\nc]'
}

@test "-d '\\\\' is a backslash" {
	run -0 --separate-stderr timeout 10 smap -d '\\' "$show" \
	    < <(printf 'a\\b n\\')
	assert_output $'[a]\n[b n]'
}

@test "-d '\\xHH' is the byte HH in hex" {
	run -0 --separate-stderr timeout 10 smap -d '\x3b' "$show" \
	    < <(printf 'a;b c;x')
	assert_output $'[a]\n[b c]\n[x]'
	run -0 --separate-stderr timeout 10 smap -d '\xff' "$show" \
	    < <(printf 'a\xffb\n\xff')
	assert_output $'[a]\n[b\n]'
}

@test "-a FILE reads the records from FILE, not from stdin" {
	printf 'from\nthe file\n' > "$BATS_TEST_TMPDIR/args"
	run -0 --separate-stderr timeout 10 \
	    smap -a "$BATS_TEST_TMPDIR/args" "$show" < <(printf 'stdin\n')
	assert_output $'[from]\n[the file]'
	assert_equal "$stderr" ""
}

@test "-a with a missing file exits 1 and names it" {
	run -1 --separate-stderr timeout 10 \
	    smap -a "$BATS_TEST_TMPDIR/missing" echo < /dev/null
	assert_output ""
	assert_equal "$stderr" \
	    "smap: $BATS_TEST_TMPDIR/missing: No such file or directory"
}

@test "-a with a directory exits 1 and names it" {
	run -1 --separate-stderr timeout 10 \
	    smap -a "$BATS_TEST_TMPDIR" echo < /dev/null
	assert_output ""
	assert_equal "$stderr" "smap: $BATS_TEST_TMPDIR: Is a directory"
}

@test "stdin a directory exits 1 with 'smap: stdin: Is a directory'" {
	run -1 --separate-stderr timeout 10 smap echo < "$BATS_TEST_TMPDIR"
	assert_output ""
	assert_equal "$stderr" "smap: stdin: Is a directory"
}

@test "records are bytes: invalid UTF-8 passes through unchanged" {
	d=$BATS_TEST_TMPDIR
	printf 'a\xff\xfeb\n\xc3\x28\n\x80\n\xed\xa0\x80z\n' > "$d/in"
	timeout 10 smap "printf '%s\n'" < "$d/in" > "$d/out"
	cmp "$d/in" "$d/out"
}

@test "records are bytes: CRLF keeps the carriage return in the record" {
	d=$BATS_TEST_TMPDIR
	timeout 10 smap "$show" < <(printf 'a\r\nb c\r\n') > "$d/out"
	printf '[a\r]\n[b c\r]\n' > "$d/expected"
	cmp "$d/expected" "$d/out"
}

@test "a 100 kB record arrives whole" {
	d=$BATS_TEST_TMPDIR
	head -c 100000 /dev/zero | tr '\0' x > "$d/record"
	{ cat "$d/record"; echo; } > "$d/in"
	timeout 10 smap "$show" < "$d/in" > "$d/out"
	{ printf '['; cat "$d/record"; printf ']\n'; } > "$d/expected"
	cmp "$d/expected" "$d/out"
}

@test "a 1 MiB record is read, reported too long, counted failed" {
	d=$BATS_TEST_TMPDIR
	{
		echo a
		head -c 1048576 /dev/zero | tr '\0' x
		echo
		echo c
	} > "$d/in"
	run -123 --separate-stderr timeout 10 smap "$show" < "$d/in"
	assert_output $'[a]\n[c]'
	assert_equal "$stderr" "smap: record 2: longer than 131071 bytes"
}

@test "a NUL byte in newline mode is reported and counted failed" {
	run -123 --separate-stderr timeout 10 smap "$show" \
	    < <(printf 'a\nb\0c\nd\n')
	assert_output $'[a]\n[d]'
	assert_equal "$stderr" "smap: record 2: contains a NUL byte"
}

@test "input is read lazily: a slow producer gets its first output at once" {
	run -0 --separate-stderr timeout 10 bash -c '
	    { echo 1; sleep 3; echo 2; } | smap echo |
	    { IFS= read -r -t 1.5 first || exit 9; echo "$first"; cat; }'
	assert_output $'1\n2'
}
