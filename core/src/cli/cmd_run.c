/* `kmsmig plan` and `run` (`status`: cmd_status.c, `report`: cmd_report.c).
 *
 * plan discovers and preflights every account and region and prints the
 * plan; it can change nothing (the host refuses write actions in plan mode).
 * run does the same in a run directory, then prepares, migrates, restores
 * and verifies, and ends with a summary, report.json and an honest exit
 * code.  On a TTY, run shows the plan and asks first unless --yes. */
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "run/export.h"
#include "run/runtime.h"
#include "model/inventory.h"
#include "engine/plan_render.h"
#include "engine/report.h"
#include "run/terraform.h"
#include "run/waves.h"
#include "kmsmig/version.h"
#include "util/util.h"

typedef struct args_s {
  const char *manifest;
  const char *output; /* text | json */
  const char *run_dir;
  const char *shard;
  const char *plugins_dir;
  bool allow_include_outside; /* --allow-include-outside */
  const char *out;            /* plan --out PLAN */
  const char *export_fixture; /* plan --export-fixture FILE */
  const char *plan;           /* run --plan PLAN */
  bool yes;
  bool break_lock; /* run --break-lock */
  bool rerun_failed;
  bool quiet;
  int verbose;
  km_color_t color;  /* run --color auto|always|never */
  bool log_json;     /* run --log-format json */
  bool auto_advance; /* run --auto-advance (docs/waves.md) */
  bool advance;      /* run --advance */
} args_t;

/* "--name=value" or "--name value": the value, or NULL when s is not
 * --name (i advanced past a separate value). */
