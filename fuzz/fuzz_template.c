/*
 * Fuzzes templates: cmd_init on command words from the input, then
 * cmd_line and (when cmd_direct()) cmd_argv for a job of records from
 * the input, under -I, --colsep, -n, --pipe and --shell as smap.c
 * allows them together.  The scratch buffers are freed before each call
 * (cmd_free), so they are allocated to the size cmd.c computes and ASan
 * sees any byte written past it.
 *
 * When the template's literal text is plain (shell.c: only plain bytes
 * and blanks), the shell's words of the line, by shell.c's model, must
 * be those of a reference expansion written here from SPEC.md and GNU
 * parallel's rules, and when cmd_direct() cmd_argv must give those same
 * words.  cmd_direct() must also not hold with --shell, -n > 1,
 * --colsep or --pipe, nor for a template whose literal text is not plain
 * or whose first word is not literal, an assignment or a reserved word.
 *
 * Input: cfg, cfg2, seq, then NUL-separated fields: the records, the -I
 * string (when cfg says so), then the command words.
 *	cfg	bits 0-1: -I {} {} XX or a field; bits 2-4: --colsep none
 *		(0-3) , TAB " +" and "[,:]" or "a*" (bit 7); bit 5
 *		--shell; bit 6 --pipe
 *	cfg2	bits 0-1 -n 1-4; bits 2-3 records in the job (up to -n);
 *		bits 4-7 the slot, 1-15 or UINT_MAX
 *	seq	the job number, 1-255 or UINT64_MAX
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smap.h"
#include "shell.h"

/* The pieces of a template (the harness's own numbering, not cmd.c's). */
enum { LIT, REC, NOEXT, BASE, DIR, BASENOEXT, SEQ, SLOT, COL, COLS };

#define MAXWORDS	64

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz_template: " __VA_ARGS__);			\
	fputc('\n', stderr);						\
	abort();							\
} while (0)

/* The reference: the template's pieces, and the words they make. */
struct ref {
	int		*type;		/* one a byte of the template, or less */
	size_t		*col;
	char		*lit;		/* LIT: its byte */
	size_t		 nseg;
	int		 simple;	/* all literal bytes plain or blank */

	char		*buf;		/* the words, each NUL-terminated */
	size_t		 o, cap;
	size_t		 off[SH_MAXWORDS], len[SH_MAXWORDS];
	int		 fromrec[SH_MAXWORDS]; /* has a replacement's bytes */
	size_t		 n;
	int		 inword;
};

static int	colsep;		/* which of the --colsep choices */

int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

/* Does the template at s start with a replacement string?  Its length. */
static size_t
refmatch(const char *s, int *type, size_t *col)
{
	static const struct { const char *s; int type; } list[] = {
		{ "{//}", DIR }, { "{/.}", BASENOEXT }, { "{.}", NOEXT },
		{ "{/}", BASE }, { "{#}", SEQ }, { "{%}", SLOT },
	};
	size_t	 i, n;

	n = strlen(opt.repl);
	if (n > 0 && strncmp(s, opt.repl, n) == 0) {
		*type = REC;
		return n;
	}
	for (i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		n = strlen(list[i].s);
		if (strncmp(s, list[i].s, n) == 0) {
			*type = list[i].type;
			return n;
		}
	}
	if (s[0] == '{' && s[1] >= '1' && s[1] <= '9') {
		n = strspn(s + 1, "0123456789");
		if (n < 9 && s[1 + n] == '}') {
			*type = COL;
			*col = strtoul(s + 1, NULL, 10);
			return n + 2;
		}
	}
	return 0;
}

/* Splits the template line into pieces, as SPEC.md describes it. */
static void
refparse(struct ref *r, const char *line)
{
	size_t	 i = 0, n, col = 0, cap;
	int	 type, nrepl = 0;

	cap = strlen(line) + 2;
	if ((r->type = malloc(cap * sizeof(*r->type))) == NULL ||
	    (r->col = malloc(cap * sizeof(*r->col))) == NULL ||
	    (r->lit = malloc(cap)) == NULL)
		abort();
	r->nseg = 0;
	r->simple = 1;
	while (line[i] != '\0') {
		if ((n = refmatch(line + i, &type, &col)) > 0) {
			r->type[r->nseg] = type;
			r->col[r->nseg++] = col;
			nrepl++;
			i += n;
			continue;
		}
		if (!sh_plain((unsigned char)line[i]) && line[i] != ' ' &&
		    line[i] != '\t')
			r->simple = 0;
		r->type[r->nseg] = LIT;
		r->lit[r->nseg++] = line[i++];
	}
	if (nrepl == 0 && !opt.pipe) {
		r->type[r->nseg] = LIT;
		r->lit[r->nseg++] = ' ';
		r->type[r->nseg++] = opt.colsep != NULL ? COLS : REC;
	}
}

