/*
 * onnx_ops.c - the importer table: (op_type, opset range) -> import function,
 * one row per op form, and the functions that turn ONNX attributes into
 * kiln's typed attributes (normalising old opset forms to the newest one).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_priv.h"

/* Shorthand: evaluate a kn_status expression and return it when it failed. */
/* Append an int64 vector constant "<node>/<suffix>" as input slot `slot`. */
static kn_status kn_onnx_ints_input(kn_onnx_node *n, int slot, const char *suffix, const int64_t *v,
                                    int count, kn_error *err)
{
    kn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = 1;
    s.dims[0] = count;
    int id;
    KN_TRY(kn_onnx_add_const(n, suffix, KN_I64, &s, v, &id, err));
    for (int i = n->num_inputs; i < slot; i++)
        n->inputs[i] = -1;
    n->inputs[slot] = id;
    if (n->num_inputs < slot + 1)
        n->num_inputs = slot + 1;
    return KN_OK;
}

/* Refuse an input slot that this opset form takes as an attribute instead. */
static kn_status kn_onnx_only_inputs(kn_onnx_node *n, int count, kn_error *err)
{
    for (int i = count; i < n->num_inputs; i++)
        if (n->inputs[i] >= 0)
            return kn_onnx_node_error(n, err, KN_ERR_GRAPH, "has %d inputs; %s-%lld takes %d",
                                      n->num_inputs, n->op_type, (long long)n->opset, count);
    if (n->num_inputs > count)
        n->num_inputs = count;
    return KN_OK;
}

/* ------------------------------------------------------ windows (conv, pool) */

static kn_status kn_onnx_spatial(kn_onnx_node *n, const char *attr, int count, int per_dim, int *ns,
                                 const char **ns_from, kn_error *err)
{
    if (count < 0)
        return KN_OK;
    if (count % per_dim != 0)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute '%s' has %d values, not a multiple of %d",
                                  attr, count, per_dim);
    int r = count / per_dim;
    if (*ns >= 0 && r != *ns)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE,
                                  "attributes '%s' (%d spatial dims) and '%s' (%d) disagree", *ns_from,
                                  *ns, attr, r);
    *ns = r;
    *ns_from = attr;
    return KN_OK;
}

static kn_status kn_onnx_window(kn_onnx_node *n, kn_error *err)
{
    kn_window_attrs *w = &n->attrs.window;
    bool conv = n->op == KN_OP_CONV || n->op == KN_OP_CONV_TRANSPOSE;
    bool transpose = n->op == KN_OP_CONV_TRANSPOSE;
    char pad[32];
    KN_TRY(kn_onnx_attr_string(n, "auto_pad", "NOTSET", pad, sizeof pad, err));
    if (strcmp(pad, "NOTSET") == 0 || pad[0] == '\0')
        w->auto_pad = KN_AUTO_PAD_NOTSET;
    else if (strcmp(pad, "SAME_UPPER") == 0)
        w->auto_pad = KN_AUTO_PAD_SAME_UPPER;
    else if (strcmp(pad, "SAME_LOWER") == 0)
        w->auto_pad = KN_AUTO_PAD_SAME_LOWER;
    else if (strcmp(pad, "VALID") == 0)
        w->auto_pad = KN_AUTO_PAD_VALID;
    else
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "auto_pad '%s' is not supported", pad);

    int64_t kernel[KN_MAX_SPATIAL], strides[KN_MAX_SPATIAL], dil[KN_MAX_SPATIAL];
    int64_t pads[2 * KN_MAX_SPATIAL], outpad[KN_MAX_SPATIAL], outshape[KN_MAX_SPATIAL];
    int nk, ns_, nd, np, nop = -1, nos = -1;
    KN_TRY(kn_onnx_attr_ints(n, "kernel_shape", kernel, KN_MAX_SPATIAL, &nk, err));
    KN_TRY(kn_onnx_attr_ints(n, "strides", strides, KN_MAX_SPATIAL, &ns_, err));
    KN_TRY(kn_onnx_attr_ints(n, "dilations", dil, KN_MAX_SPATIAL, &nd, err));
    KN_TRY(kn_onnx_attr_ints(n, "pads", pads, 2 * KN_MAX_SPATIAL, &np, err));
    if (transpose) {
        KN_TRY(kn_onnx_attr_ints(n, "output_padding", outpad, KN_MAX_SPATIAL, &nop, err));
        KN_TRY(kn_onnx_attr_ints(n, "output_shape", outshape, KN_MAX_SPATIAL, &nos, err));
    }
    int ns = -1;
    const char *from = "";
    KN_TRY(kn_onnx_spatial(n, "kernel_shape", nk, 1, &ns, &from, err));
    KN_TRY(kn_onnx_spatial(n, "strides", ns_, 1, &ns, &from, err));
    KN_TRY(kn_onnx_spatial(n, "dilations", nd, 1, &ns, &from, err));
    KN_TRY(kn_onnx_spatial(n, "pads", np, 2, &ns, &from, err));
    KN_TRY(kn_onnx_spatial(n, "output_padding", nop, 1, &ns, &from, err));
    KN_TRY(kn_onnx_spatial(n, "output_shape", nos, 1, &ns, &from, err));
    if (!conv && nk < 0)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'kernel_shape' is required");
    if (ns < 0 && conv) {
        /* no window attribute at all: take the spatial rank from a known weight (every
         * attribute count is -1 then, so nothing below reads an unset entry) */
        kn_value *wv = kn_onnx_input(n, 1);
        if (wv && wv->shape_known && wv->shape.rank >= 3)
            ns = wv->shape.rank - 2;
    }
    if (ns == 0 || ns > KN_MAX_SPATIAL)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "%d spatial dimensions; kiln supports 1 to %d",
                                  ns, KN_MAX_SPATIAL);
    w->nspatial = ns < 0 ? 0 : ns;
    for (int i = 0; i < w->nspatial; i++) {
        if (nk >= 0) {
            if (kernel[i] <= 0)
                return kn_onnx_node_error(n, err, KN_ERR_PARSE, "kernel_shape must be positive");
            w->kernel[i] = kernel[i];
        }
        if (ns_ >= 0) {
            if (strides[i] <= 0)
                return kn_onnx_node_error(n, err, KN_ERR_PARSE, "strides must be positive");
            w->stride[i] = strides[i];
        }
        if (nd >= 0) {
            if (dil[i] <= 0)
                return kn_onnx_node_error(n, err, KN_ERR_PARSE, "dilations must be positive");
            w->dilation[i] = dil[i];
        }
        if (np >= 0) {
            if (pads[i] < 0 || pads[i + w->nspatial] < 0)
                return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "negative pads are not supported");
            w->pad_begin[i] = pads[i];
            w->pad_end[i] = pads[i + w->nspatial];
        }
        if (nop >= 0) {
            if (outpad[i] < 0)
                return kn_onnx_node_error(n, err, KN_ERR_PARSE, "output_padding must not be negative");
            /* ONNX (and PyTorch): smaller than the stride or the dilation, whichever is larger */
            int64_t s = ns_ >= 0 ? strides[i] : 1, d = nd >= 0 ? dil[i] : 1;
            if (outpad[i] >= (s > d ? s : d)) {
                if (d > 1)
                    return kn_onnx_node_error(n, err, KN_ERR_PARSE,
                                              "output_padding %lld (dimension %d) must be smaller than the stride "
                                              "%lld or the dilation %lld",
                                              (long long)outpad[i], i, (long long)s, (long long)d);
                return kn_onnx_node_error(n, err, KN_ERR_PARSE,
                                          "output_padding %lld (dimension %d) must be smaller than the stride %lld",
                                          (long long)outpad[i], i, (long long)s);
            }
            w->output_padding[i] = outpad[i];
        }
        if (nos >= 0)
            w->output_shape[i] = outshape[i];
    }
    w->has_output_shape = nos > 0;
    if (w->auto_pad != KN_AUTO_PAD_NOTSET && np >= 0) {
        for (int i = 0; i < 2 * w->nspatial; i++)
            if (pads[i] != 0) /* explicit zeros say nothing auto_pad does not: accepted */
                return kn_onnx_node_error(n, err, KN_ERR_PARSE,
                                          "auto_pad '%s' and explicit pads exclude each other; ONNX allows one "
                                          "or the other",
                                          pad);
    }
    if (conv) {
        KN_TRY(kn_onnx_attr_int(n, "group", 1, &w->group, err));
        if (w->group < 1)
            return kn_onnx_node_error(n, err, KN_ERR_PARSE, "group must be at least 1");
    }
    int64_t v;
    KN_TRY(kn_onnx_attr_int(n, "ceil_mode", 0, &v, err));
    if (v != 0 && v != 1)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "ceil_mode must be 0 or 1, got %lld", (long long)v);
    w->ceil_mode = v != 0;
    if (n->op == KN_OP_AVERAGE_POOL) {
        KN_TRY(kn_onnx_attr_int(n, "count_include_pad", 0, &v, err));
        w->count_include_pad = v != 0;
    }
    if (n->op == KN_OP_MAX_POOL) {
        KN_TRY(kn_onnx_attr_int(n, "storage_order", 0, &v, err));
        if (v != 0 && n->num_outputs > 1)
            return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                      "storage_order=%lld (column-major Indices) is not supported", (long long)v);
    }
    return KN_OK;
}

