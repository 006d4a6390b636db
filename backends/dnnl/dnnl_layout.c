/*
 * dnnl_layout.c - what kiln's own kernels need to know about a oneDNN memory
 * layout, read off its memory descriptor (see dnnl_internal.h): the
 * 8-channel view of the pooling loop and the Winograd kernel, the copy
 * geometry of a concat, the padding of a blocked layout; and which
 * implementation and instruction set oneDNN picked.
 *
 * Nothing here assumes a block size: a layout is accepted only when its
 * descriptor says it has the property a kernel needs (blocks of channels of
 * a multiple of 8, dense, no offsets), and rejected otherwise, so that the
 * caller can reorder or decline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dnnl_internal.h"

/* A blocked float32 descriptor with no offsets or extra flags (what kiln's kernels can address). */
static bool kn_md_simple(const dnnl_memory_desc_t *md)
{
    if (md->format_kind != dnnl_blocked || md->data_type != dnnl_f32 || md->offset0 != 0 ||
        md->extra.flags != dnnl_memory_extra_flag_none || md->ndims < 1 || md->ndims > DNNL_MAX_NDIMS)
        return false;
    for (int d = 0; d < md->ndims; d++)
        if (md->padded_offsets[d] != 0 || md->dims[d] < 1 || md->padded_dims[d] < md->dims[d])
            return false;
    return true;
}

/* Product of the inner blocks of dimension d (1: not blocked). */
static int64_t kn_md_block(const dnnl_memory_desc_t *md, int d)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int64_t p = 1;
    for (int k = 0; k < b->inner_nblks; k++)
        if (b->inner_idxs[k] == d)
            p *= b->inner_blks[k];
    return p;
}

/* Whether md has no gaps: its size is exactly its padded element count. */
static bool kn_md_dense(const dnnl_memory_desc_t *md)
{
    size_t count = sizeof(float);
    for (int d = 0; d < md->ndims; d++)
        if (!kn_size_mul(count, (size_t)md->padded_dims[d], &count))
            return false;
    return dnnl_memory_desc_get_size(md) == count;
}

/* Whether a and b have the same inner blocks. */
static bool kn_md_same_blocks(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b)
{
    const dnnl_blocking_desc_t *x = &a->format_desc.blocking, *y = &b->format_desc.blocking;
    if (x->inner_nblks != y->inner_nblks)
        return false;
    for (int k = 0; k < x->inner_nblks; k++)
        if (x->inner_blks[k] != y->inner_blks[k] || x->inner_idxs[k] != y->inner_idxs[k])
            return false;
    return true;
}

/* ------------------------------------------------------------ 8-channel view */

bool kn_dnnl_view_of(const dnnl_memory_desc_t *md, kn_dnnl_view *v)
{
    if (!kn_md_simple(md) || md->ndims != 4)
        return false;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    memset(v, 0, sizeof *v);
    v->n = md->dims[0];
    v->c = md->dims[1];
    v->h = md->dims[2];
    v->w = md->dims[3];
    v->sn = b->strides[0];
    v->sh = b->strides[2];
    v->sw = b->strides[3];
    v->sb = b->strides[1];
    if (b->inner_nblks == 0) {
        /* channels innermost (nhwc): every 8 channels contiguous, and no group past the channels */
        if (b->strides[1] != 1 || md->dims[1] % 8 != 0)
            return false;
        v->blk = 1;
        v->groups = md->dims[1] / 8;
        return true;
    }
    /* one block of channels, a multiple of 8 (nChw8c, nChw16c, ...) */
    if (b->inner_nblks != 1 || b->inner_idxs[0] != 1 || b->inner_blks[0] % 8 != 0)
        return false;
    v->blk = b->inner_blks[0];
    v->groups = md->padded_dims[1] / 8;
    return true;
}