/* Adds bytes to the word being made, starting one if need be. */
static void
refadd(struct ref *r, const char *p, size_t n, int fromrec)
{
	if (r->o + n + 2 > r->cap) {
		r->cap = 2 * (r->o + n + 2);
		if ((r->buf = realloc(r->buf, r->cap)) == NULL)
			abort();
	}
	if (!r->inword) {
		if (r->n == SH_MAXWORDS)
			FAIL("harness: too many words");
		r->off[r->n] = r->o;
		r->fromrec[r->n] = 0;
		r->n++;
		r->inword = 1;
	}
	memcpy(r->buf + r->o, p, n);
	r->o += n;
	r->fromrec[r->n - 1] |= fromrec;
	r->len[r->n - 1] = r->o - r->off[r->n - 1];
}

/* Ends the word being made. */
static void
refend(struct ref *r)
{
	if (r->inword)
		r->buf[r->o++] = '\0';
	r->inword = 0;
}

/* A replacement's piece: a word of its own after the first. */
static void
refpiece(struct ref *r, int k, const char *p, size_t n)
{
	if (k > 0)
		refend(r);
	refadd(r, p, n, 1);
}

static int
issep(int c)
{
	switch (colsep) {
	case 4: return c == ',';
	case 5: return c == '\t';
	case 6: return c == ' ';
	default: return c == ',' || c == ':';
	}
}

/*
 * The columns of record s (n bytes) as --colsep splits it, each a piece
 * from the k-th on, or only column only (from 1; empty past the last).
 * Returns the next k.
 */
static int
refcols(struct ref *r, int k, const char *s, size_t n, size_t only)
{
	size_t	at = 0, start, end, col = 0;

	while (at <= n) {
		start = at;
		col++;
		if (colsep == 8) {		/* a*: empty matches ignored */
			if (at < n && s[at] == 'a') {
				end = at;
				while (at < n && s[at] == 'a')
					at++;
			} else {
				end = n;
				at = n + 1;
			}
		} else {
			for (end = at; end < n && !issep((unsigned char)s[end]);
			    end++)
				;
			if (end == n)
				at = n + 1;
			else {
				at = end + 1;
				if (colsep == 6)
					while (at < n && s[at] == ' ')
						at++;
			}
		}
		if (only == 0)
			refpiece(r, k++, s + start, end - start);
		else if (only == col) {
			refpiece(r, k++, s + start, end - start);
			return k;
		}
	}
	if (only != 0)
		refpiece(r, k++, "", 0);
	return k;
}

/* Last '.' with no '/' after it: where {.} cuts. */
static size_t
noext(const char *s, size_t n)
{
	size_t	i;

	for (i = n; i > 0; i--) {
		if (s[i - 1] == '/')
			return n;
		if (s[i - 1] == '.')
			return i - 1;
	}
	return n;
}

/* dirname(1) as POSIX describes it, // taken as /. */
static size_t
dirnm(const char *s, size_t n, const char **p)
{
	size_t	i;

	*p = s;
	for (i = 0; i < n && s[i] == '/'; i++)
		;
	if (n > 0 && i == n) {
		*p = "/";
		return 1;
	}
	while (n > 0 && s[n - 1] == '/')
		n--;
	if (memchr(s, '/', n) == NULL) {
		*p = ".";
		return 1;
	}
	while (n > 0 && s[n - 1] != '/')
		n--;
	while (n > 0 && s[n - 1] == '/')
		n--;
	if (n == 0) {
		*p = "/";
		return 1;
	}
	return n;
}

