/* Key material files: reading them (refusing files other users can read),
 * turning a private key in any common encoding into the PKCS#8 DER that
 * ImportKeyMaterial expects, and writing outputs with mode 0600.
 *
 * The vendor's procedure converts the key with `openssl pkcs8 -topk8
 * -nocrypt -outform der`; we use the same OpenSSL 3 encoder
 * ("PrivateKeyInfo", DER), so the bytes are identical and an operator can
 * check our work with the vendor's commands.  Everything read from a
 * material file is held in OPENSSL_malloc'd buffers that are cleansed when
 * freed, and no error message ever quotes file contents.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "byok/wrap.h"
#include "util/util.h"

/* Private key files are small; anything larger is not one. */
#define KEY_FILE_MAX (64 * 1024)

static int errno_code(int e) {
  switch (e) {
  case ENOENT:
  case ENOTDIR:
    return KM_ENOENT;
  case EACCES:
  case EPERM:
    return KM_EPERM;
  case EEXIST:
    return KM_EEXIST;
  default:
    return KM_EIO;
  }
}

int km_byok_read_file(const char *path, size_t max, bool private_only,
                      km_byok_buf_t *out, km_err_t *err) {
  out->data = NULL;
  out->len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return km__err_setw(err, errno_code(e), path, "%s: cannot open: %s", path,
                        strerror(e));
  }
  struct stat st;
  int rc = 0;
  unsigned char *buf = NULL;
  size_t cap = 0, len = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = km__err_setw(err, KM_EINVAL, path, "%s: not a regular file", path);
    goto done;
  }
  /* Checked on the open descriptor, so a chmod race cannot slip between
   * the check and the read. */
  if (private_only && (st.st_mode & 077) != 0) {
    rc = km__err_setw(err, KM_EPERM, path,
                      "%s is accessible by group or others (mode %04o); key "
                      "material must be private: chmod 600 %s",
                      path, (unsigned)(st.st_mode & 07777), path);
    goto done;
  }
  if ((uint64_t)st.st_size > (uint64_t)max) {
    rc = km__err_setw(err, KM_EINVAL, path,
                      "%s: %lld bytes is too large (at most %zu)", path,
                      (long long)st.st_size, max);
    goto done;
  }
  /* One byte more than the limit, to notice a file that grew meanwhile. */
  cap = max + 1;
  buf = OPENSSL_malloc(cap);
  if (buf == NULL) {
    rc = km__err_set(err, KM_ENOMEM, "out of memory");
    goto done;
  }
  for (;;) {
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      rc = km__err_setw(err, KM_EIO, path, "%s: read failed: %s", path,
                        strerror(e));
      goto done;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len > max) {
      rc = km__err_setw(err, KM_EINVAL, path,
                        "%s: too large (at most %zu bytes)", path, max);
      goto done;
    }
  }
  out->data = buf;
  out->len = len;
  buf = NULL;
done:
  if (buf != NULL) OPENSSL_clear_free(buf, cap);
  close(fd);
  return rc;
}

static int write_all(int fd, const void *data, size_t len) {
  const unsigned char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int km_byok_write_file(const char *path, const void *data, size_t len,
                       bool exclusive, km_err_t *err) {
  char *tmp = NULL;
  int fd;
  if (exclusive) {
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
      return km__err_setw(err, KM_EEXIST, path,
                          "%s already exists; refusing to overwrite it "
                          "(choose another name or remove it first)",
                          path);
  } else {
    /* Replace atomically: readers never see half a file, and a failure
     * leaves the old one in place. */
    tmp = km_xasprintf("%s.XXXXXX", path);
    fd = mkstemp(tmp); /* mode 0600 */
  }
  if (fd < 0) {
    int e = errno;
    free(tmp);
    return km__err_setw(err, errno_code(e), path, "%s: cannot create: %s", path,
                        strerror(e));
  }
  const char *written = tmp != NULL ? tmp : path;
  int rc = 0;
  /* Whatever the umask, the file is the owner's only. */
  if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 ||
      fsync(fd) != 0) {
    int e = errno;
    rc = km__err_setw(err, KM_EIO, path, "%s: write failed: %s", path,
                      strerror(e));
  }
  if (close(fd) != 0 && rc == 0) {
    int e = errno;
    rc = km__err_setw(err, KM_EIO, path, "%s: write failed: %s", path,
                      strerror(e));
  }
  if (rc == 0 && tmp != NULL && rename(tmp, path) != 0) {
    int e = errno;
    rc = km__err_setw(err, errno_code(e), path, "%s: cannot replace: %s", path,
                      strerror(e));
  }
  if (rc < 0) unlink(written);
  free(tmp);
  return rc;
}

