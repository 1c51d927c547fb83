/*
 * The workers: each takes the oldest job not yet started, runs its
 * command with posix_spawn(3), passes on its output and reaps it.  Owns
 * the job environment, the spawn attributes and the pids of running jobs.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smap.h"

extern char **environ;

/* A worker thread and the job it runs. */
struct worker {
	pthread_t	 tid;
	unsigned	 slot;		/* 1..njobs */
	pid_t		 pid;		/* 0, -1 spawning; under plock */
	char		**envp;		/* environ, SMAP_SEQ, SMAP_SLOT */
	char		 seqvar[32];	/* SMAP_SEQ=n */
	char		 slotvar[32];	/* SMAP_SLOT=n */
	char		*buf;		/* CHUNK bytes of output */
	char		*prefix;	/* --tag */
	size_t		 prelen;
	size_t		 precap;
	char		*tagbuf;	/* output with prefixes */
	size_t		 tagcap;
	int		 atline;	/* output is at a line start */
};

static struct worker	*workers;
static pthread_mutex_t	 plock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 fdfree = PTHREAD_COND_INITIALIZER; /* under plock */
static int		 killsig;	/* sent to jobs; under plock */
static unsigned		 nfdwait;	/* workers out of fds; under plock */
static char		**baseenv;
static size_t		 nbaseenv;
static posix_spawnattr_t sattr;
static int		 devnull;
static const char	*shpath, *sh0;

_Atomic unsigned	 spawn_exited;	/* worker threads that ended */
static atomic_int	 nores;		/* out of descriptors: reported */
static atomic_int	 nbig;		/* job pipes made BIGPIPE large */

static void	 mkenv(void);
static void	 run(struct worker *, struct job *, struct try *);
static int	 startjob(struct worker *, struct job *, int, int, pid_t *);
static void	 reaped(struct worker *);
static long long now_ms(void);
static void	 emit(struct job *, const char *, size_t, int *);
static void	 mkprefix(struct worker *, const struct job *);
static void	 tagemit(struct worker *, struct job *, const char *, size_t,
		    int *);
static int	 succeeded(int);

/*
 * The environment the shell would give a program: /bin/sh (dash) drops
 * variables whose names are not names and sets PWD.  With --shell, the
 * environment as it is.  SMAP_SEQ and SMAP_SLOT are left to each job.
 */
