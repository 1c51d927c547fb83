/*
 * Unit tests of the pure pieces: shell quoting (checked against a real
 * /bin/sh), replacement strings, templates, record splitting, -d.
 */

#include <sys/wait.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smap.h"

struct opts opt = { .window = 10, .delim = '\n', .repl = "{}", .njobs = 1 };

static int	fails, checks;

/* Stubs for what smap.c provides to the modules. */
void smap_stop(enum stop w, int sig) { (void)w; (void)sig; }
int smap_stopping(void) { return 0; }
void smap_wake(void) { }
void __dead smap_fatal(const char *what) { err(1, "%s", what); }

#define CHECK(c) do {							\
	checks++;							\
	if (!(c)) {							\
		fails++;						\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);	\
	}								\
} while (0)

/* What /bin/sh -c 'printf %s WORD' prints, WORD being s quoted. */
static int
shell_roundtrip(const char *s, size_t n)
{
	char	*q, *cmd, out[4096];
	size_t	 qn, got = 0;
	ssize_t	 r;
	int	 p[2], status;
	pid_t	 pid;

	q = xmalloc(4 * n + 2);
	qn = cmd_quote(q, s, n);
	cmd = xmalloc(qn + 16);
	memcpy(cmd, "printf %s ", 10);
	memcpy(cmd + 10, q, qn);
	cmd[10 + qn] = '\0';
	if (pipe(p) == -1 || (pid = fork()) == -1)
		err(1, "pipe/fork");
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], out + got, sizeof(out) - got)) > 0)
		got += r;
	close(p[0]);
	waitpid(pid, &status, 0);
	free(q);
	free(cmd);
	return status == 0 && got == n && memcmp(out, s, n) == 0;
}

static void
test_quote(void)
{
	static const char *const words[] = {
		"plain", "a b", "it's", "\"dq\"", "$(touch /tmp/smap-unit-x)",
		"`id`", "a;b", "a&&b", "a|b", ">f", "*", "?", "[a]", "~",
		"-n", "\\", "\\'", "''", "a\nb", "\t", "%s", "$HOME", "!",
		"\xff\xfe", "{}", "#c",
	};
	char	 buf[64], all[256];
	size_t	 i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		CHECK(shell_roundtrip(words[i], strlen(words[i])));
	CHECK(access("/tmp/smap-unit-x", F_OK) == -1);
	/* Every byte but NUL, in one word. */
	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	CHECK(shell_roundtrip(all, 255));
	/* Safe words stay as they are; others get single quotes. */
	CHECK(cmd_quote(buf, "a-b_c.d/e", 9) == 9 &&
	    memcmp(buf, "a-b_c.d/e", 9) == 0);
	CHECK(cmd_quote(buf, "", 0) == 2 && memcmp(buf, "''", 2) == 0);
	/* A record in command position: no assignment, no reserved word. */
	CHECK(cmd_quote(buf, "A=1", 3) == 5 && memcmp(buf, "'A=1'", 5) == 0);
	CHECK(cmd_quote(buf, "if", 2) == 4 && memcmp(buf, "'if'", 4) == 0);
	CHECK(cmd_quote(buf, "in", 2) == 4);
	CHECK(cmd_quote(buf, "iff", 3) == 3);
	CHECK(cmd_quote(buf, "-n", 2) == 4 && memcmp(buf, "'-n'", 4) == 0);
	CHECK(cmd_quote(buf, "'", 1) == 6 && memcmp(buf, "''\\'''", 6) == 0);
}

