/*
 * npy_compare.c - `kn_npy_compare`: compare two .npy files, for the model
 * tests (tests/models.cmake) and by hand.
 *
 *   kn_npy_compare [--atol A] [--rtol R] [--scale-rtol S] [--peer P.npy] [--top1] [--label TEXT]
 *                  ACTUAL.npy EXPECTED.npy
 *
 * Passes when dtypes and shapes agree and every element satisfies
 * |a - e| <= atol + rtol * |e| (defaults: atol 1e-4, rtol 0); --scale-rtol S
 * adds S times the tensor's scale (the largest |e|) to atol, for tensors
 * compared relative to their magnitude (trained weights); --peer P raises
 * atol to twice the max abs difference between P (a second reference, e.g.
 * PyTorch's output where EXPECTED is ONNX Runtime's) and EXPECTED, when
 * that is larger: the two references' own disagreement is the noise floor
 * of a deep network's output; and with
 * --top1 when the argmax over the last axis agrees in every row. Always
 * prints the max abs difference. Exit status: 0 pass, 1 mismatch, 2 error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "tensor_compare.h"

static int kn_usage(void)
{
    fprintf(stderr, "usage: kn_npy_compare [--atol A] [--rtol R] [--scale-rtol S] [--peer P.npy] [--top1] "
                    "[--label TEXT] ACTUAL.npy EXPECTED.npy\n");
    return 2;
}

static int kn_parse_double(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (!end || end == s || *end || !(v >= 0))
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    double atol = 1e-4, rtol = 0.0, scale_rtol = 0.0;
    int top1 = 0;
    const char *label = NULL, *files[2] = {NULL, NULL}, *peer = NULL;
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--atol") || !strcmp(a, "--rtol") || !strcmp(a, "--scale-rtol")) {
            if (i + 1 >= argc ||
                !kn_parse_double(argv[i + 1], a[2] == 'a' ? &atol : a[2] == 'r' ? &rtol : &scale_rtol)) {
                fprintf(stderr, "kn_npy_compare: %s needs a number >= 0\n", a);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--top1")) {
            top1 = 1;
        } else if (!strcmp(a, "--peer")) {
            if (i + 1 >= argc)
                return kn_usage();
            peer = argv[++i];
        } else if (!strcmp(a, "--label")) {
            if (i + 1 >= argc)
                return kn_usage();
            label = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return kn_usage();
        } else if (nfiles < 2) {
            files[nfiles++] = a;
        } else {
            return kn_usage();
        }
    }
    if (nfiles != 2)
        return kn_usage();
    if (!label)
        label = files[0];

    kn_tensor t[2];
    memset(t, 0, sizeof t);
    kn_error err = {0};
    for (int k = 0; k < 2; k++) {
        if (kn_npy_read(files[k], &t[k], &err) != KN_OK) {
            fprintf(stderr, "%s: cannot read %s: %s\n", label, files[k], err.message);
            kn_tensor_free_data(&t[0]);
            kn_tensor_free_data(&t[1]);
            return 2;
        }
    }
    if (scale_rtol > 0 && (t[1].dtype == KN_F32 || t[1].dtype == KN_F64)) { /* the expected tensor's scale */
        size_t n = 0;
        double scale = 0;
        if (kn_shape_numel(&t[1].shape, &n) == KN_OK)
            for (size_t i = 0; i < n; i++) {
                const double e = t[1].dtype == KN_F32 ? ((const float *)t[1].data)[i] : ((const double *)t[1].data)[i];
                scale = fabs(e) > scale ? fabs(e) : scale;
            }
        atol += scale_rtol * scale;
    }
    kn_cmp_result r;
    if (peer) { /* the references' own disagreement */
        kn_tensor p;
        memset(&p, 0, sizeof p);
        if (kn_npy_read(peer, &p, &err) != KN_OK || !kn_tensor_compare(&p, &t[1], 0.0, INFINITY, &r)) {
            fprintf(stderr, "%s: cannot compare %s with %s: %s\n", label, peer, files[1],
                    err.message[0] ? err.message : r.message);
            kn_tensor_free_data(&p);
            kn_tensor_free_data(&t[0]);
            kn_tensor_free_data(&t[1]);
            return 2;
        }
        kn_tensor_free_data(&p);
        printf("%s: the references differ by %.3g (%s): atol max(%g, 2 x that)\n", label, r.max_abs, peer, atol);
        atol = 2 * r.max_abs > atol ? 2 * r.max_abs : atol;
    }
    int rc = kn_tensor_compare(&t[0], &t[1], rtol, atol, &r) ? 0 : 1;
    printf("%s: max abs diff %.3g (atol %g, rtol %g): %s\n", label, r.max_abs, atol, rtol,
           rc ? r.message : "ok");
    if (top1 && r.count > 0) {
        enum { CAP = 4096 };
        static long am[CAP], em[CAP];
        long ra = kn_tensor_argmax_rows(&t[0], am, CAP);
        long re = kn_tensor_argmax_rows(&t[1], em, CAP);
        if (ra < 0 || ra != re || ra > CAP) {
            printf("%s: top-1 cannot be compared (not a float [rows, classes] tensor)\n", label);
            rc = 1;
        } else {
            long same = 0;
            for (long i = 0; i < ra; i++)
                same += am[i] == em[i];
            printf("%s: top-1 agrees on %ld of %ld rows (reference classes:", label, same, ra);
            for (long i = 0; i < ra && i < 16; i++)
                printf(" %ld", em[i]);
            printf("%s)\n", ra > 16 ? " ..." : "");
            for (long i = 0; i < ra; i++)
                if (am[i] != em[i])
                    printf("%s: row %ld: top-1 %ld, reference %ld\n", label, i, am[i], em[i]);
            if (same != ra)
                rc = 1;
        }
    }
    kn_tensor_free_data(&t[0]);
    kn_tensor_free_data(&t[1]);
    return rc;
}
