/*
 * Fuzzes record splitting: feed_scan over the whole buffer, and the real
 * feeder (feed_main) reading the same bytes chunk by chunk, give the
 * records of a plain reference split: a last record without delimiter
 * counts, a final delimiter makes no empty record.  feed_main reads
 * through a wrapped read(2) (-Wl,--wrap=read) that serves the input in
 * chunks of sizes drawn from the input, with EINTR now and then, and
 * hands its jobs to the order_* stubs below, which check each one: its
 * records (-n), its bytes (--pipe, --block), its job and record numbers
 * (records count from 1 in input order, bad ones too; jobs count only
 * those put).
 *
 * The window holds -b jobs, and order_more(nrec) is asked before a
 * record goes into a job of nrec records: for one record more than the
 * last time, or as many, and never again once it returned 0 (put the
 * job now), which it does exactly when nrec >= -b (never with --pipe,
 * where the window counts jobs).  So every job but the last is full:
 * -n records, or -b when that is fewer (--pipe: -n records or --block
 * bytes), whatever the timing.
 *
 * A record that cannot be an argument (a NUL byte, longer than
 * ARGMAX_REC) is left out of every job and reported once (order_bad),
 * in input order, not before its bytes show it bad, and at the latest
 * once it is complete or ARGMAX_REC + 1 of its bytes are read; the
 * feeder never holds more than ARGMAX_REC + 1 bytes it has not consumed
 * (feed_bytes) when it reads, so a long record's rest is dropped as it
 * comes.  When the command does not use the records' bytes (a template
 * of {#} only: cmd_usesrec() is 0), none is bad: every record runs,
 * with length 0, and is dropped as it comes too.  feed_delim never
 * crashes, and agrees with a reference parse of -d.
 *
 * While feed_main runs, stderr is a stream on /dev/null, for its
 * warnings about bad records; the harness's messages and the
 * sanitizers' go to descriptor 2 as ever.
 *
 * Input: delim, config, big, nchunks, chunk sizes..., then the data.
 *	config	bits 0-1 -n (1-4), bit 2 --pipe, bits 3-4 --block (0, 1,
 *		7, 100 bytes) with --pipe, else the command: echo {},
 *		echo {#} (the records' bytes not used), echo {#} --tag,
 *		echo (the record appended); bits 5-7 the window (-b 1-7;
 *		0: inf)
 *	big	255: the data, 384 KiB of a byte not the delimiter, the
 *		data again: a record past ARGMAX_REC, and past the
 *		feeder's first buffers
 *	nchunks	bits 0-2 + 1 chunk sizes follow; bits 4-6 shift them left
 *		(at least 10 bits with big)
 *	chunk	size of one read(2), cycled; 0 is a read failing with EINTR
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smap.h"

#define FAKEFD		1000	/* the descriptor feed_main reads */
#define MAXDATA		(384 * 1024)

extern _Atomic uint64_t feed_bytes __attribute__((__weak__));

ssize_t	__real_read(int, void *, size_t);
ssize_t	__wrap_read(int, void *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

/* Descriptor 2, not stderr: that is /dev/null while feed_main runs. */
#define FAIL(...) do {							\
	dprintf(STDERR_FILENO, "fuzz_split: " __VA_ARGS__);		\
	dprintf(STDERR_FILENO, "\n");					\
	abort();							\
} while (0)

/* A record of the reference split. */
struct rec {
	const char	*p;
	size_t		 len;
	int		 complete;	/* had its delimiter */
	int		 bad;		/* cannot be an argument: left out */
};

/* What one job held, for the checks after feed_main. */
struct jobinfo {
	size_t		 nrec;
	size_t		 len;
};

/* The commands of config bits 3-4 without --pipe, and with it. */
static char	*cmds[][3] = {
	{ "echo", "{}", NULL },
	{ "echo", "{#}", NULL },
	{ "echo", "{#}", NULL },	/* with --tag */
	{ "echo", NULL, NULL },
};
static char	*pipecmd[] = { "cat", NULL };

static FILE	*quiet;		/* stderr while feed_main runs */

/* The input being served to feed_main, and what it made of it. */
static struct {
	const char	*data;
	size_t		 len, off;
	const unsigned char *chunks;
	size_t		 nchunks, ci;
	int		 shift;

