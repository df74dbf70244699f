/* The `accounts` list: inline account mappings and `include: GLOB` entries
 * that read one account per file (accounts/NAME.yaml), plus each account's
 * credential source.
 *
 * Include globs are relative to the manifest and expanded in sorted order,
 * so plans stay deterministic.  Each included file is parsed into its own
 * tree, keeps its own file name for diagnostics, and is scanned for literal
 * secrets like the manifest itself. */
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/build.h"
#include "util/util.h"

static bool is_account_id(const char *s) {
  if (strlen(s) != 16) return false;
  for (size_t i = 0; i < 16; i++)
    if (!isdigit((unsigned char)s[i])) return false;
  return true;
}

static bool name_ok(const char *s, const char *extra, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return false;
  for (; *s != '\0'; s++)
    if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL) return false;
  return true;
}

static size_t count_literal_secrets(const km_ynode_t *map) {
  size_t k = 0;
  for (size_t i = 0; map->kind == KM_YMAP && i < map->n; i++)
    if (km__secret_key(map->keys[i]->str) &&
        map->items[i]->kind == KM_YSCALAR && !km__ynull(map->items[i]))
      k++;
  return k;
}

static void build_assume_role(km_mctx_t *c, const char *name,
                              const km_ynode_t *n, km_mf_cred_spec_t *cr) {
  static const char *const keys[] = {
      "via", "role", "role_arn", "session_name", "duration", "external_id_env",
      NULL};
  if (!km__is_mapping(c, name, n)) return;
  km__check_keys(c, n, keys, name);
  const km_ynode_t *via = km__ymap_get(n, "via");
  if (via == NULL)
    km__err(c, n,
            "'%s' needs 'via: ACCOUNT', the account whose credentials call "
            "STS AssumeRole (usually the management account)",
            name);
  else
    km__rd_str(c, "assume_role.via", via, &cr->via);
  km__rd_str(c, "assume_role.role", km__ymap_get(n, "role"), &cr->role);
  const km_ynode_t *arn = km__ymap_get(n, "role_arn");
  if (km__rd_str(c, "assume_role.role_arn", arn, &cr->role_arn)) {
    /* acs:ram::<16-digit account id>:role/<name> */
    const char *s = cr->role_arn;
    char id[17] = {0};
    if (strlen(s) >= 25) memcpy(id, s + 9, 16);
    if (strncmp(s, "acs:ram::", 9) != 0 || strlen(s) < 32 ||
        !is_account_id(id) || strncmp(s + 25, ":role/", 6) != 0)
      km__err(c, arn,
              "role_arn '%s' must look like "
              "acs:ram::1234567890123456:role/ROLE-NAME",
              s);
  }
  const km_ynode_t *sn = km__ymap_get(n, "session_name");
  if (km__rd_str(c, "assume_role.session_name", sn, &cr->session_name) &&
      !name_ok(cr->session_name, ".@_-", 64))
    km__err(c, sn,
            "session_name '%s' may hold only letters, digits and . @ _ - "
            "(at most 64)",
            cr->session_name);
  const km_ynode_t *du = km__ymap_get(n, "duration");
  if (du != NULL) {
    int64_t secs = 0;
    char *end = NULL;
    if (du->kind == KM_YSCALAR && du->plain && isdigit((unsigned char)*du->str))
      secs = strtol(du->str, &end, 10);
    if (du->kind != KM_YSCALAR ||
        ((end == NULL || *end != '\0') &&
         km__parse_duration(du->str, &secs) != 0) ||
        secs < 900 || secs > 43200)
      km__err(c, du,
              "assume_role.duration must be from 900 to 43200 seconds (15m "
              "to 12h), e.g. 3600 or 1h");
    else
      cr->duration_s = (int)secs;
  }
  const km_ynode_t *ee = km__ymap_get(n, "external_id_env");
  if (km__rd_str(c, "assume_role.external_id_env", ee, &cr->external_id_env)) {
    const char *s = cr->external_id_env;
    bool ok = !isdigit((unsigned char)s[0]);
    for (; *s != '\0'; s++)
      ok = ok && (isupper((unsigned char)*s) || isdigit((unsigned char)*s) ||
                  *s == '_');
    if (!ok)
      km__err(c, ee,
              "external_id_env '%s' must be the NAME of an environment "
              "variable (A-Z, 0-9, _), never the external id itself",
              cr->external_id_env);
  }
}

