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
 * Whether `part` (an earlier concat's destination) is the leading sources of
 * `whole` along `axis`: both one run of chunks (outer 1) in the same
 * blocking, part without padding along the axis (it is not whole's last
 * source). Part's bytes are then exactly the start of whole's.
 */
static bool kn_cat_is_prefix(const dnnl_memory_desc_t *whole, const dnnl_memory_desc_t *part, int axis)
{
    size_t outer_w, outer_p, chunk_w, chunk_p;
    const dnnl_memory_desc_t *w1[1] = {whole}, *p1[1] = {part}, *p2[2] = {part, whole};
    if (part->ndims != whole->ndims || part->dims[axis] >= whole->dims[axis] ||
        !kn_dnnl_concat_geometry(1, w1, whole, axis, &outer_w, &chunk_w) ||
        !kn_dnnl_concat_geometry(1, p1, part, axis, &outer_p, &chunk_p) || outer_w != 1 || outer_p != 1)
        return false;
    /* part followed by whole's rest: the geometry accepts part as a leading source of whole's layout */
    size_t outer, chunks[2];
    return kn_dnnl_concat_geometry(2, p2, whole, axis, &outer, chunks) && outer == 1 && chunks[0] == chunk_p;
}

/*
 * The blocked copy of an earlier Concat's output that node i's output can
 * extend in place: that Concat read the first *m sources of node i, wrote
 * this copy with kiln's copy list, and nothing extends it yet; -1 if none.
 * (A DenseNet block: concat k+1 is concat k and one more layer's output.)
 */
static int kn_cat_prefix_rep(const kn_dnnl_exe *exe, int i, const dnnl_memory_desc_t *dst_md, int axis, int *m)
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
            !kn_cat_is_prefix(dst_md, &rp->md, axis))
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
    *built = false;
    for (int k = 0; k < nb; k++) {
        if (binds[k].arg == DNNL_ARG_DST) {
            dst = &binds[k];
        } else {
            int s = binds[k].arg - DNNL_ARG_MULTIPLE_SRC;
            if (s < 0 || s >= KN_DNNL_MAX_ARGS - 1)
                return KN_OK;
            src[s] = &binds[k];
            nsrc = s + 1 > nsrc ? s + 1 : nsrc;
        }
    }
    if (!dst || nsrc != n->num_inputs)
        return KN_OK;
    /* the geometry of the layouts the sources will be bound in (a constant's plain one) */
    const dnnl_memory_desc_t *mds[KN_DNNL_MAX_ARGS];
    size_t outer, total = 0, count = 0, chunk[KN_DNNL_MAX_ARGS];
    for (int s = 0; s < nsrc; s++)
        mds[s] = &src[s]->md;
    if (!kn_dnnl_concat_geometry(nsrc, mds, &dst->md, desc->axis, &outer, chunk))
        return KN_OK;
    kn_dnnl_concat *cat = calloc(1, sizeof *cat);
    if (!cat)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    cat->nsrc = nsrc;
    /* one run per source: when an earlier concat's copy holds our first sources, write after it */
    int prefix = -1;
    if (!dst->plain && outer == 1)
        prefix = kn_cat_prefix_rep(exe, i, &dst->md, desc->axis, &cat->in_place);
    /* the list: every source's runs, cut into pieces of about KN_DNNL_COPY_PIECE bytes (a run cut, or runs
     * grouped) so that the threads share even one big source */
    for (int s = 0; s < nsrc; s++)
        if (!kn_size_add(total, chunk[s], &total) || (chunk[s] && outer > SIZE_MAX / chunk[s])) {
            free(cat);
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': concat too large", n->name);
        }
    for (int s = cat->in_place; s < nsrc; s++) {
        const size_t per = chunk[s] ? KN_DNNL_COPY_PIECE / chunk[s] : 0;
        count += chunk[s] == 0 ? 0 : per == 0 ? outer * ((chunk[s] + KN_DNNL_COPY_PIECE - 1) / KN_DNNL_COPY_PIECE)
                                              : (outer + per - 1) / per;
        if (count > KN_DNNL_MAX_COPIES) {
            free(cat);
            return KN_OK; /* a layout too fragmented for a copy list: oneDNN's primitive */
        }
    }
    kn_dnnl_copy *cp = calloc(count + 1, sizeof *cp);
    if (!cp) {
        free(cat);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    cat->copies = cp;
    size_t at = 0;
    for (int s = 0; s < nsrc; at += chunk[s], s++) {
        if (s < cat->in_place || chunk[s] == 0)
            continue;
        const size_t per = KN_DNNL_COPY_PIECE / chunk[s];
        if (per == 0) {
            for (size_t o = 0; o < outer; o++)
                for (size_t off = 0; off < chunk[s]; off += KN_DNNL_COPY_PIECE) {
                    size_t b = chunk[s] - off < KN_DNNL_COPY_PIECE ? chunk[s] - off : KN_DNNL_COPY_PIECE;
                    cp[cat->ncopies++] = (kn_dnnl_copy){s, o * chunk[s] + off, o * total + at + off, b, 1, 0, 0};
                }
            continue;
        }
        for (size_t o = 0; o < outer; o += per) {
            const size_t rows = outer - o < per ? outer - o : per;
            cp[cat->ncopies++] = (kn_dnnl_copy){s, o * chunk[s], o * total + at, chunk[s], rows, chunk[s], total};
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
    for (int t = 0; t < cat->ncopies; t++) {
        char *d = dst + cp[t].dst_off;
        const char *s = base[cp[t].src] + cp[t].src_off;
        for (size_t r = 0; r < cp[t].rows; r++)
            memcpy(d + r * cp[t].dst_pitch, s + r * cp[t].src_pitch, cp[t].bytes);
    }
}