	struct rec	*recs;		/* the reference split */
	size_t		 nrecs;
	int		 used;		/* cmd_usesrec(): bytes in the jobs */
	uint64_t	 bytes0;	/* feed_bytes before feed_main */
	size_t		 next;		/* the next record expected */
	uint64_t	 seq0;		/* the first job's number */
	size_t		 njobs;
	struct jobinfo	*jobs;
	size_t		 jobcap;
	char		*piped;		/* --pipe: every job's bytes */
	size_t		 pipedlen;

	size_t		 nbad;		/* order_bad() calls */
	size_t		 badk;		/* bad records before it: reported */
	uint32_t	 more;		/* last order_more() nrec, this job */
	int		 moreret;	/* and what it returned */
	int		 eof;

	struct job	*pool[64];	/* put jobs, reused as order.c does */
	size_t		 npool;
	struct job	*all[4096];	/* to free */
	size_t		 nall;
} t;

/* The first record of the reference split from k that is bad, or good. */
static size_t
nextrec(size_t k, int bad)
{
	while (k < t.nrecs && !t.recs[k].bad != !bad)
		k++;
	return k;
}

/* Where record k starts in the input. */
static size_t
recoff(size_t k)
{
	return t.recs[k].p - t.data;
}

/*
 * Whether the t.off bytes read show bad record k bad (must 0), or make
 * it due for its report: complete, or ARGMAX_REC + 1 of its bytes read.
 */
static int
knownbad(size_t k, int must)
{
	const struct rec *r = &t.recs[k];
	const char	*nul;
	size_t		 off = recoff(k);

	if (r->len > ARGMAX_REC && t.off >= off + ARGMAX_REC + 1)
		return 1;
	if (must)
		return r->complete && t.off >= off + r->len + 1;
	return (nul = memchr(r->p, '\0', r->len)) != NULL &&
	    t.off > (size_t)(nul - t.data);
}

/*
 * read(2) for feed_main: the next chunk of the input.  Without --pipe,
 * the feeder has by now reported every bad record that is due, and
 * holds no more of the input than an argument's worth.
 */
ssize_t
__wrap_read(int fd, void *buf, size_t n)
{
	size_t	c, b, held;

	if (fd != FAKEFD)
		return __real_read(fd, buf, n);
	if (!opt.pipe) {
		if ((b = nextrec(t.badk, 1)) < t.nrecs && knownbad(b, 1))
			FAIL("record %zu (%zu bytes, at %zu) not reported "
			    "bad with %zu bytes read", b + 1, t.recs[b].len,
			    recoff(b), t.off);
		if (&feed_bytes != NULL && (held = t.off -
		    (size_t)(feed_bytes - t.bytes0)) > ARGMAX_REC + 1)
			FAIL("feeder holds %zu bytes not consumed at %zu, "
			    "more than a record", held, t.off);
	}
	if (t.off == t.len)
		return 0;
	c = (size_t)t.chunks[t.ci++ % t.nchunks] << t.shift;
	if (c == 0) {
		errno = EINTR;
		return -1;
	}
	if (c > n)
		c = n;
	if (c > t.len - t.off)
		c = t.len - t.off;
	memcpy(buf, t.data + t.off, c);
	t.off += c;
	return c;
}

/*
 * A job for the feeder: new, as order.c makes it (rec the inline
 * buffer), or one put before, with its buffers kept (a large rec given
 * up, as order.c does) and every other field stale.
 */
struct job *
order_alloc(void)
{
	struct job	*j;
	char		*rec;
	size_t		*ends, reccap, endcap;

	if (t.npool > 0) {
		j = t.pool[--t.npool];
		if (j->reccap > 4096) {
			free(j->rec);
			j->rec = j->inl;
			j->reccap = sizeof(j->inl);
		}
		rec = j->rec;
		reccap = j->reccap;
		ends = j->ends;
		endcap = j->endcap;
		memset(j, 0xa5, sizeof(*j));
		memset(rec, 0xa5, reccap);
		j->rec = rec;
		j->reccap = reccap;
		j->ends = ends;
		j->endcap = endcap;
		return j;
	}
	if (t.nall == sizeof(t.all) / sizeof(t.all[0]))
		FAIL("harness: too many jobs");
	if ((j = calloc(1, sizeof(*j))) == NULL)
		abort();
	j->rec = j->inl;
	j->reccap = sizeof(j->inl);
	t.all[t.nall++] = j;
	return j;
}

/*
 * As order.c, but where it waits for room this returns 0: only when the
 * job's own records fill the window (with --pipe the window counts
 * jobs).  Asked for the job being filled, of nrec records: one more
 * than the last time, or as many, and not again once told to put it.
 */
