/*
 * The command line of a record: the template made of the command words,
 * its replacement strings, shell quoting, and the argument vector for
 * running the program directly when the line needs no shell.
 */

#include <err.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smap.h"

enum { SEG_LIT, SEG_REC, SEG_NOEXT, SEG_BASE, SEG_DIR, SEG_BASENOEXT,
    SEG_SEQ, SEG_SLOT, SEG_COL, SEG_COLS };

/* A piece of the template: literal text or a replacement string. */
struct seg {
	int		 type;
	const char	*s;		/* SEG_LIT: into line */
	size_t		 len;		/* SEG_COL: column number */
};

static const struct {
	const char	*s;
	int		 type;
} repls[] = {			/* longest first */
	{ "{//}", SEG_DIR },
	{ "{/.}", SEG_BASENOEXT },
	{ "{.}", SEG_NOEXT },
	{ "{/}", SEG_BASE },
	{ "{#}", SEG_SEQ },
	{ "{%}", SEG_SLOT },
};

/* Words run without a shell when the first is one of these. */
static const char *const shwords[] = {
	"!", ".", ":", "[", "[[", "]]", "alias", "bg", "break", "builtin",
	"case", "cd", "chdir", "command", "continue", "coproc", "declare",
	"do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit",
	"export", "false", "fc", "fg", "fi", "for", "function", "getopts",
	"hash", "if", "in", "jobs", "kill", "let", "local", "printf", "pwd",
	"read", "readonly", "return", "select", "set", "shift", "source",
	"test", "then", "time", "times", "trap", "true", "type", "typeset",
	"ulimit", "umask", "unalias", "unset", "until", "wait", "while",
	"{", "}",
};

static char		*line;		/* the words joined by spaces */
static struct seg	*segs;
static size_t		 nsegs;
static size_t		 litlen;	/* bytes of literal text */
static size_t		 nwords;	/* words, when run directly */
static regex_t		 colre;		/* --colsep */

/* Per worker scratch space for the line and the argument vector. */
static _Thread_local char	*lbuf;
static _Thread_local size_t	 lcap;
static _Thread_local char	**avbuf;
static _Thread_local size_t	*avoff;
static _Thread_local size_t	 avcap;

static int	issafe(int);
static int	reserved(const char *, size_t);
static int	match(const char *, int *);
static void	addseg(int, const char *, size_t);
static int	plan_direct(void);
static char	*grow(size_t);
static size_t	 fmtnum(char *, uint64_t);
static size_t	 column(const char *, size_t, size_t, const char **);
static size_t	 expand(const struct seg *, const struct job *, unsigned,
		    char *, int);

/* Whether a byte needs no quoting for the shell. */
static int
issafe(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("_./,:@+=%-", c) != NULL;
}

/*
 * Whether the n bytes at s are a word the shell reads as syntax in
 * command position, where a record may stand: a reserved word of sh or
 * bash.  (An assignment, NAME=, has a '=' and is quoted anyway.)
 */
static int
reserved(const char *s, size_t n)
{
	static const char *const words[] = {
		"case", "coproc", "do", "done", "elif", "else", "esac", "fi",
		"for", "function", "if", "in", "select", "then", "time",
		"until", "while",
	};
	size_t	i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == n && memcmp(s, words[i], n) == 0)
			return 1;
	return 0;
}

/* The replacement string at s, its length and type, or 0. */
static int
match(const char *s, int *type)
{
	size_t	i, n;

	n = strlen(opt.repl);
	if (n > 0 && strncmp(s, opt.repl, n) == 0) {
		*type = SEG_REC;
		return n;
	}
	for (i = 0; i < sizeof(repls) / sizeof(repls[0]); i++) {
		n = strlen(repls[i].s);
		if (strncmp(s, repls[i].s, n) == 0) {
			*type = repls[i].type;
			return n;
		}
	}
	if (s[0] == '{' && s[1] >= '1' && s[1] <= '9' &&
	    (n = strspn(s + 1, "0123456789")) < 9 && s[1 + n] == '}') {
		*type = SEG_COL;
		return n + 2;
	}
	return 0;
}

