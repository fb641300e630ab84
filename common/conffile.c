/*
 * conffile.c: walk a libconfig file, section by section, and take each
 * option into the program's struct as its table says, refusing anything
 * unknown, out of range or of the wrong type with "file:line: option:
 * reason". The first error stops the walk.
 *
 * Integers are read from their text in the file, not from libconfig:
 * libconfig 1.5 narrows a literal to int without a word (4294972356 is
 * read as 5060, 99999999999999999999 as -1). conf_scan goes over the
 * file as libconfig's scanner does and notes the text of every number
 * under its setting's path; conf_read hangs each text on its setting
 * (config_setting_set_hook) for conf_get_int to parse as 64 bits.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"

/* "file:line: " (or "file: " without a line) and the reason into err;
 * returns -1 for the caller to return. */
int
conf_fail(char *err, size_t errlen, const char *file, int line,
    const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (line > 0)
		n = snprintf(err, errlen, "%s:%d: ", file, line);
	else
		n = snprintf(err, errlen, "%s: ", file ? file : "settings");
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

char **
conf_str(void *base, const struct conf_opt *o)
{
	return (char **)((char *)base + o->off);
}

int *
conf_int(void *base, const struct conf_opt *o)
{
	return (int *)((char *)base + o->off);
}

/* ---- the text of the numbers in a file ---- */

#define CONF_PATH_MAX		256	/* "group.name" */
#define CONF_INCLUDE_MAX	10	/* nested @include, as libconfig */

struct conf_lit {
	char	*path;		/* "group.name" */
	char	*text;		/* as written: "4294972356", "0x10L" */
};

struct conf_lits {
	struct conf_lit	*v;
	size_t		 n;
};

/* Where the scan is: the path of the open groups, the name just given a
 * value ("name =" seen), the depth of lists and arrays (whose members
 * have no path and are passed over). */
struct conf_scan {
	struct conf_lits	*lits;
	char			 path[CONF_PATH_MAX];
	size_t			 len[32];	/* path length per depth */
	int			 depth;		/* of named groups */
	int			 skip;		/* depth in lists, arrays */
	char			 name[CONF_PATH_MAX];	/* the last name */
	int			 named;		/* "name =" seen */
};

static void
conf_lits_free(struct conf_lits *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].text);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Note the number text, of length n, for the name just given; -1 on
 * ENOMEM. */
static int
conf_scan_number(struct conf_scan *sc, const char *text, size_t n)
{
	struct conf_lit	*v;
	char		*path, *dup;

	if (!sc->named || sc->skip > 0)
		return 0;	/* a list member */
	if (asprintf(&path, "%s%s%s", sc->path, sc->depth ? "." : "",
	    sc->name) == -1)
		return -1;
	if ((dup = strndup(text, n)) == NULL ||
	    (v = reallocarray(sc->lits->v, sc->lits->n + 1,
	    sizeof(*v))) == NULL) {
		free(path);
		free(dup);
		return -1;
	}
	sc->lits->v = v;
	v[sc->lits->n].path = path;
	v[sc->lits->n].text = dup;
	sc->lits->n++;
	return 0;
}

static int	conf_scan_file(struct conf_scan *, const char *, int);

/*
 * Go over text as libconfig's scanner does: comments (#, //, slash-star),
 * strings, @include, names, "=" or ":", groups, lists and arrays, and
 * numbers, whose text it notes. A file libconfig refused is not scanned
 * (conf_read stops first), so this need not judge the syntax. 0, or -1 on
 * ENOMEM.
 */
static int
conf_scan_text(struct conf_scan *sc, const char *p, int incl)
{
	const char	*q;
	char		 inc[4096];
	size_t		 n;

	while (*p) {
		if (isspace((unsigned char)*p)) {
			p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			q = strstr(p + 2, "*/");
			p = q ? q + 2 : p + strlen(p);
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p)
				p++;
			sc->named = 0;
		} else if (strncmp(p, "@include", 8) == 0) {
			p += 8;
			p += strspn(p, " \t");
			if (*p != '"')
				continue;
			for (n = 0, p++; *p && *p != '"' && *p != '\n'; p++)
				if (n < sizeof(inc) - 1)
					inc[n++] = *p;
			inc[n] = '\0';
			if (*p == '"')
				p++;
			if (conf_scan_file(sc, inc, incl + 1) == -1)
				return -1;
		} else if (isalpha((unsigned char)*p) || *p == '*') {
			for (q = p; isalnum((unsigned char)*q) || *q == '-' ||
			    *q == '_' || *q == '*'; q++)
				;
			if (!sc->named) {	/* a name, not true or false */
				n = (size_t)(q - p);
				snprintf(sc->name, sizeof(sc->name), "%.*s",
				    (int)(n < sizeof(sc->name) ? n : 0), p);
			}
			sc->named = 0;
			p = q;
		} else if (*p == '=' || *p == ':') {
			sc->named = sc->name[0] != '\0';
			p++;
		} else if (*p == '{' && sc->skip == 0 && sc->named &&
		    sc->depth < 31) {
			n = strlen(sc->path);
			sc->len[sc->depth++] = n;
			snprintf(sc->path + n, sizeof(sc->path) - n, "%s%s",
			    n ? "." : "", sc->name);
			sc->named = 0;
			sc->name[0] = '\0';
			p++;
		} else if (*p == '}' && sc->skip == 0) {
			if (sc->depth > 0)
				sc->path[sc->len[--sc->depth]] = '\0';
			sc->named = 0;
			sc->name[0] = '\0';
			p++;
		} else if (*p == '{' || *p == '(' || *p == '[') {
			sc->skip++;
			sc->named = 0;
			p++;
		} else if (*p == '}' || *p == ')' || *p == ']') {
			if (sc->skip > 0)
				sc->skip--;
			sc->named = 0;
			p++;
		} else if (isdigit((unsigned char)*p) || *p == '-' ||
		    *p == '+' || *p == '.') {
			for (q = p; isalnum((unsigned char)*q) || *q == '.' ||
			    ((*q == '-' || *q == '+') && (q == p ||
			    q[-1] == 'e' || q[-1] == 'E')); q++)
				;
			if (conf_scan_number(sc, p, (size_t)(q - p)) == -1)
				return -1;
			sc->named = 0;
			p = q;
		} else {
			if (*p == ';' || *p == ',')
				sc->name[0] = '\0';
			sc->named = 0;
			p++;
		}
	}
	return 0;
}