int
order_more(uint32_t nrec)
{
	if (t.eof)
		FAIL("order_more after order_eof");
	if (t.moreret == 0)
		FAIL("order_more(%u) after 0, the job not put", (unsigned)nrec);
	if (nrec == 0 || (nrec != t.more + 1 && nrec != t.more))
		FAIL("order_more(%u) after order_more(%u) for the same job",
		    (unsigned)nrec, (unsigned)t.more);
	t.more = nrec;
	t.moreret = opt.pipe || nrec < opt.window;
	return t.moreret;
}

/*
 * A record left out: the next bad one of the input, shown bad by the
 * bytes read, and no record after it put yet.
 */
void
order_bad(void)
{
	size_t	b;

	if (t.eof)
		FAIL("order_bad after order_eof");
	if ((b = nextrec(t.badk, 1)) >= t.nrecs)
		FAIL("order_bad called %zu times, for %zu bad records",
		    t.nbad + 1, t.nbad);
	if (t.next > b)
		FAIL("record %zu reported bad after record %zu was put",
		    b + 1, t.next);
	if (!knownbad(b, 0))
		FAIL("record %zu (%zu bytes, at %zu) reported bad with only "
		    "%zu bytes read", b + 1, t.recs[b].len, recoff(b), t.off);
	t.badk = b + 1;
	t.nbad++;
}

void
order_unalloc(struct job *j)
{
	(void)j;
	FAIL("order_unalloc while not stopping");
}

void
order_eof(void)
{
	t.eof++;
}

/* Checks job j as the feeder puts it in the window. */
void
order_put(struct job *j)
{
	const struct rec *r;
	size_t		 i, from, n, want, k, first;

	if (t.eof)
		FAIL("job put after order_eof");
	if (t.njobs == 0)
		t.seq0 = j->seq;
	if (j->seq != t.seq0 + t.njobs)
		FAIL("job %zu: seq %llu, not %llu", t.njobs + 1,
		    (unsigned long long)j->seq,
		    (unsigned long long)(t.seq0 + t.njobs));
	if (j->nrec < 1 || j->nrec > opt.maxargs)
		FAIL("job %zu: %u records, -n %zu", t.njobs + 1,
		    (unsigned)j->nrec, opt.maxargs);
	if (j->nrec != t.more + t.moreret)
		FAIL("job %zu: %u records, order_more(%u) returned %d",
		    t.njobs + 1, (unsigned)j->nrec, (unsigned)t.more,
		    t.moreret);
	first = nextrec(t.next, 0);
	if (j->len + 1 > j->reccap || j->rec[j->len] != '\0')
		FAIL("job %zu: rec not NUL-terminated", t.njobs + 1);
	for (k = first, from = i = 0; i < j->nrec; from = job_end(j, i++)) {
		if ((k = nextrec(k, 0)) >= t.nrecs)
			FAIL("job %zu: records past the %zu of the input",
			    t.njobs + 1, t.nrecs);
		r = &t.recs[k++];
		if (job_end(j, i) < from || job_end(j, i) > j->len)
			FAIL("job %zu: record %zu ends at %zu, out of order",
			    t.njobs + 1, i + 1, job_end(j, i));
		n = job_end(j, i) - from;
		want = !t.used ? 0 : r->len + (opt.pipe && r->complete);
		if (n != want || memcmp(j->rec + from, r->p,
		    want < r->len ? want : r->len) != 0 ||
		    (want > r->len &&
		    (unsigned char)j->rec[from + r->len] != opt.delim))
			FAIL("job %zu: record %zu (%zu bytes) differs from "
			    "record %zu of the input (%zu bytes)", t.njobs + 1,
			    i + 1, n, k, want);
	}
	if (job_end(j, j->nrec - 1) != j->len)
		FAIL("job %zu: last end %zu, len %zu", t.njobs + 1,
		    job_end(j, j->nrec - 1), j->len);
	if (j->recno != first + 1)
		FAIL("job %zu: recno %llu, not %zu", t.njobs + 1,
		    (unsigned long long)j->recno, first + 1);
	if (nextrec(t.badk, 1) < k)
		FAIL("job %zu: put with record %zu before bad record %zu "
		    "was reported", t.njobs + 1, k, nextrec(t.badk, 1) + 1);
	if (opt.pipe) {
		memcpy(t.piped + t.pipedlen, j->rec, j->len);
		t.pipedlen += j->len;
	}
	if (t.njobs == t.jobcap) {
		t.jobcap = t.jobcap == 0 ? 64 : 2 * t.jobcap;
		if ((t.jobs = realloc(t.jobs, t.jobcap *
		    sizeof(*t.jobs))) == NULL)
			abort();
	}
	t.jobs[t.njobs].nrec = j->nrec;
	t.jobs[t.njobs].len = j->len;
	t.njobs++;
	t.next = k;
	t.more = 0;
	t.moreret = 1;
	if (t.npool < sizeof(t.pool) / sizeof(t.pool[0]))
		t.pool[t.npool++] = j;
}

