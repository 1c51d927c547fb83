/*
 * The workers: each takes the oldest job not yet started, runs its
 * command with posix_spawn(3), passes on its output and reaps it.  Owns
 * the job environment, the spawn attributes and the pids of running jobs.
 */

#include <sys/stat.h>
#include <sys/syscall.h>
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
	unsigned	 slot;		/* [I] 1..njobs */
	pid_t		 pid;		/* [P] 0, -1 spawning */
	uint64_t	 waitseq;	/* [P] job waiting for resources, or 0 */
	int		 busy;		/* [P] its job holds descriptors or
					   held output: from its start to
					   order_done() */
	char		**envp;		/* [I] environ, SMAP_SEQ, SMAP_SLOT */
	char		 seqvar[32];	/* [W] SMAP_SEQ=n */
	char		 slotvar[32];	/* [I] SMAP_SLOT=n */
	struct sink	 sink;		/* [W] its output state */
};

/* The process of one try: its pipes and its deadline.  [W] */
struct proc {
	pid_t		 pid;
	int		 out;		/* its stdout's pipe, or -1 at the end */
	int		 in;		/* its stdin's pipe (--pipe), or -1 */
	size_t		 sent;		/* bytes written to in */
	long long	 deadline;	/* --timeout: ms, or 0 */
	int		 stage;		/* signals sent for the timeout */
};

static struct worker	*workers;
static pthread_mutex_t	 plock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 fdfree = PTHREAD_COND_INITIALIZER; /* [P] */
static int		 killsig;	/* [P] sent to jobs */
static int		 nostart;	/* [P] start no more jobs */
static unsigned		 nfdwait;	/* [P] workers out of fds */
static char		**baseenv;
static size_t		 nbaseenv;
static posix_spawnattr_t sattr;		/* [I] */
static int		 devnull;	/* [I] */
static const char	*shpath, *sh0;	/* [I] */

_Atomic unsigned	 spawn_exited;	/* [a] worker threads that ended */
static atomic_int	 nores;		/* [a] out of descriptors: reported */

static void	 mkenv(void);
static void	 sigdefaults(sigset_t *, const sigset_t *);
static void	 run(struct worker *, struct job *, struct try *);
static int	 trystart(struct worker *, struct job *, struct proc *);
static int	 startjob(struct worker *, struct job *, int, int, pid_t *);
static void	 pump(struct worker *, struct job *, struct proc *,
		    struct try *);
static void	 feed(struct job *, struct proc *);
static void	 expire(struct proc *, struct try *);
static long	 msleft(const struct proc *);
static void	 reap(struct proc *, struct try *);
static void	 reaped(struct worker *);
static void	 unbusy(struct worker *);
static int	 earlier(const struct worker *, uint64_t);
static void	 waitfree(struct worker *, uint64_t);
static long long now_ms(void);
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

/*
 * The signals a job starts with at their default: SIGPIPE always (smap
 * ignores it), and every other signal that smap changed but that was not
 * ignored when it started (ign): those stay ignored, as POSIX has them
 * inherited.  glibc's posix_spawn(3) sets its own internal signals (32
 * and 33, below SIGRTMIN) to SIG_IGN in the child unless they are in this
 * set, and sigaddset(3) refuses them: their bits are set as glibc's
 * sigset_t lays them out, so that a job starts with no signal ignored.
 */
static void
sigdefaults(sigset_t *dfl, const sigset_t *ign)
{
	static const int	 changed[] = { SIGCHLD, SIGXFSZ, SIGTTOU };
	size_t			 i;

	sigemptyset(dfl);
	sigaddset(dfl, SIGPIPE);
	for (i = 0; i < sizeof(changed) / sizeof(changed[0]); i++)
		if (!sigismember(ign, changed[i]))
			sigaddset(dfl, changed[i]);
#if defined(__GLIBC__) && defined(__SIGRTMIN)
	{
		const size_t	 bits = 8 * sizeof(unsigned long);
		unsigned long	*word = (unsigned long *)(void *)dfl;
		int		 sig;

		for (sig = __SIGRTMIN; sig < SIGRTMIN; sig++)
			word[(sig - 1) / bits] |= 1UL << ((sig - 1) % bits);
	}
#endif
}

