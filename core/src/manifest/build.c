/* Manifest sections -> model: version, name, directory, regions,
 * instances, select, migrate, hooks, plugins, concurrency,
 * failure_tolerance, endpoints, signature.
 *
 * Each builder checks only what it can see in its own section (types,
 * formats, ranges, unknown keys).  Anything that relates two sections
 * (an instance owner that must be an account, a region that must have an
 * instance) is in check.c, after every section is built. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acs/acs.h"
#include "manifest/build.h"
#include "util/util.h"

static bool all_chars(const char *s, const char *extra) {
  for (; *s != '\0'; s++)
    if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL) return false;
  return true;
}

static bool is_uuid(const char *s) {
  if (strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) return false;
  }
  return true;
}

/* The key id forms the service issues (reference §1 "ID formats"): KMS 1.0
 * keys are UUIDs (8-4-4-4-12 hex digits); keys created in a KMS 3.0
 * instance are key-<region tag><letters and digits>.  With arn, also
 * acs:kms:REGION:ACCOUNT:key/ID, which rules.c matches against KeyArn. */
static bool is_key_id(const char *s, bool arn) {
  if (is_uuid(s)) return true;
  if (strncmp(s, "key-", 4) == 0 && strlen(s) >= 12 && strlen(s) <= 64) {
    for (const char *p = s + 4; *p; p++)
      if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p))
        return false;
    return true;
  }
  if (!arn || strncmp(s, "acs:kms:", 8) != 0) return false;
  const char *region = s + 8, *colon = strchr(region, ':');
  if (colon == NULL || colon == region) return false;
  for (const char *p = region; p < colon; p++)
    if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
      return false;
  const char *uid = colon + 1;
  size_t nd = strspn(uid, "0123456789");
  if (nd != 16 || strncmp(uid + nd, ":key/", 5) != 0) return false;
  const char *id = uid + nd + 5;
  return is_key_id(id, false);
}

static void build_directory(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"management", "member_role", "include",
                                     "exclude", NULL};
  km_mf_directory_t *dir = &c->m->directory;
  if (!km__is_mapping(c, "directory", n)) return;
  dir->present = true;
  dir->pos = km__pos(c, n);
  km__check_keys(c, n, keys, "directory");
  if (!km__rd_str(c, "directory.management", km__ymap_get(n, "management"),
                  &dir->management) &&
      km__ymap_get(n, "management") == NULL)
    km__err(c, n,
            "'directory' needs 'management: ACCOUNT', the account (defined "
            "under accounts) that reads the resource directory");
  km__rd_str(c, "directory.member_role", km__ymap_get(n, "member_role"),
             &dir->member_role);
  if (dir->member_role == NULL)
    dir->member_role = km_xstrdup(KM_DEFAULT_MEMBER_ROLE);

  const km_ynode_t *inc = km__ymap_get(n, "include");
  if (km__is_mapping(c, "directory.include", inc)) {
    static const char *const ik[] = {"folders", "tags", NULL};
    km__check_keys(c, inc, ik, "directory.include");
    const km_ynode_t *f = km__ymap_get(inc, "folders");
    if (km__rd_strlist(c, "directory.include.folders", f, false,
                       &dir->include_folders))
      for (size_t i = 0; i < f->n; i++)
        if (strncmp(f->items[i]->str, "fd-", 3) != 0 ||
            !all_chars(f->items[i]->str + 3, ""))
          km__err(c, f->items[i],
                  "folder '%s' is not a folder id; folder ids look like "
                  "fd-7Yq0a1 (Resource Directory console, Folders)",
                  f->items[i]->str);
    km__rd_kv(c, "directory.include.tags", km__ymap_get(inc, "tags"),
              &dir->include_tags, &dir->ninclude_tags);
  }
  const km_ynode_t *exc = km__ymap_get(n, "exclude");
  if (km__is_mapping(c, "directory.exclude", exc)) {
    static const char *const ek[] = {"accounts", NULL};
    km__check_keys(c, exc, ek, "directory.exclude");
    const km_ynode_t *a = km__ymap_get(exc, "accounts");
    if (km__rd_strlist(c, "directory.exclude.accounts", a, false,
                       &dir->exclude_accounts))
      for (size_t i = 0; i < a->n; i++) {
        const char *s = a->items[i]->str;
        if (strlen(s) != 16 || !all_chars(s, "") || !isdigit((unsigned char)*s))
          km__err(c, a->items[i],
                  "'%s' is not an account id; write the 16-digit id in "
                  "quotes, e.g. \"1502957755542187\"",
                  s);
      }
  }
}

