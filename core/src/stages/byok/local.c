/* The byok stage's local side (byok.h): select.byok from the manifest's
 * typed selection, the material file of each key (found, permission-checked,
 * matched to the KeySpec, loaded into a buffer that is cleansed on free), the
 * journal folded into "when was this key's migration material imported, and did
 * a batch fail it since", and the import parameters kept in memory for the run
 * (a token only ever with its own public key; cleansed when dropped).
 *
 * Nothing here calls the cloud; no message built here holds material or a
 * token: errors name files, keys and settings only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "byok.h"
#include "util/util.h"

/* ---- settings ---- */

static void cfg_error(byok_cfg_t *cfg, const char *what) {
  snprintf(cfg->error, sizeof(cfg->error), "%s", what);
}

/* The manifest's wrapping algorithm as the wrap code names it. */
static int alg_of(km_mf_wrap_alg_t a, km_byok_alg_t *out) {
  switch (a) {
  case KM_MF_WRAP_RSAES_OAEP_SHA_256:
    *out = KM_BYOK_RSAES_OAEP_SHA_256;
    return 0;
  case KM_MF_WRAP_RSAES_PKCS1_V1_5:
    *out = KM_BYOK_RSAES_PKCS1_V1_5;
    return 0;
  case KM_MF_WRAP_RSAES_OAEP_SHA_1:
    *out = KM_BYOK_RSAES_OAEP_SHA_1;
    return 0;
  }
  return KM_EINVAL;
}

int byok_cfg_load(const km_mf_select_t *sel, byok_cfg_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  if (sel == NULL || !sel->byok_present) return 0;
  cfg->present = true;
  cfg->keys = km_xcalloc(sel->byok_keys.n + 1, sizeof(char *));
  for (size_t i = 0; i < sel->byok_keys.n; i++)
    if (sel->byok_keys.v[i] != NULL)
      cfg->keys[cfg->nkeys++] = km_xstrdup(sel->byok_keys.v[i]);
  const char *dir = sel->byok_material_dir;
  if (dir != NULL && dir[0] != '\0') cfg->material_dir = km_xstrdup(dir);
  if (alg_of(sel->byok_algorithm, &cfg->alg) < 0) {
    char what[80];
    snprintf(what, sizeof(what), "algorithm: unknown wrapping algorithm (%d)",
             (int)sel->byok_algorithm);
    cfg_error(cfg, what);
  }
  /* A material_dir that exists but is not a directory cannot hold any
   * key's material (a missing one is reported per key, with the file to
   * put there). */
  struct stat st;
  if (cfg->material_dir != NULL && stat(cfg->material_dir, &st) == 0 &&
      !S_ISDIR(st.st_mode)) {
    char what[sizeof(cfg->error)];
    snprintf(what, sizeof(what),
             "material_dir %.500s is not a directory; point it at the "
             "directory that holds <KeyId>.pem, .der or .bin",
             cfg->material_dir);
    cfg_error(cfg, what);
  }
  cfg->pem = sel->byok_pem;
  cfg->expiry = sel->byok_expiry;
  return cfg->error[0] ? KM_EINVAL : 0;
}

void byok_cfg_free(byok_cfg_t *cfg) {
  for (size_t i = 0; i < cfg->nkeys; i++)
    free(cfg->keys[i]);
  free(cfg->keys);
  free(cfg->material_dir);
  memset(cfg, 0, sizeof(*cfg));
}

bool byok_cfg_selects(const byok_cfg_t *cfg, const char *key_id) {
  if (cfg->nkeys == 0) return true;
  for (size_t i = 0; i < cfg->nkeys; i++)
    if (kp_streq(cfg->keys[i], key_id)) return true;
  return false;
}

/* ---- material files ---- */

static void err_set(km_err_t *err, int code, const char *fmt, ...)
    KM_PRINTF(3, 4);

static void err_set(km_err_t *err, int code, const char *fmt, ...) {
  memset(err, 0, sizeof(*err));
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->text, sizeof(err->text), fmt, ap);
  va_end(ap);
}

int byok_material_find(const char *dir, const char *key_id, char **path,
                       bool *raw, km_err_t *err) {
  static const char *const exts[] = {"pem", "der", "bin"};
  *path = NULL;
  *raw = false;
  /* A KeyId names a file inside dir, never a path elsewhere. */
  if (key_id == NULL || key_id[0] == '\0' || key_id[0] == '.' ||
      strchr(key_id, '/') != NULL) {
    err_set(err, KM_EINVAL, "key id %s cannot name a material file",
            key_id != NULL ? key_id : "(none)");
    return KM_EINVAL;
  }
  size_t found = 0;
  for (size_t i = 0; i < KM_ARRAY_SIZE(exts); i++) {
    char *p = km_xasprintf("%s/%s.%s", dir, key_id, exts[i]);
    struct stat stt;
    if (stat(p, &stt) == 0) {
      if (found++ == 0) {
        *path = p;
        *raw = i == 2;
        continue;
      }
      err_set(err, KM_EINVAL,
              "more than one material file for key %s in %s (%s and %s); "
              "keep exactly one of %s.pem, %s.der or %s.bin",
              key_id, dir, *path, p, key_id, key_id, key_id);
      free(p);
      free(*path);
      *path = NULL;
      return KM_EINVAL;
    }
    free(p);
  }
  if (found == 0) {
    err_set(err, KM_ENOENT,
            "no migration material for HSM BYOK key %s in %s: put its "
            "private key there as %s.pem or %s.der (PEM or DER), or its raw "
            "AES/SM4 key as %s.bin, mode 0600 (docs/byok.md)",
            key_id, dir, key_id, key_id, key_id);
    return KM_ENOENT;
  }
  return 0;
}

