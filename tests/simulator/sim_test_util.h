/* sim_test_util.h — helpers shared by the simulator tests. */
#ifndef WEFT_SIM_TEST_UTIL_H
#define WEFT_SIM_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "simulator/sim_internal.h"

#define SIM_RUN_RPC "NM_CL_rpc_01C_0to0INT_10RT_1WT"
#define SIM_RUN_W "NM_CL_w_05C_1to19B_0to600INT_50RT_10WT"
#define SIM_RUN_DISC "AN_Net_disconnectDN_w_01FDN_30C_1to19B_0to600INT_15RT_5WT"
#define SIM_RUN_RO "AN_Sys_readOnlyDN_w_01FDN_30C_1to19B_0to600INT_15RT_5WT"

/* Path of a bundled run folder (static buffer). */
static inline const char *
sim_test_run_dir(const char *run)
{
	static char buf[4096];
	const char *root = getenv("WEFT_SOURCE_ROOT");
	snprintf(buf, sizeof(buf), "%s/data/tracebench/%s", root ? root : ".",
	    run);
	return buf;
}

/* Index of the event with id, or -1. */
static inline long
sim_test_find(const struct sim_run *r, int64_t id)
{
	for (size_t i = 0; i < r->nev; i++)
		if (r->ev[i].id == id)
			return (long)i;
	return -1;
}

#endif
