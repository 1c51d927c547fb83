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
