/* The console worklist as text for people: worklist.md (for tickets) and
 * worklist.html (self-contained: inline CSS and JS, no network; copy
 * buttons; filter by account and by state).  Every value that came from
 * the cloud or the manifest (names, IDs) is cleaned of control characters
 * and, in the HTML, entity-escaped, so a hostile secret name cannot break
 * out of its cell.  The steps follow the vendor procedure (seed §"Migrate
 * keys and secrets": Migration Tool → Migrate → Type, Instance, Set as 3.0
 * Default Instance, Migration Method, Resources). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run/worklist.h"
#include "util/util.h"

#define CONSOLE_URL "https://kms.console.aliyun.com/"

/* ---- shared wording ---- */

static void reach(const km_wl_item_t *it, km_buf_t *b, bool html);

static const char *type_label(const km_wl_item_t *it) {
  return it->instance_type != NULL && strcmp(it->instance_type, "hardware") == 0
             ? "Hardware Key Management"
             : "Software Key Management";
}

static const char *default_text(const km_wl_item_t *it) {
  return it->set_default ? "tick \"Set as 3.0 Default Instance\""
                         : "leave \"Set as 3.0 Default Instance\" unticked "
                           "(untick it if the console ticked it)";
}

/* Markdown: control characters, the characters that end a code span or
 * a table cell, and '<' '>' (a ticket system may render raw HTML) become
 * '?'.  No name the service accepts contains any of them. */
static void md_put(km_buf_t *b, const char *s) {
  for (; s != NULL && *s; s++) {
    unsigned char c = (unsigned char)*s;
    bool bad = c < 0x20 || c == 0x7f || strchr("`|<>", c) != NULL;
    km_buf_putc(b, bad ? '?' : (char)c);
  }
}