static const char *opt_value(int argc, char **argv, int *i, const char *name,
                             bool *missing) {
  const char *s = argv[*i];
  size_t n = strlen(name);
  *missing = false;
  if (strncmp(s, name, n) != 0) return NULL;
  if (s[n] == '=') return s + n + 1;
  if (s[n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

/* run's output options (docs/cli.md, "Output"): 1 when argv[*i] was one,
 * 0 when not, -1 on a bad value (printed). */
static int output_opt(int argc, char **argv, int *i, args_t *a) {
  bool missing;
  const char *v = opt_value(argc, argv, i, "--color", &missing);
  if (v != NULL || missing) {
    if (v == NULL || km_color_parse(v, &a->color) < 0) {
      fprintf(stderr, "kmsmig run: --color takes auto, always or never\n");
      return -1;
    }
    return 1;
  }
  v = opt_value(argc, argv, i, "--log-format", &missing);
  if (v != NULL || missing) {
    if (v == NULL || (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)) {
      fprintf(stderr, "kmsmig run: --log-format takes text or json\n");
      return -1;
    }
    a->log_json = strcmp(v, "json") == 0;
    return 1;
  }
  return 0;
}

static int parse_args(int argc, char **argv, args_t *a, bool run,
                      void (*usage)(void)) {
  memset(a, 0, sizeof(*a));
  a->output = "text";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (km__is_help(s)) {
      usage();
      return 1;
    }
#define NEXT()                                                                 \
  do {                                                                         \
    if (i + 1 >= argc) {                                                       \
      fprintf(stderr, "kmsmig %s: %s needs a value\n", argv[0], s);            \
      return -1;                                                               \
    }                                                                          \
  } while (0)
    if (strcmp(s, "--output") == 0 || strcmp(s, "-o") == 0) {
      NEXT();
      a->output = argv[++i];
      if (strcmp(a->output, "text") != 0 && strcmp(a->output, "json") != 0) {
        fprintf(stderr, "kmsmig %s: --output takes text or json\n", argv[0]);
        return -1;
      }
    } else if (strcmp(s, "--shard") == 0) {
      NEXT();
      a->shard = argv[++i];
    } else if (strcmp(s, "--allow-include-outside") == 0) {
      a->allow_include_outside = true;
    } else if (strcmp(s, "--plugins-dir") == 0) {
      NEXT();
      a->plugins_dir = argv[++i];
    } else if (!run && strcmp(s, "--out") == 0) {
      NEXT();
      a->out = argv[++i];
    } else if (!run && strcmp(s, "--export-fixture") == 0) {
      NEXT();
      a->export_fixture = argv[++i];
    } else if (run && strcmp(s, "--plan") == 0) {
      NEXT();
      a->plan = argv[++i];
    } else if (run && strcmp(s, "--run-dir") == 0) {
      NEXT();
      a->run_dir = argv[++i];
    } else if (run && (strcmp(s, "--yes") == 0 || strcmp(s, "-y") == 0)) {
      a->yes = true;
    } else if (run && strcmp(s, "--break-lock") == 0) {
      a->break_lock = true;
    } else if (run && strcmp(s, "--auto-advance") == 0) {
      a->auto_advance = true;
    } else if (run && strcmp(s, "--advance") == 0) {
      a->advance = true;
    } else if (run && strcmp(s, "--rerun-failed") == 0) {
      a->rerun_failed = true;
    } else if (run && (strncmp(s, "--color", 7) == 0 ||
                       strncmp(s, "--log-format", 12) == 0)) {
      int oc = output_opt(argc, argv, &i, a);
      if (oc < 0) return -1;
      if (oc == 0) {
        fprintf(stderr,
                "kmsmig run: unknown option %s; see `kmsmig run "
                "--help`\n",
                s);
        return -1;
      }
    } else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
      a->quiet = true;
    } else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0) {
      a->verbose++;
    } else if (s[0] == '-') {
      fprintf(stderr, "kmsmig %s: unknown option %s; see `kmsmig %s --help`\n",
              argv[0], s, argv[0]);
      return -1;
    } else if (a->manifest == NULL) {
      a->manifest = s;
    } else {
      fprintf(stderr, "kmsmig %s: one manifest only (got %s too)\n", argv[0],
              s);
      return -1;
    }
#undef NEXT
  }
  if (a->manifest == NULL) {
    fprintf(stderr, "kmsmig %s: which manifest? see `kmsmig %s --help`\n",
            argv[0], argv[0]);
    return -1;
  }
  if (a->rerun_failed && a->run_dir == NULL) {
    fprintf(stderr, "kmsmig run: --rerun-failed needs --run-dir DIR (the run "
                    "whose failed resources to retry)\n");
    return -1;
  }
  if (a->out != NULL && a->shard != NULL) {
    fprintf(stderr, "kmsmig plan: --out saves the plan of the whole fleet "
                    "(its quota totals cover every account); drop --shard "
                    "and give it to `kmsmig run --plan PLAN --shard K/N`\n");
    return -1;
  }
  /* run --quiet keeps errors only on the terminal and everything in
   * kmsmig.log; plan --quiet keeps warnings. */
  if (a->quiet && run) km_log_set_term_level(KM_LOG_ERROR);
  if (a->quiet && !run) km_log_set_level(KM_LOG_WARN);
  if (a->verbose) km_log_set_level(KM_LOG_DEBUG);
  if (a->log_json) km_log_set_format(KM_LOG_JSON);
  return 0;
}

/* The model of every pipeline (an owned array of borrowed models), with
 * the pipeline's own end added as an issue so the plan and the report show
 * it.  Called once per runtime. */
