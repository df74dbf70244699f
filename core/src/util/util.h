/* Internal helpers shared by every part of the core: error filling,
 * allocation that aborts on exhaustion, a growable byte buffer, logging. */
#ifndef KM_UTIL_H
#define KM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kmsmig/errors.h"

/* Fills err (may be NULL) with code and a formatted message; returns code so
 * callers can write `return km__err_set(err, KM_EINVAL, "...")`. */
int km__err_set(km_err_t *err, int code, const char *fmt, ...) KM_PRINTF(3, 4);
/* Same, also recording where (file:line:col or endpoint). */
int km__err_setw(km_err_t *err, int code, const char *where, const char *fmt,
                 ...) KM_PRINTF(4, 5);
void km__err_clear(km_err_t *err);

/* Allocation: never returns NULL (aborts with a message instead).  A run
 * resumes from its journal, so dying on OOM loses nothing (nvim xmalloc). */
void *km_xmalloc(size_t n);
void *km_xcalloc(size_t n, size_t size);
void *km_xrealloc(void *p, size_t n);
char *km_xstrdup(const char *s);
char *km_xstrndup(const char *s, size_t n);
char *km_xasprintf(const char *fmt, ...) KM_PRINTF(1, 2);
/* Overwrites then frees a string that held a secret; NULL is a no-op. */
void km_free_secret(char *s);

/* Growable buffer; data is always NUL-terminated (len excludes the NUL). */
typedef struct km_buf_s {
  char *data;
  size_t len;
  size_t cap;
} km_buf_t;

void km_buf_init(km_buf_t *b);
void km_buf_free(km_buf_t *b);
void km_buf_reset(km_buf_t *b);
void km_buf_append(km_buf_t *b, const void *p, size_t n);
void km_buf_puts(km_buf_t *b, const char *s);
void km_buf_putc(km_buf_t *b, char c);
/* Makes room for n more bytes (and the terminator) without changing len. */
void km_buf_reserve(km_buf_t *b, size_t n);
void km_buf_printf(km_buf_t *b, const char *fmt, ...) KM_PRINTF(2, 3);
/* Steals the buffer's memory: returns it (owned by the caller) and resets b. */
char *km_buf_steal(km_buf_t *b);

/* Logging to stderr (or a run log set with km_log_set_file).  Messages must
 * never contain secrets; callers pass IDs, never credentials. */
enum { KM_LOG_ERROR = 0, KM_LOG_WARN, KM_LOG_INFO, KM_LOG_DEBUG };
void km_log_set_level(int level);
int km_log_get_level(void);
/* Borrowed FILE*, not closed by the logger; NULL restores stderr. */
void km_log_set_file(void *fp);
void km_log(int level, const char *fmt, ...) KM_PRINTF(2, 3);
void km_vlog(int level, const char *fmt, va_list ap);
const char *km_log_level_name(int level); /* "error" .. "debug" */

/* --log-format: text ("ts level msg") or one JSON object per line
 * (docs/cli.md, "Output").  JSON records for the terminal go to stdout. */
enum { KM_LOG_TEXT = 0, KM_LOG_JSON };
void km_log_set_format(int format);
int km_log_get_format(void);
/* The most verbose level shown on the terminal (--quiet: KM_LOG_ERROR); the
 * run log keeps its own level (km_log_set_level). */
void km_log_set_term_level(int level);
/* Records for the terminal go to fn instead (the live progress view erases
 * its block, writes line, draws it again); line is one whole record ending
 * in '\n', borrowed.  NULL restores stderr (text) or stdout (json). */
typedef void (*km_log_sink_fn)(int level, const char *line, void *ud);
void km_log_set_sink(km_log_sink_fn fn, void *ud);
/* What a record is about (all borrowed, NULL: absent).  Text shows
 * "account region: msg"; JSON has one key each. */
typedef struct km_log_fields_s {
  const char *account;
  const char *region;
  const char *stage;
  const char *event;
} km_log_fields_t;
void km_logf(int level, const km_log_fields_t *f, const char *fmt, ...)
    KM_PRINTF(3, 4);
void km_vlogf(int level, const km_log_fields_t *f, const char *fmt, va_list ap);
/* A JSON record {ts, level, msg, account?, region?, stage?, event?} with
 * every string cleaned (owned), for writers that add their own fields (the
 * progress lines); km_log_json_line appends its one-line form and '\n'. */
struct json_t;
struct json_t *km_log_json_record(int level, const km_log_fields_t *f,
                                  const char *msg);
void km_log_json_line(const struct json_t *rec, km_buf_t *out);

/* Text from the server before a terminal or a log (util/text.c): control
 * characters (C0, DEL, C1), bidi overrides, U+2028/2029 and bytes that are
 * not UTF-8 become '?'.  The _lines forms keep '\n' and '\t' (multi-line text
 * kmsmig built itself, whose server parts were cleaned one-line).  Output
 * never exceeds the input, so s == buf is allowed. */
void km_text_clean(const char *s, char *buf, size_t n);
void km_text_clean_lines(const char *s, char *buf, size_t n);
char *km_text_clean_dup(const char *s); /* owned */
void km_buf_put_clean(km_buf_t *b, const char *s);
/* Writes s to f cleaned, keeping newlines and tabs; 0 or EOF. */
int km_text_fputs(const char *s, FILE *f);

/* Monotonic milliseconds and wall-clock helpers. */
uint64_t km_now_ms(void);
/* UTC "YYYY-MM-DDThh:mm:ssZ" of t (seconds since epoch) into out[21]. */
void km_iso8601(int64_t t, char out[21]);
/* Parses the same format; returns 0 or KM_EINVAL. */
int km_parse_iso8601(const char *s, int64_t *out);

#define KM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
