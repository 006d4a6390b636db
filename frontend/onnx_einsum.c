/*
 * onnx_einsum.c - ONNX Einsum lowered at import to kiln ops: ReduceSum for
 * the subscripts one operand sums alone, Transpose and Unsqueeze to lay both
 * operands out as [outer..., rows, K] and [outer..., K, cols], one batched
 * MatMul (broadcasting the unit dims), a ReduceSum for the extra contracted
 * subscripts and the unit rows/cols, and a Transpose into the output order.
 * One operand: ReduceSum and/or Transpose (Identity when it is neither).
 *
 * Covered: one or two operands, explicit ("bij,bjk->bik") and implicit
 * ("ij,jk", numpy's rule) outputs, "..." broadcast dims (the operand's rank
 * must be known at import: a graph input, an initializer or a constant),
 * transposes, batch dims, any number of contracted subscripts. Refused with
 * an error naming the node: a subscript repeated within one term (a
 * diagonal), three or more operands, results beyond kiln's rank limit.
 */
#include <stdio.h>
#include <string.h>

#include "onnx_priv.h"

/* Subscript labels: 'a'-'z' 0..25, 'A'-'Z' 26..51, the dims of "..." 52.. (right-aligned across operands). */
#define KN_EIN_ELL 52
#define KN_EIN_NONE (-1)
/* The most steps a lowering takes: 2 x (ReduceSum, Transpose, Unsqueeze), MatMul, ReduceSum, Transpose. */
#define KN_EIN_MAX_STEPS 10
/* A step input that is the output of plan step k (value ids are >= 0). */
#define KN_EIN_STEP(k) (-2 - (k))

typedef struct kn_ein_term {
    int n;
    int lab[KN_MAX_RANK];
} kn_ein_term;

typedef struct kn_ein_step {
    kn_op op;
    int in[2];
    int nin;
    kn_attrs attrs;
} kn_ein_step;

typedef struct kn_ein_plan {
    kn_onnx_node *n;
    int nsteps;
    kn_ein_step steps[KN_EIN_MAX_STEPS];
} kn_ein_plan;

static int kn_ein_letter(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return 26 + (c - 'A');
    return -1;
}

static void kn_ein_label_name(int lab, char *buf, size_t cap)
{
    if (lab < 26)
        snprintf(buf, cap, "'%c'", 'a' + lab);
    else if (lab < KN_EIN_ELL)
        snprintf(buf, cap, "'%c'", 'A' + lab - 26);
    else
        snprintf(buf, cap, "'...' dim %d", lab - KN_EIN_ELL);
}

static int kn_ein_find(const kn_ein_term *t, int lab)
{
    for (int i = 0; i < t->n; i++)
        if (t->lab[i] == lab)
            return i;
    return -1;
}

/*
 * Scan term s[0..len): its letters (into t, without the ellipsis) and where "..." sits (*ell: index among the
 * letters, -1 when absent). `what` names the term in messages.
 */
static kn_status kn_ein_scan(kn_onnx_node *n, const char *s, size_t len, const char *what, kn_ein_term *t,
                             int *ell, kn_error *err)
{
    t->n = 0;
    *ell = -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (*ell >= 0 || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return kn_onnx_node_error(n, err, KN_ERR_PARSE, "equation: %s has a stray '.' (only one '...' "
                                          "is allowed)", what);
            *ell = t->n;
            i += 2;
            continue;
        }
        int lab = kn_ein_letter(s[i]);
        if (lab < 0)
            return kn_onnx_node_error(n, err, KN_ERR_PARSE, "equation: %s has '%c'; subscripts are letters",
                                      what, s[i]);
        if (t->n >= KN_MAX_RANK)
            return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "equation: %s has more than %d subscripts",
                                      what, KN_MAX_RANK);
        if (kn_ein_find(t, lab) >= 0)
            return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                      "equation: subscript '%c' repeats in %s (a diagonal); kiln lowers Einsum "
                                      "without repeated subscripts in one term",
                                      s[i], what);
        t->lab[t->n++] = lab;
    }
    return KN_OK;
}