static km_inv_t **collect_invs(km_runtime_t *rt, size_t *n) {
  size_t cnt = km_engine_count(rt->engine);
  km_inv_t **invs = km_xcalloc(cnt ? cnt : 1, sizeof(*invs));
  for (size_t i = 0; i < cnt; i++) {
    km_pipeline_t *p = km_engine_pipeline(rt->engine, i);
    invs[i] = km_pipeline_inv(p);
    km_pipe_state_t st = km_pipeline_state(p);
    const km_err_t *pe = km_pipeline_error(p);
    invs[i]->incomplete = (st == KM_PIPE_FAILED || st == KM_PIPE_NOT_STARTED) &&
                          !km_pipeline_discovered(p);
    if (st == KM_PIPE_FAILED && pe != NULL) {
      char msg[900];
      snprintf(msg, sizeof(msg), "%s failed: %s",
               km_stage_name(km_pipeline_stage(p)), pe->text);
      /* Name the Code and RequestId unless the text already does. */
      if (pe->request_id[0] && strstr(msg, pe->request_id) == NULL) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof(msg) - l, " (%s, RequestId %s)",
                 pe->cloud_code, pe->request_id);
      }
      km_inv_add_issue(invs[i], "pipeline.failed", KM_VERDICT_FAILED, msg);
    } else if (st == KM_PIPE_BLOCKED && pe != NULL) {
      km_inv_add_issue(invs[i], "pipeline.blocked", KM_VERDICT_BLOCKED,
                       pe->text);
    } else if (st == KM_PIPE_NOT_STARTED &&
               km_pipeline_held(p) != KM_HELD_NONE) {
      char why[700];
      km_inv_add_issue(
          invs[i],
          km_pipeline_held(p) == KM_HELD_WINDOW ? "pipeline.waiting_window"
                                                : "pipeline.held_wave",
          KM_VERDICT_WARNING, km_waves_held_why(rt, p, why, sizeof(why)));
    } else if (st == KM_PIPE_NOT_STARTED) {
      km_inv_add_issue(invs[i], "pipeline.not_started", KM_VERDICT_FAILED,
                       rt->interrupted
                           ? "not started: the run was interrupted (a "
                             "resume starts it)"
                           : "not started: more accounts failed than "
                             "failure_tolerance allows (fix them; "
                             "--rerun-failed starts it)");
    }
  }
  *n = cnt;
  return invs;
}

/* Pipeline i's stage timeline (report meta spans_of): asked for one
 * pipeline at a time, so the report holds no copy for the whole fleet. */
static void spans_of(void *ud, size_t i, km_report_span_t *out) {
  const km_pipeline_t *p = km_engine_pipeline(ud, i);
  for (unsigned s = 0; p != NULL && s < KM_STAGE__COUNT; s++) {
    km_report_span_t *x = &out[s];
    if (km_pipeline_stage_span(p, (km_stage_t)s, &x->begin_ms, &x->end_ms,
                               &x->status))
      x->stage = km_stage_name((km_stage_t)s);
  }
}

static void free_invs(km_inv_t **invs, size_t n) {
  (void)n; /* the models belong to the engine */
  free(invs);
}

static bool any_state(km_runtime_t *rt, km_pipe_state_t s) {
  for (size_t i = 0; i < km_engine_count(rt->engine); i++)
    if (km_pipeline_state(km_engine_pipeline(rt->engine, i)) == s) return true;
  return false;
}

/* ---- plan ---- */

/* plan --out: the whole fleet's plan, or nothing.  A pipeline whose
 * discovery failed has no resources in the plan and none in the quota
 * totals, so a plan with one would let shards over-commit: not saved. */
static int save_plan(km_runtime_t *rt, const km_plan_t *plan, const char *path,
                     FILE *say) {
  if (any_state(rt, KM_PIPE_FAILED)) {
    fprintf(stderr,
            "kmsmig plan: %s not saved: some accounts or regions could not "
            "be discovered (see above), so the plan and its quota totals "
            "would miss them; fix that and re-run kmsmig plan --out\n",
            path);
    return KM_EXIT_FAILURES;
  }
  char hash[65];
  if (km_runplan_manifest_hash(rt->m, hash) < 0) {
    fprintf(stderr, "kmsmig plan: cannot hash the manifest files\n");
    return KM_EXIT_INTERNAL;
  }
  json_t *j = NULL;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km_plan_render_saved(plan, hash, (int64_t)time(NULL), &j, &err) < 0 ||
      km_planfile_write(j, path, &err) < 0) {
    fprintf(stderr, "kmsmig plan: %s not saved: %s\n", path, err.text);
    json_decref(j);
    return KM_EXIT_INTERNAL;
  }
  size_t blocked = 0, ready = 0;
  for (size_t i = 0; i < plan->ninvs; i++) {
    const char *st = km_plan_status(plan->invs[i]);
    blocked += strcmp(st, "blocked") == 0;
    ready += strcmp(st, "ready") == 0;
  }
  json_decref(j);
  fprintf(say,
          "\nsaved plan %s: %zu accounts × regions, %zu ready, %zu blocked "
          "(a blocked one is not run)\nrun it: kmsmig run %s --plan %s "
          "[--shard K/N] --yes\n",
          path, plan->ninvs, ready, blocked, plan->manifest_path, path);
  return KM_EXIT_OK;
}