/* Appends a piece to the template. */
static void
addseg(int type, const char *s, size_t len)
{
	segs = xreallocarray(segs, nsegs + 1, sizeof(*segs));
	segs[nsegs].type = type;
	segs[nsegs].s = s;
	segs[nsegs].len = len;
	nsegs++;
	if (type == SEG_LIT)
		litlen += len;
}

/* Parses the command words into the template. */
void
cmd_init(int argc, char **argv)
{
	size_t	 len, n, start, i;
	int	 c, type, nrepl, error;
	char	 msg[128];

	free(line);
	free(segs);
	segs = NULL;
	nsegs = litlen = nwords = 0;
	if (opt.colsep != NULL) {
		regfree(&colre);
		if ((error = regcomp(&colre, opt.colsep, REG_EXTENDED)) != 0) {
			regerror(error, &colre, msg, sizeof(msg));
			errx(EXIT_USAGE, "--colsep %s: %s", opt.colsep, msg);
		}
	}
	for (len = 0, c = 0; c < argc; c++)
		len += strlen(argv[c]) + 1;
	line = xmalloc(len + 5);
	line[0] = '\0';
	for (c = 0; c < argc; c++) {
		if (c > 0)
			strlcat(line, " ", len + 5);
		strlcat(line, argv[c], len + 5);
	}
	nrepl = 0;
	for (start = i = 0; line[i] != '\0'; ) {
		if ((n = match(line + i, &type)) == 0) {
			i++;
			continue;
		}
		if (i > start)
			addseg(SEG_LIT, line + start, i - start);
		addseg(type, NULL, type == SEG_COL ?
		    strtoul(line + i + 1, NULL, 10) : 0);
		nrepl++;
		i += n;
		start = i;
	}
	if (i > start)
		addseg(SEG_LIT, line + start, i - start);
	if (nrepl == 0 && !opt.pipe) {
		addseg(SEG_LIT, " ", 1);
		addseg(opt.colsep != NULL ? SEG_COLS : SEG_REC, NULL, 0);
	}
	if (opt.shell != NULL || opt.maxargs > 1 || opt.colsep != NULL ||
	    opt.pipe || !plan_direct())
		nwords = 0;
}

/*
 * Splits the template into words if the shell would do no more than
 * that: only safe bytes and blanks outside replacement strings, and a
 * first word that is a plain program name, not a builtin, keyword or
 * assignment.  Then the program can be run directly.
 */
static int
plan_direct(void)
{
	size_t	 i, k, w0, rem;
	int	 inword = 0;
	const char *p;

	for (i = 0; i < nsegs; i++) {
		if (segs[i].type != SEG_LIT) {
			if (!inword) {
				if (nwords == 0)
					return 0;	/* program from record */
				inword = 1;
			}
			continue;
		}
		for (k = 0, p = segs[i].s; k < segs[i].len; k++) {
			if (p[k] == ' ' || p[k] == '\t') {
				if (inword)
					nwords++;
				inword = 0;
				continue;
			}
			if (!issafe((unsigned char)p[k]))
				return 0;
			inword = 1;
		}
	}
	if (inword)
		nwords++;
	if (nwords == 0)
		return 0;
	/* The first word: literal only, no assignment, not the shell's. */
	w0 = 0;
	while (segs[w0].type == SEG_LIT &&
	    strspn(segs[w0].s, " \t") >= segs[w0].len)
		w0++;
	if (segs[w0].type != SEG_LIT)
		return 0;
	p = segs[w0].s + strspn(segs[w0].s, " \t");
	rem = segs[w0].s + segs[w0].len - p;
	if ((k = strcspn(p, " \t")) >= rem) {
		k = rem;
		if (w0 + 1 < nsegs && segs[w0 + 1].type != SEG_LIT)
			return 0;		/* e.g. prog{} */
	}
	if (memchr(p, '=', k) != NULL)
		return 0;
	for (i = 0; i < sizeof(shwords) / sizeof(shwords[0]); i++)
		if (strlen(shwords[i]) == k && strncmp(p, shwords[i], k) == 0)
			return 0;
	return 1;
}

/* Frees the calling thread's scratch space. */
void
cmd_free(void)
{
	free(lbuf);
	free(avbuf);
	free(avoff);
	lbuf = NULL;
	avbuf = NULL;
	avoff = NULL;
	lcap = avcap = 0;
}

