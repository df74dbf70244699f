/* The console worklist's model (worklist.h): folding the migrate stage's
 * journal records into typed items, the short terminal lines `kmsmig run`
 * and `kmsmig status` print, and writing the three files (worklist.json
 * here, the Markdown and HTML texts from worklist_render.c).
 *
 * Items are keyed by (account, region, client token).  A rotation_wait
 * record creates a "scheduled" placeholder for its pipeline that the
 * pipeline's first batch_submitted replaces, so the list says when to come
 * back before there is anything to click (rotation is still on then, and
 * the console refuses keys whose rotation is on). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal/journal.h"
#include "model/intern.h"
#include "model/strmap.h"
#include "run/worklist.h"
#include "util/util.h"

void km_worklist_init(km_worklist_t *w) {
  memset(w, 0, sizeof(*w));
}

static void item_free(km_wl_item_t *it) {
  free(it->account);
  free(it->account_id);
  free(it->access_role);
  km_str_free(it->region);
  free(it->instance);
  km_str_free(it->instance_type);
  free(it->token);
  free(it->refused);
  km_inv_strs_free(&it->keys);
  km_inv_strs_free(&it->secrets);
  free(it);
}

/* ---- ended items, in a temporary file ----
 *
 * A record: its length (uint32), the item's fixed fields (the struct,
 * pointers meaningless), then each string as its length plus one (uint32;
 * 0: NULL) and its bytes.  Ended items have no key or secret list (on_done
 * drops them).  Written once, read back by km_worklist_at for the files,
 * which walk the items in order: a 64 KB window of the file serves the
 * neighbours of the last one read. */
#define SPILL_WINDOW 65536

struct km_wl_spill_s {
  int fd;
  bool failed;     /* no temporary file: ended items stay in memory */
  uint64_t end;    /* bytes written */
  char *win;       /* the window read last, SPILL_WINDOW bytes */
  uint64_t win_at; /* its offset in the file */
  size_t win_len;
  char *rec; /* the record of the last item read (its strings) */
  size_t rec_cap;
};

/* The item's strings, in record order. */
#define ITEM_STRS(it)                                                          \
  {                                                                            \
    &(it)->account, &(it)->account_id, &(it)->access_role, &(it)->region,      \
        &(it)->instance, &(it)->instance_type, &(it)->token, &(it)->refused    \
  }

static void spill_free(struct km_wl_spill_s *sp) {
  if (sp == NULL) return;
  if (sp->fd >= 0) close(sp->fd);
  free(sp->win);
  free(sp->rec);
  free(sp);
}

static struct km_wl_spill_s *spill_open(km_worklist_t *w) {
  if (w->spill == NULL) {
    struct km_wl_spill_s *sp = km_xcalloc(1, sizeof(*sp));
    FILE *f = tmpfile();
    /* The descriptor alone: written and read with pwrite/pread. */
    sp->fd = f != NULL ? dup(fileno(f)) : -1;
    if (f != NULL) fclose(f);
    sp->failed = sp->fd < 0;
    w->spill = sp;
  }
  return w->spill;
}

static void put_u32(km_buf_t *b, uint32_t v) {
  km_buf_append(b, (const char *)&v, sizeof(v));
}

/* Moves ended item i to the temporary file (or leaves it in memory when
 * that cannot be written). */
