/* `kmsmig byok wrap|keygen`: the standalone HSM BYOK material tooling.
 *
 * `wrap` does, in one step and without temporary files, what the vendor's
 * procedure does with five openssl commands: wrap a private key (or raw
 * symmetric key) for the public key GetParametersForImport returned, and
 * print the base64 that ImportKeyMaterial takes.  `keygen` makes new
 * material.  Neither calls the cloud.
 *
 * Exit codes: 0 done; 2 usage error or an input we refuse (missing or
 * unreadable file, wrong key, material readable by others), so nothing was
 * written; 1 an unexpected failure while working.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "byok/wrap.h"
#include "cli.h"
#include "util/util.h"

/* Public key files are a few hundred bytes; be generous for PEM bundles. */
#define PUBKEY_FILE_MAX (64 * 1024)

static void usage_wrap(void) {
  printf(
      "usage: kmsmig byok wrap (--public-key FILE | --public-key-b64 STRING)\n"
      "                        --material FILE [--raw] [--algorithm ALG]\n"
      "                        [--output FILE] [--binary]\n"
      "\n"
      "Wraps key material for ImportKeyMaterial: Cipher(ESK) || Cipher(key),\n"
      "with a fresh AES-256 session key per run (see docs/byok.md).\n"
      "\n"
      "options:\n"
      "  --public-key FILE       the wrapping public key of "
      "GetParametersForImport:\n"
      "                          DER (WrappingPublicKey*.bin), PEM, or a file\n"
      "                          holding the base64 PublicKey string\n"
      "  --public-key-b64 STRING the base64 PublicKey string itself\n"
      "  --material FILE         the key material: a private key (PEM or "
      "DER;\n"
      "                          PKCS#1, SEC1 or PKCS#8; RSA or EC), sent as\n"
      "                          PKCS#8 DER.  Must be mode 600.\n"
      "  --raw                   FILE is a raw symmetric key: 16 bytes "
      "(SM4)\n"
      "                          or 32 bytes (AES-256)\n"
      "  --algorithm ALG         RSAES_OAEP_SHA_256 (default), "
      "RSAES_PKCS1_V1_5\n"
      "                          or RSAES_OAEP_SHA_1: the WrappingAlgorithm\n"
      "                          the public key was requested with\n"
      "  --output FILE           write there (mode 600) instead of stdout\n"
      "  --binary                write the wrapped bytes, not base64\n"
      "\n"
      "exit codes: 0 written; 2 usage error or refused input (nothing "
      "written);\n"
      "1 unexpected failure.\n");
}

static void usage_keygen(void) {
  printf("usage: kmsmig byok keygen --spec RSA_2048|EC_P256 --out FILE\n"
         "\n"
         "Generates a private key to use as the material of an EXTERNAL key "
         "and\nwrites it as PKCS#8 PEM with mode 600.  Never overwrites FILE: "
         "keep it,\nre-importing expired material needs the same key.\n");
}

void km__usage_byok(void) {
  printf(
      "usage: kmsmig byok wrap (--public-key FILE | --public-key-b64 "
      "STRING)\n"
      "                        --material FILE [--raw] [--algorithm ALG]\n"
      "                        [--output FILE] [--binary]\n"
      "       kmsmig byok keygen --spec RSA_2048|EC_P256 --out FILE\n"
      "\n"
      "HSM BYOK key material, offline (no cloud call):\n"
      "  wrap    wrap material for ImportKeyMaterial with the public key of\n"
      "          GetParametersForImport; base64 on stdout by default\n"
      "  keygen  generate a private key to import as material\n"
      "\n"
      "`kmsmig byok wrap --help` lists the options.  The format and the "
      "safety\nrules are in docs/byok.md.\n");
}

static int usage_error(const char *sub, const char *fmt, const char *arg) {
  fprintf(stderr, "kmsmig byok%s%s: ", sub[0] ? " " : "", sub);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "; see `kmsmig byok%s%s --help`\n", sub[0] ? " " : "", sub);
  return KM_EXIT_USAGE;
}

/* Exit code for a library failure: bad input is the user's to fix (2),
 * anything else is ours (1). */
static int fail(const char *sub, int rc, const km_err_t *err) {
  fprintf(stderr, "kmsmig byok %s: %s\n", sub,
          err->text[0] ? err->text : km_strerror(rc));
  switch (rc) {
  case KM_EINVAL:
  case KM_ENOENT:
  case KM_EPERM:
  case KM_EEXIST:
    return KM_EXIT_USAGE;
  default:
    return KM_EXIT_FAILURES;
  }
}

