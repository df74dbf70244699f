/* Reads a profile of the aliyun CLI configuration (~/.aliyun/config.json:
 * {"current": NAME, "profiles": [{"name", "mode", "access_key_id",
 * "access_key_secret", "sts_token", "ram_role_arn", "ram_session_name",
 * "expired_seconds", "source_profile", "external_id", "region_id", ...}]})
 * into a credentials node, following source_profile for
 * ChainableRamRoleArn.
 *
 * The file holds AccessKey secrets: the raw bytes and every string of the
 * parsed JSON tree are cleansed before they are freed, and messages name
 * profiles, files and fields, never values.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "creds/creds_internal.h"
#include "util/util.h"

#define MAX_PROFILE_DEPTH 8
#define MAX_CONFIG_BYTES (4 * 1024 * 1024)

/* Overwrites every string in a JSON tree, so the secrets jansson copied out
 * of the file do not linger in freed memory.  The tree must be ours alone. */
static void scrub_json(json_t *v) {
  if (json_is_string(v)) {
    OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
  } else if (json_is_object(v)) {
    const char *k;
    json_t *child;
    json_object_foreach(v, k, child) scrub_json(child);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *child;
    json_array_foreach(v, i, child) scrub_json(child);
  }
}

static int read_file(const char *path, json_t **out, km_err_t *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      return km__err_setw(err, KM_ENOENT, path,
                          "aliyun CLI config %s does not exist", path);
    return km__err_setw(err, KM_ECREDS, path,
                        "cannot read aliyun CLI config %s: %s", path,
                        strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
    km_log(KM_LOG_WARN,
           "aliyun CLI config %s is readable by other users (mode %04o); "
           "run: chmod 600 %s",
           path, (unsigned)(st.st_mode & 07777), path);
  km_buf_t b;
  km_buf_init(&b);
  char chunk[4096];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof(chunk))) > 0 && b.len < MAX_CONFIG_BYTES)
    km_buf_append(&b, chunk, (size_t)n);
  OPENSSL_cleanse(chunk, sizeof(chunk));
  close(fd);
  json_error_t je;
  json_t *root = json_loadb(b.data != NULL ? b.data : "", b.len, 0, &je);
  if (b.data != NULL) OPENSSL_cleanse(b.data, b.cap);
  km_buf_free(&b);
  if (!json_is_object(root)) {
    char where[256];
    snprintf(where, sizeof(where), "%s:%d:%d", path, je.line, je.column);
    if (root != NULL) {
      scrub_json(root);
      json_decref(root);
    }
    /* je.text can quote the input near the error: not copied. */
    return km__err_setw(err, KM_ECREDS, where,
                        "aliyun CLI config %s is not a JSON object (syntax "
                        "error near line %d); fix it or run `aliyun "
                        "configure`",
                        path, je.line);
  }
  *out = root;
  return 0;
}

static json_t *find_profile(json_t *root, const char *name) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(root, "profiles"), i, p) {
    json_t *n = json_object_get(p, "name");
    if (json_is_string(n) && strcmp(json_string_value(n), name) == 0) return p;
  }
  return NULL;
}

/* A non-empty string field or NULL. */
static const char *field(json_t *p, const char *k) {
  json_t *v = json_object_get(p, k);
  return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v)
                                                        : NULL;
}

static int need(json_t *p, const char *k, const char *name, const char *mode,
                const char *path, km_err_t *err) {
  if (field(p, k) != NULL) return 0;
  return km__err_setw(err, KM_ECREDS, path,
                      "profile '%s' in %s (mode %s) has no %s; run `aliyun "
                      "configure --profile %s --mode %s`",
                      name, path, mode, k, name, mode);
}

static int build(json_t *root, const char *path, const char *name, int depth,
                 km_buf_t *trail, km__cred_node_t **out, km_err_t *err);

