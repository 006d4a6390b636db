/* test_npy.c - NumPy .npy reading and writing: round trips, header variants, malformed files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"

static char kn_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(kn_dir, sizeof kn_dir, "/tmp/kn_test_npy_XXXXXX");
    return mkdtemp(kn_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", kn_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", kn_dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

/*
 * Write a .npy file of format version `major`.0 with a raw header text and
 * `ndata` bytes (0x11). A header ending in a newline is padded with spaces
 * before it, as NumPy does, so that the data starts at a multiple of 64.
 */
static void write_npy(const char *path, int major, const char *header, size_t ndata)
{
    size_t hlen = strlen(header);
    size_t pre = major == 1 ? 10 : 12;
    size_t pad = hlen && header[hlen - 1] == '\n' ? (64 - (pre + hlen) % 64) % 64 : 0;
    unsigned char *buf = malloc(pre + hlen + pad + ndata + 1);
    assert_non_null(buf);
    if (pad) {
        char *padded = (char *)buf + pre;
        memcpy(padded, header, hlen - 1);
        memset(padded + hlen - 1, ' ', pad);
        padded[hlen - 1 + pad] = '\n';
        header = padded;
        hlen += pad;
    }
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8 & 0xff);
    if (major != 1) {
        buf[10] = (unsigned char)(hlen >> 16 & 0xff);
        buf[11] = (unsigned char)(hlen >> 24 & 0xff);
    }
    memmove(buf + pre, header, hlen);
    memset(buf + pre + hlen, 0x11, ndata);
    write_bytes(path, buf, pre + hlen + ndata);
    free(buf);
}

/* Read `path`, expect failure with `status` and exactly "PATH: <message>". */
static void expect_error(const char *path, kn_status status, const char *message)
{
    kn_tensor t;
    kn_error err = {0};
    assert_int_equal(kn_npy_read(path, &t, &err), status);
    assert_int_equal(err.status, status);
    assert_null(t.data);
    char want[1200];
    snprintf(want, sizeof want, "%s: %s", path, message);
    assert_string_equal(err.message, want);
    assert_null(strchr(err.message, '\n'));
}

/* ---------------------------------------------------------- round trips */

static void fill_pattern(unsigned char *p, size_t n, kn_dtype dtype)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 37 + 11);
    if (dtype == KN_BOOL)
        for (size_t i = 0; i < n; i++)
            p[i] = (unsigned char)(i % 3 == 0);
    if (dtype == KN_F32)
        for (size_t i = 0; i < n / 4; i++)
            ((float *)p)[i] = (float)i * 0.25f - 3.0f;
    if (dtype == KN_F64)
        for (size_t i = 0; i < n / 8; i++)
            ((double *)p)[i] = (double)i * -1.5 + 1e-9;
}