/* Insert `count` ellipsis labels KN_EIN_ELL+first.. at index `at` of t. */
static kn_status kn_ein_insert_ellipsis(kn_onnx_node *n, kn_ein_term *t, int at, int first, int count,
                                        const char *what, kn_error *err)
{
    if (t->n + count > KN_MAX_RANK)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "equation: %s has more than %d dimensions", what,
                                  KN_MAX_RANK);
    memmove(t->lab + at + count, t->lab + at, sizeof(int) * (size_t)(t->n - at));
    for (int j = 0; j < count; j++)
        t->lab[at + j] = KN_EIN_ELL + first + j;
    t->n += count;
    return KN_OK;
}

/* ------------------------------------------------------------ the plan */

static int kn_ein_add(kn_ein_plan *p, kn_op op, int a, int b, int nin, const kn_attrs *attrs)
{
    kn_ein_step *s = &p->steps[p->nsteps];
    s->op = op;
    s->in[0] = a;
    s->in[1] = b;
    s->nin = nin;
    if (attrs)
        s->attrs = *attrs;
    else
        kn_attrs_init(op, &s->attrs);
    return KN_EIN_STEP(p->nsteps++);
}

/* ReduceSum of x over `axes` (keepdims 0); x itself when there are none. */
static int kn_ein_reduce(kn_ein_plan *p, int x, const int64_t *axes, int naxes)
{
    if (naxes == 0)
        return x;
    kn_attrs a;
    kn_attrs_init(KN_OP_REDUCE_SUM, &a);
    a.reduce.keepdims = false;
    a.reduce.naxes = naxes;
    memcpy(a.reduce.axes, axes, sizeof(int64_t) * (size_t)naxes);
    return kn_ein_add(p, KN_OP_REDUCE_SUM, x, -1, 1, &a);
}

/* Transpose of x (rank `rank`) by perm; x itself when perm is the identity. */
static int kn_ein_transpose(kn_ein_plan *p, int x, const int64_t *perm, int rank)
{
    bool identity = true;
    for (int i = 0; i < rank; i++)
        identity = identity && perm[i] == i;
    if (identity)
        return x;
    kn_attrs a;
    kn_attrs_init(KN_OP_TRANSPOSE, &a);
    a.transpose.nperm = rank;
    memcpy(a.transpose.perm, perm, sizeof(int64_t) * (size_t)rank);
    return kn_ein_add(p, KN_OP_TRANSPOSE, x, -1, 1, &a);
}

/* Unsqueeze of x at `axes` (a constant input); x itself when there are none. */
static kn_status kn_ein_unsqueeze(kn_ein_plan *p, int *x, const int64_t *axes, int naxes, kn_error *err)
{
    if (naxes == 0)
        return KN_OK;
    kn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = 1;
    s.dims[0] = naxes;
    int id;
    KN_TRY(kn_onnx_add_const(p->n, "einsum_axes", KN_I64, &s, axes, &id, err));
    *x = kn_ein_add(p, KN_OP_UNSQUEEZE, *x, id, 2, NULL);
    return KN_OK;
}

/* Add the plan's steps as kiln nodes; the last one stays in n (it writes the ONNX output). */
static kn_status kn_ein_emit(kn_ein_plan *p, kn_error *err)
{
    kn_onnx_node *n = p->n;
    int ids[KN_EIN_MAX_STEPS];
    if (p->nsteps == 0) {
        n->op = KN_OP_IDENTITY;
        kn_attrs_init(n->op, &n->attrs);
        n->num_inputs = 1;
        return KN_OK;
    }
    for (int k = 0; k < p->nsteps; k++) {
        kn_ein_step *s = &p->steps[k];
        int in[2];
        for (int i = 0; i < s->nin; i++)
            in[i] = s->in[i] >= 0 ? s->in[i] : ids[-2 - s->in[i]];
        if (k + 1 < p->nsteps) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "einsum_%d", k);
            KN_TRY(kn_onnx_add_step(n, suffix, s->op, in, s->nin, &s->attrs, &ids[k], err));
            continue;
        }
        n->op = s->op;
        n->attrs = s->attrs;
        n->num_inputs = s->nin;
        for (int i = 0; i < s->nin; i++)
            n->inputs[i] = in[i];
    }
    return KN_OK;
}

