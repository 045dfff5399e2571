/* cd_grow.c - see cd_grow.h. */
#include "cd_grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cd__grow(void **items, size_t *cap, size_t need, size_t size, size_t first) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : first;
  while (c < need) {
    if (c > SIZE_MAX / 2) return -1;
    c *= 2;
  }
  if (c > SIZE_MAX / size) return -1;
  char *p = realloc(*items, c * size);
  if (p == NULL) return -1;
  memset(p + *cap * size, 0, (c - *cap) * size);
  *items = p;
  *cap = c;
  return 0;
}
