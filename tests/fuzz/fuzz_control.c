/*
 * fuzz_control.c: the control-socket protocol on arbitrary bytes. Each
 * input is cut into lines, as control.c does; each line is split and
 * decoded (proto_split) and answered by control_request against a live
 * daemon core: a client table with a few clients, a store in a
 * temporary folder, the group commit and the dispatcher, on an nta agent
 * bound to 127.0.0.1. So publish, status, messages, cancel, clients,
 * client and stats all run on whatever arguments the fuzzer finds.
 * dispatch.max_pending_per_client keeps the active messages few.
 *
 * Every input also checks the framing: the first line, encoded word by
 * word with proto_put_word, must split back into the same words; and the
 * reply to any request must be "OK\n...\n.\n" or one "ERR ...\n" line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "fuzz.h"

#define FUZZ_LINES_MAX	16

static struct config	 fz_cfg;
static su_root_t	*fz_root;
static nta_agent_t	*fz_agent;

static void
fuzz_client(const char *id, const char *class, enum transport tr,
    int state, int64_t now)
{
	struct registration	 r;
	struct client		*c;
	char			 contact[128];

	snprintf(contact, sizeof(contact), "<sip:%s@127.0.0.1:9>", id);
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.class = class;
	r.contact = contact;
	r.user_agent = "fuzz";
	r.address = "127.0.0.1";
	r.port = 9;		/* discard: nothing answers */
	r.transport = tr;
	r.now = now;
	r.expires = 600;
	if (clients_register(&r, &c) == -1)
		abort();
	c->state = (uint8_t)state;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[512], path[256];
	int64_t	 now = clock_now();

	(void)argc;
	(void)argv;
	fuzz_log_init();
	config_defaults(&fz_cfg);
	fz_cfg.dp_max_pending = 4;
	fz_cfg.dp_max_in_flight = 8;
	fz_cfg.dp_retain = 1;
	fz_cfg.db_sync_full = 0;
	fz_cfg.db_commit_delay = 0;
	snprintf(path, sizeof(path), "%s/fuzz.db", fuzz_tmpdir());
	if (su_init() != 0 || (fz_root = su_root_create(NULL)) == NULL ||
	    (fz_agent = nta_agent_create(fz_root,
	    URL_STRING_MAKE("sip:127.0.0.1:0;transport=udp"), NULL, NULL,
	    NTATAG_UA(0), TAG_END())) == NULL ||
	    clients_init() == -1 || auth_init(&fz_cfg, fz_agent) == -1 ||
	    store_open(NULL, path, 0, err, sizeof(err)) == -1 ||
	    commit_init(&fz_cfg, fz_root) == -1 ||
	    dispatch_init(&fz_cfg, fz_root, fz_agent) == -1) {
		fprintf(stderr, "fuzz_control: cannot set up: %s\n", err);
		abort();
	}
	fuzz_client("a1", "A", TRANSPORT_UDP, CLIENT_ONLINE, now);
	fuzz_client("a2", "A", TRANSPORT_UDP, CLIENT_OFFLINE, now);
	fuzz_client("b1", "B", TRANSPORT_TCP, CLIENT_EXPIRED, now);
	fuzz_client("b-2.x_y", "B.c-d_e", TRANSPORT_TCP, CLIENT_UNREGISTERED,
	    now);
	if (commit_flush() == -1)
		abort();
	return 0;
}

/* A reply is "OK\n" [records] ".\n", or a single "ERR <text>\n". */
static void
fuzz_check_reply(const struct buf *out)
{
	const char	*nl;

	if (out->len == 0)
		__builtin_trap();
	if (out->len >= 4 && memcmp(out->data, "ERR ", 4) == 0) {
		nl = memchr(out->data, '\n', out->len);
		if (nl == NULL || (size_t)(nl - out->data) + 1 != out->len)
			__builtin_trap();
		return;
	}
	if (out->len < 5 || memcmp(out->data, "OK\n", 3) != 0 ||
	    memcmp(out->data + out->len - 3, "\n.\n", 3) != 0)
		__builtin_trap();
}

/* Encoding round trip: the words of line, encoded, split back equal. */
static void
fuzz_roundtrip(char *line)
{
	char		*argv[PROTO_ARGS_MAX], *copy, *argv2[PROTO_ARGS_MAX];
	struct buf	 b = { 0 };
	int		 argc, argc2, i;

	if ((copy = strdup(line)) == NULL)
		return;
	argc = proto_split(copy, argv, PROTO_ARGS_MAX);
	for (i = 0; i < argc; i++) {
		if (i)
			buf_puts(&b, " ");
		proto_put_word(&b, argv[i]);
	}
	if (argc > 0) {
		argc2 = proto_split(b.data, argv2, PROTO_ARGS_MAX);
		if (argc2 != argc)
			__builtin_trap();
		for (i = 0; i < argc; i++)
			if (strcmp(argv[i], argv2[i]) != 0)
				__builtin_trap();
	}
	buf_free(&b);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 in = { 0 }, out = { 0 };
	char		*argv[PROTO_ARGS_MAX], *line, *nl;
	int		 argc, n = 0;

	if (buf_append(&in, data, size) == -1)
		return 0;
	line = in.data;
	while (n++ < FUZZ_LINES_MAX && line < in.data + in.len) {
		if ((nl = memchr(line, '\n', (size_t)(in.data + in.len - line)))
		    != NULL)
			*nl = '\0';
		if (nl && nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (strlen(line) <= PROTO_LINE_MAX) {
			if (n == 1)
				fuzz_roundtrip(line);
			argc = proto_split(line, argv, PROTO_ARGS_MAX);
			if (argc > 0) {
				out.len = 0;
				control_request(&out, argc, argv);
				fuzz_check_reply(&out);
			}
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	su_root_step(fz_root, 0);	/* the commit, the dispatcher's tick */
	buf_free(&in);
	buf_free(&out);
	return 0;
}
