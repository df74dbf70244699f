/* `kmsmig report RUN_DIR... [--output text|json|html|md] [--out FILE]`:
 * renders a finished run's report, or one report merged from many run
 * directories (the shards of one saved plan), as the end-of-run text,
 * report.json, report.html or report.md (docs/report.md).
 *
 * Each run directory's report.json is read whole; its observe.json, when
 * there is one, replaces the report's observations (`kmsmig observe
 * RUN_DIR` may have measured again after the run).  Merging refuses run
 * directories of different manifests or plans unless --allow-mixed, and
 * always refuses a pipeline given twice: totals that add up are the point
 * of a merged report.  Also: report.html and report.md at the end of
 * `kmsmig run` (km__report_docs_*). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/report.h"
#include "util/util.h"

void km__usage_report(void) {
  printf(
      "usage: kmsmig report RUN_DIR... [--output text|json|html|md] [--out "
      "FILE]\n"
      "                     [--allow-mixed]\n\n"
      "Renders a finished run's report (report.json; schema in "
      "docs/report.md and\ndocs/report.schema.json): text (the end-of-run "
      "summary), json, html (one\nself-contained page) or md (tables for a "
      "ticket).  --out FILE writes it there\n(mode 0600) instead of standard "
      "output; not with text.\n\n"
      "Several RUN_DIRs (the shards of one saved plan: `kmsmig run --plan "
      "PLAN\n--shard K/N`) merge into one report whose totals add up.  Run "
      "directories of\ndifferent manifests or plans are refused unless "
      "--allow-mixed; the same\naccount and region in two of them always "
      "is.\n\n"
      "exit: 0 rendered, 2 usage error, a report that cannot be read, or "
      "reports that\ndo not merge.\n");
}

/* dir's report.json with its observe.json applied (new reference), or
 * NULL after printing why. */
static json_t *load_one(const char *dir) {
  char *path = km_xasprintf("%s/report.json", dir);
  json_error_t je;
  json_t *rep = json_load_file(path, 0, &je);
  if (rep == NULL) {
    char at[24] = "";
    if (je.line > 0) snprintf(at, sizeof(at), ":%d", je.line);
    fprintf(stderr,
            "kmsmig report: %s%s: %s (is %s the run directory of a "
            "finished `kmsmig run`?)\n",
            path, at, je.text, dir);
    free(path);
    return NULL;
  }
  json_int_t v = json_integer_value(json_object_get(rep, "report_version"));
  if (v < 1 || v > KM_REPORT_VERSION ||
      !json_is_array(json_object_get(rep, "pipelines"))) {
    fprintf(stderr,
            "kmsmig report: %s: report_version %lld is not one this kmsmig "
            "reads (1 to %d); use the kmsmig that wrote it\n",
            path, (long long)v, KM_REPORT_VERSION);
    json_decref(rep);
    free(path);
    return NULL;
  }
  free(path);
  km_report_extra_t *x = NULL;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km_report_extra_load(dir, false, &x, &err) < 0) {
    fprintf(stderr, "kmsmig report: %s\n", err.text);
    json_decref(rep);
    return NULL;
  }
  if (km_report_extra_observed(x)) {
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "pipelines"), i, p)
        km_report_extra_apply(x, NULL, p, true);
    json_object_set_new(rep, "observed", json_true());
    km_report_retotal(rep);
  }
  km_report_extra_free(x);
  return rep;
}

/* The report of every dir merged into one (new reference), or NULL after
 * printing why. */
static json_t *load_all(char **dirs, size_t n, bool allow_mixed) {
  json_t **v = km_xcalloc(n, sizeof(*v));
  json_t *out = NULL;
  km_err_t err;
  memset(&err, 0, sizeof(err));
  size_t i;
  for (i = 0; i < n; i++)
    if ((v[i] = load_one(dirs[i])) == NULL) goto done;
  /* Every one against the first, before any merge changes it. */
  for (i = 1; i < n; i++)
    for (size_t k = 0; k < i; k++)
      if (km_report_merge_check(v[k], v[i], allow_mixed, &err) < 0) {
        fprintf(stderr, "kmsmig report: %s\n", err.text);
        goto done;
      }
  for (i = 1; i < n; i++)
    if (km_report_merge(v[0], v[i], &err) < 0) {
      fprintf(stderr,
              "kmsmig report: %s (%s): give each run directory once; a "
              "pipeline that ran twice is in the later run's report alone\n",
              err.text, dirs[i]);
      goto done;
    }
  out = json_incref(v[0]);
done:
  for (i = 0; i < n; i++)
    json_decref(v[i]);
  free(v);
  return out;
}

static int render(const json_t *rep, const char *output, km_buf_t *b,
                  km_err_t *err) {
  if (strcmp(output, "html") == 0) return km_report_render_html(rep, b, err);
  if (strcmp(output, "md") == 0) return km_report_render_md(rep, b, err);
  char *t = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);
  km_buf_puts(b, t);
  km_buf_putc(b, '\n');
  free(t);
  return 0;
}