static void build_credentials(km_mctx_t *c, const km_ynode_t *n,
                              km_mf_cred_spec_t *cr) {
  static const char *const keys[] = {"env", "profile", "config", "assume_role",
                                     NULL};
  cr->pos = km__pos(c, n);
  if (!km__is_mapping(c, "credentials", n)) return;
  km__check_keys(c, n, keys, "credentials");
  const km_ynode_t *env = km__ymap_get(n, "env");
  const km_ynode_t *prof = km__ymap_get(n, "profile");
  const km_ynode_t *ar = km__ymap_get(n, "assume_role");
  const km_ynode_t *cfg = km__ymap_get(n, "config");
  int sources = (env != NULL) + (prof != NULL) + (ar != NULL);
  if (sources == 0) {
    if (count_literal_secrets(n) == 0)
      km__err(c, n,
              "credentials needs one of env: true, profile: NAME or "
              "assume_role: {via: ACCOUNT}; omit `credentials` for the "
              "default chain");
    return;
  }
  if (sources > 1) {
    const km_ynode_t *second = ar ? ar : prof;
    km__err(c, km__ymap_get(n, ar ? "assume_role" : "profile") ? second : n,
            "credentials takes exactly one of env, profile, assume_role; "
            "keep one");
    return;
  }
  if (env != NULL) {
    bool on = false;
    if (km__rd_bool(c, "credentials.env", env, &on)) {
      if (!on)
        km__err(c, env,
                "credentials.env: false selects nothing; write env: true, "
                "or omit `credentials` for the default chain");
      else
        cr->kind = KM_MF_CRED_ENV;
    }
  } else if (prof != NULL) {
    if (km__rd_str(c, "credentials.profile", prof, &cr->profile))
      cr->kind = KM_MF_CRED_PROFILE;
    km__rd_path(c, "credentials.config", cfg, true, NULL, &cr->config);
  } else {
    cr->kind = KM_MF_CRED_ASSUME_ROLE;
    build_assume_role(c, "credentials.assume_role", ar, cr);
  }
  if (cfg != NULL && prof == NULL)
    km__err(c, cfg,
            "credentials.config goes with profile: NAME; add the profile or "
            "remove config");
}

static void check_unique(km_mctx_t *c, const km_ynode_t *acct,
                         const char *field, const char *value) {
  km_manifest_t *m = c->m;
  for (size_t i = 0; i + 1 < m->naccounts; i++) {
    const km_mf_account_t *o = &m->accounts[i];
    const char *ov = strcmp(field, "name") == 0 ? o->name : o->id;
    if (ov == NULL || strcmp(ov, value) != 0) continue;
    const km_ynode_t *first = km__ymap_get(c->acct_nodes[i], field);
    km__err(c, km__ymap_get(acct, field),
            "duplicate account %s '%s' (first at %s:%d:%d); each account "
            "must appear once",
            field, value, first->file, first->line, first->col);
    return;
  }
}