/* cmd_expand of type t on s equals want. */
static int
expands(int t, const char *s, const char *want)
{
	const char	*p;
	size_t		 n;

	n = cmd_expand(t, s, strlen(s), &p);
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

static void
test_expand(void)
{
	enum { REC = 1, NOEXT, BASE, DIR, BASENOEXT };	/* as in cmd.c */

	CHECK(expands(REC, "a/b.c", "a/b.c"));
	CHECK(expands(NOEXT, "a.tar.gz", "a.tar"));
	CHECK(expands(NOEXT, ".bashrc", ""));
	CHECK(expands(NOEXT, "a/b.", "a/b"));
	CHECK(expands(NOEXT, "dir.d/file", "dir.d/file"));
	CHECK(expands(BASE, "a/b/", ""));
	CHECK(expands(BASE, "/", ""));
	CHECK(expands(BASE, "dir.d/file", "file"));
	CHECK(expands(BASE, "a", "a"));
	CHECK(expands(DIR, "a/b/", "a"));
	CHECK(expands(DIR, "/", "/"));
	CHECK(expands(DIR, "a", "."));
	CHECK(expands(DIR, "/a", "/"));
	CHECK(expands(DIR, "a//b", "a"));
	CHECK(expands(DIR, "", "."));
	CHECK(expands(BASENOEXT, "a/b.", "b"));
	CHECK(expands(BASENOEXT, "x/.bashrc", ""));
	CHECK(expands(BASENOEXT, "d.d/f.tar.gz", "f.tar"));
}

static void
test_scan(void)
{
	int	c;

	CHECK(feed_scan("ab\ncd", 5, '\n', &c) == 2 && c == 1);
	CHECK(feed_scan("abcd", 4, '\n', &c) == 4 && c == 0);
	CHECK(feed_scan("\n", 1, '\n', &c) == 0 && c == 1);
	CHECK(feed_scan("a\0b", 3, '\0', &c) == 1 && c == 1);
	CHECK(feed_scan("", 0, '\n', &c) == 0 && c == 0);
	CHECK(feed_delim("\\n") == '\n');
	CHECK(feed_delim("\\t") == '\t');
	CHECK(feed_delim("\\0") == '\0');
	CHECK(feed_delim("\\\\") == '\\');
	CHECK(feed_delim("\\x41") == 'A');
	CHECK(feed_delim("\\xff") == 0xff);
	CHECK(feed_delim(",") == ',');
	CHECK(feed_delim("ab") == -1);
	CHECK(feed_delim("") == -1);
	CHECK(feed_delim("\\q") == -1);
	CHECK(feed_delim("\\x") == -1);
	CHECK(feed_delim("\\x123") == -1);
	CHECK(feed_delim("\\xzz") == -1);
}

/* The template of words, expanded for record r, seq 7, slot 2. */
static const char *
line(int argc, char **argv, const char *r, int *direct)
{
	static struct job	j;

	cmd_init(argc, argv);
	j.rec = (char *)r;
	j.len = j.end1 = strlen(r);
	j.nrec = 1;
	j.seq = 7;
	*direct = cmd_direct();
	return cmd_line(&j, 2, NULL);
}

static void
test_template(void)
{
	struct job	 j = { .rec = "a b", .len = 3, .seq = 3, .nrec = 1,
			    .end1 = 3 };
	char		*a1[] = { "echo" };
	char		*a2[] = { "printf", "%s-{}-{#}-{%}\\n" };
	char		*a3[] = { "sleep 1; echo {}" };
	char		*a4[] = { "cat", "{.}", "x{/}y" };
	char		*a5[] = { "FOO=1", "env" };
	char		*a6[] = { "echo {#}" };
	char	*const	*av;
	int		 d;

	CHECK(strcmp(line(1, a1, "a b", &d), "echo 'a b'") == 0 && !d);
	CHECK(strcmp(line(2, a2, "x", &d), "printf %s-x-7-2\\n") == 0 &&
	    !d);
	CHECK(strcmp(line(1, a3, "it's", &d),
	    "sleep 1; echo 'it'\\''s'") == 0 && !d);
	CHECK(strcmp(line(3, a4, "d/f.c", &d), "cat d/f xf.cy") == 0 && d);
	av = cmd_argv(&j, 1);
	CHECK(strcmp(av[0], "cat") == 0 && strcmp(av[1], "a b") == 0 &&
	    strcmp(av[2], "xa by") == 0 && av[3] == NULL);
	CHECK(strcmp(line(2, a5, "q", &d), "FOO=1 env q") == 0 && !d);
	CHECK(strcmp(line(1, (char *[]){ "-x" }, "q", &d), " -x q") == 0);
	/* {#} counts as a replacement string: nothing is appended. */
	CHECK(strcmp(line(1, a6, "q", &d), "echo 7") == 0);
	opt.repl = "XX";
	CHECK(strcmp(line(2, (char *[]){ "cat", "XX{}" }, "r", &d),
	    "cat r{}") == 0);
	opt.repl = "{}";
	/* -n: each record quoted, joined by spaces. */
	{
		size_t		 ends[2] = { 4, 4 };
		struct job	 m = { .rec = "aa bc", .len = 4, .nrec = 3,
				    .end1 = 1, .ends = ends, .seq = 1 };

		opt.maxargs = 3;
		cmd_init(2, (char *[]){ "echo", "<{}>" });
		CHECK(strcmp(cmd_line(&m, 1, NULL), "echo <a 'a b' ''>") == 0);
		CHECK(!cmd_direct());
		opt.maxargs = 1;
	}
	/* --colsep: columns; past the last, empty; none: all appended. */
	opt.colsep = ",";
	CHECK(strcmp(line(2, (char *[]){ "echo", "{2}{1}{4}" }, "a,b c,", &d),
	    "echo 'b c'a''") == 0);
	CHECK(strcmp(line(1, a1, "x,,y", &d), "echo x '' y") == 0);
	opt.colsep = NULL;
}

int
main(void)
{
	test_quote();
	test_expand();
	test_scan();
	test_template();
	printf("%d passed, %d failed\n", checks - fails, fails);
	return fails != 0;
}
