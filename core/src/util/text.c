/* Text from the server made safe for a terminal and a log.
 *
 * Secret names, descriptions, error messages and anything else the cloud
 * (or a hostile emulator) sends may carry terminal escapes (ESC, CSI as
 * C1), CR that rewrites the line, bidi overrides that reorder what the
 * operator reads (U+202A-202E, U+2066-2069, U+200E/200F, U+061C), line and
 * paragraph separators (U+2028/2029) and newlines that forge log lines.
 * Every such character, and every byte that is not well-formed UTF-8,
 * becomes one '?'.  This is the one function for that: the logger, the
 * plan and report text, the worklist and the error parser all use it.
 *
 * Output is never longer than input, so cleaning in place (s == buf) is
 * allowed, and a cut never splits a UTF-8 sequence. */
#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* Length of the well-formed UTF-8 sequence at p (1-4) and its code point,
 * or 0 when p does not start one. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp) {
  unsigned char c = p[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t v, min;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, v = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, v = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, v = c & 0x07, min = 0x10000;
  else
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
    v = (v << 6) | (p[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

static bool unsafe(uint32_t cp, bool lines) {
  if (cp == '\n' || cp == '\t') return !lines;
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
         cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

/* The next piece of s: *len bytes to copy as they are, or (return false)
 * *len bytes to replace by one '?'. */
static bool next_piece(const unsigned char *s, bool lines, size_t *len) {
  uint32_t cp = 0;
  size_t n = utf8_seq(s, &cp);
  if (n == 0) {
    *len = 1;
    return false;
  }
  *len = n;
  return !unsafe(cp, lines);
}

static void clean_into(const char *s, char *buf, size_t n, bool lines) {
  size_t o = 0;
  if (n == 0) return;
  const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
  while (*p != '\0') {
    size_t len;
    bool ok = next_piece(p, lines, &len);
    size_t out = ok ? len : 1;
    if (o + out >= n) break;
    if (ok)
      memmove(buf + o, p, len);
    else
      buf[o] = '?';
    o += out;
    p += len;
  }
  buf[o] = '\0';
}

void km_text_clean(const char *s, char *buf, size_t n) {
  clean_into(s, buf, n, false);
}

void km_text_clean_lines(const char *s, char *buf, size_t n) {
  clean_into(s, buf, n, true);
}

char *km_text_clean_dup(const char *s) {
  size_t n = strlen(s != NULL ? s : "") + 1;
  char *out = km_xmalloc(n);
  km_text_clean(s, out, n);
  return out;
}

void km_buf_put_clean(km_buf_t *b, const char *s) {
  const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
  while (*p != '\0') {
    size_t len;
    if (next_piece(p, false, &len))
      km_buf_append(b, p, len);
    else
      km_buf_putc(b, '?');
    p += len;
  }
}

int km_text_fputs(const char *s, FILE *f) {
  const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
  while (*p != '\0') {
    size_t len;
    bool ok = next_piece(p, true, &len);
    if (ok ? fwrite(p, 1, len, f) != len : fputc('?', f) == EOF) return EOF;
    p += len;
  }
  return 0;
}