static void build_account(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"name",        "id",   "regions",
                                     "credentials", "tags", "hooks",
                                     "concurrency", NULL};
  if (!km__is_mapping(c, "account", n)) return;
  km_manifest_t *m = c->m;
  m->accounts =
      km_xrealloc(m->accounts, (m->naccounts + 1) * sizeof(*m->accounts));
  c->acct_nodes =
      km_xrealloc(c->acct_nodes, (m->naccounts + 1) * sizeof(*c->acct_nodes));
  c->acct_nodes[m->naccounts] = n;
  km_mf_account_t *a = &m->accounts[m->naccounts++];
  memset(a, 0, sizeof(*a));
  a->pos = km__pos(c, n);
  a->cred.duration_s = 3600;
  /* Name the account in unknown-key messages when it has a usable name. */
  const km_ynode_t *nm0 = km__ymap_get(n, "name");
  char section[96] = "account";
  if (nm0 != NULL && nm0->kind == KM_YSCALAR && !km__ynull(nm0))
    snprintf(section, sizeof(section), "account '%.64s'", nm0->str);
  km__check_keys(c, n, keys, section);

  const km_ynode_t *nm = km__ymap_get(n, "name");
  if (nm == NULL)
    km__err(c, n,
            "an account needs 'name:', a short unique name such as "
            "app-a");
  else if (km__rd_str(c, "name", nm, &a->name)) {
    if (!name_ok(a->name, "._-", 64))
      km__err(c, nm,
              "account name '%s' may hold only letters, digits, '.', '_' and "
              "'-' (at most 64)",
              a->name);
    check_unique(c, n, "name", a->name);
  }
  const km_ynode_t *id = km__ymap_get(n, "id");
  if (id == NULL) {
    km__err(c, n,
            "account '%s' needs 'id: \"1234567890123456\"', its "
            "16-digit Alibaba Cloud account id",
            a->name ? a->name : "?");
  } else if (km__rd_str(c, "id", id, &a->id)) {
    if (!is_account_id(a->id))
      km__err(c, id,
              "account id '%s' must be exactly 16 digits, e.g. "
              "\"1234567890123456\"",
              a->id);
    else if (id->plain)
      km__err(c, id,
              "write the account id in quotes (id: \"%s\"); unquoted, YAML "
              "tools read it as a number and may round it",
              a->id);
    else
      check_unique(c, n, "id", a->id);
  }
  const km_ynode_t *r = km__ymap_get(n, "regions");
  if (r != NULL) {
    a->regions_overridden = true;
    km__rd_strlist(c, "regions", r, false, &a->regions);
  }
  const km_ynode_t *cr = km__ymap_get(n, "credentials");
  if (cr != NULL)
    build_credentials(c, cr, &a->cred);
  else
    a->cred.pos = a->pos;
  if (km__ymap_get(n, "tags") != NULL)
    km__rd_kv(c, "tags", km__ymap_get(n, "tags"), &a->tags, &a->ntags);
  if (km__ymap_get(n, "hooks") != NULL)
    km__build_hooks(c, "hooks", km__ymap_get(n, "hooks"), &a->hooks);
  /* An account with a lower quota: concurrency: {qps: {key-read: 10}}. */
  const km_ynode_t *cc = km__ymap_get(n, "concurrency");
  if (cc != NULL && km__is_mapping(c, "concurrency", cc)) {
    static const char *const ckeys[] = {"qps", NULL};
    km__check_keys(c, cc, ckeys, "an account's concurrency");
    if (km__ymap_get(cc, "qps") != NULL)
      km__build_qps(c, "concurrency.qps", km__ymap_get(cc, "qps"), &a->qps);
  }
}

