/* Internal to the byok stage: its settings (select.byok), the material
 * files, what the journal says about each key's migration material, and
 * the import parameters kept in memory for the run. */
#ifndef KM_STAGES_BYOK_H
#define KM_STAGES_BYOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byok/wrap.h"
#include "manifest/manifest.h"
#include "stage/stage.h"

/* Migration material lives 21 days once imported (seed, HSM BYOK step 6);
 * kmsmig imports again one day before that, so that a batch that takes a
 * while, or a clock a little ahead of ours, still finds it valid. */
#define BYOK_MATERIAL_TTL (21 * 86400)
#define BYOK_REIMPORT_AFTER (20 * 86400)
/* An import token and its public key are a pair, valid 24 h. */
#define BYOK_TOKEN_TTL (24 * 3600)
/* A cached token is not used when it expires within this margin. */
#define BYOK_TOKEN_MARGIN 600

/* select.byok, read from the manifest's typed selection (c->t->byok). */
typedef struct byok_cfg_s {
  bool present;
  char **keys; /* empty: every HSM BYOK key the rules sent here */
  size_t nkeys;
  char *material_dir;
  km_byok_alg_t alg;
  bool pem;        /* wrapping_key_format (the console download only) */
  int64_t expiry;  /* KeyMaterialExpireUnix: 0 never */
  char error[600]; /* a setting that could not be read */
} byok_cfg_t;

/* Fills cfg from sel (NULL, or byok_present false: not configured).
 * Returns 0, or KM_EINVAL with cfg->error saying which setting cannot be
 * used (cfg->present is still true: every key fails with that reason). */
int byok_cfg_load(const km_mf_select_t *sel, byok_cfg_t *cfg);
void byok_cfg_free(byok_cfg_t *cfg);
bool byok_cfg_selects(const byok_cfg_t *cfg, const char *key_id);

/* The material file of a key: <dir>/<KeyId>.pem or .der (a private key,
 * sent as PKCS#8 DER) or .bin (raw AES/SM4 bytes).  Exactly one must exist.
 * Returns 0 with *path (owned) and *raw, or < 0 with why (no file content,
 * ever) in err. */
int byok_material_find(const char *dir, const char *key_id, char **path,
                       bool *raw, km_err_t *err);
/* Loads the material (cleanse with km_byok_buf_free) after the permission
 * check; checks it fits the KeySpec when spec is known. */
int byok_material_read(const char *path, bool raw, const char *spec,
                       km_byok_buf_t *out, km_err_t *err);

/* What the journal says about one key. */
typedef struct byok_hist_s {
  char *id;
  int64_t imported_at; /* latest byok_imported, 0: never */
  bool failed_after;   /* a batch_done failed it after that import */
} byok_hist_t;

typedef struct byok_hists_s {
  byok_hist_t *v;
  size_t n;
} byok_hists_t;

/* Folds this pipeline's journal records (kp_records: the earlier attempts'
 * and this attempt's so far) into hists. */
void byok_hists_load(km_sctx_t *c, byok_hists_t *out);
const byok_hist_t *byok_hists_find(const byok_hists_t *h, const char *id);
void byok_hists_free(byok_hists_t *h);

/* Import parameters kept for the run: a token and ITS public key, never one
 * without the other.  The token never leaves this memory except in the
 * ImportKeyMaterial call; it is cleansed when dropped. */
typedef struct byok_tok_s {
  char *pipe_key; /* account \n region \n KeyId */
  char *token;
  char *pubkey; /* base64 DER SubjectPublicKeyInfo */
  km_byok_alg_t alg;
  int64_t expires; /* wall clock */
} byok_tok_t;

typedef struct byok_toks_s {
  byok_tok_t *v;
  size_t n;
} byok_toks_t;

/* A usable pair for key (expires more than BYOK_TOKEN_MARGIN after now,
 * same algorithm), or NULL (an expired one is dropped). */
const byok_tok_t *byok_toks_get(byok_toks_t *t, const char *pipe_key,
                                km_byok_alg_t alg, int64_t now);
/* Stores a pair (strings borrowed, copied), replacing the key's old one. */
const byok_tok_t *byok_toks_put(byok_toks_t *t, const char *pipe_key,
                                const char *token, const char *pubkey,
                                km_byok_alg_t alg, int64_t expires);
void byok_toks_drop(byok_toks_t *t, const char *pipe_key);
void byok_toks_free(byok_toks_t *t);

#endif
