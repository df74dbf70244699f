/* A saved plan in a runtime: `kmsmig run MANIFEST --plan PLAN --shard K/N`
 * (runtime.h, docs/plan.md).
 *
 * Everything that makes a plan stale is refused before the cloud sees a
 * write: the manifest's hash (here, before the run directory exists), a
 * pipeline of this shard that the manifest no longer has, a resumed run
 * directory that was started with another plan, and, once this shard is
 * discovered, what the migrate stage's preflight checks per pipeline
 * (km_only_t.strict) and the quota check below.
 *
 * Why the quota check counts the other shards.  The plan summed, per
 * instance, what every pipeline of the fleet moves into it and refused an
 * instance that would not fit.  A shard sees only its own pipelines, so it
 * checks that the instance's free quota now still covers what the whole
 * plan needs there: its own remaining part plus the other shards' part,
 * less what those may already have moved (the growth of the instance's use
 * since the plan, beyond what this shard moved itself).  Growth from
 * outside the plan is indistinguishable from another shard's progress; the
 * check therefore never lets the shards together exceed the quota the plan
 * saw, and stops a shard when the instance filled up by more than the
 * plan's other shards can explain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "run/runtime.h"
#include "util/util.h"

#define NOT_PLANNED_WHY                                                        \
  "not in the saved plan (it appeared after the plan was made); re-run "       \
  "kmsmig plan --out to include it"

/* Each file's base name and contents, in the order the manifest read
 * them.  Not the run directory's hash (that one names the paths as typed):
 * shards run from other folders or machines, with the same files. */
int km_runplan_manifest_hash(const km_manifest_t *m, char out[65]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < m->files.n; i++) {
    const char *path = m->files.v[i];
    const char *base =
        strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
      rc = KM_EIO;
      break;
    }
    EVP_DigestUpdate(ctx, base, strlen(base) + 1);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
      EVP_DigestUpdate(ctx, buf, n);
    if (ferror(f)) rc = KM_EIO;
    fclose(f);
    EVP_DigestUpdate(ctx, "", 1); /* the end of this file */
  }
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  for (unsigned i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  return rc;
}

int km_runplan_load(km_runtime_t *rt, const char *plan_path) {
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km_planfile_load(plan_path, &rt->plan, &err) < 0) {
    fprintf(stderr, "kmsmig: --plan %s\n", err.text);
    return KM_EINVAL;
  }
  char hash[65];
  if (km_runplan_manifest_hash(rt->m, hash) < 0) {
    fprintf(stderr, "kmsmig: cannot read the manifest files to hash them\n");
    return KM_EIO;
  }
  if (strcmp(hash, rt->plan->manifest_sha256) != 0) {
    fprintf(stderr,
            "kmsmig: --plan %s was made for another manifest (hash %.12s, "
            "this manifest and its account files hash to %.12s): the "
            "manifest changed since the plan; nothing was called. Re-run "
            "`kmsmig plan %s --out %s`\n",
            plan_path, rt->plan->manifest_sha256, hash, rt->m->files.v[0],
            plan_path);
    return KM_EINVAL;
  }
  return 0;
}

/* The target's "only" from its plan pipeline. */
static void take_pipe(km_only_t *only, const km_plan_pipe_t *pp) {
  for (size_t i = 0; i < pp->keys.n; i++)
    km_inv_strs_add(&only->keys, pp->keys.v[i]);
  for (size_t i = 0; i < pp->secrets.n; i++)
    km_inv_strs_add(&only->secrets, pp->secrets.v[i]);
  only->rule = "plan.not_planned";
  only->why = NOT_PLANNED_WHY;
  only->strict = true;
  only->instance_id = pp->instance_id;
  only->blocked = strcmp(pp->status, "blocked") == 0 ? pp->blocked : NULL;
}

/* A plan pipeline of this shard that no target matched: the account or
 * region left the run (a directory member gone, for example). */
static int check_missing(km_runtime_t *rt, const bool *matched) {
  int rc = 0;
  for (size_t i = 0; i < rt->plan->npipes; i++) {
    const km_plan_pipe_t *pp = &rt->plan->pipes[i];
    if (matched[i] || !km_planfile_in_shard(pp, rt->shard_k, rt->shard_n))
      continue;
    fprintf(stderr,
            "kmsmig: the saved plan has %s %s, which this run no longer "
            "has (the account left the resource directory, or its "
            "credentials are gone); nothing was called. Re-run kmsmig plan "
            "--out\n",
            pp->account, pp->region);
    rc = KM_EINVAL;
  }
  return rc;
}

