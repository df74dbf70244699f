/* HSM BYOK material as an operator relies on it: what `byok wrap` makes
 * unwraps (with the wrapping private key, as ImportKeyMaterial does) to
 * exactly the PKCS#8 bytes of the material, for all three wrapping
 * algorithms and every public key form GetParametersForImport hands out;
 * each wrap uses a fresh session key; a wrong wrapping key, garbage, and
 * material files other users can read are refused with the fix in the
 * message; private keys in PKCS#1, SEC1 and PKCS#8, PEM or DER, give the
 * same PKCS#8 bytes; keygen writes a private 0600 key and never overwrites;
 * base64 round-trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "byok/wrap.h"
#include "util/util.h"

typedef struct {
  char dir[64];
  EVP_PKEY *wrap;  /* RSA 2048 wrapping key pair */
  EVP_PKEY *ec;    /* EC P-256 material */
  EVP_PKEY *rsa1k; /* RSA 1024: not a wrapping key */
  km_byok_buf_t pub_der, pub_pem;
} fx_t;

/* Encodes key with OpenSSL's encoder (what `openssl pkey` would write). */
static km_byok_buf_t encode(EVP_PKEY *k, int sel, const char *type,
                            const char *structure) {
  km_byok_buf_t b = {0};
  OSSL_ENCODER_CTX *c =
      OSSL_ENCODER_CTX_new_for_pkey(k, sel, type, structure, NULL);
  assert_non_null(c);
  assert_int_equal(OSSL_ENCODER_to_data(c, &b.data, &b.len), 1);
  OSSL_ENCODER_CTX_free(c);
  return b;
}

static int setup(void **st) {
  fx_t *f = calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/km_byok_XXXXXX");
  if (mkdtemp(f->dir) == NULL) return -1;
  f->wrap = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  f->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  f->rsa1k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  if (f->wrap == NULL || f->ec == NULL || f->rsa1k == NULL) return -1;
  f->pub_der =
      encode(f->wrap, EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo");
  f->pub_pem =
      encode(f->wrap, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo");
  *st = f;
  return 0;
}

static int teardown(void **st) {
  fx_t *f = *st;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->dir);
  EVP_PKEY_free(f->wrap);
  EVP_PKEY_free(f->ec);
  EVP_PKEY_free(f->rsa1k);
  km_byok_buf_free(&f->pub_der);
  km_byok_buf_free(&f->pub_pem);
  free(f);
  return 0;
}

/* Writes a file with mode; returns its path in a static-per-call buffer. */
static const char *put(fx_t *f, const char *name, const void *d, size_t n,
                       mode_t mode) {
  static char path[8][128];
  static int slot;
  char *p = path[slot++ % 8];
  snprintf(p, 128, "%s/%s", f->dir, name);
  unlink(p);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(d, 1, n, fp), n);
  fclose(fp);
  assert_int_equal(chmod(p, mode), 0);
  return p;
}

static void assert_same(const km_byok_buf_t *a, const km_byok_buf_t *b) {
  assert_int_equal(a->len, b->len);
  assert_memory_equal(a->data, b->data, a->len);
}

