/*
 * conffile.c: walk a libconfig file, section by section, and take each
 * option into the program's struct as its table says, refusing anything
 * unknown, out of range or of the wrong type with "file:line: option:
 * reason". The first error stops the walk.
 */
#include <errno.h>
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

/* Take one value into base; 0, or -1 with err filled. */
static int
conf_take(void *base, const struct conf_spec *spec, const struct conf_opt *o,
    config_setting_t *s, const char *file, char *err, size_t errlen)
{
	int		 line = config_setting_source_line(s);
	int		 type = config_setting_type(s), i;
	long long	 v;
	const char	*str;
	char		*dup;

	switch (o->type) {
	case CONF_INT:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
			return conf_fail(err, errlen, file, line,
			    "%s: expected an integer", o->path);
		v = config_setting_get_int64(s);
		if (v < o->min || v > o->max)
			return conf_fail(err, errlen, file, line,
			    "%s: %lld is out of range %ld..%ld", o->path, v,
			    o->min, o->max);
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
		return conf_fail(err, errlen, file, line,
		    "%s: \"%s\" is not one of the accepted values", o->path,
		    str);
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
	const char		*gname;
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
