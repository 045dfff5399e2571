/* cd_registry.c - see cd_registry.h. */
#include "cd_registry.h"

void cd__registry_init(cd__registry *reg) {
  pthread_mutex_init(&reg->mu, NULL);
  CDS_INIT_LIST_HEAD(&reg->envs);
}

void cd__registry_destroy(cd__registry *reg) {
  pthread_mutex_destroy(&reg->mu);
}

void cd__registry_add(cd__registry *reg, cd_env *env) {
  pthread_mutex_lock(&reg->mu);
  cds_list_add_tail_rcu(&env->node, &reg->envs);
  pthread_mutex_unlock(&reg->mu);
}

void cd__registry_remove(cd__registry *reg, cd_env *env) {
  pthread_mutex_lock(&reg->mu);
  cds_list_del_rcu(&env->node);
  pthread_mutex_unlock(&reg->mu);
  urcu_memb_synchronize_rcu();
}
