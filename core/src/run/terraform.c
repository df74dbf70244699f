/* The Terraform hand-off (see terraform.h and docs/terraform.md).
 *
 * After a key or secret is moved into a KMS 3.0 instance, the cloud reports
 * its DKMSInstanceId, and the alicloud provider reads it into
 * dkms_instance_id, a ForceNew argument: a configuration without it plans a
 * replacement, which for a key destroys the data it protects.  For each such
 * resource this file writes the block that avoids that, per account, plus
 * the import identifiers, and lists them in report.json.
 *
 * Everything written into a .tf comes from the typed list; names from the
 * cloud only ever appear inside HCL quoted strings, escaped (a secret name
 * can hold quotes, "${" or newlines), and addresses are derived identifiers.
 * No secret value is known here, so none can be written. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "run/terraform.h"

void km_tf_set_init(km_tf_set_t *s) {
  memset(s, 0, sizeof(*s));
}

void km_tf_set_free(km_tf_set_t *s) {
  for (size_t i = 0; i < s->n && !s->borrowed; i++) {
    free(s->v[i].account);
    free(s->v[i].region);
    free(s->v[i].id);
    free(s->v[i].instance_id);
  }
  free(s->v);
  free(s->written_dir);
  memset(s, 0, sizeof(*s));
}

static void add(km_tf_set_t *s, const km_tf_res_t *r) {
  if (s->n == s->cap) {
    /* 1.5x: a fleet's set is large, and doubling leaves up to half of it
     * unused. */
    s->cap = s->cap ? s->cap + s->cap / 2 : 64;
    s->v = km_xrealloc(s->v, s->cap * sizeof(*s->v));
  }
  km_tf_res_t *d = &s->v[s->n++];
  *d = *r;
  if (s->borrowed) return;
  d->account = km_xstrdup(r->account);
  d->region = km_xstrdup(r->region);
  d->id = km_xstrdup(r->id);
  d->instance_id = km_xstrdup(r->instance_id);
}

static int cmp_res(const void *a, const void *b) {
  const km_tf_res_t *x = a, *y = b;
  int c = strcmp(x->account, y->account);
  if (c == 0) c = strcmp(x->region, y->region);
  if (c == 0) c = (int)x->kind - (int)y->kind;
  return c != 0 ? c : strcmp(x->id, y->id);
}

/* The instance a resource is in now: the one the cloud reported, else (moved
 * by this run) the pipeline's destination; NULL when neither is known, and
 * then the resource is left out rather than guessed. */
static const char *instance_of(const km_inv_t *inv, km_verdict_t v,
                               const char *reported) {
  if (reported != NULL && reported[0]) return reported;
  if (v == KM_VERDICT_MIGRATED && inv->instance_id && inv->instance_id[0])
    return inv->instance_id;
  return NULL;
}

/* In an instance at the end: what report.json counts as migrated (moved and
 * verified) or already_migrated. */
static bool in_instance(km_verdict_t v, bool verified) {
  return (v == KM_VERDICT_MIGRATED && verified) || v == KM_VERDICT_DONE;
}

/* The resources of one pipeline that ended in an instance, added to s; with
 * count_only, only counted (nothing logged, nothing added). */
