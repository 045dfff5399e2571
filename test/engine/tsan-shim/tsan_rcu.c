/* tsan_rcu.c - RCU grace periods, as ThreadSanitizer should see them.
 * Linked only into `make SANITIZE=thread` builds, with
 *   -Wl,--wrap=urcu_memb_read_unlock -Wl,--wrap=urcu_memb_synchronize_rcu
 *
 * Why: urcu_memb_synchronize_rcu returns once every read-side critical
 * section that was running when it started has ended; the code after it
 * then frees what the readers may have looked at. That wait happens inside
 * liburcu (not instrumented: membarrier, futexes and per-thread counters),
 * so TSan sees a reader's access and the writer's free() with nothing
 * ordering them, and reports a race for every object freed after a grace
 * period (cd_env_detach frees the environment and its channels that way).
 *
 * What: every read_unlock releases a sync object, every synchronize_rcu
 * acquires it after the real grace period. TSan then orders each ended
 * read-side section before the code that follows a later synchronize_rcu,
 * which is what RCU guarantees for the sections that matter (those that
 * could still reach the removed object). It slightly over-approximates
 * (sections that began after the removal are ordered too); a reader that
 * reaches an object not removed from its list before the grace period
 * is a use-after-free that the ASan build reports.
 */
#include <sanitizer/tsan_interface.h>

void __real_urcu_memb_read_unlock(void);
void __real_urcu_memb_synchronize_rcu(void);
void __wrap_urcu_memb_read_unlock(void);
void __wrap_urcu_memb_synchronize_rcu(void);

static char cd_tsan_grace_period;

void __wrap_urcu_memb_read_unlock(void) {
  __tsan_release(&cd_tsan_grace_period);
  __real_urcu_memb_read_unlock();
}

void __wrap_urcu_memb_synchronize_rcu(void) {
  __real_urcu_memb_synchronize_rcu();
  __tsan_acquire(&cd_tsan_grace_period);
}