/* Passphrase callback that refuses: we never prompt, and we want to tell
 * the user the file is encrypted instead of failing obscurely. */
static int no_passphrase(char *pass, size_t size, size_t *len,
                         const OSSL_PARAM params[], void *arg) {
  (void)pass;
  (void)size;
  (void)len;
  (void)params;
  *(int *)arg = 1;
  return 0;
}

static int pem_no_passphrase(char *buf, int size, int rwflag, void *arg) {
  (void)buf;
  (void)size;
  (void)rwflag;
  *(int *)arg = 1;
  return -1;
}

static EVP_PKEY *decode_private(const km_byok_buf_t *in, int *encrypted) {
  EVP_PKEY *pk = NULL;
  OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
      &pk, NULL, NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
  if (dctx != NULL) {
    OSSL_DECODER_CTX_set_passphrase_cb(dctx, no_passphrase, encrypted);
    const unsigned char *p = in->data;
    size_t left = in->len;
    if (OSSL_DECODER_from_data(dctx, &p, &left) != 1) {
      EVP_PKEY_free(pk);
      pk = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
  }
  /* `openssl ecparam -genkey` writes an EC PARAMETERS block before the
   * key; the decoder stops at the first block, the PEM reader skips it. */
  if (pk == NULL && *encrypted == 0 && in->len <= (size_t)INT32_MAX) {
    BIO *bio = BIO_new_mem_buf(in->data, (int)in->len);
    if (bio != NULL)
      pk = PEM_read_bio_PrivateKey_ex(bio, NULL, pem_no_passphrase, encrypted,
                                      NULL, NULL);
    BIO_free(bio);
  }
  ERR_clear_error();
  return pk;
}

/* A decoder given selection KEYPAIR also accepts a bare public key; the
 * material must carry the private half. */
static bool has_private(EVP_PKEY *pk) {
  BIGNUM *bn = NULL;
  const char *name = EVP_PKEY_is_a(pk, "RSA") ? OSSL_PKEY_PARAM_RSA_D
                                              : OSSL_PKEY_PARAM_PRIV_KEY;
  bool ok = EVP_PKEY_get_bn_param(pk, name, &bn) == 1 && bn != NULL;
  BN_clear_free(bn);
  ERR_clear_error();
  return ok;
}

/* Whether the file is a public key, to say so instead of "not a key". */
static bool is_public_key(const km_byok_buf_t *in) {
  EVP_PKEY *pk = NULL;
  OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
      &pk, NULL, NULL, NULL, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
  const unsigned char *p = in->data;
  size_t left = in->len;
  bool ok = dctx != NULL && OSSL_DECODER_from_data(dctx, &p, &left) == 1;
  OSSL_DECODER_CTX_free(dctx);
  EVP_PKEY_free(pk);
  ERR_clear_error();
  return ok;
}

int km_byok_privkey_load(const char *path, EVP_PKEY **out, km_err_t *err) {
  *out = NULL;
  km_byok_buf_t file = {0};
  int rc = km_byok_read_file(path, KEY_FILE_MAX, true, &file, err);
  if (rc < 0) return rc;
  int encrypted = 0;
  EVP_PKEY *pk = decode_private(&file, &encrypted);
  size_t file_len = file.len;
  bool public_only = pk == NULL && !encrypted && is_public_key(&file);
  km_byok_buf_free(&file);
  if (public_only)
    return km__err_setw(err, KM_EINVAL, path,
                        "%s holds only a public key; the material is the "
                        "private key",
                        path);
  if (pk == NULL && encrypted)
    return km__err_setw(err, KM_EINVAL, path,
                        "%s is encrypted with a passphrase; kmsmig never "
                        "prompts: decrypt it to a private file first "
                        "(openssl pkey -in %s -out PLAIN.pem, then chmod 600 "
                        "PLAIN.pem)",
                        path, path);
  if (pk == NULL)
    return km__err_setw(
        err, KM_EINVAL, path,
        "%s: not a private key; expected PEM or DER, PKCS#1, SEC1 or "
        "PKCS#8%s",
        path,
        file_len == 16 || file_len == 32
            ? " (for a raw 16- or 32-byte symmetric key, add --raw)"
            : "");
  if (!EVP_PKEY_is_a(pk, "RSA") && !EVP_PKEY_is_a(pk, "EC")) {
    rc = km__err_setw(err, KM_EINVAL, path,
                      "%s: a %s key; HSM BYOK material is an RSA or EC "
                      "private key, or raw symmetric bytes with --raw",
                      path, EVP_PKEY_get0_type_name(pk));
    EVP_PKEY_free(pk);
    return rc;
  }
  if (!has_private(pk)) {
    EVP_PKEY_free(pk);
    return km__err_setw(err, KM_EINVAL, path,
                        "%s holds only a public key; the material is the "
                        "private key",
                        path);
  }
  *out = pk;
  return 0;
}

int km_byok_pkcs8_der(EVP_PKEY *key, km_byok_buf_t *out, km_err_t *err) {
  out->data = NULL;
  out->len = 0;
  unsigned char *data = NULL;
  size_t len = 0;
  OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(
      key, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", NULL);
  int ok = ectx != NULL && OSSL_ENCODER_CTX_get_num_encoders(ectx) > 0 &&
           OSSL_ENCODER_to_data(ectx, &data, &len) == 1;
  OSSL_ENCODER_CTX_free(ectx);
  ERR_clear_error();
  if (!ok) {
    if (data != NULL) OPENSSL_clear_free(data, len);
    return km__err_set(err, KM_EINVAL,
                       "cannot encode the %s key as PKCS#8 PrivateKeyInfo",
                       EVP_PKEY_get0_type_name(key));
  }
  out->data = data;
  out->len = len;
  return 0;
}

int km_byok_material_load(const char *path, bool raw, km_byok_buf_t *out,
                          km_err_t *err) {
  out->data = NULL;
  out->len = 0;
  if (raw) {
    km_byok_buf_t file = {0};
    int rc = km_byok_read_file(path, KEY_FILE_MAX, true, &file, err);
    if (rc < 0) return rc;
    if (file.len != 16 && file.len != 32) {
      size_t n = file.len;
      km_byok_buf_free(&file);
      return km__err_setw(err, KM_EINVAL, path,
                          "%s has %zu bytes; --raw material is the key "
                          "itself, exactly 16 bytes (Aliyun_SM4) or 32 bytes "
                          "(Aliyun_AES_256), binary, no newline",
                          path, n);
    }
    *out = file;
    return 0;
  }
  EVP_PKEY *pk = NULL;
  int rc = km_byok_privkey_load(path, &pk, err);
  if (rc < 0) return rc;
  rc = km_byok_pkcs8_der(pk, out, err);
  if (rc < 0)
    km__err_setw(err, rc, path, "%s: cannot encode the %s key as PKCS#8", path,
                 EVP_PKEY_get0_type_name(pk));
  EVP_PKEY_free(pk);
  return rc;
}
