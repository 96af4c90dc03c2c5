#ifndef CMA_COPENSSL_SHIM_H
#define CMA_COPENSSL_SHIM_H
// Only what the Webhooks module calls: HMAC-SHA256 and a constant-time compare.
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>

// One-shot HMAC-SHA256 into a 32-byte buffer; returns 1 on success, 0 on failure.
// A helper so Swift does not juggle EVP_MD pointers and length out-parameters.
static inline int cma_hmac_sha256(const void *key, int key_len,
                                  const unsigned char *data, size_t data_len,
                                  unsigned char out[32]) {
    unsigned int out_len = 0;
    unsigned char *result = HMAC(EVP_sha256(), key, key_len, data, data_len, out, &out_len);
    return (result != NULL && out_len == 32) ? 1 : 0;
}

// OpenSSL 3's one-shot HMAC() fetches the MAC implementation on every call, which
// costs more than hashing a webhook. The verifier fetches it once
// (EVP_MAC_fetch(NULL, "HMAC", NULL)), keeps one keyed context per configured key
// and duplicates it per delivery.

// A context keyed with `key`, ready for updates; NULL on failure. Free with EVP_MAC_CTX_free.
static inline EVP_MAC_CTX *cma_hmac_sha256_keyed(EVP_MAC *algorithm, const void *key, size_t key_len) {
    if (algorithm == NULL) return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(algorithm);
    if (ctx == NULL) return NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, (const unsigned char *)key, key_len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

// HMAC of `data` with a keyed context (left untouched: safe to share between threads).
static inline int cma_hmac_sha256_with(const EVP_MAC_CTX *keyed, const unsigned char *data, size_t data_len,
                                       unsigned char out[32]) {
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(keyed);
    if (ctx == NULL) return 0;
    size_t out_len = 0;
    int ok = EVP_MAC_update(ctx, data, data_len) == 1 && EVP_MAC_final(ctx, out, &out_len, 32) == 1 && out_len == 32;
    EVP_MAC_CTX_free(ctx);
    return ok ? 1 : 0;
}
#endif
