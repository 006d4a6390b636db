/* dnnl_concat.c - Concat as kiln's own parallel copy in the oneDNN backend's layouts (see dnnl_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* Copies are cut into pieces of at most this many bytes, so that two threads share even one big chunk. */
#define KN_DNNL_COPY_PIECE ((size_t)128 * 1024)
/* Above this many copies the layout is too fragmented for a copy list: oneDNN's primitive instead. */
#define KN_DNNL_MAX_COPIES 4096

/*
 * Whether `part` is a leading channel range of `whole`: one image, the same
 * channel-blocked format (8 or 16) and spatial dims, a whole number of blocks.
 * Its bytes are then exactly the start of whole's.
 */
static bool kn_cat_is_prefix(const dnnl_memory_desc_t *whole, const dnnl_memory_desc_t *part)
{
    static const dnnl_format_tag_t tags[][2] = {{dnnl_aBc8b, dnnl_aBc16b}, {dnnl_aBcd8b, dnnl_aBcd16b},
                                                {dnnl_aBcde8b, dnnl_aBcde16b}};
    const int nd = whole->ndims;
    if (nd < 3 || nd > 5 || part->ndims != nd || whole->dims[0] != 1 || part->dims[0] != 1 ||
        part->dims[1] >= whole->dims[1])
        return false;
    for (int d = 2; d < nd; d++)
        if (part->dims[d] != whole->dims[d])
            return false;
    for (int t = 0; t < 2; t++) {
        const int block = t ? 16 : 8;
        dnnl_memory_desc_t w, q;
        if (part->dims[1] % block == 0 &&
            dnnl_memory_desc_init_by_tag(&w, nd, whole->dims, dnnl_f32, tags[nd - 3][t]) == dnnl_success &&
            dnnl_memory_desc_init_by_tag(&q, nd, part->dims, dnnl_f32, tags[nd - 3][t]) == dnnl_success &&
            dnnl_memory_desc_equal(&w, whole) && dnnl_memory_desc_equal(&q, part))
            return true;
    }
    return false;
}

/*
 * The blocked copy of an earlier Concat's output that node i's output can
 * extend in place: that Concat read the first *m sources of node i, wrote
 * this copy with kiln's copy list, and nothing extends it yet; -1 if none.
 * (A DenseNet block: concat k+1 is concat k and one more layer's output.)
 */
static int kn_cat_prefix_rep(const kn_dnnl_exe *exe, int i, const dnnl_memory_desc_t *dst_md, int *m)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    int best = -1;
    *m = 0;
    for (int j = 0; j < i; j++) {
        const kn_node *pc = &g->nodes[j];
        if (pc->dead || pc->op != KN_OP_CONCAT || pc->num_inputs >= n->num_inputs || pc->num_inputs <= *m ||
            exe->rep_head[pc->outputs[0]] < 0)
            continue;
        bool same = true;
        for (int k = 0; k < pc->num_inputs && same; k++)
            same = pc->inputs[k] == n->inputs[k];
        const int r = exe->rep_head[pc->outputs[0]];
        const kn_dnnl_rep *rp = &exe->reps[r];
        if (!same || rp->extended || !exe->ops[rp->first_op].concat || exe->ops[rp->first_op].node != j ||
            !kn_cat_is_prefix(dst_md, &rp->md))
            continue;
        best = r;
        *m = pc->num_inputs;
    }
    return best;
}

