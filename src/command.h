/*
 * command.h: the table of control commands, shared by the front ends.
 *
 * A front end (the control socket today) looks a command up by name
 * (cmd_find) and runs it with a struct cmd_call: the handler appends
 * its reply to call->out and ends with cmd_done(), at once or later
 * (after a commit or a writer job).  The front end reads no further
 * request of that peer until done.  If the peer goes away first, the
 * front end calls cmd_detach(): the call then frees itself when done
 * and its reply is dropped.
 */
#ifndef SIPPUSH_COMMAND_H
#define SIPPUSH_COMMAND_H

#include "sippushd.h"

#define CMD_WRITES	0x01	/* changes the store */
#define CMD_READS	0x02	/* reads the store */
#define CMD_STREAMS	0x04	/* the reply may go on (call->stream) */

struct cmd_call;
struct ctl_stream;
typedef void cmd_done_fn(struct cmd_call *, void *arg);

struct cmd_call {
	struct buf	 out;		/* the reply, owned by the call */
	struct ctl_stream *stream;	/* CMD_STREAMS: the rest, or NULL */
	cmd_done_fn	*done;		/* the front end's completion */
	void		*arg;
	int		 finished;	/* cmd_done was called */
	int		 detached;	/* the front end has gone */
};

typedef void cmd_run_fn(struct cmd_call *, int argc, char **argv);

struct cmd {
	const char	*name;
	cmd_run_fn	*run;
	unsigned	 flags;
	const char	*usage;
};

const struct cmd	*cmd_find(const char *name);
const struct cmd	*cmd_table(size_t *n);
struct cmd_call		*cmd_call_new(cmd_done_fn *, void *arg);
void			 cmd_call_free(struct cmd_call *);
void			 cmd_start(struct cmd_call *, int argc, char **argv);
void			 cmd_done(struct cmd_call *);
void			 cmd_detach(struct cmd_call *);

/* the control protocol's side of the operations (sippushd.h) */
#define CALLBACK_MAX	2048	/* a publish's callback URL */

int	 cmd_valid_callback(const char *);
int	 cmd_parse_publish(int argc, char **argv, struct publish_req *,
	    struct publish_sel *sel, int max_ttl, char *error);
int	 cmd_parse_status(int argc, char **argv, struct status_req *,
	    char *error);
int	 cmd_parse_messages(int argc, char **argv, struct messages_req *,
	    char *error);
int	 cmd_parse_cancel(int argc, char **argv, struct cancel_req *,
	    char *error);
int	 cmd_parse_user(int argc, char **argv, struct user_req *,
	    struct user_cred *v, char *error);
void	 cmd_render_publish(struct buf *, const struct publish_result *);
void	 cmd_render_status(struct buf *, const struct status_result *);
void	 cmd_put_message(struct buf *, const struct message_info *);
void	 cmd_put_target(struct buf *, const struct target_info *);
void	 cmd_render_messages(struct buf *, const struct messages_result *);
void	 cmd_render_cancel(struct buf *, const struct cancel_result *);
void	 cmd_render_user(struct buf *, const struct user_result *);

/* cluster.c */
void	 cluster_cmd_nodes(struct cmd_call *, int argc, char **argv);
void	 cluster_cmd_drain(struct cmd_call *, int argc, char **argv);

#endif