static void test_wrap_roundtrip_all_algorithms(void **st) {
  fx_t *f = *st;
  km_byok_buf_t mats[3];
  mats[0] = encode(f->ec, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo");
  mats[1] = encode(f->wrap, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo");
  mats[2].data = OPENSSL_malloc(32);
  mats[2].len = 32;
  RAND_bytes(mats[2].data, 32);
  for (int a = 0; a < 3; a++) {
    km_byok_alg_t alg = (km_byok_alg_t)a;
    for (int m = 0; m < 3; m++) {
      km_byok_buf_t w = {0}, back = {0};
      km_err_t err;
      assert_int_equal(km_byok_wrap(f->pub_der.data, f->pub_der.len,
                                    mats[m].data, mats[m].len, alg, &w, &err),
                       0);
      /* Cipher(ESK) is one RSA block; PKCS#7 always adds 1..16 bytes. */
      assert_int_equal(w.len, 256 + (mats[m].len / 16 + 1) * 16);
      assert_int_equal(km_byok_unwrap(f->wrap, w.data, w.len, alg, &back, &err),
                       0);
      assert_same(&back, &mats[m]);
      km_byok_buf_free(&back);
      /* The algorithm is part of the contract: another one fails. */
      km_byok_alg_t other = (km_byok_alg_t)((a + 1) % 3);
      assert_int_equal(
          km_byok_unwrap(f->wrap, w.data, w.len, other, &back, &err),
          KM_EINVAL);
      assert_null(back.data);
      km_byok_buf_free(&w);
    }
  }
  for (int m = 0; m < 3; m++)
    km_byok_buf_free(&mats[m]);
}

static void test_fresh_session_key_each_wrap(void **st) {
  fx_t *f = *st;
  unsigned char mat[32] = {1, 2, 3};
  km_byok_buf_t w1 = {0}, w2 = {0};
  assert_int_equal(km_byok_wrap_pkey(f->wrap, mat, sizeof(mat),
                                     KM_BYOK_RSAES_PKCS1_V1_5, &w1, NULL),
                   0);
  assert_int_equal(km_byok_wrap_pkey(f->wrap, mat, sizeof(mat),
                                     KM_BYOK_RSAES_PKCS1_V1_5, &w2, NULL),
                   0);
  assert_int_equal(w1.len, w2.len);
  /* Different ESK, so the ECB part differs too, not only the RSA part. */
  assert_memory_not_equal(w1.data, w2.data, 256);
  assert_memory_not_equal(w1.data + 256, w2.data + 256, w1.len - 256);
  km_byok_buf_free(&w1);
  km_byok_buf_free(&w2);
}

static void test_public_key_forms(void **st) {
  fx_t *f = *st;
  /* The API's PublicKey: base64 DER; also with line breaks as pasted. */
  char *b64 = km_byok_b64_encode(f->pub_der.data, f->pub_der.len);
  char *wrapped_b64 = km_xasprintf("%.64s\n%s\n", b64, b64 + 64);
  const void *forms[] = {f->pub_der.data, f->pub_pem.data, b64, wrapped_b64};
  size_t lens[] = {f->pub_der.len, f->pub_pem.len, strlen(b64),
                   strlen(wrapped_b64)};
  unsigned char mat[16] = {9};
  for (size_t i = 0; i < 4; i++) {
    EVP_PKEY *pk = NULL;
    km_err_t err;
    assert_int_equal(km_byok_pubkey_parse(forms[i], lens[i], "k", &pk, &err),
                     0);
    assert_int_equal(EVP_PKEY_eq(pk, f->wrap), 1);
    EVP_PKEY_free(pk);
    km_byok_buf_t w = {0}, back = {0};
    assert_int_equal(km_byok_wrap(forms[i], lens[i], mat, sizeof(mat),
                                  KM_BYOK_RSAES_OAEP_SHA_256, &w, &err),
                     0);
    assert_int_equal(km_byok_unwrap(f->wrap, w.data, w.len,
                                    KM_BYOK_RSAES_OAEP_SHA_256, &back, &err),
                     0);
    assert_int_equal(back.len, sizeof(mat));
    assert_memory_equal(back.data, mat, sizeof(mat));
    km_byok_buf_free(&w);
    km_byok_buf_free(&back);
  }
  free(b64);
  free(wrapped_b64);
}

static void test_refuses_non_2048_wrapping_key(void **st) {
  fx_t *f = *st;
  unsigned char mat[32] = {0};
  km_byok_buf_t der =
      encode(f->rsa1k, EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo");
  km_byok_buf_t w = {0};
  km_err_t err;
  assert_int_equal(km_byok_wrap(der.data, der.len, mat, sizeof(mat),
                                KM_BYOK_RSAES_OAEP_SHA_256, &w, &err),
                   KM_EINVAL);
  assert_null(w.data);
  assert_non_null(strstr(err.text, "RSA 1024"));
  assert_non_null(strstr(err.text, "RSA_2048"));
  /* Also when handed an already-parsed key. */
  assert_int_equal(km_byok_wrap_pkey(f->rsa1k, mat, sizeof(mat),
                                     KM_BYOK_RSAES_OAEP_SHA_256, &w, &err),
                   KM_EINVAL);
  km_byok_buf_free(&der);

  der = encode(f->ec, EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo");
  EVP_PKEY *pk = NULL;
  assert_int_equal(km_byok_pubkey_parse(der.data, der.len, "ec.der", &pk, &err),
                   KM_EINVAL);
  assert_null(pk);
  assert_non_null(strstr(err.text, "ec.der: the wrapping public key is EC"));
  km_byok_buf_free(&der);
}

static void test_refuses_garbage_public_key(void **st) {
  (void)st;
  unsigned char junk[300];
  RAND_bytes(junk, sizeof(junk));
  const char *text = "not a key at all";
  const struct {
    const void *d;
    size_t n;
  } cases[] = {
      {junk, sizeof(junk)}, {text, strlen(text)}, {"QUJD", 4}, {"", 0}};
  for (size_t i = 0; i < KM_ARRAY_SIZE(cases); i++) {
    EVP_PKEY *pk = NULL;
    km_err_t err;
    km__err_clear(&err);
    assert_int_equal(
        km_byok_pubkey_parse(cases[i].d, cases[i].n, "pub.bin", &pk, &err),
        KM_EINVAL);
    assert_null(pk);
    assert_non_null(strstr(err.text, "pub.bin"));
  }
}

static void test_refuses_material_readable_by_others(void **st) {
  fx_t *f = *st;
  km_byok_buf_t pem = encode(f->ec, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo");
  const mode_t bad[] = {0644, 0640, 0604, 0660};
  for (size_t i = 0; i < KM_ARRAY_SIZE(bad); i++) {
    const char *p = put(f, "mat.pem", pem.data, pem.len, bad[i]);
    km_byok_buf_t out = {0};
    km_err_t err;
    assert_int_equal(km_byok_material_load(p, false, &out, &err), KM_EPERM);
    assert_null(out.data);
    char want[256];
    snprintf(want, sizeof(want), "chmod 600 %s", p);
    assert_non_null(strstr(err.text, want));
    assert_non_null(strstr(err.text, p));
    /* Never the contents. */
    assert_null(strstr(err.text, "BEGIN"));
    assert_int_equal(km_byok_material_load(p, true, &out, &err), KM_EPERM);
  }
  const char *p = put(f, "mat.pem", pem.data, pem.len, 0600);
  km_byok_buf_t out = {0},
                want = encode(f->ec, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo");
  assert_int_equal(km_byok_material_load(p, false, &out, NULL), 0);
  assert_same(&out, &want);
  km_byok_buf_free(&out);
  km_byok_buf_free(&want);
  km_byok_buf_free(&pem);
}

/* Every encoding the vendor's and openssl's tools write loads to the same
 * PKCS#8 DER (`openssl pkcs8 -topk8 -nocrypt -outform der`). */
static void test_material_encodings(void **st) {
  fx_t *f = *st;
  EVP_PKEY *keys[] = {f->wrap, f->ec};
  const char *fmts[][2] = {{"PEM", "type-specific"}, /* PKCS#1 / SEC1 */
                           {"DER", "type-specific"},
                           {"PEM", "PrivateKeyInfo"},
                           {"DER", "PrivateKeyInfo"}};
  for (size_t k = 0; k < 2; k++) {
    km_byok_buf_t want =
        encode(keys[k], EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo");
    for (size_t i = 0; i < 4; i++) {
      km_byok_buf_t file =
          encode(keys[k], EVP_PKEY_KEYPAIR, fmts[i][0], fmts[i][1]);
      const char *p = put(f, "m.key", file.data, file.len, 0600);
      km_byok_buf_t got = {0};
      km_err_t err;
      int rc = km_byok_material_load(p, false, &got, &err);
      if (rc != 0)
        fail_msg("%s %s %s: %s", k ? "EC" : "RSA", fmts[i][0], fmts[i][1],
                 err.text);
      assert_same(&got, &want);
      km_byok_buf_free(&got);
      km_byok_buf_free(&file);
    }
    km_byok_buf_free(&want);
  }
  /* `openssl ecparam -genkey -name prime256v1` puts EC PARAMETERS first. */
  km_byok_buf_t sec1 = encode(f->ec, EVP_PKEY_KEYPAIR, "PEM", "type-specific");
  char *both = km_xasprintf("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                            "-----END EC PARAMETERS-----\n%.*s",
                            (int)sec1.len, (const char *)sec1.data);
  const char *p = put(f, "ecparam.pem", both, strlen(both), 0600);
  km_byok_buf_t got = {0},
                want = encode(f->ec, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo");
  assert_int_equal(km_byok_material_load(p, false, &got, NULL), 0);
  assert_same(&got, &want);
  km_byok_buf_free(&got);
  km_byok_buf_free(&want);
  km_byok_buf_free(&sec1);
  km_free_secret(both);
}

static void test_material_refusals(void **st) {
  fx_t *f = *st;
  km_err_t err;
  km_byok_buf_t out = {0};
  /* A public key is not material. */
  const char *p = put(f, "pub.pem", f->pub_pem.data, f->pub_pem.len, 0600);
  assert_int_equal(km_byok_material_load(p, false, &out, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "only a public key"));
  /* An encrypted key: we say so and never prompt. */
  BIO *bio = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_PrivateKey(bio, f->ec, EVP_aes_256_cbc(),
                                            (unsigned char *)"pw", 2, NULL,
                                            NULL),
                   1);
  char *d = NULL;
  long n = BIO_get_mem_data(bio, &d);
  p = put(f, "enc.pem", d, (size_t)n, 0600);
  BIO_free(bio);
  assert_int_equal(km_byok_material_load(p, false, &out, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "encrypted with a passphrase"));
  /* Raw material: exactly 16 or 32 bytes. */
  unsigned char raw[33];
  RAND_bytes(raw, sizeof(raw));
  p = put(f, "raw33.bin", raw, 33, 0600);
  assert_int_equal(km_byok_material_load(p, true, &out, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "33 bytes"));
  for (size_t len = 16; len <= 32; len += 16) {
    p = put(f, "raw.bin", raw, len, 0600);
    assert_int_equal(km_byok_material_load(p, true, &out, &err), 0);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, raw, len);
    km_byok_buf_free(&out);
    /* Forgetting --raw gets a hint. */
    assert_int_equal(km_byok_material_load(p, false, &out, &err), KM_EINVAL);
    assert_non_null(strstr(err.text, "--raw"));
  }
  char missing[128];
  snprintf(missing, sizeof(missing), "%s/missing.pem", f->dir);
  assert_int_equal(km_byok_material_load(missing, false, &out, &err),
                   KM_ENOENT);
  assert_non_null(strstr(err.text, "missing.pem"));
}

static void test_keygen(void **st) {
  fx_t *f = *st;
  const km_byok_spec_t specs[] = {KM_BYOK_SPEC_RSA_2048, KM_BYOK_SPEC_EC_P256};
  for (size_t i = 0; i < 2; i++) {
    char path[128];
    snprintf(path, sizeof(path), "%s/gen%zu.pem", f->dir, i);
    mode_t old = umask(0); /* the file is 0600 whatever the umask */
    int rc = km_byok_keygen(specs[i], path, NULL);
    umask(old);
    assert_int_equal(rc, 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    EVP_PKEY *pk = NULL;
    assert_int_equal(km_byok_privkey_load(path, &pk, NULL), 0);
    if (i == 0) {
      assert_true(EVP_PKEY_is_a(pk, "RSA"));
      assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
    } else {
      char curve[32];
      assert_true(EVP_PKEY_is_a(pk, "EC"));
      assert_int_equal(EVP_PKEY_get_utf8_string_param(pk, "group", curve,
                                                      sizeof(curve), NULL),
                       1);
      assert_string_equal(curve, "prime256v1");
    }
    EVP_PKEY_free(pk);
    /* Never over an existing file: it may be the only copy. */
    off_t size = sb.st_size;
    km_err_t err;
    assert_int_equal(km_byok_keygen(specs[i], path, &err), KM_EEXIST);
    assert_non_null(strstr(err.text, "already exists"));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, size);
  }
}

static void test_base64(void **st) {
  (void)st;
  const char *vec[][2] = {
      {"", ""},        {"f", "Zg=="},        {"fo", "Zm8="},
      {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < KM_ARRAY_SIZE(vec); i++) {
    char *s =
        km_byok_b64_encode((const unsigned char *)vec[i][0], strlen(vec[i][0]));
    assert_string_equal(s, vec[i][1]);
    free(s);
  }
  unsigned char data[200];
  RAND_bytes(data, sizeof(data));
  for (size_t n = 0; n <= sizeof(data); n++) {
    char *s = km_byok_b64_encode(data, n);
    km_byok_buf_t back = {0};
    assert_int_equal(km_byok_b64_decode(s, strlen(s), &back, NULL), 0);
    assert_int_equal(back.len, n);
    if (n > 0) assert_memory_equal(back.data, data, n);
    km_byok_buf_free(&back);
    free(s);
  }
  km_byok_buf_t b = {0};
  const char *ws = " Zm9v\r\nYmFy\n";
  assert_int_equal(km_byok_b64_decode(ws, strlen(ws), &b, NULL), 0);
  assert_int_equal(b.len, 6);
  assert_memory_equal(b.data, "foobar", 6);
  km_byok_buf_free(&b);
  const char *bad[] = {"Zm9", "Zm9v!", "Zg=a", "Z===", "Zm-v", "Zg==Zg=="};
  for (size_t i = 0; i < KM_ARRAY_SIZE(bad); i++) {
    assert_int_equal(km_byok_b64_decode(bad[i], strlen(bad[i]), &b, NULL),
                     KM_EINVAL);
    assert_null(b.data);
  }
}

static void test_names_and_bad_unwrap_input(void **st) {
  fx_t *f = *st;
  km_byok_alg_t alg;
  assert_int_equal(km_byok_alg_parse("rsaes_oaep_sha_1", &alg, NULL), 0);
  assert_int_equal(alg, KM_BYOK_RSAES_OAEP_SHA_1);
  assert_string_equal(km_byok_alg_name(KM_BYOK_RSAES_PKCS1_V1_5),
                      "RSAES_PKCS1_V1_5");
  km_err_t err;
  assert_int_equal(km_byok_alg_parse("SM2PKE", &alg, &err), KM_EINVAL);
  assert_non_null(strstr(err.text, "RSAES_OAEP_SHA_256"));
  km_byok_spec_t spec;
  assert_int_equal(km_byok_spec_parse("ec_p256", &spec, NULL), 0);
  assert_int_equal(spec, KM_BYOK_SPEC_EC_P256);
  assert_int_equal(km_byok_spec_parse("RSA_4096", &spec, NULL), KM_EINVAL);

  unsigned char junk[256 + 32];
  RAND_bytes(junk, sizeof(junk));
  km_byok_buf_t out = {0};
  assert_int_equal(km_byok_unwrap(f->wrap, junk, sizeof(junk),
                                  KM_BYOK_RSAES_OAEP_SHA_256, &out, &err),
                   KM_EINVAL);
  assert_int_equal(km_byok_unwrap(f->wrap, junk, 256 + 7,
                                  KM_BYOK_RSAES_OAEP_SHA_256, &out, &err),
                   KM_EINVAL);
  assert_int_equal(km_byok_unwrap(f->ec, junk, sizeof(junk),
                                  KM_BYOK_RSAES_OAEP_SHA_256, &out, &err),
                   KM_EINVAL);
  assert_null(out.data);
}

static void test_write_file_replaces_privately(void **st) {
  fx_t *f = *st;
  char path[128];
  snprintf(path, sizeof(path), "%s/out.b64", f->dir);
  put(f, "out.b64", "old contents", 12, 0644);
  assert_int_equal(km_byok_write_file(path, "new", 3, false, NULL), 0);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  assert_int_equal(sb.st_size, 3);
  km_err_t err;
  assert_int_equal(km_byok_write_file(path, "x", 1, true, &err), KM_EEXIST);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrap_roundtrip_all_algorithms),
      cmocka_unit_test(test_fresh_session_key_each_wrap),
      cmocka_unit_test(test_public_key_forms),
      cmocka_unit_test(test_refuses_non_2048_wrapping_key),
      cmocka_unit_test(test_refuses_garbage_public_key),
      cmocka_unit_test(test_refuses_material_readable_by_others),
      cmocka_unit_test(test_material_encodings),
      cmocka_unit_test(test_material_refusals),
      cmocka_unit_test(test_keygen),
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_names_and_bad_unwrap_input),
      cmocka_unit_test(test_write_file_replaces_privately),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