static int do_plan(const args_t *a, bool for_run, bool *blocked_out) {
  km_runtime_opts_t o = {.manifest_path = a->manifest,
                         .mode = KM_MODE_PLAN,
                         .plugins_dir = a->plugins_dir,
                         .allow_include_outside = a->allow_include_outside,
                         .shard = a->shard,
                         .plan_path = for_run ? a->plan : NULL,
                         .quiet = a->quiet};
  if (a->shard != NULL && a->plan == NULL)
    fprintf(stderr,
            "kmsmig plan: --shard %s: the quota of each instance is "
            "checked for this shard's accounts only; shards of one "
            "run share one check through `kmsmig plan --out PLAN` "
            "and `kmsmig run --plan PLAN --shard K/N`\n",
            a->shard);
  km_runtime_t *rt;
  int ec = km_runtime_new(&o, &rt);
  if (ec != 0) return ec;
  if (!a->verbose && !for_run) km_log_set_level(KM_LOG_WARN);
  int rc = km_runtime_run(rt);
  if (rc < 0) {
    fprintf(stderr, "kmsmig plan: %s\n", km_strerror(rc));
    km_runtime_free(rt);
    return KM_EXIT_INTERNAL;
  }
  size_t n;
  km_inv_t **invs = collect_invs(rt, &n);
  /* What the hooks decided (the migrate stage's hook notes). */
  const char **notes = km_xcalloc(n + 1, sizeof(*notes));
  size_t nnotes = 0;
  for (size_t i = 0; i < n; i++) {
    const km_inv_strs_t *hn = &invs[i]->hook_notes;
    for (size_t k = 0; k < hn->n; k++) {
      notes = km_xrealloc(notes, (nnotes + 2) * sizeof(*notes));
      notes[nnotes++] = hn->v[k];
    }
  }
  km_plan_t plan = {.name = rt->m->name,
                    .manifest_path = a->manifest,
                    .invs = invs,
                    .ninvs = n,
                    .quota = rt->quota,
                    .nquota = rt->nquota,
                    .notes = notes,
                    .nnotes = nnotes};
  km_err_t err;
  ec = KM_EXIT_OK;
  if (strcmp(a->output, "json") == 0 && !for_run) {
    json_t *j = NULL;
    if (km_plan_render_json(&plan, &j, &err) == 0) {
      km_waves_plan_json(rt, j);
      char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
      puts(text);
      free(text);
      json_decref(j);
    }
  } else {
    km_buf_t b;
    km_buf_init(&b);
    if (km_plan_render_text(&plan, &b, &err) == 0) {
      km_waves_plan_text(rt, &b);
      km_text_fputs(b.data, stdout); /* names came from the server */
    }
    km_buf_free(&b);
  }
  if (any_state(rt, KM_PIPE_FAILED))
    ec = KM_EXIT_FAILURES;
  else if (!for_run && any_state(rt, KM_PIPE_BLOCKED))
    ec = KM_EXIT_BLOCKED; /* a run would refuse these pipelines */
  if (a->out != NULL && !for_run) {
    /* stdout stays one JSON document with --output json. */
    int sc = save_plan(rt, &plan, a->out,
                       strcmp(a->output, "json") == 0 ? stderr : stdout);
    if (sc != KM_EXIT_OK) ec = sc;
  }
  if (a->export_fixture != NULL && !for_run) {
    FILE *say = strcmp(a->output, "json") == 0 ? stderr : stdout;
    memset(&err, 0, sizeof(err));
    if (km_export_fixture(rt, invs, n, a->export_fixture, &err) < 0) {
      fprintf(stderr, "kmsmig plan: %s\n", err.text);
      ec = KM_EXIT_FAILURES;
    } else {
      fprintf(say,
              "\nexported fixture %s (0600): %zu accounts, %zu accounts × "
              "regions, metadata only, test-only AccessKeys\nrehearse it: "
              "kmsmig rehearse %s --fixture %s\n",
              a->export_fixture, rt->naccts, n, a->manifest, a->export_fixture);
    }
  }
  if (blocked_out != NULL) *blocked_out = any_state(rt, KM_PIPE_BLOCKED);
  free(notes); /* the strings are the models' (hook_notes) */
  free_invs(invs, n);
  km_runtime_free(rt);
  return ec;
}