static void test_round_trip_all_dtypes(void **state)
{
    (void)state;
    static const kn_dtype dtypes[] = {KN_F32, KN_F64, KN_I64, KN_I32, KN_U8, KN_I8, KN_BOOL};
    static const char *const descr[] = {"'<f4'", "'<f8'", "'<i8'", "'<i4'", "'|u1'", "'|i1'",
                                        "'|b1'"};
    static const kn_shape shapes[] = {
        {0, {0}}, {1, {7}}, {2, {3, 5}}, {4, {2, 1, 3, 2}}, {2, {0, 4}},
        {8, {1, 2, 1, 2, 1, 2, 1, 3}},
    };
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            kn_tensor t = {dtypes[d], shapes[s], NULL};
            size_t nbytes;
            assert_int_equal(kn_tensor_nbytes(t.dtype, &t.shape, &nbytes), KN_OK);
            unsigned char *data = malloc(nbytes + 1);
            assert_non_null(data);
            fill_pattern(data, nbytes, t.dtype);
            t.data = data;
            const char *path = tmp_path("rt.npy");
            kn_error err = {0};
            assert_int_equal(kn_npy_write(path, &t, &err), KN_OK);

            /* The header: version 1.0, padded to 64 bytes, ends with '\n', names the descr. */
            size_t fsize;
            unsigned char *raw = read_bytes(path, &fsize);
            assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
            size_t hlen = (size_t)raw[8] | (size_t)raw[9] << 8;
            assert_int_equal((10 + hlen) % 64, 0);
            assert_int_equal(fsize, 10 + hlen + nbytes);
            assert_int_equal(raw[10 + hlen - 1], '\n');
            raw[10 + hlen - 1] = '\0';
            assert_non_null(strstr((char *)raw + 10, descr[d]));
            assert_non_null(strstr((char *)raw + 10, "'fortran_order': False"));
            free(raw);

            kn_tensor back;
            assert_int_equal(kn_npy_read(path, &back, &err), KN_OK);
            assert_int_equal(back.dtype, t.dtype);
            assert_int_equal(back.shape.rank, t.shape.rank);
            for (int i = 0; i < t.shape.rank; i++)
                assert_int_equal(back.shape.dims[i], t.shape.dims[i]);
            assert_non_null(back.data);
            if (nbytes)
                assert_memory_equal(back.data, data, nbytes);
            kn_tensor_free_data(&back);
            assert_null(back.data);
            free(data);
        }
    }
    /* No temporary file is left behind. */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", tmp_path("rt.npy"), (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void test_shape_strings(void **state)
{
    (void)state;
    /* rank 0 writes "()", rank 1 "(7,)", rank 2 "(3, 5)" as numpy does. */
    float x[15] = {0};
    kn_tensor t = {KN_F32, {1, {7}}, x};
    kn_error err;
    const char *path = tmp_path("s.npy");
    assert_int_equal(kn_npy_write(path, &t, &err), KN_OK);
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    raw[n - 28] = '\0';
    assert_non_null(strstr((char *)raw + 10, "'shape': (7,), }"));
    free(raw);
    t.shape = (kn_shape){2, {3, 5}};
    assert_int_equal(kn_npy_write(path, &t, &err), KN_OK);
    raw = read_bytes(path, &n);
    raw[n - 60] = '\0';
    assert_non_null(strstr((char *)raw + 10, "'shape': (3, 5), }"));
    free(raw);
    t.shape = (kn_shape){0, {0}};
    assert_int_equal(kn_npy_write(path, &t, &err), KN_OK);
    raw = read_bytes(path, &n);
    raw[n - 4] = '\0';
    assert_non_null(strstr((char *)raw + 10, "'shape': (), }"));
    free(raw);
}

static void test_overwrite(void **state)
{
    (void)state;
    const char *path = tmp_path("ow.npy");
    write_bytes(path, "old contents", 12);
    int32_t v[3] = {1, -2, 3};
    kn_tensor t = {KN_I32, {1, {3}}, v};
    kn_error err;
    assert_int_equal(kn_npy_write(path, &t, &err), KN_OK);
    kn_tensor back;
    assert_int_equal(kn_npy_read(path, &back, &err), KN_OK);
    assert_int_equal(back.dtype, KN_I32);
    assert_memory_equal(back.data, v, sizeof v);
    kn_tensor_free_data(&back);
}

/* ------------------------------------------------------ header variants */

static void expect_shape_2x3(const char *path, kn_dtype dtype)
{
    kn_tensor t;
    kn_error err = {0};
    kn_status st = kn_npy_read(path, &t, &err);
    if (st != KN_OK)
        fail_msg("%s", err.message);
    assert_int_equal(t.dtype, dtype);
    assert_int_equal(t.shape.rank, 2);
    assert_int_equal(t.shape.dims[0], 2);
    assert_int_equal(t.shape.dims[1], 3);
    kn_tensor_free_data(&t);
}