static void build_regions(km_mctx_t *c, const km_ynode_t *n) {
  if (!km__rd_strlist(c, "regions", n, false, &c->m->regions) || n == NULL)
    return;
  /* Unknown and duplicate regions are checked with the accounts' own
   * regions in check.c, where the positions of every list are at hand. */
}

static void build_instance(km_mctx_t *c, const km_ynode_t *key,
                           const km_ynode_t *n) {
  static const char *const keys[] = {
      "id", "owner", "type", "image_version", "auto_renew", "share_with", NULL};
  static const char *const types[] = {"software", "hardware", NULL};
  char name[128];
  snprintf(name, sizeof(name), "instances.%s", key->str);
  if (!km__is_mapping(c, name, n)) return;
  km_manifest_t *m = c->m;
  m->instances =
      km_xrealloc(m->instances, (m->ninstances + 1) * sizeof(*m->instances));
  km_mf_instance_t *in = &m->instances[m->ninstances++];
  memset(in, 0, sizeof(*in));
  in->region = km_xstrdup(key->str);
  in->pos = km__pos(c, key);
  in->auto_renew = -1;
  km__check_keys(c, n, keys, name);

  char fld[160];
  const km_ynode_t *id = km__ymap_get(n, "id");
  snprintf(fld, sizeof(fld), "%s.id", name);
  if (id == NULL)
    km__err(c, n, "'%s' needs 'id: kst-...', the KMS 3.0 instance id", name);
  else if (km__rd_str(c, fld, id, &in->id) &&
           (strncmp(in->id, "kst-", 4) != 0 || strlen(in->id) < 12 ||
            !all_chars(in->id + 4, "")))
    km__err(c, id,
            "'%s' is not a KMS 3.0 instance id; copy it from the KMS console "
            "(it looks like kst-hzz6500a1b2c3d4e5f6)",
            in->id);

  const km_ynode_t *owner = km__ymap_get(n, "owner");
  snprintf(fld, sizeof(fld), "%s.owner", name);
  if (owner == NULL)
    km__err(c, n, "'%s' needs 'owner: ACCOUNT', the account that bought it",
            name);
  else
    km__rd_str(c, fld, owner, &in->owner);

  int t = 0;
  snprintf(fld, sizeof(fld), "%s.type", name);
  if (km__rd_enum(c, fld, km__ymap_get(n, "type"), types, &t))
    in->type = (km_mf_inst_type_t)t;

  const km_ynode_t *iv = km__ymap_get(n, "image_version");
  snprintf(fld, sizeof(fld), "%s.image_version", name);
  if (iv != NULL && km__rd_str(c, fld, iv, &in->image_version)) {
    int a, b, d, len = 0;
    if (sscanf(in->image_version, "%d.%d.%d%n", &a, &b, &d, &len) != 3 ||
        (size_t)len != strlen(in->image_version) || a < 0 || b < 0 || d < 0) {
      km__err(c, iv,
              "'%s' is '%s'; write the version shown in the console as "
              "\"x.y.z\", e.g. \"2.9.3\"",
              fld, in->image_version);
    } else {
      in->image_major = a;
      in->image_minor = b;
      in->image_patch = d;
      if (in->type == KM_MF_INST_SOFTWARE && (a < 2 || (a == 2 && b < 9)))
        km__err(c, iv,
                "software instance image %s is older than 2.9.0, which "
                "migration needs; upgrade the image in the KMS console, then "
                "update image_version",
                in->image_version);
    }
  } else if (iv == NULL) {
    km__warn(c, key,
             "instance %s has no image_version; read it in the KMS console "
             "and add it, or preflight will stop to ask",
             key->str);
  }

  bool ar = false;
  snprintf(fld, sizeof(fld), "%s.auto_renew", name);
  const km_ynode_t *arn = km__ymap_get(n, "auto_renew");
  if (km__rd_bool(c, fld, arn, &ar)) {
    in->auto_renew = ar ? 1 : 0;
    if (!ar)
      km__warn(c, arn,
               "auto_renew is false: if instance %s expires it is released "
               "and everything encrypted under it can no longer be "
               "decrypted; turn on auto-renewal in the console",
               in->id ? in->id : key->str);
  }

  const km_ynode_t *sw = km__ymap_get(n, "share_with");
  snprintf(fld, sizeof(fld), "%s.share_with", name);
  if (sw != NULL && sw->kind == KM_YSCALAR && sw->plain &&
      strcmp(sw->str, "all") == 0)
    in->share_all = true;
  else if (sw != NULL && sw->kind != KM_YSEQ)
    km__err(c, sw,
            "'%s' must be `all` or a list of account names, e.g. "
            "[app-a, app-b]",
            fld);
  else
    km__rd_strlist(c, fld, sw, false, &in->share_with);
}