int km_runplan_select(km_runtime_t *rt) {
  const km_planfile_t *plan = rt->plan;
  bool *matched = km_xcalloc(plan->npipes + 1, sizeof(*matched));
  rt->only = km_xcalloc(rt->ntargets ? rt->ntargets : 1, sizeof(*rt->only));
  size_t kept = 0, unplanned = 0;
  for (size_t t = 0; t < rt->ntargets; t++) {
    km_target_t tg = rt->targets[t];
    const km_plan_pipe_t *pp = km_planfile_find(plan, tg.account, tg.region);
    if (pp == NULL) {
      if (unplanned++ < 5)
        km_log(KM_LOG_WARN,
               "%s %s is not in the saved plan: not run (re-run kmsmig plan "
               "--out to include it)",
               tg.account, tg.region);
      continue;
    }
    matched[pp - plan->pipes] = true;
    if (!km_planfile_in_shard(pp, rt->shard_k, rt->shard_n)) continue;
    /* Compacting keeps the order, so an account's targets stay adjacent. */
    take_pipe(&rt->only[kept], pp);
    rt->targets[kept] = tg;
    rt->targets[kept].only = &rt->only[kept];
    kept++;
  }
  if (unplanned > 5)
    km_log(KM_LOG_WARN,
           "%zu accounts × regions in all are not in the saved "
           "plan and are not run",
           unplanned);
  /* Entries past kept hold nothing (lists never filled). */
  rt->ntargets = kept;
  int rc = check_missing(rt, matched);
  free(matched);
  return rc;
}

/* ---- the run directory remembers its plan ---- */

static int read_small(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return KM_ENOENT;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  return 0;
}

int km_runplan_rundir(km_runtime_t *rt) {
  char *path = km_xasprintf("%s/saved-plan.sha256", rt->rd.dir);
  char old[128];
  bool had = read_small(path, old, sizeof(old)) == 0;
  int rc = 0;
  const char *want = rt->plan != NULL ? rt->plan->file_sha256 : NULL;
  if (had && want == NULL) {
    fprintf(stderr,
            "kmsmig: %s was started with a saved plan (--plan); resume it "
            "with the same --plan PLAN and --shard\n",
            rt->rd.dir);
    rc = KM_EINVAL;
  } else if (had && strcmp(old, want) != 0) {
    fprintf(stderr,
            "kmsmig: %s was started with another saved plan (%.12s, this "
            "one is %.12s); resume it with the plan it started with, or "
            "start a new run directory\n",
            rt->rd.dir, old, want);
    rc = KM_EINVAL;
  } else if (!had && want != NULL && rt->rd.resumed) {
    fprintf(stderr,
            "kmsmig: %s was started without a saved plan; resume it "
            "without --plan, or start a new run directory\n",
            rt->rd.dir);
    rc = KM_EINVAL;
  } else if (!had && want != NULL) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL || fprintf(f, "%s\n", want) < 0 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
      fprintf(stderr, "kmsmig: cannot write %s\n", path);
      rc = KM_EIO;
    }
    if (f != NULL) fclose(f);
  }
  free(path);
  return rc;
}

/* ---- the fleet's quota, from one shard ---- */

/* What this shard's pipelines of instance id moved or move, as planned. */
static void shard_planned(const km_runtime_t *rt, const char *id, int64_t *keys,
                          int64_t *secrets) {
  *keys = *secrets = 0;
  for (size_t i = 0; i < rt->plan->npipes; i++) {
    const km_plan_pipe_t *pp = &rt->plan->pipes[i];
    if (pp->instance_id == NULL || strcmp(pp->instance_id, id) != 0 ||
        !km_planfile_in_shard(pp, rt->shard_k, rt->shard_n) ||
        strcmp(pp->status, "blocked") == 0)
      continue;
    *keys += (int64_t)pp->keys.n;
    *secrets += (int64_t)pp->secrets.n;
  }
}

