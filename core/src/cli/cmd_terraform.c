/* `kmsmig terraform RUN_DIR`: writes the Terraform changes of a finished
 * run again, from its report.json (docs/terraform.md), into RUN_DIR/terraform
 * or --out DIR, in either style; and the hand-off at the end of `kmsmig
 * run`.  Reads only the report: no cloud call, no manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "run/terraform.h"
#include "util/util.h"

static void write_files(void *arg) {
  km__tf_handoff_t *h = arg;
  memset(&h->err, 0, sizeof(h->err));
  h->rc = km_tf_write(h->tf, h->out, KM_TF_ATTRIBUTE, &h->err);
}

void km__terraform_handoff_start(km__tf_handoff_t *h, km_inv_t *const *invs,
                                 size_t n, const char *dir,
                                 struct km_tf_set_s *tf) {
  memset(h, 0, sizeof(*h));
  h->tf = tf;
  h->dir = km_xstrdup(dir);
  h->out = km_xasprintf("%s/terraform", dir);
  km_tf_set_init(tf);
  /* On this thread: collecting may log (a key without an instance id). */
  km_tf_collect(tf, invs, n);
  h->threaded = uv_thread_create(&h->thread, write_files, h) == 0;
  if (!h->threaded) write_files(h);
}

int km__terraform_handoff_wait(km__tf_handoff_t *h) {
  if (h->threaded) uv_thread_join(&h->thread);
  if (h->rc < 0)
    fprintf(stderr,
            "kmsmig run: Terraform files not written: %s\n"
            "  the migration itself is unaffected; fix that, then write "
            "them with `kmsmig terraform %s` (or `--out DIR` elsewhere)\n",
            h->err.text, h->dir);
  free(h->out);
  free(h->dir);
  h->out = h->dir = NULL;
  return h->rc;
}

void km__terraform_print(const struct km_tf_set_s *tf) {
  if (tf->written_dir != NULL && tf->n > 0)
    printf("terraform %s/*.tf: %zu keys and secrets need a change in your "
           "Terraform configuration (docs/terraform.md)\n",
           tf->written_dir, tf->n);
}

void km__usage_terraform(void) {
  printf(
      "usage: kmsmig terraform RUN_DIR [--out DIR] [--style attribute|ignore]\n"
      "\n"
      "Writes, from RUN_DIR/report.json, the change each migrated key and "
      "secret\nneeds in a Terraform configuration that uses the alicloud "
      "provider, one\nready-to-review file per account: ACCOUNT.tf, "
      "ACCOUNT.imports.tf (Terraform\n>= 1.5 import blocks) and "
      "ACCOUNT.imports.txt (`terraform import` commands).\n`kmsmig run` "
      "writes them into RUN_DIR/terraform already; this writes them\nagain, "
      "elsewhere (--out DIR, created 0700) or in the other style:\n\n"
      "  attribute  add dkms_instance_id = \"kst-...\" (alicloud provider >= "
      "1.183.0;\n             the default)\n"
      "  ignore     lifecycle { ignore_changes = [dkms_instance_id, ...] } "
      "(keeps\n             the configuration; alicloud provider <= "
      "1.235.0)\n\n"
      "No cloud call, no secret value.  exit: 0 written, 2 usage error or a "
      "report\nwithout the Terraform section, 70 the files could not be "
      "written.\n");
}

int km__cmd_terraform(int argc, char **argv) {
  const char *run_dir = NULL, *out = NULL, *style = "attribute";
  for (int i = 1; i < argc; i++) {
    if (km__is_help(argv[i])) {
      km__usage_terraform();
      return KM_EXIT_OK;
    }
    if ((strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "--style") == 0) &&
        i + 1 >= argc) {
      fprintf(stderr, "kmsmig terraform: %s needs a value\n", argv[i]);
      return KM_EXIT_USAGE;
    }
    if (strcmp(argv[i], "--out") == 0)
      out = argv[++i];
    else if (strcmp(argv[i], "--style") == 0)
      style = argv[++i];
    else if (argv[i][0] == '-' || run_dir != NULL) {
      fprintf(stderr,
              "kmsmig terraform: unexpected %s; see `kmsmig "
              "terraform --help`\n",
              argv[i]);
      return KM_EXIT_USAGE;
    } else
      run_dir = argv[i];
  }
  if (run_dir == NULL ||
      (strcmp(style, "attribute") != 0 && strcmp(style, "ignore") != 0)) {
    fprintf(stderr, "kmsmig terraform: %s; see `kmsmig terraform --help`\n",
            run_dir == NULL ? "which run directory?"
                            : "--style takes attribute or ignore");
    return KM_EXIT_USAGE;
  }
  char *path = km_xasprintf("%s/report.json", run_dir);
  json_error_t je;
  json_t *rep = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (rep == NULL) {
    fprintf(stderr,
            "kmsmig terraform: %s: %s (is %s a finished run "
            "directory?)\n",
            path, je.text, run_dir);
    free(path);
    return KM_EXIT_USAGE;
  }
  km_tf_set_t tf;
  km_tf_set_init(&tf);
  km_err_t err;
  memset(&err, 0, sizeof(err));
  char *dir =
      out != NULL ? km_xstrdup(out) : km_xasprintf("%s/terraform", run_dir);
  int ec = KM_EXIT_OK;
  if (km_tf_from_report(&tf, rep, &err) < 0) {
    fprintf(stderr, "kmsmig terraform: %s: %s\n", path, err.text);
    ec = KM_EXIT_USAGE;
  } else if (km_tf_write(&tf, dir,
                         strcmp(style, "ignore") == 0 ? KM_TF_IGNORE
                                                      : KM_TF_ATTRIBUTE,
                         &err) < 0) {
    fprintf(stderr,
            "kmsmig terraform: %s (fix that, or give another "
            "directory with --out DIR)\n",
            err.text);
    ec = KM_EXIT_INTERNAL;
  } else {
    printf("terraform: %zu keys and secrets, style %s: review %s/*.tf\n", tf.n,
           style, dir);
  }
  free(dir);
  free(path);
  km_tf_set_free(&tf);
  json_decref(rep);
  return ec;
}