static int cmp_instance(const void *a, const void *b) {
  return strcmp(((const km_mf_instance_t *)a)->region,
                ((const km_mf_instance_t *)b)->region);
}

static void build_instances(km_mctx_t *c, const km_ynode_t *n) {
  if (!km__is_mapping(c, "instances", n)) return;
  for (size_t i = 0; i < n->n; i++) {
    /* Unknown region names are reported in check.c with the others. */
    build_instance(c, n->keys[i], n->items[i]);
  }
  if (c->m->ninstances > 1)
    qsort(c->m->instances, c->m->ninstances, sizeof(*c->m->instances),
          cmp_instance);
}

/* keys/secrets: all-pending | none | { listed } */
static void build_sel(km_mctx_t *c, const char *name, const km_ynode_t *n,
                      const char *const *listkeys, km_sel_mode_t *mode,
                      km_mf_strlist_t *l1, km_mf_strlist_t *l2) {
  if (n == NULL) return;
  if (n->kind == KM_YSCALAR && !km__ynull(n)) {
    static const char *const modes[] = {"all-pending", "none", NULL};
    int v = 0;
    if (km__rd_enum(c, name, n, modes, &v))
      *mode = v == 0 ? KM_SEL_ALL_PENDING : KM_SEL_NONE;
    return;
  }
  if (n->kind != KM_YMAP) {
    km__err(c, n, "'%s' must be all-pending, none, or a mapping {%s: [...]}",
            name, listkeys[0]);
    return;
  }
  *mode = KM_SEL_LIST;
  km__check_keys(c, n, listkeys, name);
  char fld[96];
  snprintf(fld, sizeof(fld), "%s.%s", name, listkeys[0]);
  km__rd_strlist(c, fld, km__ymap_get(n, listkeys[0]), false, l1);
  if (listkeys[1] != NULL) {
    snprintf(fld, sizeof(fld), "%s.%s", name, listkeys[1]);
    km__rd_strlist(c, fld, km__ymap_get(n, listkeys[1]), false, l2);
  }
  if (l1->n + (l2 ? l2->n : 0) == 0)
    km__err(c, n,
            "'%s' selects nothing; list at least one item, or write `%s: "
            "none`",
            name, name);
}

static void check_key_ids(km_mctx_t *c, const km_ynode_t *list,
                          const char *name, bool arn) {
  if (list == NULL || list->kind != KM_YSEQ) return;
  for (size_t i = 0; i < list->n; i++) {
    const km_ynode_t *it = list->items[i];
    if (it->kind == KM_YSCALAR && !is_key_id(it->str, arn))
      km__err(c, it,
              "'%s' in %s is not a key id; key ids are UUIDs such as "
              "1234abcd-12ab-34cd-56ef-1234567890ab (KMS 1.0 keys) or "
              "key-hzz62f5ba3dnpb6v8abcd (keys created in a KMS 3.0 "
              "instance)%s",
              it->str, name,
              arn ? ", or a key ARN acs:kms:REGION:ACCOUNT:key/ID" : "");
  }
}