int kn_dnnl_view_lanes(const kn_dnnl_view *v, int64_t g)
{
    const int64_t left = v->c - 8 * g;
    return left >= 8 ? 8 : left > 0 ? (int)left : 0;
}

bool kn_dnnl_view_md(const kn_dnnl_exe *exe, int value, const dnnl_memory_desc_t *like, dnnl_memory_desc_t *md)
{
    static const dnnl_format_tag_t tags[] = {dnnl_aBcd8b, dnnl_aBcd16b, dnnl_acdb};
    const kn_shape *s = &exe->graph->values[value].shape;
    if (s->rank != 4)
        return false;
    dnnl_dims_t d = {s->dims[0], s->dims[1], s->dims[2], s->dims[3]};
    kn_dnnl_view v;
    if (exe->force_tag && dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, exe->force_tag) == dnnl_success &&
        kn_dnnl_view_of(md, &v))
        return true; /* KILN_DNNL_LAYOUT */
    for (int k = 0; like && k < 3; k++) {
        dnnl_memory_desc_t a, b;
        /* `like`'s format: the same tag at its own dims, then at value's dims */
        if (dnnl_memory_desc_init_by_tag(&a, 4, like->dims, dnnl_f32, tags[k]) == dnnl_success &&
            dnnl_memory_desc_equal(&a, like) &&
            dnnl_memory_desc_init_by_tag(&b, 4, d, dnnl_f32, tags[k]) == dnnl_success && kn_dnnl_view_of(&b, &v)) {
            *md = b;
            return true;
        }
    }
    return dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_aBcd8b) == dnnl_success && kn_dnnl_view_of(md, &v);
}

const char *kn_dnnl_layout_name(const dnnl_memory_desc_t *md)
{
    static const struct {
        dnnl_format_tag_t tag[3]; /* ranks 3, 4, 5 */
        const char *name;
    } names[] = {
        {{dnnl_aBc8b, dnnl_aBcd8b, dnnl_aBcde8b}, "nChw8c"},
        {{dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b}, "nChw16c"},
        {{dnnl_aBc4b, dnnl_aBcd4b, dnnl_aBcde4b}, "nChw4c"},
        {{dnnl_acb, dnnl_acdb, dnnl_acdeb}, "nhwc"},
        {{dnnl_abc, dnnl_abcd, dnnl_abcde}, "nchw"},
    };
    if (md->ndims < 3 || md->ndims > 5)
        return md->format_kind == dnnl_blocked ? "plain or blocked" : "opaque";
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        dnnl_memory_desc_t t;
        if (dnnl_memory_desc_init_by_tag(&t, md->ndims, md->dims, md->data_type, names[k].tag[md->ndims - 3]) ==
                dnnl_success &&
            dnnl_memory_desc_equal(&t, md))
            return names[k].name;
    }
    return "another blocked layout";
}

/* ------------------------------------------------------------ concat geometry */

