/*
 * cluster.c: this node among several sippushd sharing one PostgreSQL
 * (sippushd(8) CLUSTER).
 *
 * With database.backend = "postgresql" the node joins at start: it takes
 * a new epoch in its row of `nodes` and a lease measured by the
 * database's clock, and every batch it writes renews the lease first
 * (sippush_fence). A node that finds its lease lapsed is fenced: it
 * drops what it holds, sends nothing and joins again with a new epoch.
 * With SQLite the cluster is off and these calls are inert.
 *
 * This file is the interface's first cut: on/off, name and address;
 * joining, the lease and fencing come next.
 */
#include <string.h>

#include "sippushd.h"

static int		 cl_on;
static const struct config *cl_cfg;
static int64_t		 cl_epoch;
static int		 cl_fenced;
static int		 cl_draining;
static void		(*cl_fenced_fn)(void);
static void		(*cl_rejoined_fn)(void);

int
cluster_init(const struct config *cfg, struct su_root_s *root, char *err,
    size_t errlen)
{
	(void)root;
	(void)err;
	(void)errlen;
	cl_cfg = cfg;
	cl_on = strcmp(store_backend_list[cfg->db_backend], "postgresql") == 0;
	if (cl_on)	/* the owner of what it writes; epoch 0: no fence yet */
		store_pg_node(cfg->cl_node, 0, cfg->cl_lease);
	return 0;
}

void
cluster_shutdown(void)
{
	cl_on = 0;
}

int
cluster_on(void)
{
	return cl_on;
}

const char *
cluster_node(void)
{
	return cl_cfg ? cl_cfg->cl_node : NULL;
}

const char *
cluster_address(void)
{
	return cl_cfg ? cl_cfg->cl_address : NULL;
}

int64_t
cluster_epoch(void)
{
	return cl_epoch;
}

int
cluster_fenced(void)
{
	return cl_fenced;
}

int
cluster_draining(void)
{
	return cl_draining;
}

void
cluster_hooks(void (*fenced)(void), void (*rejoined)(void))
{
	cl_fenced_fn = fenced;
	cl_rejoined_fn = rejoined;
}