kn_status kn_dnnl_try_concat_copy(kn_dnnl_exe *exe, int i, const kn_dnnl_desc *desc, const kn_dnnl_bind *binds,
                                  int nb, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    const kn_dnnl_bind *dst = NULL, *src[KN_DNNL_MAX_ARGS];
    int nsrc = 0;
    bool all_plain = true, any_const = false;
    *built = false;
    for (int k = 0; k < nb; k++) {
        all_plain &= binds[k].plain;
        if (binds[k].arg == DNNL_ARG_DST) {
            dst = &binds[k];
        } else {
            int s = binds[k].arg - DNNL_ARG_MULTIPLE_SRC;
            if (s < 0 || s >= KN_DNNL_MAX_ARGS - 1)
                return KN_OK;
            src[s] = &binds[k];
            nsrc = s + 1 > nsrc ? s + 1 : nsrc;
            any_const |= g->values[binds[k].value].data != NULL;
        }
    }
    /* blocked: only channel blocks along axis 1 (kn_dnnl_describe leaves padded blocks plain), all in one format */
    if (!dst || nsrc != n->num_inputs || (!all_plain && (desc->axis != 1 || any_const)))
        return KN_OK;
    const kn_shape *ys = &g->values[n->outputs[0]].shape;
    size_t outer = 1, inner = sizeof(float);
    for (int d = 0; d < ys->rank; d++)
        if (d != desc->axis && !kn_size_mul(d < desc->axis ? outer : inner, (size_t)ys->dims[d],
                                            d < desc->axis ? &outer : &inner))
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': concat too large", n->name);
    /* the list: for every outer index, every source's chunk, cut into pieces */
    size_t count = 0, total = 0, chunk[KN_DNNL_MAX_ARGS];
    for (int s = 0; s < nsrc; s++) {
        if (!kn_size_mul((size_t)g->values[src[s]->value].shape.dims[desc->axis], inner, &chunk[s]) ||
            !kn_size_add(total, chunk[s], &total))
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': concat too large", n->name);
        count += chunk[s] / KN_DNNL_COPY_PIECE + 1;
        if (count > KN_DNNL_MAX_COPIES)
            return KN_OK;
    }
    if (outer > KN_DNNL_MAX_COPIES / (count ? count : 1))
        return KN_OK;
    kn_dnnl_concat *cat = calloc(1, sizeof *cat);
    kn_dnnl_copy *cp = cat ? calloc(outer * count + 1, sizeof *cp) : NULL;
    if (!cp) {
        free(cat);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    cat->copies = cp;
    cat->nsrc = nsrc;
    /* one image in a channel-blocked layout: when an earlier concat's copy holds our first sources, write after it */
    int prefix = -1;
    if (!dst->plain && outer == 1)
        prefix = kn_cat_prefix_rep(exe, i, &dst->md, &cat->in_place);
    for (size_t o = 0; o < outer; o++) {
        size_t at = o * total;
        for (int s = 0; s < nsrc; s++) {
            for (size_t off = 0; off < chunk[s] && s >= cat->in_place; off += KN_DNNL_COPY_PIECE) {
                size_t b = chunk[s] - off < KN_DNNL_COPY_PIECE ? chunk[s] - off : KN_DNNL_COPY_PIECE;
                cp[cat->ncopies++] = (kn_dnnl_copy){s, o * chunk[s] + off, at + off, b};
            }
            at += chunk[s];
        }
    }
    /* bind the sources in their layouts (reorders go first), then the destination */
    kn_status st = KN_OK;
    dnnl_memory_t mems[KN_DNNL_MAX_ARGS];
    int touched[KN_DNNL_MAX_ARGS], nt = 0;
    for (int s = 0; s < nsrc && st == KN_OK; s++) {
        int r;
        if ((st = kn_dnnl_bind_mem(exe, i, src[s], &src[s]->md, &mems[s], &r, err)) == KN_OK && r >= 0)
            touched[nt++] = r;
    }
    int idx = exe->num_ops;
    const int y = dst->value;
    if (st == KN_OK && dst->plain) {
        exe->plain_ok[y] = true;
        st = kn_dnnl_new_mem(exe, n, &dst->md, exe->buffers[y], &mems[nsrc], err);
    } else if (st == KN_OK) {
        int r;
        if ((st = kn_dnnl_new_rep(exe, i, y, &dst->md, idx, &r, err)) == KN_OK) {
            exe->plain_ok[y] = false;
            mems[nsrc] = exe->reps[r].mem;
            if (prefix >= 0) { /* the same storage from its start (kn_dnnl_place_blocked) */
                exe->reps[r].alias = prefix;
                exe->reps[prefix].extended = true;
            }
        }
    }
    if (st == KN_OK)
        st = kn_dnnl_push_op(exe, i, &idx, err);
    if (st != KN_OK) {
        free(cp);
        free(cat);
        return st;
    }
    kn_dnnl_op *op = &exe->ops[idx];
    op->concat = cat;
    for (int s = 0; s <= nsrc && st == KN_OK; s++)
        st = kn_dnnl_add_arg(op, n, s < nsrc ? DNNL_ARG_MULTIPLE_SRC + s : DNNL_ARG_DST, mems[s], err);
    for (int t = 0; t < nt; t++)
        exe->reps[touched[t]].last_op = idx;
    *built = st == KN_OK;
    return st;
}

void kn_dnnl_run_concat(const kn_dnnl_op *op)
{
    const kn_dnnl_concat *cat = op->concat;
    char *base[KN_DNNL_MAX_ARGS];
    for (int j = 0; j < op->nargs && j < KN_DNNL_MAX_ARGS; j++) {
        void *p = NULL;
        dnnl_memory_get_data_handle(op->args[j].memory, &p);
        base[j] = p;
    }
    char *dst = base[cat->nsrc];
    const kn_dnnl_copy *cp = cat->copies;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (cat->ncopies > 1)
#endif
    for (int t = 0; t < cat->ncopies; t++)
        memcpy(dst + cp[t].dst_off, base[cp[t].src] + cp[t].src_off, cp[t].bytes);
}