/* Scan the file at path (an @include: as libconfig opens it, relative to
 * the current folder). One that cannot be read is libconfig's to report.
 * 0, or -1 on ENOMEM. */
static int
conf_scan_file(struct conf_scan *sc, const char *path, int incl)
{
	FILE	*fp;
	char	*text = NULL;
	size_t	 len = 0, n;
	char	 buf[4096];
	int	 rv;

	if (incl > CONF_INCLUDE_MAX || (fp = fopen(path, "r")) == NULL)
		return 0;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		char	*t;

		if ((t = realloc(text, len + n + 1)) == NULL) {
			free(text);
			fclose(fp);
			return -1;
		}
		text = t;
		memcpy(text + len, buf, n);
		len += n;
	}
	fclose(fp);
	if (text == NULL)
		return 0;
	text[len] = '\0';
	rv = conf_scan_text(sc, text, incl);
	free(text);
	return rv;
}

/*
 * Parse the text of a libconfig integer: decimal with an optional sign,
 * or 0x hexadecimal, either with an L or LL suffix. 0 with *v set, 1 if
 * it does not fit in 64 bits, -1 if it is not such a text.
 */
static int
conf_parse_int(const char *text, long long *v)
{
	unsigned long long	 u;
	const char		*p = text;
	char			*end;
	int			 neg = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	errno = 0;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && !neg &&
	    p == text) {
		if (!isxdigit((unsigned char)p[2]))
			return -1;
		u = strtoull(p + 2, &end, 16);
	} else {
		if (!isdigit((unsigned char)*p))
			return -1;
		u = strtoull(p, &end, 10);
	}
	if (strcmp(end, "") != 0 && strcmp(end, "L") != 0 &&
	    strcmp(end, "LL") != 0)
		return -1;
	if (errno == ERANGE || u > (unsigned long long)LLONG_MAX + neg)
		return 1;
	*v = neg ? (long long)(0 - u) : (long long)u;
	return 0;
}

/*
 * The integer that setting s holds, as written in the file, if it is
 * within min..max; name is its "group.name" for the messages. A float,
 * or a number beyond 64 bits, is refused, not narrowed. 0 with *v set,
 * or -1 with "file:line: name: reason" in err.
 */
int
conf_get_int(config_setting_t *s, const char *file, const char *name,
    long long min, long long max, long long *v, char *err, size_t errlen)
{
	const char	*text = config_setting_get_hook(s);
	char		 num[32];
	int		 line = config_setting_source_line(s);
	int		 type = config_setting_type(s), rc;

	if (config_setting_source_file(s) != NULL)
		file = config_setting_source_file(s);
	if (type == CONFIG_TYPE_FLOAT) {
		if (text)
			return conf_fail(err, errlen, file, line,
			    "%s: %s is not an integer", name, text);
		return conf_fail(err, errlen, file, line,
		    "%s: %g is not an integer", name,
		    config_setting_get_float(s));
	}
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return conf_fail(err, errlen, file, line,
		    "%s: expected an integer", name);
	if (text == NULL || (rc = conf_parse_int(text, v)) == -1) {
		/* not scanned (see conf_scan_text): libconfig's value */
		*v = config_setting_get_int64(s);
		rc = 0;
		snprintf(num, sizeof(num), "%lld", *v);
		text = num;
	}
	if (rc == 1 || *v < min || *v > max)
		return conf_fail(err, errlen, file, line,
		    "%s: %s is out of range %lld..%lld", name, text, min,
		    max);
	return 0;
}