/* Raw bytes for symmetric KeySpecs (Aliyun_AES_256 32, Aliyun_SM4 and
 * Aliyun_AES_128 16), a private key for the asymmetric ones. */
static int spec_fits(const char *spec, bool raw, size_t len, const char *path,
                     km_err_t *err) {
  if (spec == NULL) return 0;
  bool sym = strncmp(spec, "Aliyun_", 7) == 0;
  if (sym != raw) {
    err_set(err, KM_EINVAL,
            "%s does not fit KeySpec %s: %s; rename or replace the file", path,
            spec,
            sym ? "a symmetric key's material is its raw bytes in <KeyId>.bin"
                : "an asymmetric key's material is its private key in "
                  "<KeyId>.pem or <KeyId>.der");
    return KM_EINVAL;
  }
  size_t want = strcmp(spec, "Aliyun_AES_256") == 0   ? 32
                : strcmp(spec, "Aliyun_AES_192") == 0 ? 24
                : sym                                 ? 16
                                                      : len;
  if (len != want) {
    err_set(err, KM_EINVAL, "%s holds %zu bytes; KeySpec %s needs %zu", path,
            len, spec, want);
    return KM_EINVAL;
  }
  return 0;
}

int byok_material_read(const char *path, bool raw, const char *spec,
                       km_byok_buf_t *out, km_err_t *err) {
  memset(out, 0, sizeof(*out));
  int rc = km_byok_material_load(path, raw, out, err);
  if (rc < 0) return rc;
  rc = spec_fits(spec, raw, out->len, path, err);
  if (rc < 0) km_byok_buf_free(out);
  return rc;
}

/* ---- the journal, folded ---- */

static byok_hist_t *hist_get(byok_hists_t *h, const char *id) {
  for (size_t i = 0; i < h->n; i++)
    if (strcmp(h->v[i].id, id) == 0) return &h->v[i];
  h->v = km_xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
  byok_hist_t *x = &h->v[h->n++];
  memset(x, 0, sizeof(*x));
  x->id = km_xstrdup(id);
  return x;
}

const byok_hist_t *byok_hists_find(const byok_hists_t *h, const char *id) {
  for (size_t i = 0; id != NULL && i < h->n; i++)
    if (strcmp(h->v[i].id, id) == 0) return &h->v[i];
  return NULL;
}

/* Replaying the same records twice (a host that also replays this
 * attempt's) gives the same state: each record moves it the same way. */
static void fold(const json_t *j, byok_hists_t *h) {
  const char *type = json_string_value(json_object_get(j, "type"));
  if (kp_streq(type, "byok_imported")) {
    const char *id = json_string_value(json_object_get(j, "id"));
    int64_t at = 0;
    const char *ts = json_string_value(json_object_get(j, "at"));
    if (id != NULL && ts != NULL && km_parse_iso8601(ts, &at) == 0) {
      byok_hist_t *x = hist_get(h, id);
      if (at >= x->imported_at) {
        x->imported_at = at;
        x->failed_after = false;
      }
    }
  } else if (kp_streq(type, "batch_done")) {
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(j, "failed_keys"), i, v) {
      const char *id = json_string_value(v);
      if (id == NULL) continue;
      byok_hist_t *x = (byok_hist_t *)byok_hists_find(h, id);
      if (x != NULL) x->failed_after = true;
    }
  }
}

void byok_hists_load(km_sctx_t *c, byok_hists_t *out) {
  memset(out, 0, sizeof(*out));
  size_t i;
  const json_t *rec;
  json_array_foreach(kp_records(c), i, rec) fold(rec, out);
}

void byok_hists_free(byok_hists_t *h) {
  for (size_t i = 0; i < h->n; i++)
    free(h->v[i].id);
  free(h->v);
  memset(h, 0, sizeof(*h));
}

/* ---- import parameters for the run ---- */

static void tok_clear(byok_tok_t *t) {
  if (t->token != NULL) {
    OPENSSL_cleanse(t->token, strlen(t->token));
    free(t->token);
  }
  free(t->pubkey);
  free(t->pipe_key);
  memset(t, 0, sizeof(*t));
}

static byok_tok_t *tok_find(byok_toks_t *t, const char *pipe_key) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].pipe_key, pipe_key) == 0) return &t->v[i];
  return NULL;
}

void byok_toks_drop(byok_toks_t *t, const char *pipe_key) {
  byok_tok_t *x = tok_find(t, pipe_key);
  if (x == NULL) return;
  tok_clear(x);
  *x = t->v[--t->n];
}

const byok_tok_t *byok_toks_get(byok_toks_t *t, const char *pipe_key,
                                km_byok_alg_t alg, int64_t now) {
  byok_tok_t *x = tok_find(t, pipe_key);
  if (x == NULL) return NULL;
  if (x->alg != alg || x->expires - BYOK_TOKEN_MARGIN <= now) {
    byok_toks_drop(t, pipe_key);
    return NULL;
  }
  return x;
}

const byok_tok_t *byok_toks_put(byok_toks_t *t, const char *pipe_key,
                                const char *token, const char *pubkey,
                                km_byok_alg_t alg, int64_t expires) {
  byok_toks_drop(t, pipe_key);
  t->v = km_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
  byok_tok_t *x = &t->v[t->n++];
  x->pipe_key = km_xstrdup(pipe_key);
  x->token = km_xstrdup(token);
  x->pubkey = km_xstrdup(pubkey);
  x->alg = alg;
  x->expires = expires;
  return x;
}

void byok_toks_free(byok_toks_t *t) {
  for (size_t i = 0; i < t->n; i++)
    tok_clear(&t->v[i]);
  free(t->v);
  memset(t, 0, sizeof(*t));
}