static int build_role(json_t *root, json_t *p, const char *path,
                      const char *name, const char *mode, int depth,
                      km_buf_t *trail, km__cred_node_t **out, km_err_t *err) {
  int rc = need(p, "ram_role_arn", name, mode, path, err);
  if (rc != 0) return rc;
  const char *session = field(p, "ram_session_name");
  json_t *es = json_object_get(p, "expired_seconds");
  json_int_t dur = json_is_integer(es) ? json_integer_value(es) : 0;
  if (dur == 0) dur = 3600;
  char label[160];
  snprintf(label, sizeof(label), "profile '%s' in %s", name, path);
  if (dur < 0 || dur > 43200)
    return km__err_setw(err, KM_EINVAL, path,
                        "%s: expired_seconds must be 900..43200", label);
  rc = km__cred_check_role(label, field(p, "ram_role_arn"), session, (int)dur,
                           err);
  if (rc != 0) return rc;

  km__cred_node_t *via = NULL;
  if (strcmp(mode, "RamRoleArn") == 0) {
    if ((rc = need(p, "access_key_id", name, mode, path, err)) != 0 ||
        (rc = need(p, "access_key_secret", name, mode, path, err)) != 0)
      return rc;
    char *d = km_xasprintf("profile '%s' (AK of RamRoleArn) in %s", name, path);
    via = km__cred_node_key(d, field(p, "access_key_id"),
                            field(p, "access_key_secret"), NULL);
    free(d);
  } else {
    const char *src = field(p, "source_profile");
    if (src == NULL)
      return km__err_setw(err, KM_ECREDS, path,
                          "profile '%s' in %s (mode ChainableRamRoleArn) has "
                          "no source_profile; name the profile whose "
                          "credentials assume the role",
                          name, path);
    rc = build(root, path, src, depth + 1, trail, &via, err);
    if (rc != 0) return rc;
  }
  km__cred_node_t *n =
      km__cred_node_role(field(p, "ram_role_arn"), session, (int)dur,
                         field(p, "external_id"), NULL, via);
  char *vd = km__cred_node_describe(via);
  n->desc = km_xasprintf("role %s (profile '%s' in %s) via %s", n->role_arn,
                         name, path, vd);
  free(vd);
  *out = n;
  return 0;
}

static int build(json_t *root, const char *path, const char *name, int depth,
                 km_buf_t *trail, km__cred_node_t **out, km_err_t *err) {
  if (trail->len > 0) km_buf_puts(trail, " -> ");
  km_buf_puts(trail, name);
  if (depth >= MAX_PROFILE_DEPTH)
    return km__err_setw(err, KM_ECREDS, path,
                        "profiles in %s chain too deep or in a cycle (%s); "
                        "fix their source_profile",
                        path, trail->data);
  json_t *p = find_profile(root, name);
  if (!json_is_object(p))
    return km__err_setw(err, KM_ECREDS, path,
                        "aliyun CLI config %s has no profile '%s'%s; run "
                        "`aliyun configure --profile %s`",
                        path, name, depth > 0 ? " (a source_profile)" : "",
                        name);
  const char *mode = field(p, "mode");
  if (mode == NULL)
    mode = "AK"; /* what `aliyun configure` assumes without --mode */
  if (strcmp(mode, "AK") == 0 || strcmp(mode, "StsToken") == 0) {
    int rc;
    if ((rc = need(p, "access_key_id", name, mode, path, err)) != 0 ||
        (rc = need(p, "access_key_secret", name, mode, path, err)) != 0)
      return rc;
    int sts = strcmp(mode, "StsToken") == 0;
    if (sts && (rc = need(p, "sts_token", name, mode, path, err)) != 0)
      return rc;
    char *d = km_xasprintf("profile '%s' (%s) in %s", name, mode, path);
    *out = km__cred_node_key(d, field(p, "access_key_id"),
                             field(p, "access_key_secret"),
                             sts ? field(p, "sts_token") : NULL);
    free(d);
    return 0;
  }
  if (strcmp(mode, "RamRoleArn") == 0 ||
      strcmp(mode, "ChainableRamRoleArn") == 0)
    return build_role(root, p, path, name, mode, depth, trail, out, err);
  return km__err_setw(err, KM_ENOTSUP, path,
                      "profile '%s' in %s uses mode %s, which kmsmig does not "
                      "support; use AK, StsToken, RamRoleArn or "
                      "ChainableRamRoleArn",
                      name, path, mode);
}

int km__aliyun_profile_node(const char *file, const char *profile,
                            km__cred_node_t **out, km_err_t *err) {
  *out = NULL;
  char *path;
  const char *env = getenv("ALIBABA_CLOUD_CONFIG_FILE");
  if (file != NULL && *file != '\0') {
    path = km_xstrdup(file);
  } else if (env != NULL && *env != '\0') {
    path = km_xstrdup(env);
  } else {
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0')
      return km__err_set(err, KM_ENOENT,
                         "HOME is not set, so ~/.aliyun/config.json cannot be "
                         "found; set ALIBABA_CLOUD_CONFIG_FILE");
    path = km_xasprintf("%s/.aliyun/config.json", home);
  }
  json_t *root = NULL;
  int rc = read_file(path, &root, err);
  if (rc != 0) goto out;
  const char *name = profile;
  if (name == NULL || *name == '\0') name = getenv("ALIBABA_CLOUD_PROFILE");
  if (name == NULL || *name == '\0') name = field(root, "current");
  if (name == NULL) name = "default";
  char *chosen = km_xstrdup(name);
  km_buf_t trail;
  km_buf_init(&trail);
  rc = build(root, path, chosen, 0, &trail, out, err);
  km_buf_free(&trail);
  free(chosen);
  scrub_json(root);
  json_decref(root);
out:
  free(path);
  return rc;
}
