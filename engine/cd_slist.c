/* cd_slist.c - see cd_slist.h. */
#include "cd_slist.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cd__slist_from_lines(const char *lines, size_t len, struct curl_slist **head,
                         struct curl_slist **tail) {
  const char *p = lines, *end = lines ? lines + len : NULL;
  char stack[512];
  while (p != NULL && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (n > 0) {
      char *line = n < sizeof(stack) ? stack : malloc(n + 1);
      if (line == NULL) goto fail;
      memcpy(line, p, n);
      line[n] = '\0';
      size_t l = n;
      while (l > 0 && line[l - 1] == ' ') l--;
      if (l > 0 && line[l - 1] == ':') {  /* "Name:" or "Name:   ": no value */
        line[l - 1] = ';';
        line[l] = '\0';
      }
      struct curl_slist *node = curl_slist_append(NULL, line);
      if (line != stack) free(line);
      if (node == NULL) goto fail;
      if (*tail) (*tail)->next = node; else *head = node;
      *tail = node;
    }
    p = nl ? nl + 1 : end;
  }
  return 0;
fail:
  if (*tail) (*tail)->next = NULL;
  curl_slist_free_all(*head);
  *head = *tail = NULL;
  return -1;
}

int cd__slist_has(const struct curl_slist *list, const struct curl_slist *stop, const char *name) {
  size_t n = strlen(name);
  for (; list != NULL && list != stop; list = list->next)
    if (strncasecmp(list->data, name, n) == 0) return 1;
  return 0;
}
