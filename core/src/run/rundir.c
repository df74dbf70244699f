/* The run directory: what makes a run reproducible and resumable.  It holds
 * a copy of every manifest file read and their hash, the tool and plugin
 * versions, the journal (the source of truth for resume), the log and the
 * report.  Resuming refuses a manifest that changed since the run began:
 * the journal's records only mean something against the same selection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "journal/journal.h"
#include "run/rundir.h"
#include "kmsmig/plugin.h"
#include "kmsmig/version.h"
#include "util/util.h"

static int mkdir_p(const char *path) {
  char *p = km_xstrdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, 0700) < 0 && errno != EEXIST) {
      free(p);
      return -errno;
    }
    *s = '/';
  }
  int rc = mkdir(p, 0700) < 0 && errno != EEXIST ? -errno : 0;
  free(p);
  return rc;
}

static int read_file(const char *path, km_buf_t *out) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return -errno;
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
    km_buf_append(out, chunk, n);
  fclose(fp);
  return 0;
}

static int write_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  if (fchmod(fd, 0600) != 0) { /* an older file keeps its mode otherwise */
    int e = -errno;
    close(fd);
    return e;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = -errno;
      close(fd);
      return e;
    }
    off += (size_t)w;
  }
  fsync(fd);
  close(fd);
  return 0;
}