int km__cmd_report(int argc, char **argv) {
  const char *output = "text", *out = NULL;
  bool allow_mixed = false;
  char **dirs = km_xcalloc((size_t)argc, sizeof(*dirs));
  size_t n = 0;
  int ec = KM_EXIT_USAGE;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (km__is_help(s)) {
      km__usage_report();
      free(dirs);
      return KM_EXIT_OK;
    }
    if ((strcmp(s, "--output") == 0 || strcmp(s, "-o") == 0 ||
         strcmp(s, "--out") == 0) &&
        i + 1 >= argc) {
      fprintf(stderr, "kmsmig report: %s needs a value\n", s);
      goto done;
    }
    if (strcmp(s, "--output") == 0 || strcmp(s, "-o") == 0) {
      output = argv[++i];
      if (strcmp(output, "text") != 0 && strcmp(output, "json") != 0 &&
          strcmp(output, "html") != 0 && strcmp(output, "md") != 0) {
        fprintf(stderr,
                "kmsmig report: --output takes text, json, html or md\n");
        goto done;
      }
    } else if (strcmp(s, "--out") == 0) {
      out = argv[++i];
    } else if (strcmp(s, "--allow-mixed") == 0) {
      allow_mixed = true;
    } else if (s[0] == '-') {
      fprintf(stderr,
              "kmsmig report: unknown option %s; see `kmsmig report "
              "--help`\n",
              s);
      goto done;
    } else {
      dirs[n++] = argv[i];
    }
  }
  if (n == 0) {
    km__usage_report();
    goto done;
  }
  if (out != NULL && strcmp(output, "text") == 0) {
    fprintf(stderr, "kmsmig report: --out writes json, html or md; add "
                    "--output html (or json, md)\n");
    goto done;
  }
  json_t *rep = load_all(dirs, n, allow_mixed);
  if (rep == NULL) goto done;
  ec = KM_EXIT_OK;
  if (strcmp(output, "text") == 0) {
    char label[64];
    snprintf(label, sizeof(label), "%s and %zu more", dirs[0], n - 1);
    km__print_summary(rep, n == 1 ? dirs[0] : label,
                      json_number_value(json_object_get(rep, "duration_s")));
  } else {
    km_buf_t b;
    km_buf_init(&b);
    km_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = render(rep, output, &b, &err);
    if (rc == 0 && out != NULL)
      rc = km_report_write_text(out, b.data, b.len, &err);
    else if (rc == 0 && fwrite(b.data, 1, b.len, stdout) != b.len)
      rc = KM_EIO;
    if (rc < 0) {
      fprintf(stderr, "kmsmig report: %s\n",
              err.text[0] ? err.text : km_strerror(rc));
      ec = KM_EXIT_INTERNAL;
    }
    km_buf_free(&b);
  }
  json_decref(rep);
done:
  free(dirs);
  return ec;
}

/* ---- report.html and report.md at the end of a run ---- */

/* Rendered from the report's objects as km_report_write_run writes them
 * (P1: report.json is 11.8 MB for 200 pipelines, and reading it back was
 * most of the documents' cost: ~0.4 s of the run's end); the same documents
 * as `kmsmig report RUN_DIR --output html|md` (tests/integration/
 * report_html.sh compares them byte for byte). */
enum { KIND_HTML, KIND_MD, NKINDS };
static const char *const kinds[NKINDS] = {"html", "md"};

struct km__report_docs_s {
  char *dir;
  const km_report_batches_t *b;
  json_t *tf;   /* the head's "terraform" (own reference) */
  json_t *head; /* the renderers' head (own) */
  km_report_render_t *r[NKINDS];
  int rc; /* the first failure: the documents are not written */
  km_err_t err;
};

km__report_docs_t *
km__report_docs_new(const char *dir, const km_report_batches_t *b, json_t *tf) {
  km__report_docs_t *d = km_xcalloc(1, sizeof(*d));
  d->dir = km_xstrdup(dir);
  d->b = b;
  d->tf = tf;
  return d;
}

void km__report_docs_head(const json_t *head, void *ud) {
  km__report_docs_t *d = ud;
  if (d->rc < 0 || d->head != NULL) return;
  /* A copy: the renderers keep it, with the hand-off the file lists after
   * the pipelines. */
  d->head = json_copy((json_t *)head);
  if (d->tf != NULL) json_object_set(d->head, "terraform", d->tf);
  for (size_t k = 0; d->rc == 0 && k < NKINDS; k++)
    d->rc = km_report_render_begin(kinds[k], d->head, d->b->n,
                                   d->b->max_batch_s, &d->r[k], &d->err);
}

/* The first failure of renderer k stops both documents (rc < 0). */
static void rendered(km__report_docs_t *d, size_t k, int rc) {
  if (rc < 0)
    d->rc =
        km__err_set(&d->err, KM_EIO, "report.%s: cannot write a section: %s",
                    kinds[k], strerror(errno));
}

void km__report_docs_pipe(const json_t *p, size_t i, void *ud) {
  km__report_docs_t *d = ud;
  for (size_t k = 0; d->rc == 0 && d->head != NULL && k < NKINDS; k++)
    rendered(d, k, km_report_render_pipeline(d->r[k], p, i));
}

void km__report_docs_tf(const json_t *res, void *ud) {
  km__report_docs_t *d = ud;
  for (size_t k = 0; d->rc == 0 && d->head != NULL && k < NKINDS; k++)
    rendered(d, k, km_report_render_tf(d->r[k], res));
}

static int fill_render(FILE *out, void *ud) {
  return km_report_render_end(ud, out);
}

int km__report_docs_end(km__report_docs_t *d, km_err_t *err) {
  if (d->rc < 0) {
    *err = d->err;
    return d->rc;
  }
  if (d->head == NULL)
    return km__err_set(err, KM_EINVAL, "report: no head was written");
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < NKINDS; k++) {
    char *out = km_xasprintf("%s/report.%s", d->dir, kinds[k]);
    rc = km_report_write_with(out, fill_render, d->r[k], err);
    free(out);
  }
  return rc;
}

void km__report_docs_free(km__report_docs_t *d) {
  if (d == NULL) return;
  for (size_t k = 0; k < NKINDS; k++)
    km_report_render_free(d->r[k]);
  json_decref(d->head);
  json_decref(d->tf);
  free(d->dir);
  free(d);
}
