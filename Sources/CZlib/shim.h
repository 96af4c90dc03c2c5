#ifndef CMA_CZLIB_SHIM_H
#define CMA_CZLIB_SHIM_H
// Only deflate is used (gzip responses); the macros of zlib.h are not importable,
// so deflateInit2 is wrapped here.
#include <zlib.h>
static inline int cma_deflateInit2(z_streamp strm, int level, int windowBits, int memLevel) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, memLevel, Z_DEFAULT_STRATEGY);
}
#endif
