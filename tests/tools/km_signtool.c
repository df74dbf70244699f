/* km_signtool: signs request descriptions with kmsmig's signer so other
 * tools can check the result (tests/conformance/sign_crosscheck.js compares
 * it with the official @alicloud/openapi-util).
 *
 * stdin: a JSON array of cases
 *   {"name", "sigver": 1|3, "method", "host", "action", "version",
 *    "form_body": bool, "params": [[key, value], ...] (order kept),
 *    "access_key_id", "access_key_secret", "security_token"?,
 *    "nonce", "timestamp"}
 * stdout: a JSON array, one object per case, same order:
 *   {"name", "signature", "string_to_sign", "method", "url", "body",
 *    "headers": {name: value}}  or {"name", "error": "..."}.
 * These are test credentials: the output carries the token on purpose. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acs/acs.h"

static const char *str(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static json_t *sign_case(json_t *c) {
  json_t *res = json_object();
  json_object_set(res, "name", json_object_get(c, "name"));
  km_params_t p;
  km_params_init(&p);
  json_t *params = json_object_get(c, "params");
  size_t i;
  json_t *kv;
  json_array_foreach(params, i, kv) {
    const char *k = json_string_value(json_array_get(kv, 0));
    const char *v = json_string_value(json_array_get(kv, 1));
    if (k != NULL && v != NULL) km_params_set(&p, k, v);
  }
  km_acs_request_t r = {
      .method = str(c, "method"),
      .host = str(c, "host"),
      .action = str(c, "action"),
      .version = str(c, "version"),
      .params = &p,
      .form_body = json_is_true(json_object_get(c, "form_body")),
      .sigver = (km_sigver_t)json_integer_value(json_object_get(c, "sigver")),
      .nonce = str(c, "nonce"),
      .timestamp = str(c, "timestamp"),
  };
  km_credential_t cred = {str(c, "access_key_id"), str(c, "access_key_secret"),
                          str(c, "security_token")};
  km_signed_request_t s;
  km_err_t err;
  if (km_acs_sign(&r, &cred, &s, &err) < 0) {
    json_object_set_new(res, "error", json_string(err.text));
  } else {
    json_object_set_new(res, "signature", json_string(s.signature));
    json_object_set_new(res, "string_to_sign", json_string(s.string_to_sign));
    json_object_set_new(res, "method", json_string(s.method));
    json_object_set_new(res, "url", json_string(s.url));
    json_object_set_new(res, "body",
                        s.body != NULL ? json_stringn(s.body, s.body_len)
                                       : json_null());
    json_t *h = json_object();
    for (size_t j = 0; j < s.nheaders; j++)
      json_object_set_new(h, s.headers[j].name,
                          json_string(s.headers[j].value));
    json_object_set_new(res, "headers", h);
    km_signed_request_free(&s);
  }
  km_params_free(&p);
  return res;
}

int main(void) {
  json_error_t jerr;
  json_t *in = json_loadf(stdin, 0, &jerr);
  if (!json_is_array(in)) {
    fprintf(stderr, "km_signtool: stdin is not a JSON array (%s, line %d)\n",
            jerr.text, jerr.line);
    json_decref(in);
    return 2;
  }
  json_t *out = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(in, i, c) json_array_append_new(out, sign_case(c));
  int rc = json_dumpf(out, stdout, JSON_INDENT(1)) == 0 ? 0 : 1;
  putchar('\n');
  json_decref(out);
  json_decref(in);
  return rc;
}