void km__usage_plan(void) {
  printf(
      "usage: kmsmig plan MANIFEST [--output text|json] [--out PLAN]\n"
      "                   [--export-fixture FILE] [--shard K/N] "
      "[--plugins-dir DIR]\n                   [-q] [-v]\n\n"
      "Discovers every account and region of MANIFEST and prints what a run "
      "would\nmigrate, skip or refuse, with the reason and the fix for each. "
      "Read-only:\nwrite actions are refused, so a plan can change nothing.\n\n"
      "--out PLAN saves the plan of the whole fleet (resources, batches, "
      "quota\ntotals per instance, manifest hash; docs/plan.md) for `kmsmig "
      "run --plan\nPLAN [--shard K/N]`; not with --shard, and not when some "
      "account failed.\n\n"
      "--allow-include-outside lets account includes resolve outside the "
      "manifest's\ndirectory tree and the working directory (refused by "
      "default).\n\n"
      "exit: 0 planned (blocked resources are shown, not an error), 1 some "
      "account or\nregion could not be discovered, 2 usage or manifest "
      "error, 3 some account and\nregion is blocked by preflight (a run "
      "would not start it).\n");
}

int km__plan_export(const char *manifest, const char *fixture,
                    const char *plugins_dir, bool allow_include_outside) {
  args_t a = {.manifest = manifest,
              .output = "text",
              .export_fixture = fixture,
              .plugins_dir = plugins_dir,
              .allow_include_outside = allow_include_outside};
  return do_plan(&a, false, NULL);
}

int km__cmd_plan(int argc, char **argv) {
  args_t a;
  int r = parse_args(argc, argv, &a, false, km__usage_plan);
  if (r != 0) return r > 0 ? KM_EXIT_OK : KM_EXIT_USAGE;
  return do_plan(&a, false, NULL);
}

/* ---- run ---- */

static bool confirm(void) {
  printf("\nProceed with the run? [y/N] ");
  fflush(stdout);
  char line[16];
  if (fgets(line, sizeof(line), stdin) == NULL) return false;
  return line[0] == 'y' || line[0] == 'Y';
}

void km__usage_run(void) {
  printf(
      "usage: kmsmig run MANIFEST [--yes] [--run-dir DIR] [--rerun-failed]\n"
      "                  [--plan PLAN [--shard K/N]] [--plugins-dir DIR] "
      "[--break-lock]\n"
      "                  [--auto-advance] [--advance]\n"
      "                  [--color auto|always|never] [--log-format text|json] "
      "[-q] [-v]\n\n"
      "Migrates keys and secrets as planned: discover, preflight, prepare\n"
      "(instance sharing, rotation off), migrate in batches of at most 50 "
      "keys and\n50 secrets, restore rotation exactly, verify.  On a TTY it "
      "shows the plan and\nasks first unless --yes; elsewhere --yes is "
      "required.\n\n"
      "The run directory (default runs/<name>-<UTC time>) holds the manifest "
      "copy\nand hash, versions, the journal, the log and report.json.  "
      "`--run-dir DIR`\non an existing run resumes it: no batch is submitted "
      "twice and every rotation\npolicy turned off is restored.  "
      "--rerun-failed retries what did not finish:\nfailed or "
      "not-started pipelines whole, else the failed resources.\n\n"
      "--plan PLAN (from `kmsmig plan --out`) migrates only what PLAN "
      "planned, and\nrefuses, before any change, a plan whose manifest or "
      "cloud state changed.\n--shard K/N runs the K-th of N parts of PLAN "
      "(the plan's accounts in name\norder, every N-th); it needs --plan.\n\n"
      "With locks.dir in the manifest, each account × region is locked for "
      "the run\n(docs/plan.md, \"Locks\"): a run over one another run "
      "holds is refused, exit 5,\nnaming that run.  --break-lock takes the "
      "locks over after a confirmation\n(or --yes) and journals it.\n\n"
      "With `waves:` in the manifest (docs/waves.md) accounts are prepared "
      "wave by\nwave; between waves a gate: a prompt on a terminal, "
      "--auto-advance after a\nclean wave (no failed or blocked pipeline, "
      "no \"act\" finding), --advance\npasses the next gate whatever the "
      "wave's outcome; else the run stops\n(exit 6) and says how to go on.  "
      "An account outside its `windows:` is\nnot prepared: it waits, "
      "untouched (exit 7), and a later resume migrates it.\n\n"
      "With migrate.driver: console the console steps are in the run "
      "directory's\nworklist.md, worklist.html and worklist.json "
      "(docs/worklist.md).  SIGINT or\nSIGTERM ends waits for the operator "
      "or a scheduled time at once, restores\nrotation and exits 4.\n\n"
      "Output (docs/cli.md): on a terminal one live status block (with "
      "colour off,\none status line, no escape sequence); otherwise a "
      "progress line at most\nevery 10 s and one per pipeline that fails or "
      "is blocked.  --color auto\nhonours NO_COLOR and TERM=dumb.  "
      "--log-format json: one JSON object per line\non stdout and in "
      "kmsmig.log.  -q: errors and the summary only.\n\n"
      "exit: 0 done, 1 finished with failures, 2 usage or manifest error, 3 "
      "blocked\nby preflight (nothing changed), 4 interrupted (resumable), 5 "
      "locked by\nanother run (nothing changed), 6 stopped at a wave gate "
      "(resumable), 7 accounts\nwait for their migration window.\n");
}

