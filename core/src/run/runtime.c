/* Building the runtime of `plan` and `run` from a validated manifest (see
 * runtime.h).  Everything that can be refused without calling the cloud is
 * refused here, before the engine starts: credentials that cannot be
 * resolved, plugins that do not load, a run directory in use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "model/strmap.h"
#include "run/accounts.h"
#include "run/runtime.h"
#include "run/waves.h"
#include "model/inventory.h"
#include "model/rules.h"
#include "kmsmig/version.h"
#include "rt/loop.h"
#include "util/util.h"

/* ---- targets ---- */

/* The hook files of an account: its own, else the manifest's, else the
 * built-in default in lua/ (docs/hooks.md). */
static void account_hooks(const km_manifest_t *m, const km_mf_account_t *a,
                          km_hookcfg_t *h) {
#define KM_PICK(f) (a->hooks.f != NULL ? a->hooks.f : m->hooks.f)
  h->rotation = KM_PICK(rotation);
  h->default_instance = KM_PICK(default_instance);
  h->before_batch = KM_PICK(before_batch);
  h->after_batch = KM_PICK(after_batch);
#undef KM_PICK
  const km_mf_strlist_t *pc =
      a->hooks.post_check.n > 0 ? &a->hooks.post_check : &m->hooks.post_check;
  h->post_check = pc->v;
  h->npost_check = pc->n;
}

static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static void strs_from(km_inv_strs_t *dst, const km_mf_strlist_t *l) {
  for (size_t i = 0; i < l->n; i++)
    km_inv_strs_add(dst, l->v[i]);
}

/* The run's one selection, typed.  HSM BYOK (core/src/stages/byok): a key
 * listed in select.byok.keys is selected even when select.keys does not
 * list it ("keys: none" moves only those). */
static void build_select(km_runtime_t *rt) {
  const km_mf_select_t *s = &rt->m->select;
  km_select_t *sel = &rt->select;
  sel->keys = s->keys;
  sel->secrets = s->secrets;
  strs_from(&sel->key_ids, &s->key_ids);
  strs_from(&sel->key_aliases, &s->key_aliases);
  strs_from(&sel->secret_names, &s->secret_names);
  if (s->byok_present && s->byok_keys.n > 0 && s->keys != KM_SEL_ALL_PENDING) {
    sel->keys = KM_SEL_LIST;
    strs_from(&sel->key_ids, &s->byok_keys);
  }
}

static bool shares_with(const km_mf_instance_t *in, const char *account) {
  if (strcmp(in->owner, account) == 0) return false;
  if (in->share_all) return true;
  for (size_t i = 0; i < in->share_with.n; i++)
    if (strcmp(in->share_with.v[i], account) == 0) return true;
  return false;
}

static void fill_target(km_runtime_t *rt, km_rt_account_t *a,
                        const char *region, const km_mf_instance_t *in,
                        km_target_t *t) {
  const km_manifest_t *m = rt->m;
  km_rt_account_t *owner = km_runtime_account(rt, in->owner);
  t->account = a->mf->name;
  t->account_id = a->mf->id;
  t->region = region;
  t->instance_id = in->id;
  t->instance_type = in->type == KM_MF_INST_HARDWARE ? KM_INV_TYPE_HARDWARE
                                                     : KM_INV_TYPE_SOFTWARE;
  t->instance_owner = in->owner;
  /* Members found by ListAccounts are in the management account's
   * directory, and so is the management account. */
  const km_mf_directory_t *dir = &m->directory;
  t->owner_same_directory = dir->present && a->mf->cred.implied &&
                            owner != NULL &&
                            (strcmp(owner->mf->name, dir->management) == 0 ||
                             owner->mf->cred.implied);
  t->instance_owner_id = owner != NULL ? owner->mf->id : NULL;
  t->image_version = in->image_version;
  t->auto_renew = in->auto_renew;
  t->share = shares_with(in, a->mf->name);
  t->select = &rt->select;
  t->byok = m->select.byok_present ? &m->select : NULL;
  t->hooks = &a->hooks;
  t->run_id = rt->run_id != NULL ? rt->run_id : "plan";
  t->set_default = m->migrate.set_default;
  t->task_timeout_s = m->migrate.task_timeout_s;
  t->monitor = m->monitor.enabled ? &m->monitor : NULL;
  t->when = m->migrate.when;
  t->console_poll_ms = rt->console_poll_ms;
  t->rotation_lead_s = m->migrate.rotation_lead_s;
  t->access_role = a->role_arn;
  t->get_cred = km__rt_get_cred;
  t->cred_src = a;
  t->renew_cred = km__rt_renew_cred;
}