static void build_byok(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"keys",
                                     "material_dir",
                                     "algorithm",
                                     "wrapping_key_format",
                                     "material_expiry",
                                     NULL};
  static const char *const algs[] = {"RSAES_OAEP_SHA_256", "RSAES_PKCS1_V1_5",
                                     "RSAES_OAEP_SHA_1", NULL};
  static const char *const fmts[] = {"der", "pem", NULL};
  km_mf_select_t *s = &c->m->select;
  if (!km__is_mapping(c, "select.byok", n)) return;
  s->byok_present = true;
  s->byok_pos = km__pos(c, n);
  km__check_keys(c, n, keys, "select.byok");
  const km_ynode_t *k = km__ymap_get(n, "keys");
  km__rd_strlist(c, "select.byok.keys", k, false, &s->byok_keys);
  check_key_ids(c, k, "select.byok.keys", false);

  const km_ynode_t *md = km__ymap_get(n, "material_dir");
  if (md == NULL) {
    km__err(c, n,
            "'select.byok' needs 'material_dir: PATH', where `kmsmig byok` "
            "keeps wrapped key material (outside the repository)");
  } else if (km__rd_str(c, "select.byok.material_dir", md,
                        &s->byok_material_dir)) {
    char *dir = km__dirname(md->file);
    char *p = km__join_path(dir, s->byok_material_dir);
    free(dir);
    free(s->byok_material_dir);
    s->byok_material_dir = p;
    struct stat st;
    if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode))
      km__err(c, md, "material_dir '%s' is a file; it must be a directory", p);
    else if (stat(p, &st) != 0)
      km__warn(c, md,
               "material_dir '%s' does not exist yet; create it (mode 0700) "
               "before `kmsmig byok wrap`",
               p);
  }
  int v = 0;
  if (km__rd_enum(c, "select.byok.algorithm", km__ymap_get(n, "algorithm"),
                  algs, &v))
    s->byok_algorithm = (km_mf_wrap_alg_t)v;
  if (km__rd_enum(c, "select.byok.wrapping_key_format",
                  km__ymap_get(n, "wrapping_key_format"), fmts, &v))
    s->byok_pem = v == 1;
  const km_ynode_t *ex = km__ymap_get(n, "material_expiry");
  if (ex != NULL) {
    if (ex->kind != KM_YSCALAR || km__ynull(ex) ||
        (strcmp(ex->str, "never") != 0 &&
         km__parse_date_cst(ex->str, &s->byok_expiry) != 0))
      km__err(c, ex,
              "'select.byok.material_expiry' must be `never` or a date "
              "YYYY-MM-DD (the material is deleted at 00:00 UTC+8 that day)");
  }
}

static void build_select(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"keys", "secrets", "byok", NULL};
  static const char *const kk[] = {"ids", "aliases", NULL};
  static const char *const sk[] = {"names", NULL};
  if (!km__is_mapping(c, "select", n)) return;
  km_mf_select_t *s = &c->m->select;
  km__check_keys(c, n, keys, "select");
  const km_ynode_t *k = km__ymap_get(n, "keys");
  build_sel(c, "select.keys", k, kk, &s->keys, &s->key_ids, &s->key_aliases);
  check_key_ids(c, km__ymap_get(k, "ids"), "select.keys.ids", true);
  const km_ynode_t *al = km__ymap_get(k, "aliases");
  for (size_t i = 0; al != NULL && al->kind == KM_YSEQ && i < al->n; i++)
    if (al->items[i]->kind == KM_YSCALAR &&
        strncmp(al->items[i]->str, "alias/", 6) != 0)
      km__err(c, al->items[i],
              "alias '%s' must start with alias/, e.g. alias/app-*",
              al->items[i]->str);
  build_sel(c, "select.secrets", km__ymap_get(n, "secrets"), sk, &s->secrets,
            &s->secret_names, NULL);
  const km_ynode_t *b = km__ymap_get(n, "byok");
  if (b != NULL) build_byok(c, b);
}