/* An error of run itself: text on stderr, or a JSON record. */
static void run_error(const args_t *a, const char *fmt, const char *what)
    KM_PRINTF(2, 0);
static void run_error(const args_t *a, const char *fmt, const char *what) {
  if (a->log_json) {
    km_log(KM_LOG_ERROR, fmt, what);
    return;
  }
  fprintf(stderr, fmt, what);
  fputc('\n', stderr);
}

/* The exit code of a run from its report's totals. */
static int run_exit_code(const km_runtime_t *rt, const json_t *rep) {
  const json_t *t = json_object_get(rep, "totals");
  json_int_t failed = km__jint(t, "accounts", "failed") +
                      km__jint(t, "accounts", "not_started");
  json_int_t blocked = km__jint(t, "accounts", "blocked");
  json_int_t ok = km__jint(t, "accounts", "ok");
  json_int_t unrestored = km__jint(t, "rotation", "not_restored");
  if (rt->interrupted) return KM_EXIT_INTERRUPTED;
  if (failed > 0 || unrestored > 0) return KM_EXIT_FAILURES;
  if (blocked > 0 && ok == 0) return KM_EXIT_BLOCKED;
  if (blocked > 0) return KM_EXIT_FAILURES;
  return KM_EXIT_OK;
}

/* report.json, then the summary (text, or one JSON object), the advice,
 * the console steps still open, and report.html and report.md; returns the
 * exit code. */