bool kn_dnnl_concat_geometry(int nsrc, const dnnl_memory_desc_t *const *src, const dnnl_memory_desc_t *dst, int axis,
                             size_t *outer, size_t *chunk)
{
    const int nd = dst->ndims;
    if (!kn_md_simple(dst) || !kn_md_dense(dst) || axis < 0 || axis >= nd || nsrc < 1)
        return false;
    const dnnl_dims_t *ds = &dst->format_desc.blocking.strides;
    const int64_t ba = kn_md_block(dst, axis);
    /* the destination's dims above the axis (outer, counted in blocks) and below it (inner). Dims of one block
     * are left out (their strides say nothing); in a dense layout a dim of more than one block is above the axis
     * exactly when its stride is at least the axis's (equal when the axis is one block: a single channel block's
     * stride is the image's) */
    size_t count = 1;
    for (int d = 0; d < nd; d++) {
        const int64_t extent = dst->padded_dims[d] / kn_md_block(dst, d);
        if (d != axis && extent > 1 && (*ds)[d] >= (*ds)[axis] && !kn_size_mul(count, (size_t)extent, &count))
            return false;
    }
    for (int s = 0; s < nsrc; s++) {
        const dnnl_memory_desc_t *m = src[s];
        const dnnl_dims_t *ss = &m->format_desc.blocking.strides;
        if (m->ndims != nd || !kn_md_simple(m) || !kn_md_dense(m) || !kn_md_same_blocks(m, dst) ||
            (*ss)[axis] != (*ds)[axis])
            return false;
        if (s < nsrc - 1 && m->dims[axis] % ba != 0)
            return false; /* a padded block inside the destination */
        for (int d = 0; d < nd; d++) {
            const int64_t extent = dst->padded_dims[d] / kn_md_block(dst, d);
            if (d == axis || extent <= 1)
                continue;
            if (m->padded_dims[d] != dst->padded_dims[d])
                return false;
            const bool above = (*ds)[d] >= (*ds)[axis];
            if (above != ((*ss)[d] >= (*ss)[axis]) || (!above && (*ss)[d] != (*ds)[d]))
                return false;
            for (int e = 0; e < nd; e++) { /* dims above the axis in the same order */
                const int64_t ee = dst->padded_dims[e] / kn_md_block(dst, e);
                if (e != axis && e != d && ee > 1 && ((*ds)[e] > (*ds)[d]) != ((*ss)[e] > (*ss)[d]))
                    return false;
            }
        }
        /* dense, same order: one outer index's elements are contiguous, S_axis * (padded extent) of them */
        size_t bytes;
        if (!kn_size_mul((size_t)(m->padded_dims[axis] / ba), (size_t)(*ds)[axis], &bytes) ||
            !kn_size_mul(bytes, sizeof(float), &chunk[s]))
            return false;
    }
    *outer = count;
    return true;
}

/* ------------------------------------------------------------ padding */

/* Offset (in elements) of the element at idx[] (padded index space) in md. */
static int64_t kn_md_offset(const dnnl_memory_desc_t *md, const int64_t *idx)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int64_t off = 0, inner = 0, mult = 1;
    for (int d = 0; d < md->ndims; d++)
        off += idx[d] / kn_md_block(md, d) * b->strides[d];
    /* inner blocks: the last is the innermost; each dim's index splits over its blocks, outermost first */
    int64_t rest[DNNL_MAX_NDIMS];
    for (int d = 0; d < md->ndims; d++)
        rest[d] = idx[d] % kn_md_block(md, d);
    for (int k = b->inner_nblks - 1; k >= 0; k--) {
        const int d = b->inner_idxs[k];
        inner += rest[d] % b->inner_blks[k] * mult;
        rest[d] /= b->inner_blks[k];
        mult *= b->inner_blks[k];
    }
    return off + inner;
}

bool kn_dnnl_padding_nonzero(const dnnl_memory_desc_t *md, const void *data, int64_t *where)
{
    if (!kn_md_simple(md))
        return false;
    bool padded = false;
    for (int d = 0; d < md->ndims; d++)
        padded |= md->padded_dims[d] > md->dims[d];
    if (!padded)
        return false;
    const float *f = data;
    int64_t idx[DNNL_MAX_NDIMS] = {0};
    for (;;) {
        bool pad = false;
        for (int d = 0; d < md->ndims; d++)
            pad |= idx[d] >= md->dims[d];
        if (pad) {
            const int64_t off = kn_md_offset(md, idx);
            if (f[off] != 0.0f) {
                *where = off;
                return true;
            }
        }
        int d = md->ndims - 1;
        while (d >= 0 && ++idx[d] == md->padded_dims[d])
            idx[d--] = 0;
        if (d < 0)
            return false;
    }
}