/* Sum away the subscripts of term t that neither `other` (NULL: none) nor the output has. */
static int kn_ein_sum_alone(kn_ein_plan *p, int x, kn_ein_term *t, const kn_ein_term *other, const kn_ein_term *out)
{
    int64_t axes[KN_MAX_RANK];
    int naxes = 0, keep = 0;
    for (int i = 0; i < t->n; i++) {
        int lab = t->lab[i];
        if (kn_ein_find(out, lab) < 0 && (!other || kn_ein_find(other, lab) < 0))
            axes[naxes++] = i;
        else
            t->lab[keep++] = lab;
    }
    t->n = keep;
    return kn_ein_reduce(p, x, axes, naxes);
}

/* Permutation taking term `from` to the label order of `to` (the same labels). */
static void kn_ein_perm(const kn_ein_term *from, const kn_ein_term *to, int64_t *perm)
{
    for (int i = 0; i < to->n; i++)
        perm[i] = kn_ein_find(from, to->lab[i]);
}

/*
 * Lay operand x (labels t) out as `layout` (KN_EIN_NONE entries and labels t lacks become unit dims): a
 * Transpose of its own labels into layout order, then one Unsqueeze for the rest.
 */
static kn_status kn_ein_layout(kn_ein_plan *p, int *x, const kn_ein_term *t, const int *layout, int len,
                               kn_error *err)
{
    kn_ein_term order = {0};
    int64_t axes[KN_MAX_RANK], perm[KN_MAX_RANK];
    int naxes = 0;
    for (int i = 0; i < len; i++) {
        if (layout[i] != KN_EIN_NONE && kn_ein_find(t, layout[i]) >= 0)
            order.lab[order.n++] = layout[i];
        else
            axes[naxes++] = i;
    }
    kn_ein_perm(t, &order, perm);
    *x = kn_ein_transpose(p, *x, perm, order.n);
    return kn_ein_unsqueeze(p, x, axes, naxes, err);
}

