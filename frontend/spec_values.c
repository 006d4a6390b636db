/*
 * spec_values.c - conversion of syntax-tree values into typed parameters
 * (integers, floats, booleans, names from a fixed set, shapes,
 * initializers), each reporting what it expected when the value does not fit.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "spec_priv.h"

static bool kn_value_err(kn_spec *spec, const kn_ast *v, const char *expected, const char *what)
{
    char b[128];
    KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected %s for '%s', got %s", expected, what,
                kn_ast_describe(v, b, sizeof b));
    return false;
}

bool kn_spec_get_int(kn_spec *spec, const kn_ast *v, const char *what, int64_t min, int64_t max, int64_t *out)
{
    if (v->kind != KN_AST_NUMBER)
        return kn_value_err(spec, v, "an integer", what);
    if (!v->is_int) {
        if (fabs(v->num) >= 9.2e18) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' is too large (%g; the limit is %lld)", what, v->num,
                        (long long)max);
            return false;
        }
        return kn_value_err(spec, v, "an integer", what);
    }
    if (v->ival < min || v->ival > max) {
        if (v->ival < min && max == INT64_MAX)
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' must be at least %lld, got %lld", what, (long long)min,
                        (long long)v->ival);
        else if (v->ival > max && min == INT64_MIN)
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' must be at most %lld, got %lld", what, (long long)max,
                        (long long)v->ival);
        else
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' must be between %lld and %lld, got %lld", what,
                        (long long)min, (long long)max, (long long)v->ival);
        return false;
    }
    *out = v->ival;
    return true;
}

bool kn_spec_get_float(kn_spec *spec, const kn_ast *v, const char *what, double min, double max, double *out)
{
    if (v->kind != KN_AST_NUMBER)
        return kn_value_err(spec, v, "a number", what);
    double x = v->is_int ? (double)v->ival : v->num;
    if (!(x >= min && x <= max)) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' must be between %g and %g, got %g", what, min, max, x);
        return false;
    }
    *out = x;
    return true;
}

bool kn_spec_get_fraction(kn_spec *spec, const kn_ast *v, const char *what, double *out)
{
    if (v->kind != KN_AST_NUMBER)
        return kn_value_err(spec, v, "a number", what);
    double x = v->is_int ? (double)v->ival : v->num;
    if (!(x >= 0.0 && x < 1.0)) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' must be at least 0 and below 1, got %g", what, x);
        return false;
    }
    *out = x;
    return true;
}

bool kn_spec_get_bool(kn_spec *spec, const kn_ast *v, const char *what, bool *out)
{
    if (v->kind == KN_AST_IDENT) {
        if (strcmp(v->text, "true") == 0 || strcmp(v->text, "True") == 0) {
            *out = true;
            return true;
        }
        if (strcmp(v->text, "false") == 0 || strcmp(v->text, "False") == 0) {
            *out = false;
            return true;
        }
    }
    return kn_value_err(spec, v, "true or false", what);
}

/* "a, b or c" from a NULL-terminated list. */
static const char *kn_choices_str(const char *const *choices, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    int n = 0;
    while (choices[n])
        n++;
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                                 choices[i]);
    return buf;
}

bool kn_spec_get_enum(kn_spec *spec, const kn_ast *v, const char *what, const char *const *choices, int *out)
{
    return kn_spec_get_enum_hinted(spec, v, what, choices, NULL, out);
}

bool kn_spec_get_enum_hinted(kn_spec *spec, const kn_ast *v, const char *what, const char *const *choices,
                             const char *const *hints, int *out)
{
    char list[512], hint[96];
    if (v->kind != KN_AST_IDENT && v->kind != KN_AST_STRING) {
        char b[128];
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected %s for '%s', got %s",
                    kn_choices_str(choices, list, sizeof list), what, kn_ast_describe(v, b, sizeof b));
        return false;
    }
    for (int i = 0; choices[i]; i++)
        if (strcmp(v->text, choices[i]) == 0) {
            *out = i;
            return true;
        }
    hint[0] = '\0';
    for (int i = 0; hints && hints[i] && hints[i + 1]; i += 2)
        if (strcmp(v->text, hints[i]) == 0)
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", hints[i + 1]);
    if (!hint[0])
        kn_spec_did_you_mean(v->text, choices, hint, sizeof hint);
    KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "unknown %s '%.60s'%s; expected %s", what, v->text, hint,
                kn_choices_str(choices, list, sizeof list));
    return false;
}

bool kn_spec_get_string(kn_spec *spec, const kn_ast *v, const char *what, const char **out)
{
    if (v->kind != KN_AST_STRING && v->kind != KN_AST_IDENT)
        return kn_value_err(spec, v, "a string", what);
    *out = v->text;
    return true;
}

bool kn_spec_get_shape(kn_spec *spec, const kn_ast *v, const char *what, int64_t min, int64_t max, int cap,
                       int64_t *dims, int *rank)
{
    if (v->kind == KN_AST_NUMBER) {
        if (!kn_spec_get_int(spec, v, what, min, max, &dims[0]))
            return false;
        *rank = 1;
        return true;
    }
    if (v->kind != KN_AST_TUPLE)
        return kn_value_err(spec, v, "a shape like (1, 28, 28)", what);
    if (v->nargs > cap) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' has %d dimensions; at most %d are allowed", what, v->nargs, cap);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < v->nargs; i++) {
        const kn_ast *e = v->args[i].value;
        if (e->kind != KN_AST_NUMBER || !e->is_int) {
            ok = kn_value_err(spec, e, "an integer", what);
            continue;
        }
        if (e->ival == -1 && min == -1)
            dims[i] = -1;
        else if (!kn_spec_get_int(spec, e, what, min == -1 ? 1 : min, max, &dims[i]))
            ok = false;
    }
    *rank = v->nargs;
    return ok;
}