/* How much of one quota (keys or secrets) the plan still needs in the
 * instance, counting the other shards (see the file comment); -1 when the
 * figures are unknown. */
static int64_t still_needed(int64_t plan_used, int64_t plan_add,
                            int64_t mine_planned, int64_t mine_now,
                            int64_t used_now) {
  if (plan_used < 0 || used_now < 0) return -1;
  int64_t others = plan_add - mine_planned;
  if (others < 0) others = 0;
  int64_t mine_done = mine_planned - mine_now;
  if (mine_done < 0) mine_done = 0;
  int64_t growth = used_now - plan_used - mine_done;
  if (growth < 0) growth = 0;
  return mine_now + others - (growth < others ? growth : others);
}

/* A pipeline at the barrier that nothing has blocked yet. */
static bool open_at_barrier(km_pipeline_t *p, const char *id) {
  return km_pipeline_state(p) == KM_PIPE_WAITING &&
         km_pipeline_error(p) == NULL &&
         strcmp(km_pipeline_target(p)->instance_id, id) == 0;
}

/* What this shard's open pipelines of instance id still move. */
static void shard_moving(km_engine_t *e, const char *id, int64_t *keys,
                         int64_t *secrets) {
  *keys = *secrets = 0;
  for (size_t i = 0; i < km_engine_count(e); i++) {
    km_pipeline_t *p = km_engine_pipeline(e, i);
    if (!open_at_barrier(p, id)) continue;
    km_inv_counts_t c;
    km_inv_count(km_pipeline_inv(p), &c);
    *keys +=
        (int64_t)(c.keys[KM_VERDICT_PENDING] + c.keys[KM_VERDICT_NEEDS_BYOK]);
    *secrets += (int64_t)c.secrets[KM_VERDICT_PENDING];
  }
}

static void block_instance(km_engine_t *e, const char *id, const char *reason) {
  for (size_t i = 0; i < km_engine_count(e); i++) {
    km_pipeline_t *p = km_engine_pipeline(e, i);
    if (open_at_barrier(p, id)) km_pipeline_block(p, reason);
  }
}

void km_runplan_quota(km_runtime_t *rt, km_engine_t *e) {
  for (size_t u = 0; u < rt->nquota; u++) {
    const km_quota_use_t *q = &rt->quota[u];
    if (!q->keys_ok || !q->secrets_ok) continue; /* blocked already */
    const km_plan_inst_t *pi = km_planfile_instance(rt->plan, q->instance_id);
    char reason[600];
    if (pi == NULL) {
      int64_t ak, as;
      shard_moving(e, q->instance_id, &ak, &as);
      if (ak + as == 0) continue;
      snprintf(reason, sizeof(reason),
               "instance %s is not in the saved plan's quota totals; re-run "
               "kmsmig plan --out",
               q->instance_id);
      block_instance(e, q->instance_id, reason);
      continue;
    }
    int64_t mk, ms, ak, as;
    shard_planned(rt, q->instance_id, &mk, &ms);
    shard_moving(e, q->instance_id, &ak, &as);
    int64_t nk = still_needed(pi->key_used, pi->key_add, mk, ak, q->key_used);
    int64_t ns =
        still_needed(pi->secret_used, pi->secret_add, ms, as, q->secret_used);
    int64_t fk = q->key_quota - q->key_used;
    int64_t fs = q->secret_quota - q->secret_used;
    bool keys_short = ak > 0 && (nk < 0 || q->key_quota < 0 || fk < nk);
    bool secrets_short = as > 0 && (ns < 0 || q->secret_quota < 0 || fs < ns);
    if (!keys_short && !secrets_short) continue;
    snprintf(reason, sizeof(reason),
             "instance %s: %s quota free now %lld, but the saved plan still "
             "needs up to %lld there (this shard %lld, its other shards up "
             "to %lld): the instance's quota or use changed since the plan; "
             "nothing was changed here: re-run kmsmig plan --out",
             q->instance_id, keys_short ? "key" : "secret",
             (long long)(keys_short ? fk : fs),
             (long long)(keys_short ? nk : ns),
             (long long)(keys_short ? ak : as),
             (long long)(keys_short ? nk - ak : ns - as));
    block_instance(e, q->instance_id, reason);
  }
}