static kn_status kn_ein_two(kn_ein_plan *p, kn_ein_term *ta, kn_ein_term *tb, const kn_ein_term *out, kn_error *err)
{
    kn_onnx_node *n = p->n;
    int a = kn_ein_sum_alone(p, n->inputs[0], ta, tb, out);
    int b = kn_ein_sum_alone(p, n->inputs[1], tb, ta, out);
    /* classify: batch (both, output), contracted (both, not output), rows (A only), cols (B only) */
    kn_ein_term batch = {0}, contr = {0}, rows = {0}, cols = {0};
    for (int i = 0; i < out->n; i++) {
        int lab = out->lab[i];
        bool in_a = kn_ein_find(ta, lab) >= 0, in_b = kn_ein_find(tb, lab) >= 0;
        kn_ein_term *t = in_a && in_b ? &batch : in_a ? &rows : &cols;
        t->lab[t->n++] = lab;
    }
    for (int i = 0; i < ta->n; i++)
        if (kn_ein_find(out, ta->lab[i]) < 0)
            contr.lab[contr.n++] = ta->lab[i];
    /* outer dims: batch, the contracted labels after the first (summed after the product), rows and cols
     * but their last; then [row, K] for A and [K, col] for B */
    int outer[KN_MAX_RANK + 2];
    int no = 0;
    const int extra = batch.n + (contr.n > 1 ? contr.n - 1 : 0) + (rows.n > 1 ? rows.n - 1 : 0) +
                      (cols.n > 1 ? cols.n - 1 : 0);
    if (extra + 2 > KN_MAX_RANK)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                  "equation needs a %d-D product; kiln's tensors have at most %d dimensions",
                                  extra + 2, KN_MAX_RANK);
    for (int i = 0; i < batch.n; i++)
        outer[no++] = batch.lab[i];
    for (int i = 1; i < contr.n; i++)
        outer[no++] = contr.lab[i];
    for (int i = 0; i + 1 < rows.n; i++)
        outer[no++] = rows.lab[i];
    for (int i = 0; i + 1 < cols.n; i++)
        outer[no++] = cols.lab[i];
    const int row = rows.n ? rows.lab[rows.n - 1] : KN_EIN_NONE;
    const int col = cols.n ? cols.lab[cols.n - 1] : KN_EIN_NONE;
    const int k = contr.n ? contr.lab[0] : KN_EIN_NONE;
    int la[KN_MAX_RANK], lb[KN_MAX_RANK];
    memcpy(la, outer, sizeof(int) * (size_t)no);
    memcpy(lb, outer, sizeof(int) * (size_t)no);
    la[no] = row;
    la[no + 1] = k;
    lb[no] = k;
    lb[no + 1] = col;
    KN_TRY(kn_ein_layout(p, &a, ta, la, no + 2, err));
    KN_TRY(kn_ein_layout(p, &b, tb, lb, no + 2, err));
    int y = kn_ein_add(p, KN_OP_MATMUL, a, b, 2, NULL);
    /* sum the other contracted labels; drop the unit row/col */
    int64_t axes[KN_MAX_RANK];
    int naxes = 0;
    kn_ein_term have = {0};
    for (int i = 0; i < no; i++) {
        if (i >= batch.n && i < batch.n + contr.n - 1)
            axes[naxes++] = i;
        else
            have.lab[have.n++] = outer[i];
    }
    if (row == KN_EIN_NONE)
        axes[naxes++] = no;
    else
        have.lab[have.n++] = row;
    if (col == KN_EIN_NONE)
        axes[naxes++] = no + 1;
    else
        have.lab[have.n++] = col;
    y = kn_ein_reduce(p, y, axes, naxes);
    int64_t perm[KN_MAX_RANK];
    kn_ein_perm(&have, out, perm);
    kn_ein_transpose(p, y, perm, out->n);
    return KN_OK;
}

