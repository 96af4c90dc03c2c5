#ifndef CMA_COPENSSL_SHIM_H
#define CMA_COPENSSL_SHIM_H
// Only what the Webhooks module calls: one-shot HMAC-SHA256 and a constant-time compare.
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#endif