/* Matches "--name VALUE" and "--name=VALUE"; *i advances past VALUE.
 * Returns 1 and *val, 0 when argv[*i] is not this option, -1 when the value
 * is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name,
                     const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) return -1;
  *val = argv[++*i];
  return 1;
}

typedef struct {
  const char *pub_file, *pub_b64, *material, *alg, *output;
  bool raw, binary;
} wrap_opts_t;

static int parse_wrap(int argc, char **argv, wrap_opts_t *o) {
  static const char *const names[] = {"--public-key", "--public-key-b64",
                                      "--material", "--algorithm", "--output"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--raw") == 0) {
      o->raw = true;
      continue;
    }
    if (strcmp(a, "--binary") == 0) {
      o->binary = true;
      continue;
    }
    const char **slots[] = {&o->pub_file, &o->pub_b64, &o->material, &o->alg,
                            &o->output};
    int r = 0;
    for (size_t k = 0; k < KM_ARRAY_SIZE(names) && r == 0; k++) {
      r = opt_value(argc, argv, &i, names[k], slots[k]);
      if (r < 0) return usage_error("wrap", "%s needs a value", names[k]);
    }
    if (r == 0) return usage_error("wrap", "unknown argument '%s'", a);
  }
  if ((o->pub_file == NULL) == (o->pub_b64 == NULL))
    return usage_error("wrap", "%s",
                       "give exactly one of --public-key FILE and "
                       "--public-key-b64 STRING");
  if (o->material == NULL)
    return usage_error("wrap", "%s", "--material FILE is required");
  if (o->binary && o->output == NULL && isatty(STDOUT_FILENO))
    return usage_error("wrap", "%s",
                       "refusing to write binary to a terminal; add "
                       "--output FILE or drop --binary");
  return 0;
}

static int cmd_wrap(int argc, char **argv) {
  wrap_opts_t o = {0};
  int rc = parse_wrap(argc, argv, &o);
  if (rc != 0) return rc;
  km_err_t err;
  km__err_clear(&err);
  km_byok_alg_t alg = KM_BYOK_RSAES_OAEP_SHA_256;
  if (o.alg != NULL && km_byok_alg_parse(o.alg, &alg, &err) < 0)
    return usage_error("wrap", "%s", err.text);

  /* The public key first: a wrong key should not cost a material read. */
  EVP_PKEY *pub = NULL;
  if (o.pub_file != NULL) {
    km_byok_buf_t pf = {0};
    rc = km_byok_read_file(o.pub_file, PUBKEY_FILE_MAX, false, &pf, &err);
    if (rc == 0)
      rc = km_byok_pubkey_parse(pf.data, pf.len, o.pub_file, &pub, &err);
    km_byok_buf_free(&pf);
  } else {
    rc = km_byok_pubkey_parse(o.pub_b64, strlen(o.pub_b64), "--public-key-b64",
                              &pub, &err);
  }
  if (rc < 0) return fail("wrap", rc, &err);

  km_byok_buf_t material = {0}, wrapped = {0};
  rc = km_byok_material_load(o.material, o.raw, &material, &err);
  if (rc == 0)
    rc = km_byok_wrap_pkey(pub, material.data, material.len, alg, &wrapped,
                           &err);
  size_t material_len = material.len;
  km_byok_buf_free(&material);
  EVP_PKEY_free(pub);
  if (rc < 0) return fail("wrap", rc, &err);

  char *b64 = NULL;
  const void *data = wrapped.data;
  size_t len = wrapped.len;
  if (!o.binary) {
    b64 = km_byok_b64_encode(wrapped.data, wrapped.len);
    data = b64;
    len = strlen(b64);
  }
  if (o.output != NULL) {
    /* Like the vendor's `openssl enc -base64 -A`: no trailing newline. */
    rc = km_byok_write_file(o.output, data, len, false, &err);
  } else {
    bool ok = fwrite(data, 1, len, stdout) == len;
    if (!o.binary) ok = ok && fputc('\n', stdout) != EOF;
    ok = fflush(stdout) == 0 && ok;
    if (!ok) rc = km__err_set(&err, KM_EIO, "writing to stdout failed");
  }
  size_t wrapped_len = wrapped.len;
  free(b64);
  km_byok_buf_free(&wrapped);
  if (rc < 0) return fail("wrap", rc, &err);
  fprintf(stderr,
          "kmsmig byok wrap: wrapped %zu bytes of %s material with %s into "
          "%zu bytes, written as %s to %s; import it with the ImportToken of "
          "the same GetParametersForImport call (valid 24 h)\n",
          material_len, o.raw ? "raw" : "PKCS#8", km_byok_alg_name(alg),
          wrapped_len, o.binary ? "binary" : "base64",
          o.output != NULL ? o.output : "stdout");
  return KM_EXIT_OK;
}

static int cmd_keygen(int argc, char **argv) {
  const char *spec_name = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    int r = opt_value(argc, argv, &i, "--spec", &spec_name);
    if (r == 0) r = opt_value(argc, argv, &i, "--out", &out);
    if (r < 0) return usage_error("keygen", "%s needs a value", argv[i]);
    if (r == 0) return usage_error("keygen", "unknown argument '%s'", argv[i]);
  }
  if (spec_name == NULL)
    return usage_error("keygen", "%s", "--spec RSA_2048|EC_P256 is required");
  if (out == NULL) return usage_error("keygen", "%s", "--out FILE is required");
  km_err_t err;
  km__err_clear(&err);
  km_byok_spec_t spec;
  if (km_byok_spec_parse(spec_name, &spec, &err) < 0)
    return usage_error("keygen", "%s", err.text);
  int rc = km_byok_keygen(spec, out, &err);
  if (rc < 0) return fail("keygen", rc, &err);
  fprintf(stderr,
          "kmsmig byok keygen: wrote a new %s private key to %s (mode 600); "
          "keep it safe: re-importing expired material needs this same key\n",
          spec == KM_BYOK_SPEC_RSA_2048 ? "RSA_2048" : "EC_P256", out);
  return KM_EXIT_OK;
}

int km__cmd_byok(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "kmsmig byok: missing subcommand (wrap or keygen); see "
                    "`kmsmig byok --help`\n");
    return KM_EXIT_USAGE;
  }
  const char *sub = argv[1];
  if (km__is_help(sub) || strcmp(sub, "help") == 0) {
    km__usage_byok();
    return KM_EXIT_OK;
  }
  bool wrap = strcmp(sub, "wrap") == 0;
  if (!wrap && strcmp(sub, "keygen") != 0)
    return usage_error("", "unknown subcommand '%s' (wrap or keygen)", sub);
  for (int i = 2; i < argc; i++) {
    if (km__is_help(argv[i])) {
      if (wrap)
        usage_wrap();
      else
        usage_keygen();
      return KM_EXIT_OK;
    }
  }
  return wrap ? cmd_wrap(argc - 1, argv + 1) : cmd_keygen(argc - 1, argv + 1);
}
