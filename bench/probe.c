/*
 * probe -- the measuring helper of the smap benchmark.
 *
 *   probe stat  [-i MS] [-o FILE] -- command [arg ...]
 *   probe first [-t MS] -- command [arg ...]
 *   probe close [-d MS] [-t MS] -- command [arg ...]
 *
 * stat   runs the command with stdin, stdout and stderr inherited and
 *        writes one line of key=value pairs to FILE (default stderr):
 *          wall       seconds from posix_spawn until the command exited
 *          status     exit status, or 128+N when killed by signal N
 *          self_cpu   user+system seconds of the command's own process (all
 *                     of its threads, none of its children): fields 14 and
 *                     15 of /proc/PID/stat, read once the process has
 *                     exited but before it is reaped (waitid WNOWAIT keeps
 *                     the zombie, whose accounting is final by then)
 *          child_cpu  fields 16 and 17: the children it has reaped
 *          hwm_kb     VmHWM of the process (its own peak RSS), sampled from
 *                     /proc/PID/status every MS ms (-i, default 20; 0: not
 *                     sampled); the last sample before exit
 *          maxrss_kb  ru_maxrss from wait4(), what `/usr/bin/time -f %M`
 *                     prints: the largest of the process and its children
 *        The exit is seen through a pidfd, so wall is exact whatever MS is.
 *
 * first  starts `seq inf` into a pipe, lets it fill the pipe for 20 ms,
 *        then starts the command reading that pipe, with its stdout on a
 *        pipe read by the probe, and prints first_ms: the time from
 *        starting the command until its first output byte arrives.  Then
 *        it closes the pipe (as `head -1` would) and waits up to -t MS
 *        (default 3000) for the command to exit, killing it after that.
 *
 * close  starts `seq inf | command` with the command's stdout on a pipe
 *        that the probe never reads; after -d MS (default 200) it closes
 *        its end (a reader going away while the jobs are silent) and prints
 *        close_ms: the time from that close until the command has exited
 *        (or "timeout" after -t MS, default 1000, when it is then killed),
 *        its status, and orphans: the number of processes that the command
 *        left behind (the probe is a child subreaper, so they come to it).
 *
 * Everything the probe starts is killed and reaped before it exits.
 * Build: cc -O2 -o probe probe.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int decode(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/*
 * posix_spawnp argv with stdin/stdout replaced when in/out >= 0, in process
 * group pgrp (-1: inherit, 0: new group of its own).
 */
static pid_t spawn(char **argv, int in, int out, pid_t pgrp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid;
	int err;

	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawnattr_init(&at);
	if (pgrp >= 0) {
		posix_spawnattr_setpgroup(&at, pgrp);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	}
	err = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (err) {
		errno = err;
		fprintf(stderr, "probe: %s: %s\n", argv[0], strerror(err));
		exit(1);
	}
	return pid;
}

/* Wait for pid for at most ms milliseconds; 1 if it exited (status set). */
static int wait_ms(pid_t pid, long ms, int *st)
{
	double end = now() + ms / 1000.0;
	int pfd = syscall(SYS_pidfd_open, pid, 0);
	pid_t r;

	if (pfd >= 0) {
		struct pollfd p = { pfd, POLLIN, 0 };
		double left;

		while ((left = end - now()) > 0)
			if (poll(&p, 1, (int)(left * 1000) + 1) > 0)
				break;
		close(pfd);
	}
	for (;;) {
		r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			die("waitpid");
		if (pfd >= 0 || now() >= end)
			return 0;
		sleep_ms(1);
	}
}

/*
 * Kill and reap every child left to us (we are a subreaper), apart from
 * those already reaped.  Returns how many live processes were found.
 */
static int sweep(void)
{
	int found = 0, again = 1;
	pid_t me = getpid();

	while (again) {
		DIR *d = opendir("/proc");
		struct dirent *e;

		again = 0;
		if (!d)
			die("/proc");
		while ((e = readdir(d)) != NULL) {
			char path[64], buf[512], *p, state;
			int fd, ppid;
			ssize_t n;
			pid_t pid = atoi(e->d_name);

			if (pid <= 0)
				continue;
			snprintf(path, sizeof path, "/proc/%d/stat", pid);
			if ((fd = open(path, O_RDONLY)) < 0)
				continue;
			n = read(fd, buf, sizeof buf - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			if (!(p = strrchr(buf, ')')))
				continue;
			if (sscanf(p + 1, " %c %d", &state, &ppid) != 2)
				continue;
			if (ppid != me)
				continue;
			if (state != 'Z')
				found++;
			kill(pid, SIGKILL);
			again = 1;
		}
		closedir(d);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (again)
			sleep_ms(5);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return found;
}

static long vmhwm(pid_t pid)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!(p = strstr(buf, "VmHWM:")))
		return -1;
	return atol(p + 6);
}