static void spill_item(km_worklist_t *w, size_t i) {
  km_wl_slot_t *sl = &w->v[i];
  km_wl_item_t *it = sl->it;
  struct km_wl_spill_s *sp = spill_open(w);
  if (it == NULL || sp->failed || sp->end > UINT32_MAX - 65536u) return;
  km_buf_t b;
  km_buf_init(&b);
  put_u32(&b, 0); /* the length, set below */
  km_buf_append(&b, (const char *)it, sizeof(*it));
  char **strs[] = ITEM_STRS(it);
  for (size_t k = 0; k < KM_ARRAY_SIZE(strs); k++) {
    const char *s = *strs[k];
    put_u32(&b, s != NULL ? (uint32_t)strlen(s) + 1 : 0);
    if (s != NULL) km_buf_append(&b, s, strlen(s) + 1);
  }
  uint32_t len = (uint32_t)b.len;
  memcpy(b.data, &len, sizeof(len));
  bool ok = pwrite(sp->fd, b.data, b.len, (off_t)sp->end) == (ssize_t)b.len;
  km_buf_free(&b);
  if (!ok) {
    sp->failed = true; /* this item and the later ones stay in memory */
    return;
  }
  sl->off = (uint32_t)sp->end;
  sp->end += len;
  sl->t_done = it->t_done;
  sl->state = (uint8_t)it->state;
  sl->migrated_keys = (uint32_t)it->migrated_keys;
  sl->migrated_secrets = (uint32_t)it->migrated_secrets;
  item_free(it);
  sl->it = NULL;
}

/* Bytes [off, off+len) of the file, through the window, into sp->rec. */
static bool spill_read(struct km_wl_spill_s *sp, uint64_t off, size_t len) {
  if (len > sp->rec_cap) {
    sp->rec_cap = len;
    sp->rec = km_xrealloc(sp->rec, len);
  }
  if (sp->win != NULL && off >= sp->win_at &&
      off + len <= sp->win_at + sp->win_len) {
    memcpy(sp->rec, sp->win + (off - sp->win_at), len);
    return true;
  }
  if (len > SPILL_WINDOW)
    return pread(sp->fd, sp->rec, len, (off_t)off) == (ssize_t)len;
  if (sp->win == NULL) sp->win = km_xmalloc(SPILL_WINDOW);
  ssize_t got = pread(sp->fd, sp->win, SPILL_WINDOW, (off_t)off);
  sp->win_at = off;
  sp->win_len = got > 0 ? (size_t)got : 0;
  if (sp->win_len < len) return false;
  memcpy(sp->rec, sp->win, len);
  return true;
}

/* Spilled item sl read into *out, its strings pointing into sp->rec. */
static bool spill_load(struct km_wl_spill_s *sp, const km_wl_slot_t *sl,
                       km_wl_item_t *out) {
  uint32_t len;
  if (!spill_read(sp, sl->off, sizeof(len))) return false;
  memcpy(&len, sp->rec, sizeof(len));
  if (len < sizeof(len) + sizeof(*out) || !spill_read(sp, sl->off, len))
    return false;
  const char *p = sp->rec + sizeof(len), *end = sp->rec + len;
  memcpy(out, p, sizeof(*out));
  p += sizeof(*out);
  memset(&out->keys, 0, sizeof(out->keys));
  memset(&out->secrets, 0, sizeof(out->secrets));
  char **strs[] = ITEM_STRS(out);
  for (size_t k = 0; k < KM_ARRAY_SIZE(strs); k++) {
    uint32_t n;
    if (end - p < (ptrdiff_t)sizeof(n)) return false;
    memcpy(&n, p, sizeof(n));
    p += sizeof(n);
    if (n > (size_t)(end - p) || (n > 0 && p[n - 1] != '\0')) return false;
    *strs[k] = n > 0 ? (char *)p : NULL;
    p += n;
  }
  return true;
}

const km_wl_item_t *km_worklist_at(const km_worklist_t *w, size_t i,
                                   km_wl_item_t *scratch) {
  if (i >= w->n) return NULL;
  if (w->v[i].it != NULL) return w->v[i].it;
  if (scratch == NULL || w->spill == NULL) return NULL;
  return spill_load(w->spill, &w->v[i], scratch) ? scratch : NULL;
}

void km_worklist_free(km_worklist_t *w) {
  for (size_t i = 0; i < w->n; i++)
    if (w->v[i].it != NULL) item_free(w->v[i].it);
  free(w->v);
  km_strmap_free(w->by_pipe);
  json_decref(w->windows);
  spill_free(w->spill);
  km_worklist_init(w);
}

