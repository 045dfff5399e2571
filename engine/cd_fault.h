/* cd_fault.h - allocation failures on demand, for the engine's C tests.
 *
 * A leaf. Built with -DCD_FAULT_INJECTION (test/engine/Makefile does), the
 * engine asks cd__fault_hit() before allocating an event and fails the
 * allocation when it says so; elsewhere (the addon) it is a constant 0.
 * Threading: any thread (atomic countdown).
 */
#ifndef CD_FAULT_H
#define CD_FAULT_H

#ifdef CD_FAULT_INJECTION
/* Lets `skip` event allocations through, then fails the next `fail`. */
void cd_fault_events(int skip, int fail);
int cd__fault_hit(void);
#else
static inline int cd__fault_hit(void) { return 0; }
#endif

#endif /* CD_FAULT_H */
