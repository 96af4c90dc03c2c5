#ifndef CMA_COPENSSL_SHIM_H
#define CMA_COPENSSL_SHIM_H
// Only what the Webhooks module calls: HMAC-SHA256 and a constant-time compare.
//
// HMAC (RFC 2104) is built here on libcrypto's SHA-256 with the key's two padded
// blocks hashed once per key: each MAC then starts from copies of those states, with
// no allocation. OpenSSL 3's EVP_MAC path duplicates a provider context on every
// call (several allocations), which cost more than hashing a webhook. The SHA256_*
// functions are deprecated in OpenSSL 3 in favour of EVP but remain its fastest
// route to the same assembly; the suppression below keeps that choice explicit.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <string.h>

// A key's inner and outer SHA-256 states after one block of key ^ ipad / key ^ opad.
typedef struct {
    SHA256_CTX inner;
    SHA256_CTX outer;
} cma_hmac_sha256_key;

// Prepares `state` for `key` (any length: longer than a block is hashed first).
static inline void cma_hmac_sha256_prepare(cma_hmac_sha256_key *state, const unsigned char *key, size_t key_len) {
    unsigned char block[SHA256_CBLOCK];
    memset(block, 0, sizeof block);
    if (key_len > SHA256_CBLOCK) {
        SHA256(key, key_len, block);
    } else if (key_len > 0) {
        memcpy(block, key, key_len);
    }
    unsigned char pad[SHA256_CBLOCK];
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&state->inner);
    SHA256_Update(&state->inner, pad, sizeof pad);
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&state->outer);
    SHA256_Update(&state->outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

// HMAC-SHA256 of the concatenation head ‖ tail into `out` (32 bytes). `state` is only
// read, so one prepared key serves any number of threads.
static inline void cma_hmac_sha256_two(const cma_hmac_sha256_key *state,
                                       const unsigned char *head, size_t head_len,
                                       const unsigned char *tail, size_t tail_len,
                                       unsigned char out[32]) {
    SHA256_CTX ctx = state->inner;
    unsigned char inner[SHA256_DIGEST_LENGTH];
    SHA256_Update(&ctx, head, head_len);
    SHA256_Update(&ctx, tail, tail_len);
    SHA256_Final(inner, &ctx);
    ctx = state->outer;
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    OPENSSL_cleanse(inner, sizeof inner);
}
#endif