kn_status kn_onnx_einsum(kn_onnx_node *n, kn_error *err)
{
    char raw[256], eq[256];
    if (!kn_onnx_attr(n, "equation"))
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'equation' is required");
    KN_TRY(kn_onnx_attr_string(n, "equation", "", raw, sizeof raw, err));
    size_t len = 0;
    for (const char *c = raw; *c; c++)
        if (*c != ' ' && *c != '\t')
            eq[len++] = *c;
    eq[len] = '\0';
    const int nops = n->num_inputs;
    for (int i = 0; i < nops; i++)
        if (n->inputs[i] < 0)
            return kn_onnx_node_error(n, err, KN_ERR_GRAPH, "input %d is empty", i);
    if (nops < 1 || nops > 2)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                  "%d operands; kiln lowers Einsum of one or two operands", nops);
    const char *arrow = strstr(eq, "->");
    const size_t lhs_len = arrow ? (size_t)(arrow - eq) : len;
    /* the operand terms */
    kn_ein_term t[2], out;
    int ell[2], ell_out = -1, ell_dims[2] = {0, 0}, E = 0;
    const char *s = eq;
    for (int i = 0; i < nops; i++) {
        const char *end = memchr(s, ',', lhs_len - (size_t)(s - eq));
        if (i + 1 < nops && !end)
            return kn_onnx_node_error(n, err, KN_ERR_PARSE, "equation '%s' has fewer terms than its %d inputs",
                                      raw, nops);
        if (i + 1 == nops && end)
            return kn_onnx_node_error(n, err, KN_ERR_PARSE, "equation '%s' has more terms than its %d inputs",
                                      raw, nops);
        size_t tl = end ? (size_t)(end - s) : lhs_len - (size_t)(s - eq);
        char what[32];
        snprintf(what, sizeof what, "operand %d", i);
        KN_TRY(kn_ein_scan(n, s, tl, what, &t[i], &ell[i], err));
        const kn_value *v = kn_onnx_input(n, i);
        int rank = v->shape_known ? v->shape.rank : -1;
        if (ell[i] >= 0) {
            if (rank < 0)
                return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                          "equation '%s' has '...' in operand %d, whose rank ('%s') is not known "
                                          "at import (kiln lowers Einsum when it is)",
                                          raw, i, v->name);
            if (rank < t[i].n)
                return kn_onnx_node_error(n, err, KN_ERR_SHAPE, "operand %d ('%s') has rank %d, fewer than its %d "
                                          "subscripts", i, v->name, rank, t[i].n);
            ell_dims[i] = rank - t[i].n;
            E = ell_dims[i] > E ? ell_dims[i] : E;
        } else if (rank >= 0 && rank != t[i].n) {
            return kn_onnx_node_error(n, err, KN_ERR_SHAPE, "operand %d ('%s') has rank %d but %d subscripts", i,
                                      v->name, rank, t[i].n);
        }
        s = end ? end + 1 : s + tl;
    }
    for (int i = 0; i < nops; i++) {
        char what[32];
        snprintf(what, sizeof what, "operand %d", i);
        if (ell[i] >= 0)
            KN_TRY(kn_ein_insert_ellipsis(n, &t[i], ell[i], E - ell_dims[i], ell_dims[i], what, err));
    }
    /* the output term: explicit, or numpy's implicit one ("..." dims, then the letters used once, sorted) */
    if (arrow) {
        KN_TRY(kn_ein_scan(n, arrow + 2, strlen(arrow + 2), "the output", &out, &ell_out, err));
        if (ell_out >= 0)
            KN_TRY(kn_ein_insert_ellipsis(n, &out, ell_out, 0, E, "the output", err));
        for (int i = 0; i < out.n; i++) {
            bool found = false;
            for (int k = 0; k < nops; k++)
                found = found || kn_ein_find(&t[k], out.lab[i]) >= 0;
            if (!found) {
                char name[24];
                kn_ein_label_name(out.lab[i], name, sizeof name);
                return kn_onnx_node_error(n, err, KN_ERR_PARSE, "equation '%s': output subscript %s is in no "
                                          "operand", raw, name);
            }
        }
    } else {
        out.n = 0;
        for (int j = 0; j < E; j++)
            out.lab[out.n++] = KN_EIN_ELL + j;
        for (int c = 0; c < 52; c++) {
            int lab = c < 26 ? 26 + c : c - 26; /* ASCII order: 'A'-'Z' before 'a'-'z' */
            int uses = 0;
            for (int k = 0; k < nops; k++)
                uses += kn_ein_find(&t[k], lab) >= 0;
            if (uses == 1) {
                if (out.n >= KN_MAX_RANK)
                    return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "the output has more than %d dimensions",
                                              KN_MAX_RANK);
                out.lab[out.n++] = lab;
            }
        }
    }

    kn_ein_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.n = n;
    if (nops == 1) {
        int x = kn_ein_sum_alone(&plan, n->inputs[0], &t[0], NULL, &out);
        int64_t perm[KN_MAX_RANK];
        kn_ein_perm(&t[0], &out, perm);
        kn_ein_transpose(&plan, x, perm, out.n);
    } else {
        KN_TRY(kn_ein_two(&plan, &t[0], &t[1], &out, err));
    }
    return kn_ein_emit(&plan, err);
}
