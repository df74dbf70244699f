/* The page parser of the resource directory listing (directory.c), apart
 * from the listing's callbacks so tests/fuzz/fuzz_directory.c can feed it
 * any reply. */
#ifndef KM_RUN_DIRECTORY_H
#define KM_RUN_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "manifest/manifest.h"

/* The members listed so far: id and display name (both owned; name may be
 * NULL), in listing order. */
typedef struct km_dir_members_s {
  struct km_dir_member_s {
    char *id, *name;
    /* the member's tags, when keep_tags (interned strings; the array is
     * owned): what `waves:` and `windows:` match by tag */
    km_mf_kv_t *tags;
    size_t ntags;
  } * v;
  size_t n, cap;
  bool keep_tags;
} km_dir_members_t;

/* Appends to found every Accounts.Account of body (borrowed; a
 * ListAccounts or ListAccountsForParent answer, any JSON) with an AccountId
 * and every tag dir includes, with its tags when found->keep_tags.
 * Returns how many accounts the page listed (the listing decides about the
 * next page: kp_next_page). */
size_t km_dir_parse_page(const json_t *body, const km_mf_directory_t *dir,
                         km_dir_members_t *found);
/* A member's tags are kept only when `waves:` or `windows:` match by tag
 * (10,000 members' tags are otherwise memory nobody reads). */
bool km__dir_tags_matter(const km_manifest_t *m);
/* Frees found's members and array; found is left empty. */
void km_dir_members_free(km_dir_members_t *found);

#endif