/* The reference split of buf at delim, into t.recs. */
static void
refsplit(const char *buf, size_t len, int delim)
{
	const char	*p, *end = buf + len;
	size_t		 cap = 0;

	t.nrecs = 0;
	for (p = buf; p < end; ) {
		if (t.nrecs == cap) {
			cap = cap == 0 ? 64 : 2 * cap;
			if ((t.recs = realloc(t.recs, cap *
			    sizeof(*t.recs))) == NULL)
				abort();
		}
		t.recs[t.nrecs].p = p;
		if ((p = memchr(p, delim, end - p)) == NULL)
			p = end;
		t.recs[t.nrecs].len = p - t.recs[t.nrecs].p;
		t.recs[t.nrecs].complete = p < end;
		t.nrecs++;
		p += p < end;
	}
}

/* feed_scan over the whole buffer gives the reference records. */
static void
check_scan(const char *buf, size_t len, int delim)
{
	size_t	start, n, k;
	int	complete;

	for (k = start = 0; start < len; k++) {
		n = feed_scan(buf + start, len - start, delim, &complete);
		if (k >= t.nrecs || n != t.recs[k].len ||
		    complete != t.recs[k].complete ||
		    buf + start != t.recs[k].p)
			FAIL("feed_scan: record %zu at %zu: %zu bytes, "
			    "complete %d", k + 1, start, n, complete);
		start += n + complete;
	}
	if (k != t.nrecs)
		FAIL("feed_scan: %zu records, not %zu", k, t.nrecs);
}

