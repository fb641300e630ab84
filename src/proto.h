/*
 * proto.h: the control-socket protocol shared by sippushd and sippushctl,
 * and the growable byte buffer it is built on.
 *
 * Protocol version 1, over a local stream socket:
 *   server, on connect:  "SIPPUSH 1 <version>\n"
 *   request:             one line, words separated by single spaces, each
 *                        word percent-encoded; the first word is the
 *                        command, the rest are "key=value" or plain words
 *   reply:               "OK\n", then zero or more record lines of
 *                        "key=value" words (values percent-encoded),
 *                        then ".\n"; or a single "ERR <text>\n"
 * A request line is at most PROTO_LINE_MAX bytes.
 */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>

#define PROTO_VERSION	1
#define PROTO_LINE_MAX	(1024 * 1024)
#define PROTO_ARGS_MAX	256

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

int	 buf_reserve(struct buf *, size_t more);
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_puts(struct buf *, const char *);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_consume(struct buf *, size_t);
void	 buf_free(struct buf *);

int	 proto_put_word(struct buf *, const char *);
int	 proto_put_kv(struct buf *, const char *key, const char *value);
int	 proto_put_kvi(struct buf *, const char *key, long long value);
int	 proto_end_record(struct buf *);
void	 proto_err(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 proto_decode(char *);
int	 proto_split(char *line, char **argv, int max);
const char *proto_get(int argc, char **argv, const char *key);

#endif /* PROTO_H */