static void build_migrate(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {
      "driver",        "when", "task_timeout", "set_default", "poll_interval",
      "rotation_lead", NULL};
  static const char *const drivers[] = {"console", "sim", NULL};
  if (!km__is_mapping(c, "migrate", n)) return;
  km_mf_migrate_t *mg = &c->m->migrate;
  km__check_keys(c, n, keys, "migrate");
  int v = 0;
  if (km__rd_enum(c, "migrate.driver", km__ymap_get(n, "driver"), drivers, &v))
    mg->driver = (km_mf_driver_t)v;
  const km_ynode_t *w = km__ymap_get(n, "when");
  if (w != NULL) {
    if (w->kind == KM_YSCALAR && strcmp(w->str, "now") == 0) {
      mg->when = 0;
    } else if (w->kind != KM_YSCALAR || km__parse_time(w->str, &mg->when)) {
      km__err(c, w,
              "'migrate.when' must be `now` or a time with its offset, e.g. "
              "2026-12-05T02:00:00+08:00");
    } else {
      mg->when_text = km_xstrdup(w->str);
    }
  }
  const km_ynode_t *t = km__ymap_get(n, "task_timeout");
  int64_t secs = 0;
  if (t != NULL) {
    if (t->kind != KM_YSCALAR || km__parse_duration(t->str, &secs) ||
        secs < 60 || secs > 7 * 86400)
      km__err(c, t,
              "'migrate.task_timeout' must be a duration from 1m to 7d such "
              "as 2h, 30m, 90s or 1h30m");
    else
      mg->task_timeout_s = secs;
  }
  km__rd_bool(c, "migrate.set_default", km__ymap_get(n, "set_default"),
              &mg->set_default);
  const km_ynode_t *pi = km__ymap_get(n, "poll_interval");
  if (pi != NULL) {
    if (pi->kind != KM_YSCALAR || km__parse_duration(pi->str, &secs) ||
        secs < 1 || secs > 3600)
      km__err(c, pi,
              "'migrate.poll_interval' must be a duration from 1s to 1h such "
              "as 15s or 1m");
    else
      mg->poll_interval_s = secs;
  }
  const km_ynode_t *rl = km__ymap_get(n, "rotation_lead");
  if (rl != NULL) {
    if (rl->kind != KM_YSCALAR || km__parse_duration(rl->str, &secs) ||
        secs < 1 || secs > 86400)
      km__err(c, rl,
              "'migrate.rotation_lead' must be a duration from 1s to 24h such "
              "as 10m");
    else
      mg->rotation_lead_s = secs;
  }
}

void km__build_hooks(km_mctx_t *c, const char *name, const km_ynode_t *n,
                     km_mf_hooks_t *h) {
  static const char *const keys[] = {"rotation",    "default_instance",
                                     "post_check",  "before_batch",
                                     "after_batch", NULL};
  if (!km__is_mapping(c, name, n)) return;
  km__check_keys(c, n, keys, name);
  char fld[128];
  char **slots[] = {&h->rotation, &h->default_instance, NULL, &h->before_batch,
                    &h->after_batch};
  for (size_t i = 0; i < KM_ARRAY_SIZE(slots); i++) {
    const km_ynode_t *v = km__ymap_get(n, keys[i]);
    snprintf(fld, sizeof(fld), "%s.%s", name, keys[i]);
    if (v == NULL) continue;
    if (slots[i] != NULL) {
      km__rd_path(c, fld, v, true, ".lua", slots[i]);
      continue;
    }
    /* post_check: one path or a list of paths, all run in order. */
    if (v->kind == KM_YSCALAR) {
      char *p = NULL;
      if (km__rd_path(c, fld, v, true, ".lua", &p))
        km__strlist_push(&h->post_check, p);
      free(p);
    } else if (v->kind == KM_YSEQ) {
      for (size_t j = 0; j < v->n; j++) {
        char *p = NULL;
        if (km__rd_path(c, fld, v->items[j], true, ".lua", &p))
          km__strlist_push(&h->post_check, p);
        free(p);
      }
    } else {
      km__err(c, v, "'%s' must be a path or a list of paths to .lua files",
              fld);
    }
  }
}