/* The words of the line for job j in slot, by the reference. */
static void
refwords(struct ref *r, const struct job *j, unsigned slot)
{
	const char	*p, *q;
	char		 num[32];
	size_t		 i, k, from, n, b;
	int		 kk;

	r->o = r->n = 0;
	r->inword = 0;
	for (i = 0; i < r->nseg; i++) {
		switch (r->type[i]) {
		case LIT:
			if (r->lit[i] == ' ' || r->lit[i] == '\t')
				refend(r);
			else
				refadd(r, &r->lit[i], 1, 0);
			continue;
		case SEQ:
		case SLOT:
			snprintf(num, sizeof(num), "%llu", r->type[i] == SEQ ?
			    (unsigned long long)j->seq : (unsigned long long)slot);
			refpiece(r, 0, num, strlen(num));
			continue;
		}
		if (opt.pipe)
			continue;	/* records go to standard input */
		kk = 0;
		for (from = k = 0; k < j->nrec; from = job_end(j, k++)) {
			p = j->rec + from;
			n = job_end(j, k) - from;
			for (b = n; b > 0 && p[b - 1] != '/'; b--)
				;
			switch (r->type[i]) {
			case REC:
				refpiece(r, kk++, p, n);
				break;
			case NOEXT:
				refpiece(r, kk++, p, noext(p, n));
				break;
			case BASE:
				refpiece(r, kk++, p + b, n - b);
				break;
			case BASENOEXT:
				refpiece(r, kk++, p + b, noext(p + b, n - b));
				break;
			case DIR:
				n = dirnm(p, n, &q);
				refpiece(r, kk++, q, n);
				break;
			case COL:
				if (opt.colsep != NULL)
					kk = refcols(r, kk, p, n, r->col[i]);
				else
					refpiece(r, kk++, p, r->col[i] == 1 ?
					    n : 0);
				break;
			case COLS:
				kk = refcols(r, kk, p, n, 0);
				break;
			}
		}
	}
	refend(r);
}