/* Take one value into base; 0, or -1 with err filled. */
static int
conf_take(void *base, const struct conf_spec *spec, const struct conf_opt *o,
    config_setting_t *s, const char *file, char *err, size_t errlen)
{
	int		 line = config_setting_source_line(s);
	int		 type = config_setting_type(s), i;
	long long	 v;
	const char	*str;
	char		*dup, names[256];

	if (config_setting_source_file(s) != NULL)
		file = config_setting_source_file(s);
	switch (o->type) {
	case CONF_INT:
		if (conf_get_int(s, file, o->path, o->min, o->max, &v, err,
		    errlen) == -1)
			return -1;
		*conf_int(base, o) = (int)v;
		return 0;
	case CONF_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			return conf_fail(err, errlen, file, line,
			    "%s: expected true or false", o->path);
		*conf_int(base, o) = config_setting_get_bool(s);
		return 0;
	case CONF_STRING:
		if (type != CONFIG_TYPE_STRING)
			return conf_fail(err, errlen, file, line,
			    "%s: expected a string", o->path);
		str = config_setting_get_string(s);
		if (*str == '\0')
			return conf_fail(err, errlen, file, line,
			    "%s: must not be empty", o->path);
		if ((dup = strdup(str)) == NULL)
			return conf_fail(err, errlen, file, line,
			    "out of memory");
		free(*conf_str(base, o));
		*conf_str(base, o) = dup;
		return 0;
	case CONF_ENUM:
		if (type != CONFIG_TYPE_STRING)
			return conf_fail(err, errlen, file, line,
			    "%s: expected a string", o->path);
		str = config_setting_get_string(s);
		for (i = 0; o->names[i]; i++)
			if (strcmp(o->names[i], str) == 0) {
				*conf_int(base, o) = i;
				return 0;
			}
		/* name them all: the reader need not look up the manual */
		names[0] = '\0';
		for (i = 0; o->names[i]; i++) {
			size_t	 used = strlen(names);

			snprintf(names + used, sizeof(names) - used, "%s\"%s\"",
			    i ? ", " : "", o->names[i]);
		}
		return conf_fail(err, errlen, file, line,
		    "%s: \"%s\" is not one of the accepted values (%s)",
		    o->path, str, names);
	case CONF_OTHER:
		return spec->other(base, o, s, file, err, errlen);
	}
	return -1;
}

/*
 * Read path over the values already in base. Returns 0, or -1 with
 * "file:line: reason" in err; base then holds a mix.
 */
int
conf_read(void *base, const struct conf_spec *spec, const char *path,
    char *err, size_t errlen)
{
	config_t		 cf;
	config_setting_t	*root, *group, *s;
	const struct conf_opt	*o;
	struct conf_lits	 lits = { NULL, 0 };
	struct conf_scan	 sc;
	const char		*gname;
	size_t			 k;
	int			 i, j, ok, rv = -1;

	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
		else
			conf_fail(err, errlen, config_error_file(&cf) ?
			    config_error_file(&cf) : path,
			    config_error_line(&cf), "%s",
			    config_error_text(&cf));
		goto out;
	}
	memset(&sc, 0, sizeof(sc));
	sc.lits = &lits;
	if (conf_scan_file(&sc, path, 0) == -1) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (k = 0; k < lits.n; k++)
		if ((s = config_lookup(&cf, lits.v[k].path)) != NULL &&
		    config_setting_is_scalar(s))
			config_setting_set_hook(s, lits.v[k].text);
	root = config_root_setting(&cf);
	for (i = 0; i < config_setting_length(root); i++) {
		group = config_setting_get_elem(root, (unsigned)i);
		gname = config_setting_name(group);
		for (ok = 0, j = 0; spec->groups[j]; j++)
			ok |= strcmp(spec->groups[j], gname) == 0;
		if (!ok) {
			conf_fail(err, errlen, path,
			    config_setting_source_line(group),
			    "%s: unknown section", gname);
			goto out;
		}
		if (!config_setting_is_group(group)) {
			conf_fail(err, errlen, path,
			    config_setting_source_line(group),
			    "%s: expected a group { ... }", gname);
			goto out;
		}
		for (j = 0; j < config_setting_length(group); j++) {
			s = config_setting_get_elem(group, (unsigned)j);
			if ((o = spec->find(gname, config_setting_name(s))) ==
			    NULL) {
				conf_fail(err, errlen, path,
				    config_setting_source_line(s),
				    "%s.%s: unknown option", gname,
				    config_setting_name(s));
				goto out;
			}
			if (conf_take(base, spec, o, s, path, err, errlen) ==
			    -1)
				goto out;
		}
	}
	rv = 0;
out:
	config_destroy(&cf);
	conf_lits_free(&lits);
	return rv;
}

/* Make a relative path absolute against the current folder, so that a
 * daemon may chdir("/") later. NULL stays NULL. 0, or -1 (errno set). */
int
conf_abspath(char **path)
{
	char	 cwd[4096], *p;

	if (*path == NULL || **path == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    asprintf(&p, "%s/%s", cwd, *path) == -1)
		return -1;
	free(*path);
	*path = p;
	return 0;
}

/* A string in libconfig's syntax: quoted, with \ and " escaped. */
void
conf_print_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}