/* Whether records can run without a shell. */
int
cmd_direct(void)
{
	return nwords > 0;
}

/*
 * Whether the job needs the bytes of its records: some replacement
 * string other than {#} and {%} (or the record appended), --tag, --pipe.
 */
int
cmd_usesrec(void)
{
	size_t	i;

	if (opt.tag || opt.pipe)
		return 1;
	for (i = 0; i < nsegs; i++)
		if (segs[i].type != SEG_LIT && segs[i].type != SEG_SEQ &&
		    segs[i].type != SEG_SLOT)
			return 1;
	return 0;
}

/*
 * Quotes s for the shell into out, which has room for 4 * n + 2 bytes:
 * as it is when every byte is safe and it can be neither an assignment,
 * a reserved word nor an option to the shell (-n, +x starting the line),
 * else in single quotes, each ' as '\''.
 * Returns the length written.
 */
size_t
cmd_quote(char *out, const char *s, size_t n)
{
	size_t	 i, o;

	for (i = 0; i < n; i++)
		if (!issafe((unsigned char)s[i]) || s[i] == '=')
			break;
	if (n > 0 && i == n && s[0] != '-' && s[0] != '+' &&
	    !reserved(s, n)) {
		memcpy(out, s, n);
		return n;
	}
	o = 0;
	out[o++] = '\'';
	for (i = 0; i < n; i++) {
		if (s[i] == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else
			out[o++] = s[i];
	}
	out[o++] = '\'';
	return o;
}

/*
 * The part of record r (n bytes) that replacement type names, as GNU
 * parallel defines it: {.} drops a last extension (\.[^/.]*$), {/} all up
 * to the last slash, {//} is dirname(1).  Sets *p, returns the length.
 */
size_t
cmd_expand(int type, const char *r, size_t n, const char **p)
{
	size_t	i, end;

	*p = r;
	switch (type) {
	case SEG_BASENOEXT:
	case SEG_BASE:
		for (i = n; i > 0 && r[i - 1] != '/'; i--)
			;
		*p = r + i;
		n -= i;
		if (type == SEG_BASE)
			return n;
		r = *p;
		/* FALLTHROUGH */
	case SEG_NOEXT:
		for (i = n; i > 0; i--) {
			if (r[i - 1] == '/')
				break;
			if (r[i - 1] == '.')
				return i - 1;
		}
		return n;
	case SEG_DIR:
		for (end = n; end > 1 && r[end - 1] == '/'; end--)
			;
		for (i = end; i > 0 && r[i - 1] != '/'; i--)
			;
		if (i == 0) {
			*p = ".";
			return 1;
		}
		while (i > 1 && r[i - 1] == '/')
			i--;
		return i;
	default:
		return n;
	}
}

/* Writes v in decimal at p, returns the length. */
static size_t
fmtnum(char *p, uint64_t v)
{
	char	tmp[24];
	size_t	n = 0, i;

	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Makes the scratch line at least n bytes. */
static char *
grow(size_t n)
{
	if (n > lcap) {
		free(lbuf);
		lcap = n > 2 * lcap ? n : 2 * lcap;
		lbuf = xmalloc(lcap);
	}
	return lbuf;
}

/*
 * The column of record r (n bytes) that starts at *at, split at
 * --colsep.  Sets *p, moves *at to the next column (past n after the
 * last) and returns the length.
 */
static size_t
nextcol(const char *r, size_t n, size_t *at, const char **p)
{
	regmatch_t	m;
	size_t		start = *at;

	*p = r + start;
	m.rm_so = start;
	m.rm_eo = n;
	if (regexec(&colre, r, 1, &m, REG_STARTEND) != 0 ||
	    m.rm_eo == m.rm_so) {
		*at = n + 1;
		return n - start;
	}
	*at = m.rm_eo;
	return m.rm_so - start;
}

/* Column col (from 1) of record r; empty past the last. */
static size_t
column(const char *r, size_t n, size_t col, const char **p)
{
	size_t	at = 0, len = 0, k;

	for (k = 1; k <= col; k++) {
		if (at > n) {
			*p = r + n;
			return 0;
		}
		len = nextcol(r, n, &at, p);
	}
	return len;
}

/*
 * Writes at out the expansion of replacement seg for job j in slot: each
 * record (or column) expanded, quoted for the shell if quote, joined by
 * spaces.  Returns the length.
 */
static size_t
expand(const struct seg *sg, const struct job *j, unsigned slot, char *out,
    int quote)
{
	const char	*r, *p;
	size_t		 i, k, n, o = 0, from, at;

	if (sg->type == SEG_SEQ)
		return fmtnum(out, j->seq);
	if (sg->type == SEG_SLOT)
		return fmtnum(out, slot);
	if (opt.pipe)
		return 0;
	for (from = i = 0; i < j->nrec; from = job_end(j, i++)) {
		r = j->rec + from;
		n = job_end(j, i) - from;
		if (sg->type == SEG_COLS) {
			for (at = 0; at <= n; ) {
				k = nextcol(r, n, &at, &p);
				if (o > 0)
					out[o++] = ' ';
				if (quote)
					o += cmd_quote(out + o, p, k);
				else {
					memcpy(out + o, p, k);
					o += k;
				}
			}
			continue;
		}
		if (i > 0)
			out[o++] = ' ';
		if (sg->type == SEG_COL)
			n = opt.colsep != NULL ? column(r, n, sg->len, &p) :
			    sg->len == 1 ? (p = r, n) : (p = r, 0);
		else
			n = cmd_expand(sg->type, r, n, &p);
		if (quote)
			o += cmd_quote(out + o, p, n);
		else {
			memcpy(out + o, p, n);
			o += n;
		}
	}
	return o;
}

/* The shell command line for job j in slot, NUL-terminated. */
const char *
cmd_line(const struct job *j, unsigned slot, size_t *lenp)
{
	size_t		 i, o, max;
	char		*b;

	max = litlen + 1;
	for (i = 0; i < nsegs; i++)
		if (segs[i].type != SEG_LIT)
			max += 7 * j->len + 3 * j->nrec + 24;
	b = grow(max + 1);
	o = 0;
	if (nsegs > 0 && segs[0].type == SEG_LIT && (segs[0].s[0] == '-' ||
	    segs[0].s[0] == '+'))
		b[o++] = ' ';	/* sh -c -x would take it for an option */
	for (i = 0; i < nsegs; i++) {
		if (segs[i].type == SEG_LIT) {
			memcpy(b + o, segs[i].s, segs[i].len);
			o += segs[i].len;
		} else
			o += expand(&segs[i], j, slot, b + o, 1);
	}
	b[o] = '\0';
	if (lenp != NULL)
		*lenp = o;
	return b;
}

/*
 * The argument vector for running job j directly (cmd_direct() is
 * true): each word its literal text and expansions, unquoted.
 */
char *const *
cmd_argv(const struct job *j, unsigned slot)
{
	size_t		 i, k, o, w, max;
	char		*b;
	int		 inword;

	max = litlen + 2 * nwords + 1;
	for (i = 0; i < nsegs; i++)
		if (segs[i].type != SEG_LIT)
			max += j->len + 24;
	b = grow(max);
	if (avcap < nwords + 1) {
		avcap = nwords + 1;
		avbuf = xreallocarray(avbuf, avcap, sizeof(*avbuf));
		avoff = xreallocarray(avoff, avcap, sizeof(*avoff));
	}
	o = w = 0;
	inword = 0;
	for (i = 0; i < nsegs; i++) {
		if (segs[i].type == SEG_LIT) {
			for (k = 0; k < segs[i].len; k++) {
				if (segs[i].s[k] == ' ' ||
				    segs[i].s[k] == '\t') {
					if (inword)
						b[o++] = '\0';
					inword = 0;
					continue;
				}
				if (!inword)
					avoff[w++] = o;
				inword = 1;
				b[o++] = segs[i].s[k];
			}
			continue;
		}
		if (!inword)
			avoff[w++] = o;
		o += expand(&segs[i], j, slot, b + o, 0);
		inword = 1;
	}
	if (inword)
		b[o++] = '\0';
	for (k = 0; k < w; k++)
		avbuf[k] = b + avoff[k];
	avbuf[w] = NULL;
	return avbuf;
}
