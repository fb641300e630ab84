/*
 * state.c: the state file, the message IDs whose hook ran (or whose
 * JSON line was printed), so that a restarted agent does not run a
 * hook again for a message the server sends once more.
 *
 * The file is text: a comment line, then one ID per line, oldest first,
 * at most messages.remember of them (the library's seen set). It is
 * rewritten whole for every new ID, before the message is acknowledged:
 * written to FILE.tmp, flushed to disk, renamed over FILE, and the
 * folder flushed, so a crash leaves the old file or the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define STATE_HEADER	"# sippush-agent: message IDs already handled, " \
			"oldest first\n"

/*
 * Load path's IDs into the client's seen set, oldest first. A missing
 * file is an empty one; lines that are not IDs are skipped with a
 * warning. Returns the number of IDs loaded, or -1 with err set.
 */
int
state_load(struct sippush *c, const char *path, char *err, size_t errlen)
{
	FILE	*fp;
	char	 line[512];
	size_t	 len;
	int	 lineno = 0, n = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (sippush_seen_add(c, line) != 0) {
			log_warn("state: %s:%d: not a message ID, skipped",
			    path, lineno);
			continue;
		}
		n++;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return n;
}

static int
state_write_id(const char *id, void *arg)
{
	return fprintf((FILE *)arg, "%s\n", id) < 0 ? -1 : 0;
}

/* Make path's folder (one level) if it is missing. */
static void
state_mkdir(const char *path)
{
	char	*copy, *dir;

	if ((copy = strdup(path)) == NULL)
		return;
	dir = dirname(copy);
	if (mkdir(dir, 0750) == 0)
		log_info("state: created %s", dir);
	free(copy);
}

static void
state_sync_dir(const char *path)
{
	char	*copy;
	int	 fd;

	if ((copy = strdup(path)) == NULL)
		return;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/*
 * Write the client's seen set to path, atomically (see above). Returns
 * 0, or -1 (logged, errno set); path is then unchanged.
 */
int
state_save(struct sippush *c, const char *path)
{
	char	 tmp[4096];
	FILE	*fp = NULL;
	int	 fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640)) == -1 && errno == ENOENT) {
		state_mkdir(path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640);
	}
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		goto fail;
	}
	if (fputs(STATE_HEADER, fp) == EOF ||
	    sippush_seen_foreach(c, state_write_id, fp) != 0 ||
	    fflush(fp) == EOF || fsync(fileno(fp)) == -1) {
		saved = errno;
		fclose(fp);
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	if (fclose(fp) == EOF) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	if (rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	state_sync_dir(path);
	return 0;
fail:
	saved = errno;
	log_error("state: cannot write %s: %s", path, strerror(errno));
	errno = saved;
	return -1;
}
