/*
 * console.c — what `weft replay --console` and `weft serve` (console.*
 * keys) share to run the web console (operators/output/console.h):
 * starting it with a line that says where it is, and --hold, which keeps
 * serving the page after the input ended until SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "operators/output/console.h"
#include "cmd/cmd.h"

static volatile sig_atomic_t g_held_stop;

static void
on_hold_stop(int sig)
{
	(void)sig;
	g_held_stop = 1;
}

int
cmd_console_start(const char *cmd, const struct op_console_config *cfg,
                  struct op_check_config *check, unsigned workers,
                  op_console_gauges_fn gauges, void *arg, struct op_console **out)
{
	char err[512];
	int rc = op_console_start(cfg, check, workers, gauges, arg, out, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return rc == WEFT_EINVAL ? 2 : 1; /* a bad address or limit: usage */
	}
	fprintf(stderr, "%s: console at %s%s\n", cmd, op_console_url(*out),
	        cfg->token && *cfg->token ? "?token=..." : "");
	return 0;
}

void
cmd_console_hold(const char *cmd, const struct op_console *c)
{
	struct sigaction sa = {0}, old_int, old_term;
	sa.sa_handler = on_hold_stop;
	sigemptyset(&sa.sa_mask);
	g_held_stop = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	fprintf(stderr, "%s: input done; the console stays at %s until SIGINT or SIGTERM\n",
	        cmd, op_console_url(c));
	/* the signal may land on another thread: poll the flag */
	struct timespec ts = {0, 100 * 1000 * 1000};
	while (!g_held_stop)
		nanosleep(&ts, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
}