static int run_finish(const args_t *a, km_runtime_t *rt, km_progress_t *pg,
                      int64_t started, double secs) {
  bool json = km_progress_is_json(pg);
  bool rehearsal = rt->rehearse != NULL;
#ifdef __GLIBC__
  /* The last pipelines' working memory (Lua states, replies: up to 63 of
   * them since the engine's last trim) is free but still resident; give it
   * back before the end-of-run files, which allocate next to every model,
   * so their working set does not stack on it (the peak of a 10,000
   * pipeline run was here). */
  malloc_trim(0);
#endif
  size_t n;
  km_inv_t **invs = collect_invs(rt, &n);
  /* observe.json first: the report copies its findings. */
  char generated[21];
  bool observed = km__observe_after_run(rt, invs, n, generated);
  /* The Terraform hand-off: its files are written while the journal is
   * read, and before report.json, which lists what exists. */
  km_tf_set_t tf;
  km__tf_handoff_t tfh;
  km__terraform_handoff_start(&tfh, invs, n, rt->rd.dir, &tf);
  km_report_extra_t *extra = NULL;
  km_err_t err;
  int wrc = km_report_extra_load_run(rt->rd.dir, observed ? generated : NULL,
                                     &extra, &err);
  bool tf_failed = km__terraform_handoff_wait(&tfh) != 0;
  km_report_meta_t meta = {.name = rt->m->name,
                           .run_dir = rt->rd.dir,
                           .tool_version = KM_VERSION_STRING,
                           .manifest_hash = rt->rd.hash,
                           .started = started,
                           .finished = (int64_t)time(NULL),
                           .plan_sha256 =
                               rt->plan != NULL ? rt->plan->file_sha256 : NULL,
                           .shard_k = a->shard != NULL ? rt->shard_k : 0,
                           .shard_n = a->shard != NULL ? rt->shard_n : 0,
                           .spans_of = spans_of,
                           .spans_ud = rt->engine,
                           .extra = extra,
                           .rehearsal = rehearsal};
  json_t *rep = NULL;
  int ec = KM_EXIT_OK;
  /* report.html and report.md from the report's objects as they are
   * written; their files once report.json is. */
  km_report_batches_t batches = {0, 0};
  km__report_docs_t *docs =
      km__report_docs_new(rt->rd.dir, &batches, km_tf_report_head(&tf));
  km_tf_report_t tfr = {&tf, km__report_docs_tf, docs};
  km_waves_tail_t wt = {rt, km_tf_report_field, &tfr};
  meta.tail = km_waves_report_tail;
  meta.tail_ud = &wt;
  meta.on_head = km__report_docs_head;
  meta.on_pipe = km__report_docs_pipe;
  meta.on_ud = docs;
  char *path = km_xasprintf("%s/report.json", rt->rd.dir);
  if (wrc == 0)
    wrc = km_report_write_run(&meta, invs, n, path, &rep, &batches, &err);
  free(path);
  km_report_extra_free(extra);
  if (wrc == 0) {
    ec = km_waves_finish(rt, run_exit_code(rt, rep), false);
    if (ec == KM_EXIT_OK && tf_failed) ec = KM_EXIT_INTERNAL;
    if (json) {
      km_progress_summary_json(pg, rep, rt->rd.dir, secs, ec);
    } else {
      if (rehearsal)
        printf("REHEARSAL against kmsim (a copy of the fleet on loopback; "
               "nothing real was changed)\n");
      km__print_summary(rep, rt->rd.dir, secs);
      if (observed) km__observe_print_run(rt, invs, n);
      km__terraform_print(&tf);
      if (a->plan != NULL) km__print_plan_notes(invs, n, a->manifest, a->plan);
      if (!rehearsal) /* a rehearsal is not resumed: kmsim is gone */
        km__print_advice(ec, rep, a->manifest, rt->rd.dir, a->plan, a->shard);
      km_waves_finish(rt, ec, true);
    }
    json_decref(rep);
  } else {
    run_error(a, "kmsmig run: report: %s", err.text);
    ec = KM_EXIT_INTERNAL;
  }
  km_tf_set_free(&tf);
  /* The console steps still open: they are listed again on resume (JSON:
   * in worklist.json and `kmsmig status`). */
  km_runtime_worklist_flush(rt);
  if (!json && km_worklist_print_pending(&rt->wl, stdout) > 0 && !rehearsal)
    printf("come back and run `kmsmig run %s --run-dir %s --yes`: it turns "
           "rotation off again and waits for these steps (%s/worklist.md)\n",
           a->manifest, rt->rd.dir, rt->rd.dir);
  free_invs(invs, n);
  if (wrc == 0 && km__report_docs_end(docs, &err) < 0) {
    run_error(a, "kmsmig run: %s", err.text);
    if (ec == KM_EXIT_OK) ec = KM_EXIT_INTERNAL;
  }
  km__report_docs_free(docs);
  return ec;
}

/* `kmsmig run --run-dir` refuses a rehearsal's directory: its journal is of
 * kmsim, not of the cloud. */