/* ------------------------------------------------------ element-wise, misc */

static kn_status kn_onnx_gemm(kn_onnx_node *n, kn_error *err)
{
    int64_t ta, tb, bc;
    KN_TRY(kn_onnx_attr_float(n, "alpha", 1.0f, &n->attrs.gemm.alpha, err));
    KN_TRY(kn_onnx_attr_float(n, "beta", 1.0f, &n->attrs.gemm.beta, err));
    KN_TRY(kn_onnx_attr_int(n, "transA", 0, &ta, err));
    KN_TRY(kn_onnx_attr_int(n, "transB", 0, &tb, err));
    KN_TRY(kn_onnx_attr_int(n, "broadcast", 1, &bc, err));
    if (bc != 0 && bc != 1)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "broadcast=%lld is not supported", (long long)bc);
    n->attrs.gemm.trans_a = ta != 0;
    n->attrs.gemm.trans_b = tb != 0;
    return KN_OK;
}

/* LeakyRelu, Elu, HardSigmoid: alpha (and beta) over kn_attrs_init's defaults. */
static kn_status kn_onnx_alpha_beta(kn_onnx_node *n, kn_error *err)
{
    kn_scalar_attrs *s = &n->attrs.scalar;
    KN_TRY(kn_onnx_attr_float(n, "alpha", s->alpha, &s->alpha, err));
    KN_TRY(kn_onnx_attr_float(n, "beta", s->beta, &s->beta, err));
    return KN_OK;
}

/* Selu: alpha and gamma (kept in attrs.scalar.beta). */
static kn_status kn_onnx_selu(kn_onnx_node *n, kn_error *err)
{
    kn_scalar_attrs *s = &n->attrs.scalar;
    KN_TRY(kn_onnx_attr_float(n, "alpha", s->alpha, &s->alpha, err));
    return kn_onnx_attr_float(n, "gamma", s->beta, &s->beta, err);
}

/* Celu: alpha, which divides x (alpha 0 has no value: refused). */
static kn_status kn_onnx_celu(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_attr_float(n, "alpha", n->attrs.scalar.alpha, &n->attrs.scalar.alpha, err));
    if (n->attrs.scalar.alpha == 0.0f || !isfinite(n->attrs.scalar.alpha))
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "alpha=%g is not supported (Celu divides by alpha)",
                                  (double)n->attrs.scalar.alpha);
    return KN_OK;
}

/* Clip-6: min/max are attributes; kiln keeps them in attrs.scalar. */
static kn_status kn_onnx_clip6(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_only_inputs(n, 1, err));
    KN_TRY(kn_onnx_attr_float(n, "min", -INFINITY, &n->attrs.scalar.min, err));
    KN_TRY(kn_onnx_attr_float(n, "max", INFINITY, &n->attrs.scalar.max, err));
    return KN_OK;
}

