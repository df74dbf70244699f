/* Schema-checking helpers shared by the manifest builders: typed readers
 * that report wrong types with a position, unknown-key detection with a
 * "did you mean" suggestion, the literal-secret scan, and parsers for the
 * small value languages (durations, times, paths).
 *
 * Every reader takes the dotted name of the value ("instances.cn-hangzhou.
 * type") for its message, reports at the node's own position, and returns
 * false when it reported something (the caller then leaves the default).
 */
#ifndef KM_MANIFEST_SCHEMA_H
#define KM_MANIFEST_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "manifest/manifest.h"
#include "manifest/yaml_tree.h"

/* State of one km_manifest_load call. */
typedef struct km_mctx_s {
  km_diags_t *d;    /* borrowed */
  km_manifest_t *m; /* the model being built (borrowed) */
  km_ydoc_t **docs; /* owned: every parsed file, freed at the end */
  size_t ndocs;
  /* Where each explicit account came from, parallel to m->accounts: the
   * account's mapping node (borrowed from docs). */
  const km_ynode_t **acct_nodes;
  /* Include files must resolve (realpath) under one of these (owned); NULL
   * roots: --allow-include-outside. */
  char *include_roots[2];
  bool confine;
} km_mctx_t;

void km__err(km_mctx_t *c, const km_ynode_t *at, const char *fmt, ...)
    KM_PRINTF(3, 4);
void km__warn(km_mctx_t *c, const km_ynode_t *at, const char *fmt, ...)
    KM_PRINTF(3, 4);
void km__err_pos(km_mctx_t *c, km_mf_pos_t at, const char *fmt, ...)
    KM_PRINTF(3, 4);
void km__warn_pos(km_mctx_t *c, km_mf_pos_t at, const char *fmt, ...)
    KM_PRINTF(3, 4);

/* Position of a node, with file interned into c->m->files. */
km_mf_pos_t km__pos(km_mctx_t *c, const km_ynode_t *n);

/* Reports every key of map not in allowed (NULL-terminated), suggesting
 * the nearest allowed key.  Keys already reported as literal secrets are
 * skipped.  section names the mapping for the message ("instances.x"). */
void km__check_keys(km_mctx_t *c, const km_ynode_t *map,
                    const char *const *allowed, const char *section);
/* Nearest choice within a small edit distance, or NULL (borrowed). */
const char *km__nearest(const char *s, const char *const *choices);
size_t km__edit_distance(const char *a, const char *b);

/* Typed readers.  n may be NULL (absent): then they return false without a
 * report, leaving *out untouched.  Strings written to *out are owned. */
bool km__is_mapping(km_mctx_t *c, const char *name, const km_ynode_t *n);
bool km__rd_str(km_mctx_t *c, const char *name, const km_ynode_t *n,
                char **out);
bool km__rd_bool(km_mctx_t *c, const char *name, const km_ynode_t *n,
                 bool *out);
bool km__rd_int(km_mctx_t *c, const char *name, const km_ynode_t *n, long lo,
                long hi, long *out);
/* One of choices (NULL-terminated); *out is its index. */
bool km__rd_enum(km_mctx_t *c, const char *name, const km_ynode_t *n,
                 const char *const *choices, int *out);
/* A list of strings (or, with allow_scalar, one string).  Appends to out;
 * items that are not strings are reported and skipped. */
bool km__rd_strlist(km_mctx_t *c, const char *name, const km_ynode_t *n,
                    bool allow_scalar, km_mf_strlist_t *out);
/* A mapping of string to string. */
bool km__rd_kv(km_mctx_t *c, const char *name, const km_ynode_t *n,
               km_mf_kv_t **out, size_t *nout);
/* A path to an existing file (must_exist) relative to the directory of the
 * node's file; *out is the joined path. */
bool km__rd_path(km_mctx_t *c, const char *name, const km_ynode_t *n,
                 bool must_exist, const char *suffix, char **out);

/* Reports every mapping key in the tree that names a credential secret
 * (access_key_secret, secret, security_token, ...) with a literal value. */
void km__scan_secrets(km_mctx_t *c, const km_ynode_t *root);
bool km__secret_key(const char *key);

/* "2h", "30m", "90s", "1h30m", "1d": seconds > 0.  0 or KM_EINVAL. */
int km__parse_duration(const char *s, int64_t *out);
/* "2026-12-05T02:00:00+08:00" or "...Z": epoch seconds.  0 or KM_EINVAL. */
int km__parse_time(const char *s, int64_t *out);
/* "YYYY-MM-DD" as 00:00 UTC+8 of that day, epoch seconds. */
int km__parse_date_cst(const char *s, int64_t *out);
/* dir + "/" + p unless p is absolute or dir is "" or "."; owned. */
char *km__join_path(const char *dir, const char *p);
/* Directory part of path ("." when none); owned. */
char *km__dirname(const char *path);

/* The known region names, NULL-terminated (manifest.c). */
extern const char *const km__regions[];

void km__strlist_push(km_mf_strlist_t *l, const char *s);
void km__strlist_free(km_mf_strlist_t *l);
bool km__strlist_has(const km_mf_strlist_t *l, const char *s);

#endif