static size_t collect_one(km_tf_set_t *s, const km_inv_t *inv,
                          bool count_only) {
  size_t found = 0;
  for (size_t k = 0; k < inv->nkeys; k++) {
    const km_inv_key_t *x = &inv->keys[k];
    const char *inst = instance_of(inv, x->verdict, x->dkms_instance_id);
    if (!in_instance(x->verdict, x->verified) || x->key_id == NULL) continue;
    if (inst == NULL) {
      if (count_only) continue;
      char *id = km_text_clean_dup(x->key_id); /* from the server */
      km_log(KM_LOG_WARN,
             "terraform: key %s (%s %s): no instance id known; "
             "left out of the Terraform files",
             id, inv->account, inv->region);
      free(id);
      continue;
    }
    found++;
    if (count_only) continue;
    bool hsm = x->protection_level && strcmp(x->protection_level, "HSM") == 0;
    km_tf_res_t r = {.account = inv->account,
                     .region = inv->region,
                     .id = x->key_id,
                     .instance_id = (char *)inst,
                     .kind = KM_TF_KEY,
                     .already = x->verdict == KM_VERDICT_DONE,
                     .hsm_to_software =
                         hsm && x->verdict == KM_VERDICT_MIGRATED &&
                         inv->instance_type == KM_INV_TYPE_SOFTWARE};
    add(s, &r);
  }
  for (size_t k = 0; k < inv->nsecrets; k++) {
    const km_inv_secret_t *x = &inv->secrets[k];
    const char *inst = instance_of(inv, x->verdict, x->dkms_instance_id);
    if (!in_instance(x->verdict, x->verified) || x->secret_name == NULL)
      continue;
    if (inst == NULL) {
      if (!count_only)
        km_log(KM_LOG_WARN,
               "terraform: a secret of %s %s: no instance id "
               "known; left out of the Terraform files",
               inv->account, inv->region);
      continue;
    }
    found++;
    if (count_only) continue;
    km_tf_res_t r = {.account = inv->account,
                     .region = inv->region,
                     .id = x->secret_name,
                     .instance_id = (char *)inst,
                     .kind = KM_TF_SECRET,
                     .already = x->verdict == KM_VERDICT_DONE};
    add(s, &r);
  }
  return found;
}

static int cmp_inv(const void *a, const void *b) {
  const km_inv_t *x = *(const km_inv_t *const *)a,
                 *y = *(const km_inv_t *const *)b;
  int c = strcmp(x->account, y->account);
  return c != 0 ? c : strcmp(x->region, y->region);
}

/* The set is made at the end of a fleet's run, next to every model: tens of
 * thousands of 40-byte entries.  So it is allocated once at its size, and
 * sorted without a sort of the whole array (glibc's qsort takes a copy of
 * what it sorts): the pipelines in (account, region) order, then each
 * pipeline's few resources by kind and id. */
void km_tf_collect(km_tf_set_t *s, km_inv_t *const *invs, size_t n) {
  if (s->n == 0) s->borrowed = true;
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += collect_one(s, invs[i], true);
  if (total == 0) return;
  if (s->cap < s->n + total) {
    s->cap = s->n + total;
    s->v = km_xrealloc(s->v, s->cap * sizeof(*s->v));
  }
  const km_inv_t **order = km_xcalloc(n, sizeof(*order));
  for (size_t i = 0; i < n; i++)
    order[i] = invs[i];
  qsort(order, n, sizeof(*order), cmp_inv);
  for (size_t i = 0; i < n; i++) {
    size_t from = s->n;
    collect_one(s, order[i], false);
    if (s->n - from > 1)
      qsort(s->v + from, s->n - from, sizeof(*s->v), cmp_res);
  }
  free(order);
  /* Two pipelines of one account and region would interleave: sort whole
   * then (never in a run, which has one pipeline per account and region). */
  for (size_t i = 1; i < s->n; i++)
    if (cmp_res(&s->v[i - 1], &s->v[i]) > 0) {
      qsort(s->v, s->n, sizeof(*s->v), cmp_res);
      break;
    }
}

/* ---- names and quoting ---- */

/* Length of the well-formed UTF-8 sequence at p and its code point, or 0. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp) {
  unsigned char c = p[0];
  size_t n;
  uint32_t v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, v = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, v = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, v = c & 0x07, min = 0x10000;
  else
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (p[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

/* Characters a reviewer must see as escapes: controls, and the bidi and
 * line-separator code points that can make text read differently from what
 * Terraform parses. */
