/*
 * signal.c — the signals of weft's long-running commands (replay,
 * serve): SIGINT and SIGTERM stop the engine (sources finish, what was
 * read is still processed), SIGHUP asks the check operator to reload its
 * model. The handlers only read a pointer and call async-signal-safe
 * functions (engine_stop, op_check_request_reload: atomic stores and
 * wakes).
 */
#include <signal.h>

#include "operators/check/check.h"
#include "cmd/cmd.h"

static struct engine *volatile g_engine;
static struct op_check_config *volatile g_check;

static void
on_stop(int sig)
{
	(void)sig;
	struct engine *e = g_engine;
	if (e)
		engine_stop(e);
}

static void
on_hup(int sig)
{
	(void)sig;
	struct op_check_config *c = g_check;
	if (c)
		op_check_request_reload(c);
}

int
cmd_signals_install(struct engine *e, struct op_check_config *check)
{
	g_engine = e;
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	if (!check)
		return 0;
	g_check = check;
	signal(SIGHUP, on_hup);
	return op_check_watch_start(check);
}

void
cmd_signals_restore(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	g_engine = NULL;
	struct op_check_config *c = g_check;
	if (!c)
		return;
	signal(SIGHUP, SIG_DFL);
	g_check = NULL;
	op_check_watch_stop(c); /* a no-op when it never started */
}
