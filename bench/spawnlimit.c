/*
 * spawnlimit -- the raw limit smap is measured against.
 *
 *   spawnlimit [-j N] [-o] [-x] command [arg ...]
 *
 * Reads newline-terminated records from stdin and, on N pthreads, runs one
 * job per record the way smap does, and nothing else: no ordering, no
 * window, no signal handling.  Each job is `/bin/sh -c LINE`, where LINE is
 * the command words joined by spaces with every `{}` replaced by the record
 * (quoted for the shell as smap quotes it), or the record appended as one
 * more word when there is no `{}`.  With -x the words are run directly
 * (posix_spawnp, record as the last argument or in place of `{}`), as in
 * smap's no-shell fast path.
 *
 * Each job: stdin from /dev/null, stdout to a fresh pipe, its own process
 * group, an empty signal mask, SIGPIPE at its default.  The thread reads
 * the pipe to its end and discards the bytes (or, with -o, writes them to
 * stdout as they come), then reaps the job with waitpid().
 * Exit status: 0 if every job exited 0, 123 otherwise.
 *
 * Build: cc -O2 -pthread -o spawnlimit spawnlimit.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **words;
static int nwords;
static int opt_out, opt_direct;
static pthread_mutex_t in_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int failed;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("_./,:@+=%-", c) != NULL;
}

/* Append the record, quoted for sh unless it is made of safe characters. */
static void put_quoted(char **p, const char *rec, size_t len)
{
	size_t i;
	int safe = len > 0;

	for (i = 0; i < len && safe; i++)
		safe = safe_char((unsigned char)rec[i]);
	if (safe) {
		memcpy(*p, rec, len);
		*p += len;
		return;
	}
	*(*p)++ = '\'';
	for (i = 0; i < len; i++) {
		if (rec[i] == '\'') {
			memcpy(*p, "'\\''", 4);
			*p += 4;
		} else
			*(*p)++ = rec[i];
	}
	*(*p)++ = '\'';
}

/* The shell line for one record (malloc'd). */
static char *make_line(const char *rec, size_t len)
{
	size_t cap = 16 + 4 * len + 2;
	int i, replaced = 0;
	char *line, *p;

	for (i = 0; i < nwords; i++)
		cap += strlen(words[i]) * (1 + 4 * len) + 1;
	line = p = malloc(cap);
	if (!line)
		die("malloc");
	for (i = 0; i < nwords; i++) {
		const char *w = words[i], *q;

		if (i)
			*p++ = ' ';
		while ((q = strstr(w, "{}")) != NULL) {
			memcpy(p, w, q - w);
			p += q - w;
			put_quoted(&p, rec, len);
			w = q + 2;
			replaced = 1;
		}
		p = stpcpy(p, w);
	}
	if (!replaced) {
		*p++ = ' ';
		put_quoted(&p, rec, len);
	}
	*p = '\0';
	return line;
}

/* argv for the direct mode (malloc'd; strings point into rec or words). */
static char **make_argv(char *rec)
{
	char **argv = calloc(nwords + 2, sizeof *argv);
	int i, replaced = 0;

	if (!argv)
		die("calloc");
	for (i = 0; i < nwords; i++) {
		if (strcmp(words[i], "{}") == 0) {
			argv[i] = rec;
			replaced = 1;
		} else
			argv[i] = words[i];
	}
	if (!replaced)
		argv[i++] = rec;
	argv[i] = NULL;
	return argv;
}

static void run_job(char *rec, size_t len, char *buf, size_t bufsz)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int fds[2], st, err;
	char *line = NULL, **argv = NULL;
	char *sh_argv[4];
	pid_t pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		die("pipe2");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (opt_direct) {
		argv = make_argv(rec);
		err = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	} else {
		line = make_line(rec, len);
		sh_argv[0] = "sh";
		sh_argv[1] = "-c";
		sh_argv[2] = line;
		sh_argv[3] = NULL;
		err = posix_spawn(&pid, "/bin/sh", &fa, &at, sh_argv, environ);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[1]);
	free(line);
	free(argv);
	if (err) {
		errno = err;
		perror("posix_spawn");
		close(fds[0]);
		__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
		return;
	}
	while ((n = read(fds[0], buf, bufsz)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read");
		}
		if (opt_out) {
			char *p = buf;

			pthread_mutex_lock(&out_lock);
			while (n > 0) {
				ssize_t w = write(1, p, n);

				if (w < 0) {
					if (errno == EINTR)
						continue;
					die("write");
				}
				p += w;
				n -= w;
			}
			pthread_mutex_unlock(&out_lock);
		}
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
	size_t bufsz = 128 * 1024, cap = 0;
	char *buf = malloc(bufsz), *rec = NULL;
	ssize_t len;

	(void)arg;
	if (!buf)
		die("malloc");
	for (;;) {
		pthread_mutex_lock(&in_lock);
		len = getline(&rec, &cap, stdin);
		pthread_mutex_unlock(&in_lock);
		if (len < 0)
			break;
		if (len > 0 && rec[len - 1] == '\n')
			rec[--len] = '\0';
		run_job(rec, len, buf, bufsz);
	}
	free(rec);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	long j = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t *tids;
	int c, i;

	while ((c = getopt(argc, argv, "+j:ox")) != -1) {
		switch (c) {
		case 'j':
			j = strtol(optarg, NULL, 10);
			break;
		case 'o':
			opt_out = 1;
			break;
		case 'x':
			opt_direct = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind >= argc || j < 1)
		goto usage;
	words = argv + optind;
	nwords = argc - optind;
	tids = calloc(j, sizeof *tids);
	if (!tids)
		die("calloc");
	for (i = 0; i < j; i++)
		if ((errno = pthread_create(&tids[i], NULL, worker, NULL)))
			die("pthread_create");
	for (i = 0; i < j; i++)
		pthread_join(tids[i], NULL);
	return failed ? 123 : 0;
usage:
	fprintf(stderr, "usage: spawnlimit [-j N] [-o] [-x] command [arg ...]\n");
	return 2;
}
