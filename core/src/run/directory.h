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
  } * v;
  size_t n, cap;
} km_dir_members_t;

/* Appends to found every Accounts.Account of body (borrowed; a
 * ListAccounts or ListAccountsForParent answer, any JSON) with an AccountId
 * and every tag dir includes.  Returns how many accounts the page listed
 * (the listing decides about the next page: kp_next_page). */
size_t km_dir_parse_page(const json_t *body, const km_mf_directory_t *dir,
                         km_dir_members_t *found);
/* Frees found's members and array; found is left empty. */
void km_dir_members_free(km_dir_members_t *found);

#endif