/* Softmax/LogSoftmax: before opset 13, axis defaults to 1 and the input is coerced to 2-D. */
static kn_status kn_onnx_softmax(kn_onnx_node *n, kn_error *err)
{
    bool legacy = n->opset < 13;
    n->attrs.axis.legacy_2d = legacy;
    return kn_onnx_attr_int(n, "axis", legacy ? 1 : -1, &n->attrs.axis.axis, err);
}

static kn_status kn_onnx_axis0(kn_onnx_node *n, kn_error *err)
{
    return kn_onnx_attr_int(n, "axis", 0, &n->attrs.axis.axis, err);
}

static kn_status kn_onnx_flatten(kn_onnx_node *n, kn_error *err)
{
    return kn_onnx_attr_int(n, "axis", 1, &n->attrs.axis.axis, err);
}

static kn_status kn_onnx_concat(kn_onnx_node *n, kn_error *err)
{
    if (!kn_onnx_attr(n, "axis"))
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'axis' is required");
    return kn_onnx_attr_int(n, "axis", 0, &n->attrs.axis.axis, err);
}

static kn_status kn_onnx_batch_norm(kn_onnx_node *n, kn_error *err)
{
    int64_t v;
    KN_TRY(kn_onnx_attr_float(n, "epsilon", 1e-5f, &n->attrs.batch_norm.epsilon, err));
    KN_TRY(kn_onnx_attr_float(n, "momentum", 0.9f, &n->attrs.batch_norm.momentum, err));
    KN_TRY(kn_onnx_attr_int(n, "spatial", 1, &v, err));
    if (v != 1)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "spatial=%lld is not supported (only 1)",
                                  (long long)v);
    KN_TRY(kn_onnx_attr_int(n, "training_mode", 0, &v, err));
    if (v != 0)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                  "training_mode=1 is not supported (kiln imports inference graphs)");
    if (n->num_outputs != 1)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                  "has %d outputs; kiln supports only the inference form with 1 output",
                                  n->num_outputs);
    return KN_OK;
}

static kn_status kn_onnx_layer_norm(kn_onnx_node *n, kn_error *err)
{
    int64_t stash;
    KN_TRY(kn_onnx_attr_int(n, "axis", -1, &n->attrs.layer_norm.axis, err));
    KN_TRY(kn_onnx_attr_float(n, "epsilon", 1e-5f, &n->attrs.layer_norm.epsilon, err));
    /* stash_type: the precision of the statistics; kiln's kernels accumulate in double either way */
    return kn_onnx_attr_int(n, "stash_type", 1, &stash, err);
}

static kn_status kn_onnx_instance_norm(kn_onnx_node *n, kn_error *err)
{
    return kn_onnx_attr_float(n, "epsilon", 1e-5f, &n->attrs.batch_norm.epsilon, err);
}

static kn_status kn_onnx_lrn(kn_onnx_node *n, kn_error *err)
{
    kn_lrn_attrs *l = &n->attrs.lrn;
    if (!kn_onnx_attr(n, "size"))
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'size' is required");
    KN_TRY(kn_onnx_attr_int(n, "size", 0, &l->size, err));
    if (l->size < 1)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "size must be at least 1");
    KN_TRY(kn_onnx_attr_float(n, "alpha", l->alpha, &l->alpha, err));
    KN_TRY(kn_onnx_attr_float(n, "beta", l->beta, &l->beta, err));
    KN_TRY(kn_onnx_attr_float(n, "bias", l->bias, &l->bias, err));
    return KN_OK;
}

/* Reduce*-1..17 (ReduceSum-1..12): the axes attribute and keepdims. */
static kn_status kn_onnx_reduce(kn_onnx_node *n, kn_error *err)
{
    kn_reduce_attrs *r = &n->attrs.reduce;
    int count;
    int64_t keep;
    KN_TRY(kn_onnx_only_inputs(n, 1, err));
    KN_TRY(kn_onnx_attr_ints(n, "axes", r->axes, KN_MAX_RANK, &count, err));
    r->naxes = count < 0 ? 0 : count;
    KN_TRY(kn_onnx_attr_int(n, "keepdims", 1, &keep, err));
    r->keepdims = keep != 0;
    return KN_OK;
}

/* ReduceSum-13: axes is an optional input (kept: the shape rule reads it once it is constant);
 * noop_with_empty_axes makes "no axes" an identity instead of "all axes". */
static kn_status kn_onnx_reduce13(kn_onnx_node *n, kn_error *err)
{
    int64_t keep, noop;
    KN_TRY(kn_onnx_attr_int(n, "keepdims", 1, &keep, err));
    KN_TRY(kn_onnx_attr_int(n, "noop_with_empty_axes", 0, &noop, err));
    n->attrs.reduce.keepdims = keep != 0;
    n->attrs.reduce.noop_empty = noop != 0;
    return KN_OK;
}

/* ArgMax/ArgMin: axis (default 0), keepdims, select_last_index (opset 12 on). */
static kn_status kn_onnx_arg(kn_onnx_node *n, kn_error *err)
{
    int64_t keep, last;
    KN_TRY(kn_onnx_attr_int(n, "axis", 0, &n->attrs.reduce.axes[0], err));
    KN_TRY(kn_onnx_attr_int(n, "keepdims", 1, &keep, err));
    KN_TRY(kn_onnx_attr_int(n, "select_last_index", 0, &last, err));
    n->attrs.reduce.naxes = 1;
    n->attrs.reduce.keepdims = keep != 0;
    n->attrs.reduce.select_last = last != 0;
    return KN_OK;
}

