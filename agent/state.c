/*
 * state.c: the state file, so that a restarted agent does not run a hook
 * again for a message the server sends once more.
 *
 * It holds two kinds of message IDs: those taken (the hook exited 0, or
 * the JSON line was printed, or the message was answered as interrupted:
 * the library's seen set, at most messages.remember of them), and those
 * whose hook started and has not finished ("started ID"). An ID is
 * recorded as started before its hook starts and as taken before its
 * message is acknowledged, so a crash at any point leaves it in one of
 * the two, or in neither only if its hook never started. A started ID
 * loaded at start is an interrupted hook: its agent died while it ran.
 *
 * The file is text: a comment line, the taken IDs one a line, oldest
 * first, then a "started ID" line for each started one. It is rewritten
 * whole for every change: written to FILE.tmp, flushed to disk, renamed
 * over FILE, and the folder flushed, so a crash leaves the old file or
 * the new one.
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
			"oldest first; \"started ID\": its hook started and " \
			"did not finish\n"
#define STATE_STARTED	"started "

/* A started ID: a hook running now, or interrupted (loaded at start). */
struct started {
	struct started	*next;
	int		 interrupted;
	char		 id[SIPPUSH_ID_MAX + 1];
};

static struct sippush	*st_client;
static const char	*st_path;
static struct started	*st_started;	/* oldest first */

static struct started **
state_find(const char *id)
{
	struct started	**pp;

	for (pp = &st_started; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0)
			break;
	return pp;
}

/* Is id a message ID as the library takes them (printable ASCII, no
 * space, 1..SIPPUSH_ID_MAX bytes)? */
static int
state_valid_id(const char *id)
{
	size_t	 n;

	for (n = 0; id[n]; n++)
		if (n >= SIPPUSH_ID_MAX || id[n] <= ' ' || id[n] > '~')
			return 0;
	return n > 0;
}

static int
state_add_started(const char *id, int interrupted)
{
	struct started	*s, **pp;

	if (!state_valid_id(id))
		return -1;
	if (*(pp = state_find(id)) != NULL) {
		(*pp)->interrupted = interrupted;
		return 0;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->interrupted = interrupted;
	strcpy(s->id, id);
	*pp = s;
	return 0;
}

static void
state_forget_started(const char *id)
{
	struct started	*s, **pp;

	if ((s = *(pp = state_find(id))) != NULL) {
		*pp = s->next;
		free(s);
	}
}

/*
 * Load path's IDs: the taken ones into the client's seen set, oldest
 * first, the started ones as interrupted (at most max of them, the most
 * recent; each logged). path and c are kept for state_save. A missing
 * file is an empty one; lines that are not IDs are skipped with a
 * warning. Returns the number of IDs loaded, or -1 with err set.
 */
int
state_load(struct sippush *c, const char *path, int max, char *err,
    size_t errlen)
{
	struct started	*s;
	FILE		*fp;
	char		 line[512], *id;
	size_t		 len;
	int		 lineno = 0, n = 0, ninterrupted = 0, started;

	st_client = c;
	st_path = path;
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
		id = line;
		started = strncmp(line, STATE_STARTED,
		    strlen(STATE_STARTED)) == 0;
		if (started)
			id += strlen(STATE_STARTED);
		if (started && sippush_seen_has(c, id))
			continue;
		if ((started && state_add_started(id, 1) != 0) ||
		    (!started && sippush_seen_add(c, id) != 0)) {
			log_warn("state: %s:%d: not a message ID, skipped",
			    path, lineno);
			continue;
		}
		if (!started)
			state_forget_started(id);
		n++;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	for (s = st_started; s; s = s->next)
		ninterrupted++;
	while (ninterrupted > max) {
		s = st_started;
		log_warn("state: message %s: interrupted hook forgotten "
		    "(over messages.remember)", s->id);
		st_started = s->next;
		free(s);
		ninterrupted--;
		n--;
	}
	for (s = st_started; s; s = s->next)
		log_warn("state: message %s: its hook was interrupted (the "
		    "agent died while it ran)", s->id);
	return n;
}

/* Free what state_load kept. */
void
state_close(void)
{
	struct started	*s;

	while ((s = st_started) != NULL) {
		st_started = s->next;
		free(s);
	}
}

static int
state_write_id(const char *id, void *arg)
{
	return fprintf((FILE *)arg, "%s\n", id) < 0 ? -1 : 0;
}

static int
state_write_started(FILE *fp)
{
	struct started	*s;

	for (s = st_started; s; s = s->next)
		if (fprintf(fp, STATE_STARTED "%s\n", s->id) < 0)
			return -1;
	return 0;
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

/* Flush path's folder to disk (the rename). Returns -1 only on an I/O
 * error: a folder that cannot be opened or flushed (not supported by its
 * file system) is not one. */
static int
state_sync_dir(const char *path)
{
	char	*copy;
	int	 fd, rv = 0;

	if ((copy = strdup(path)) == NULL)
		return 0;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) != -1) {
		if (fsync(fd) == -1 && errno == EIO)
			rv = -1;
		close(fd);
	}
	free(copy);
	return rv;
}

/*
 * Write the state (see above) to the file, atomically. Returns 0, or -1
 * (logged, errno set): the file is then unchanged, or (an I/O error
 * flushing its folder) replaced but perhaps not on disk.
 */
int
state_save(void)
{
	char	 tmp[4096];
	FILE	*fp = NULL;
	int	 fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", st_path) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640)) == -1 && errno == ENOENT) {
		state_mkdir(st_path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640);
	}
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		goto fail;
	}
	if (fputs(STATE_HEADER, fp) == EOF ||
	    sippush_seen_foreach(st_client, state_write_id, fp) != 0 ||
	    state_write_started(fp) != 0 ||
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
	if (rename(tmp, st_path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	if (state_sync_dir(st_path) == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	log_error("state: cannot write %s: %s", st_path, strerror(errno));
	errno = saved;
	return -1;
}

/* Was id's hook interrupted: started by an agent that died? */
int
state_interrupted(const char *id)
{
	struct started	*s = *state_find(id);

	return s != NULL && s->interrupted;
}

/*
 * id's hook is about to start: record it as started, on disk. Returns
 * 0, or -1 (logged) if that could not be done: the hook must not start.
 */
int
state_start(const char *id)
{
	if (state_add_started(id, 0) != 0) {
		log_error("state: message %s: out of memory", id);
		return -1;
	}
	if (state_save() != 0) {
		state_forget_started(id);
		return -1;
	}
	return 0;
}

/*
 * id was taken (its hook exited 0, or it is answered as interrupted):
 * record it as such, on disk, before it is acknowledged. Returns 0, or
 * -1 (logged): it is then taken in memory, and the file keeps what it
 * had (started, if it was) until a later write succeeds.
 */
int
state_taken(const char *id)
{
	if (sippush_seen_add(st_client, id) != 0)
		return -1;
	state_forget_started(id);
	return state_save();
}

/* id's hook failed (or never started): it is no longer started. */
void
state_failed(const char *id)
{
	if (*state_find(id) == NULL)
		return;
	state_forget_started(id);
	state_save();
}