static void build_plugins(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"dir", "list", NULL};
  if (!km__is_mapping(c, "plugins", n)) return;
  km__check_keys(c, n, keys, "plugins");
  const km_ynode_t *d = km__ymap_get(n, "dir");
  char *raw = NULL;
  if (km__rd_str(c, "plugins.dir", d, &raw)) {
    char *dir = km__dirname(d->file);
    c->m->plugins_dir = km__join_path(dir, raw);
    free(dir);
    struct stat st;
    if (stat(c->m->plugins_dir, &st) != 0 || !S_ISDIR(st.st_mode))
      km__err(c, d,
              "plugins.dir '%s' is not a directory (looked for %s); paths are "
              "relative to the manifest",
              raw, c->m->plugins_dir);
  }
  free(raw);
  const km_ynode_t *l = km__ymap_get(n, "list");
  if (km__rd_strlist(c, "plugins.list", l, false, &c->m->plugins))
    for (size_t i = 0; i < l->n; i++)
      if (!all_chars(l->items[i]->str, "_-"))
        km__err(c, l->items[i],
                "plugin name '%s' may hold only letters, digits, _ and -; "
                "write the name, not the .so file",
                l->items[i]->str);
}

/* locks.dir: not checked for existence here (the folder is often a shared
 * volume that only the machines of the run mount); `run` refuses one that
 * is missing rather than create it, since a volume that failed to mount
 * would otherwise give each machine a private folder and no lock at all. */
static void build_locks(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"dir", NULL};
  if (!km__is_mapping(c, "locks", n)) return;
  km__check_keys(c, n, keys, "locks");
  const km_ynode_t *d = km__ymap_get(n, "dir");
  if (d == NULL) {
    km__err(c, n,
            "locks needs 'dir:', the folder shared by every run of these "
            "accounts (e.g. `locks: {dir: /shared/kmsmig-locks}`)");
    return;
  }
  char *raw = NULL;
  if (km__rd_str(c, "locks.dir", d, &raw)) {
    char *dir = km__dirname(d->file);
    c->m->locks_dir = km__join_path(dir, raw);
    free(dir);
  }
  free(raw);
}

/* A QPS figure: a plain decimal number (no sign, exponent, hex or inf),
 * above 0 and at most 100000. */
static bool rd_qps(const km_ynode_t *n, double *out) {
  if (n->kind != KM_YSCALAR || !n->plain || n->str[0] == '\0') return false;
  const char *p = n->str;
  size_t ndig = strspn(p, "0123456789");
  if (ndig == 0) return false;
  p += ndig;
  if (*p == '.') {
    size_t nf = strspn(p + 1, "0123456789");
    if (nf == 0) return false;
    p += 1 + nf;
  }
  if (*p != '\0') return false;
  double v = strtod(n->str, NULL);
  if (!(v > 0) || v > 100000) return false;
  *out = v;
  return true;
}

void km__build_qps(km_mctx_t *c, const char *name, const km_ynode_t *n,
                   km_rl_limits_t *l) {
  if (!km__is_mapping(c, name, n)) return;
  const char *names[KM_RL_NGROUPS + 1];
  for (int g = 0; g < KM_RL_NGROUPS; g++)
    names[g] = km_rl_group_name((km_rl_group_t)g);
  names[KM_RL_NGROUPS] = NULL;
  for (size_t i = 0; i < n->n; i++) {
    const km_ynode_t *k = n->keys[i], *v = n->items[i];
    km_rl_group_t g;
    if (km_rl_group_from_name(k->str, &g) < 0) {
      const char *near = km__nearest(k->str, names);
      if (near != NULL)
        km__err(c, k, "%s: '%s' is not an API group; did you mean '%s'?", name,
                k->str, near);
      else
        km__err(c, k,
                "%s: '%s' is not an API group (key-read, key-write, "
                "instance-read, secret-meta, secret-value, secret-create, "
                "...: docs/manifest.md)",
                name, k->str);
      continue;
    }
    double q;
    if (!rd_qps(v, &q)) {
      km__err(c, v,
              "%s.%s must be a number of calls per second above 0 and at "
              "most 100000, such as 10 or 2.5",
              name, k->str);
      continue;
    }
    l->qps[g] = q;
  }
}