/* Look `name` up in a NULL-terminated list of strings; -1 when absent. */
static int kn_onnx_pick(const char *name, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static kn_status kn_onnx_resize_mode(kn_onnx_node *n, kn_error *err)
{
    static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
    char mode[32];
    KN_TRY(kn_onnx_attr_string(n, "mode", "nearest", mode, sizeof mode, err));
    int m = kn_onnx_pick(mode, modes);
    if (m < 0 && strcmp(mode, "bilinear") == 0 && n->opset < 9) /* Upsample-7's name for linear */
        m = KN_RESIZE_LINEAR;
    if (m < 0 || (m == KN_RESIZE_CUBIC && n->opset < 11))
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    n->attrs.resize.mode = (kn_resize_mode)m;
    return KN_OK;
}

/* Resize-11/13: X, roi, scales, sizes and the coordinate transformation attributes. */
static kn_status kn_onnx_resize(kn_onnx_node *n, kn_error *err)
{
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                         "tf_half_pixel_for_nn", "tf_crop_and_resize", NULL};
    static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", NULL};
    kn_resize_attrs *r = &n->attrs.resize;
    char buf[32];
    int64_t excl;
    KN_TRY(kn_onnx_resize_mode(n, err));
    KN_TRY(kn_onnx_attr_string(n, "coordinate_transformation_mode", "half_pixel", buf, sizeof buf, err));
    int c = kn_onnx_pick(buf, coords);
    if (c < 0)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported",
                                  buf);
    r->coord = (kn_resize_coord)c;
    KN_TRY(kn_onnx_attr_string(n, "nearest_mode", "round_prefer_floor", buf, sizeof buf, err));
    if ((c = kn_onnx_pick(buf, nearest)) < 0)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", buf);
    r->nearest = (kn_nearest_mode)c;
    KN_TRY(kn_onnx_attr_float(n, "cubic_coeff_a", -0.75f, &r->cubic_a, err));
    KN_TRY(kn_onnx_attr_int(n, "exclude_outside", 0, &excl, err));
    r->exclude_outside = excl != 0;
    return kn_onnx_attr_float(n, "extrapolation_value", 0.0f, &r->extrapolation, err);
}

/* Upsample-7/9/10 and Resize-10: X and scales (Upsample-7: an attribute) -> asymmetric Resize, nearest
 * taking the floor (what these opsets compute for upsampling). */
static kn_status kn_onnx_upsample(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_resize_mode(n, err));
    n->attrs.resize.coord = KN_COORD_ASYMMETRIC;
    n->attrs.resize.nearest = KN_NEAREST_FLOOR;
    if (n->opset < 9) {
        KN_TRY(kn_onnx_only_inputs(n, 1, err));
        const Onnx__AttributeProto *a = kn_onnx_attr(n, "scales");
        if (!a || a->n_floats == 0 || a->n_floats > KN_MAX_RANK)
            return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'scales' (1 to %d floats) is required",
                                      KN_MAX_RANK);
        kn_shape s = {.rank = 1, .dims = {(int64_t)a->n_floats}};
        int id;
        KN_TRY(kn_onnx_add_const(n, "scales", KN_F32, &s, a->floats, &id, err));
        n->inputs[1] = id;
        n->num_inputs = 2;
    }
    if (n->num_inputs != 2 || n->inputs[1] < 0)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "takes X and scales");
    /* scales moves to Resize's slot 2 (slot 1, roi, stays empty) */
    n->inputs[2] = n->inputs[1];
    n->inputs[1] = -1;
    n->num_inputs = 3;
    kn_value *sc = kn_onnx_input(n, 2);
    if (sc && sc->data && sc->dtype == KN_F32 && n->attrs.resize.mode == KN_RESIZE_NEAREST) {
        size_t c = 0;
        kn_shape_numel(&sc->shape, &c);
        for (size_t i = 0; i < c; i++)
            if (((const float *)sc->data)[i] < 1.0f)
                return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                          "nearest downsampling (scale %g) at opset %lld is not supported",
                                          (double)((const float *)sc->data)[i], (long long)n->opset);
    }
    return KN_OK;
}

static kn_status kn_onnx_mod(kn_onnx_node *n, kn_error *err)
{
    int64_t f;
    KN_TRY(kn_onnx_attr_int(n, "fmod", 0, &f, err));
    if (f != 0 && f != 1)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "fmod must be 0 or 1, not %lld", (long long)f);
    n->attrs.mod.fmod = f == 1;
    return KN_OK;
}

/* DepthToSpace (mode from opset 11: DCR or CRD) and SpaceToDepth: blocksize. */
static kn_status kn_onnx_block(kn_onnx_node *n, kn_error *err)
{
    if (!kn_onnx_attr(n, "blocksize"))
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'blocksize' is required");
    KN_TRY(kn_onnx_attr_int(n, "blocksize", 1, &n->attrs.block.blocksize, err));
    char mode[16];
    KN_TRY(kn_onnx_attr_string(n, "mode", "DCR", mode, sizeof mode, err));
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "mode '%s' is not supported (DCR, CRD)", mode);
    n->attrs.block.crd = strcmp(mode, "CRD") == 0;
    return KN_OK;
}

static kn_status kn_onnx_reshape(kn_onnx_node *n, kn_error *err)
{
    int64_t v;
    KN_TRY(kn_onnx_attr_int(n, "allowzero", 0, &v, err));
    if (v != 0)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "allowzero=1 is not supported");
    return KN_OK;
}

static kn_status kn_onnx_transpose(kn_onnx_node *n, kn_error *err)
{
    int count;
    KN_TRY(kn_onnx_attr_ints(n, "perm", n->attrs.transpose.perm, KN_MAX_RANK, &count, err));
    n->attrs.transpose.nperm = count < 0 ? 0 : count;
    return KN_OK;
}

/* Split-2/11: the `split` attribute becomes the second input. */
static kn_status kn_onnx_split_attr(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_only_inputs(n, 1, err));
    KN_TRY(kn_onnx_axis0(n, err));
    int64_t split[KN_MAX_OUTPUTS];
    int count;
    KN_TRY(kn_onnx_attr_ints(n, "split", split, KN_MAX_OUTPUTS, &count, err));
    if (count >= 0)
        KN_TRY(kn_onnx_ints_input(n, 1, "split", split, count, err));
    return KN_OK;
}

