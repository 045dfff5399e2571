/* cd_loadctl.h - the owner's side of a load run (load.h's cd_load_*:
 * start, stop, read, free): finds the workers through the engine and hands
 * each its part with cd__load_post.
 *
 * The top of the engine, beside cd_submit: above cd_engine and cd_load.
 * Threading: the owner's thread.
 */
#ifndef CD_LOADCTL_H
#define CD_LOADCTL_H

#include "load.h"

#endif /* CD_LOADCTL_H */