static void build_concurrency(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"accounts", "requests_per_endpoint", "qps",
                                     NULL};
  if (!km__is_mapping(c, "concurrency", n)) return;
  km__check_keys(c, n, keys, "concurrency");
  long v = 0;
  if (km__rd_int(c, "concurrency.accounts", km__ymap_get(n, "accounts"), 1,
                 1024, &v))
    c->m->concurrency_accounts = (int)v;
  if (km__rd_int(c, "concurrency.requests_per_endpoint",
                 km__ymap_get(n, "requests_per_endpoint"), 1, 256, &v))
    c->m->concurrency_per_endpoint = (int)v;
  if (km__ymap_get(n, "qps") != NULL)
    km__build_qps(c, "concurrency.qps", km__ymap_get(n, "qps"), &c->m->qps);
}

static void build_tolerance(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"count", "percent", NULL};
  if (!km__is_mapping(c, "failure_tolerance", n)) return;
  km__check_keys(c, n, keys, "failure_tolerance");
  const km_ynode_t *cn = km__ymap_get(n, "count");
  const km_ynode_t *pn = km__ymap_get(n, "percent");
  long v = 0;
  if (cn != NULL && pn != NULL)
    km__err(c, pn,
            "failure_tolerance takes count or percent, not both; keep one");
  else if (cn == NULL && pn == NULL)
    km__err(c, n, "failure_tolerance needs count: N or percent: P");
  else if (cn != NULL &&
           km__rd_int(c, "failure_tolerance.count", cn, 0, 1000000, &v))
    c->m->tolerance = (int)v;
  else if (pn != NULL &&
           km__rd_int(c, "failure_tolerance.percent", pn, 0, 100, &v)) {
    c->m->tolerance = (int)v;
    c->m->tolerance_is_percent = true;
  }
}

static bool valid_host_pattern(const char *h) {
  if (strncmp(h, "*.", 2) == 0) h += 2;
  return h[0] != '\0' && h[0] != '.' && strchr(h, '*') == NULL &&
         all_chars(h, ".-");
}

static void build_override(km_mctx_t *c, const km_ynode_t *n, size_t idx) {
  static const char *const keys[] = {"host", "address", "scheme", "ca_file",
                                     NULL};
  static const char *const schemes[] = {"https", "http", NULL};
  char name[64];
  snprintf(name, sizeof(name), "endpoints.overrides[%zu]", idx);
  if (!km__is_mapping(c, name, n)) return;
  km_manifest_t *m = c->m;
  m->overrides =
      km_xrealloc(m->overrides, (m->noverrides + 1) * sizeof(*m->overrides));
  km_mf_override_t *o = &m->overrides[m->noverrides++];
  memset(o, 0, sizeof(*o));
  o->pos = km__pos(c, n);
  km__check_keys(c, n, keys, name);
  const km_ynode_t *h = km__ymap_get(n, "host");
  if (h == NULL)
    km__err(c, n, "'%s' needs 'host:', e.g. \"*.aliyuncs.com\"", name);
  else if (km__rd_str(c, "host", h, &o->host) && !valid_host_pattern(o->host))
    km__err(c, h,
            "host '%s' must be an exact host name or *.suffix, e.g. "
            "kms.cn-hangzhou.aliyuncs.com or \"*.aliyuncs.com\"",
            o->host);
  const km_ynode_t *a = km__ymap_get(n, "address");
  if (a == NULL) {
    km__err(c, n, "'%s' needs 'address: HOST:PORT', e.g. 127.0.0.1:18443",
            name);
  } else if (km__rd_str(c, "address", a, &o->address)) {
    const char *colon = strrchr(o->address, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == o->address || *end != '\0' || port < 1 ||
        port > 65535 || colon[1] == '\0')
      km__err(c, a, "address '%s' must be HOST:PORT, e.g. 127.0.0.1:18443",
              o->address);
  }
  int v = 0;
  if (km__rd_enum(c, "scheme", km__ymap_get(n, "scheme"), schemes, &v))
    o->http = v == 1;
  /* The transport's own check (acs/client.c), so validate refuses what
   * plan would refuse. */
  km_endpoint_override_t eo = {.host_pattern = o->host,
                               .address = o->address,
                               .scheme = o->http ? "http" : "https"};
  km_err_t e = {0};
  if (o->http && o->host != NULL && o->address != NULL &&
      km_acs_override_check(&eo, &e) == KM_EPERM)
    km__err(c, km__ymap_get(n, "scheme"),
            "scheme http to %s would send signed requests in clear text: "
            "only loopback addresses may be reached without verified TLS; "
            "use https",
            o->address);
  km__rd_path(c, "ca_file", km__ymap_get(n, "ca_file"), true, NULL,
              &o->ca_file);
}