/* Slice-1: starts/ends/axes attributes become inputs 1..3. */
static kn_status kn_onnx_slice1(kn_onnx_node *n, kn_error *err)
{
    int64_t starts[KN_MAX_RANK], ends[KN_MAX_RANK], axes[KN_MAX_RANK];
    int ns, ne, na;
    KN_TRY(kn_onnx_only_inputs(n, 1, err));
    KN_TRY(kn_onnx_attr_ints(n, "starts", starts, KN_MAX_RANK, &ns, err));
    KN_TRY(kn_onnx_attr_ints(n, "ends", ends, KN_MAX_RANK, &ne, err));
    KN_TRY(kn_onnx_attr_ints(n, "axes", axes, KN_MAX_RANK, &na, err));
    if (ns < 0 || ne < 0)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attributes 'starts' and 'ends' are required");
    if (ns != ne || (na >= 0 && na != ns))
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attributes 'starts', 'ends' and 'axes' differ in length");
    KN_TRY(kn_onnx_ints_input(n, 1, "starts", starts, ns, err));
    KN_TRY(kn_onnx_ints_input(n, 2, "ends", ends, ne, err));
    if (na >= 0)
        KN_TRY(kn_onnx_ints_input(n, 3, "axes", axes, na, err));
    return KN_OK;
}

static kn_status kn_onnx_pad_mode(kn_onnx_node *n, kn_error *err)
{
    char mode[32];
    KN_TRY(kn_onnx_attr_string(n, "mode", "constant", mode, sizeof mode, err));
    if (strcmp(mode, "constant") == 0)
        n->attrs.pad.mode = KN_PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0)
        n->attrs.pad.mode = KN_PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0)
        n->attrs.pad.mode = KN_PAD_EDGE;
    else
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "pad mode '%s' is not supported", mode);
    return KN_OK;
}

/* Pad-2: pads and value attributes become inputs 1 and 2. */
static kn_status kn_onnx_pad2(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_only_inputs(n, 1, err));
    KN_TRY(kn_onnx_pad_mode(n, err));
    int64_t pads[2 * KN_MAX_RANK];
    int np;
    KN_TRY(kn_onnx_attr_ints(n, "pads", pads, 2 * KN_MAX_RANK, &np, err));
    if (np < 0)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'pads' is required");
    KN_TRY(kn_onnx_ints_input(n, 1, "pads", pads, np, err));
    if (kn_onnx_attr(n, "value")) {
        float value;
        KN_TRY(kn_onnx_attr_float(n, "value", 0.0f, &value, err));
        /* the constant takes the data's dtype when it is known (Pad-2 is float-only) */
        kn_value *x = kn_onnx_input(n, 0);
        kn_shape scalar;
        memset(&scalar, 0, sizeof scalar);
        int id;
        if (x && x->dtype == KN_F64) {
            double d = value;
            KN_TRY(kn_onnx_add_const(n, "value", KN_F64, &scalar, &d, &id, err));
        } else {
            KN_TRY(kn_onnx_add_const(n, "value", KN_F32, &scalar, &value, &id, err));
        }
        n->inputs[2] = id;
        n->num_inputs = 3;
    }
    return KN_OK;
}

/* Squeeze-1/11 and Unsqueeze-1/11: the axes attribute becomes input 1. */
static kn_status kn_onnx_axes_attr(kn_onnx_node *n, kn_error *err)
{
    int64_t axes[KN_MAX_RANK];
    int na;
    KN_TRY(kn_onnx_only_inputs(n, 1, err));
    KN_TRY(kn_onnx_attr_ints(n, "axes", axes, KN_MAX_RANK, &na, err));
    if (na < 0 && n->op == KN_OP_UNSQUEEZE)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'axes' is required");
    if (na >= 0)
        KN_TRY(kn_onnx_ints_input(n, 1, "axes", axes, na, err));
    return KN_OK;
}

static kn_status kn_onnx_shape15(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_attr_int(n, "start", 0, &n->attrs.shape.start, err));
    n->attrs.shape.has_end = kn_onnx_attr(n, "end") != NULL;
    return kn_onnx_attr_int(n, "end", 0, &n->attrs.shape.end, err);
}

static kn_status kn_onnx_constant_of_shape(kn_onnx_node *n, kn_error *err)
{
    const Onnx__AttributeProto *a = kn_onnx_attr(n, "value");
    if (!a)
        return KN_OK; /* float32 zeros */
    if (!a->t)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'value' must be a tensor");
    kn_dtype dt;
    kn_shape s;
    void *data;
    kn_error sub;
    kn_status st = kn_onnx_tensor_convert(a->t, "attribute 'value'", &dt, &s, &data, err ? &sub : NULL);
    if (st != KN_OK)
        return kn_onnx_node_error(n, err, st, "%s", err ? sub.message : "");
    size_t count = 0;
    kn_shape_numel(&s, &count);
    double v = 0;
    int64_t big = 0; /* an int64 value a double cannot hold exactly (never 0) */
    if (count == 1) {
        switch (dt) {
        case KN_F32: v = *(float *)data; break;
        case KN_F64: v = *(double *)data; break;
        case KN_I64: {
            /* attrs.dtype.value is a double: int64 values beyond 2^53 would change silently */
            int64_t i = *(int64_t *)data;
            v = (double)i;
            if (!(v < 9223372036854775808.0 && (int64_t)v == i))
                big = i;
            break;
        }
        case KN_I32: v = *(int32_t *)data; break;
        case KN_I8: v = *(int8_t *)data; break;
        default: v = *(uint8_t *)data; break;
        }
    }
    free(data);
    if (count != 1)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'value' must hold one element, not %zu",
                                  count);
    if (big != 0)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                  "int64 value %lld has no exact double; kiln keeps the fill value as a double",
                                  (long long)big);
    n->attrs.dtype.to = dt;
    n->attrs.dtype.value = v;
    return KN_OK;
}

static kn_status kn_onnx_cast(kn_onnx_node *n, kn_error *err)
{
    int64_t to;
    if (!kn_onnx_attr(n, "to"))
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'to' is required");
    KN_TRY(kn_onnx_attr_int(n, "to", 0, &to, err));
    kn_dtype dt = to >= 0 && to <= INT32_MAX ? kn_onnx_dtype((int32_t)to) : KN_DTYPE_UNDEFINED;
    if (dt == KN_DTYPE_UNDEFINED)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "casting to %s is not supported",
                                  to >= 0 && to <= INT32_MAX ? kn_onnx_dtype_name((int32_t)to) : "unknown");
    n->attrs.dtype.to = dt;
    return KN_OK;
}