/*
 * Sets up what every job gets; called before the workers start.  ign:
 * the signals ignored when smap started.
 */
void
spawn_init(const sigset_t *ign)
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
	sigdefaults(&dfl, ign);
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

/*
 * Starts the worker threads, with small stacks: a worker's deepest frame
 * is a CHUNK buffer.  They wait for the first job.
 */
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

/* No job is started from now on; those waiting to start give up. */
void
spawn_nostart(void)
{
	pthread_mutex_lock(&plock);
	nostart = 1;
	pthread_cond_broadcast(&fdfree);
	pthread_mutex_unlock(&plock);
}

/*
 * Sends sig to the process group of every running job, and of every job
 * started from now on (but SIGTSTP, SIGCONT, and 0, which only counts).
 * Returns how many jobs run or are being started.
 */
unsigned
spawn_kill(int sig)
{
	unsigned	i, n = 0;

	pthread_mutex_lock(&plock);
	if (sig != 0 && sig != SIGTSTP && sig != SIGCONT) {
		killsig = sig;
		nostart = 1;
		pthread_cond_broadcast(&fdfree);
	}
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
 * For an exit from any thread, whatever it holds but plock: stops every
 * job (SIGTERM, SIGKILL after GRACE_MS to what is left of its process
 * group) and reaps those it can, so that no job outlives smap.
 */
void
spawn_abort(void)
{
	unsigned	 i, left;
	int		 ms, st;

	if (workers == NULL)
		return;
	spawn_kill(SIGTERM);
	for (ms = 0; ms < GRACE_MS; ms += 10) {
		pthread_mutex_lock(&plock);
		for (left = 0, i = 0; i < opt.njobs; i++)
			if (workers[i].pid > 0 && waitpid(workers[i].pid, &st,
			    WNOHANG) == 0)
				left++;
		pthread_mutex_unlock(&plock);
		if (left == 0)
			break;
		usleep(10000);
	}
	spawn_kill(SIGKILL);
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

/* The process of worker w is reaped: tell main if it waits for that. */
static void
reaped(struct worker *w)
{
	int	wake;

	pthread_mutex_lock(&plock);
	w->pid = 0;
	wake = killsig != 0;
	pthread_mutex_unlock(&plock);
	if (wake)
		smap_wake();
}

/*
 * Whether a job older than seq waits for resources: jobs start in input
 * order when resources are short, so that later jobs cannot take what
 * the oldest one needs (held output is written out only once the oldest
 * job has run).  Under plock.
 */
static int
earlier(const struct worker *w, uint64_t seq)
{
	unsigned	k;

	if (nfdwait == 0)
		return 0;
	for (k = 0; k < opt.njobs; k++)
		if (&workers[k] != w && workers[k].waitseq != 0 &&
		    workers[k].waitseq < seq)
			return 1;
	return 0;
}

/* Worker w, with job seq, waits for another job to end.  Under plock. */
static void
waitfree(struct worker *w, uint64_t seq)
{
	w->waitseq = seq;
	nfdwait++;
	pthread_cond_wait(&fdfree, &plock);
	nfdwait--;
	w->waitseq = 0;
}

/*
 * Worker w is done with its job, output and all (order_done): what the
 * job held is free, and so are the descriptors of its output if it was
 * spilled.  Only now may a worker waiting for descriptors try again; and
 * a --halt that the job fired has stopped the starting of jobs already.
 */
static void
unbusy(struct worker *w)
{
	pthread_mutex_lock(&plock);
	w->busy = 0;
	if (nfdwait > 0)
		pthread_cond_broadcast(&fdfree);
	pthread_mutex_unlock(&plock);
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Starts a try of job j: its pipes and its process.  Out of descriptors
 * or processes, waits for another job to end, and gives up only when no
 * other job runs.  Returns 0 with p filled, or -1: not started (then
 * j->unstarted says whether smap stopped starting jobs meanwhile).
 */
static int
trystart(struct worker *w, struct job *j, struct proc *p)
{
	int	 o[2], i[2] = { -1, -1 }, error;
	unsigned k, others;

	memset(p, 0, sizeof(*p));
	p->out = p->in = -1;
	for (;;) {
		pthread_mutex_lock(&plock);
		while (!nostart && earlier(w, j->seq))
			waitfree(w, j->seq);
		if (nostart) {
			pthread_mutex_unlock(&plock);
			j->unstarted = 1;
			return -1;
		}
		w->pid = -1;
		w->busy = 1;
		pthread_mutex_unlock(&plock);
		error = pipe2(o, O_CLOEXEC) == -1 ? errno : 0;
		if (error == 0 && opt.pipe && pipe2(i, O_CLOEXEC) == -1) {
			error = errno;
			close(o[0]);
			close(o[1]);
		}
		if (error == 0 && (error = startjob(w, j, i[0], o[1],
		    &p->pid)) != 0) {
			close(o[0]);
			close(o[1]);
			if (i[0] != -1) {
				close(i[0]);
				close(i[1]);
				i[0] = i[1] = -1;
			}
		}
		if (error != EMFILE && error != ENFILE && error != EAGAIN)
			break;
		/* Out of descriptors or processes: wait for another job. */
		pthread_mutex_lock(&plock);
		w->pid = 0;
		w->busy = 0;
		for (others = 0, k = 0; k < opt.njobs; k++)
			others += workers[k].busy;
		if (others == 0) {
			pthread_mutex_unlock(&plock);
			break;
		}
		if (!nostart)
			waitfree(w, j->seq);
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
		return -1;
	}
	pthread_mutex_lock(&plock);
	w->pid = p->pid;
	if (killsig != 0)
		kill(-p->pid, killsig);
	pthread_mutex_unlock(&plock);
	close(o[1]);
	p->out = o[0];
	if (i[0] != -1) {
		close(i[0]);
		p->in = i[1];
		fcntl(p->in, F_SETFL, O_NONBLOCK);
		if (j->len == 0) {
			close(p->in);
			p->in = -1;
		}
	}
	if (opt.timeout > 0)
		p->deadline = now_ms() + opt.timeout;
	return 0;
}

/* Milliseconds to p's deadline, at least 0; -1: none. */
static long
msleft(const struct proc *p)
{
	long long	now;

	if (p->deadline == 0)
		return -1;
	now = now_ms();
	return p->deadline > now ? p->deadline - now : 0;
}

/* --timeout: past the deadline, SIGTERM, then SIGKILL after the grace. */
static void
expire(struct proc *p, struct try *t)
{
	if (p->deadline == 0 || now_ms() < p->deadline)
		return;
	kill(-p->pid, p->stage == 0 ? SIGTERM : SIGKILL);
	t->timedout = 1;
	p->deadline = ++p->stage < 2 ? now_ms() + GRACE_MS : 0;
}

/* Writes what job j's stdin pipe takes of its records (--pipe). */
static void
feed(struct job *j, struct proc *p)
{
	ssize_t	n;

	n = write(p->in, j->rec + p->sent, j->len - p->sent);
	if (n > 0)
		p->sent += n;
	if (p->sent == j->len || (n == -1 && errno != EAGAIN &&
	    errno != EINTR)) {
		close(p->in);
		p->in = -1;
	}
}

/*
 * Passes job j's output on until its end, feeding it its records and
 * holding to its deadline on the way.  Without either, it just reads.
 */
static void
pump(struct worker *w, struct job *j, struct proc *p, struct try *t)
{
	struct pollfd	 pfd[2];
	ssize_t		 n;
	int		 nfd, wait = 0;

	order_start(j, &w->sink);
	for (;;) {
		if (wait) {
			order_wait(j, msleft(p));
			expire(p, t);
			wait = 0;
		} else if (p->in != -1 || p->deadline != 0) {
			nfd = 0;
			if (p->in != -1) {
				pfd[nfd].fd = p->in;
				pfd[nfd++].events = POLLOUT;
			}
			pfd[nfd].fd = p->out;
			pfd[nfd].events = POLLIN;
			if (poll(pfd, nfd + 1, msleft(p)) == -1 &&
			    errno != EINTR)
				smap_fatal("poll");
			expire(p, t);
			if (p->in != -1 && (pfd[0].revents & (POLLOUT |
			    POLLERR | POLLHUP)))
				feed(j, p);
			if (!(pfd[nfd].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
		}
		if ((n = order_drain(j, p->out, &w->sink)) == DRAIN_WAIT) {
			wait = 1;
			continue;
		}
		if (n == -1)
			warn("record %ju: read", (uintmax_t)j->recno);
		if (n <= 0)
			break;
	}
	if (p->in != -1)
		close(p->in);
	close(p->out);
	if (w->sink.big == 2)
		out_unbig();
	w->sink.big = 0;
	t->sent = p->sent;
	t->received = w->sink.received;
}

/*
 * Reaps the process of a try.  Its deadline holds here too: a job that
 * closed its output is still stopped when its time is up.
 */
static void
reap(struct proc *p, struct try *t)
{
	struct pollfd	pfd;
	pid_t		r;
	int		status = -1;
	long		ms;

	pfd.fd = -1;
#ifdef SYS_pidfd_open
	if (p->deadline != 0)
		pfd.fd = syscall(SYS_pidfd_open, p->pid, 0);
#endif
	pfd.events = POLLIN;
	for (;;) {
		r = waitpid(p->pid, &status, p->deadline != 0 ? WNOHANG : 0);
		if (r == p->pid)
			break;
		if (r == -1 && errno != EINTR) {
			warn("waitpid");
			status = -1;
			break;
		}
		if (r == 0) {
			/* A pidfd is readable when the process ends. */
			ms = msleft(p);
			if (pfd.fd != -1)
				poll(&pfd, 1, ms);
			else
				usleep((ms < 10 ? ms : 10) * 1000 + 1);
			expire(p, t);
		}
	}
	if (pfd.fd != -1)
		close(pfd.fd);
	t->status = status;
}

/*
 * Runs one try of job j: starts it, passes its output on, reaps it.
 * Fills t; t->status is the wait status, or -1 if it could not be started.
 */
static void
run(struct worker *w, struct job *j, struct try *t)
{
	struct proc	p;

	memset(t, 0, sizeof(*t));
	t->status = -1;
	clock_gettime(CLOCK_REALTIME, &t->start);
	if (trystart(w, j, &p) == -1)
		return;
	pump(w, j, &p, t);
	reap(&p, t);
	reaped(w);
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

	while ((j = order_take()) != NULL) {
		if (opt.dryrun) {
			line = cmd_line(j, w->slot, &len);
			order_start(j, &w->sink);
			order_emit(j, &w->sink, line, len);
			order_emit(j, &w->sink, "\n", 1);
			j->status = 0;
		} else {
			for (tries = 1; ; tries++) {
				if (opt.retries > 1)
					order_try(j, tries < opt.retries);
				run(w, j, &t);
				if (j->unstarted)
					break;
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
		unbusy(w);
	}
	free(w->sink.buf);
	free(w->sink.prefix);
	free(w->sink.tagbuf);
	cmd_free();
	spawn_exited++;
	smap_wake();
	return NULL;
}
