/* The pipeline document for plugins (kpdoc.h).  Every stage of every
 * built-in plugin reads the inventory the previous stages wrote and writes
 * it back; doing that in one place keeps the seeding from the manifest and
 * the preservation of foreign keys identical across plugins. */
#include <stdlib.h>
#include <string.h>

#include "kpdoc.h"

static bool eq(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

km_inv_t *kp_doc_seed(const km_host_api_t *h, km_pipeline_t *p) {
  km_inv_t *inv = km_inv_new(h->get(p, "account"), h->get(p, "account_id"),
                             h->get(p, "region"), h->get(p, "instance"));
  const char *type = h->get(p, "instance_type");
  inv->instance_type = type == NULL           ? KM_INV_TYPE_UNKNOWN
                       : eq(type, "hardware") ? KM_INV_TYPE_HARDWARE
                                              : KM_INV_TYPE_SOFTWARE;
  km_inv_set(&inv->image_version, h->get(p, "image_version"));
  const char *ar = h->get(p, "auto_renew");
  inv->auto_renew = ar != NULL ? atoi(ar) : -1;
  const char *st = h->get(p, "select");
  json_t *sel = st != NULL ? json_loads(st, 0, NULL) : NULL;
  static const char *const modes[] = {"all-pending", "none", "list"};
  const char *k = json_string_value(json_object_get(sel, "keys"));
  const char *s = json_string_value(json_object_get(sel, "secrets"));
  for (int i = 0; i < 3; i++) {
    if (eq(k, modes[i])) inv->select.keys = (km_inv_sel_t)i;
    if (eq(s, modes[i])) inv->select.secrets = (km_inv_sel_t)i;
  }
  static const char *const lists[] = {"key_ids", "key_aliases", "secret_names"};
  km_inv_strs_t *dst[] = {&inv->select.key_ids, &inv->select.key_aliases,
                          &inv->select.secret_names};
  for (size_t l = 0; l < 3; l++) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(sel, lists[l]), i, v)
        km_inv_strs_add(dst[l], json_string_value(v));
  }
  json_decref(sel);
  return inv;
}

int kp_doc_read(const km_host_api_t *h, km_pipeline_t *p, km_inv_t **inv,
                json_t **extra, km_err_t *err) {
  const char *text = h->doc_get(p);
  json_t *doc = text != NULL ? json_loads(text, 0, NULL) : NULL;
  if (!json_is_object(doc)) {
    json_decref(doc);
    doc = json_object();
  }
  *extra = doc;
  *inv = NULL;
  if (json_object_get(doc, "account") == NULL) {
    *inv = kp_doc_seed(h, p);
    return 0;
  }
  return km_inv_from_json(doc, inv, err);
}

int kp_doc_write(const km_host_api_t *h, km_pipeline_t *p, const km_inv_t *inv,
                 json_t *extra) {
  /* Re-read: other stages' keys may have been added since it was read. */
  const char *text = h->doc_get(p);
  json_t *doc = text != NULL ? json_loads(text, 0, NULL) : NULL;
  if (!json_is_object(doc)) {
    json_decref(doc);
    doc = json_object();
  }
  if (extra != NULL) json_object_update(doc, extra);
  json_t *j = km_inv_to_json(inv);
  json_object_update(doc, j);
  json_decref(j);
  char *out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(doc);
  int rc = out != NULL ? h->doc_set(p, out) : KM_ENOMEM;
  free(out);
  return rc;
}
