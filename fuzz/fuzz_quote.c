/*
 * Fuzzes cmd_quote: for any bytes without NUL (the input is split at
 * NUL into words), the quoted word stands for exactly those bytes, as
 * one word, wherever it stands in a command line.
 *
 * Every input, in process: the quoted word fits the 4n + 2 bytes that
 * callers allocate (an exact allocation, so ASan sees one byte more);
 * parsed back by shell.c's model it is one word with no unquoted
 * metacharacter and gives the bytes back; bare (unquoted) it is neither
 * a reserved word nor an assignment, which would change its meaning as
 * the first word of a line ({} cmd with the record A=1 or if).
 *
 * Inputs under 200 bytes, with a real /bin/sh: printf '%s|' Q1 Q2 ...
 * prints w1|w2|...; and for a word left bare, Q x in command position
 * does what the single-quoted word does (same output, same status).
 *
 * SMAP_FUZZ_LAX=1 in the environment skips the command-position checks
 * (reserved words, assignments) to look for other failures.
 */

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smap.h"
#include "shell.h"

#define SHELL_MAX	200	/* run the real shell below this input size */
#define CMDPOS_MAX	4	/* command-position runs per input */

static int	lax;

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz_quote: " __VA_ARGS__);			\
	fputc('\n', stderr);						\
	abort();							\
} while (0)

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*s;

	(void)argc;
	(void)argv;
	lax = (s = getenv("SMAP_FUZZ_LAX")) != NULL && *s != '\0' &&
	    strcmp(s, "0") != 0;
	return 0;
}

/* Quotes w (n bytes) into a fresh, exactly sized buffer. */
static char *
quote(const char *w, size_t n, size_t *qn)
{
	char	*q;

	if ((q = malloc(4 * n + 2)) == NULL)
		abort();
	*qn = cmd_quote(q, w, n);
	if (*qn > 4 * n + 2)
		FAIL("quoted length %zu > 4 * %zu + 2", *qn, n);
	return q;
}

/* The reference quoting: always single quotes, each ' as '\''. */
static size_t
refquote(char *out, const char *s, size_t n)
{
	size_t	i, o = 0;

	out[o++] = '\'';
	for (i = 0; i < n; i++) {
		if (s[i] == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else
			out[o++] = s[i];
	}
	out[o++] = '\'';
	return o;
}

/* In-process checks of one word w (n bytes) and its quoting q. */
static void
check_word(const char *w, size_t n, const char *q, size_t qn)
{
	static struct shwords	 words;
	struct shwords		*sw = &words;

	if (memchr(q, '\0', qn) != NULL)
		FAIL("quoted word has a NUL byte");
	if (sh_split(q, qn, sw) == -1)
		FAIL("quoted word of %zu bytes has an unquoted "
		    "metacharacter or an open quote: [%.*s]", n, (int)qn, q);
	if (sw->n != 1)
		FAIL("quoted word of %zu bytes is %zu words: [%.*s]", n,
		    sw->n, (int)qn, q);
	if (sw->len[0] != n || memcmp(sw->buf + sw->off[0], w, n) != 0)
		FAIL("quoted word does not parse back: [%.*s]", (int)qn, q);
	if (!lax && sw->bare[0] && sh_reserved(q, qn))
		FAIL("quoted word is a bare reserved word: [%.*s]", (int)qn,
		    q);
	if (!lax && sh_assignment(q, sw->prefix[0]))
		FAIL("quoted word is an assignment in command position: "
		    "[%.*s]", (int)qn, q);
	sh_free(sw);
}

/* printf '%s|' with every word, through the real shell. */
static void
check_printf(const unsigned char *data, size_t size)
{
	char	*cmd, *want, *got, *q;
	size_t	 i, start, o, w, qn, gotn;
	int	 status;

	cmd = malloc(16 + 4 * size + 3 * (size + 1));
	want = malloc(2 * size + 2);
	got = malloc(2 * size + 64);
	if (cmd == NULL || want == NULL || got == NULL)
		abort();
	o = strlcpy(cmd, "printf '%s|'", 16);
	for (w = start = i = 0; i <= size; i++) {
		if (i < size && data[i] != '\0')
			continue;
		cmd[o++] = ' ';
		q = cmd + o;
		qn = cmd_quote(q, (const char *)data + start, i - start);
		o += qn;
		memcpy(want + w, data + start, i - start);
		w += i - start;
		want[w++] = '|';
		start = i + 1;
	}
	cmd[o] = '\0';
	sh_run(cmd, got, 2 * size + 64, &gotn, &status);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || gotn != w ||
	    memcmp(got, want, w) != 0)
		FAIL("/bin/sh -c [%s] printed [%.*s] (%zu bytes, status "
		    "%#x), not [%.*s]", cmd, (int)(gotn < 2 * size + 64 ? gotn :
		    2 * size + 64), got, gotn, status, (int)w, want);
	free(cmd);
	free(want);
	free(got);
}

/*
 * A word that cmd_quote left other than single-quoted, as the first word
 * of a line: the shell must treat it as the single-quoted word.  Words
 * with a slash would run a program by path: not here.
 */
static int
check_cmdpos(const char *w, size_t n, const char *q, size_t qn)
{
	char	 a[512], b[512], outa[1024], outb[1024];
	size_t	 an, la, lb;
	int	 sa, sb;

	if (n == 0 || n > 100 || memchr(w, '/', n) != NULL)
		return 0;
	an = refquote(a, w, n);
	if (an == qn && memcmp(a, q, qn) == 0)
		return 0;
	memcpy(a + an, " x", 3);
	memcpy(b, q, qn);
	memcpy(b + qn, " x", 3);
	sh_run(a, outa, sizeof(outa), &la, &sa);
	sh_run(b, outb, sizeof(outb), &lb, &sb);
	if (sa != sb || la != lb || memcmp(outa, outb,
	    la < sizeof(outa) ? la : sizeof(outa)) != 0)
		FAIL("[%s] and [%s] differ in the shell: status %#x, %#x; "
		    "output [%.*s], [%.*s]", b, a, sb, sa,
		    (int)(lb < sizeof(outb) ? lb : sizeof(outb)), outb,
		    (int)(la < sizeof(outa) ? la : sizeof(outa)), outa);
	return 1;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char	*w;
	char		*q;
	size_t		 i, start, n, qn;
	int		 runs = 0;

	for (start = i = 0; i <= size; i++) {
		if (i < size && data[i] != '\0')
			continue;
		w = (const char *)data + start;
		n = i - start;
		q = quote(w, n, &qn);
		check_word(w, n, q, qn);
		if (!lax && size < SHELL_MAX && runs < CMDPOS_MAX)
			runs += check_cmdpos(w, n, q, qn);
		free(q);
		start = i + 1;
	}
	if (size < SHELL_MAX)
		check_printf(data, size);
	return 0;
}
