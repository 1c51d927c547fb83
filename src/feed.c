/*
 * The feeder thread: reads the input in large read(2)s, splits it into
 * records and puts them in jobs (-n records each, or --block bytes with
 * --pipe), waiting while the window is full.
 */

#include <err.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smap.h"

#define READSZ	(64 * 1024)

_Atomic uint64_t	feed_bytes;	/* input consumed, for --progress */

static struct job	*cur;		/* the job being filled */

static uint64_t		 njob;		/* jobs made so far */

static void	bad(uint64_t, const char *);
static void	add(const char *, size_t, int, uint64_t);

/*
 * The length of the first record in buf (len bytes); *complete tells
 * whether its delimiter was found (then the record and one byte more
 * are consumed).
 */
size_t
feed_scan(const char *buf, size_t len, int delim, int *complete)
{
	const char	*p;

	if ((p = memchr(buf, delim, len)) == NULL) {
		*complete = 0;
		return len;
	}
	*complete = 1;
	return p - buf;
}

/*
 * Parses a delimiter as -d takes it: one byte, or \n, \t, \0, \\, \xHH.
 * Returns the byte, or -1.
 */
int
feed_delim(const char *s)
{
	size_t	n;

	if (s[0] != '\0' && s[1] == '\0')
		return (unsigned char)s[0];
	if (s[0] != '\\' || s[1] == '\0')
		return -1;
	if (s[2] == '\0') {
		switch (s[1]) {
		case 'n':
			return '\n';
		case 't':
			return '\t';
		case '0':
			return '\0';
		case '\\':
			return '\\';
		}
		return -1;
	}
	n = strlen(s + 2);
	if (s[1] != 'x' || n < 1 || n > 2 ||
	    strspn(s + 2, "0123456789abcdefABCDEF") != n)
		return -1;
	return (int)strtol(s + 2, NULL, 16);
}

/* Record seq cannot run: it is reported, and counts as a failed job. */
static void
bad(uint64_t seq, const char *why)
{
	warnx("record %ju: %s", (uintmax_t)seq, why);
	order_bad();
}

/*
 * Adds a record (with its delimiter under --pipe, when it had one) to the
 * job being filled, and puts that job in the window when it is full.  A
 * job has exactly -n records but the last (or as many as the window
 * holds, if that is fewer): the feeder waits for room rather than put a
 * job early.  A record that cannot be an argument is reported and left
 * out; the others of its job still run.
 */
static void
add(const char *rec, size_t len, int complete, uint64_t seq)
{
	size_t	need;
	int	room;
	char	why[64];

	if (!opt.pipe && memchr(rec, '\0', len) != NULL) {
		bad(seq, "contains a NUL byte");
		return;
	}
	if (!opt.pipe && len > ARGMAX_REC) {
		snprintf(why, sizeof(why), "longer than %d bytes", ARGMAX_REC);
		bad(seq, why);
		return;
	}
	if (cur != NULL && (room = order_more(cur->nrec)) != 1) {
		if (room == -1)
			return;		/* stopping */
		order_put(cur);
		cur = NULL;
	}
	if (cur == NULL) {
		if ((cur = order_alloc()) == NULL)
			return;
		cur->seq = ++njob;
		cur->recno = seq;
		cur->len = cur->nrec = 0;
	}
	need = cur->len + len + 2;
	if (need > cur->reccap) {
		cur->reccap = need > 2 * cur->reccap ? need : 2 * cur->reccap;
		if (cur->rec == cur->inl) {
			cur->rec = xmalloc(cur->reccap);
			memcpy(cur->rec, cur->inl, cur->len);
		} else
			cur->rec = xreallocarray(cur->rec, 1, cur->reccap);
	}
	if (cur->nrec > cur->endcap) {
		cur->endcap = cur->endcap < 4 ? 4 : 2 * cur->endcap;
		cur->ends = xreallocarray(cur->ends, cur->endcap,
		    sizeof(*cur->ends));
	}
	memcpy(cur->rec + cur->len, rec, len);
	cur->len += len;
	if (opt.pipe && complete)
		cur->rec[cur->len++] = opt.delim;
	cur->rec[cur->len] = '\0';
	if (cur->nrec == 0)
		cur->end1 = cur->len;
	else
		cur->ends[cur->nrec - 1] = cur->len;
	cur->nrec++;
	if (cur->nrec >= opt.maxargs || cur->nrec == UINT32_MAX ||
	    (opt.block > 0 && cur->len >= opt.block)) {
		order_put(cur);
		cur = NULL;
	}
}

/*
 * The feeder thread: arg is the input descriptor.  A record longer than
 * an argument can be is reported when it passes ARGMAX_REC bytes, and
 * the rest of it is read and dropped; with --pipe, one longer than
 * PIPEMAX_REC is an input error.  When the command does not use the
 * records' bytes ({#} only), they are dropped as they come, and a record
 * of any length runs.  Either way memory stays bounded.
 */
void *
feed_main(void *arg)
{
	const char	*name = opt.input != NULL &&
			    strcmp(opt.input, "-") != 0 ? opt.input : "stdin";
	size_t		 start = 0, end = 0, from = 0, cap = READSZ, n, max;
	uint64_t	 seq = 0;
	ssize_t		 r;
	char		*buf, why[64];
	int		 fd = (int)(intptr_t)arg, eof = 0, complete;
	int		 skip = 0;	/* 1: reported, 2: not used */
	int		 used = cmd_usesrec();

	max = opt.pipe ? PIPEMAX_REC : used ? ARGMAX_REC : READSZ;
	buf = xmalloc(cap);
	while (!smap_stopping()) {
		if (start < end) {
			n = feed_scan(buf + from, end - from, opt.delim,
			    &complete);
			if (complete || eof) {
				n += from - start;
				if (skip == 0)
					add(buf + start, used ? n : 0, complete,
					    ++seq);
				else if (skip == 2)
					add(buf, 0, complete, ++seq);
				skip = 0;
				start += n + complete;
				from = start;
				feed_bytes += n + complete;
				continue;
			}
			from = end;
			if (end - start > max) {
				if (!skip && opt.pipe) {
					warnx("%s: record %ju: longer than %zu "
					    "bytes", name, (uintmax_t)seq + 1,
					    max);
					smap_stop(STOP_ERROR, 0);
					break;
				}
				if (!skip && !used)
					skip = 2;
				if (!skip) {
					snprintf(why, sizeof(why),
					    "longer than %d bytes", ARGMAX_REC);
					bad(++seq, why);
					skip = 1;
				}
				feed_bytes += end - start;
				start = from = end;
			}
		} else if (eof) {
			if (skip == 2)	/* the end of a record not kept */
				add(buf, 0, 0, ++seq);
			break;
		}
		if (start > 0) {
			memmove(buf, buf + start, end - start);
			end -= start;
			from -= start;
			start = 0;
		}
		if (cap - end < READSZ / 2) {
			buf = xreallocarray(buf, 2, cap);
			cap *= 2;
		}
		if ((r = read(fd, buf + end, cap - end)) == -1) {
			if (errno == EINTR)
				continue;
			warn("%s", name);
			smap_stop(STOP_ERROR, 0);
			break;
		}
		if (r == 0)
			eof = 1;
		end += r;
	}
	if (cur != NULL) {
		if (!smap_stopping())
			order_put(cur);
		else
			order_unalloc(cur);
		cur = NULL;
	}
	free(buf);
	order_eof();
	return NULL;
}