static bool escape_cp(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
         cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

void km_tf_hcl_quote(km_buf_t *b, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  km_buf_putc(b, '"');
  while (*p) {
    uint32_t cp = 0;
    size_t n = utf8_seq(p, &cp);
    if (n == 0) {
      km_buf_puts(b, "\\uFFFD");
    } else if (cp == '"' || cp == '\\') {
      km_buf_printf(b, "\\%c", (char)cp);
    } else if (cp == '\n') {
      km_buf_puts(b, "\\n");
    } else if (cp == '\t') {
      km_buf_puts(b, "\\t");
    } else if (cp == '\r') {
      km_buf_puts(b, "\\r");
    } else if (escape_cp(cp)) {
      km_buf_printf(b, "\\u%04X", (unsigned)cp);
    } else if ((cp == '$' || cp == '%') && p[1] == '{') {
      /* "${" and "%{" open templates; doubled they are literal. */
      km_buf_printf(b, "%c%c", (char)cp, (char)cp);
    } else {
      km_buf_append(b, p, n);
    }
    p += n ? n : 1;
  }
  km_buf_putc(b, '"');
}

static bool ident_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Appends s to b with every character an HCL identifier forbids as '_', at
 * most max bytes; true when something was changed or cut. */
static bool put_ident(km_buf_t *b, const char *s, size_t max) {
  bool changed = false;
  size_t i = 0;
  for (; s[i] && i < max; i++) {
    bool ok = ident_char((unsigned char)s[i]);
    km_buf_putc(b, ok ? s[i] : '_');
    changed |= !ok;
  }
  return changed || s[i] != '\0';
}

/* 8 hex digits of SHA-256 over the parts (with a NUL between them). */
static void short_hash(const char *a, const char *b2, char out[9]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  km_buf_t b;
  km_buf_init(&b);
  km_buf_puts(&b, a);
  km_buf_putc(&b, '\0');
  km_buf_puts(&b, b2);
  if (EVP_Digest(b.data, b.len, md, &len, EVP_sha256(), NULL) != 1) len = 0;
  km_buf_free(&b);
  for (int i = 0; i < 4; i++)
    snprintf(out + 2 * i, 3, "%02x", i < (int)len ? md[i] : 0);
}

void km_tf_address_name(const km_tf_res_t *r, char *out, size_t n) {
  km_buf_t b;
  km_buf_init(&b);
  km_buf_puts(&b, r->kind == KM_TF_KEY ? "key_" : "secret_");
  bool changed = put_ident(&b, r->region, 32);
  km_buf_putc(&b, '_');
  changed |= put_ident(&b, r->id, 64);
  if (changed) {
    /* Two names can clean to the same identifier ("a/b", "a.b"): the hash
     * of the original keeps them apart, and stays the same every run. */
    char h[9];
    short_hash(r->region, r->id, h);
    km_buf_printf(&b, "_%s", h);
  }
  snprintf(out, n, "%s", b.data);
  km_buf_free(&b);
}

/* The account's part of a file name: letters, digits, '.', '_', '-' (no
 * leading '.'), else '_' and the hash. */
static char *file_stem(const char *account) {
  km_buf_t b;
  km_buf_init(&b);
  bool changed = false;
  size_t i = 0;
  for (; account[i] && i < 64; i++) {
    unsigned char c = (unsigned char)account[i];
    bool ok = ident_char(c) || (c == '.' && i > 0);
    km_buf_putc(&b, ok ? (char)c : '_');
    changed |= !ok;
  }
  if (changed || account[i] != '\0' || i == 0) {
    char h[9];
    short_hash("account", account, h);
    km_buf_printf(&b, "_%s", h);
  }
  return km_buf_steal(&b);
}

/* s as one shell word: single quotes, or $'...' with escapes when s holds
 * a control character (a newline would split the command line), a bidi
 * code point (the line would read differently) or a byte that is not
 * UTF-8 (kept as it is, escaped). */
static void shell_quote(km_buf_t *b, const char *s) {
  bool plain = true;
  for (const unsigned char *p = (const unsigned char *)s; *p && plain;) {
    uint32_t cp = 0;
    size_t n = utf8_seq(p, &cp);
    plain = n > 0 && !escape_cp(cp);
    p += n;
  }
  if (plain) {
    km_buf_putc(b, '\'');
    for (const char *p = s; *p; p++)
      km_buf_puts(b, *p == '\'' ? "'\\''" : (char[]){*p, 0});
    km_buf_putc(b, '\'');
    return;
  }
  km_buf_puts(b, "$'");
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    uint32_t cp = 0;
    size_t n = utf8_seq(p, &cp);
    if (n == 0 || escape_cp(cp)) /* byte by byte: no locale involved */
      for (size_t i = 0; i < (n ? n : 1); i++)
        km_buf_printf(b, "\\x%02x", p[i]);
    else if (cp == '\'' || cp == '\\')
      km_buf_printf(b, "\\%c", (char)cp);
    else
      km_buf_append(b, p, n);
    p += n ? n : 1;
  }
  km_buf_putc(b, '\'');
}

