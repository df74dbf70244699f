/* The selection modes of the manifest's select.keys and select.secrets,
 * shared by the manifest (which parses them) and the rules (which apply
 * them): one enum, one table of names. */
#ifndef KM_MODEL_SELECT_H
#define KM_MODEL_SELECT_H

typedef enum km_sel_mode_e {
  KM_SEL_UNSET = 0,   /* not given: selects nothing, and the plan says so */
  KM_SEL_ALL_PENDING, /* everything the region lists as not migrated */
  KM_SEL_NONE,        /* nothing of this kind */
  KM_SEL_LIST         /* only what the lists match */
} km_sel_mode_t;

/* "unset", "all-pending", "none", "list" (static). */
const char *km_sel_mode_name(km_sel_mode_t m);

#endif
