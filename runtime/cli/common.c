/*
 * common.c - helpers shared by the `kiln` commands: messages, option
 * matching, number parsing and formatting, directory creation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"
#include "ir.h"

char kn_cli_error_prefix[64];

int kn_cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("kiln: error: ", stderr);
    fputs(kn_cli_error_prefix, stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return KN_CLI_FAIL;
}

int kn_cli_usage_error(const char *command, const char *usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kiln%s%s: ", command ? " " : "", command ? command : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", usage);
    return KN_CLI_USAGE;
}

bool kn_cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int kn_cli_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

bool kn_cli_has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && strcmp(path + n - k, suffix) == 0;
}

int kn_cli_load_model(const char *path, const char *name, kn_model_t **model)
{
    kn_error err = {0};
    *model = NULL;
    if (name && kn_cli_has_suffix(path, ".onnx"))
        return kn_cli_fail("%s: --model %s: an ONNX file holds one model (--model chooses among the models of a "
                           ".kiln file)", path, name);
    /* a name for another kind of file: kn_model_load says which formats kiln reads */
    kn_status st = name && kn_cli_has_suffix(path, ".kiln") ? kn_model_load_spec(path, name, model, &err)
                                                             : kn_model_load(path, model, &err);
    return st == KN_OK ? KN_CLI_OK : kn_cli_fail("%s", err.message);
}

bool kn_cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = (int64_t)v;
    return true;
}

bool kn_cli_parse_seconds(const char *s, double max, double *out)
{
    if (!s || !*s)
        return false;
    errno = 0;
    char *end = NULL;
    double t = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(t > 0) || t > max)
        return false;
    *out = t;
    return true;
}

const char *kn_cli_shape_str(const kn_shape *shape, char *buf, size_t len)
{
    return kn_shape_str(shape, buf, len); /* the IR's format: "[N,1,28,28]" */
}

const char *kn_cli_human(double v, const char *unit, char *buf, size_t len)
{
    static const char *const prefixes[] = {"", "K", "M", "G", "T", "P", "E"};
    int p = 0;
    while (v >= 1000.0 && p < 6) {
        v /= 1000.0;
        p++;
    }
    if (p == 0)
        snprintf(buf, len, "%.0f %s", v, unit);
    else
        snprintf(buf, len, "%.2f %s%s", v, prefixes[p], unit);
    return buf;
}

const char *kn_cli_grouped(int64_t v, char *buf, size_t len)
{
    char digits[32];
    bool neg = v < 0;
    unsigned long long u = neg ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = snprintf(digits, sizeof digits, "%llu", u);
    char tmp[48];
    size_t k = 0;
    if (neg)
        tmp[k++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            tmp[k++] = ',';
        tmp[k++] = digits[i];
    }
    tmp[k] = '\0';
    snprintf(buf, len, "%s", tmp);
    return buf;
}

bool kn_cli_mkdirs(const char *path)
{
    size_t n = strlen(path);
    if (n == 0) {
        errno = ENOENT;
        return false;
    }
    char *p = malloc(n + 1);
    if (!p) {
        errno = ENOMEM;
        return false;
    }
    memcpy(p, path, n + 1);
    bool ok = true;
    for (size_t i = 1; i <= n && ok; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            ok = false;
        p[i] = saved;
    }
    if (ok) {
        struct stat sb;
        if (stat(path, &sb) != 0)
            ok = false;
        else if (!S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
            ok = false;
        }
    }
    int saved_errno = errno;
    free(p);
    errno = saved_errno;
    return ok;
}

int kn_cli_pass_option(int argc, char **argv, int *i, const char *command, const char *usage,
                       kn_cli_pass_opts *p)
{
    const char *arg = argv[*i], *value = NULL;
    if (strcmp(arg, "--explain") == 0 || strcmp(arg, "--verify-each") == 0) {
        *(arg[2] == 'e' ? &p->explain : &p->verify_each) = true;
        return 1;
    }
    int m = kn_cli_option(argc, argv, i, "--dump-after", &value);
    if (m == 0)
        return 0;
    const char *eq = m > 0 ? strchr(value, '=') : NULL;
    size_t len = eq ? (size_t)(eq - value) : (m > 0 ? strlen(value) : 0);
    if (m < 0 || len == 0 || len >= sizeof p->dump_pass || (eq && !eq[1]))
        return kn_cli_usage_error(command, usage, "--dump-after needs PASS or PASS=FILE");
    memcpy(p->dump_pass, value, len);
    p->dump_pass[len] = '\0';
    p->dump_file = eq ? eq + 1 : NULL;
    return 1;
}
