#ifndef CMA_COPENSSL_SHIM_H
#define CMA_COPENSSL_SHIM_H
// Only what the Webhooks module calls: one-shot HMAC-SHA256 and a constant-time compare.
#include <openssl/hmac.h>
#include <openssl/evp.h>
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
#endif