static void build_endpoints(km_mctx_t *c, const km_ynode_t *n) {
  static const char *const keys[] = {"overrides", NULL};
  if (!km__is_mapping(c, "endpoints", n)) return;
  km__check_keys(c, n, keys, "endpoints");
  const km_ynode_t *l = km__ymap_get(n, "overrides");
  if (l == NULL) return;
  if (l->kind != KM_YSEQ) {
    km__err(c, l, "'endpoints.overrides' must be a list of {host, address}");
    return;
  }
  for (size_t i = 0; i < l->n; i++)
    build_override(c, l->items[i], i);
}

void km__build_sections(km_mctx_t *c, const km_ynode_t *root) {
  km_manifest_t *m = c->m;
  const km_ynode_t *v = km__ymap_get(root, "version");
  if (v == NULL)
    km__err(c, root, "the manifest needs 'version: 1' as its first line");
  else if (v->kind != KM_YSCALAR || !v->plain || strcmp(v->str, "1") != 0)
    km__err(c, v,
            "unsupported manifest version '%s'; this kmsmig reads version 1",
            v->kind == KM_YSCALAR ? v->str : "?");
  else
    m->version = 1;

  const km_ynode_t *nm = km__ymap_get(root, "name");
  if (nm == NULL)
    km__err(c, root,
            "the manifest needs 'name: NAME' (used for run directories)");
  else if (km__rd_str(c, "name", nm, &m->name) &&
           (!all_chars(m->name, "._-") || strlen(m->name) > 64))
    km__err(c, nm,
            "name '%s' may hold only letters, digits, '.', '_' and '-' (at "
            "most 64): it names run directories",
            m->name);

  const km_ynode_t *dir = km__ymap_get(root, "directory");
  if (dir != NULL) build_directory(c, dir);
  build_regions(c, km__ymap_get(root, "regions"));
  const km_ynode_t *in = km__ymap_get(root, "instances");
  if (in == NULL)
    km__err(c, root,
            "the manifest needs 'instances:', one KMS 3.0 instance per "
            "region (region: {id, owner, type})");
  else
    build_instances(c, in);
  build_select(c, km__ymap_get(root, "select"));
  /* Fail closed, and say so before anyone runs it. */
  if (m->select.keys == KM_SEL_UNSET || m->select.secrets == KM_SEL_UNSET)
    km__warn(c,
             km__ymap_get(root, "select") != NULL ? km__ymap_get(root, "select")
                                                  : root,
             "select.%s is not set: no %s will be migrated (write `%s: "
             "all-pending`, `%s: none` or list them)",
             m->select.keys == KM_SEL_UNSET ? "keys" : "secrets",
             m->select.keys == KM_SEL_UNSET ? "key" : "secret",
             m->select.keys == KM_SEL_UNSET ? "keys" : "secrets",
             m->select.keys == KM_SEL_UNSET ? "keys" : "secrets");
  build_migrate(c, km__ymap_get(root, "migrate"));
  km__build_monitor(c, km__ymap_get(root, "monitor"));
  km__build_hooks(c, "hooks", km__ymap_get(root, "hooks"), &m->hooks);
  build_plugins(c, km__ymap_get(root, "plugins"));
  build_locks(c, km__ymap_get(root, "locks"));
  build_concurrency(c, km__ymap_get(root, "concurrency"));
  build_tolerance(c, km__ymap_get(root, "failure_tolerance"));
  build_endpoints(c, km__ymap_get(root, "endpoints"));
  static const char *const sigs[] = {"v1", "v3", NULL};
  int s = 1;
  if (km__rd_enum(c, "signature", km__ymap_get(root, "signature"), sigs, &s))
    m->signature = s == 0 ? 1 : 3;
}