static void html_put(km_buf_t *b, const char *s) {
  for (; s != NULL && *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch (c) {
    case '&':
      km_buf_puts(b, "&amp;");
      break;
    case '<':
      km_buf_puts(b, "&lt;");
      break;
    case '>':
      km_buf_puts(b, "&gt;");
      break;
    case '"':
      km_buf_puts(b, "&quot;");
      break;
    case '\'':
      km_buf_puts(b, "&#39;");
      break;
    default:
      km_buf_putc(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
    }
  }
}

static void put(km_buf_t *b, const char *s, bool html) {
  if (html)
    html_put(b, s);
  else
    md_put(b, s);
}

static void method(const km_wl_item_t *it, km_buf_t *b) {
  if (it->when == 0) {
    km_buf_puts(b, "Manual Migration (Start Now)");
    return;
  }
  char t[128];
  km_worklist_time(it->when, t, sizeof(t));
  km_buf_printf(b,
                "Automatic Migration, Migration Time %s (once that time "
                "has passed: Manual Migration (Start Now))",
                t);
}

static void stamp(km_buf_t *b, const char *what, int64_t t) {
  if (t <= 0) return;
  char s[128];
  km_worklist_time(t, s, sizeof(s));
  km_buf_printf(b, "; %s %s", what, s);
}

static void state_text(const km_wl_item_t *it, km_buf_t *b) {
  km_buf_puts(b, km_worklist_state_name(it->state));
  if (it->state == KM_WL_SCHEDULED) {
    stamp(b, "come back at", it->rotation_at);
    km_buf_puts(b, " (automatic rotation goes off then; the step is listed "
                   "here once it is off)");
    return;
  }
  if (it->state == KM_WL_PAUSED)
    km_buf_puts(b, " (kmsmig stopped and turned rotation back on, so the "
                   "console would refuse this selection: run `kmsmig run "
                   "--run-dir DIR` and do the step once it is listed as "
                   "waiting again)");
  stamp(b, "listed", it->t_submitted);
  stamp(b, "seen migrating", it->t_seen);
  stamp(b, "ended", it->t_done);
  if (it->t_done > 0)
    km_buf_printf(b, " (%zu migrated, %zu failed%s%s)", it->migrated,
                  it->failed, it->refused != NULL ? ", refused: " : "",
                  it->refused != NULL ? it->refused : "");
}

static void reach(const km_wl_item_t *it, km_buf_t *b, bool html) {
  if (it->access_role != NULL) {
    km_buf_puts(b, "sign in to the resource directory's management account "
                   "and switch to role ");
    km_buf_puts(b, html ? "<code>" : "`");
    put(b, it->access_role, html);
    km_buf_puts(b, html ? "</code>" : "`");
    km_buf_puts(b, " (the member's access role)");
  } else {
    km_buf_puts(b, "sign in to the account itself (kmsmig uses its own "
                   "AccessKey)");
  }
}

/* ---- worklist.md ---- */

/* An ended item no longer holds its lists (worklist.h). */
#define ENDED_LISTS "the batch has ended: report.json lists each one"

static void md_list(km_buf_t *b, const km_wl_item_t *it,
                    const km_inv_strs_t *l) {
  if (!km_worklist_pending(it)) {
    km_buf_puts(b, ENDED_LISTS);
    return;
  }
  for (size_t i = 0; i < l->n; i++) {
    km_buf_puts(b, i ? ", `" : "`");
    md_put(b, l->v[i]);
    km_buf_putc(b, '`');
  }
  if (l->n == 0) km_buf_puts(b, "none");
}

static void md_item(km_buf_t *b, const km_wl_item_t *it) {
  km_buf_printf(b, "\n## #%d ", it->no);
  md_put(b, it->account);
  km_buf_puts(b, " (");
  md_put(b, it->account_id != NULL ? it->account_id : "ID not journalled");
  km_buf_puts(b, ") ");
  md_put(b, it->region);
  km_buf_printf(b, " — %s\n\n", km_worklist_state_name(it->state));
  km_buf_puts(b, "- State: ");
  state_text(it, b);
  km_buf_puts(b, "\n");
  if (it->state == KM_WL_SCHEDULED) return;
  if (it->sim)
    km_buf_puts(b, "- Performed by kmsim's emulated console (migrate.driver: "
                   "sim): nothing to click.\n");
  km_buf_puts(b, "- Reach the account: ");
  reach(it, b, false);
  km_buf_printf(b, "\n- KMS 1.0 console (%s), region `", CONSOLE_URL);
  md_put(b, it->region);
  km_buf_puts(b, "`: Migration Tool → row `");
  md_put(b, it->region);
  km_buf_printf(b, "` → Migrate\n- Type: %s; Instance: `", type_label(it));
  md_put(b, it->instance);
  km_buf_printf(b, "`; %s\n- Migration Method: ", default_text(it));
  method(it, b);
  if (it->all_pending)
    km_buf_puts(b, "\n- Resources: **Keys and Secrets** does it in one step "
                   "(this batch is everything pending in the region); or "
                   "Manually Select Resources:");
  else
    km_buf_puts(b, "\n- Resources: Manually Select Resources (filter by key "
                   "ID and secret name):");
  km_buf_printf(b, "\n  - keys (%zu): ", it->nkeys);
  md_list(b, it, &it->keys);
  km_buf_printf(b, "\n  - secrets (%zu): ", it->nsecrets);
  md_list(b, it, &it->secrets);
  km_buf_puts(b, "\n- Then OK, review the checklist, Migrate. kmsmig detects "
                 "the result itself (ListKeys/ListSecrets).\n");
}

/* Writes what b holds to out and empties it; false when out failed. */
/* The accounts' migration windows (docs/waves.md): the operator plans the
 * console steps around them. */
static void windows_section(km_buf_t *b, const km_worklist_t *w, bool html) {
  if (w->windows == NULL || json_array_size(w->windows) == 0) return;
  km_buf_puts(b, html ? "<h2>Migration windows</h2>\n<ul>\n"
                      : "## Migration windows\n\nkmsmig prepares an account "
                        "only inside its window; a scheduled batch is moved "
                        "out of a freeze.\n\n");
  size_t i;
  const json_t *e;
  json_array_foreach(w->windows, i, e) {
    km_buf_puts(b, html ? "<li>" : "- ");
    put(b, json_string_value(json_object_get(e, "account")), html);
    km_buf_puts(b, ": ");
    size_t k;
    const json_t *d;
    json_array_foreach(json_object_get(e, "windows"), k, d) {
      if (k > 0) km_buf_puts(b, "; and ");
      put(b, json_string_value(d), html);
    }
    const char *next = json_string_value(json_object_get(e, "next_open"));
    const char *moved = json_string_value(json_object_get(e, "when_moved_to"));
    if (json_is_true(json_object_get(e, "open_now")))
      km_buf_puts(b, " (open now)");
    else if (next != NULL)
      km_buf_printf(b, " (closed now; opens %s)", next);
    else
      km_buf_puts(b, " (closed now; opens at no time within 400 days)");
    if (moved != NULL)
      km_buf_printf(b, "; scheduled batches moved to %s", moved);
    km_buf_puts(b, html ? "</li>\n" : "\n");
  }
  km_buf_puts(b, html ? "</ul>\n" : "\n");
}

static bool flush(km_buf_t *b, FILE *out) {
  bool ok = b->len == 0 || fwrite(b->data, 1, b->len, out) == b->len;
  km_buf_reset(b);
  return ok;
}

int km__worklist_md(const km_worklist_t *w, FILE *out) {
  km_buf_t b;
  km_buf_init(&b);
  bool ok = true;
  char now[128];
  km_worklist_time((int64_t)time(NULL), now, sizeof(now));
  km_buf_printf(&b,
                "# Console worklist%s\n\nWritten %s. %zu item(s). Keep "
                "kmsmig running while you work through them: it turns "
                "rotation off for the waiting items and back on when it "
                "stops; after a stop, `kmsmig run --run-dir DIR` lists "
                "them again.\n\n",
                w->rehearsal ? " (REHEARSAL against kmsim: nothing real)" : "",
                now, w->n);
  windows_section(&b, w, false);
  km_buf_puts(&b, "| # | account (ID) | region | instance (type) | default | "
                  "when | resources | state |\n|---|---|---|---|---|---|---|"
                  "---|\n");
  km_wl_item_t tmp;
  for (size_t i = 0; i < w->n; i++) {
    const km_wl_item_t *it = km_worklist_at(w, i, &tmp);
    if (it == NULL) { /* the temporary file failed */
      ok = false;
      break;
    }
    km_buf_printf(&b, "| %d | ", it->no);
    md_put(&b, it->account);
    km_buf_puts(&b, " (");
    md_put(&b, it->account_id != NULL ? it->account_id : "-");
    km_buf_puts(&b, ") | ");
    md_put(&b, it->region);
    km_buf_puts(&b, " | ");
    md_put(&b, it->instance != NULL ? it->instance : "-");
    km_buf_printf(&b, " (%s) | %s | ",
                  it->instance_type != NULL ? it->instance_type : "-",
                  it->set_default ? "tick" : "-");
    if (it->when != 0) {
      char t[128];
      km_worklist_time(it->when, t, sizeof(t));
      km_buf_puts(&b, t);
    } else {
      km_buf_puts(&b, it->state == KM_WL_SCHEDULED ? "-" : "now");
    }
    km_buf_printf(&b, " | %s%zu keys, %zu secrets | %s |\n",
                  it->all_pending ? "all pending: " : "", it->nkeys,
                  it->nsecrets, km_worklist_state_name(it->state));
    ok = flush(&b, out) && ok;
  }
  for (size_t i = 0; i < w->n && ok; i++) {
    const km_wl_item_t *it = km_worklist_at(w, i, &tmp);
    if (it == NULL)
      ok = false;
    else
      md_item(&b, it);
    ok = flush(&b, out) && ok;
  }
  km_buf_free(&b);
  return ok ? 0 : KM_EIO;
}

/* ---- worklist.html ---- */

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
    "'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
    "<title>kmsmig console worklist</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
    "h1{font-size:1.4em}.bar{margin:.8em 0;display:flex;gap:1em}\n"
    ".item{border:1px solid #ccc;border-radius:6px;padding:.6em "
    "1em;margin:.8em 0}\n"
    ".item h2{font-size:1.05em;margin:.2em 0}.st{padding:.1em "
    ".5em;border-radius:4px;font-size:.85em;background:#eee}\n"
    ".waiting .st{background:#ffe08a}.migrating .st{background:#9ecbff}\n"
    ".done .st{background:#a6e3a1}.failed .st,.timed_out .st,.refused "
    ".st{background:#f4a6a6}\n"
    ".scheduled .st,.paused "
    ".st{background:#d8c8f0}code{background:#f4f4f4;padding:0 "
    ".2em}\n"
    "pre{background:#f4f4f4;padding:.4em;max-height:9em;overflow:auto;"
    "margin:.2em 0}\n"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid "
    "#ddd;padding:.15em .5em;text-align:left;font-size:.9em}\n"
    "button{font-size:.8em;margin-left:.5em}dt{font-weight:600;margin-top:"
    ".3em}dd{margin-left:1em}\n</style></head><body>\n";

static const char html_script[] =
    "<script>\n"
    "(function(){\n"
    "var acc=document.getElementById('f-account'),"
    "st=document.getElementById('f-state');\n"
    "var items=[].slice.call(document.querySelectorAll('.item'));\n"
    "var seen={};items.forEach(function(e){var a=e.getAttribute("
    "'data-account');\n"
    " if(!seen[a]){seen[a]=1;var o=document.createElement('option');"
    "o.value=a;o.textContent=a;acc.appendChild(o);}});\n"
    "var rows=[].slice.call(document.querySelectorAll('.row'));\n"
    "function match(e){return (!acc.value||e.getAttribute('data-account')==="
    "acc.value)&&(!st.value||e.getAttribute('data-state')===st.value);}\n"
    "function apply(){var n=0;items.forEach(function(e){var ok=match(e);"
    "e.hidden=!ok;if(ok)n++;});\n"
    " rows.forEach(function(e){e.hidden=!match(e);});\n"
    " document.getElementById('shown').textContent=n+' shown';}\n"
    "function fromHash(){var h=location.hash.slice(1).split('&');"
    "h.forEach(function(kv){var p=kv.split('='),v=decodeURIComponent(p[1]||"
    "'');if(p[0]==='account')acc.value=v;if(p[0]==='state')st.value=v;});}"
    "\n"
    "function toHash(){location.hash='account='+encodeURIComponent(acc.value)"
    "+'&state='+encodeURIComponent(st.value);apply();}\n"
    "acc.addEventListener('change',toHash);st.addEventListener('change',"
    "toHash);\nfromHash();\n"
    "document.addEventListener('click',function(ev){var b=ev.target;\n"
    " if(!b.classList||!b.classList.contains('copy'))return;\n"
    " var t=document.getElementById(b.getAttribute('data-for')).textContent;"
    "\n"
    " function done(){b.textContent='copied';setTimeout(function(){"
    "b.textContent='copy';},1500);}\n"
    " if(navigator.clipboard&&window.isSecureContext){navigator.clipboard."
    "writeText(t).then(done,function(){});return;}\n"
    " var ta=document.createElement('textarea');ta.value=t;"
    "document.body.appendChild(ta);ta.select();\n"
    " try{document.execCommand('copy');done();}catch(e){}"
    "document.body.removeChild(ta);});\n"
    "apply();})();\n</script>\n";

/* A copyable block: <pre id=ID>text</pre> with its button. */
static void html_copy(km_buf_t *b, int no, const char *what,
                      const km_inv_strs_t *l, const char *one) {
  km_buf_printf(b,
                "<button class=\"copy\" data-for=\"c%d-%s\">copy</button>"
                "<pre id=\"c%d-%s\">",
                no, what, no, what);
  if (one != NULL) html_put(b, one);
  for (size_t i = 0; l != NULL && i < l->n; i++) {
    if (i) km_buf_putc(b, '\n');
    html_put(b, l->v[i]);
  }
  km_buf_puts(b, "</pre>");
}

static void html_item(km_buf_t *b, const km_wl_item_t *it) {
  const char *st = km_worklist_state_name(it->state);
  km_buf_printf(b,
                "<section class=\"item %s\" data-state=\"%s\" "
                "data-account=\"",
                st, st);
  html_put(b, it->account);
  km_buf_printf(b, "\" id=\"item-%d\"><h2>#%d ", it->no, it->no);
  html_put(b, it->account);
  km_buf_puts(b, " (");
  html_put(b, it->account_id != NULL ? it->account_id : "ID not journalled");
  km_buf_puts(b, ") &middot; ");
  html_put(b, it->region);
  km_buf_printf(b, " <span class=\"st\">%s</span></h2><dl><dt>State</dt><dd>",
                st);
  km_buf_t s;
  km_buf_init(&s);
  state_text(it, &s);
  html_put(b, s.data);
  km_buf_free(&s);
  km_buf_puts(b, "</dd>");
  if (it->state != KM_WL_SCHEDULED) {
    if (it->sim)
      km_buf_puts(b, "<dt>Driver</dt><dd>performed by kmsim's emulated "
                     "console: nothing to click</dd>");
    km_buf_puts(b, "<dt>Reach the account</dt><dd>");
    reach(it, b, true);
    km_buf_printf(b,
                  "</dd><dt>Where</dt><dd>KMS 1.0 console (%s), region "
                  "<code>",
                  CONSOLE_URL);
    html_put(b, it->region);
    km_buf_printf(b,
                  "</code>: Migration Tool &rarr; Migrate</dd><dt>Dialog"
                  "</dt><dd>Type: %s; Instance:",
                  type_label(it));
    html_copy(b, it->no, "instance", NULL, it->instance);
    html_put(b, default_text(it));
    km_buf_puts(b, "</dd><dt>Migration Method</dt><dd>");
    km_buf_t m;
    km_buf_init(&m);
    method(it, &m);
    html_put(b, m.data);
    km_buf_free(&m);
    km_buf_puts(b, "</dd><dt>Resources</dt><dd>");
    km_buf_puts(b, it->all_pending
                       ? "<b>Keys and Secrets</b> does it in one step (this "
                         "batch is everything pending in the region), or "
                         "Manually Select Resources:"
                       : "Manually Select Resources (filter by key ID and "
                         "secret name):");
    if (km_worklist_pending(it)) {
      km_buf_printf(b, "<br>keys (%zu)", it->nkeys);
      html_copy(b, it->no, "keys", &it->keys, NULL);
      km_buf_printf(b, "secrets (%zu)", it->nsecrets);
      html_copy(b, it->no, "secrets", &it->secrets, NULL);
    } else {
      km_buf_printf(b, "<br>%zu key(s), %zu secret(s): " ENDED_LISTS "<br>",
                    it->nkeys, it->nsecrets);
    }
    km_buf_puts(b, "Then OK, review the checklist, Migrate.</dd>");
  }
  km_buf_puts(b, "</dl></section>\n");
}

/* The overview: one row per item, linked to its steps; filtered with the
 * items. */
static bool html_table(km_buf_t *b, const km_worklist_t *w, FILE *out) {
  bool ok = true;
  km_buf_puts(b, "<table><thead><tr><th>#</th><th>account (ID)</th><th>"
                 "region</th><th>instance (type)</th><th>default</th><th>"
                 "when</th><th>resources</th><th>state</th></tr></thead>"
                 "<tbody>\n");
  km_wl_item_t tmp;
  for (size_t i = 0; i < w->n; i++) {
    const km_wl_item_t *it = km_worklist_at(w, i, &tmp);
    if (it == NULL) { /* the temporary file failed */
      ok = false;
      break;
    }
    const char *st = km_worklist_state_name(it->state);
    km_buf_printf(b,
                  "<tr class=\"row %s\" data-state=\"%s\" "
                  "data-account=\"",
                  st, st);
    html_put(b, it->account);
    km_buf_printf(b, "\"><td><a href=\"#item-%d\">%d</a></td><td>", it->no,
                  it->no);
    html_put(b, it->account);
    km_buf_puts(b, " (");
    html_put(b, it->account_id != NULL ? it->account_id : "-");
    km_buf_puts(b, ")</td><td>");
    html_put(b, it->region);
    km_buf_puts(b, "</td><td>");
    html_put(b, it->instance != NULL ? it->instance : "-");
    km_buf_printf(b, " (%s)</td><td>%s</td><td>",
                  it->instance_type != NULL ? it->instance_type : "-",
                  it->set_default ? "tick" : "-");
    if (it->when != 0) {
      char t[128];
      km_worklist_time(it->when, t, sizeof(t));
      html_put(b, t);
    } else {
      km_buf_puts(b, it->state == KM_WL_SCHEDULED ? "-" : "now");
    }
    km_buf_printf(b,
                  "</td><td>%s%zu keys, %zu secrets</td><td><span "
                  "class=\"st\">%s</span></td></tr>\n",
                  it->all_pending ? "all pending: " : "", it->nkeys,
                  it->nsecrets, st);
    ok = flush(b, out) && ok;
  }
  km_buf_puts(b, "</tbody></table>\n");
  return ok;
}

int km__worklist_html(const km_worklist_t *w, FILE *out) {
  km_buf_t b;
  km_buf_init(&b);
  km_buf_puts(&b, html_head);
  char now[128];
  km_worklist_time((int64_t)time(NULL), now, sizeof(now));
  km_buf_printf(&b, "<h1>kmsmig console worklist%s</h1>\n<p>Written ",
                w->rehearsal ? " (REHEARSAL against kmsim: nothing real)" : "");
  html_put(&b, now);
  km_buf_printf(&b,
                ". %zu item(s). Keep kmsmig running while you work "
                "through them; after a stop, <code>kmsmig run --run-dir "
                "DIR</code> lists them again.</p>\n",
                w->n);
  km_buf_puts(&b, "<div class=\"bar\"><label>Account <select id=\"f-account\">"
                  "<option value=\"\">all</option></select></label>"
                  "<label>State <select id=\"f-state\"><option value=\"\">all"
                  "</option><option>scheduled</option><option>waiting</option>"
                  "<option>migrating</option><option>done</option><option>"
                  "failed</option><option>timed_out</option><option>refused"
                  "</option><option>paused</option></select></label><span "
                  "id=\"shown\"></span></div>\n");
  windows_section(&b, w, true);
  bool ok = html_table(&b, w, out);
  km_wl_item_t tmp;
  for (size_t i = 0; i < w->n && ok; i++) {
    const km_wl_item_t *it = km_worklist_at(w, i, &tmp);
    if (it == NULL)
      ok = false;
    else
      html_item(&b, it);
    ok = flush(&b, out) && ok;
  }
  km_buf_puts(&b, html_script);
  km_buf_puts(&b, "</body></html>\n");
  ok = flush(&b, out) && ok;
  km_buf_free(&b);
  return ok ? 0 : KM_EIO;
}