/* ---- the files of one account ---- */

static const char *type_of(km_tf_kind_t k) {
  return k == KM_TF_KEY ? "alicloud_kms_key" : "alicloud_kms_secret";
}

/* The arguments ignore_changes lists for r in the vendor's "keep existing
 * configurations" form.  The secret resource names its rotation switch
 * enable_automatic_rotation (the vendor's list names the key's). */
static void ignore_list(km_buf_t *b, const km_tf_res_t *r, km_tf_style_t st) {
  km_buf_putc(b, '[');
  if (st == KM_TF_IGNORE)
    km_buf_puts(b, r->kind == KM_TF_KEY ? "dkms_instance_id, automatic_rotation"
                                        : "dkms_instance_id, "
                                          "enable_automatic_rotation");
  if (st == KM_TF_IGNORE) km_buf_puts(b, ", rotation_interval");
  if (r->hsm_to_software)
    km_buf_puts(b,
                st == KM_TF_IGNORE ? ", protection_level" : "protection_level");
  km_buf_putc(b, ']');
}

/* The one-line change report.json lists for r (into b, reset first). */
static void change_text(km_buf_t *b, const km_tf_res_t *r, km_tf_style_t st) {
  km_buf_reset(b);
  if (st == KM_TF_ATTRIBUTE) {
    km_buf_puts(b, "add dkms_instance_id = ");
    km_tf_hcl_quote(b, r->instance_id);
    if (!r->hsm_to_software) return;
    km_buf_puts(b, "; ");
  }
  km_buf_puts(b, "lifecycle { ignore_changes = ");
  ignore_list(b, r, st);
  km_buf_puts(b, " }");
}

static void put_header(km_buf_t *b, const char *account, km_tf_style_t st) {
  km_buf_puts(b, "# Terraform changes for account\n#   ");
  km_tf_hcl_quote(b, account);
  km_buf_puts(
      b,
      "\n# written by kmsmig after its KMS 1.0 keys and secrets moved into\n"
      "# KMS 3.0 instances (docs/terraform.md).\n"
      "#\n"
      "# The cloud now reports an instance id for each of them, and the\n"
      "# alicloud provider reads it into dkms_instance_id, which forces a\n"
      "# replacement: without this change `terraform apply` would destroy\n"
      "# and re-create the key or secret.  Review before use:\n"
      "# - Find YOUR block for each key id / secret name below (`terraform\n"
      "#   state list`, `terraform state show ADDRESS`); the addresses here\n"
      "#   are derived from ids and will differ from yours.  Copy the change\n"
      "#   into your block and keep every other argument as it is.\n");
  if (st == KM_TF_ATTRIBUTE)
    km_buf_puts(
        b,
        "# - The change adds dkms_instance_id (an argument of both resources\n"
        "#   since alicloud provider v1.183.0).  To keep your configuration\n"
        "#   unchanged instead, on provider <= 1.235.0, add\n"
        "#   `lifecycle { ignore_changes = [dkms_instance_id] }`:\n"
        "#   `kmsmig terraform RUN_DIR --style ignore` writes that form.\n");
  else
    km_buf_puts(
        b,
        "# - The change is the vendor's \"keep existing configurations\":\n"
        "#   lifecycle ignore_changes, for alicloud provider <= 1.235.0.  On\n"
        "#   later providers the vendor drops dkms_instance_id from the list\n"
        "#   for keys (Computed since 1.235.0); keep it for secrets.\n");
  km_buf_puts(
      b,
      "# - Then `terraform plan` must show no \"must be replaced\" for any\n"
      "#   alicloud_kms_key or alicloud_kms_secret.\n"
      "# - A secret's secret_data and version_id are required by the provider\n"
      "#   and stay as in your configuration: kmsmig never writes a secret\n"
      "#   value.  Not in Terraform yet?  The .imports.tf (Terraform >= 1.5)\n"
      "#   and .imports.txt files next to this one import these addresses.\n");
}

