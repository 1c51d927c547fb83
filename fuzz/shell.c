/*
 * A model of the shell rules that quoting relies on, kept apart from
 * cmd.c's own: outside quotes only plain bytes and blanks, '...' taken
 * as it is, \c as c.  And a real /bin/sh to check the model against.
 */

#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shell.h"

#define SH_TIMEOUT_MS	10000

static char	*emptydir;

static void	rmemptydir(void);

/* Whether the shell gives byte c no meaning outside quotes. */
int
sh_plain(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("_./,:@+=%-", c) != NULL);
}

/*
 * Splits line (n bytes) into words as the shell would, for the subset
 * of the shell language above.  Returns 0, or -1 when the line has a
 * byte outside that subset (an unquoted metacharacter) or an open
 * quote.
 */
int
sh_split(const char *line, size_t n, struct shwords *w)
{
	size_t	 i, o = 0;
	int	 inword = 0, quoted = 0;
	unsigned char c;

	w->n = 0;
	w->buf = malloc(n + 1);
	if (w->buf == NULL)
		err(1, "malloc");
	for (i = 0; i < n; i++) {
		c = line[i];
		if (!inword && (c == ' ' || c == '\t'))
			continue;
		if (inword && !quoted && (c == ' ' || c == '\t')) {
			w->len[w->n - 1] = o - w->off[w->n - 1];
			w->buf[o++] = '\0';
			inword = 0;
			continue;
		}
		if (!inword) {
			if (w->n == SH_MAXWORDS) {
				fprintf(stderr, "fuzz harness: more than %d "
				    "words\n", SH_MAXWORDS);
				abort();
			}
			w->off[w->n] = o;
			w->bare[w->n] = 1;
			w->prefix[w->n] = SIZE_MAX;
			w->n++;
			inword = 1;
		}
		if (quoted) {
			if (c == '\'')
				quoted = 0;
			else
				w->buf[o++] = c;
			continue;
		}
		if (c == '\'' || c == '\\') {
			if (w->bare[w->n - 1]) {
				w->bare[w->n - 1] = 0;
				w->prefix[w->n - 1] = o - w->off[w->n - 1];
			}
			if (c == '\'')
				quoted = 1;
			else if (++i == n)
				return -1;
			else
				w->buf[o++] = line[i];
			continue;
		}
		if (!sh_plain(c))
			return -1;
		w->buf[o++] = c;
	}
	if (quoted)
		return -1;
	if (inword) {
		w->len[w->n - 1] = o - w->off[w->n - 1];
		w->buf[o++] = '\0';
	}
	for (i = 0; i < w->n; i++)
		if (w->bare[i])
			w->prefix[i] = w->len[i];
	return 0;
}

void
sh_free(struct shwords *w)
{
	free(w->buf);
	w->buf = NULL;
}

/* Whether the n bytes at s, unquoted, are a reserved word of sh or bash. */
int
sh_reserved(const char *s, size_t n)
{
	static const char *const words[] = {
		"!", "{", "}", "case", "do", "done", "elif", "else", "esac",
		"fi", "for", "if", "in", "then", "until", "while",
		"[[", "]]", "coproc", "function", "select", "time",
	};
	size_t	i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0)
			return 1;
	return 0;
}

/* Whether the n bytes at s, unquoted, start with NAME= (an assignment). */
int
sh_assignment(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') ||
	    (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; i < n; i++) {
		if (s[i] == '=')
			return 1;
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	}
	return 0;
}

static void
rmemptydir(void)
{
	rmdir(emptydir);
}

/*
 * Runs /bin/sh -c cmd in an empty directory, with PATH naming no
 * directory (only builtins run), standard input /dev/null, and
 * standard output and error both into out (cap bytes; the rest is
 * drained and counted in *outlen).  Sets *status to the wait status.
 * Aborts when the shell cannot be run or does not end in time.
 */
int
sh_run(const char *cmd, char *out, size_t cap, size_t *outlen, int *status)
{
	static char *const env[] = { "PATH=/nonexistent/smap-fuzz",
	    "LC_ALL=C", NULL };
	posix_spawn_file_actions_t fa;
	struct pollfd	 pfd;
	const char	*tmp;
	char		*av[4], sink[4096];
	ssize_t		 r;
	pid_t		 pid;
	int		 p[2], error, waited = 0;

	if (emptydir == NULL) {
		if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
			tmp = "/tmp";
		if (asprintf(&emptydir, "%s/smap-fuzz.XXXXXX", tmp) == -1)
			err(1, "asprintf");
		if (mkdtemp(emptydir) == NULL)
			err(1, "mkdtemp %s", emptydir);
		atexit(rmemptydir);
	}
	if (pipe2(p, O_CLOEXEC) == -1)
		err(1, "pipe2");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addchdir_np(&fa, emptydir);
	av[0] = "sh";
	av[1] = "-c";
	av[2] = (char *)cmd;
	av[3] = NULL;
	if ((error = posix_spawn(&pid, "/bin/sh", &fa, NULL, av, env)) != 0)
		errc(1, error, "posix_spawn /bin/sh");
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	*outlen = 0;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		if ((r = poll(&pfd, 1, SH_TIMEOUT_MS)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			fprintf(stderr, "fuzz harness: /bin/sh -c '%s' timed "
			    "out\n", cmd);
			abort();
		}
		if (*outlen < cap)
			r = read(p[0], out + *outlen, cap - *outlen);
		else
			r = read(p[0], sink, sizeof(sink));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*outlen += r;
	}
	close(p[0]);
	while (!waited)
		if (waitpid(pid, status, 0) == pid || errno != EINTR)
			waited = 1;
	return 0;
}
