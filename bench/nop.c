/*
 * nop -- the cheapest job that still has to be spawned (linked statically
 * when the toolchain allows, so that exec needs no dynamic loader).
 *
 *   nop [-e] [-s MS] [arg ...]
 *
 * -e     write the last argument and a newline to stdout
 * -s MS  sleep MS milliseconds first if the last argument is "1", so that
 *        job 1 holds the window while the later jobs finish.
 * Other arguments (such as -q, quiet, the default) are ignored.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const char *last = argc > 1 ? argv[argc - 1] : "";
	int echo = 0, i;
	long ms = 0;

	for (i = 1; i < argc - 1; i++) {
		if (strcmp(argv[i], "-e") == 0)
			echo = 1;
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc - 1)
			ms = atol(argv[++i]);
	}
	if (ms > 0 && strcmp(last, "1") == 0) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (echo) {
		size_t n = strlen(last);
		char *buf = malloc(n + 1);

		if (!buf)
			return 1;
		memcpy(buf, last, n);
		buf[n] = '\n';
		if (write(1, buf, n + 1) != (ssize_t)(n + 1))
			return 1;
	}
	return 0;
}