static void test_header_variants(void **state)
{
    (void)state;
    const char *path = tmp_path("v.npy");
    /* numpy's own layout */
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }      \n", 24);
    expect_shape_2x3(path, KN_F32);
    /* other key order, no trailing comma, odd whitespace, double quotes */
    write_npy(path, 1, "{ \"shape\" :(2,3),'fortran_order':False ,\t'descr':\"<i8\"}\n", 48);
    expect_shape_2x3(path, KN_I64);
    /* version 2.0 and 3.0 with a 4-byte header length */
    write_npy(path, 2, "{'fortran_order': False, 'descr': '|u1', 'shape': (2, 3,), }\n", 6);
    expect_shape_2x3(path, KN_U8);
    write_npy(path, 3, "{'descr': '|b1', 'shape': (2, 3), 'fortran_order': False}\n", 6);
    expect_shape_2x3(path, KN_BOOL);
    /* Python 2 long suffix, '<' on one-byte types, '?' for bool */
    write_npy(path, 1, "{'descr': '<i1', 'fortran_order': False, 'shape': (2L, 3L), }\n", 6);
    expect_shape_2x3(path, KN_I8);
    write_npy(path, 1, "{'descr': '?', 'fortran_order': False, 'shape': (2, 3), }\n", 6);
    expect_shape_2x3(path, KN_BOOL);
    /* Fortran order is fine when at most one dimension exceeds 1 */
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 5), }\n", 40);
    kn_tensor t;
    kn_error err;
    assert_int_equal(kn_npy_read(path, &t, &err), KN_OK);
    assert_int_equal(t.dtype, KN_F64);
    kn_tensor_free_data(&t);
    /* trailing data after the array is ignored, as numpy does */
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 30);
    expect_shape_2x3(path, KN_F32);
    /* bool bytes are normalised to 0/1 */
    write_npy(path, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }\n", 6);
    assert_int_equal(kn_npy_read(path, &t, &err), KN_OK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(((unsigned char *)t.data)[i], 1);
    kn_tensor_free_data(&t);
}

static void test_numpy_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/models/data/digit_7.npy", KN_SOURCE_DIR);
    if (access(path, R_OK) != 0)
        skip();
    kn_tensor t;
    kn_error err;
    assert_int_equal(kn_npy_read(path, &t, &err), KN_OK);
    assert_int_equal(t.dtype, KN_F32);
    assert_int_equal(t.shape.rank, 4);
    assert_int_equal(t.shape.dims[2], 28);
    kn_tensor_free_data(&t);
}

/* ------------------------------------------------------ malformed files */

