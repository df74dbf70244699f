/* ResourceManager 2020-03-31: ListAccounts and ListAccountsForParent for the
 * management account of a resource directory (others get the real-looking
 * refusals documented in docs/kmsim.md), plus GetResourceDirectory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

/* The directory the caller manages, or NULL with an error. */
static ksim_directory_t *managed_dir(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_directory_t *d =
      ksim_directory_by_id(req->cloud, req->account->directory);
  if (d == NULL) {
    ksim_fail(resp, "EntityNotExists.ResourceDirectory",
              "The resource directory does not exist.");
    return NULL;
  }
  if (strcmp(d->management, req->account->id) != 0) {
    ksim_fail(resp, "NoPermission",
              "You are not authorized to do this action. Only the "
              "management account of the resource directory may call it.");
    return NULL;
  }
  return d;
}

static const char *folder_path(ksim_directory_t *d, const char *folder,
                               char *out, size_t n) {
  /* rd-xxx/r-root/fd-xxx/<uid> style path: root then the folder chain */
  char chain[8][64];
  int depth = 0;
  const char *f = folder;
  while (f != NULL && depth < 8) {
    snprintf(chain[depth++], sizeof(chain[0]), "%s", f);
    const char *parent = NULL;
    for (size_t i = 0; i < d->folders.n; i++)
      if (strcmp(d->folders.v[i].id, f) == 0) parent = d->folders.v[i].parent;
    f = parent;
  }
  size_t off = (size_t)snprintf(out, n, "%s", d->id);
  for (int i = depth - 1; i >= 0 && off < n; i--)
    off += (size_t)snprintf(out + off, n - off, "/%s", chain[i]);
  return out;
}

static json_t *account_json(ksim_directory_t *d, ksim_account_t *a,
                            bool include_tags, bool with_path) {
  json_t *o = json_pack(
      "{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s}", "AccountId", a->id,
      "DisplayName", a->name, "FolderId", a->folder != NULL ? a->folder : "",
      "JoinMethod", a->join_method, "JoinTime", ksim_json_time(a->join_time),
      "ModifyTime", ksim_json_time(a->join_time), "ResourceDirectoryId", d->id,
      "Status", a->status, "Type", "ResourceAccount");
  if (with_path) {
    char path[1024], leaf[1200];
    folder_path(d, a->folder, path, sizeof(path));
    snprintf(leaf, sizeof(leaf), "%s/%s", path, a->id);
    json_object_set_new(o, "ResourceDirectoryPath", json_string(leaf));
  }
  if (include_tags) {
    json_t *arr = json_array();
    for (size_t i = 0; i < a->tags.n; i++)
      json_array_append_new(arr,
                            json_pack("{s:s, s:s}", "Key", a->tags.v[i].key,
                                      "Value", a->tags.v[i].value));
    json_object_set_new(o, "Tags", json_pack("{s:o}", "Tag", arr));
  }
  return o;
}

/* Tag.N.Key/Value filter: every given pair must be on the account. */
static bool tags_ok(const ksim_req_t *req, const ksim_account_t *a) {
  char k[32], v[32];
  for (int i = 1; i <= 20; i++) {
    snprintf(k, sizeof(k), "Tag.%d.Key", i);
    snprintf(v, sizeof(v), "Tag.%d.Value", i);
    const char *tk = ksim_param(req, k), *tv = ksim_param(req, v);
    if (tk == NULL) break;
    bool found = false;
    for (size_t j = 0; j < a->tags.n; j++)
      if (strcmp(a->tags.v[j].key, tk) == 0 &&
          (tv == NULL || strcmp(a->tags.v[j].value, tv) == 0))
        found = true;
    if (!found) return false;
  }
  return true;
}

static int list_common(ksim_req_t *req, ksim_resp_t *resp, const char *parent) {
  ksim_directory_t *d = managed_dir(req, resp);
  if (d == NULL) return -1;
  long page, size;
  if (ksim_paging(req, resp, 10, 100, &page, &size) < 0) return -1;
  bool tags = false;
  if (ksim_param_bool(req, resp, "IncludeTags", &tags) < 0) return -1;
  if (parent != NULL) {
    bool found = false;
    for (size_t i = 0; i < d->folders.n; i++)
      found |= strcmp(d->folders.v[i].id, parent) == 0;
    if (!found)
      return ksim_fail(resp, "EntityNotExists.Folder",
                       "The specified folder does not exist.");
  }
  const char *kw = ksim_param(req, "QueryKeyword");
  json_t *arr = json_array();
  size_t total = 0;
  for (size_t i = 0; i < req->cloud->accounts.n; i++) {
    ksim_account_t *a = req->cloud->accounts.v[i];
    if (a->directory == NULL || strcmp(a->directory, d->id) != 0) continue;
    if (parent != NULL && (a->folder == NULL || strcmp(a->folder, parent)))
      continue;
    if (kw != NULL && kw[0] != '\0' && strstr(a->name, kw) == NULL &&
        strstr(a->id, kw) == NULL)
      continue;
    if (!tags_ok(req, a)) continue;
    if (total >= (size_t)((page - 1) * size) && total < (size_t)(page * size))
      json_array_append_new(arr, account_json(d, a, tags, parent == NULL));
    total++;
  }
  json_t *body = json_pack("{s:{s:o}}", "Accounts", "Account", arr);
  ksim_paging_set(body, page, size, total);
  return ksim_ok(resp, body);
}

static int list_accounts(ksim_req_t *req, ksim_resp_t *resp) {
  return list_common(req, resp, NULL);
}

static int list_accounts_for_parent(ksim_req_t *req, ksim_resp_t *resp) {
  const char *parent = ksim_param_req(req, resp, "ParentFolderId");
  if (parent == NULL) return -1;
  return list_common(req, resp, parent);
}

static int get_resource_directory(ksim_req_t *req, ksim_resp_t *resp) {
  ksim_directory_t *d =
      ksim_directory_by_id(req->cloud, req->account->directory);
  if (d == NULL)
    return ksim_fail(resp, "EntityNotExists.ResourceDirectory",
                     "The resource directory does not exist.");
  ksim_account_t *m = ksim_account_by_id(req->cloud, d->management);
  return ksim_ok(resp,
                 json_pack("{s:{s:s, s:s, s:s, s:s}}", "ResourceDirectory",
                           "ResourceDirectoryId", d->id, "RootFolderId",
                           d->root_folder, "MasterAccountId", d->management,
                           "MasterAccountName", m != NULL ? m->name : ""));
}

static const ksim_action_t rm_actions[] = {
    {"ListAccounts", list_accounts, "rm", 0},
    {"ListAccountsForParent", list_accounts_for_parent, "rm", 0},
    {"GetResourceDirectory", get_resource_directory, "rm", 0},
    {NULL, NULL, NULL, 0}};

KSIM_REGISTER_ACTIONS("resourcemanager", rm_actions)