static int build_targets(km_runtime_t *rt, const char *shard) {
  const km_manifest_t *m = rt->m;
  unsigned k = 1, n = 1;
  if (shard != NULL &&
      (sscanf(shard, "%u/%u", &k, &n) != 2 || n == 0 || k == 0 || k > n)) {
    fprintf(stderr, "kmsmig: --shard %s: expected K/N with 1 <= K <= N\n",
            shard);
    return KM_EINVAL;
  }
  rt->shard_k = k;
  rt->shard_n = n;
  build_select(rt);
  size_t cap = 0;
  for (size_t i = 0; i < rt->naccts; i++)
    cap += rt->accts[i].mf->regions.n;
  rt->targets = km_xcalloc(cap ? cap : 1, sizeof(*rt->targets));
  for (size_t i = 0; i < rt->naccts; i++) {
    km_rt_account_t *a = &rt->accts[i];
    account_hooks(m, a->mf, &a->hooks);
    /* A stable subset of accounts per shard: the account id's hash (a
     * saved plan's shards are the plan's, km_runplan_select). */
    if (rt->plan == NULL && n > 1 && fnv1a(a->mf->id) % n != k - 1) continue;
    for (size_t r = 0; r < a->mf->regions.n; r++) {
      const char *region = a->mf->regions.v[r];
      const km_mf_instance_t *in = km_manifest_instance(m, region);
      if (in == NULL) continue; /* validate refused this already */
      fill_target(rt, a, region, in, &rt->targets[rt->ntargets++]);
    }
  }
  return rt->plan != NULL ? km_runplan_select(rt) : 0;
}

/* ---- stage providers ---- */

static bool is_builtin(const char *name) {
  static const char *const builtin[] = {"share", "keys", "secrets", "byok",
                                        "migrate"};
  for (size_t i = 0; i < KM_ARRAY_SIZE(builtin); i++)
    if (strcmp(name, builtin[i]) == 0) return true;
  return false;
}