static void test_malformed(void **state)
{
    (void)state;
    const char *p = tmp_path("bad.npy");
    char msg[512];

    expect_error(tmp_path("missing.npy"), KN_ERR_IO, "cannot open: No such file or directory");

    write_bytes(p, "", 0);
    expect_error(p, KN_ERR_PARSE, "not a .npy file (the file is empty)");
    write_bytes(p, "PK\x03\x04 this is a zip", 19);
    expect_error(p, KN_ERR_PARSE, "not a .npy file (bad magic)");
    write_bytes(p, "\x93NUMPY\x04\x00\x10\x00", 10);
    expect_error(p, KN_ERR_UNSUPPORTED,
                 "unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)");
    write_bytes(p, "\x93NUMPY\x01\x05\x10\x00", 10);
    expect_error(p, KN_ERR_UNSUPPORTED,
                 "unsupported .npy format version 1.5 (expected 1.0, 2.0 or 3.0)");
    write_bytes(p, "\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14);
    expect_error(p, KN_ERR_PARSE, ".npy header length 2147483647 exceeds the limit of 1048576 bytes");
    write_bytes(p, "\x93NUMPY\x01\x00\x00\x00", 10);
    expect_error(p, KN_ERR_PARSE, ".npy header length is zero");
    write_bytes(p, "\x93NUMPY\x01\x00\x40\x00{'descr'", 17);
    expect_error(p, KN_ERR_PARSE, "truncated .npy file (ends inside the header)");

    static const struct {
        const char *header;
        kn_status status;
        const char *message;
    } cases[] = {
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", KN_ERR_UNSUPPORTED,
         "big-endian data (dtype '>f4') is not supported"},
        {"{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", KN_ERR_UNSUPPORTED,
         "big-endian data (dtype '>i8') is not supported"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", KN_ERR_UNSUPPORTED,
         "Fortran-order arrays are not supported (save with numpy.ascontiguousarray)"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", KN_ERR_UNSUPPORTED,
         "object arrays (dtype '|O') are not supported"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
         KN_ERR_UNSUPPORTED, "structured dtypes are not supported"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", KN_ERR_UNSUPPORTED,
         "dtype '<f2' is not supported (expected one of <f4 <f8 <i8 <i4 |u1 |i1 |b1)"},
        {"{'descr': '<U8', 'fortran_order': False, 'shape': (2,), }", KN_ERR_UNSUPPORTED,
         "dtype '<U8' is not supported (expected one of <f4 <f8 <i8 <i4 |u1 |i1 |b1)"},
        {"{'descr': 'f4', 'fortran_order': False, 'shape': (2,), }", KN_ERR_UNSUPPORTED,
         "dtype 'f4' has no explicit byte order; expected '<f4'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
         KN_ERR_UNSUPPORTED, "rank 9 exceeds kiln's maximum rank of 8"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", KN_ERR_PARSE,
         "negative dimension in .npy shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, "
         "4611686018427387904), }", KN_ERR_OVERFLOW,
         ".npy shape [4611686018427387904,4611686018427387904] of float32 is too large"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }",
         KN_ERR_OVERFLOW, ".npy shape [4611686018427387904] of float64 is too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
         KN_ERR_OVERFLOW, "dimension in .npy shape does not fit in 64 bits"},
        {"{'descr': '<f4', 'fortran_order': False, }", KN_ERR_PARSE,
         "malformed .npy header: missing key 'shape'"},
        {"{'fortran_order': False, 'shape': (2,), }", KN_ERR_PARSE,
         "malformed .npy header: missing key 'descr'"},
        {"{'descr': '<f4', 'shape': (2,), }", KN_ERR_PARSE,
         "malformed .npy header: missing key 'fortran_order'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
         KN_ERR_PARSE, "malformed .npy header: duplicate key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", KN_ERR_PARSE,
         "malformed .npy header: unknown key 'extra'"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", KN_ERR_PARSE,
         "malformed .npy header: 'fortran_order' must be True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", KN_ERR_PARSE,
         "malformed .npy header: 'shape' must be a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", KN_ERR_PARSE,
         "malformed .npy header: 'shape' must be a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", KN_ERR_PARSE,
         "malformed .npy header: 'shape' must be a tuple of integers"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }", KN_ERR_PARSE,
         "malformed .npy header: unterminated 'shape' tuple"},
        {"{'descr': <f4, 'fortran_order': False, 'shape': (2,), }", KN_ERR_PARSE,
         "malformed .npy header: 'descr' must be a string"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }", KN_ERR_PARSE,
         "malformed .npy header: expected ':' after a key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", KN_ERR_PARSE,
         "malformed .npy header: expected ',' or '}' after a value"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", KN_ERR_PARSE,
         "malformed .npy header: unexpected text after the dict"},
        {"['descr', '<f4']", KN_ERR_PARSE, "malformed .npy header: expected a dict"},
        {"{descr: '<f4'}", KN_ERR_PARSE, "malformed .npy header: expected a quoted key"},
        {"{'descr': '<f4\n', 'fortran_order': False, 'shape': (2,)}", KN_ERR_PARSE,
         "malformed .npy header: unexpected character in a string"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", KN_ERR_PARSE,
         "truncated .npy file: the header promises 24 data bytes, the file holds 20"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(msg, sizeof msg, "%s\n", cases[i].header);
        write_npy(p, 1 + (int)(i % 3), msg, 20);
        expect_error(p, cases[i].status, cases[i].message);
    }

    /* A NUL inside the header (padded to 64 bytes as NumPy pads it). */
    char nul[64] = "\x93NUMPY\x01\x00\x36\x00{\0}";
    memset(nul + 13, ' ', 50);
    nul[63] = '\n';
    write_bytes(p, nul, sizeof nul);
    expect_error(p, KN_ERR_PARSE, "malformed .npy header: contains a NUL byte");
}