static bool rehearsal_dir(const char *run_dir) {
  if (run_dir == NULL) return false;
  char *mark = km_xasprintf("%s/REHEARSAL", run_dir);
  bool rehearsed = access(mark, F_OK) == 0;
  free(mark);
  if (rehearsed)
    fprintf(stderr,
            "kmsmig run: %s is a rehearsal's run directory (its journal is "
            "of kmsim, not of the cloud); run without --run-dir, or with a "
            "new one\n",
            run_dir);
  return rehearsed;
}

static void mark_rehearsal(const km_runtime_t *rt) {
  static const char note[] = "a kmsmig rehearsal against kmsim "
                             "(docs/rehearse.md); never resume it with "
                             "kmsmig run\n";
  char *mark = km_xasprintf("%s/REHEARSAL", rt->rd.dir);
  int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, note, sizeof(note) - 1) < 0)
    km_log(KM_LOG_WARN, "rehearsal: cannot write %s", mark);
  if (fd >= 0) close(fd);
  free(mark);
}

int km__cmd_run(int argc, char **argv) {
  args_t a;
  int r = parse_args(argc, argv, &a, true, km__usage_run);
  if (r != 0) return r > 0 ? KM_EXIT_OK : KM_EXIT_USAGE;
  if (!a.yes) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
      fprintf(stderr, "kmsmig run: not a terminal, so nobody can confirm; "
                      "pass --yes (after `kmsmig plan`) to run\n");
      return KM_EXIT_USAGE;
    }
    int ec = do_plan(&a, true, NULL);
    if (ec == KM_EXIT_USAGE || ec == KM_EXIT_INTERNAL) return ec;
    if (!confirm()) {
      printf("nothing was changed\n");
      return KM_EXIT_OK;
    }
  }
  if (rehearsal_dir(a.run_dir)) return KM_EXIT_USAGE;
  km_runtime_opts_t o = {.manifest_path = a.manifest,
                         .mode = KM_MODE_RUN,
                         .run_dir = a.run_dir,
                         .plugins_dir = a.plugins_dir,
                         .allow_include_outside = a.allow_include_outside,
                         .shard = a.shard,
                         .quiet = a.quiet,
                         .rerun_failed = a.rerun_failed,
                         .plan_path = a.plan,
                         .break_lock = a.break_lock,
                         .yes = a.yes,
                         .auto_advance = a.auto_advance,
                         .advance = a.advance};
  km_progress_opts_t po = {a.color, a.log_json, a.quiet};
  return km__run_migration(&o, &po, a.verbose > 0, NULL);
}

int km__run_migration(const km_runtime_opts_t *op, const km_progress_opts_t *po,
                      bool verbose, double *wall_s) {
  km_runtime_opts_t o = *op;
  args_t a = {.manifest = o.manifest_path,
              .plan = o.plan_path,
              .shard = o.shard,
              .verbose = verbose,
              .log_json = po->json};
  km_progress_t *pg = km_progress_new(po);
  km_run_view_t view;
  km_progress_view(pg, &view);
  o.view = &view;
  km_runtime_t *rt;
  int ec = km_runtime_new(&o, &rt);
  if (ec != 0) {
    km_progress_close(pg); /* never started: freed at once */
    return ec;
  }
  if (o.rehearse != NULL) mark_rehearsal(rt);
  if (rt->log != NULL && !a.verbose) km_log_set_file(rt->log);
  uint64_t t0 = km_now_ms();
  int64_t started = (int64_t)time(NULL);
  int rc = km_progress_start(pg, rt);
  if (rc == 0) rc = km_runtime_run(rt);
  km_log_set_file(NULL);
  km_progress_finish(pg); /* the summary replaces the live view */
  if (rc < 0) {
    run_error(&a, "kmsmig run: %s", km_strerror(rc));
    km_progress_close(pg);
    km_runtime_free(rt);
    return KM_EXIT_INTERNAL;
  }
  double secs = (double)(km_now_ms() - t0) / 1000.0;
  if (wall_s != NULL) *wall_s = secs;
  ec = run_finish(&a, rt, pg, started, secs);
  bool json = km_progress_is_json(pg);
  km_progress_close(pg);
  km_runtime_free(rt);
  if (!json) printf("exit %d\n", ec);
  return ec;
}