static int so_file(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

/* plugins.dir without plugins.list: every *.so there, in name order. */
static int load_dir(km_runtime_t *rt, const char *dir) {
  struct dirent **ents = NULL;
  int n = scandir(dir, &ents, so_file, alphasort);
  if (n < 0) {
    fprintf(stderr, "kmsmig: plugins.dir %s: %s\n", dir, strerror(errno));
    return KM_EINVAL;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    if (rc == 0) {
      km_err_t err;
      memset(&err, 0, sizeof(err));
      char *path = km_xasprintf("%s/%s", dir, ents[i]->d_name);
      rc = km_stages_load(rt->stages, path, &err);
      if (rc < 0) fprintf(stderr, "kmsmig: %s\n", err.text);
      free(path);
    }
    free(ents[i]);
  }
  free(ents);
  return rc;
}

/* The built-in stages always; then the manifest's plugins (names under
 * plugins.dir, or --plugins-dir), which add to them. */
static int load_plugins(km_runtime_t *rt, const char *dir_opt) {
  km_err_t err;
  memset(&err, 0, sizeof(err));
  rt->stages = km_stages_new();
  if (km_stages_add_builtin(rt->stages, &err) < 0) {
    fprintf(stderr, "kmsmig: %s\n", err.text);
    return KM_EINVAL;
  }
  const char *dir = dir_opt != NULL ? dir_opt : rt->m->plugins_dir;
  if (dir != NULL && rt->m->plugins.n == 0) return load_dir(rt, dir);
  for (size_t i = 0; i < rt->m->plugins.n; i++) {
    const char *name = rt->m->plugins.v[i];
    if (is_builtin(name)) continue; /* linked in */
    if (dir == NULL) {
      fprintf(stderr,
              "kmsmig: plugin %s: plugins.dir is not set; say where %s.so "
              "is\n",
              name, name);
      return KM_EINVAL;
    }
    char *path = km_xasprintf("%s/%s.so", dir, name);
    int rc = km_stages_load(rt->stages, path, &err);
    free(path);
    if (rc < 0) {
      fprintf(stderr,
              "kmsmig: %s\n  (build the plugin, or fix plugins.dir / "
              "plugins.list in the manifest)\n",
              err.text);
      return rc;
    }
  }
  return 0;
}

/* ---- engine callbacks ---- */

static int console_cb(void *ud, km_pipeline_t *p, const json_t *request,
                      km_jcall_cb cb, void *cb_ud) {
  km_runtime_t *rt = ud;
  const km_target_t *t = km_pipeline_target(p);
  return km_console_request(&rt->console, t->account_id, t->region, request, cb,
                            cb_ud);
}

static const km_inv_issue_t *find_issue(const km_inv_t *inv, const char *rule) {
  for (size_t i = 0; i < inv->nissues; i++)
    if (strcmp(inv->issues[i].rule, rule) == 0) return &inv->issues[i];
  return NULL;
}

/* At the barrier: an instance whose image version the console contradicts
 * (instance.image_mismatch, found by a pipeline that sees the instance in
 * the console) blocks every pipeline of that instance; a member cannot see
 * the instance before it is shared. */
static void spread_instance_blocks(km_engine_t *e) {
  size_t n = km_engine_count(e);
  for (size_t i = 0; i < n; i++) {
    km_pipeline_t *p = km_engine_pipeline(e, i);
    const km_inv_t *inv = km_pipeline_inv(p);
    const km_inv_issue_t *is = find_issue(inv, "instance.image_mismatch");
    if (km_pipeline_state(p) != KM_PIPE_WAITING || is == NULL) continue;
    for (size_t k = 0; k < n; k++) {
      km_pipeline_t *q = km_engine_pipeline(e, k);
      km_inv_t *qi = km_pipeline_inv(q);
      if (q == p || km_pipeline_state(q) != KM_PIPE_WAITING ||
          qi->instance_id == NULL ||
          strcmp(qi->instance_id, inv->instance_id) != 0 ||
          find_issue(qi, is->rule) != NULL)
        continue;
      km_inv_add_issue(qi, is->rule, is->verdict, is->message);
      if (km_pipeline_error(q) == NULL) km_pipeline_block(q, is->message);
    }
  }
}

/* At the barrier: the key and secret quota of each destination instance,
 * summed over every account and region that targets it. */
static void global_check(km_engine_t *e, void *ud) {
  km_runtime_t *rt = ud;
  spread_instance_blocks(e);
  size_t n = km_engine_count(e);
  km_inv_t **invs = km_xcalloc(n ? n : 1, sizeof(*invs));
  size_t ninv = 0;
  for (size_t i = 0; i < n; i++) {
    km_pipeline_t *p = km_engine_pipeline(e, i);
    if (km_pipeline_state(p) == KM_PIPE_WAITING)
      invs[ninv++] = km_pipeline_inv(p);
  }
  km_quota_use_t *uses = NULL;
  size_t nuses = 0;
  km_err_t err;
  km_quota_uses_free(rt->quota, rt->nquota);
  rt->quota = NULL;
  rt->nquota = 0;
  if (km_rules_quota(invs, ninv, &uses, &nuses, &err) == 0) {
    for (size_t u = 0; u < nuses; u++) {
      km_quota_use_t *q = &uses[u];
      if (q->keys_ok && q->secrets_ok) continue;
      char reason[512];
      snprintf(reason, sizeof(reason),
               "instance %s would exceed its quota (keys %lld + %lld of "
               "%lld, secrets %lld + %lld of %lld); raise the quota or "
               "select fewer resources, then plan again",
               q->instance_id, (long long)q->key_used, (long long)q->key_add,
               (long long)q->key_quota, (long long)q->secret_used,
               (long long)q->secret_add, (long long)q->secret_quota);
      for (size_t i = 0; i < n; i++) {
        km_pipeline_t *p = km_engine_pipeline(e, i);
        /* A pipeline preflight blocked keeps its own reason (a
         * Disconnected instance has no quota to read). */
        if (km_pipeline_state(p) == KM_PIPE_WAITING &&
            km_pipeline_error(p) == NULL &&
            strcmp(km_pipeline_target(p)->instance_id, q->instance_id) == 0)
          km_pipeline_block(p, reason);
      }
    }
    rt->quota = uses;
    rt->nquota = nuses;
  } else {
    km_log(KM_LOG_WARN, "quota check: %s", err.text);
  }
  free(invs);
  if (rt->plan != NULL) km_runplan_quota(rt, e);
}

/* Every pipeline event into the log (the file has the details), and to
 * the view of `run` (cli/progress.c), which decides what the terminal
 * shows: the engine hands over typed events, nobody reads text back. */
static void on_progress(km_pipeline_t *p, const km_pipe_ev_t *ev, void *ud) {
  km_runtime_t *rt = ud;
  const km_target_t *t = km_pipeline_target(p);
  km__rt_release_account(rt, p);
  if (ev->kind == KM_PEV_BARRIER) km__rt_park_account(rt, p);
  const char *what = ev->kind == KM_PEV_ENDED ? km_pipe_state_name(ev->state)
                     : ev->kind == KM_PEV_RESTORING
                         ? "running (restoring after the failure)"
                         : km_pipe_ev_name(ev->kind);
  km_log_fields_t f = {t->account, t->region, km_stage_name(ev->stage),
                       km_pipe_ev_name(ev->kind)};
  km_logf(KM_LOG_INFO, &f, "%s (%s)", what, km_stage_name(ev->stage));
  if (rt->mode == KM_MODE_RUN && rt->view.pipe != NULL)
    rt->view.pipe(rt->view.ud, p, ev);
}

static void on_signal(int signum, int count, void *ud) {
  km_runtime_t *rt = ud;
  (void)signum;
  rt->interrupted = true;
  if (count == 1) {
    km_log(KM_LOG_WARN, "interrupted: no new account starts; batches waiting "
                        "for the console or a scheduled time stop now, and "
                        "rotation is restored (again to quit at once; the "
                        "run stays resumable)");
    if (rt->engine != NULL) km_engine_interrupt(rt->engine);
  } else {
    km_log(KM_LOG_ERROR,
           "interrupted twice: stopping now; resume with "
           "`kmsmig run --run-dir %s`",
           rt->rd.dir != NULL ? rt->rd.dir : "DIR");
    exit(KM_EXIT_INTERRUPTED);
  }
}

/* ---- assembly ---- */

/* kmsmig rehearse: the loaded manifest pointed at the local kmsim (see
 * km_rt_rehearse_t); the endpoint overrides it had are replaced. */
static void rehearse_manifest(km_manifest_t *m, const km_rt_rehearse_t *r) {
  for (size_t i = 0; i < m->noverrides; i++) {
    free(m->overrides[i].host);
    free(m->overrides[i].address);
    free(m->overrides[i].ca_file);
  }
  free(m->overrides);
  m->overrides = km_xcalloc(1, sizeof(*m->overrides));
  m->noverrides = 1;
  m->overrides[0].host = km_xstrdup("*.aliyuncs.com");
  m->overrides[0].address = km_xstrdup(r->address);
  m->overrides[0].ca_file = km_xstrdup(r->ca_file);
  m->overrides[0].pos.file = m->path;
  m->migrate.driver = KM_MF_DRIVER_SIM;
  m->migrate.when = 0; /* the wait until `when` is projected, not slept */
}

int km_runtime_new(const km_runtime_opts_t *o, km_runtime_t **out) {
  km_runtime_t *rt = km_xcalloc(1, sizeof(*rt));
  *out = NULL;
  rt->mode = o->mode;
  rt->quiet = o->quiet;
  if (o->view != NULL) rt->view = *o->view;
  km_diags_t diags;
  km_diags_init(&diags);
  km_manifest_opts_t mo = {.allow_include_outside = o->allow_include_outside};
  int rc = km_manifest_load_opts(o->manifest_path, &mo, &rt->m, &diags);
  km_diags_print(&diags, stderr, rc < 0 ? KM_DIAG_WARNING : KM_DIAG_WARNING);
  km_diags_free(&diags);
  if (rc < 0) {
    fprintf(stderr, "kmsmig: %s is not valid; nothing was called\n",
            o->manifest_path);
    free(rt);
    return KM_EXIT_USAGE;
  }
  rt->rehearse = o->rehearse;
  if (o->rehearse != NULL) rehearse_manifest(rt->m, o->rehearse);
  rt->wl.rehearsal = o->rehearse != NULL;
  uv_loop_init(&rt->loop);
  int exit_code = KM_EXIT_USAGE;
  /* Shards of a run share one quota check only through a saved plan. */
  if (o->mode == KM_MODE_RUN && o->shard != NULL && o->plan_path == NULL) {
    fprintf(stderr,
            "kmsmig run: --shard needs --plan PLAN: shards that each check "
            "an instance's quota alone can over-commit it together; make "
            "the plan once with `kmsmig plan %s --out PLAN`, then run "
            "`kmsmig run %s --plan PLAN --shard %s`\n",
            o->manifest_path, o->manifest_path, o->shard);
    goto fail;
  }
  if (o->plan_path != NULL && km_runplan_load(rt, o->plan_path) < 0) goto fail;

  if (o->mode == KM_MODE_RUN) {
    if (km_rundir_prepare(rt->m, o->run_dir, &rt->rd) < 0) goto fail;
    if (km_runplan_rundir(rt) < 0) goto fail;
    rt->run_id = rt->rd.run_id;
    char *logpath = km_xasprintf("%s/kmsmig.log", rt->rd.dir);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(logpath);
    if (fd >= 0) (void)fchmod(fd, 0600); /* a log from an older version */
    if (fd >= 0) rt->log = fdopen(fd, "a");
  } else {
    rt->run_id = "plan";
  }

  /* Transport: one CA file for every override that names one. */
  const char *ca = NULL;
  for (size_t i = 0; i < rt->m->noverrides; i++) {
    const char *c = rt->m->overrides[i].ca_file;
    if (c == NULL) continue;
    if (ca != NULL && strcmp(ca, c) != 0) {
      fprintf(stderr, "kmsmig: endpoint overrides name different ca_file "
                      "values; use one CA bundle for all of them\n");
      goto fail;
    }
    ca = c;
  }
  km_http_opts_t ho = {.max_host_connections = rt->m->concurrency_per_endpoint,
                       .ca_file = ca};
  if ((rc = km_http_new(&rt->loop, &ho, &rt->http)) < 0) {
    fprintf(stderr, "kmsmig: HTTP transport: %s\n", km_strerror(rc));
    exit_code = KM_EXIT_INTERNAL;
    goto fail;
  }
  km_endpoint_override_t *ovs =
      km_xcalloc(rt->m->noverrides ? rt->m->noverrides : 1, sizeof(*ovs));
  for (size_t i = 0; i < rt->m->noverrides; i++) {
    ovs[i].host_pattern = rt->m->overrides[i].host;
    ovs[i].address = rt->m->overrides[i].address;
    ovs[i].scheme = rt->m->overrides[i].http ? "http" : "https";
  }
  km_acs_client_opts_t ao = {
      .sigver = rt->m->signature == 1 ? KM_SIG_V1 : KM_SIG_V3,
      .overrides = ovs,
      .noverrides = rt->m->noverrides,
  };
  km_err_t err;
  memset(&err, 0, sizeof(err));
  rc = km_acs_client_new(rt->http, &rt->loop, &ao, &rt->acs, &err);
  free(ovs);
  if (rc < 0) {
    fprintf(stderr, "kmsmig: endpoint overrides: %s\n", err.text);
    goto fail;
  }
  rt->rl = km_rl_new(&rt->loop);
  /* concurrency.qps: the manifest's for every account, then each explicit
   * account's own (members found in the directory use the manifest's). */
  km_rl_set_limits(rt->rl, NULL, &rt->m->qps);
  for (size_t i = 0; i < rt->m->naccounts; i++) {
    const km_mf_account_t *a = &rt->m->accounts[i];
    for (int g = 0; g < KM_RL_NGROUPS; g++)
      if (a->qps.qps[g] > 0) {
        km_rl_set_limits(rt->rl, a->id, &a->qps);
        break;
      }
  }
  rt->console.http = rt->http;
  rt->console.m = rt->m;
  /* The console driver's polling interval (migrate.poll_interval). */
  rt->console_poll_ms = rt->m->migrate.poll_interval_s * 1000;
  if (km__rt_build_sources(rt) < 0) {
    /* A listing the cloud refused is a failure (exit 1), not a manifest
     * error: the message names the cause and its fix. */
    if (rt->directory_failed) exit_code = KM_EXIT_FAILURES;
    goto fail;
  }
  if (build_targets(rt, o->shard) < 0) goto fail;
  if (o->rerun_failed && km_rerun_restrict(rt) < 0) goto fail;
  km_waves_opts_t wo = {o->auto_advance, o->advance, o->manifest_path};
  if (km_waves_setup(rt, &wo) < 0) goto fail;
  if (load_plugins(rt, o->plugins_dir) < 0) goto fail;
  if (o->mode == KM_MODE_RUN) {
    km_rundir_write_versions(&rt->rd, rt->stages);
    if (km_rundir_open_journal(&rt->rd, &rt->journal, &rt->prior, &err) < 0) {
      fprintf(stderr, "kmsmig: journal: %s\n", err.text);
      goto fail;
    }
  }
  if ((exit_code = km_runtime_lock(rt, o)) != 0) goto fail;
  km_rt_signals_start(&rt->loop, on_signal, rt, &rt->signals);
  *out = rt;
  return 0;

fail:
  km_runtime_free(rt);
  return exit_code;
}

/* ---- the console worklist ---- */

void km_runtime_worklist_flush(km_runtime_t *rt) {
  if (rt->mode != KM_MODE_RUN || rt->rd.dir == NULL) return;
  rt->wl_written_ms = km_now_ms();
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km_worklist_write(&rt->wl, rt->rd.dir, &err) < 0)
    km_log(KM_LOG_ERROR,
           "worklist: %s (the journal has every step; "
           "`kmsmig status` lists them)",
           err.text);
}