/*
 * A header length field off by a byte or more shifts the data: the header
 * must end with a newline at an aligned offset, as NumPy writes it.
 */
static void test_header_length(void **state)
{
    (void)state;
    const char *good = tmp_path("good.npy");
    const char *p = tmp_path("len.npy");
    float v[6] = {1, 2, 3, 4, 5, 6};
    kn_tensor t = {KN_F32, {2, {2, 3}}, v};
    kn_error err;
    assert_int_equal(kn_npy_write(good, &t, &err), KN_OK);
    size_t n;
    unsigned char *raw = read_bytes(good, &n);
    size_t hl = (size_t)raw[8] | (size_t)raw[9] << 8;
    assert_int_equal((10 + hl) % 64, 0);
    char want[600];
    for (int delta = -1; delta <= 1; delta += 2) { /* one byte short, one byte long */
        raw[8] = (unsigned char)(hl + delta);
        write_bytes(p, raw, n);
        snprintf(want, sizeof want,
                 "malformed .npy header: the %zu bytes its length field gives do not end with a newline, as NumPy's padded headers "
                 "do (a wrong length would shift the data)", hl + delta);
        expect_error(p, KN_ERR_PARSE, want);
    }
    free(raw);
    /* a newline, but off the alignment: the header of an unpadded writer */
    static const char unpadded[] = "\x93NUMPY\x01\x00\x3a\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n"
                                   "\x00\x00\x80\x3f\x00\x00\x00\x40";
    write_bytes(p, unpadded, sizeof unpadded - 1);
    expect_error(p, KN_ERR_PARSE,
                 "malformed .npy header: its length field (58) puts the data at byte 68, not on a 16-byte "
                 "boundary as NumPy aligns it (a wrong length would shift the data)");
    /* 16-byte alignment (older NumPy, cnpy) is accepted */
    static const char aligned16[] = "\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
                                    "            \n\x00\x00\x80\x3f\x00\x00\x00\x40";
    write_bytes(p, aligned16, sizeof aligned16 - 1);
    kn_tensor back;
    assert_int_equal(kn_npy_read(p, &back, &err), KN_OK);
    assert_int_equal(back.shape.dims[0], 2);
    assert_float_equal(((const float *)back.data)[1], 2.0f, 0);
    kn_tensor_free_data(&back);
    /* a directory is not a file */
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tmp_path("dir.npy"));
    assert_int_equal(mkdir(dir, 0700), 0);
    expect_error(dir, KN_ERR_IO, "is a directory, not a .npy file");
    assert_int_equal(rmdir(dir), 0);
}