/* The reference parse of -d: one byte, \n \t \0 \\, or \x and 1-2 hex. */
static int
refdelim(const char *s)
{
	size_t	n = strlen(s), i;
	int	v = 0, c;

	if (n == 1)
		return (unsigned char)s[0];
	if (n == 2 && s[0] == '\\') {
		switch (s[1]) {
		case 'n': return '\n';
		case 't': return '\t';
		case '0': return '\0';
		case '\\': return '\\';
		}
		return -1;
	}
	if (n < 3 || n > 4 || s[0] != '\\' || s[1] != 'x')
		return -1;
	for (i = 2; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= '0' && c <= '9')
			v = 16 * v + c - '0';
		else if (c >= 'a' && c <= 'f')
			v = 16 * v + c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = 16 * v + c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* feed_delim on every NUL-terminated piece of the input, and on all. */
static void
check_delim(const unsigned char *data, size_t size)
{
	char	*s;
	size_t	 start, i;
	int	 d, r;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	for (start = i = 0; i <= size; i++) {
		if (i < size && s[i] != '\0')
			continue;
		d = feed_delim(s + start);
		r = refdelim(s + start);
		if (d != r)
			FAIL("feed_delim(\"%s\") = %d, not %d", s + start, d, r);
		start = i + 1;
		if (i > 64)
			break;		/* -d takes short strings */
	}
	free(s);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((quiet = fopen("/dev/null", "w")) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const size_t blocks[] = { 0, 1, 7, 100 };
	static const unsigned char one = 1;
	FILE		*err;
	char		*buf, **cmd;
	size_t		 i, len, big, hdr, nbad, full;
	int		 delim, cfg, nz;

	check_delim(data, size);
	if (size < 4)
		return 0;
	delim = data[0];
	cfg = data[1];
	big = data[2] == 255 ? MAXDATA : 0;
	hdr = 4 + (data[3] & 7) + 1;
	if (size < hdr)
		return 0;
	len = size - hdr;
	if ((buf = malloc(2 * len + big + 1)) == NULL)
		abort();
	memcpy(buf, data + hdr, len);
	if (big > 0) {
		memset(buf + len, delim ^ 0x55, big);
		memcpy(buf + len + big, data + hdr, len);
		len = 2 * len + big;
	}

	refsplit(buf, len, delim);
	check_scan(buf, len, delim);

	memset(&t, 0, offsetof(__typeof__(t), recs));
	t.data = buf;
	t.len = len;
	t.chunks = data + 4;
	t.nchunks = (data[3] & 7) + 1;
	t.shift = (data[3] >> 4) & 7;
	if (big > 0 && t.shift < 10)
		t.shift = 10;		/* not a million reads */
	for (nz = 0, i = 0; i < t.nchunks; i++)
		nz |= t.chunks[i] != 0;
	if (!nz) {
		t.chunks = &one;
		t.nchunks = 1;
	}
	t.next = t.njobs = t.pipedlen = t.nbad = t.badk = 0;
	t.more = 0;
	t.moreret = 1;
	t.eof = 0;
	/* The window: bits 5-7, 0 for none. */
	opt.window = (cfg >> 5) & 7 ? (size_t)((cfg >> 5) & 7) : SIZE_MAX;
	if ((t.piped = malloc(len + 1)) == NULL)
		abort();
	opt.delim = delim;
	opt.maxargs = (cfg & 3) + 1;
	opt.pipe = (cfg >> 2) & 1;
	opt.block = opt.pipe ? blocks[(cfg >> 3) & 3] : 0;
	if (opt.block > 0 && opt.maxargs == 1)
		opt.maxargs = SIZE_MAX;		/* as smap.c does */
	/* The command, read by cmd_usesrec(): {#} alone needs no bytes. */
	cmd = opt.pipe ? pipecmd : cmds[(cfg >> 3) & 3];
	opt.tag = !opt.pipe && ((cfg >> 3) & 3) == 2;
	cmd_init(cmd[1] == NULL ? 1 : 2, cmd);
	t.used = opt.pipe || ((cfg >> 3) & 3) != 1;
	if (cmd_usesrec() != t.used)
		FAIL("harness: cmd_usesrec() %d for \"%s%s%s\"%s",
		    cmd_usesrec(), cmd[0], cmd[1] != NULL ? " " : "",
		    cmd[1] != NULL ? cmd[1] : "", opt.tag ? " --tag" : "");
	for (nbad = i = 0; i < t.nrecs; i++) {
		t.recs[i].bad = !opt.pipe && t.used &&
		    (t.recs[i].len > ARGMAX_REC ||
		    memchr(t.recs[i].p, '\0', t.recs[i].len) != NULL);
		nbad += t.recs[i].bad;
	}
	t.bytes0 = &feed_bytes != NULL ? feed_bytes : 0;

	/* feed_main warns of the bad records: not here. */
	err = stderr;
	stderr = quiet;
	feed_main((void *)(intptr_t)FAKEFD);
	stderr = err;

	if (t.eof != 1)
		FAIL("order_eof called %d times", t.eof);
	if (t.off != t.len)
		FAIL("feed_main read %zu of %zu bytes", t.off, t.len);
	if (nextrec(t.next, 0) != t.nrecs)
		FAIL("records in jobs up to %zu, not %zu", t.next, t.nrecs);
	if (t.nbad != nbad)
		FAIL("%zu records reported bad, not %zu", t.nbad, nbad);
	if (&feed_bytes != NULL && feed_bytes - t.bytes0 != len)
		FAIL("feed_bytes grew by %llu, not %zu",
		    (unsigned long long)(feed_bytes - t.bytes0), len);
	if (opt.pipe && (t.pipedlen != len || memcmp(t.piped, buf, len) != 0))
		FAIL("--pipe: the jobs' bytes are not the input");
	/* Every job but the last is full: groups never depend on timing. */
	full = opt.pipe || opt.maxargs < opt.window ? opt.maxargs : opt.window;
	for (i = 0; i + 1 < t.njobs; i++)
		if (t.jobs[i].nrec != full &&
		    (opt.block == 0 || t.jobs[i].len < opt.block))
			FAIL("job %zu of %zu put with %zu records, %zu bytes, "
			    "not %zu records", i + 1, t.njobs, t.jobs[i].nrec,
			    t.jobs[i].len, full);

	for (i = 0; i < t.nall; i++) {
		if (t.all[i]->rec != t.all[i]->inl)
			free(t.all[i]->rec);
		free(t.all[i]->ends);
		free(t.all[i]);
	}
	t.nall = t.npool = 0;
	free(t.piped);
	free(buf);
	return 0;
}