static void on_wl_timer(uv_timer_t *t) {
  km_runtime_worklist_flush(t->data);
}

/* Every durable journal record (engine opts.record): batch records change
 * the worklist, which is rewritten shortly after (one write for a burst of
 * records, and writes at least 2 s plus 1 ms per item apart: a fleet's
 * worklist is thousands of items) and, for the operator's items, announced
 * in one short line. */
static void on_record(const km_target_t *t, const json_t *rec, void *ud) {
  km_runtime_t *rt = ud;
  (void)t;
  const char *type = json_string_value(json_object_get(rec, "type"));
  km_wl_item_t *it = km_worklist_note(&rt->wl, type, rec, (int64_t)time(NULL));
  if (it == NULL) return;
  if (!uv_is_active((uv_handle_t *)&rt->wl_timer)) {
    uint64_t gap = 2000 + rt->wl.n, since = km_now_ms() - rt->wl_written_ms;
    uint64_t wait = since >= gap ? 300 : gap - since;
    uv_timer_start(&rt->wl_timer, on_wl_timer, wait < 300 ? 300 : wait, 0);
  }
  if (rt->view.item != NULL) {
    rt->view.item(rt->view.ud, it);
    return;
  }
  if ((it->sim && it->state != KM_WL_SCHEDULED) || rt->quiet) return;
  char line[512];
  km_worklist_line(it, line, sizeof(line));
  printf("%s %s\n", km_worklist_pending(it) ? "ACTION" : "console", line);
  fflush(stdout);
}