kn_status kn_dnnl_forced_layout(dnnl_format_tag_t *tag, kn_error *err)
{
    static const struct {
        const char *name;
        dnnl_format_tag_t tag;
    } layouts[] = {{"nChw8c", dnnl_aBcd8b}, {"nChw16c", dnnl_aBcd16b}, {"nhwc", dnnl_acdb}};
    const char *env = getenv("KILN_DNNL_LAYOUT");
    *tag = dnnl_format_tag_undef;
    if (!env || !*env)
        return KN_OK;
    for (size_t k = 0; k < sizeof layouts / sizeof layouts[0]; k++)
        if (strcmp(env, layouts[k].name) == 0) {
            *tag = layouts[k].tag;
            return KN_OK;
        }
    return kn_error_set(err, KN_ERR_INVALID_ARG, "KILN_DNNL_LAYOUT=%s: not nChw8c, nChw16c or nhwc", env);
}

/* ------------------------------------------------------------ implementations and ISA */

bool kn_dnnl_pd_is_ref(const_dnnl_primitive_desc_t pd, char *why, size_t len)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return false;
    /* "ref:any", "ref_int8:any", "bnorm_ref:any", "lrn_ref:any": "ref" as a word of the name */
    bool ref = false;
    for (const char *p = strstr(impl, "ref"); p && !ref; p = strstr(p + 1, "ref"))
        ref = (p == impl || p[-1] == '_') && (p[3] == '\0' || p[3] == '_' || p[3] == ':');
    if (!ref)
        return false;
    if (len)
        snprintf(why, len, "on this CPU oneDNN has only its reference implementation (%s) for it", impl);
    return true;
}

static const struct {
    dnnl_cpu_isa_t isa;
    const char *name;
} kn_dnnl_isas[] = {
    {dnnl_cpu_isa_sse41, "SSE41"},
    {dnnl_cpu_isa_avx, "AVX"},
    {dnnl_cpu_isa_avx2, "AVX2"},
    {dnnl_cpu_isa_avx2_vnni, "AVX2_VNNI"},
    {dnnl_cpu_isa_avx512_mic, "AVX512_MIC"},
    {dnnl_cpu_isa_avx512_mic_4ops, "AVX512_MIC_4OPS"},
    {dnnl_cpu_isa_avx512_core, "AVX512_CORE"},
    {dnnl_cpu_isa_avx512_core_vnni, "AVX512_CORE_VNNI"},
    {dnnl_cpu_isa_avx512_core_bf16, "AVX512_CORE_BF16"},
    {dnnl_cpu_isa_avx512_core_amx, "AVX512_CORE_AMX"},
    {dnnl_cpu_isa_all, "ALL"},
};

const char *kn_dnnl_isa_name(void)
{
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    for (size_t k = 0; k < sizeof kn_dnnl_isas / sizeof kn_dnnl_isas[0]; k++)
        if (kn_dnnl_isas[k].isa == isa)
            return kn_dnnl_isas[k].name;
    return "unknown";
}

bool kn_dnnl_isa_at_least_avx2(void)
{
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* the ISA values are bit sets: each level holds the bits of those below it */
    return (isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2;
}

kn_status kn_dnnl_isa_set(const char *name, kn_error *err)
{
    for (size_t k = 0; k < sizeof kn_dnnl_isas / sizeof kn_dnnl_isas[0]; k++) {
        if (strcasecmp(name, kn_dnnl_isas[k].name) != 0)
            continue;
        if (dnnl_set_max_cpu_isa(kn_dnnl_isas[k].isa) != dnnl_success)
            return kn_error_set(err, KN_ERR_INVALID_ARG,
                                "oneDNN's instruction set can be set only once, before its first primitive");
        return KN_OK;
    }
    char names[256] = "";
    for (size_t k = 0; k < sizeof kn_dnnl_isas / sizeof kn_dnnl_isas[0]; k++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", kn_dnnl_isas[k].name);
    return kn_error_set(err, KN_ERR_INVALID_ARG, "unknown instruction set '%s' (one of: %s)", name, names);
}