/* ScatterND-16+: reduction none (default), add or mul. */
static kn_status kn_onnx_scatter_nd(kn_onnx_node *n, kn_error *err)
{
    char red[16];
    KN_TRY(kn_onnx_attr_string(n, "reduction", "none", red, sizeof red, err));
    if (strcmp(red, "none") == 0)
        n->attrs.scatter.reduction = KN_SCATTER_NONE;
    else if (strcmp(red, "add") == 0)
        n->attrs.scatter.reduction = KN_SCATTER_ADD;
    else if (strcmp(red, "mul") == 0)
        n->attrs.scatter.reduction = KN_SCATTER_MUL;
    else
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "reduction '%s' is not supported (none, add, mul)", red);
    return KN_OK;
}

/* GatherND-12+: batch_dims (0 before). */
static kn_status kn_onnx_gather_nd(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_attr_int(n, "batch_dims", 0, &n->attrs.gather_nd.batch_dims, err));
    if (n->attrs.gather_nd.batch_dims < 0)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "batch_dims %lld is negative",
                                  (long long)n->attrs.gather_nd.batch_dims);
    return KN_OK;
}

/* Dropout-7/10: ratio attribute. */
static kn_status kn_onnx_dropout7(kn_onnx_node *n, kn_error *err)
{
    KN_TRY(kn_onnx_only_inputs(n, 1, err));
    return kn_onnx_attr_float(n, "ratio", 0.5f, &n->attrs.scalar.ratio, err);
}

/* Dropout-12+: ratio and training_mode are inputs; training must be off. */
static kn_status kn_onnx_dropout12(kn_onnx_node *n, kn_error *err)
{
    kn_value *ratio = kn_onnx_input(n, 1);
    if (ratio && ratio->data && kn_value_kind_stored(ratio->kind)) {
        if (ratio->dtype == KN_F32)
            n->attrs.scalar.ratio = *(const float *)ratio->data;
        else if (ratio->dtype == KN_F64)
            n->attrs.scalar.ratio = (float)*(const double *)ratio->data;
    }
    bool ratio_zero = ratio && ratio->data && kn_value_kind_stored(ratio->kind) &&
                      (ratio->dtype == KN_F32 || ratio->dtype == KN_F64) && n->attrs.scalar.ratio == 0.0f;
    kn_value *train = kn_onnx_input(n, 2);
    if (train) {
        bool constant = train->data && kn_value_kind_stored(train->kind);
        size_t count = 0;
        if (constant && train->dtype == KN_BOOL && kn_shape_numel(&train->shape, &count) == KN_OK &&
            count == 1 && (*(const unsigned char *)train->data == 0 || ratio_zero)) {
            /* inert: inference mode, or training mode with a constant ratio of 0 (nothing dropped, the mask
             * all true: what exporters write for a model's dropout(p=0) traced in training mode, e.g. Swin) */
            n->inputs[2] = -1;
        } else {
            return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                      "training_mode input '%s' must be absent or a constant false",
                                      train->name);
        }
    }
    return KN_OK;
}

/* ------------------------------------------------------------- the table */

#define KN_WINDOW_ATTRS "auto_pad kernel_shape pads strides dilations"