static void on_engine_done(km_engine_t *e, void *ud) {
  km_runtime_t *rt = ud;
  (void)e;
  rt->engine_done = true;
}

int km_runtime_run(km_runtime_t *rt) {
  km_engine_opts_t eo = {
      .loop = &rt->loop,
      .acs = rt->acs,
      .rl = rt->rl,
      .stages = rt->stages,
      .journal = rt->journal,
      .prior_records = rt->prior,
      .mode = rt->mode,
      .max_accounts = rt->m->concurrency_accounts,
      .providers_together =
          rt->m->concurrency_per_endpoint >= KM_ENGINE_TOGETHER_MIN,
      .tolerance = rt->m->tolerance,
      .tolerance_percent = rt->m->tolerance_is_percent,
      .driver = rt->m->migrate.driver == KM_MF_DRIVER_SIM ? "sim" : "console",
      .console = console_cb,
      .console_ud = rt,
      .global_check = global_check,
      .global_ud = rt,
      .resolve_account = km__rt_resolve_account,
      .resolve_ud = rt,
      .progress = on_progress,
      .progress_ud = rt,
      .record = rt->mode == KM_MODE_RUN ? on_record : NULL,
      .record_ud = rt,
      .observe_only = rt->observe_only,
  };
  if (rt->mode == KM_MODE_RUN) {
    uv_timer_init(&rt->loop, &rt->wl_timer);
    rt->wl_timer.data = rt;
    rt->wl_timer_on = true;
    /* A resumed run lists what is still waiting from an earlier sitting. */
    km_worklist_note_all(&rt->wl, rt->prior);
    if (rt->wl.n > 0 && rt->view.resumed != NULL) {
      rt->view.resumed(rt->view.ud, &rt->wl);
      km_runtime_worklist_flush(rt);
    } else if (rt->wl.n > 0) {
      if (!rt->quiet && km_worklist_print_pending(&rt->wl, stdout) > 0)
        printf("(from an earlier sitting; kmsmig turns rotation off again "
               "before it waits for them)\n");
      fflush(stdout);
      km_runtime_worklist_flush(rt);
    }
  }
  km_waves_note_prior(rt, rt->prior);
  km_waves_engine_opts(rt, &eo);
  km__rt_count_accounts(rt);
  free(rt->released);
  rt->released = km_xcalloc(rt->ntargets ? rt->ntargets : 1, 1);
  rt->engine = km_engine_new(&eo, rt->targets, rt->ntargets);
  if (rt->on_engine != NULL) rt->on_engine(rt, rt->on_engine_ud);
  /* Each pipeline now holds its own records. */
  json_decref(rt->prior);
  rt->prior = NULL;
  int rc = km_engine_start(rt->engine, on_engine_done, rt);
  if (rc < 0) return rc;
  while (!rt->engine_done && uv_run(&rt->loop, UV_RUN_ONCE) != 0)
    ;
  return rt->engine_done ? 0 : KM_EINVAL;
}