/* Whether real (a resolved path) lies inside root (resolved). */
static bool under(const char *real, const char *root) {
  if (root == NULL) return false;
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return true;
  return strncmp(real, root, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/* Includes stay inside the manifest's directory tree (or the working
 * directory's), after `..` and symlinks: a copied manifest must not make
 * kmsmig read, and echo in its errors, files elsewhere (a symlink to
 * /etc/shadow once came back line by line as "unknown key" errors).  A
 * refused file is never opened. */
static bool include_allowed(km_mctx_t *c, const km_ynode_t *g, const char *pat,
                            const char *match) {
  if (!c->confine) return true;
  char *real = realpath(match, NULL);
  bool ok = real != NULL && (under(real, c->include_roots[0]) ||
                             under(real, c->include_roots[1]));
  if (!ok)
    km__err(c, g,
            "include '%s': %s resolves outside the manifest's directory "
            "tree (%s); move the account file inside it, or pass "
            "--allow-include-outside",
            pat, match,
            c->include_roots[0] != NULL ? c->include_roots[0] : "?");
  free(real);
  return ok;
}

static void build_include(km_mctx_t *c, const km_ynode_t *entry) {
  const km_ynode_t *g = km__ymap_get(entry, "include");
  if (entry->n != 1) {
    for (size_t i = 0; i < entry->n; i++)
      if (strcmp(entry->keys[i]->str, "include") != 0)
        km__err(c, entry->keys[i],
                "an include entry holds only `include: GLOB`; move '%s' into "
                "the account files or into its own list item",
                entry->keys[i]->str);
  }
  char *pat = NULL;
  if (!km__rd_str(c, "include", g, &pat)) return;
  if (c->confine && pat[0] == '/') {
    km__err(c, g,
            "include '%s' is an absolute path; includes are relative to the "
            "manifest and stay inside its directory tree (or pass "
            "--allow-include-outside)",
            pat);
    free(pat);
    return;
  }
  char *dir = km__dirname(g->file);
  char *full = km__join_path(dir, pat);
  free(dir);
  glob_t gl;
  memset(&gl, 0, sizeof(gl));
  int rc = glob(full, GLOB_ERR, NULL, &gl);
  if (rc != 0 || gl.gl_pathc == 0) {
    km__err(c, g,
            "include '%s' matches no file (looked for %s); paths are "
            "relative to the manifest",
            pat, full);
  }
  for (size_t i = 0; rc == 0 && i < gl.gl_pathc; i++) {
    km_ydoc_t *doc = NULL;
    if (!include_allowed(c, g, pat, gl.gl_pathv[i])) continue;
    if (km__ydoc_load(gl.gl_pathv[i], &doc, c->d) != 0) continue;
    c->docs = km_xrealloc(c->docs, (c->ndocs + 1) * sizeof(*c->docs));
    c->docs[c->ndocs++] = doc;
    if (doc->root == NULL) {
      km_diag_add(c->d, KM_DIAG_ERROR, doc->file, 0, 0,
                  "the account file is empty; write name, id and "
                  "credentials, or delete the file");
      continue;
    }
    km__scan_secrets(c, doc->root);
    build_account(c, doc->root);
  }
  globfree(&gl);
  free(full);
  free(pat);
}

void km__build_accounts(km_mctx_t *c, const km_ynode_t *list) {
  km_manifest_t *m = c->m;
  if (list->kind != KM_YSEQ) {
    km__err(c, list,
            "'accounts' must be a list of accounts or `- include: GLOB` "
            "entries");
    return;
  }
  for (size_t i = 0; i < list->n; i++) {
    const km_ynode_t *it = list->items[i];
    if (it->kind == KM_YMAP && km__ymap_get(it, "include") != NULL)
      build_include(c, it);
    else
      build_account(c, it);
  }
  /* Effective regions and the directory's implied credentials. */
  for (size_t i = 0; i < m->naccounts; i++) {
    km_mf_account_t *a = &m->accounts[i];
    if (!a->regions_overridden)
      for (size_t j = 0; j < m->regions.n; j++)
        km__strlist_push(&a->regions, m->regions.v[j]);
    const km_mf_directory_t *d = &m->directory;
    if (d->present && d->management != NULL && a->name != NULL &&
        km__ymap_get(c->acct_nodes[i], "credentials") == NULL &&
        strcmp(a->name, d->management) != 0) {
      a->cred.kind = KM_MF_CRED_ASSUME_ROLE;
      a->cred.implied = true;
      a->cred.via = km_xstrdup(d->management);
      a->cred.role = km_xstrdup(d->member_role);
    }
    if (a->cred.kind == KM_MF_CRED_ASSUME_ROLE) {
      if (a->cred.role == NULL)
        a->cred.role = km_xstrdup(d->member_role ? d->member_role
                                                 : KM_DEFAULT_MEMBER_ROLE);
      if (a->cred.session_name == NULL)
        a->cred.session_name = km_xstrdup("kmsmig");
    }
  }
}