/* ------------------------------------------------------ initializers */

static const char *const kn_init_names[] = {
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
    "zeros",          "ones",          "constant",  "normal",     "uniform",      NULL};

const char *kn_spec_init_name(kn_spec_init_kind kind)
{
    return kind < KN_SPEC_INIT_KIND_COUNT ? kn_init_names[kind] : "?";
}

/* PyTorch and Keras class spellings, mapped to kiln's names in suggestions. */
static const struct {
    const char *other, *kiln;
} kn_init_hints[] = {
    {"xavier_uniform", "glorot_uniform"}, {"xavier_normal", "glorot_normal"}, {"kaiming_normal", "he_normal"},
    {"kaiming_uniform", "he_uniform"},    {"random_normal", "normal"},         {"random_uniform", "uniform"},
    {"GlorotUniform", "glorot_uniform"},  {"HeNormal", "he_normal"},            {"Zeros", "zeros"},
    {"RandomNormal", "normal"},           {"zero", "zeros"},                    {"one", "ones"},
};

bool kn_spec_get_init(kn_spec *spec, const kn_ast *v, const char *what, kn_spec_init *out)
{
    const char *name = kn_ast_call_name(v);
    if (v->kind == KN_AST_STRING)
        name = v->text;
    if (!name || (v->kind == KN_AST_CALL && v->callee->kind != KN_AST_IDENT))
        return kn_value_err(spec, v, "an initializer such as glorot_uniform or normal(stddev=0.02)", what);
    int kind = -1;
    for (int i = 0; kn_init_names[i]; i++)
        if (strcmp(name, kn_init_names[i]) == 0)
            kind = i;
    const kn_spec_loc loc = v->kind == KN_AST_CALL ? v->callee->loc : v->loc;
    if (kind < 0) {
        char hint[96] = "";
        for (size_t i = 0; i < sizeof kn_init_hints / sizeof kn_init_hints[0]; i++)
            if (strcmp(name, kn_init_hints[i].other) == 0)
                snprintf(hint, sizeof hint, " (did you mean '%s'? kiln uses the Keras names)", kn_init_hints[i].kiln);
        if (!hint[0])
            kn_spec_did_you_mean(name, kn_init_names, hint, sizeof hint);
        KN_SPEC_ERR(spec, KN_ERR_PARSE, loc,
                    "unknown initializer '%.60s'%s; expected glorot_uniform, glorot_normal, he_normal, he_uniform, "
                    "lecun_normal, lecun_uniform, zeros, ones, constant(value), normal(mean, stddev) or "
                    "uniform(minval, maxval)",
                    name, hint);
        return false;
    }
    kn_spec_init init = {.kind = (kn_spec_init_kind)kind};
    /* parameters of the parametrised kinds: (names, defaults) */
    const char *pn[2] = {NULL, NULL};
    double pd[2] = {0, 0};
    switch (init.kind) {
    case KN_SPEC_INIT_NORMAL: pn[0] = "mean", pn[1] = "stddev", pd[0] = 0.0, pd[1] = 0.05; break;
    case KN_SPEC_INIT_UNIFORM: pn[0] = "minval", pn[1] = "maxval", pd[0] = -0.05, pd[1] = 0.05; break;
    case KN_SPEC_INIT_CONSTANT: pn[0] = "value", pd[0] = 0.0; break;
    default: break;
    }
    init.a = pd[0];
    init.b = pd[1];
    int npar = pn[1] ? 2 : pn[0] ? 1 : 0;
    bool ok = true;
    if (v->kind == KN_AST_CALL) {
        bool given[2] = {false, false};
        int pos = 0;
        for (int i = 0; i < v->nargs; i++) {
            const kn_ast_arg *a = &v->args[i];
            int slot = -1;
            if (!a->name) {
                if (pos >= npar) {
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc, "initializer '%s' takes %d argument%s", name, npar,
                                npar == 1 ? "" : "s");
                    ok = false;
                    continue;
                }
                slot = pos++;
            } else {
                for (int k = 0; k < npar; k++)
                    if (strcmp(a->name, pn[k]) == 0)
                        slot = k;
                if (slot < 0) {
                    char hint[96];
                    const char *cands[3] = {pn[0], pn[1], NULL};
                    if (npar == 0)
                        KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name_loc, "initializer '%s' takes no parameters", name);
                    else
                        KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name_loc, "unknown parameter '%s' of initializer '%s'%s",
                                    a->name, name, kn_spec_did_you_mean(a->name, cands, hint, sizeof hint));
                    ok = false;
                    continue;
                }
            }
            if (given[slot]) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name ? a->name_loc : a->value->loc,
                            "parameter '%s' of initializer '%s' is given twice", pn[slot], name);
                ok = false;
                continue;
            }
            given[slot] = true;
            double x;
            if (!kn_spec_get_float(spec, a->value, pn[slot], -1e6, 1e6, &x)) {
                ok = false;
                continue;
            }
            if (slot == 0)
                init.a = x;
            else
                init.b = x;
        }
    }
    if (ok && init.kind == KN_SPEC_INIT_NORMAL && init.b < 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, loc, "the stddev of a normal initializer must not be negative, got %g", init.b);
        ok = false;
    }
    if (ok && init.kind == KN_SPEC_INIT_UNIFORM && init.a > init.b) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, loc, "uniform initializer: minval %g is greater than maxval %g", init.a,
                    init.b);
        ok = false;
    }
    if (ok)
        *out = init;
    return ok;
}