static void on_closed(void *ud) {
  (void)ud;
}

void km_runtime_free(km_runtime_t *rt) {
  if (rt == NULL) return;
  if (rt->signals != NULL) km_rt_signals_close(rt->signals);
  if (rt->wl_timer_on) uv_close((uv_handle_t *)&rt->wl_timer, NULL);
  for (size_t i = 0; i < rt->naccts; i++)
    if (rt->accts[i].creds != NULL)
      km_creds_close(rt->accts[i].creds, on_closed, NULL);
  if (rt->engine != NULL) km_engine_free(rt->engine);
  if (rt->rl != NULL) km_rl_close(rt->rl, on_closed, NULL);
  uv_run(&rt->loop, UV_RUN_DEFAULT);
  if (rt->acs != NULL) km_acs_client_free(rt->acs);
  if (rt->http != NULL) km_http_close(rt->http, on_closed, NULL);
  km_stages_free(rt->stages);
  int forced = km_loop_close_all(&rt->loop);
  if (forced > 0)
    km_log(KM_LOG_WARN, "internal: %d handle(s) were still open at exit",
           forced);
  /* An engine that ended releases its locks; anything else keeps them for
   * the resume (like a kill -9 would). */
  if (rt->engine_done)
    km_locks_release(&rt->locks);
  else
    km_locks_keep(&rt->locks);
  if (rt->journal != NULL) km_journal_close(rt->journal);
  json_decref(rt->prior);
  km_quota_uses_free(rt->quota, rt->nquota);
  free(rt->released);
  km_rerun_free_only(rt->only, rt->ntargets);
  km_planfile_free(rt->plan);
  km_select_free(&rt->select);
  free(rt->targets);
  for (size_t i = 0; i < rt->naccts; i++)
    free(rt->accts[i].role_arn);
  free(rt->accts);
  for (size_t i = 0; i < rt->ndiscovered; i++) {
    free(rt->discovered[i].name);
    free(rt->discovered[i].id);
    free(rt->discovered[i].tags); /* the strings are interned */
  }
  free(rt->discovered);
  km_rundir_free(&rt->rd);
  if (rt->log != NULL) {
    km_log_set_file(NULL);
    fclose(rt->log);
  }
  km_strmap_free(rt->by_name);
  km_waves_free(rt->waves);
  km_worklist_free(&rt->wl);
  km_manifest_free(rt->m);
  free(rt);
}
