/* The Terraform hand-off (terraform.c, docs/terraform.md): for every key and
 * secret that is in a KMS 3.0 instance at the end of a run (moved by it, or
 * already there), the change an alicloud_kms_key / alicloud_kms_secret
 * block needs so that `terraform plan` does not replace it, written per
 * account under <run>/terraform/ and listed in report.json.
 *
 * The resources are a typed list (km_tf_set_t) built from the pipelines'
 * models at the end of `kmsmig run`, or read back from a finished run's
 * report.json by `kmsmig terraform`; both write the same files. */
#ifndef KM_RUN_TERRAFORM_H
#define KM_RUN_TERRAFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "kmsmig/errors.h"
#include "model/inventory.h"
#include "util/util.h"

typedef enum { KM_TF_KEY = 0, KM_TF_SECRET } km_tf_kind_t;

/* Which change the snippets carry: add the dkms_instance_id argument (any
 * provider >= 1.183.0, the default), or a lifecycle ignore_changes (the
 * vendor's "keep existing configurations", provider <= 1.235.0). */
typedef enum { KM_TF_ATTRIBUTE = 0, KM_TF_IGNORE } km_tf_style_t;

typedef struct km_tf_res_s {
  /* Owned, or borrowed from the models when the set is (km_tf_collect). */
  char *account; /* the manifest's account name */
  char *region;
  char *id;          /* KeyId or secret name, as the cloud has it */
  char *instance_id; /* the KMS 3.0 instance it is in now */
  km_tf_kind_t kind;
  bool already;         /* already in an instance before this run */
  bool hsm_to_software; /* key: HSM protection, now in a software instance */
} km_tf_res_t;

typedef struct km_tf_set_s {
  km_tf_res_t *v;
  size_t n, cap;
  km_tf_style_t style;
  char *written_dir; /* owned: where km_tf_write put the files, or NULL */
  /* The resources' strings point into the models given to km_tf_collect
   * (a fleet's run ends with tens of thousands of resources: no copy of
   * each string), which must outlive the set. */
  bool borrowed;
} km_tf_set_t;

void km_tf_set_init(km_tf_set_t *s);
void km_tf_set_free(km_tf_set_t *s);

/* Adds every key and secret of invs (borrowed, n of them) that ended in a
 * KMS 3.0 instance: migrated and verified, or already migrated.  The set is
 * sorted by account, region, kind and id (the files' order).  s must be
 * empty; its strings are then borrowed from invs, which must outlive it. */
void km_tf_collect(km_tf_set_t *s, km_inv_t *const *invs, size_t n);

/* Reads the "terraform" section of a finished run's report.json (report:
 * borrowed) into s.  Every field is checked: a missing or mistyped one is
 * KM_EINVAL naming the resource and the fix. */
int km_tf_from_report(km_tf_set_t *s, const json_t *report, km_err_t *err);

/* Writes <dir>/<account>.tf, <account>.imports.tf and <account>.imports.txt
 * for every account of s (dir created 0700 if missing, files 0600, each
 * written atomically).  rel (may be NULL) is how report.json names dir
 * ("terraform").  Returns 0, KM_EEXIST (two resources would share an
 * address) or KM_EIO. */
int km_tf_write(km_tf_set_t *s, const char *dir, km_tf_style_t style,
                km_err_t *err);

/* The report's "terraform" object without its resources (owned):
 * {"style", "files": [...], "resources": []}; the files are listed relative
 * to the run directory, and only when km_tf_write wrote them. */
json_t *km_tf_report_head(const km_tf_set_t *s);

/* What km_tf_report_field writes: set (borrowed), and on_resource (may be
 * NULL) given each element of "resources" as it is written (borrowed). */
typedef struct {
  const km_tf_set_t *set;
  void (*on_resource)(const json_t *res, void *ud);
  void *ud;
} km_tf_report_t;

/* Streams `,\n  "terraform": {"style", "files": [...], "resources": [...]}`
 * into a report being written (f borrowed; ud a km_tf_report_t, borrowed).
 * Returns 0 or KM_EIO. */
int km_tf_report_field(FILE *f, void *ud);

/* The HCL identifier of a resource ("key_cn-hangzhou_<id>"; characters HCL
 * forbids become '_' and a hash of the original is appended) into out
 * (owned by the caller, n >= 128). */
void km_tf_address_name(const km_tf_res_t *r, char *out, size_t n);

/* Appends s (borrowed, UTF-8) to b as an HCL quoted string: quotes,
 * backslashes, control characters, "${" and "%{" escaped, bytes that are
 * not UTF-8 replaced by U+FFFD. */
void km_tf_hcl_quote(km_buf_t *b, const char *s);

#endif
