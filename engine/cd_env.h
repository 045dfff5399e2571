/* cd_env.h - an environment's side of the engine (engine.h's cd_env_*):
 * attach and detach, the owner's drain of its event rings, and its
 * channels, one per worker, made when a request first goes to that worker.
 *
 * Above cd_registry and cd_channel, below cd_submit. Threading: the
 * owner's thread, except where a function says otherwise.
 */
#ifndef CD_ENV_H
#define CD_ENV_H

#include "cd_channel.h"
#include "cd_registry.h"
#include "engine.h"

/* The channel to worker `index`, or NULL if none was made. */
cd_channel *cd__env_channel(cd_env *env, unsigned index);
/* The channel to worker `index`, made on first use; NULL out of memory. */
cd_channel *cd__env_channel_open(cd_env *env, unsigned index);

#endif /* CD_ENV_H */
