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
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void	 mkenv(void);
static int	 run(struct worker *, struct job *);
static int	 startjob(struct worker *, struct job *, int, pid_t *);
static void	 reaped(struct worker *);

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
 * Spawns job j with its output to pipe fd: directly when the line needs
 * no shell and the program can be run, else through the shell, as the
 * shell would report a missing or unrunnable program.
 */
static int
startjob(struct worker *w, struct job *j, int fd, pid_t *pid)
{
	posix_spawn_file_actions_t	 fa;
	char				*av[4];
	char			*const	*argv;
	int				 error = ENOENT;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
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

/*
 * Runs job j: spawns it, passes its output on and reaps it.  Returns its
 * wait status, or -1 if it could not be started.
 */
static int
run(struct worker *w, struct job *j)
{
	ssize_t	 n;
	pid_t	 pid;
	int	 p[2], error, status, live = 0;
	unsigned i, others;

	for (;;) {
		pthread_mutex_lock(&plock);
		if (killsig != 0) {
			pthread_mutex_unlock(&plock);
			return -1;
		}
		w->pid = -1;
		pthread_mutex_unlock(&plock);
		error = pipe2(p, O_CLOEXEC) == -1 ? errno : 0;
		if (error == 0 && (error = startjob(w, j, p[1], &pid)) != 0) {
			close(p[0]);
			close(p[1]);
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
		warnc(error, "record %ju", (uintmax_t)j->seq);
		if (error == EMFILE || error == ENFILE || error == EAGAIN)
			smap_stop(STOP_ERROR, 0);
		return -1;
	}
	pthread_mutex_lock(&plock);
	w->pid = pid;
	if (killsig != 0)
		kill(-pid, killsig);
	pthread_mutex_unlock(&plock);
	close(p[1]);

	for (;;) {
		if (live && (n = order_splice(p[0])) >= 0) {
			if (n == 0)
				break;
			continue;
		}
		if (w->buf == NULL)
			w->buf = xmalloc(CHUNK);
		if ((n = read(p[0], w->buf, CHUNK)) == -1) {
			if (errno == EINTR)
				continue;
			warn("record %ju: read", (uintmax_t)j->seq);
			break;
		}
		if (n == 0)
			break;
		if (!live)
			live = order_hold(j, w->buf, n);
		if (live)
			order_write(w->buf, n);
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			warn("waitpid");
			status = -1;
			break;
		}
	reaped(w);
	return status;
}

/* A worker thread: runs jobs until there are no more. */
void *
spawn_main(void *arg)
{
	struct worker	*w = arg;
	struct job	*j;

	while ((j = order_take()) != NULL) {
		if (j->bad != NULL) {
			warnx("record %ju: %s", (uintmax_t)j->seq, j->bad);
			j->status = -1;
		} else
			j->status = run(w, j);
		order_done(j);
	}
	free(w->buf);
	cmd_free();
	return NULL;
}
