/* cd_stats.c - the live object counters (see cd_stats.h). */
#include "cd_stats.h"

cd__counters cd__live;
