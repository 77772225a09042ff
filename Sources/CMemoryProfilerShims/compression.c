// zlib, for the files mprof compresses (finished heap captures, pprof profiles). zlib1g-dev is one of Swift's own
// prerequisites on Linux, and mprof links libz.a into its static executable.
#include "CMemoryProfilerShims.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

size_t cmp_deflate_bound(size_t length) {
    // deflateBound is for one call with the whole input; ours feeds it in pieces of at most UINT_MAX bytes, which
    // adds no more than a few bytes per piece.
    return length + length / 1000 + (length / UINT_MAX + 1) * 16 + 64;
}

int cmp_deflate(const unsigned char *input, size_t length, unsigned char *output, size_t *output_length, int level,
    int gzip) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    if (deflateInit2(&stream, level, Z_DEFLATED, gzip ? 15 + 16 : 15, 9, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t read = 0, written = 0, capacity = *output_length;
    int status = Z_OK;
    while (status == Z_OK) {
        size_t in = length - read, out = capacity - written;
        stream.next_in = (unsigned char *)input + read;
        stream.avail_in = in > UINT_MAX ? UINT_MAX : (unsigned)in;
        stream.next_out = output + written;
        stream.avail_out = out > UINT_MAX ? UINT_MAX : (unsigned)out;
        unsigned offered_in = stream.avail_in, offered_out = stream.avail_out;
        int finishing = in <= UINT_MAX;
        status = deflate(&stream, finishing ? Z_FINISH : Z_NO_FLUSH);
        read += offered_in - stream.avail_in;
        written += offered_out - stream.avail_out;
        if (status == Z_OK && offered_out - stream.avail_out == 0 && offered_in == stream.avail_in) break;  // full
        if (status == Z_BUF_ERROR) break;
    }
    deflateEnd(&stream);
    if (status != Z_STREAM_END) return -1;
    *output_length = written;
    return 0;
}

int cmp_inflate(const unsigned char *input, size_t length, unsigned char *output, size_t expected, int gzip) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    if (inflateInit2(&stream, gzip ? 15 + 16 : 15) != Z_OK) return CMP_INFLATE_DAMAGED;
    size_t read = 0, written = 0;
    int status = Z_OK;
    while (status == Z_OK) {
        size_t in = length - read, out = expected - written;
        stream.next_in = (unsigned char *)input + read;
        stream.avail_in = in > UINT_MAX ? UINT_MAX : (unsigned)in;
        stream.next_out = output + written;
        stream.avail_out = out > UINT_MAX ? UINT_MAX : (unsigned)out;
        unsigned offered_in = stream.avail_in, offered_out = stream.avail_out;
        status = inflate(&stream, Z_NO_FLUSH);
        read += offered_in - stream.avail_in;
        written += offered_out - stream.avail_out;
        // No progress with room on both sides, or no room left before the end: not what was declared.
        if (status == Z_OK && offered_in == stream.avail_in && offered_out == stream.avail_out) status = Z_BUF_ERROR;
    }
    inflateEnd(&stream);
    if (status == Z_STREAM_END) {
        if (written != expected) return CMP_INFLATE_SHORT;
        if (read != length) return CMP_INFLATE_TRAILING;
        return 0;
    }
    if (status == Z_BUF_ERROR) return written == expected ? CMP_INFLATE_LONG : CMP_INFLATE_SHORT;
    return CMP_INFLATE_DAMAGED;
}

struct cmp_deflater {
    z_stream stream;
    unsigned char *output;
    size_t length, capacity;
};

cmp_deflater *cmp_deflater_create(int level) {
    cmp_deflater *deflater = calloc(1, sizeof *deflater);
    if (deflater == NULL) return NULL;
    if (deflateInit2(&deflater->stream, level, Z_DEFLATED, 15, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(deflater);
        return NULL;
    }
    return deflater;
}

int cmp_deflater_write(cmp_deflater *deflater, const unsigned char *input, size_t length, int finish) {
    size_t read = 0;
    for (;;) {
        if (deflater->capacity - deflater->length < 65536) {
            size_t capacity = deflater->capacity < 65536 ? 131072 : deflater->capacity * 2;
            unsigned char *grown = realloc(deflater->output, capacity);
            if (grown == NULL) return -1;
            deflater->output = grown;
            deflater->capacity = capacity;
        }
        size_t in = length - read, out = deflater->capacity - deflater->length;
        int last = in <= UINT_MAX;
        deflater->stream.next_in = (unsigned char *)input + read;
        deflater->stream.avail_in = last ? (unsigned)in : UINT_MAX;
        deflater->stream.next_out = deflater->output + deflater->length;
        deflater->stream.avail_out = out > UINT_MAX ? UINT_MAX : (unsigned)out;
        unsigned offered_in = deflater->stream.avail_in, offered_out = deflater->stream.avail_out;
        int status = deflate(&deflater->stream, finish && last ? Z_FINISH : Z_NO_FLUSH);
        read += offered_in - deflater->stream.avail_in;
        deflater->length += offered_out - deflater->stream.avail_out;
        if (status == Z_STREAM_END) return 0;
        if (status != Z_OK && status != Z_BUF_ERROR) return -1;
        // Done with this input when all of it went in and zlib did not fill the room it had (it keeps the rest).
        if (!finish && read == length && deflater->stream.avail_out > 0) return 0;
    }
}

const unsigned char *cmp_deflater_output(const cmp_deflater *deflater, size_t *length) {
    *length = deflater->length;
    return deflater->output;
}

void cmp_deflater_destroy(cmp_deflater *deflater) {
    if (deflater == NULL) return;
    deflateEnd(&deflater->stream);
    free(deflater->output);
    free(deflater);
}