static void
mkenv(void)
{
	struct stat	 sdot, spwd;
	const char	*pwd, *e;
	char		**ep, cwd[4096];
	size_t		 n;
	int		 okpwd = 0;

	for (n = 0; environ[n] != NULL; n++)
		;
	baseenv = xreallocarray(NULL, n + 2, sizeof(*baseenv));
	for (ep = environ; (e = *ep) != NULL; ep++) {
		if (strncmp(e, "SMAP_SEQ=", 9) == 0 ||
		    strncmp(e, "SMAP_SLOT=", 10) == 0)
			continue;
		if (opt.shell == NULL) {
			n = strspn(e, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
			if (n == 0 || e[n] != '=' || (e[0] >= '0' && e[0] <= '9'))
				continue;
			if (strncmp(e, "PWD=", 4) == 0) {
				pwd = e + 4;
				if (pwd[0] != '/' || stat(pwd, &spwd) == -1 ||
				    stat(".", &sdot) == -1 ||
				    spwd.st_dev != sdot.st_dev ||
				    spwd.st_ino != sdot.st_ino)
					continue;
				okpwd = 1;
			}
		}
		baseenv[nbaseenv++] = (char *)e;
	}
	if (opt.shell == NULL && !okpwd && getcwd(cwd, sizeof(cwd)) != NULL) {
		baseenv[nbaseenv] = xmalloc(strlen(cwd) + 5);
		snprintf(baseenv[nbaseenv++], strlen(cwd) + 5, "PWD=%s", cwd);
	}
}

/* Sets up what every job gets; called before the workers start. */
void
spawn_init(void)
{
	sigset_t	 none, dfl;
	unsigned	 i;
	struct worker	*w;

	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		err(EXIT_ERR, "/dev/null");
	shpath = opt.shell != NULL ? opt.shell : "/bin/sh";
	if ((sh0 = strrchr(shpath, '/')) != NULL)
		sh0++;
	else
		sh0 = shpath;
	mkenv();

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGXFSZ);
	posix_spawnattr_init(&sattr);
	posix_spawnattr_setsigmask(&sattr, &none);
	posix_spawnattr_setsigdefault(&sattr, &dfl);
	posix_spawnattr_setpgroup(&sattr, 0);
	posix_spawnattr_setflags(&sattr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

	workers = xcalloc(opt.njobs, sizeof(*workers));
	for (i = 0; i < opt.njobs; i++) {
		w = &workers[i];
		w->slot = i + 1;
		w->envp = xreallocarray(NULL, nbaseenv + 3, sizeof(*w->envp));
		memcpy(w->envp, baseenv, nbaseenv * sizeof(*w->envp));
		snprintf(w->slotvar, sizeof(w->slotvar), "SMAP_SLOT=%u",
		    w->slot);
		w->envp[nbaseenv] = w->seqvar;
		w->envp[nbaseenv + 1] = w->slotvar;
		w->envp[nbaseenv + 2] = NULL;
	}
}

/* Starts the worker threads. */
void
spawn_start(void)
{
	pthread_attr_t	 ta;
	unsigned	 i;
	int		 error;

	pthread_attr_init(&ta);
	pthread_attr_setstacksize(&ta, 512 * 1024);
	for (i = 0; i < opt.njobs; i++)
		if ((error = pthread_create(&workers[i].tid, &ta, spawn_main,
		    &workers[i])) != 0)
			errc(EXIT_ERR, error, "pthread_create");
	pthread_attr_destroy(&ta);
}

/* Waits for the worker threads to end. */
void
spawn_join(void)
{
	unsigned	i;

	for (i = 0; i < opt.njobs; i++)
		pthread_join(workers[i].tid, NULL);
}

/*
 * Sends sig to the process group of every running job, and of every job
 * started from now on.  Returns how many jobs run or are being started.
 */
unsigned
spawn_kill(int sig)
{
	unsigned	i, n = 0;

	pthread_mutex_lock(&plock);
	if (sig != 0 && sig != SIGTSTP && sig != SIGCONT)
		killsig = sig;
	for (i = 0; i < opt.njobs; i++) {
		if (workers[i].pid > 0 && sig != 0)
			kill(-workers[i].pid, sig);
		if (workers[i].pid != 0)
			n++;
	}
	pthread_mutex_unlock(&plock);
	return n;
}

/*
 * Spawns job j with its input from fd in (or /dev/null) and its output to
 * pipe fd out: directly when the line needs no shell and the program can
 * be run, else through the shell, which then reports a missing or
 * unrunnable program as it always does.
 */
static int
startjob(struct worker *w, struct job *j, int in, int out, pid_t *pid)
{
	posix_spawn_file_actions_t	 fa;
	char				*av[4];
	char			*const	*argv;
	int				 error = ENOENT;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in != -1 ? in : devnull,
	    STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	snprintf(w->seqvar, sizeof(w->seqvar), "SMAP_SEQ=%ju",
	    (uintmax_t)j->seq);
	if (cmd_direct()) {
		argv = cmd_argv(j, w->slot);
		error = posix_spawnp(pid, argv[0], &fa, &sattr, argv,
		    w->envp);
	}
	if (error == ENOENT || error == EACCES || error == ENOEXEC ||
	    error == ENOTDIR || error == ELOOP || error == ENAMETOOLONG) {
		av[0] = (char *)sh0;
		av[1] = "-c";
		av[2] = (char *)cmd_line(j, w->slot, NULL);
		av[3] = NULL;
		error = posix_spawn(pid, shpath, &fa, &sattr, av, w->envp);
	}
	posix_spawn_file_actions_destroy(&fa);
	return error;
}

/* Job of worker w is reaped: tell main if it waits for that. */
static void
reaped(struct worker *w)
{
	int	wake;

	pthread_mutex_lock(&plock);
	w->pid = 0;
	wake = killsig != 0;
	if (nfdwait > 0)
		pthread_cond_signal(&fdfree);
	pthread_mutex_unlock(&plock);
	if (wake)
		smap_wake();
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Passes n bytes of job j's output on: held, or written if it is live. */
static void
emit(struct job *j, const char *buf, size_t n, int *live)
{
	if (!*live)
		*live = order_hold(j, buf, n);
	if (*live)
		order_write(buf, n);
}

/* The --tag prefix of job j: its records, joined by spaces, and a tab. */
static void
mkprefix(struct worker *w, const struct job *j)
{
	size_t	i, from, n, o = 0;

	if (w->precap < j->len + j->nrec + 1) {
		w->precap = j->len + j->nrec + 1;
		w->prefix = xreallocarray(w->prefix, 1, w->precap);
	}
	for (from = i = 0; i < j->nrec; from = job_end(j, i++)) {
		n = job_end(j, i) - from;
		if (opt.pipe && n > 0 && j->rec[from + n - 1] == opt.delim)
			n--;
		if (i > 0)
			w->prefix[o++] = ' ';
		memcpy(w->prefix + o, j->rec + from, n);
		o += n;
	}
	w->prefix[o++] = '\t';
	w->prelen = o;
}

/* Passes output on with the --tag prefix at the start of every line. */
static void
tagemit(struct worker *w, struct job *j, const char *buf, size_t n,
    int *live)
{
	const char	*nl;
	size_t		 k, o = 0, need;

	need = n + (n + 1) * w->prelen;
	if (w->tagcap < need) {
		w->tagcap = need;
		w->tagbuf = xreallocarray(w->tagbuf, 1, need);
	}
	while (n > 0) {
		if (w->atline) {
			memcpy(w->tagbuf + o, w->prefix, w->prelen);
			o += w->prelen;
		}
		nl = memchr(buf, '\n', n);
		k = nl != NULL ? (size_t)(nl - buf) + 1 : n;
		memcpy(w->tagbuf + o, buf, k);
		o += k;
		w->atline = nl != NULL;
		buf += k;
		n -= k;
	}
	emit(j, w->tagbuf, o, live);
}

/*
 * Runs one try of job j: spawns it, feeds it its records (--pipe),
 * passes its output on, enforces --timeout and reaps it.  Fills t;
 * t->status is the wait status, or -1 if it could not be started.
 */
static void
run(struct worker *w, struct job *j, struct try *t)
{
	struct pollfd	 pfd[2];
	long long	 deadline = 0, now;
	ssize_t		 n;
	pid_t		 pid;
	size_t		 sent = 0;
	int		 p[2], q[2] = { -1, -1 }, error, status, live = 0;
	int		 stage = 0, nfd, ms, big = 0;
	unsigned	 i, others;

	memset(t, 0, sizeof(*t));
	t->status = -1;
	clock_gettime(CLOCK_REALTIME, &t->start);
	for (;;) {
		pthread_mutex_lock(&plock);
		if (killsig != 0) {
			pthread_mutex_unlock(&plock);
			return;
		}
		w->pid = -1;
		pthread_mutex_unlock(&plock);
		error = pipe2(p, O_CLOEXEC) == -1 ? errno : 0;
		if (error == 0 && opt.pipe && pipe2(q, O_CLOEXEC) == -1) {
			error = errno;
			close(p[0]);
			close(p[1]);
		}
		if (error == 0 && (error = startjob(w, j, q[0], p[1], &pid)) !=
		    0) {
			close(p[0]);
			close(p[1]);
			if (q[0] != -1) {
				close(q[0]);
				close(q[1]);
				q[0] = q[1] = -1;
			}
		}
		if (error != EMFILE && error != ENFILE && error != EAGAIN)
			break;
		/* Out of descriptors or processes: wait for another job. */
		pthread_mutex_lock(&plock);
		w->pid = 0;
		for (others = 0, i = 0; i < opt.njobs; i++)
			others += workers[i].pid != 0;
		if (others == 0) {
			pthread_mutex_unlock(&plock);
			break;
		}
		nfdwait++;
		pthread_cond_wait(&fdfree, &plock);
		nfdwait--;
		pthread_mutex_unlock(&plock);
	}
	if (error != 0) {
		reaped(w);
		if (error != EMFILE && error != ENFILE && error != EAGAIN)
			warnc(error, "record %ju", (uintmax_t)j->recno);
		else if (!atomic_exchange(&nores, 1)) {
			/* No job runs, and none can be started: give up. */
			warnc(error, "record %ju", (uintmax_t)j->recno);
			smap_stop(STOP_ERROR, 0);
		}
		return;
	}
	pthread_mutex_lock(&plock);
	w->pid = pid;
	if (killsig != 0)
		kill(-pid, killsig);
	pthread_mutex_unlock(&plock);
	close(p[1]);
	if (q[0] != -1) {
		close(q[0]);
		fcntl(q[1], F_SETFL, O_NONBLOCK);
		if (j->len == 0) {
			close(q[1]);
			q[1] = -1;
		}
	}
	if (opt.timeout > 0)
		deadline = now_ms() + opt.timeout;
	w->atline = 1;
	if (opt.tag)
		mkprefix(w, j);

	for (;;) {
		if (q[1] != -1 || (deadline != 0 && stage < 2)) {
			nfd = 0;
			if (q[1] != -1) {
				pfd[nfd].fd = q[1];
				pfd[nfd++].events = POLLOUT;
			}
			pfd[nfd].fd = p[0];
			pfd[nfd].events = POLLIN;
			ms = -1;
			if (deadline != 0 && stage < 2) {
				now = now_ms();
				ms = deadline > now ? deadline - now : 0;
			}
			if (poll(pfd, nfd + 1, ms) == -1 && errno != EINTR)
				err(EXIT_ERR, "poll");
			if (deadline != 0 && stage < 2 && now_ms() >= deadline) {
				/* --timeout: TERM, KILL after the grace. */
				kill(-pid, stage == 0 ? SIGTERM : SIGKILL);
				deadline = now_ms() + GRACE_MS;
				t->timedout = 1;
				stage++;
			}
			if (q[1] != -1 && (pfd[0].revents & (POLLOUT | POLLERR |
			    POLLHUP))) {
				n = write(q[1], j->rec + sent, j->len - sent);
				if (n > 0)
					sent += n;
				if (sent == j->len || (n == -1 &&
				    errno != EAGAIN && errno != EINTR)) {
					close(q[1]);
					q[1] = -1;
				}
			}
			if (!(pfd[nfd].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
		}
		if (!big && t->received >= PIPEBUF) {
			/*
			 * A big output: fewer, larger moves.  A few such
			 * pipes at a time: past the user's soft limit of
			 * pipe memory, new pipes get 2 pages (pipe(7)).
			 */
			if (atomic_fetch_add(&nbig, 1) < BIGPIPES)
				fcntl(p[0], F_SETPIPE_SZ, BIGPIPE);
			order_grow();
			big = 1;
		}
		if (live && !opt.tag && (n = order_splice(p[0])) >= 0) {
			if (n == 0)
				break;
			t->received += n;
			continue;
		}
		if (!live && !opt.tag && t->received >= SPILLAT &&
		    (n = order_spill(j, p[0])) >= 0) {
			if (n == 0)
				break;
			t->received += n;
			continue;
		}
		if (w->buf == NULL)
			w->buf = xmalloc(CHUNK);
		if ((n = read(p[0], w->buf, CHUNK)) == -1) {
			if (errno == EINTR)
				continue;
			warn("record %ju: read", (uintmax_t)j->recno);
			break;
		}
		if (n == 0)
			break;
		t->received += n;
		if (opt.tag)
			tagemit(w, j, w->buf, n, &live);
		else
			emit(j, w->buf, n, &live);
	}
	if (q[1] != -1)
		close(q[1]);
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			warn("waitpid");
			status = -1;
			break;
		}
	reaped(w);
	if (big)
		atomic_fetch_sub(&nbig, 1);
	t->sent = sent;
	t->status = status;
}

/* Whether wait status st is a success. */
static int
succeeded(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A worker thread: runs jobs until there are no more. */
void *
spawn_main(void *arg)
{
	struct worker	*w = arg;
	struct job	*j;
	struct try	 t;
	const char	*line;
	size_t		 len;
	unsigned	 tries;
	int		 live;

	while ((j = order_take()) != NULL) {
		if (j->bad != NULL) {
			warnx("record %ju: %s", (uintmax_t)j->recno, j->bad);
			j->status = -1;
		} else if (opt.dryrun) {
			line = cmd_line(j, w->slot, &len);
			live = 0;
			emit(j, line, len, &live);
			emit(j, "\n", 1, &live);
			j->status = 0;
		} else {
			for (tries = 1; ; tries++) {
				if (opt.retries > 1)
					order_try(j, tries < opt.retries);
				run(w, j, &t);
				if (t.timedout && succeeded(t.status))
					t.status = -1;
				if (opt.joblog != NULL)
					report_job(j, &t, cmd_line(j, w->slot,
					    NULL));
				if (succeeded(t.status) ||
				    tries >= opt.retries || smap_stopping())
					break;
				order_discard(j);
			}
			j->status = t.status;
		}
		order_done(j);
	}
	free(w->buf);
	free(w->prefix);
	free(w->tagbuf);
	cmd_free();
	spawn_exited++;
	smap_wake();
	return NULL;
}