/* The first item of (account, region) (index), or -1. */
static long first_of(const km_worklist_t *w, const char *account,
                     const char *region) {
  if (w->by_pipe == NULL || account == NULL || region == NULL) return -1;
  char *k = km_xasprintf("%s\n%s", account, region);
  size_t i;
  bool found = km_strmap_get(w->by_pipe, k, &i);
  free(k);
  return found ? (long)i : -1;
}

static const char *sget(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void set(char **dst, const char *s) {
  free(*dst);
  *dst = s != NULL ? km_xstrdup(s) : NULL;
}

/* For values shared by many items (a region, an instance type): one
 * interned copy for the fleet (model/intern.h) instead of one per item.
 * Not for values of one account (its role ARN, most often its instance):
 * an interned string stays until the process ends, and an ended item's
 * own copies leave memory with it (spill_item). */
static void set_shared(char **dst, const char *s) {
  km_str_free(*dst);
  *dst = (char *)km_intern(s);
}

static bool same(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The item of (account, region, token) (index), or -1; token NULL: the
 * placeholder.  A spilled item (ended, so it has its token) is compared
 * through the file. */
static long find(km_worklist_t *w, const char *account, const char *region,
                 const char *token) {
  for (long i = first_of(w, account, region); i >= 0; i = w->v[i].next) {
    const km_wl_item_t *it = w->v[i].it;
    km_wl_item_t tmp;
    if (it == NULL && token != NULL) it = km_worklist_at(w, (size_t)i, &tmp);
    if (it == NULL) continue;
    if (token == NULL ? it->token == NULL : same(it->token, token)) return i;
  }
  return -1;
}

static km_wl_item_t *add(km_worklist_t *w, const char *account,
                         const char *region) {
  if (w->n == w->cap) {
    /* 1.5x: a fleet's list is large, and doubling leaves up to half of it
     * unused. */
    w->cap = w->cap ? w->cap + w->cap / 2 : 16;
    w->v = km_xrealloc(w->v, w->cap * sizeof(*w->v));
  }
  long last = first_of(w, account, region);
  while (last >= 0 && w->v[last].next >= 0)
    last = w->v[last].next;
  long at = (long)w->n;
  if (last >= 0) w->v[last].next = (int32_t)at;
  km_wl_slot_t *sl = &w->v[w->n++];
  memset(sl, 0, sizeof(*sl));
  sl->next = -1;
  km_wl_item_t *it = sl->it = km_xcalloc(1, sizeof(*it));
  it->no = (int)w->n;
  set(&it->account, account);
  set_shared(&it->region, region);
  if (last < 0) {
    if (w->by_pipe == NULL) w->by_pipe = km_strmap_new(64);
    char *k = km_xasprintf("%s\n%s", account, region);
    km_strmap_put(w->by_pipe, k, (size_t)at);
    free(k);
  }
  return it;
}

static void strs_from(km_inv_strs_t *l, const json_t *a) {
  size_t i;
  const json_t *v;
  json_array_foreach(a, i, v) {
    if (json_is_string(v)) km_inv_strs_add(l, json_string_value(v));
  }
}

static int64_t parse_when(const char *s) {
  int64_t t = 0;
  if (s == NULL || strcmp(s, "now") == 0) return 0;
  return km_parse_iso8601(s, &t) == 0 ? t : 0;
}

static km_wl_item_t *on_submitted(km_worklist_t *w, const json_t *o,
                                  int64_t ts) {
  const char *acct = sget(o, "account"), *reg = sget(o, "region");
  const char *tok = sget(o, "client_token");
  if (find(w, acct, reg, tok) >= 0)
    return NULL; /* a replayed duplicate: the first wins */
  /* The scheduled placeholder becomes the pipeline's first batch. */
  long at = find(w, acct, reg, NULL);
  km_wl_item_t *it = at >= 0 ? w->v[at].it : add(w, acct, reg);
  set(&it->token, tok);
  set(&it->account_id, sget(o, "account_id"));
  set(&it->access_role, sget(o, "access_role"));
  set(&it->instance, sget(o, "instance"));
  set_shared(&it->instance_type, sget(o, "instance_type"));
  it->sim = same(sget(o, "driver"), "sim");
  it->set_default = json_is_true(json_object_get(o, "set_default"));
  it->all_pending = json_is_true(json_object_get(o, "all_pending"));
  it->when = parse_when(sget(o, "when"));
  /* A time already past when the step was listed starts at once. */
  if (it->when != 0 && it->when <= ts) it->when = 0;
  strs_from(&it->keys, json_object_get(o, "keys"));
  strs_from(&it->secrets, json_object_get(o, "secrets"));
  it->nkeys = it->keys.n;
  it->nsecrets = it->secrets.n;
  it->state = KM_WL_WAITING;
  it->t_submitted = ts;
  return it;
}

static km_wl_item_t *on_done(km_wl_item_t *it, const json_t *o, int64_t ts) {
  it->migrated_keys = json_array_size(json_object_get(o, "migrated_keys"));
  it->migrated_secrets =
      json_array_size(json_object_get(o, "migrated_secrets"));
  it->migrated = it->migrated_keys + it->migrated_secrets;
  it->failed = json_array_size(json_object_get(o, "failed_keys")) +
               json_array_size(json_object_get(o, "failed_secrets"));
  it->t_done = ts;
  set(&it->refused, sget(o, "refused"));
  if (it->refused != NULL)
    it->state = KM_WL_REFUSED;
  else if (json_is_true(json_object_get(o, "timed_out")))
    it->state = KM_WL_TIMED_OUT;
  else
    it->state = it->failed > 0 ? KM_WL_FAILED : KM_WL_DONE;
  /* Nothing left to select: the numbers stay, report.json has the IDs. */
  km_inv_strs_free(&it->keys);
  km_inv_strs_free(&it->secrets);
  return it;
}

/* Item i: in memory (placeholders and open items always are). */
static km_wl_item_t *mem_at(km_worklist_t *w, long i) {
  return i >= 0 ? w->v[i].it : NULL;
}

static km_wl_item_t *note_pipe(km_worklist_t *w, const char *type,
                               const json_t *o, int64_t ts, const char *acct,
                               const char *reg) {
  if (strcmp(type, "rotation_wait") == 0) {
    /* Only while the pipeline has no batch yet (a spilled item is ended,
     * so it had one). */
    for (long x = first_of(w, acct, reg); x >= 0; x = w->v[x].next)
      if (w->v[x].it == NULL || w->v[x].it->token != NULL) return NULL;
    km_wl_item_t *it = mem_at(w, find(w, acct, reg, NULL));
    if (it == NULL) it = add(w, acct, reg);
    it->state = KM_WL_SCHEDULED;
    it->sim = same(sget(o, "driver"), "sim");
    set(&it->instance, sget(o, "instance"));
    set(&it->account_id, sget(o, "account_id"));
    it->when = parse_when(sget(o, "when"));
    it->rotation_at = parse_when(sget(o, "rotation_at"));
    it->t_submitted = ts;
    return it;
  }
  if (strcmp(type, "batch_submitted") == 0) return on_submitted(w, o, ts);
  if (strcmp(type, "rotation_restored") == 0) {
    /* Rotation is back on: the console would refuse the selection until a
     * resumed run turns it off again and lists the item (batch_resumed). */
    km_wl_item_t *last = NULL;
    for (long x = first_of(w, acct, reg); x >= 0; x = w->v[x].next) {
      km_wl_item_t *it = w->v[x].it;
      if (it != NULL && it->state == KM_WL_WAITING) {
        it->state = KM_WL_PAUSED;
        last = it;
      }
    }
    return last;
  }
  const char *tok = sget(o, "client_token");
  long at = tok != NULL ? find(w, acct, reg, tok) : -1;
  /* NULL also for a spilled item: it ended, and an ended item is final. */
  km_wl_item_t *it = mem_at(w, at);
  if (it == NULL) return NULL;
  if (strcmp(type, "batch_seen") == 0 && it->state == KM_WL_WAITING) {
    it->state = KM_WL_MIGRATING;
    it->t_seen = ts;
    return it;
  }
  if (strcmp(type, "batch_done") == 0) {
    w->ended = (size_t)at + 1;
    return on_done(it, o, ts);
  }
  if (strcmp(type, "batch_resumed") == 0 && it->state == KM_WL_PAUSED) {
    it->state = KM_WL_WAITING;
    it->t_submitted = ts;
    return it;
  }
  return NULL;
}

km_wl_item_t *km_worklist_note(km_worklist_t *w, const char *type,
                               const json_t *o, int64_t ts) {
  /* The item the last note ended was the caller's until now. */
  if (w->ended > 0 && w->ended <= w->n) spill_item(w, w->ended - 1);
  w->ended = 0;
  const char *acct = sget(o, "account"), *reg = sget(o, "region");
  if (type == NULL || acct == NULL || reg == NULL) return NULL;
  return note_pipe(w, type, o, ts, acct, reg);
}

/* An envelope's fields with its type and time. */
static void note_envelope(km_worklist_t *w, const char *type,
                          const json_t *fields, const char *tstext) {
  int64_t ts = 0;
  char sec[21]; /* the journal's ts has milliseconds: keep the seconds */
  snprintf(sec, sizeof(sec), "%.19sZ", tstext != NULL ? tstext : "");
  if (km_parse_iso8601(sec, &ts) < 0) ts = 0;
  km_worklist_note(w, type, fields, ts);
}

void km_worklist_note_all(km_worklist_t *w, const json_t *envelopes) {
  size_t i;
  const json_t *e;
  json_array_foreach(envelopes, i, e) {
    note_envelope(w, sget(e, "type"), json_object_get(e, "fields"),
                  sget(e, "ts"));
  }
}

static int on_replayed(const km_journal_record_t *rec, void *ud) {
  note_envelope(ud, rec->type, rec->fields, rec->ts);
  return 0;
}

int km_worklist_load(km_worklist_t *w, const char *run_dir, km_err_t *err) {
  return km_journal_replay(run_dir, on_replayed, w, err);
}

/* ---- for people ---- */

bool km_worklist_pending(const km_wl_item_t *it) {
  return it->state == KM_WL_SCHEDULED || it->state == KM_WL_WAITING ||
         it->state == KM_WL_MIGRATING || it->state == KM_WL_PAUSED;
}

const char *km_worklist_state_name(km_wl_state_t s) {
  static const char *const names[] = {"scheduled", "waiting", "migrating",
                                      "done",      "failed",  "timed_out",
                                      "refused",   "paused"};
  return (unsigned)s < KM_ARRAY_SIZE(names) ? names[s] : "?";
}

void km_worklist_time(int64_t t, char *buf, size_t n) {
  time_t tt = (time_t)t, cst = (time_t)(t + 8 * 3600);
  struct tm lt, ct;
  char a[64], b[32];
  localtime_r(&tt, &lt);
  gmtime_r(&cst, &ct);
  strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S %Z (%z)", &lt);
  strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &ct);
  snprintf(buf, n, "%s = %s UTC+8", a, b);
}

void km_worklist_line(const km_wl_item_t *it, char *buf, size_t n) {
  char acct[96], inst[96], what[160];
  km_text_clean(it->account, acct, sizeof(acct));
  km_text_clean(it->instance != NULL ? it->instance : "-", inst, sizeof(inst));
  if (it->state == KM_WL_SCHEDULED) {
    char at[96];
    km_worklist_time(it->rotation_at, at, sizeof(at));
    snprintf(what, sizeof(what), "scheduled: come back at %s", at);
  } else {
    snprintf(what, sizeof(what), "%s: %zu key(s), %zu secret(s)%s",
             km_worklist_state_name(it->state), it->nkeys, it->nsecrets,
             it->state == KM_WL_PAUSED ? " (listed again on resume)" : "");
  }
  snprintf(buf, n, "#%-3d %-14s %-14s %-24s %s (see worklist.md)", it->no, acct,
           it->region, inst, what);
}

/* A sim item the operator still has to act on: run kmsmig again. */
static bool operator_needed(const km_wl_item_t *it) {
  return it->state == KM_WL_SCHEDULED || it->state == KM_WL_PAUSED;
}

size_t km_worklist_print_pending(const km_worklist_t *w, FILE *out) {
  size_t n = 0, total = 0;
  size_t by[KM_WL_PAUSED + 1] = {0};
  km_wl_item_t tmp;
  for (size_t i = 0; i < w->n; i++) {
    const km_wl_item_t *it = km_worklist_at(w, i, &tmp);
    if (it == NULL || (it->sim && !operator_needed(it))) continue;
    total++;
    by[it->state]++;
  }
  if (total == 0) return 0;
  fprintf(out,
          "console worklist: %zu item(s): %zu waiting, %zu paused, %zu "
          "migrating, %zu scheduled, %zu done, %zu failed or timed out\n",
          total, by[KM_WL_WAITING], by[KM_WL_PAUSED], by[KM_WL_MIGRATING],
          by[KM_WL_SCHEDULED], by[KM_WL_DONE],
          by[KM_WL_FAILED] + by[KM_WL_TIMED_OUT] + by[KM_WL_REFUSED]);
  for (size_t i = 0; i < w->n; i++) {
    const km_wl_item_t *it = w->v[i].it; /* a spilled item is not pending */
    if (it == NULL || (it->sim && !operator_needed(it)) ||
        !km_worklist_pending(it))
      continue;
    char line[512];
    km_worklist_line(it, line, sizeof(line));
    fprintf(out, "  %s\n", line);
    n++;
  }
  return n;
}

/* ---- worklist.json ---- */

static json_t *strs_json(const km_inv_strs_t *l) {
  json_t *a = json_array();
  for (size_t i = 0; i < l->n; i++)
    json_array_append_new(a, json_string(l->v[i]));
  return a;
}

static json_t *time_json(int64_t t) {
  if (t <= 0) return json_null();
  char s[21];
  km_iso8601(t, s);
  return json_string(s);
}

static json_t *item_json(const km_wl_item_t *it) {
  json_t *o = json_object();
  json_object_set_new(o, "no", json_integer(it->no));
  json_object_set_new(o, "account", json_string(it->account));
  json_object_set_new(o, "account_id",
                      it->account_id != NULL ? json_string(it->account_id)
                                             : json_null());
  json_object_set_new(o, "access_role",
                      it->access_role != NULL ? json_string(it->access_role)
                                              : json_null());
  json_object_set_new(o, "region", json_string(it->region));
  json_object_set_new(o, "driver", json_string(it->sim ? "sim" : "console"));
  json_object_set_new(o, "client_token",
                      it->token != NULL ? json_string(it->token) : json_null());
  json_object_set_new(o, "instance",
                      it->instance != NULL ? json_string(it->instance)
                                           : json_null());
  json_object_set_new(o, "instance_type",
                      it->instance_type != NULL ? json_string(it->instance_type)
                                                : json_null());
  json_object_set_new(o, "set_default", json_boolean(it->set_default));
  json_object_set_new(o, "method",
                      json_string(it->when != 0 ? "automatic" : "now"));
  json_object_set_new(o, "when", time_json(it->when));
  json_object_set_new(o, "schedule",
                      it->when != 0 ? time_json(it->when) : json_string("now"));
  json_object_set_new(o, "all_pending", json_boolean(it->all_pending));
  bool open = km_worklist_pending(it);
  json_object_set_new(o, "keys", open ? strs_json(&it->keys) : json_null());
  json_object_set_new(o, "secrets",
                      open ? strs_json(&it->secrets) : json_null());
  json_object_set_new(o, "nkeys", json_integer((json_int_t)it->nkeys));
  json_object_set_new(o, "nsecrets", json_integer((json_int_t)it->nsecrets));
  json_object_set_new(o, "state",
                      json_string(km_worklist_state_name(it->state)));
  json_object_set_new(o, "come_back_at", time_json(it->rotation_at));
  json_object_set_new(o, "listed_at", time_json(it->t_submitted));
  json_object_set_new(o, "seen_migrating_at", time_json(it->t_seen));
  json_object_set_new(o, "ended_at", time_json(it->t_done));
  json_object_set_new(o, "migrated", json_integer((json_int_t)it->migrated));
  json_object_set_new(o, "failed", json_integer((json_int_t)it->failed));
  json_object_set_new(o, "refused",
                      it->refused != NULL ? json_string(it->refused)
                                          : json_null());
  return o;
}

/* worklist.json, one item at a time. */
static int json_out(const km_worklist_t *w, FILE *f) {
  char now[21];
  km_iso8601((int64_t)time(NULL), now);
  int rc = fprintf(f, "{\n  \"version\": 1,\n  \"generated_at\": \"%s\",\n%s",
                   now, w->rehearsal ? "  \"rehearsal\": true,\n" : "") < 0;
  if (rc == 0 && w->windows != NULL) {
    /* the accounts' migration windows (docs/waves.md) */
    char *text = json_dumps(w->windows, JSON_COMPACT | JSON_ENSURE_ASCII);
    rc = text == NULL || fprintf(f, "  \"windows\": %s,\n", text) < 0;
    free(text);
  }
  if (rc == 0) rc = fputs("  \"items\": [", f) == EOF;
  km_wl_item_t tmp;
  for (size_t i = 0; rc == 0 && i < w->n; i++) {
    const km_wl_item_t *item = km_worklist_at(w, i, &tmp);
    if (item == NULL) return KM_EIO; /* the temporary file failed */
    json_t *it = item_json(item);
    char *text = json_dumps(it, JSON_COMPACT | JSON_ENSURE_ASCII);
    rc = text == NULL || fprintf(f, "%s\n    %s", i ? "," : "", text) < 0;
    free(text);
    json_decref(it);
  }
  if (rc == 0) rc = fputs(w->n ? "\n  ]\n}\n" : "]\n}\n", f) == EOF;
  return rc ? KM_EIO : 0;
}

/* Writes dir/name through render, atomically and mode 0600. */
static int write_atomic(const char *dir, const char *name,
                        int (*render)(const km_worklist_t *w, FILE *f),
                        const km_worklist_t *w, km_err_t *err) {
  char *path = km_xasprintf("%s/%s", dir, name);
  char *tmp = km_xasprintf("%s/.%s.tmp", dir, name);
  int rc = 0;
  int fd =
      open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (f == NULL) {
    rc = km__err_set(err, KM_EIO, "%s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
  } else {
    /* fchmod: a file left by an older run keeps no wider mode. */
    int bad = render(w, f) < 0 || fflush(f) != 0 || fchmod(fd, 0600) != 0;
    if (fclose(f) != 0 || bad)
      rc = km__err_set(err, KM_EIO, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
      rc = km__err_set(err, KM_EIO, "%s: %s", path, strerror(errno));
  }
  if (rc < 0) unlink(tmp);
  free(tmp);
  free(path);
  return rc;
}

int km_worklist_write(const km_worklist_t *w, const char *run_dir,
                      km_err_t *err) {
  int rc = write_atomic(run_dir, "worklist.json", json_out, w, err);
  if (rc == 0)
    rc = write_atomic(run_dir, "worklist.md", km__worklist_md, w, err);
  if (rc == 0)
    rc = write_atomic(run_dir, "worklist.html", km__worklist_html, w, err);
  return rc;
}
