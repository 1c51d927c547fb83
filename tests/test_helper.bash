# Shared set-up for the bats suite: libraries, the binary under test, helpers.
bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

# The smap under test is the first on PATH: ./src/smap, or the directory
# named by $SMAP_DIR (a sanitizer build, or a valgrind wrapper script).
PATH="${SMAP_DIR:-$BATS_TEST_DIRNAME/../src}:$PATH"

# A word unique to this test, for pgrep -f: proves no job outlives smap.
marker() {
	echo "smapmark_$$_${BATS_TEST_NUMBER}"
}

# Runs COMMAND every 0.05 s until it succeeds; fails after SECONDS (whole).
#	wait_until SECONDS COMMAND [ARG ...]
wait_until() {
	local tries=$(($1 * 20))
	shift
	until "$@"; do
		((tries-- > 0)) || return 1
		sleep 0.05
	done
}

# Pids of the live processes whose command line holds this test's marker.
# Zombies are left out: pgrep -f matches their name, and orphans wait for
# init to reap them.
marked_pids() {
	local pid
	for pid in $(pgrep -f -- "$(marker)([^0-9]|\$)"); do
		if [[ $(ps -o stat= -p "$pid") == [^Z]* ]]; then
			echo "$pid"
		fi
	done
}

# True when no live process holds this test's marker.
no_marked() {
	[[ -z $(marked_pids) ]]
}

# Kills, by pid, what this test left behind with its marker (teardown).
kill_marked() {
	local pid
	for pid in $(marked_pids); do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# Puts on PATH a sleep(1) named after the marker: "$(marker) 30" sleeps
# 30 s where pgrep -f sees it, even as a grandchild of smap.
marked_sleep() {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	ln -sf "$(command -v sleep)" "$BATS_TEST_TMPDIR/bin/$(marker)"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

# Milliseconds since the epoch.
now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	echo $((t / 1000))
}

# Starts smap in the background as a shell starts a foreground job: every
# signal at its default (a script's background jobs ignore SIGINT), without
# bats' fd 3 (bats would wait for it).  Input from $SMAP_IN (default
# /dev/null), output to $SMAP_OUT (default $BATS_TEST_TMPDIR/out), errors
# to $BATS_TEST_TMPDIR/err.  Sets SMAP_PID.
smap_bg() {
	env --default-signal smap "$@" <"${SMAP_IN:-/dev/null}" \
	    >"${SMAP_OUT:-$BATS_TEST_TMPDIR/out}" \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- 7>&- 8>&- &
	SMAP_PID=$!
}

# True when PID has ended (gone, or a zombie not yet waited for).
ended() {
	local stat
	stat=$(ps -o stat= -p "$1") || return 0
	[[ $stat == Z* ]]
}

# Waits at most SECONDS for the background PID to end; its exit status
# goes to $status.
#	wait_exit PID SECONDS
wait_exit() {
	wait_until "$2" ended "$1" || return 1
	status=0
	wait "$1" || status=$?
}

# Skips a test that cannot run under valgrind (make check-valgrind): it
# dies when a job's execve(2) fails, and uses TMPDIR and descriptors itself.
no_valgrind() {
	[ -z "${SMAP_VALGRIND:-}" ] || skip "under valgrind: $1"
}