static const kn_onnx_op_entry kn_onnx_ops[] = {
    /* op_type             opsets    kiln op                     import function          attributes */
    {"Constant",            1, 17, KN_OP_COUNT,               NULL,                      ""},
    {"Conv",                1, 17, KN_OP_CONV,                kn_onnx_window,            KN_WINDOW_ATTRS " group"},
    {"ConvTranspose",       1, 17, KN_OP_CONV_TRANSPOSE,      kn_onnx_window,
     KN_WINDOW_ATTRS " group output_padding output_shape"},
    {"Gemm",                7, 17, KN_OP_GEMM,                kn_onnx_gemm,              "alpha beta transA transB broadcast"},
    {"MatMul",              1, 17, KN_OP_MATMUL,              NULL,                      ""},
    /* lowered at import to Transpose/Unsqueeze/MatMul/ReduceSum (onnx_einsum.c); the row's op is a placeholder */
    {"Einsum",             12, 17, KN_OP_MATMUL,              kn_onnx_einsum,            "equation"},
    {"Add",                 7, 17, KN_OP_ADD,                 NULL,                      ""},
    {"Sub",                 7, 17, KN_OP_SUB,                 NULL,                      ""},
    {"Mul",                 7, 17, KN_OP_MUL,                 NULL,                      ""},
    {"Div",                 7, 17, KN_OP_DIV,                 NULL,                      ""},
    {"Pow",                 7, 17, KN_OP_POW,                 NULL,                      ""},
    /* the opset 6 forms differ only in refusing broadcasting; Min/Max 12 add integer types */
    {"Min",                 6, 17, KN_OP_MIN,                 NULL,                      ""},
    {"Max",                 6, 17, KN_OP_MAX,                 NULL,                      ""},
    {"Sum",                 6, 17, KN_OP_SUM,                 NULL,                      ""},
    {"Mean",                6, 17, KN_OP_MEAN,                NULL,                      ""},
    {"PRelu",               7, 17, KN_OP_PRELU,               NULL,                      ""},
    /* Equal-7 and Less/Greater-7 take fewer dtypes than -13; the shape rule checks dtypes */
    {"Equal",               7, 17, KN_OP_EQUAL,               NULL,                      ""},
    {"Less",                7, 17, KN_OP_LESS,                NULL,                      ""},
    {"LessOrEqual",        12, 17, KN_OP_LESS_OR_EQUAL,       NULL,                      ""},
    {"Greater",             7, 17, KN_OP_GREATER,             NULL,                      ""},
    {"GreaterOrEqual",     12, 17, KN_OP_GREATER_OR_EQUAL,    NULL,                      ""},
    {"Not",                 1, 17, KN_OP_NOT,                 NULL,                      ""},
    {"And",                 7, 17, KN_OP_AND,                 NULL,                      ""},
    {"Or",                  7, 17, KN_OP_OR,                  NULL,                      ""},
    {"Xor",                 7, 17, KN_OP_XOR,                 NULL,                      ""},
    {"Where",               9, 17, KN_OP_WHERE,               NULL,                      ""},
    {"Relu",                6, 17, KN_OP_RELU,                NULL,                      ""},
    {"LeakyRelu",           6, 17, KN_OP_LEAKY_RELU,          kn_onnx_alpha_beta,        "alpha"},
    {"Sigmoid",             6, 17, KN_OP_SIGMOID,             NULL,                      ""},
    {"Tanh",                6, 17, KN_OP_TANH,                NULL,                      ""},
    {"Clip",                6, 10, KN_OP_CLIP,                kn_onnx_clip6,             "min max"},
    {"Clip",               11, 17, KN_OP_CLIP,                NULL,                      ""},
    {"HardSigmoid",         6, 17, KN_OP_HARD_SIGMOID,        kn_onnx_alpha_beta,        "alpha beta"},
    {"HardSwish",          14, 17, KN_OP_HARD_SWISH,          NULL,                      ""},
    {"Elu",                 6, 17, KN_OP_ELU,                 kn_onnx_alpha_beta,        "alpha"},
    {"Sqrt",                6, 17, KN_OP_SQRT,                NULL,                      ""},
    {"Exp",                 6, 17, KN_OP_EXP,                 NULL,                      ""},
    {"Erf",                 9, 17, KN_OP_ERF,                 NULL,                      ""},
    {"Abs",                 6, 17, KN_OP_ABS,                 NULL,                      ""},
    {"Neg",                 6, 17, KN_OP_NEG,                 NULL,                      ""},
    {"Reciprocal",          6, 17, KN_OP_RECIPROCAL,          NULL,                      ""},
    {"Log",                 6, 17, KN_OP_LOG,                 NULL,                      ""},
    {"Floor",               6, 17, KN_OP_FLOOR,               NULL,                      ""},
    {"Ceil",                6, 17, KN_OP_CEIL,                NULL,                      ""},
    {"Round",              11, 17, KN_OP_ROUND,               NULL,                      ""},
    {"Sign",                9, 17, KN_OP_SIGN,                NULL,                      ""},
    {"Sin",                 7, 17, KN_OP_SIN,                 NULL,                      ""},
    {"Cos",                 7, 17, KN_OP_COS,                 NULL,                      ""},
    {"Softplus",            1, 17, KN_OP_SOFTPLUS,            NULL,                      ""},
    {"Softsign",            1, 17, KN_OP_SOFTSIGN,            NULL,                      ""},
    {"Selu",                6, 17, KN_OP_SELU,                kn_onnx_selu,              "alpha gamma"},
    {"ThresholdedRelu",    10, 17, KN_OP_THRESHOLDED_RELU,    kn_onnx_alpha_beta,        "alpha"},
    {"Celu",               12, 17, KN_OP_CELU,                kn_onnx_celu,              "alpha"},
    {"Softmax",             1, 17, KN_OP_SOFTMAX,             kn_onnx_softmax,           "axis"},
    {"LogSoftmax",          1, 17, KN_OP_LOG_SOFTMAX,         kn_onnx_softmax,           "axis"},
    {"MaxPool",             1,  7, KN_OP_MAX_POOL,            kn_onnx_window,            "auto_pad kernel_shape pads strides"},
    {"MaxPool",             8, 17, KN_OP_MAX_POOL,            kn_onnx_window,            KN_WINDOW_ATTRS " ceil_mode storage_order"},
    {"AveragePool",         7, 17, KN_OP_AVERAGE_POOL,        kn_onnx_window,
     "auto_pad kernel_shape pads strides ceil_mode count_include_pad"},
    {"GlobalAveragePool",   1, 17, KN_OP_GLOBAL_AVERAGE_POOL, NULL,                      ""},
    {"GlobalMaxPool",       1, 17, KN_OP_GLOBAL_MAX_POOL,     NULL,                      ""},
    {"BatchNormalization",  7,  8, KN_OP_BATCH_NORM,          kn_onnx_batch_norm,        "epsilon momentum spatial"},
    {"BatchNormalization",  9, 13, KN_OP_BATCH_NORM,          kn_onnx_batch_norm,        "epsilon momentum"},
    {"BatchNormalization", 14, 17, KN_OP_BATCH_NORM,          kn_onnx_batch_norm,        "epsilon momentum training_mode"},
    {"LayerNormalization", 17, 17, KN_OP_LAYER_NORM,          kn_onnx_layer_norm,        "axis epsilon stash_type"},
    {"InstanceNormalization", 6, 17, KN_OP_INSTANCE_NORM,     kn_onnx_instance_norm,     "epsilon"},
    {"LRN",                 1, 17, KN_OP_LRN,                 kn_onnx_lrn,               "alpha beta bias size"},
    {"ReduceMean",          1, 17, KN_OP_REDUCE_MEAN,         kn_onnx_reduce,            "axes keepdims"},
    {"ReduceSum",           1, 12, KN_OP_REDUCE_SUM,          kn_onnx_reduce,            "axes keepdims"},
    {"ReduceSum",          13, 17, KN_OP_REDUCE_SUM,          kn_onnx_reduce13,          "keepdims noop_with_empty_axes"},
    {"ReduceMax",           1, 17, KN_OP_REDUCE_MAX,          kn_onnx_reduce,            "axes keepdims"},
    {"ReduceMin",           1, 17, KN_OP_REDUCE_MIN,          kn_onnx_reduce,            "axes keepdims"},
    {"ReduceProd",          1, 17, KN_OP_REDUCE_PROD,         kn_onnx_reduce,            "axes keepdims"},
    {"ReduceL1",            1, 17, KN_OP_REDUCE_L1,           kn_onnx_reduce,            "axes keepdims"},
    {"ReduceL2",            1, 17, KN_OP_REDUCE_L2,           kn_onnx_reduce,            "axes keepdims"},
    {"ReduceLogSum",        1, 17, KN_OP_REDUCE_LOG_SUM,      kn_onnx_reduce,            "axes keepdims"},
    {"ReduceLogSumExp",     1, 17, KN_OP_REDUCE_LOG_SUM_EXP,  kn_onnx_reduce,            "axes keepdims"},
    {"ReduceSumSquare",     1, 17, KN_OP_REDUCE_SUM_SQUARE,   kn_onnx_reduce,            "axes keepdims"},
    {"ArgMax",              1, 11, KN_OP_ARG_MAX,             kn_onnx_arg,               "axis keepdims"},
    {"ArgMax",             12, 17, KN_OP_ARG_MAX,             kn_onnx_arg,               "axis keepdims select_last_index"},
    {"ArgMin",              1, 11, KN_OP_ARG_MIN,             kn_onnx_arg,               "axis keepdims"},
    {"ArgMin",             12, 17, KN_OP_ARG_MIN,             kn_onnx_arg,               "axis keepdims select_last_index"},
    {"Upsample",            7,  8, KN_OP_RESIZE,              kn_onnx_upsample,          "mode scales"},
    {"Upsample",            9,  9, KN_OP_RESIZE,              kn_onnx_upsample,          "mode"},
    {"Resize",             10, 10, KN_OP_RESIZE,              kn_onnx_upsample,          "mode"},
    {"Resize",             11, 17, KN_OP_RESIZE,              kn_onnx_resize,
     "coordinate_transformation_mode cubic_coeff_a exclude_outside extrapolation_value mode nearest_mode"},
    {"Expand",              8, 17, KN_OP_EXPAND,              NULL,                      ""},
    {"Tile",                6, 17, KN_OP_TILE,                NULL,                      ""},
    {"Range",              11, 17, KN_OP_RANGE,               NULL,                      ""},
    {"Mod",                10, 17, KN_OP_MOD,                 kn_onnx_mod,               "fmod"},
    {"DepthToSpace",        1, 10, KN_OP_DEPTH_TO_SPACE,      kn_onnx_block,             "blocksize"},
    {"DepthToSpace",       11, 17, KN_OP_DEPTH_TO_SPACE,      kn_onnx_block,             "blocksize mode"},
    {"SpaceToDepth",        1, 17, KN_OP_SPACE_TO_DEPTH,      kn_onnx_block,             "blocksize"},
    {"Flatten",             1, 17, KN_OP_FLATTEN,             kn_onnx_flatten,           "axis"},
    {"Reshape",             5, 13, KN_OP_RESHAPE,             NULL,                      ""},
    {"Reshape",            14, 17, KN_OP_RESHAPE,             kn_onnx_reshape,           "allowzero"},
    {"Transpose",           1, 17, KN_OP_TRANSPOSE,           kn_onnx_transpose,         "perm"},
    {"Concat",              4, 17, KN_OP_CONCAT,              kn_onnx_concat,            "axis"},
    {"Split",               2, 12, KN_OP_SPLIT,               kn_onnx_split_attr,        "axis split"},
    {"Split",              13, 17, KN_OP_SPLIT,               kn_onnx_axis0,             "axis"},
    {"Slice",               1,  9, KN_OP_SLICE,               kn_onnx_slice1,            "starts ends axes"},
    {"Slice",              10, 17, KN_OP_SLICE,               NULL,                      ""},
    {"Pad",                 2, 10, KN_OP_PAD,                 kn_onnx_pad2,              "mode pads value"},
    {"Pad",                11, 17, KN_OP_PAD,                 kn_onnx_pad_mode,          "mode"},
    {"Squeeze",             1, 12, KN_OP_SQUEEZE,             kn_onnx_axes_attr,         "axes"},
    {"Squeeze",            13, 17, KN_OP_SQUEEZE,             NULL,                      ""},
    {"Unsqueeze",           1, 12, KN_OP_UNSQUEEZE,           kn_onnx_axes_attr,         "axes"},
    {"Unsqueeze",          13, 17, KN_OP_UNSQUEEZE,           NULL,                      ""},
    {"Gather",              1, 17, KN_OP_GATHER,              kn_onnx_axis0,             "axis"},
    {"ScatterND",          11, 15, KN_OP_SCATTER_ND,          NULL,                      ""},
    {"ScatterND",          16, 17, KN_OP_SCATTER_ND,          kn_onnx_scatter_nd,        "reduction"},
    {"GatherND",           11, 11, KN_OP_GATHER_ND,           NULL,                      ""},
    {"GatherND",           12, 17, KN_OP_GATHER_ND,           kn_onnx_gather_nd,         "batch_dims"},
    {"Shape",               1, 14, KN_OP_SHAPE,               NULL,                      ""},
    {"Shape",              15, 17, KN_OP_SHAPE,               kn_onnx_shape15,           "start end"},
    {"ConstantOfShape",     9, 17, KN_OP_CONSTANT_OF_SHAPE,   kn_onnx_constant_of_shape, "value"},
    {"Identity",            1, 17, KN_OP_IDENTITY,            NULL,                      ""},
    {"Dropout",             7, 11, KN_OP_DROPOUT,             kn_onnx_dropout7,          "ratio"},
    {"Dropout",            12, 17, KN_OP_DROPOUT,             kn_onnx_dropout12,         "seed"},
    {"Cast",                6, 17, KN_OP_CAST,                kn_onnx_cast,              "to"},
};

const kn_onnx_op_entry *kn_onnx_find_op(const char *op_type, int64_t opset)
{
    for (size_t i = 0; i < sizeof kn_onnx_ops / sizeof kn_onnx_ops[0]; i++) {
        const kn_onnx_op_entry *e = &kn_onnx_ops[i];
        if (strcmp(e->op_type, op_type) == 0 && opset >= e->min_opset && opset <= e->max_opset)
            return e;
    }
    return NULL;
}

bool kn_onnx_op_supported(const char *op_type, int opset)
{
    return op_type && opset >= 1 && opset <= KN_ONNX_MAX_OPSET &&
           kn_onnx_find_op(op_type, opset) != NULL;
}
