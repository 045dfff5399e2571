/* cd_slist.h - "Name: value\n" lines into a libcurl header list.
 *
 * A leaf (libcurl's slist only). Request headers and proxy headers arrive
 * from the owner in this one form and become curl lists through this one
 * parser, in curl's dialect: an empty value is written "Name;" because curl
 * reads "Name:" as "remove this header". Other lines go as written.
 */
#ifndef CD_SLIST_H
#define CD_SLIST_H

#include <stddef.h>

#include <curl/curl.h>

/* Appends one node per non-empty line of lines[0..len) to the list whose
 * head and last node are *head and *tail (both NULL for a new list).
 * Returns 0, or -1 when out of memory (the list is then freed and both
 * pointers are NULL). */
int cd__slist_from_lines(const char *lines, size_t len, struct curl_slist **head,
                         struct curl_slist **tail);

/* Non-zero if the list has a header of this name (case-insensitive;
 * `name` includes the colon, e.g. "content-type:"). */
int cd__slist_has(const struct curl_slist *list, const struct curl_slist *stop, const char *name);

#endif /* CD_SLIST_H */
