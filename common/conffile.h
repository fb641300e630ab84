/*
 * conffile.h: reading a libconfig file into a struct, driven by a table
 * of options; shared by sippushd (src/config.c) and sippush-agent
 * (agent/config.c), which keep their own tables, defaults and checks.
 */
#ifndef SIPPUSH_CONFFILE_H
#define SIPPUSH_CONFFILE_H

#include <stddef.h>
#include <stdio.h>

#include <libconfig.h>

enum conf_type {
	CONF_INT,
	CONF_BOOL,
	CONF_STRING,	/* not empty; NULL until set where the default is */
	CONF_ENUM,
	CONF_OTHER,	/* read by the program's own function */
};

/* One option: "group.name", its type, where it lands, its range. */
struct conf_opt {
	const char		*path;
	enum conf_type		 type;
	size_t			 off;		/* in the program's struct */
	long			 min, max;	/* CONF_INT range */
	const char *const	*names;		/* CONF_ENUM values */
};

/* What a program gives conf_read. */
struct conf_spec {
	const char *const	*groups;	/* the sections, NULL-ended */
	const struct conf_opt	*(*find)(const char *group, const char *name);
	int			(*other)(void *base, const struct conf_opt *,
				    config_setting_t *, const char *file,
				    char *err, size_t errlen);
};

int	 conf_fail(char *err, size_t errlen, const char *file, int line,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
char	**conf_str(void *base, const struct conf_opt *);
int	*conf_int(void *base, const struct conf_opt *);
int	 conf_get_int(config_setting_t *, const char *file, const char *name,
	    long long min, long long max, long long *, char *err,
	    size_t errlen);
int	 conf_read(void *base, const struct conf_spec *, const char *path,
	    char *err, size_t errlen);
int	 conf_abspath(char **path);
void	 conf_print_string(FILE *, const char *);

#endif /* SIPPUSH_CONFFILE_H */