static void put_block(km_buf_t *b, const km_tf_res_t *r, const char *addr,
                      km_tf_style_t st) {
  km_buf_puts(b, r->kind == KM_TF_KEY ? "\n# Key " : "\n# Secret ");
  km_tf_hcl_quote(b, r->id);
  /* The region is text from the manifest or a report: quoted too, so that
   * nothing can end this comment. */
  km_buf_puts(b, " in ");
  km_tf_hcl_quote(b, r->region);
  km_buf_printf(b, ",\n# %s KMS instance ",
                r->already ? "found already (migrated before) in"
                           : "moved by this run into");
  km_tf_hcl_quote(b, r->instance_id);
  km_buf_printf(b, ".\nresource \"%s\" \"%s\" {\n", type_of(r->kind), addr);
  if (r->kind == KM_TF_SECRET) {
    /* Aligned as `terraform fmt` aligns consecutive arguments. */
    km_buf_puts(b, st == KM_TF_ATTRIBUTE ? "  secret_name      = "
                                         : "  secret_name = ");
    km_tf_hcl_quote(b, r->id);
    km_buf_putc(b, '\n');
  }
  if (st == KM_TF_ATTRIBUTE) {
    km_buf_puts(b, "  dkms_instance_id = ");
    km_tf_hcl_quote(b, r->instance_id);
    km_buf_putc(b, '\n');
  }
  if (st == KM_TF_IGNORE || r->hsm_to_software) {
    if (r->hsm_to_software)
      km_buf_puts(b, "  # An HSM key now in a software instance: the cloud may "
                     "report another\n  # protection_level, which also forces "
                     "a replacement (vendor procedure).\n");
    km_buf_puts(b, "  lifecycle {\n    ignore_changes = ");
    ignore_list(b, r, st);
    km_buf_puts(b, "\n  }\n");
  }
  km_buf_puts(b, "}\n");
}

typedef struct {
  km_buf_t tf, imp, cmd;
} files_t;

/* Renders the resources v[0..n) of one account into f. */
static void render_account(files_t *f, const km_tf_res_t *v, size_t n,
                           km_tf_style_t st) {
  put_header(&f->tf, v[0].account, st);
  km_buf_puts(&f->imp, "# Terraform >= 1.5 import blocks for account ");
  km_tf_hcl_quote(&f->imp, v[0].account);
  km_buf_puts(&f->imp, ": only for keys and secrets\n# not managed by "
                       "Terraform yet (docs/terraform.md).  Import ids: the "
                       "KeyId of\n# a key, the name of a secret (alicloud "
                       "provider docs).\n");
  km_buf_puts(&f->cmd, "# terraform import commands for account ");
  km_tf_hcl_quote(&f->cmd, v[0].account);
  km_buf_puts(&f->cmd, " (Terraform < 1.5, or one at a\n# time): only for "
                       "keys and secrets not managed by Terraform yet.\n");
  for (size_t i = 0; i < n; i++) {
    char addr[160];
    km_tf_address_name(&v[i], addr, sizeof(addr));
    put_block(&f->tf, &v[i], addr, st);
    km_buf_printf(
        &f->imp, "\nimport {\n  to = %s.%s\n  id = ", type_of(v[i].kind), addr);
    km_tf_hcl_quote(&f->imp, v[i].id);
    km_buf_puts(&f->imp, "\n}\n");
    km_buf_printf(&f->cmd, "terraform import %s.%s ", type_of(v[i].kind), addr);
    shell_quote(&f->cmd, v[i].id);
    km_buf_putc(&f->cmd, '\n');
  }
}

/* Writes data to path atomically with mode 0600 (temporary file, fsync,
 * rename); nothing is left beside path on failure. */
static int write_file(const char *path, const km_buf_t *data, km_err_t *err) {
  char *tmp = km_xasprintf("%s.tmp.%ld", path, (long)getpid());
  int fd =
      open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  int rc = fd >= 0 && fchmod(fd, 0600) == 0 ? 0 : -1;
  for (size_t off = 0; rc == 0 && off < data->len;) {
    ssize_t w = write(fd, data->data + off, data->len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) rc = -1;
    off += w > 0 ? (size_t)w : 0;
  }
  if (rc == 0 && fsync(fd) != 0) rc = -1;
  int e = errno;
  if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -1, e = errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -1, e = errno;
  if (rc != 0) unlink(tmp);
  free(tmp);
  if (rc != 0)
    return km__err_set(err, KM_EIO, "terraform: cannot write %s: %s", path,
                       strerror(e));
  return 0;
}