static void
refree(struct ref *r)
{
	free(r->type);
	free(r->col);
	free(r->lit);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Prints n bytes of s, escaped, to standard error. */
static void
esc(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (s[i] >= ' ' && s[i] < 127 && s[i] != '\\')
			fputc(s[i], stderr);
		else
			fprintf(stderr, "\\x%02x", (unsigned char)s[i]);
}

static void __dead
mismatch(const char *what, const char *line, const struct ref *r,
    char *const *av, const struct shwords *sw)
{
	size_t	i;

	fprintf(stderr, "fuzz_template: %s\n  line: [", what);
	esc(line, strlen(line));
	fprintf(stderr, "]\n  want:");
	for (i = 0; i < r->n; i++) {
		fprintf(stderr, " [");
		esc(r->buf + r->off[i], r->len[i]);
		fprintf(stderr, "]");
	}
	fprintf(stderr, "\n  got: ");
	for (i = 0; av != NULL && av[i] != NULL; i++) {
		fprintf(stderr, " [");
		esc(av[i], strlen(av[i]));
		fprintf(stderr, "]");
	}
	for (i = 0; sw != NULL && i < sw->n; i++) {
		fprintf(stderr, " [");
		esc(sw->buf + sw->off[i], sw->len[i]);
		fprintf(stderr, "]");
	}
	fprintf(stderr, "\n");
	abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *const seps[] = { NULL, NULL, NULL, NULL, ",",
	    "\t", " +", "[,:]", "a*" };
	static struct ref	 ref;
	static struct shwords	 sw;
	struct job	 j;
	char		*copy, *words[MAXWORDS], *tmpl, *lcopy;
	char	*const	*av;
	const char	*line, *fields[MAXWORDS + 8];
	size_t		 i, k, nf, f, nw, nrec, len, tlen;
	unsigned	 slot;
	int		 cfg, cfg2, direct;

	if (size < 3)
		return 0;
	cfg = data[0];
	cfg2 = data[1];
	if ((copy = malloc(size - 2)) == NULL)
		abort();
	memcpy(copy, data + 3, size - 3);
	copy[size - 3] = '\0';
	fields[0] = copy;
	for (nf = 1, i = 0; i < size - 3 && nf < MAXWORDS + 8; i++)
		if (copy[i] == '\0')
			fields[nf++] = copy + i + 1;

	opt.maxargs = (cfg2 & 3) + 1;
	nrec = 1 + ((cfg2 >> 2) & 3) % opt.maxargs;
	slot = ((cfg2 >> 4) & 15) == 15 ? UINT_MAX : ((cfg2 >> 4) & 15) + 1;
	memset(&j, 0, sizeof(j));
	j.seq = data[2] == 255 ? UINT64_MAX : (uint64_t)data[2] + 1;
	colsep = (cfg >> 2) & 7;
	if (colsep == 7 && (cfg & 0x80))
		colsep = 8;
	opt.pipe = (cfg >> 6) & 1;
	opt.shell = cfg & 0x20 ? "/bin/sh" : NULL;
	if (opt.maxargs > 1 || opt.pipe)
		colsep = 0;			/* as smap.c refuses */
	opt.colsep = seps[colsep];

	/* The job: records from the first fields. */
	f = 0;
	for (len = k = 0; k < nrec; k++)
		len += k < nf ? strlen(fields[k]) : 0;
	if ((j.rec = malloc(len + 1)) == NULL ||
	    (j.ends = malloc((nrec - 1) * sizeof(*j.ends) + 1)) == NULL)
		abort();
	for (len = k = 0; k < nrec; k++) {
		if (f < nf) {
			memcpy(j.rec + len, fields[f], strlen(fields[f]));
			len += strlen(fields[f++]);
		}
		if (k == 0)
			j.end1 = len;
		else
			j.ends[k - 1] = len;
	}
	j.rec[len] = '\0';
	j.len = len;
	j.nrec = nrec;
	j.reccap = len + 1;
	j.endcap = nrec - 1;

	switch (cfg & 3) {
	case 2:
		opt.repl = "XX";
		break;
	case 3:
		opt.repl = f < nf && fields[f][0] != '\0' ? fields[f] : "{}";
		f++;
		break;
	default:
		opt.repl = "{}";
	}
	for (nw = 0, tlen = 1; f < nf && nw < MAXWORDS; f++) {
		words[nw++] = (char *)fields[f];
		tlen += strlen(fields[f]) + 1;
	}
	if (nw == 0) {
		words[nw++] = "cmd";
		tlen += 4;
	}
	if ((tmpl = malloc(tlen)) == NULL)
		abort();
	tmpl[0] = '\0';
	for (i = 0; i < nw; i++) {
		if (i > 0)
			strlcat(tmpl, " ", tlen);
		strlcat(tmpl, words[i], tlen);
	}

	cmd_init((int)nw, words);
	refparse(&ref, tmpl);

	cmd_free();
	line = cmd_line(&j, slot, &len);
	if (len != strlen(line))
		FAIL("cmd_line: length %zu, strlen %zu", len, strlen(line));
	if ((lcopy = strdup(line)) == NULL)
		abort();
	cmd_free();
	direct = cmd_direct();
	if (ref.simple) {
		refwords(&ref, &j, slot);
		if (sh_split(lcopy, len, &sw) == -1)
			mismatch("line of a plain template has an unquoted "
			    "metacharacter", lcopy, &ref, NULL, NULL);
		if (sw.n != ref.n)
			mismatch("line has other words", lcopy, &ref, NULL, &sw);
		for (i = 0; i < ref.n; i++)
			if (sw.len[i] != ref.len[i] || memcmp(sw.buf +
			    sw.off[i], ref.buf + ref.off[i], ref.len[i]) != 0)
				mismatch("line has other words", lcopy, &ref,
				    NULL, &sw);
		sh_free(&sw);
	}
	if (direct) {
		if (opt.shell != NULL || opt.maxargs > 1 ||
		    opt.colsep != NULL || opt.pipe)
			FAIL("cmd_direct() with --shell, -n, --colsep or "
			    "--pipe: [%s]", tmpl);
		if (!ref.simple)
			FAIL("cmd_direct() though the template needs a shell: "
			    "[%s]", tmpl);
		if (ref.n == 0 || ref.fromrec[0])
			FAIL("cmd_direct() with no literal first word: [%s]",
			    tmpl);
		if (sh_assignment(ref.buf, ref.len[0]) ||
		    sh_reserved(ref.buf, ref.len[0]))
			FAIL("cmd_direct() with an assignment or reserved "
			    "word first: [%s]", tmpl);
		av = cmd_argv(&j, slot);
		for (i = 0; av[i] != NULL; i++)
			if (i >= ref.n || strlen(av[i]) != ref.len[i] ||
			    memcmp(av[i], ref.buf + ref.off[i],
			    ref.len[i]) != 0)
				mismatch("cmd_argv differs", lcopy, &ref, av,
				    NULL);
		if (i != ref.n)
			mismatch("cmd_argv differs", lcopy, &ref, av, NULL);
		cmd_free();
	}

	refree(&ref);
	free(lcopy);
	free(tmpl);
	free(j.rec);
	free(j.ends);
	free(copy);
	return 0;
}