static int cmd_stat(int argc, char **argv)
{
	long interval = 20, hwm = -1, h, tck = sysconf(_SC_CLK_TCK);
	unsigned long ut = 0, stm = 0;
	long cut = 0, cst = 0;
	const char *outfile = NULL;
	struct rusage ru;
	siginfo_t si;
	double t0, t1;
	int c, pfd, st;
	FILE *out = stderr;
	pid_t pid;

	while ((c = getopt(argc, argv, "+i:o:")) != -1) {
		if (c == 'i')
			interval = atol(optarg);
		else if (c == 'o')
			outfile = optarg;
		else
			return 2;
	}
	if (optind >= argc)
		return 2;
	t0 = now();
	pid = spawn(argv + optind, -1, -1, -1);
	pfd = syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		die("pidfd_open");
	for (;;) {
		struct pollfd p = { pfd, POLLIN, 0 };
		int r = poll(&p, 1, interval > 0 ? (int)interval : -1);

		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			die("poll");
		if (r == 0 && (h = vmhwm(pid)) > 0)
			hwm = h;
	}
	t1 = now();
	memset(&si, 0, sizeof si);
	while (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) < 0)
		if (errno != EINTR)
			die("waitid");
	{
		char path[64], buf[1024], *p;
		ssize_t n;
		int fd;

		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		if ((fd = open(path, O_RDONLY)) < 0)
			die(path);
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			die(path);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		/* after ')': state(3) ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime(14) stime cutime cstime */
		if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
		    "%*u %*u %lu %lu %ld %ld", &ut, &stm, &cut, &cst) != 4) {
			fprintf(stderr, "probe: cannot parse %s\n", path);
			exit(1);
		}
	}
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4");
	if (outfile && !(out = fopen(outfile, "w")))
		die(outfile);
	fprintf(out, "wall=%.6f status=%d self_cpu=%.3f self_user=%.3f "
	    "self_sys=%.3f child_cpu=%.3f hwm_kb=%ld maxrss_kb=%ld\n",
	    t1 - t0, decode(st), (double)(ut + stm) / tck, (double)ut / tck,
	    (double)stm / tck, (double)(cut + cst) / tck, hwm, ru.ru_maxrss);
	fclose(out);
	return 0;
}

static pid_t start_seq(int *rd)
{
	char *seq[] = { "seq", "inf", NULL };
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2");
	pid = spawn(seq, -1, p[1], 0);
	close(p[1]);
	*rd = p[0];
	return pid;
}

static int cmd_first(int argc, char **argv)
{
	long timeout = 3000;
	int c, in, o[2], st, exited;
	pid_t seq, pid;
	double t0, t1;
	char buf[4096];
	ssize_t n;

	while ((c = getopt(argc, argv, "+t:")) != -1) {
		if (c == 't')
			timeout = atol(optarg);
		else
			return 2;
	}
	if (optind >= argc)
		return 2;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	seq = start_seq(&in);
	sleep_ms(20);
	if (pipe2(o, O_CLOEXEC) < 0)
		die("pipe2");
	t0 = now();
	pid = spawn(argv + optind, in, o[1], seq);
	close(o[1]);
	close(in);
	while ((n = read(o[0], buf, sizeof buf)) < 0 && errno == EINTR)
		;
	t1 = now();
	close(o[0]);
	exited = wait_ms(pid, timeout, &st);
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	killpg(seq, SIGKILL);
	sweep();
	if (n <= 0)
		printf("first_ms=none status=%d\n", decode(st));
	else
		printf("first_ms=%.3f status=%d exited=%s\n", (t1 - t0) * 1000,
		    decode(st), exited ? "yes" : "killed");
	return 0;
}

static int cmd_close(int argc, char **argv)
{
	long delay = 200, timeout = 1000;
	int c, in, o[2], st, exited, orphans;
	pid_t seq, pid;
	double t0, t1;

	while ((c = getopt(argc, argv, "+d:t:")) != -1) {
		if (c == 'd')
			delay = atol(optarg);
		else if (c == 't')
			timeout = atol(optarg);
		else
			return 2;
	}
	if (optind >= argc)
		return 2;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	seq = start_seq(&in);
	if (pipe2(o, O_CLOEXEC) < 0)
		die("pipe2");
	pid = spawn(argv + optind, in, o[1], seq);
	close(o[1]);
	close(in);
	sleep_ms(delay);
	t0 = now();
	close(o[0]);
	exited = wait_ms(pid, timeout, &st);
	t1 = now();
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	kill(seq, SIGKILL);
	waitpid(seq, NULL, 0);
	orphans = sweep();	/* also the tool's jobs when we killed it */
	if (exited)
		printf("close_ms=%.3f status=%d orphans=%d\n",
		    (t1 - t0) * 1000, decode(st), orphans);
	else
		printf("close_ms=timeout status=%d orphans=%d\n",
		    decode(st), orphans);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		argc--, argv++;
		optind = 1;
		if (strcmp(argv[0], "stat") == 0)
			return cmd_stat(argc, argv);
		if (strcmp(argv[0], "first") == 0)
			return cmd_first(argc, argv);
		if (strcmp(argv[0], "close") == 0)
			return cmd_close(argc, argv);
	}
	fprintf(stderr, "usage: probe stat|first|close [options] -- command "
	    "[arg ...]\n");
	return 2;
}