static int make_dir(const char *dir, km_err_t *err) {
  struct stat st;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return km__err_set(err, KM_EIO, "terraform: cannot create %s: %s", dir,
                       strerror(errno));
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return km__err_set(err, KM_EIO, "terraform: %s is not a directory", dir);
  if (chmod(dir, 0700) != 0)
    return km__err_set(err, KM_EIO, "terraform: cannot make %s private: %s",
                       dir, strerror(errno));
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two resources of one account with one address would make Terraform
 * refuse the file; the derivation makes that all but impossible, and if it
 * happens the files are not written. */
static int check_unique(const km_tf_res_t *v, size_t n, km_err_t *err) {
  char **names = km_xcalloc(n ? n : 1, sizeof(*names));
  for (size_t i = 0; i < n; i++) {
    char a[160];
    km_tf_address_name(&v[i], a, sizeof(a));
    names[i] = km_xasprintf("%s.%s", type_of(v[i].kind), a);
  }
  qsort(names, n, sizeof(*names), cmp_str);
  int rc = 0;
  for (size_t i = 1; rc == 0 && i < n; i++)
    if (strcmp(names[i - 1], names[i]) == 0)
      rc = km__err_set(err, KM_EEXIST,
                       "terraform: two resources of account %s would both "
                       "be %s; nothing was written (report this)",
                       v[0].account, names[i]);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return rc;
}

int km_tf_write(km_tf_set_t *s, const char *dir, km_tf_style_t style,
                km_err_t *err) {
  free(s->written_dir);
  s->written_dir = NULL;
  s->style = style;
  int rc = make_dir(dir, err);
  for (size_t i = 0; rc == 0 && i < s->n;) {
    size_t j = i + 1;
    while (j < s->n && strcmp(s->v[j].account, s->v[i].account) == 0)
      j++;
    rc = check_unique(s->v + i, j - i, err);
    files_t f;
    km_buf_init(&f.tf);
    km_buf_init(&f.imp);
    km_buf_init(&f.cmd);
    if (rc == 0) render_account(&f, s->v + i, j - i, style);
    char *stem = file_stem(s->v[i].account);
    static const char *const ext[] = {".tf", ".imports.tf", ".imports.txt"};
    const km_buf_t *data[] = {&f.tf, &f.imp, &f.cmd};
    for (int k = 0; rc == 0 && k < 3; k++) {
      char *path = km_xasprintf("%s/%s%s", dir, stem, ext[k]);
      rc = write_file(path, data[k], err);
      free(path);
    }
    free(stem);
    km_buf_free(&f.tf);
    km_buf_free(&f.imp);
    km_buf_free(&f.cmd);
    i = j;
  }
  if (rc == 0) s->written_dir = km_xstrdup(dir);
  return rc;
}

/* ---- report.json ---- */

/* Dumps o (stolen) after sep at depth 3 of the report (6 spaces). */
static int put_obj(FILE *f, const char *sep, json_t *o) {
  char *t = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  int rc = t != NULL && fprintf(f, "%s\n      %s", sep, t) > 0 ? 0 : KM_EIO;
  free(t);
  return rc;
}

static const char *style_name(km_tf_style_t st) {
  return st == KM_TF_IGNORE ? "ignore" : "attribute";
}

/* One element of "files" per account, when the files were written. */
static json_t *files_json(const km_tf_set_t *s) {
  json_t *files = json_array();
  for (size_t i = 0; s->written_dir && i < s->n; i++) {
    if (i > 0 && strcmp(s->v[i - 1].account, s->v[i].account) == 0) continue;
    char *stem = file_stem(s->v[i].account);
    char *p = km_xasprintf("terraform/%s.tf", stem);
    char *imp = km_xasprintf("terraform/%s.imports.tf", stem);
    char *cmd = km_xasprintf("terraform/%s.imports.txt", stem);
    json_array_append_new(
        files, json_pack("{s:s, s:s, s:s, s:s}", "account", s->v[i].account,
                         "path", p, "imports", imp, "import_commands", cmd));
    free(stem);
    free(p);
    free(imp);
    free(cmd);
  }
  return files;
}

json_t *km_tf_report_head(const km_tf_set_t *s) {
  return json_pack("{s:s, s:o, s:[]}", "style", style_name(s->style), "files",
                   files_json(s), "resources");
}

/* Resource r of s as the report lists it (owned); ch is scratch. */
static json_t *resource_json(const km_tf_set_t *s, const km_tf_res_t *r,
                             km_buf_t *ch) {
  char addr[160];
  km_tf_address_name(r, addr, sizeof(addr));
  char *full = km_xasprintf("%s.%s", type_of(r->kind), addr);
  change_text(ch, r, s->style);
  json_t *o =
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "account",
                r->account, "region", r->region, "kind",
                r->kind == KM_TF_KEY ? "key" : "secret", "id", r->id,
                "resource_type", type_of(r->kind), "address", full, "change",
                ch->data, "instance_id", r->instance_id, "already_migrated",
                r->already, "hsm_to_software", r->hsm_to_software);
  free(full);
  return o;
}