/* A valid file cut at every length fails cleanly; only the whole file reads. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    const char *full = tmp_path("full.npy");
    const char *cut = tmp_path("cut.npy");
    double v[6] = {1, 2, 3, 4, 5, 6};
    kn_tensor t = {KN_F64, {2, {2, 3}}, v};
    kn_error err;
    assert_int_equal(kn_npy_write(full, &t, &err), KN_OK);
    size_t n;
    unsigned char *raw = read_bytes(full, &n);
    size_t start = n - sizeof v;
    assert_int_equal(start % 64, 0);
    for (size_t len = 0; len < n; len++) {
        write_bytes(cut, raw, len);
        kn_tensor back;
        kn_status st = kn_npy_read(cut, &back, &err);
        assert_int_equal(st, KN_ERR_PARSE);
        assert_null(back.data);
        assert_int_equal(strncmp(err.message, cut, strlen(cut)), 0);
        assert_null(strchr(err.message, '\n'));
        if (len >= start) {
            char want[512];
            snprintf(want, sizeof want,
                     "%s: truncated .npy file: the header promises 48 data bytes, the file holds %zu",
                     cut, len - start);
            assert_string_equal(err.message, want);
        }
    }
    write_bytes(cut, raw, n);
    kn_tensor back;
    assert_int_equal(kn_npy_read(cut, &back, &err), KN_OK);
    assert_memory_equal(back.data, v, sizeof v);
    kn_tensor_free_data(&back);
    free(raw);
}

/* Reading from a pipe (no file size known up front) still detects short data. */
static void test_truncated_pipe(void **state)
{
    (void)state;
    const char *fifo = tmp_path("fifo.npy");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = fopen(fifo, "wb");
        if (!f)
            _exit(1);
        static const char h[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }            \n";
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, sizeof h - 1, 0};
        fwrite(pre, 1, 10, f);
        fwrite(h, 1, sizeof h - 1, f);
        fwrite("\0\0\0\0\0\0\0\0\0\0", 1, 10, f);
        fclose(f);
        _exit(0);
    }
    kn_tensor t;
    kn_error err;
    char want[512];
    snprintf(want, sizeof want, "%s: truncated .npy file (ends inside the data)", fifo);
    assert_int_equal(kn_npy_read(fifo, &t, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, want);
    assert_null(t.data);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* -------------------------------------------------------------- writer */

static void test_write_errors(void **state)
{
    (void)state;
    float x[2] = {1, 2};
    kn_tensor t = {KN_F32, {1, {2}}, x};
    kn_error err;
    char path[300], want[700];

    snprintf(path, sizeof path, "%s/no/such/dir/out.npy", kn_dir);
    assert_int_equal(kn_npy_write(path, &t, &err), KN_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot create %s.tmp.%ld: No such file or directory", path,
             path, (long)getpid());
    assert_string_equal(err.message, want);

    /* Renaming over a directory fails; the temporary file is removed. */
    snprintf(path, sizeof path, "%s/adir", kn_dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(kn_npy_write(path, &t, &err), KN_ERR_IO);
    assert_int_equal(strncmp(err.message, path, strlen(path)), 0);
    assert_non_null(strstr(err.message, ": cannot write: "));
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);

    /* Unbound dimensions, unknown dtypes and missing data are refused. */
    path[0] = '\0';
    snprintf(path, sizeof path, "%s/x.npy", kn_dir);
    kn_tensor u = {KN_F32, {2, {KN_DIM_BATCH, 2}}, x};
    assert_int_equal(kn_npy_write(path, &u, &err), KN_ERR_INVALID_ARG);
    kn_tensor d = {KN_DTYPE_UNDEFINED, {1, {2}}, x};
    assert_int_equal(kn_npy_write(path, &d, &err), KN_ERR_UNSUPPORTED);
    snprintf(want, sizeof want, "%s: cannot write dtype undefined as .npy", path);
    assert_string_equal(err.message, want);
    kn_tensor e = {KN_F32, {1, {2}}, NULL};
    assert_int_equal(kn_npy_write(path, &e, &err), KN_ERR_INVALID_ARG);
    kn_tensor o = {KN_F64, {2, {(int64_t)1 << 62, (int64_t)1 << 62}}, x};
    assert_int_equal(kn_npy_write(path, &o, &err), KN_ERR_OVERFLOW);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(kn_npy_write(NULL, &t, &err), KN_ERR_INVALID_ARG);
    assert_int_equal(kn_npy_read(NULL, &t, NULL), KN_ERR_INVALID_ARG);
    kn_tensor_free_data(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_dtypes),
        cmocka_unit_test(test_shape_strings),
        cmocka_unit_test(test_overwrite),
        cmocka_unit_test(test_header_variants),
        cmocka_unit_test(test_numpy_file),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_truncated_pipe),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
