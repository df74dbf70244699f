/* freeze: an example kmsmig plugin, built out of tree against the installed
 * SDK only (README.md).  In PREFLIGHT it leaves in KMS 1.0 every key whose
 * id is listed in the file named by $KMSMIG_FREEZE_FILE (one key id per
 * line; blank lines and lines starting with '#' are ignored): the plan and
 * the report show it as skipped, rule "example.frozen", with the reason.
 * Without the variable it freezes nothing.  A file that is named but cannot
 * be read stops the run before anything changes (a freeze that silently did
 * nothing would migrate the keys it was meant to protect).
 *
 * It uses only kmsmig/plugin.h: one exported symbol (km_plugin_entry), the
 * host's function table, and nothing linked from kmsmig. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmsmig/plugin.h>

#define FREEZE_RULE "example.frozen"

typedef struct freeze_s {
  const km_host_api_t *host;
  char *file; /* $KMSMIG_FREEZE_FILE, or NULL */
  char **ids; /* the frozen key ids */
  size_t nids;
} freeze_t;

static void set_err(km_err_t *err, int code, const char *fmt, ...)
    KM_PRINTF(3, 4);
static void set_err(km_err_t *err, int code, const char *fmt, ...) {
  if (err == NULL) return;
  memset(err, 0, sizeof(*err));
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->text, sizeof(err->text), fmt, ap);
  va_end(ap);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p != NULL) memcpy(p, s, n);
  return p;
}

static void freeze_free(freeze_t *f) {
  for (size_t i = 0; i < f->nids; i++)
    free(f->ids[i]);
  free(f->ids);
  free(f->file);
  free(f);
}

/* Reads the ids of path into f.  Returns 0, or a negative code with err. */
static int read_ids(freeze_t *f, const char *path, km_err_t *err) {
  FILE *fp = fopen(path, "r");
  if (fp == NULL) {
    set_err(err, KM_EIO,
            "freeze: cannot read KMSMIG_FREEZE_FILE %s: %s; fix the path or "
            "unset the variable",
            path, strerror(errno));
    return KM_EIO;
  }
  char line[512];
  while (fgets(line, sizeof(line), fp) != NULL) {
    char *s = line, *e;
    while (*s == ' ' || *s == '\t')
      s++;
    e = s + strlen(s);
    while (e > s &&
           (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
      *--e = '\0';
    if (*s == '\0' || *s == '#') continue;
    char **v = realloc(f->ids, (f->nids + 1) * sizeof(*v));
    char *id = dup_str(s);
    if (v == NULL || id == NULL) {
      free(id);
      if (v != NULL) f->ids = v;
      fclose(fp);
      set_err(err, KM_ENOMEM, "freeze: out of memory");
      return KM_ENOMEM;
    }
    f->ids = v;
    f->ids[f->nids++] = id;
  }
  fclose(fp);
  return 0;
}

static int freeze_init(const km_host_api_t *host, void **state, km_err_t *err) {
  /* The host checks our ABI; we check that its table has what we call. */
  if (host->abi_major != KM_PLUGIN_ABI_MAJOR ||
      offsetof(km_host_api_t, stage_done) >= host->struct_size) {
    set_err(err, KM_EPLUGIN, "freeze: host API too old for this plugin");
    return KM_EPLUGIN;
  }
  freeze_t *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    set_err(err, KM_ENOMEM, "freeze: out of memory");
    return KM_ENOMEM;
  }
  f->host = host;
  const char *path = getenv("KMSMIG_FREEZE_FILE");
  if (path != NULL && path[0] != '\0') {
    f->file = dup_str(path);
    int rc = f->file == NULL ? KM_ENOMEM : read_ids(f, path, err);
    if (rc < 0) {
      if (rc == KM_ENOMEM) set_err(err, rc, "freeze: out of memory");
      freeze_free(f);
      return rc;
    }
  }
  *state = f;
  return 0;
}

static void freeze_fini(void *state) {
  if (state != NULL) freeze_free(state);
}

static const char *frozen(const freeze_t *f, const char *key_id) {
  for (size_t i = 0; i < f->nids; i++)
    if (strcmp(f->ids[i], key_id) == 0) return f->ids[i];
  return NULL;
}

static int freeze_start(void *state, km_stage_t stage, km_stage_run_t *run) {
  freeze_t *f = state;
  const km_host_api_t *h = f->host;
  if (stage != KM_STAGE_PREFLIGHT) {
    h->stage_done(run, KM_STAGE_OK, NULL);
    return 0;
  }
  const km_plugin_settings_t *st = h->settings(run);
  size_t n = h->key_count(run), seen = 0, done = 0;
  for (size_t i = 0; i < n; i++) {
    km_plugin_key_t k;
    memset(&k, 0, sizeof(k));
    k.struct_size = (uint32_t)sizeof(k);
    if (h->key_at(run, i, &k) < 0 || k.key_id == NULL) continue;
    seen++;
    /* Our own copy of the id: k's strings are borrowed only until the
     * model changes, and decide_key changes it. */
    const char *id = frozen(f, k.key_id);
    if (id == NULL) continue;
    /* Only what this run would move: never hide a block or undo a skip. */
    if (k.verdict != KM_PV_PENDING && k.verdict != KM_PV_NEEDS_BYOK) continue;
    char reason[512];
    snprintf(reason, sizeof(reason),
             "key %s is frozen by %s; remove it from that file to migrate it",
             id, f->file);
    int rc = h->decide_key(run, id, KM_PV_SKIPPED, FREEZE_RULE, reason);
    if (rc < 0) {
      km_err_t e;
      set_err(&e, rc, "freeze: cannot skip key %s (error %d)", id, rc);
      h->stage_done(run, KM_STAGE_BLOCKED, &e);
      return 0;
    }
    done++;
  }
  h->log(run, KM_PLOG_INFO, "freeze: %s %s: %zu key%s seen, %zu frozen%s%s",
         st->account != NULL ? st->account : "?",
         st->region != NULL ? st->region : "?", seen, seen == 1 ? "" : "s",
         done, f->file != NULL ? " by " : " (KMSMIG_FREEZE_FILE not set)",
         f->file != NULL ? f->file : "");
  h->stage_done(run, KM_STAGE_OK, NULL);
  return 0;
}

static const km_plugin_t freeze_plugin = {
    .abi_major = KM_PLUGIN_ABI_MAJOR,
    .abi_minor = KM_PLUGIN_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(km_plugin_t),
    .name = "freeze",
    .version = "1.0.0",
    .stages = KM_STAGE_BIT(KM_STAGE_PREFLIGHT),
    .init = freeze_init,
    .fini = freeze_fini,
    .start = freeze_start,
};

const km_plugin_t *km_plugin_entry(void) {
  return &freeze_plugin;
}
