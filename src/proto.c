/*
 * proto.c: control-protocol framing (see proto.h) and the byte buffer.
 *
 * Words are percent-encoded so that a value may hold spaces, newlines or
 * any byte: everything outside [A-Za-z0-9._~:/@+,-] becomes %XX.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Make room for `more` bytes past len (plus a NUL). 0, or -1 on ENOMEM. */
int
buf_reserve(struct buf *b, size_t more)
{
	size_t	 need, cap;
	char	*p;

	if (more > ((size_t)-1) / 2 - b->len)
		return -1;
	need = b->len + more + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Append n bytes; the buffer stays NUL-terminated. 0 or -1. */
int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)		/* p may be NULL then (an empty buffer's data) */
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Drop the first n bytes. */
void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int
proto_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("._~:/@+,-", c) != NULL;
}

/* Append s percent-encoded, with no separator. */
int
proto_put_word(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char	 esc[3];

	for (p = (const unsigned char *)s; *p; p++) {
		if (proto_plain(*p)) {
			if (buf_append(b, p, 1) == -1)
				return -1;
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*p >> 4];
		esc[2] = hex[*p & 15];
		if (buf_append(b, esc, 3) == -1)
			return -1;
	}
	return 0;
}

/* Append " key=value" (no leading space at the start of a line). */
int
proto_put_kv(struct buf *b, const char *key, const char *value)
{
	if (b->len > 0 && b->data[b->len - 1] != '\n' &&
	    buf_append(b, " ", 1) == -1)
		return -1;
	if (buf_puts(b, key) == -1 || buf_append(b, "=", 1) == -1)
		return -1;
	return proto_put_word(b, value ? value : "");
}

int
proto_put_kvi(struct buf *b, const char *key, long long value)
{
	char	 num[32];

	snprintf(num, sizeof(num), "%lld", value);
	return proto_put_kv(b, key, num);
}

int
proto_end_record(struct buf *b)
{
	return buf_append(b, "\n", 1);
}

/* Append an "ERR <text>" reply; control characters in the text (which
 * may quote a client's input) become '?' so the line stays one line. */
void
proto_err(struct buf *b, const char *fmt, ...)
{
	char	 line[512];
	va_list	 ap;
	size_t	 i;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (i = 0; line[i]; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	buf_printf(b, "ERR %s\n", line);
}

static int
proto_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode %XX in place. Returns the decoded length, or -1 on a bad escape
 * or an encoded NUL. */
int
proto_decode(char *s)
{
	char	*r, *w;
	int	 hi, lo;

	for (r = w = s; *r; r++) {
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		if ((hi = proto_hexval(r[1])) == -1 ||
		    (lo = proto_hexval(r[2])) == -1 || (hi == 0 && lo == 0))
			return -1;
		*w++ = (char)(hi << 4 | lo);
		r += 2;
	}
	*w = '\0';
	return (int)(w - s);
}

/* Split a line (without its newline) into at most max decoded words, in
 * place. Returns the count, or -1 on too many words or a bad escape. */
int
proto_split(char *line, char **argv, int max)
{
	char	*p, *word;
	int	 argc = 0;

	p = line;
	while (*p) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		word = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
		if (argc == max || proto_decode(word) == -1)
			return -1;
		argv[argc++] = word;
	}
	return argc;
}

/* The value of "key=value" among argv[1..], or NULL. */
const char *
proto_get(int argc, char **argv, const char *key)
{
	size_t	 klen = strlen(key);
	int	 i;

	for (i = 1; i < argc; i++)
		if (strncmp(argv[i], key, klen) == 0 && argv[i][klen] == '=')
			return argv[i] + klen + 1;
	return NULL;
}