int km_tf_report_field(FILE *f, void *ud) {
  const km_tf_report_t *t = ud;
  const km_tf_set_t *s = t->set;
  int rc = fprintf(f,
                   ",\n  \"terraform\": {\n    \"style\": \"%s\",\n    "
                   "\"files\": [",
                   style_name(s->style)) < 0
               ? KM_EIO
               : 0;
  json_t *files = files_json(s);
  size_t i;
  json_t *x;
  json_array_foreach(files, i, x) {
    if (rc == 0) rc = put_obj(f, i ? "," : "", json_incref(x));
  }
  size_t nfiles = json_array_size(files);
  json_decref(files);
  if (rc == 0 && fputs(nfiles ? "\n    ],\n    \"resources\": ["
                              : "],\n    \"resources\": [",
                       f) == EOF)
    rc = KM_EIO;
  km_buf_t ch;
  km_buf_init(&ch);
  for (i = 0; rc == 0 && i < s->n; i++) {
    json_t *o = resource_json(s, &s->v[i], &ch);
    if (t->on_resource != NULL) t->on_resource(o, t->ud);
    rc = put_obj(f, i ? "," : "", o);
  }
  km_buf_free(&ch);
  if (rc == 0 && fputs(s->n ? "\n    ]\n  }" : "]\n  }", f) == EOF) rc = KM_EIO;
  return rc;
}

static const char *str_field(const json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v != NULL && v[0] ? v : NULL;
}

int km_tf_from_report(km_tf_set_t *s, const json_t *report, km_err_t *err) {
  const json_t *tf = json_object_get(report, "terraform");
  const json_t *res = json_object_get(tf, "resources");
  if (!json_is_array(res))
    return km__err_set(err, KM_EINVAL,
                       "report.json has no terraform.resources list (written "
                       "by a kmsmig without the Terraform hand-off, or not "
                       "finished); resume the run with `kmsmig run MANIFEST "
                       "--run-dir DIR --yes` to write it again");
  size_t i;
  const json_t *o;
  json_array_foreach(res, i, o) {
    const char *kind = str_field(o, "kind");
    km_tf_res_t r = {
        .account = (char *)str_field(o, "account"),
        .region = (char *)str_field(o, "region"),
        .id = (char *)str_field(o, "id"),
        .instance_id = (char *)str_field(o, "instance_id"),
        .already = json_is_true(json_object_get(o, "already_migrated")),
        .hsm_to_software = json_is_true(json_object_get(o, "hsm_to_software"))};
    bool kind_ok = kind != NULL &&
                   (strcmp(kind, "key") == 0 || strcmp(kind, "secret") == 0);
    if (!kind_ok || !r.account || !r.region || !r.id || !r.instance_id ||
        !json_is_boolean(json_object_get(o, "already_migrated")) ||
        !json_is_boolean(json_object_get(o, "hsm_to_software")))
      return km__err_set(err, KM_EINVAL,
                         "report.json: terraform.resources[%zu] lacks account, "
                         "region, kind (key|secret), id, instance_id, "
                         "already_migrated or hsm_to_software; was the file "
                         "edited?  Resume the run to write it again",
                         i);
    r.kind = strcmp(kind, "key") == 0 ? KM_TF_KEY : KM_TF_SECRET;
    add(s, &r);
  }
  if (s->n > 1) qsort(s->v, s->n, sizeof(*s->v), cmp_res);
  return 0;
}
