/* cd_landing_mem.c - landing memory kept for reuse (see cd_landing_mem.h). */
#include "cd_landing_mem.h"

#include <pthread.h>
#include <stdlib.h>

#include "../engine/engine.h"

/* A free block holds the link to the next one in its first bytes. */
typedef struct cd__free_block {
  struct cd__free_block *next;
} cd__free_block;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static cd__free_block *pool_head; /* [pool_lock] */
static unsigned pool_count;       /* [pool_lock] */
static unsigned lent_count;       /* [pool_lock] */

static void *block_take(void) {
  pthread_mutex_lock(&pool_lock);
  cd__free_block *b = pool_head;
  if (b != NULL) {
    pool_head = b->next;
    pool_count--;
  }
  if (b != NULL) lent_count++;
  pthread_mutex_unlock(&pool_lock);
  if (b != NULL) return b;
  void *fresh = malloc(CD_LANDING_CAP);
  if (fresh != NULL) {
    pthread_mutex_lock(&pool_lock);
    lent_count++;
    pthread_mutex_unlock(&pool_lock);
  }
  return fresh;
}

/* The Buffer's finalizer: V8 collected it (on the JS thread of whichever
 * environment made it, perhaps while that environment is torn down). */
static void block_give_back(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  cd__free_block *b = data;
  pthread_mutex_lock(&pool_lock);
  lent_count--;
  if (pool_count < CD__LANDING_MEM_KEEP) {
    b->next = pool_head;
    pool_head = b;
    pool_count++;
    b = NULL;
  }
  pthread_mutex_unlock(&pool_lock);
  free(b);
}

void cd__landing_mem_counts(unsigned *kept, unsigned *lent) {
  pthread_mutex_lock(&pool_lock);
  *kept = pool_count;
  *lent = lent_count;
  pthread_mutex_unlock(&pool_lock);
}

napi_value cd__js_new_landing(napi_env env, napi_callback_info info) {
  (void)info;
  void *block = block_take();
  if (block == NULL) return NULL;
  napi_value buffer;
  if (napi_create_external_buffer(env, CD_LANDING_CAP, block, block_give_back, NULL, &buffer) != napi_ok) {
    /* napi_no_external_buffers_allowed (a V8 sandbox), or out of memory:
     * nothing pending to throw, the caller allocates instead */
    block_give_back(env, block, NULL);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return NULL;
  }
  return buffer;
}