int km_manifest_hash(const km_manifest_t *m, char out[65]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  for (size_t i = 0; i < m->files.n; i++) {
    km_buf_t b;
    km_buf_init(&b);
    if (read_file(m->files.v[i], &b) < 0) {
      km_buf_free(&b);
      EVP_MD_CTX_free(ctx);
      return KM_EIO;
    }
    /* The name is hashed too: moving a file changes what includes match. */
    EVP_DigestUpdate(ctx, m->files.v[i], strlen(m->files.v[i]) + 1);
    EVP_DigestUpdate(ctx, b.data != NULL ? b.data : "", b.len);
    km_buf_free(&b);
  }
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  for (unsigned i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  return 0;
}

static int copy_manifest(const km_manifest_t *m, const char *dir) {
  char *mdir = km_xasprintf("%s/manifest", dir);
  int rc = mkdir_p(mdir);
  for (size_t i = 0; rc == 0 && i < m->files.n; i++) {
    km_buf_t b;
    km_buf_init(&b);
    rc = read_file(m->files.v[i], &b);
    if (rc == 0) {
      /* Flatten the path so includes from other folders cannot clash. */
      char *flat = km_xasprintf("%zu-%s", i,
                                strrchr(m->files.v[i], '/') != NULL
                                    ? strrchr(m->files.v[i], '/') + 1
                                    : m->files.v[i]);
      char *dst = km_xasprintf("%s/%s", mdir, flat);
      rc = write_file(dst, b.data != NULL ? b.data : "", b.len);
      free(dst);
      free(flat);
    }
    km_buf_free(&b);
  }
  free(mdir);
  return rc;
}

int km_rundir_prepare(const km_manifest_t *m, const char *requested,
                      km_rundir_t *rd) {
  memset(rd, 0, sizeof(*rd));
  char hash[65];
  if (km_manifest_hash(m, hash) < 0) {
    fprintf(stderr, "kmsmig: cannot read the manifest files to hash them\n");
    return KM_EIO;
  }
  if (requested != NULL) {
    rd->dir = km_xstrdup(requested);
  } else {
    char ts[21];
    km_iso8601((int64_t)time(NULL), ts);
    /* 2026-12-05T02:00:00Z -> 20261205T020000Z */
    char compact[17];
    snprintf(compact, sizeof(compact), "%.4s%.2s%.2sT%.2s%.2s%.2sZ", ts, ts + 5,
             ts + 8, ts + 11, ts + 14, ts + 17);
    rd->dir = km_xasprintf("runs/%s-%s", m->name, compact);
  }
  char *journal = km_xasprintf("%s/journal.jsonl", rd->dir);
  char *hashfile = km_xasprintf("%s/manifest.sha256", rd->dir);
  struct stat st;
  int rc = 0;
  if (stat(journal, &st) == 0) {
    rd->resumed = true;
    km_buf_t old;
    km_buf_init(&old);
    if (read_file(hashfile, &old) == 0 &&
        (old.len < 64 || strncmp(old.data, hash, 64) != 0)) {
      fprintf(stderr,
              "kmsmig: %s was started with another manifest (hash %.12s, "
              "now %.12s); resume it with the manifest it began with, or "
              "start a new run directory\n",
              rd->dir, old.data != NULL ? old.data : "?", hash);
      rc = KM_EINVAL;
    }
    km_buf_free(&old);
    /* A broken chain is refused before anything is called: the records
     * would decide what to restore (the message is verify-journal's). */
    km_err_t err;
    memset(&err, 0, sizeof(err));
    if (rc == 0 && km_journal_verify(rd->dir, NULL, &err) < 0) {
      fprintf(stderr, "kmsmig: journal: %s\n", err.text);
      rc = KM_EJOURNAL;
    }
  } else if (km_journal_marked(rd->dir)) {
    /* The journal is gone but this directory wrote one: starting afresh
     * would forget what an earlier process turned off. */
    fprintf(stderr,
            "kmsmig: %s has no journal.jsonl, but an earlier run in it wrote "
            "records (journal.mark): the journal was deleted, so nothing can "
            "show what was turned off and restored.  Not resuming: restore "
            "journal.jsonl from a backup, or check automatic rotation of "
            "every key and secret of this run in the KMS console and start a "
            "new run directory\n",
            rd->dir);
    rc = KM_EJOURNAL;
  } else {
    rc = mkdir_p(rd->dir);
    if (rc < 0)
      fprintf(stderr, "kmsmig: cannot create %s: %s\n", rd->dir,
              km_strerror(rc));
    if (rc == 0) rc = copy_manifest(m, rd->dir);
    if (rc == 0) {
      char line[80];
      snprintf(line, sizeof(line), "%s\n", hash);
      rc = write_file(hashfile, line, strlen(line));
    }
  }
  free(journal);
  free(hashfile);
  if (rc < 0) {
    free(rd->dir);
    rd->dir = NULL;
    return rc;
  }
  memcpy(rd->hash, hash, sizeof(rd->hash));
  rd->run_id = km_xstrdup(
      strrchr(rd->dir, '/') != NULL ? strrchr(rd->dir, '/') + 1 : rd->dir);
  return 0;
}

int km_rundir_write_versions(const km_rundir_t *rd, const km_stages_t *stages) {
  json_t *pl = json_object();
  for (size_t i = 0; i < km_stages_count(stages); i++) {
    void *state;
    const km_stage_ops_t *d = km_stages_at(stages, i, &state);
    json_object_set_new(pl, d->name, json_string(d->version));
  }
  char abi[32];
  snprintf(abi, sizeof(abi), "%d.%d", KM_PLUGIN_ABI_MAJOR, KM_PLUGIN_ABI_MINOR);
  json_t *v =
      json_pack("{s:s, s:s, s:o, s:s}", "kmsmig", KM_VERSION_STRING,
                "plugin_abi", abi, "plugins", pl, "manifest_sha256", rd->hash);
  char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
  char *path = km_xasprintf("%s/versions.json", rd->dir);
  int rc = write_file(path, text, strlen(text));
  free(path);
  free(text);
  json_decref(v);
  return rc;
}

/* What resume folds: every record but the hook decisions (the audit's;
 * no stage reads them, and they are one per resource and phase). */
static int collect(const km_journal_record_t *rec, void *ud) {
  if (strcmp(rec->type, "hook_decision") == 0) return 0;
  json_array_append(ud, rec->record);
  return 0;
}

int km_rundir_open_journal(km_rundir_t *rd, km_journal_t **j, json_t **prior,
                           km_err_t *err) {
  *prior = json_array();
  if (rd->resumed) {
    int rc = km_journal_replay(rd->dir, collect, *prior, err);
    if (rc < 0 && rc != KM_ENOENT) return rc;
  }
  return km_journal_open(rd->dir, j, NULL, err);
}

void km_rundir_free(km_rundir_t *rd) {
  free(rd->dir);
  free(rd->run_id);
  memset(rd, 0, sizeof(*rd));
}
