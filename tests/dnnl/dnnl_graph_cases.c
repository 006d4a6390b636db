/*
 * dnnl_graph_cases.c - parity cases over small graphs for every op family
 * the oneDNN backend maps or may map (see dnnl_parity.h for the bound).
 *
 * Each family is one cmocka test looping over a table. Most families have
 * "blocked" cases: Conv -> OP -> Conv chains with 16 and 12 channels (a
 * multiple of oneDNN's 8/16-channel blocks and not), so the op reads a
 * blocked Conv output and feeds a Conv that wants one; the rest run the op
 * alone on graph inputs. A case's `expect` names the nodes of the compiled
 * graph that must run on oneDNN, "*" for all of them: both the decision
 * (kn_dnnl_node_runs) and the backend's account after compile must put them
 * there. NULL or a partial list (not checked for the rest) marks what
 * still runs on the reference kernels, by design or for now: Sub/Div whose
 * first input is the broadcast one and Add with both inputs broadcast
 * (oneDNN broadcasts src1 only), Gemm with alpha/beta != 1, 1-D MatMul and
 * batched MatMul of small products, LRN of even size, ConvTranspose whose output_padding exceeds the
 * padding, AveragePool with ceil_mode overhang and count_include_pad,
 * standalone HardSigmoid, Pow, Erf, ReduceMean and the tensor ops (Reshape,
 * Transpose that keeps the last dimension, Split, ...). Make a row "*" when the backend takes its op over.
 * Values that an op cannot take (Div by ~0, Sqrt of negatives) are kept away
 * with Exp or with weights drawn in a positive range.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnnl_backend.h"
#include "dnnl_parity.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Check one built model at batch 0 (its shapes as built) and free it. */
static void check(kn_model_t *m, const char *expect, float tol, const char *name)
{
    kn_parity_check(m, 0, tol, expect, true, name);
    kn_model_free(m);
}

/* x [2, 8, 6, 6] -> Conv "c1" (8 -> c, 3x3, pad 1): the blocked producer of chains. */
static int chain_head(kn_pb *b, int64_t c)
{
    int x = kn_pb_input(b, "x", 4, KN_DIMS(2, 8, 6, 6));
    return kn_pb_conv(b, "c1", x, 8, c, 3, 1, 1, 1);
}

/* v [.., cin, ..] -> Conv "c2" (cin -> 8, 3x3, pad 1) -> graph output: the blocked consumer of chains. */
static void chain_tail(kn_pb *b, int v, int64_t cin)
{
    kn_pb_output(b, kn_pb_conv(b, "c2", v, cin, 8, 3, 1, 1, 1));
}

/* ------------------------------------------------------------ binary */

typedef enum { B_PARAM, B_INPUT, B_CONV } bin_src;

typedef struct bin_case {
    const char *name;
    kn_op op;
    int64_t blocked;    /* 0: a is graph input "a" of shape a[]; C: a = Conv "c1" [2, C, 6, 6], then Conv "c2" */
    int ar;
    int64_t a[5];
    bin_src src;        /* the other operand: a weight, graph input "b", or Conv "cb" (x -> C) */
    int br;
    int64_t bs[5];      /* its shape (B_CONV: a's) */
    bool b_first;       /* the other operand is the FIRST input */
    const char *expect;
} bin_case;

static const bin_case bin_cases[] = {
    /* standalone: same shapes, per-channel, [N,C,1,1], scalar, broadcast first, numpy broadcasts */
    {"add_same", KN_OP_ADD, 0, 4, {2, 3, 4, 5}, B_INPUT, 4, {2, 3, 4, 5}, false, "*"},
    {"sub_same", KN_OP_SUB, 0, 4, {2, 3, 4, 5}, B_INPUT, 4, {2, 3, 4, 5}, false, "*"},
    {"mul_same", KN_OP_MUL, 0, 4, {2, 3, 4, 5}, B_INPUT, 4, {2, 3, 4, 5}, false, "*"},
    {"div_same", KN_OP_DIV, 0, 4, {2, 3, 4, 5}, B_INPUT, 4, {2, 3, 4, 5}, false, "*"},
    {"add_chan", KN_OP_ADD, 0, 4, {2, 3, 4, 5}, B_PARAM, 4, {1, 3, 1, 1}, false, "*"},
    {"mul_chan", KN_OP_MUL, 0, 4, {2, 5, 3, 3}, B_PARAM, 4, {1, 5, 1, 1}, false, "*"},
    {"div_chan", KN_OP_DIV, 0, 4, {2, 5, 3, 3}, B_PARAM, 4, {1, 5, 1, 1}, false, "*"},
    {"mul_nc11", KN_OP_MUL, 0, 4, {2, 3, 4, 5}, B_INPUT, 4, {2, 3, 1, 1}, false, "*"},
    {"sub_nc11", KN_OP_SUB, 0, 4, {2, 3, 4, 5}, B_INPUT, 4, {2, 3, 1, 1}, false, "*"},
    {"add_scalar", KN_OP_ADD, 0, 4, {2, 3, 4, 5}, B_PARAM, 0, {0}, false, "*"},
    {"sub_scalar", KN_OP_SUB, 0, 2, {6, 10}, B_PARAM, 0, {0}, false, "*"},
    {"mul_scalar", KN_OP_MUL, 0, 3, {2, 7, 5}, B_PARAM, 0, {0}, false, "*"},
    {"div_scalar", KN_OP_DIV, 0, 4, {2, 3, 4, 5}, B_PARAM, 0, {0}, false, "*"},
    {"sub_first_chan", KN_OP_SUB, 0, 4, {2, 3, 4, 5}, B_PARAM, 4, {1, 3, 1, 1}, true, NULL},
    {"div_first_chan", KN_OP_DIV, 0, 4, {2, 3, 4, 5}, B_PARAM, 4, {1, 3, 1, 1}, true, "pos"},
    {"mul_first_nc11", KN_OP_MUL, 0, 4, {2, 3, 4, 5}, B_INPUT, 4, {2, 3, 1, 1}, true, "*"},
    {"sub_first_scalar", KN_OP_SUB, 0, 4, {2, 3, 4, 5}, B_PARAM, 0, {0}, true, NULL},
    {"add_row", KN_OP_ADD, 0, 2, {6, 10}, B_PARAM, 2, {1, 10}, false, "*"},
    {"mul_col", KN_OP_MUL, 0, 2, {6, 10}, B_INPUT, 2, {6, 1}, false, "*"},
    {"add_last_dim", KN_OP_ADD, 0, 4, {2, 3, 4, 5}, B_PARAM, 1, {5}, false, "*"},
    {"mul_rank3_chan", KN_OP_MUL, 0, 4, {2, 3, 4, 5}, B_PARAM, 3, {3, 1, 1}, false, "*"},
    {"add_both_bcast", KN_OP_ADD, 0, 4, {2, 3, 1, 5}, B_INPUT, 4, {1, 3, 4, 1}, false, NULL},
    {"sub_both_bcast_first", KN_OP_SUB, 0, 3, {4, 1, 6}, B_INPUT, 3, {1, 5, 1}, true, NULL},
    {"add_5d", KN_OP_ADD, 0, 5, {2, 3, 2, 3, 4}, B_PARAM, 5, {1, 3, 1, 1, 1}, false, "*"},
    /* blocked: Conv -> op -> Conv, 16 and 12 channels */
    {"add_chan_c16", KN_OP_ADD, 16, 0, {0}, B_PARAM, 4, {1, 16, 1, 1}, false, "*"},
    {"add_chan_c12", KN_OP_ADD, 12, 0, {0}, B_PARAM, 4, {1, 12, 1, 1}, false, "*"},
    {"mul_chan_c16", KN_OP_MUL, 16, 0, {0}, B_PARAM, 4, {1, 16, 1, 1}, false, "*"},
    {"mul_chan_c12", KN_OP_MUL, 12, 0, {0}, B_PARAM, 4, {1, 12, 1, 1}, false, "*"},
    {"sub_chan_c12", KN_OP_SUB, 12, 0, {0}, B_PARAM, 4, {1, 12, 1, 1}, false, "*"},
    {"div_chan_c16", KN_OP_DIV, 16, 0, {0}, B_PARAM, 4, {1, 16, 1, 1}, false, "*"},
    {"mul_nc11_c16", KN_OP_MUL, 16, 0, {0}, B_INPUT, 4, {2, 16, 1, 1}, false, "*"},
    {"sub_nc11_c12", KN_OP_SUB, 12, 0, {0}, B_INPUT, 4, {2, 12, 1, 1}, false, "*"},
    {"add_scalar_c12", KN_OP_ADD, 12, 0, {0}, B_PARAM, 0, {0}, false, "*"},
    {"div_scalar_c16", KN_OP_DIV, 16, 0, {0}, B_PARAM, 0, {0}, false, "*"},
    {"sub_first_chan_c12", KN_OP_SUB, 12, 0, {0}, B_PARAM, 4, {1, 12, 1, 1}, true, "c1,c2"},
    {"sub_first_chan_c16", KN_OP_SUB, 16, 0, {0}, B_PARAM, 4, {1, 16, 1, 1}, true, "c1,c2"},
    {"mul_first_nc11_c12", KN_OP_MUL, 12, 0, {0}, B_INPUT, 4, {2, 12, 1, 1}, true, "*"},
    {"div_first_scalar_c16", KN_OP_DIV, 16, 0, {0}, B_PARAM, 0, {0}, true, "c1,pos,c2"},
    {"add_input_c12", KN_OP_ADD, 12, 0, {0}, B_INPUT, 4, {2, 12, 6, 6}, false, "*"},
    {"add_first_input_c16", KN_OP_ADD, 16, 0, {0}, B_INPUT, 4, {2, 16, 6, 6}, true, "*"},
    {"add_conv_conv_c12", KN_OP_ADD, 12, 0, {0}, B_CONV, 0, {0}, false, "*"},
    {"sub_conv_conv_c16", KN_OP_SUB, 16, 0, {0}, B_CONV, 0, {0}, false, "*"},
    {"mul_conv_conv_c12", KN_OP_MUL, 12, 0, {0}, B_CONV, 0, {0}, false, "*"},
    {"div_conv_conv_c16", KN_OP_DIV, 16, 0, {0}, B_CONV, 0, {0}, false, "*"},
};

static kn_model_t *build_binary(const bin_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int a, o;
    if (c->blocked) {
        a = chain_head(&b, c->blocked);
    } else {
        a = kn_pb_input(&b, "a", c->ar, c->a);
    }
    bool divisor_is_other = c->op == KN_OP_DIV && !c->b_first;
    switch (c->src) {
    case B_PARAM:
        o = divisor_is_other ? kn_pb_param(&b, "w", 0.5f, 1.5f, c->br, c->bs)
                             : kn_pb_param(&b, "w", -1.0f, 1.0f, c->br, c->bs);
        break;
    case B_INPUT:
        o = kn_pb_input(&b, "b", c->br, c->bs);
        if (divisor_is_other)
            o = kn_pb_unary(&b, "pos", KN_OP_EXP, o);
        break;
    default: {
        int x = b.g.inputs[0];
        o = kn_pb_conv(&b, "cb", x, 8, c->blocked, 3, 1, 1, 1);
        if (divisor_is_other)
            o = kn_pb_unary(&b, "pos", KN_OP_EXP, o);
        break;
    }
    }
    if (c->op == KN_OP_DIV && c->b_first)
        a = kn_pb_unary(&b, "pos", KN_OP_EXP, a); /* a is the divisor */
    int y = c->b_first ? kn_pb_binary(&b, "op", c->op, o, a) : kn_pb_binary(&b, "op", c->op, a, o);
    if (c->blocked)
        chain_tail(&b, y, c->blocked);
    else
        kn_pb_output(&b, y);
    return kn_pb_model(&b);
}

void kn_dnnl_test_binary(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(bin_cases); i++)
        check(build_binary(&bin_cases[i]), bin_cases[i].expect, 0, bin_cases[i].name);
}

/* ------------------------------------------------------------ Concat */

typedef struct concat_case {
    const char *name;
    int n;              /* inputs */
    int64_t len[4];     /* each input's size along the axis */
    int axis;           /* may be negative */
    bool convs;         /* inputs are Convs "k<i>" of x [2, 8, 6, 6] (axis 1: len[i] channels; else 8), */
                        /* then Conv "c2"; else graph inputs [2, 3, 4, 5] with len[i] along the axis */
    bool with_input;    /* (convs) the last input is graph input x itself, not a Conv */
    const char *expect;
} concat_case;

static const concat_case concat_cases[] = {
    {"concat_ch_16_16", 2, {16, 16}, 1, true, false, "*"},
    {"concat_ch_12_16", 2, {12, 16}, 1, true, false, "*"},
    {"concat_ch_8_12_5", 3, {8, 12, 5}, 1, true, false, "*"},
    {"concat_ch_16x4", 4, {16, 16, 16, 16}, 1, true, false, "*"},
    {"concat_ch_12x4", 4, {12, 12, 12, 12}, 1, true, false, "*"},
    {"concat_ch_conv_and_input", 2, {16, 8}, 1, true, true, "*"},
    {"concat_h_of_convs", 2, {8, 8}, 2, true, false, "*"},
    {"concat_w_of_convs_neg", 3, {8, 8, 8}, -1, true, false, "*"},
    {"concat_batch_of_convs", 2, {8, 8}, 0, true, false, "*"},
    {"concat_axis1_inputs", 3, {2, 3, 5}, 1, false, false, "*"},
    {"concat_axis2_inputs", 2, {3, 4}, 2, false, false, "*"},
    {"concat_axis3_inputs", 4, {1, 2, 3, 4}, 3, false, false, "*"},
    {"concat_axis0_inputs", 2, {1, 3}, 0, false, false, "*"},
    {"concat_one_input", 1, {3}, 1, false, false, "*"},
};

static kn_model_t *build_concat(const concat_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int in[4];
    int axis = c->axis < 0 ? c->axis + 4 : c->axis;
    int64_t out_c = 0;
    if (c->convs) {
        int x = kn_pb_input(&b, "x", 4, KN_DIMS(2, 8, 6, 6));
        for (int i = 0; i < c->n; i++) {
            char name[16];
            snprintf(name, sizeof name, "k%d", i);
            int64_t ch = axis == 1 ? c->len[i] : 8;
            in[i] = c->with_input && i == c->n - 1 ? x : kn_pb_conv(&b, name, x, 8, ch, 3, 1, 1, 1);
            out_c += ch;
        }
        if (axis != 1)
            out_c = 8;
    } else {
        for (int i = 0; i < c->n; i++) {
            char name[16];
            snprintf(name, sizeof name, "x%d", i);
            int64_t d[4] = {2, 3, 4, 5};
            d[axis] = c->len[i];
            in[i] = kn_pb_input(&b, name, 4, d);
        }
    }
    kn_attrs a;
    kn_attrs_init(KN_OP_CONCAT, &a);
    a.axis.axis = c->axis;
    int y = kn_pb_node(&b, "op", KN_OP_CONCAT, &a, c->n, in);
    if (c->convs)
        chain_tail(&b, y, out_c);
    else
        kn_pb_output(&b, y);
    return kn_pb_model(&b);
}

void kn_dnnl_test_concat(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(concat_cases); i++)
        check(build_concat(&concat_cases[i]), concat_cases[i].expect, 0, concat_cases[i].name);
}

/*
 * SqueezeNet's Fire modules, which distribute_concat takes apart: squeeze (1x1, ReLU), expand 1x1 and 3x3 (ReLU)
 * concatenated, a 3x3/2 max pool over the concat, a second Fire module and a 1x1 Conv over its concat. Expand
 * widths in and out of oneDNN's 8- and 16-channel blocks, batch 1 and 2.
 */
static int fire(kn_pb *b, const char *tag, int x, int64_t cin, int64_t e)
{
    char name[7][24];
    const char *what[7] = {"sq", "e1", "e3", "cat", "sq_relu", "e1_relu", "e3_relu"};
    for (int i = 0; i < 7; i++)
        snprintf(name[i], sizeof name[i], "%s_%s", tag, what[i]);
    int sq = kn_pb_unary(b, name[4], KN_OP_RELU, kn_pb_conv(b, name[0], x, cin, 6, 1, 1, 0, 1));
    int e1 = kn_pb_unary(b, name[5], KN_OP_RELU, kn_pb_conv(b, name[1], sq, 6, e, 1, 1, 0, 1));
    int e3 = kn_pb_unary(b, name[6], KN_OP_RELU, kn_pb_conv(b, name[2], sq, 6, e, 3, 1, 1, 1));
    kn_attrs ax;
    kn_attrs_init(KN_OP_CONCAT, &ax);
    ax.axis.axis = 1;
    return kn_pb_node(b, name[3], KN_OP_CONCAT, &ax, 2, (const int[]){e1, e3});
}

static kn_model_t *build_fire(int64_t n, int64_t e)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = kn_pb_input(&b, "x", 4, KN_DIMS(n, 8, 9, 9));
    kn_attrs mp;
    kn_attrs_init(KN_OP_MAX_POOL, &mp);
    mp.window.nspatial = 2;
    for (int i = 0; i < 2; i++) {
        mp.window.kernel[i] = 3;
        mp.window.stride[i] = 2;
    }
    int pooled = kn_pb_node(&b, "pool", KN_OP_MAX_POOL, &mp, 1, (const int[]){fire(&b, "f1", x, 8, e)});
    kn_pb_output(&b, kn_pb_conv(&b, "out", fire(&b, "f2", pooled, 2 * e, e), 2 * e, 4, 1, 1, 0, 1));
    return kn_pb_model(&b);
}

void kn_dnnl_test_fire(void **state)
{
    (void)state;
    const int64_t widths[] = {16, 12, 5, 32};
    for (int64_t n = 1; n <= 2; n++)
        for (size_t i = 0; i < COUNT(widths); i++) {
            char name[32];
            snprintf(name, sizeof name, "fire_b%d_e%d", (int)n, (int)widths[i]);
            check(build_fire(n, widths[i]), "*", 0, name);
        }
}

/* A dense block: a0 = Conv(x) with `c0` channels; y_k = Conv(cat_k) with `g` channels; cat_1 = [a0, y_1],
 * cat_k = [a0, y_1 .. y_k]; and a branch [a0, y_1, y_3] that extends cat_1 a second time. */
typedef struct chain_case {
    const char *name;
    int64_t n, c0, g;
    int in_place8, in_place16; /* concats expected appended in place to their prefix's copy, in nChw8c / nChw16c */
} chain_case;

/* In nhwc (oneDNN's AVX-512 convolutions at batch 1) no prefix is contiguous: none in place. In nChw16c a source
 * before the last one that is not whole 16-channel blocks leaves the concat plain. */
static const chain_case chain_cases[] = {
    {"dense_block_b1", 1, 16, 8, 2, 0},       /* cat_2 after cat_1, cat_3 after cat_2; the branch copies it all */
    {"dense_block_b2", 2, 16, 8, 0, 0},       /* two images: a prefix is not contiguous */
    {"dense_block_g4", 1, 16, 4, 0, 0},       /* cat_1 has 20 channels: not whole 8-channel blocks */
    {"dense_block_g16_c32", 1, 32, 16, 2, 2},
};

static kn_model_t *build_chain(const chain_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs ax;
    kn_attrs_init(KN_OP_CONCAT, &ax);
    ax.axis.axis = 1;
    int x = kn_pb_input(&b, "x", 4, KN_DIMS(c->n, 8, 6, 6));
    int a0 = kn_pb_conv(&b, "a0", x, 8, c->c0, 3, 1, 1, 1);
    int y1 = kn_pb_conv(&b, "y1", a0, c->c0, c->g, 3, 1, 1, 1);
    int cat1 = kn_pb_node(&b, "cat1", KN_OP_CONCAT, &ax, 2, (const int[]){a0, y1});
    /* every concat read through a ReLU, as DenseNet's BN-ReLU-Conv does: a Conv reading a concat directly
     * would take the sources one by one (distribute_concat) and leave no concat to test */
    int y2 = kn_pb_conv(&b, "y2", kn_pb_unary(&b, "act1", KN_OP_RELU, cat1), c->c0 + c->g, c->g, 3, 1, 1, 1);
    int cat2 = kn_pb_node(&b, "cat2", KN_OP_CONCAT, &ax, 3, (const int[]){a0, y1, y2});
    int y3 = kn_pb_conv(&b, "y3", kn_pb_unary(&b, "act2", KN_OP_RELU, cat2), c->c0 + 2 * c->g, c->g, 3, 1, 1, 1);
    int cat3 = kn_pb_node(&b, "cat3", KN_OP_CONCAT, &ax, 4, (const int[]){a0, y1, y2, y3});
    int branch = kn_pb_node(&b, "branch", KN_OP_CONCAT, &ax, 3, (const int[]){a0, y1, y3});
    kn_pb_output(&b, kn_pb_conv(&b, "out", kn_pb_unary(&b, "act3", KN_OP_RELU, cat3), c->c0 + 3 * c->g, 8, 1, 1, 0,
                                1));
    kn_pb_output(&b, kn_pb_conv(&b, "out_branch", kn_pb_unary(&b, "act_b", KN_OP_RELU, branch), c->c0 + 2 * c->g, 8,
                                1, 1, 0, 1));
    kn_pb_output(&b, cat2); /* read after cat3 was appended to its storage */
    return kn_pb_model(&b);
}

/* Concats that extend an earlier concat's output by more sources write only those, after it (dnnl_concat.c) */
void kn_dnnl_test_concat_chain(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(chain_cases); i++) {
        const chain_case *c = &chain_cases[i];
        kn_model_t *m = build_chain(c);
        kn_parity p = kn_parity_check(m, 0, 0, "cat1,cat2,cat3,branch", true, c->name);
        const int want = p.concat_block == 8 ? c->in_place8 : p.concat_block == 16 ? c->in_place16 : 0;
        if (p.in_place_concats != want)
            fail_msg("%s: %d concats appended in place, expected %d (copies in nChw%dc)", c->name, p.in_place_concats,
                     want, p.concat_block);
        kn_model_free(m);
    }
}

/* ------------------------------------------------------------ BatchNormalization, LRN */

typedef struct norm_case {
    const char *name;
    kn_op op;           /* KN_OP_BATCH_NORM or KN_OP_LRN */
    int64_t blocked;    /* C: Conv "c1" -> Relu -> op -> Conv "c2"; 0: op on x of shape x[] */
    int xr;
    int64_t x[5];
    kn_op act;          /* after the op (KN_OP_COUNT: none) */
    int64_t size;       /* LRN */
    float alpha, beta, bias;
    bool after_conv;    /* BN right after Conv "c1" (folded into it) */
    const char *expect;
} norm_case;

#define NONE KN_OP_COUNT
static const norm_case norm_cases[] = {
    {"bn", KN_OP_BATCH_NORM, 0, 4, {2, 5, 4, 4}, NONE, 0, 0, 0, 0, false, "*"},
    {"bn_relu", KN_OP_BATCH_NORM, 0, 4, {2, 5, 4, 4}, KN_OP_RELU, 0, 0, 0, 0, false, "*"},
    {"bn_2d", KN_OP_BATCH_NORM, 0, 2, {4, 6}, NONE, 0, 0, 0, 0, false, "*"},
    {"bn_3d", KN_OP_BATCH_NORM, 0, 3, {2, 6, 7}, KN_OP_RELU, 0, 0, 0, 0, false, "*"},
    {"bn_5d", KN_OP_BATCH_NORM, 0, 5, {1, 3, 2, 3, 4}, NONE, 0, 0, 0, 0, false, "*"},
    {"bn_c16", KN_OP_BATCH_NORM, 16, 0, {0}, NONE, 0, 0, 0, 0, false, "*"},
    {"bn_relu_c12", KN_OP_BATCH_NORM, 12, 0, {0}, KN_OP_RELU, 0, 0, 0, 0, false, "*"},
    {"bn_relu_c16", KN_OP_BATCH_NORM, 16, 0, {0}, KN_OP_RELU, 0, 0, 0, 0, false, "*"},
    {"conv_bn_folded_c12", KN_OP_BATCH_NORM, 12, 0, {0}, KN_OP_RELU, 0, 0, 0, 0, true, "*"},
    /* BatchNormalization may carry a fused activation: oneDNN's own BN fuses Relu only */
    {"bn_leaky", KN_OP_BATCH_NORM, 0, 4, {2, 5, 4, 4}, KN_OP_LEAKY_RELU, 0, 0, 0, 0, false, "*"},
    {"bn_leaky_c12", KN_OP_BATCH_NORM, 12, 0, {0}, KN_OP_LEAKY_RELU, 0, 0, 0, 0, false, "*"},
    {"bn_elu_c16", KN_OP_BATCH_NORM, 16, 0, {0}, KN_OP_ELU, 0, 0, 0, 0, false, "*"},
    {"bn_clip6_c12", KN_OP_BATCH_NORM, 12, 0, {0}, KN_OP_CLIP, 0, 0, 0, 0, false, "*"},
    {"bn_sigmoid_3d", KN_OP_BATCH_NORM, 0, 3, {2, 6, 7}, KN_OP_SIGMOID, 0, 0, 0, 0, false, "*"},
    {"bn_hardswish_c16", KN_OP_BATCH_NORM, 16, 0, {0}, KN_OP_HARD_SWISH, 0, 0, 0, 0, false, "*"},
    {"lrn5", KN_OP_LRN, 0, 4, {2, 7, 5, 5}, NONE, 5, 1e-4f, 0.75f, 1.0f, false, "*"},
    {"lrn3_strong", KN_OP_LRN, 0, 4, {1, 12, 4, 4}, NONE, 3, 0.5f, 0.75f, 2.0f, false, "*"},
    {"lrn_even_size", KN_OP_LRN, 0, 4, {1, 6, 3, 3}, NONE, 4, 0.2f, 0.5f, 1.0f},
    {"lrn_relu", KN_OP_LRN, 0, 4, {2, 5, 4, 4}, KN_OP_RELU, 3, 0.1f, 0.75f, 1.0f, false, "*"},
    {"lrn5_c16", KN_OP_LRN, 16, 0, {0}, NONE, 5, 0.3f, 0.75f, 2.0f, false, "*"},
    {"lrn5_c12", KN_OP_LRN, 12, 0, {0}, NONE, 5, 1e-4f, 0.75f, 1.0f, false, "*"},
    {"lrn3_c12", KN_OP_LRN, 12, 0, {0}, NONE, 3, 0.3f, 0.6f, 1.5f, false, "*"},
};

static kn_model_t *build_norm(const norm_case *c)
{
    assert_true(c->act != KN_OP_CONV); /* a row that leaves act out gets 0 (Conv): rows say NONE */
    kn_pb b;
    kn_pb_init(&b);
    int x;
    int64_t ch;
    if (c->blocked) {
        x = chain_head(&b, c->blocked);
        if (!c->after_conv)
            x = kn_pb_unary(&b, "r1", KN_OP_RELU, x);
        ch = c->blocked;
    } else {
        x = kn_pb_input(&b, "x", c->xr, c->x);
        ch = c->x[1];
    }
    kn_attrs a;
    kn_attrs_init(c->op, &a);
    int y;
    if (c->op == KN_OP_BATCH_NORM) {
        int in[5] = {x, kn_pb_param(&b, "scale", 0.5f, 1.5f, 1, &ch), kn_pb_param(&b, "shift", -0.5f, 0.5f, 1, &ch),
                     kn_pb_param(&b, "mean", -0.3f, 0.3f, 1, &ch), kn_pb_param(&b, "var", 0.5f, 2.0f, 1, &ch)};
        a.batch_norm.epsilon = 1e-3f;
        y = kn_pb_node(&b, "op", KN_OP_BATCH_NORM, &a, 5, in);
    } else {
        a.lrn.size = c->size;
        a.lrn.alpha = c->alpha;
        a.lrn.beta = c->beta;
        a.lrn.bias = c->bias;
        y = kn_pb_node(&b, "op", KN_OP_LRN, &a, 1, &x);
    }
    if (c->act == KN_OP_CLIP) { /* Relu6 */
        int lo = kn_pb_scalar(&b, "lo", 0.0f), hi = kn_pb_scalar(&b, "hi", 6.0f);
        y = kn_pb_node(&b, "act", KN_OP_CLIP, NULL, 3, (int[]){y, lo, hi});
    } else if (c->act != NONE) {
        kn_attrs_init(c->act, &a);
        if (c->act == KN_OP_LEAKY_RELU || c->act == KN_OP_ELU)
            a.scalar.alpha = c->act == KN_OP_ELU ? 0.5f : 0.1f; /* not the defaults, and not Relu's 0 */
        y = kn_pb_node(&b, "act", c->act, &a, 1, &y);
    }
    if (c->blocked)
        chain_tail(&b, y, ch);
    else
        kn_pb_output(&b, y);
    return kn_pb_model(&b);
}

void kn_dnnl_test_norm(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(norm_cases); i++)
        check(build_norm(&norm_cases[i]), norm_cases[i].expect, 0, norm_cases[i].name);
}

/* ------------------------------------------------------------ Softmax, LogSoftmax */

typedef struct softmax_case {
    const char *name;
    kn_op op;
    int64_t blocked;    /* C: Conv "c1" -> op (then graph output); 0: op on x of shape x[] */
    int xr;
    int64_t x[4];
    int axis;
    bool legacy_2d;
    float gain;         /* inputs scaled by this (Mul) before the op: wide logits; 0: none */
    const char *expect;
} softmax_case;

static const softmax_case softmax_cases[] = {
    {"softmax_2d_last", KN_OP_SOFTMAX, 0, 2, {4, 10}, -1, false, 0, "*"},
    {"softmax_2d_axis0", KN_OP_SOFTMAX, 0, 2, {4, 10}, 0, false, 0, "*"},
    {"softmax_2d_wide", KN_OP_SOFTMAX, 0, 2, {3, 1000}, 1, false, 20.0f, "*"},
    {"softmax_3d_axis1", KN_OP_SOFTMAX, 0, 3, {2, 5, 7}, 1, false, 0, "*"},
    {"softmax_4d_axis1", KN_OP_SOFTMAX, 0, 4, {2, 3, 4, 5}, 1, false, 0, "*"},
    {"softmax_4d_axis2", KN_OP_SOFTMAX, 0, 4, {2, 3, 4, 5}, 2, false, 0, "*"},
    {"softmax_4d_last", KN_OP_SOFTMAX, 0, 4, {2, 3, 4, 5}, -1, false, 0, "*"},
    {"softmax_4d_legacy_axis1", KN_OP_SOFTMAX, 0, 4, {2, 3, 4, 5}, 1, true, 0, "*"},
    {"logsoftmax_2d_last", KN_OP_LOG_SOFTMAX, 0, 2, {4, 10}, -1, false, 0, "*"},
    {"logsoftmax_2d_axis0", KN_OP_LOG_SOFTMAX, 0, 2, {4, 10}, 0, false, 0, "*"},
    {"logsoftmax_2d_wide", KN_OP_LOG_SOFTMAX, 0, 2, {3, 1000}, 1, false, 20.0f, "*"},
    {"logsoftmax_4d_axis1", KN_OP_LOG_SOFTMAX, 0, 4, {2, 3, 4, 5}, 1, false, 0, "*"},
    {"logsoftmax_4d_axis3", KN_OP_LOG_SOFTMAX, 0, 4, {2, 3, 4, 5}, 3, false, 0, "*"},
    {"logsoftmax_3d_legacy_axis1", KN_OP_LOG_SOFTMAX, 0, 3, {2, 5, 7}, 1, true, 0, "*"},
    {"softmax_c16_axis1", KN_OP_SOFTMAX, 16, 0, {0}, 1, false, 0, "*"},
    {"softmax_c12_axis1", KN_OP_SOFTMAX, 12, 0, {0}, 1, false, 0, "*"},
    {"softmax_c12_last", KN_OP_SOFTMAX, 12, 0, {0}, -1, false, 0, "*"},
    {"logsoftmax_c16_axis1", KN_OP_LOG_SOFTMAX, 16, 0, {0}, 1, false, 0, "*"},
    {"logsoftmax_c12_axis2", KN_OP_LOG_SOFTMAX, 12, 0, {0}, 2, false, 0, "*"},
};

static kn_model_t *build_softmax(const softmax_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = c->blocked ? chain_head(&b, c->blocked) : kn_pb_input(&b, "x", c->xr, c->x);
    if (c->gain > 0)
        x = kn_pb_binary(&b, "gain", KN_OP_MUL, x, kn_pb_scalar(&b, "g", c->gain));
    kn_attrs a;
    kn_attrs_init(c->op, &a);
    a.axis.axis = c->axis;
    a.axis.legacy_2d = c->legacy_2d;
    int y = kn_pb_node(&b, "op", c->op, &a, 1, &x);
    if (c->blocked) /* and on into a Conv: the op's output is read by oneDNN again */
        kn_pb_output(&b, kn_pb_conv(&b, "c2", y, c->blocked, 8, 3, 1, 1, 1));
    kn_pb_output(&b, y);
    return kn_pb_model(&b);
}

void kn_dnnl_test_softmax(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(softmax_cases); i++)
        check(build_softmax(&softmax_cases[i]), softmax_cases[i].expect, 0, softmax_cases[i].name);
}

/* ------------------------------------------------------------ ConvTranspose */

typedef struct deconv_case {
    const char *name;
    int ns;             /* spatial dims (1 or 2) */
    int64_t cin, cout, in_size, k, stride, pad, pad_end, out_pad, dil, group;
    bool bias;
    kn_op act;          /* fused activation (KN_OP_COUNT: none) */
    int64_t out_shape;  /* > 0: given as output_shape instead of pads */
    bool blocked;       /* Conv "c1" (8 -> cin) before, Conv "c2" (cout -> 8) after */
    const char *expect;
    int wino;           /* nodes expected on kiln's Winograd kernel (on an AVX2 + FMA CPU; else none) */
    int64_t batch;      /* 0: 2 */
} deconv_case;

/* Strided deconvolutions to fewer than 8 output channels per group run on the reference kernels by choice
 * (faster there, see dnnl_decide.c): no expectation; with 8 or more they run on oneDNN; stride 1 runs on oneDNN
 * (but from 1 input channel, the reference kernel's gather path); 16+ input channels and 2s < K <= 3s (5x5 stride 2, 3x3 stride 1) run on
 * kiln's Winograd kernel, one output phase per stride step (and in the blocked chain, c1 and c2 may too). */
static const deconv_case deconv_cases[] = {
    {"deconv3_s1_p1", 2, 4, 6, 5, 3, 1, 1, 1, 0, 1, 1, true, NONE, 0, false, "*"},
    {"deconv_relu_s1", 2, 4, 6, 5, 3, 1, 1, 1, 0, 1, 1, true, KN_OP_RELU, 0, false, "*"},
    {"deconv_c12_to_c16_tanh_s1", 2, 12, 16, 6, 4, 1, 1, 1, 0, 1, 1, true, KN_OP_TANH, 0, true, "*"},
    {"deconv3_s2_p1_op1", 2, 4, 5, 5, 3, 2, 1, 1, 1, 1, 1, true, NONE, 0, false, NULL},
    {"deconv4_s2_p1", 2, 8, 4, 4, 4, 2, 1, 1, 0, 1, 1, false, NONE, 0, false, NULL},
    {"deconv2_s2_p0", 2, 3, 3, 4, 2, 2, 0, 0, 0, 1, 1, true, NONE, 0, false, NULL},
    {"deconv_groups4", 2, 8, 12, 5, 3, 1, 1, 1, 0, 1, 4, true, NONE, 0, false, "*"},
    {"deconv_depthwise_s2", 2, 8, 8, 5, 3, 2, 1, 1, 1, 1, 8, true, NONE, 0, false, NULL},
    {"deconv_dilated2", 2, 4, 4, 5, 3, 1, 2, 2, 0, 2, 1, true, NONE, 0, false, "*"},
    {"deconv_s3_op2_dil2", 2, 3, 5, 4, 3, 3, 1, 1, 2, 2, 1, true, NONE, 0, false, NULL},
    {"deconv_asym_pad", 2, 4, 4, 5, 3, 2, 0, 1, 0, 1, 1, true, NONE, 0, false, NULL},
    {"deconv_output_shape", 2, 4, 4, 5, 3, 2, 0, 0, 0, 1, 1, true, NONE, 10, false, NULL},
    {"deconv_relu", 2, 4, 6, 5, 3, 2, 1, 1, 1, 1, 1, true, KN_OP_RELU, 0, false, NULL},
    {"deconv_tanh", 2, 8, 3, 4, 4, 2, 1, 1, 0, 1, 1, false, KN_OP_TANH, 0, false, NULL},
    {"deconv1d_s2", 1, 3, 4, 7, 3, 2, 1, 1, 1, 1, 1, true, NONE, 0, false, NULL},
    {"deconv_c16_to_c12", 2, 16, 12, 6, 3, 1, 1, 1, 0, 1, 1, true, NONE, 0, true, "*"},
    {"deconv_c12_to_c16_s2", 2, 12, 16, 6, 4, 2, 1, 1, 0, 1, 1, true, KN_OP_RELU, 0, true, "op"},
    {"deconv_c16_groups2_s2", 2, 16, 16, 6, 3, 2, 1, 1, 1, 1, 2, true, NONE, 0, true, "op"},
    /* Winograd: TensorFlow's 'same' 5x5 stride 2 (pads 1, 2), output_padding, 6x6 stride 2, 7x7 stride 3 to 8
     * channels, output_shape, a blocked chain, batch 2 throughout; near-misses: 4x4 stride 2, 8 input channels */
    {"wino_deconv3_s1_c16", 2, 16, 16, 6, 3, 1, 1, 1, 0, 1, 1, true, KN_OP_SIGMOID, 0, false, "*", 1},
    {"wino_deconv5_s2_same", 2, 16, 16, 7, 5, 2, 1, 2, 0, 1, 1, true, KN_OP_LEAKY_RELU, 0, false, "*", 1},
    {"wino_deconv5_s2_op1_relu", 2, 24, 12, 6, 5, 2, 2, 2, 1, 1, 1, true, KN_OP_RELU, 0, false, "*", 1},
    {"wino_deconv6_s2_tanh", 2, 16, 20, 5, 6, 2, 2, 2, 0, 1, 1, false, KN_OP_TANH, 0, false, "*", 1},
    {"wino_deconv7_s3_c8", 2, 16, 8, 5, 7, 3, 2, 2, 0, 1, 1, true, NONE, 0, false, "*", 1},
    {"wino_deconv5_s2_out_shape", 2, 17, 16, 6, 5, 2, 0, 0, 0, 1, 1, true, NONE, 12, false, "*", 1},
    {"wino_deconv5_s2_blocked", 2, 32, 16, 6, 5, 2, 1, 2, 0, 1, 1, true, KN_OP_RELU, 0, true, "op", 1},
    {"nowino_deconv4_s2_c16", 2, 16, 16, 5, 4, 2, 1, 1, 0, 1, 1, true, NONE, 0, false, NULL, 0},
    {"nowino_deconv5_s2_c8", 2, 8, 16, 5, 5, 2, 1, 2, 0, 1, 1, true, NONE, 0, false, "op", 0},
    /* the backward data of DCGAN's convolutions (a training graph's ConvTranspose): its image layer (64 -> 1,
     * 5x5 'same') and its discriminator's 64 -> 128 5x5 stride 2 'same' layer */
    {"dcgan_image_dx", 2, 1, 64, 12, 5, 1, 2, 2, 0, 1, 1, false, NONE, 0, false, NULL, 0},
    /* one input channel, stride 1: the reference kernel's gather path by choice (dnnl_decide.c), to 20 channels
     * (off the 8/16 blocks) and to 16 between blocked Convs (c1, 8 -> 1, is on the reference kernels too) */
    {"deconv_c1_to_c20_dil2", 2, 1, 20, 7, 3, 1, 1, 2, 0, 2, 1, true, NONE, 0, false, NULL, 0},
    {"deconv_c1_to_c16_blocked", 2, 1, 16, 6, 5, 1, 2, 2, 0, 1, 1, true, KN_OP_RELU, 0, true, "c2", 0},
    {"dcgan_disc_dx", 2, 128, 64, 7, 5, 2, 1, 2, 0, 1, 1, false, NONE, 0, false, "op", 0},
    {"dcgan_disc_dx_b32", 2, 128, 64, 7, 5, 2, 1, 2, 0, 1, 1, false, NONE, 0, false, "*", 1, 32},
};

static kn_model_t *build_deconv(const deconv_case *c)
{
    assert_true(c->act != KN_OP_CONV); /* a row that leaves act out gets 0 (Conv): rows say NONE */
    kn_pb b;
    kn_pb_init(&b);
    int x;
    if (c->blocked) {
        assert_int_equal(c->ns, 2);
        x = kn_pb_conv(&b, "c1", kn_pb_input(&b, "x", 4, KN_DIMS(2, 8, c->in_size, c->in_size)), 8, c->cin, 3, 1,
                       1, 1);
    } else {
        int64_t d[4] = {c->batch ? c->batch : 2, c->cin, c->in_size, c->in_size};
        x = kn_pb_input(&b, "x", 2 + c->ns, d);
    }
    int64_t wd[4] = {c->cin, c->cout / c->group, c->k, c->k};
    float r = 1.5f / sqrtf((float)(c->cin / c->group * c->k));
    int in[3] = {x, kn_pb_param(&b, "w", -r, r, 2 + c->ns, wd), -1}, nin = 2;
    if (c->bias) {
        in[2] = kn_pb_param(&b, "bias", -0.2f, 0.2f, 1, &c->cout);
        nin = 3;
    }
    kn_attrs a;
    kn_attrs_init(KN_OP_CONV_TRANSPOSE, &a);
    a.window.nspatial = c->ns;
    a.window.group = c->group;
    for (int i = 0; i < c->ns; i++) {
        a.window.kernel[i] = c->k;
        a.window.stride[i] = c->stride;
        a.window.dilation[i] = c->dil;
        a.window.output_padding[i] = c->out_pad;
        if (c->out_shape > 0) {
            a.window.output_shape[i] = c->out_shape;
        } else {
            a.window.pad_begin[i] = c->pad;
            a.window.pad_end[i] = c->pad_end;
        }
    }
    a.window.has_output_shape = c->out_shape > 0;
    int y = kn_pb_node(&b, "op", KN_OP_CONV_TRANSPOSE, &a, nin, in);
    if (c->act != NONE)
        y = kn_pb_unary(&b, "act", c->act, y);
    if (c->blocked)
        chain_tail(&b, y, c->cout);
    else
        kn_pb_output(&b, y);
    return kn_pb_model(&b);
}

void kn_dnnl_test_conv_transpose(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(deconv_cases); i++) {
        const deconv_case *c = &deconv_cases[i];
        kn_model_t *m = build_deconv(c);
        /* a strided one stays on the reference kernels by choice when the Winograd kernel is unavailable */
        const bool by_choice = c->stride > 1 && !kn_dnnl_wino_available();
        kn_parity p = kn_parity_check(m, 0, 0, by_choice ? NULL : c->expect, true, c->name);
        /* (the blocked chain's 8 -> cin and cout -> 8 convs have too few channels for it) */
        if (p.wino_nodes != (kn_dnnl_wino_available() ? c->wino : 0))
            fail_msg("%s: %d nodes on the Winograd kernel, expected %d", c->name, p.wino_nodes,
                     kn_dnnl_wino_available() ? c->wino : 0);
        kn_model_free(m);
    }
}

/* ------------------------------------------------------------ pools */

typedef struct pool_case {
    const char *name;
    kn_op op;
    int64_t blocked;    /* C: Conv "c1" -> op -> Conv "c2" (1x1 for global pools); 0: op on x[] */
    int xr;
    int64_t x[5];
    int64_t k, stride, pad, pad_end;
    bool ceil_mode, include_pad;
    const char *expect;
} pool_case;

static const pool_case pool_cases[] = {
    {"gap", KN_OP_GLOBAL_AVERAGE_POOL, 0, 4, {2, 5, 7, 7}, 0, 0, 0, 0, false, false, "*"},
    {"gmp", KN_OP_GLOBAL_MAX_POOL, 0, 4, {2, 5, 7, 7}, 0, 0, 0, 0, false, false, "*"},
    {"gap_1d", KN_OP_GLOBAL_AVERAGE_POOL, 0, 3, {2, 6, 9}, 0, 0, 0, 0, false, false, "*"},
    {"gmp_3d", KN_OP_GLOBAL_MAX_POOL, 0, 5, {1, 3, 3, 4, 5}, 0, 0, 0, 0, false, false, "*"},
    {"gap_1x1", KN_OP_GLOBAL_AVERAGE_POOL, 0, 4, {3, 4, 1, 1}, 0, 0, 0, 0, false, false, "*"},
    {"gap_c16", KN_OP_GLOBAL_AVERAGE_POOL, 16, 0, {0}, 0, 0, 0, 0, false, false, "*"},
    {"gap_c12", KN_OP_GLOBAL_AVERAGE_POOL, 12, 0, {0}, 0, 0, 0, 0, false, false, "*"},
    {"gmp_c16", KN_OP_GLOBAL_MAX_POOL, 16, 0, {0}, 0, 0, 0, 0, false, false, "*"},
    {"gmp_c12", KN_OP_GLOBAL_MAX_POOL, 12, 0, {0}, 0, 0, 0, 0, false, false, "*"},
    {"maxpool_ceil_pad", KN_OP_MAX_POOL, 0, 4, {1, 3, 10, 10}, 3, 2, 1, 1, true, false, "*"},
    {"maxpool_ceil_asym", KN_OP_MAX_POOL, 0, 4, {2, 3, 9, 8}, 2, 2, 0, 1, true, false, "*"},
    {"avgpool_ceil_incl", KN_OP_AVERAGE_POOL, 0, 4, {1, 3, 10, 10}, 3, 2, 1, 1, true, true, NULL},
    {"avgpool_ceil_excl_pad", KN_OP_AVERAGE_POOL, 0, 4, {1, 3, 10, 10}, 3, 2, 1, 1, true, false, "*"},
    {"avgpool_incl_asym", KN_OP_AVERAGE_POOL, 0, 4, {2, 3, 7, 7}, 3, 2, 0, 2, false, true, "*"},
    {"avgpool1d_ceil_incl", KN_OP_AVERAGE_POOL, 0, 3, {2, 3, 11}, 3, 2, 1, 1, true, true, "*"},
    {"maxpool_c16", KN_OP_MAX_POOL, 16, 0, {0}, 3, 2, 1, 1, false, false, "*"},
    {"maxpool_ceil_c12", KN_OP_MAX_POOL, 12, 0, {0}, 3, 2, 0, 0, true, false, "*"},
    {"avgpool_incl_c12", KN_OP_AVERAGE_POOL, 12, 0, {0}, 3, 2, 1, 1, false, true, "*"},
    {"avgpool_ceil_excl_c16", KN_OP_AVERAGE_POOL, 16, 0, {0}, 3, 2, 1, 1, true, false, "*"},
    /* kiln's pooling loop (8+ channels) on graph inputs, read in nChw8c (or the KILN_DNNL_LAYOUT the suite
     * forces: nChw16c, nhwc): whole and partial channel blocks, batch 1 and more, the 2x2 fast path with an odd
     * width, padding, ceil mode, both counting modes */
    {"poolloop_max2x2_c8_b1", KN_OP_MAX_POOL, 0, 4, {1, 8, 8, 8}, 2, 2, 0, 0, false, false, "*"},
    {"poolloop_max2x2_c20_b3", KN_OP_MAX_POOL, 0, 4, {3, 20, 9, 11}, 2, 2, 0, 0, false, false, "*"},
    {"poolloop_max3x3s2_c24_b2", KN_OP_MAX_POOL, 0, 4, {2, 24, 11, 11}, 3, 2, 1, 1, false, false, "*"},
    {"poolloop_max_ceil_c17_b2", KN_OP_MAX_POOL, 0, 4, {2, 17, 10, 10}, 3, 2, 0, 0, true, false, "*"},
    {"poolloop_avg3x3_incl_c12_b1", KN_OP_AVERAGE_POOL, 0, 4, {1, 12, 7, 7}, 3, 1, 1, 1, false, true, "*"},
    {"poolloop_avg2x2_ceil_c40_b2", KN_OP_AVERAGE_POOL, 0, 4, {2, 40, 9, 9}, 2, 2, 0, 0, true, false, "*"},
    {"poolloop_avg3x3s2_excl_c32_b2", KN_OP_AVERAGE_POOL, 0, 4, {2, 32, 8, 8}, 3, 2, 1, 1, false, false, "*"},
};

static kn_model_t *build_pool(const pool_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = c->blocked ? chain_head(&b, c->blocked) : kn_pb_input(&b, "x", c->xr, c->x);
    int ns = (c->blocked ? 4 : c->xr) - 2;
    kn_attrs a;
    kn_attrs_init(c->op, &a);
    if (c->op == KN_OP_MAX_POOL || c->op == KN_OP_AVERAGE_POOL) {
        a.window.nspatial = ns;
        for (int i = 0; i < ns; i++) {
            a.window.kernel[i] = c->k;
            a.window.stride[i] = c->stride;
            a.window.pad_begin[i] = c->pad;
            a.window.pad_end[i] = c->pad_end;
        }
        a.window.ceil_mode = c->ceil_mode;
        a.window.count_include_pad = c->include_pad;
    }
    int y = kn_pb_node(&b, "op", c->op, &a, 1, &x);
    if (c->blocked) {
        bool global = c->op == KN_OP_GLOBAL_AVERAGE_POOL || c->op == KN_OP_GLOBAL_MAX_POOL;
        kn_pb_output(&b, kn_pb_conv(&b, "c2", y, c->blocked, 8, global ? 1 : 3, 1, global ? 0 : 1, 1));
    } else {
        kn_pb_output(&b, y);
    }
    return kn_pb_model(&b);
}

void kn_dnnl_test_pools(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(pool_cases); i++)
        check(build_pool(&pool_cases[i]), pool_cases[i].expect, 0, pool_cases[i].name);
}

/* ------------------------------------------------------------ Gemm, MatMul */

typedef struct mm_case {
    const char *name;
    kn_op op;
    int ar;
    int64_t a[5];
    int br;
    int64_t bs[4];
    bool b_input;       /* B is a graph input (else a weight) */
    float alpha, beta;  /* Gemm */
    bool trans_a, trans_b;
    int cr;             /* Gemm: rank of C (-1: none) */
    int64_t cs[2];
    kn_op act;          /* activation after it (fused) */
    bool add_bias;      /* MatMul then Add of a [N] weight (becomes a Gemm) */
    const char *expect;
} mm_case;

static const mm_case mm_cases[] = {
    {"gemm_alpha_beta", KN_OP_GEMM, 2, {4, 8}, 2, {8, 6}, false, 0.5f, 2.0f, false, false, 1, {6}, NONE},
    {"gemm_alpha_beta_full_c", KN_OP_GEMM, 2, {4, 8}, 2, {8, 6}, false, 1.5f, 0.3f, false, false, 2, {4, 6}, NONE},
    {"gemm_col_c", KN_OP_GEMM, 2, {4, 8}, 2, {8, 6}, false, 1.0f, 0.7f, false, false, 2, {4, 1}, NONE},
    {"gemm_scalar_c", KN_OP_GEMM, 2, {4, 8}, 2, {8, 6}, false, 1.0f, 1.0f, false, false, 0, {0}, NONE, false, "*"},
    {"gemm_ta_tb_alpha", KN_OP_GEMM, 2, {8, 4}, 2, {6, 8}, false, 0.7f, 1.0f, true, true, 1, {6}, NONE},
    {"gemm_tb_alpha_no_c", KN_OP_GEMM, 2, {3, 16}, 2, {5, 16}, false, 2.0f, 1.0f, false, true, -1, {0}, NONE},
    {"gemm_beta0", KN_OP_GEMM, 2, {3, 16}, 2, {16, 5}, false, 1.0f, 0.0f, false, false, 1, {5}, NONE},
    {"gemm_b_input", KN_OP_GEMM, 2, {4, 8}, 2, {8, 6}, true, 1.0f, 1.0f, false, false, 1, {6}, NONE, false, "*"},
    {"gemm_sigmoid", KN_OP_GEMM, 2, {4, 32}, 2, {10, 32}, false, 1.0f, 1.0f, false, true, 1, {10}, KN_OP_SIGMOID,
     false, "*"},
    {"gemm_clip", KN_OP_GEMM, 2, {4, 32}, 2, {32, 10}, false, 1.0f, 1.0f, false, false, 1, {10}, KN_OP_CLIP, false,
     "*"},
    {"gemm_alpha_relu", KN_OP_GEMM, 2, {4, 32}, 2, {32, 10}, false, 0.5f, 1.5f, false, false, 1, {10},
     KN_OP_RELU},
    {"matmul_3d_3d", KN_OP_MATMUL, 3, {2, 4, 6}, 3, {2, 6, 5}, true, 0, 0, false, false, -1, {0}, NONE},
    /* batch dims on oneDNN's matmul: B without batch, or products of at least 2^18 multiply-adds */
    {"matmul_3d_2d", KN_OP_MATMUL, 3, {3, 4, 6}, 2, {6, 5}, false, 0, 0, false, false, -1, {0}, NONE, false, "op"},
    {"matmul_4d_attention", KN_OP_MATMUL, 4, {2, 4, 64, 64}, 4, {2, 4, 64, 72}, true, 0, 0, false, false, -1, {0},
     NONE, false, "op"},
    {"matmul_4d_bcast_big", KN_OP_MATMUL, 4, {2, 1, 64, 64}, 4, {1, 3, 64, 72}, true, 0, 0, false, false, -1, {0},
     NONE, false, "op"},
    {"matmul_3d_bcast_a_big", KN_OP_MATMUL, 3, {1, 72, 64}, 3, {3, 64, 64}, true, 0, 0, false, false, -1, {0},
     NONE, false, "op"},
    {"matmul_5d_4d_big", KN_OP_MATMUL, 5, {2, 1, 2, 64, 64}, 4, {3, 2, 64, 72}, true, 0, 0, false, false, -1, {0},
     NONE, false, "op"},
    {"matmul_4d_3d_weight", KN_OP_MATMUL, 4, {2, 3, 16, 24}, 2, {24, 40}, false, 0, 0, false, false, -1, {0}, NONE,
     false, "op"},
    {"matmul_4d_relu_big", KN_OP_MATMUL, 4, {1, 2, 64, 64}, 4, {1, 2, 64, 80}, true, 0, 0, false, false, -1, {0},
     KN_OP_RELU, false, "op"},
    {"matmul_3d_2d_input", KN_OP_MATMUL, 3, {3, 4, 6}, 2, {6, 5}, true, 0, 0, false, false, -1, {0}, NONE},
    /* a 2-D B folds A's batch dims into M (one product): ViT's [tokens, 1, width] rows of one, a 4-D A with B a
     * graph input (read plain) and a weight (reordered once into oneDNN's layout) */
    {"matmul_rows_of_one", KN_OP_MATMUL, 3, {7, 1, 48}, 2, {48, 80}, false, 0, 0, false, false, -1, {0}, NONE, false,
     "op"},
    {"matmul_4d_2d_input_fold", KN_OP_MATMUL, 4, {2, 3, 5, 24}, 2, {24, 40}, true, 0, 0, false, false, -1, {0},
     NONE, false, "op"},
    {"matmul_4d_2d_weight_gelu", KN_OP_MATMUL, 4, {2, 3, 5, 24}, 2, {24, 40}, false, 0, 0, false, false, -1, {0},
     KN_OP_GELU, false, "op"},
    {"gemm_tb_weight", KN_OP_GEMM, 2, {9, 32}, 2, {40, 32}, false, 1.0f, 1.0f, false, true, 1, {40}, NONE, false,
     "op"},
    {"matmul_2d_3d", KN_OP_MATMUL, 2, {4, 6}, 3, {2, 6, 5}, true, 0, 0, false, false, -1, {0}, NONE},
    {"matmul_4d_4d", KN_OP_MATMUL, 4, {2, 3, 4, 6}, 4, {2, 3, 6, 5}, true, 0, 0, false, false, -1, {0}, NONE},
    {"matmul_4d_bcast", KN_OP_MATMUL, 4, {2, 1, 4, 6}, 4, {1, 3, 6, 5}, true, 0, 0, false, false, -1, {0}, NONE},
    {"matmul_3d_bcast_batch1", KN_OP_MATMUL, 3, {1, 4, 6}, 3, {3, 6, 5}, true, 0, 0, false, false, -1, {0}, NONE},
    {"matmul_vec_mat", KN_OP_MATMUL, 1, {6}, 2, {6, 5}, false, 0, 0, false, false, -1, {0}, NONE},
    {"matmul_mat_vec", KN_OP_MATMUL, 2, {4, 6}, 1, {6}, true, 0, 0, false, false, -1, {0}, NONE},
    {"matmul_2d_input", KN_OP_MATMUL, 2, {5, 12}, 2, {12, 9}, true, 0, 0, false, false, -1, {0}, NONE, false, "*"},
    {"matmul_3d_tanh", KN_OP_MATMUL, 3, {2, 4, 6}, 2, {6, 5}, false, 0, 0, false, false, -1, {0}, KN_OP_TANH, false,
     "op"},
    {"matmul_add_bias", KN_OP_MATMUL, 2, {4, 12}, 2, {12, 7}, false, 0, 0, false, false, -1, {0}, KN_OP_RELU, true,
     "*"},
    {"matmul_3d_add_bias", KN_OP_MATMUL, 3, {2, 4, 12}, 2, {12, 7}, false, 0, 0, false, false, -1, {0}, NONE, true},
};

static kn_model_t *build_mm(const mm_case *c)
{
    assert_true(c->act != KN_OP_CONV); /* a row that leaves act out gets 0 (Conv): rows say NONE */
    kn_pb b;
    kn_pb_init(&b);
    int in[3] = {kn_pb_input(&b, "a", c->ar, c->a), -1, -1}, nin = 2;
    in[1] = c->b_input ? kn_pb_input(&b, "b", c->br, c->bs) : kn_pb_param(&b, "w", -0.5f, 0.5f, c->br, c->bs);
    kn_attrs a;
    kn_attrs_init(c->op, &a);
    if (c->op == KN_OP_GEMM) {
        a.gemm.alpha = c->alpha;
        a.gemm.beta = c->beta;
        a.gemm.trans_a = c->trans_a;
        a.gemm.trans_b = c->trans_b;
        if (c->cr >= 0) {
            in[2] = kn_pb_param(&b, "c", -0.5f, 0.5f, c->cr, c->cs);
            nin = 3;
        }
    }
    int y = kn_pb_node(&b, "op", c->op, &a, nin, in);
    if (c->add_bias) {
        int64_t n = c->bs[c->br - 1];
        y = kn_pb_binary(&b, "bias", KN_OP_ADD, y, kn_pb_param(&b, "bias_w", -0.5f, 0.5f, 1, &n));
    }
    if (c->act == KN_OP_CLIP) {
        int cin[3] = {y, kn_pb_scalar(&b, "lo", -0.2f), kn_pb_scalar(&b, "hi", 0.3f)};
        y = kn_pb_node(&b, "act", KN_OP_CLIP, NULL, 3, cin);
    } else if (c->act != NONE) {
        y = kn_pb_unary(&b, "act", c->act, y);
    }
    kn_pb_output(&b, y);
    return kn_pb_model(&b);
}

void kn_dnnl_test_matmul(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(mm_cases); i++)
        check(build_mm(&mm_cases[i]), mm_cases[i].expect, 0, mm_cases[i].name);
}

/* ------------------------------------------------------------ fused post-ops */

typedef struct post_case {
    const char *name;
    int64_t c;          /* Conv "c1" channels (then Conv "c2") */
    kn_op act;          /* after c1: an activation, or KN_OP_MUL for SiLU x * Sigmoid(x) */
    float alpha, beta;  /* LeakyRelu/Elu/HardSigmoid parameters; Clip bounds */
    bool clip_min_only; /* Clip with its max input absent */
    bool residual;      /* graph input "r" added before the activation */
    bool standalone;    /* no Convs: the pattern on graph input x [2, 5, 4, 4] */
    const char *expect;
} post_case;

static const post_case post_cases[] = {
    {"silu", 0, KN_OP_MUL, 0, 0, false, false, true, "*"},
    {"silu_c16", 16, KN_OP_MUL, 0, 0, false, false, false, "*"},
    {"silu_c12", 12, KN_OP_MUL, 0, 0, false, false, false, "*"},
    {"hardsigmoid_c16", 16, KN_OP_HARD_SIGMOID, 0.2f, 0.5f, false, false, false, "*"},
    {"hardsigmoid_c12", 12, KN_OP_HARD_SIGMOID, 1.0f / 6.0f, 0.5f, false, false, false, "*"},
    {"hardswish_c16", 16, KN_OP_HARD_SWISH, 0, 0, false, false, false, "*"},
    {"hardswish_c12", 12, KN_OP_HARD_SWISH, 0, 0, false, false, false, "*"},
    {"clip6_c12", 12, KN_OP_CLIP, 0.0f, 6.0f, false, false, false, "*"},
    {"clip_c16", 16, KN_OP_CLIP, -0.25f, 0.5f, false, false, false, "*"},
    {"clip_min_only_c12", 12, KN_OP_CLIP, 0.1f, 0, true, false, false, "*"},
    /* min > max: every value becomes max, on both backends (as ONNX Runtime computes it) */
    {"clip_min_above_max_c12", 12, KN_OP_CLIP, 0.5f, -0.25f, false, false, false, "*"},
    {"elu_c12", 12, KN_OP_ELU, 0.7f, 0, false, false, false, "*"},
    {"leaky_c16", 16, KN_OP_LEAKY_RELU, 0.05f, 0, false, false, false, "*"},
    {"tanh_c12", 12, KN_OP_TANH, 0, 0, false, false, false, "*"},
    {"sigmoid_c16", 16, KN_OP_SIGMOID, 0, 0, false, false, false, "*"},
    {"residual_relu_c12", 12, KN_OP_RELU, 0, 0, false, true, false, "*"},
    {"residual_clip6_c16", 16, KN_OP_CLIP, 0.0f, 6.0f, false, true, false, "*"},
    {"residual_hardswish_c12", 12, KN_OP_HARD_SWISH, 0, 0, false, true, false, "*"},
    {"hardsigmoid", 0, KN_OP_HARD_SIGMOID, 0.3f, 0.4f, false, false, true},
    {"clip_min_only", 0, KN_OP_CLIP, -0.2f, 0, true, false, true, "*"},
    {"clip_min_above_max", 0, KN_OP_CLIP, 0.3f, -0.1f, false, false, true, "*"},
};

static kn_model_t *build_post(const post_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = c->standalone ? kn_pb_input(&b, "x", 4, KN_DIMS(2, 5, 4, 4)) : chain_head(&b, c->c);
    if (c->residual)
        x = kn_pb_binary(&b, "res", KN_OP_ADD, x, kn_pb_input(&b, "r", 4, KN_DIMS(2, c->c, 6, 6)));
    int y;
    if (c->act == KN_OP_MUL) {
        y = kn_pb_binary(&b, "silu", KN_OP_MUL, x, kn_pb_unary(&b, "sig", KN_OP_SIGMOID, x));
    } else if (c->act == KN_OP_CLIP) {
        int in[3] = {x, kn_pb_scalar(&b, "lo", c->alpha), c->clip_min_only ? -1 : kn_pb_scalar(&b, "hi", c->beta)};
        y = kn_pb_node(&b, "act", KN_OP_CLIP, NULL, 3, in);
    } else {
        kn_attrs a;
        kn_attrs_init(c->act, &a);
        if (c->act == KN_OP_LEAKY_RELU || c->act == KN_OP_ELU || c->act == KN_OP_HARD_SIGMOID) {
            a.scalar.alpha = c->alpha;
            a.scalar.beta = c->beta;
        }
        y = kn_pb_node(&b, "act", c->act, &a, 1, &x);
    }
    if (c->standalone)
        kn_pb_output(&b, y);
    else
        chain_tail(&b, y, c->c);
    return kn_pb_model(&b);
}

void kn_dnnl_test_post_ops(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(post_cases); i++)
        check(build_post(&post_cases[i]), post_cases[i].expect, 0, post_cases[i].name);
}

/* ------------------------------------------------------------ tensor and remaining ops */

/*
 * One builder per op (the ops of ir/ops.def not covered above), each on a
 * blocked Conv output where the op can read one ("c1"; 12 channels, or 16),
 * so the layout is converted for it, or on graph inputs. Shape and
 * ConstantOfShape fold to constants at compile time (shapes are known):
 * they still run through the same pipeline on both backends.
 */

static int relu_head(kn_pb *b, int64_t c)
{
    return kn_pb_unary(b, "r1", KN_OP_RELU, chain_head(b, c));
}

static kn_model_t *t_pow(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = kn_pb_unary(&b, "pos", KN_OP_EXP, kn_pb_input(&b, "v", 4, KN_DIMS(2, 3, 4, 5)));
    int y = kn_pb_binary(&b, "op", KN_OP_POW, x, kn_pb_input(&b, "e", 4, KN_DIMS(2, 3, 4, 5)));
    int z = kn_pb_binary(&b, "sq", KN_OP_POW, relu_head(&b, 12), kn_pb_scalar(&b, "two", 2.0f));
    kn_pb_output(&b, y);
    chain_tail(&b, z, 12);
    return kn_pb_model(&b);
}

static kn_model_t *t_sqrt_erf(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = kn_pb_input(&b, "v", 3, KN_DIMS(2, 7, 9));
    kn_pb_output(&b, kn_pb_unary(&b, "sqrt", KN_OP_SQRT, kn_pb_unary(&b, "pos", KN_OP_EXP, x)));
    kn_pb_output(&b, kn_pb_unary(&b, "erf", KN_OP_ERF, x));
    int c = relu_head(&b, 16);
    int s = kn_pb_unary(&b, "sqrt2", KN_OP_SQRT, c);
    int e = kn_pb_unary(&b, "erf2", KN_OP_ERF, s);
    chain_tail(&b, e, 16);
    return kn_pb_model(&b);
}

/* The issue-17 unary ops oneDNN maps (Abs, Neg, Softplus, Reciprocal as pow) and ones it does not (Log: oneDNN's is
 * ~1e-6 off; Cos). */
static kn_model_t *t_log_unary(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = kn_pb_input(&b, "v", 3, KN_DIMS(2, 7, 9));
    int pos = kn_pb_unary(&b, "pos", KN_OP_EXP, x);
    kn_pb_output(&b, kn_pb_unary(&b, "log", KN_OP_LOG, pos));
    kn_pb_output(&b, kn_pb_unary(&b, "rec", KN_OP_RECIPROCAL, pos));
    kn_pb_output(&b, kn_pb_unary(&b, "abs", KN_OP_ABS, x));
    kn_pb_output(&b, kn_pb_unary(&b, "softplus", KN_OP_SOFTPLUS, x));
    kn_pb_output(&b, kn_pb_unary(&b, "cos", KN_OP_COS, x));
    int c = relu_head(&b, 16);
    int sp = kn_pb_unary(&b, "softplus2", KN_OP_SOFTPLUS, c);
    int l = kn_pb_binary(&b, "sum2", KN_OP_ADD, kn_pb_unary(&b, "log2", KN_OP_LOG, sp),
                         kn_pb_unary(&b, "rec2", KN_OP_RECIPROCAL, sp));
    chain_tail(&b, kn_pb_unary(&b, "neg2", KN_OP_NEG, l), 16);
    return kn_pb_model(&b);
}

/* Max, Min and Sum of two inputs on oneDNN's binary max/min/add (Sum of same shapes: its sum primitive): same shapes on a blocked Conv output, a broadcast
 * operand (either side: they commute), and a three-input Max, which falls back. */
static kn_model_t *t_min_max(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = relu_head(&b, 16);
    int t = kn_pb_unary(&b, "t", KN_OP_TANH, c);
    int m = kn_pb_node(&b, "max", KN_OP_MAX, NULL, 2, (int[]){c, t});
    int v = kn_pb_input(&b, "v", 3, KN_DIMS(2, 7, 9));
    int w = kn_pb_input(&b, "w", 1, KN_DIMS(9));
    kn_pb_output(&b, kn_pb_node(&b, "min_b", KN_OP_MIN, NULL, 2, (int[]){w, v}));
    kn_pb_output(&b, kn_pb_node(&b, "max_b", KN_OP_MAX, NULL, 2, (int[]){v, w}));
    kn_pb_output(&b, kn_pb_node(&b, "max3", KN_OP_MAX, NULL, 3, (int[]){v, w, v}));
    kn_pb_output(&b, kn_pb_node(&b, "sum_b", KN_OP_SUM, NULL, 2, (int[]){w, v}));
    int s = kn_pb_node(&b, "sum", KN_OP_SUM, NULL, 2, (int[]){m, t});
    chain_tail(&b, kn_pb_node(&b, "min", KN_OP_MIN, NULL, 2, (int[]){s, c}), 16);
    return kn_pb_model(&b);
}

static kn_model_t *t_reduce_mean(void)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs a;
    kn_attrs_init(KN_OP_REDUCE_MEAN, &a);
    a.reduce.naxes = 2;
    a.reduce.axes[0] = 2;
    a.reduce.axes[1] = 3;
    int y = kn_pb_node(&b, "op", KN_OP_REDUCE_MEAN, &a, 1, (int[]){chain_head(&b, 12)});
    chain_tail(&b, y, 12);
    kn_attrs_init(KN_OP_REDUCE_MEAN, &a);
    a.reduce.naxes = 1;
    a.reduce.axes[0] = -1;
    a.reduce.keepdims = false;
    int v = kn_pb_input(&b, "v", 3, KN_DIMS(2, 3, 9));
    kn_pb_output(&b, kn_pb_node(&b, "op2", KN_OP_REDUCE_MEAN, &a, 1, &v));
    kn_attrs_init(KN_OP_REDUCE_MEAN, &a); /* all axes */
    int u = kn_pb_input(&b, "u", 2, KN_DIMS(4, 6));
    kn_pb_output(&b, kn_pb_node(&b, "op3", KN_OP_REDUCE_MEAN, &a, 1, &u));
    return kn_pb_model(&b);
}

/* The other reductions on oneDNN's reduction (innermost axes: its jit kernels; L1, L2 and SumSquare map to
 * norm_lp, which oneDNN 2.6 runs only in its reference implementation, so they fall back), LogSumExp and ArgMax
 * on the reference kernels; ReduceSum-13 with its axes as a constant input. */
static kn_model_t *t_reduce_family(void)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs a;
    static const kn_op ops[] = {KN_OP_REDUCE_SUM, KN_OP_REDUCE_MAX, KN_OP_REDUCE_MIN, KN_OP_REDUCE_PROD,
                                KN_OP_REDUCE_L1, KN_OP_REDUCE_L2, KN_OP_REDUCE_SUM_SQUARE, KN_OP_REDUCE_LOG_SUM_EXP,
                                KN_OP_ARG_MAX};
    static const char *const names[] = {"sum", "max", "min", "prod", "l1", "l2", "sumsq", "lse", "argmax"};
    int v = kn_pb_input(&b, "v", 3, KN_DIMS(2, 5, 16));
    for (int i = 0; i < 9; i++) {
        kn_attrs_init(ops[i], &a);
        a.reduce.naxes = 1;
        a.reduce.axes[0] = -1;
        a.reduce.keepdims = i % 2 == 0;
        kn_pb_output(&b, kn_pb_node(&b, names[i], ops[i], &a, 1, &v));
    }
    kn_attrs_init(KN_OP_REDUCE_SUM, &a);
    int y = kn_pb_node(&b, "sum13", KN_OP_REDUCE_SUM, &a, 2, (int[]){chain_head(&b, 12), kn_pb_ints(&b, "ax", 2, KN_DIMS(2, 3))});
    kn_pb_output(&b, y);
    return kn_pb_model(&b);
}

/* Resize by sizes on a blocked Conv output: nearest (PyTorch's asymmetric + floor, half-pixel), linear
 * (half-pixel) on oneDNN's resampling; cubic and align_corners on the reference kernel. */
static kn_model_t *t_resize(void)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs a;
    int c = chain_head(&b, 8);
    int sizes = kn_pb_ints(&b, "sizes", 4, KN_DIMS(2, 8, 12, 18));
    const struct { const char *name; kn_resize_mode m; kn_resize_coord c; kn_nearest_mode nm; } rs[] = {
        {"near_asym", KN_RESIZE_NEAREST, KN_COORD_ASYMMETRIC, KN_NEAREST_FLOOR},
        {"near_half", KN_RESIZE_NEAREST, KN_COORD_HALF_PIXEL, KN_NEAREST_ROUND_PREFER_FLOOR},
        {"lin_half", KN_RESIZE_LINEAR, KN_COORD_HALF_PIXEL, KN_NEAREST_ROUND_PREFER_FLOOR},
        {"lin_align", KN_RESIZE_LINEAR, KN_COORD_ALIGN_CORNERS, KN_NEAREST_ROUND_PREFER_FLOOR},
        {"cubic", KN_RESIZE_CUBIC, KN_COORD_HALF_PIXEL, KN_NEAREST_ROUND_PREFER_FLOOR},
    };
    for (int i = 0; i < 5; i++) {
        kn_attrs_init(KN_OP_RESIZE, &a);
        a.resize.mode = rs[i].m;
        a.resize.coord = rs[i].c;
        a.resize.nearest = rs[i].nm;
        int y = kn_pb_node(&b, rs[i].name, KN_OP_RESIZE, &a, 4, (int[]){c, -1, -1, sizes});
        if (i == 0)
            chain_tail(&b, y, 8);
        else
            kn_pb_output(&b, y);
    }
    return kn_pb_model(&b);
}

/* LayerNormalization on oneDNN's layer norm (X seen as [outer, inner]): the last axis (transformers), from axis 1
 * without B; InstanceNormalization on the reference kernel. */
static kn_model_t *t_layer_norm(void)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs a;
    int v = kn_pb_input(&b, "v", 3, KN_DIMS(2, 7, 32));
    kn_attrs_init(KN_OP_LAYER_NORM, &a);
    kn_pb_output(&b, kn_pb_node(&b, "ln", KN_OP_LAYER_NORM, &a, 3,
                                (int[]){v, kn_pb_param(&b, "g", 0.5f, 1.5f, 1, KN_DIMS(32)),
                                        kn_pb_param(&b, "bt", -0.5f, 0.5f, 1, KN_DIMS(32))}));
    a.layer_norm.axis = 1;
    a.layer_norm.epsilon = 1e-3f;
    kn_pb_output(&b, kn_pb_node(&b, "ln1", KN_OP_LAYER_NORM, &a, 2,
                                (int[]){v, kn_pb_param(&b, "g1", 0.5f, 1.5f, 2, KN_DIMS(7, 32))}));
    kn_attrs_init(KN_OP_INSTANCE_NORM, &a);
    int c = chain_head(&b, 8);
    int in = kn_pb_node(&b, "inorm", KN_OP_INSTANCE_NORM, &a, 3,
                        (int[]){c, kn_pb_param(&b, "is", 0.5f, 1.5f, 1, KN_DIMS(8)),
                                kn_pb_param(&b, "ib", -0.5f, 0.5f, 1, KN_DIMS(8))});
    chain_tail(&b, in, 8);
    return kn_pb_model(&b);
}

/* Conv -> Flatten -> Gemm: a classifier head reading a blocked value. */
static kn_model_t *t_flatten(void)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs a;
    kn_attrs_init(KN_OP_FLATTEN, &a);
    int f = kn_pb_node(&b, "op", KN_OP_FLATTEN, &a, 1, (int[]){relu_head(&b, 12)});
    int in[3] = {f, kn_pb_param(&b, "fc_w", -0.1f, 0.1f, 2, KN_DIMS(10, 12 * 36)),
                 kn_pb_param(&b, "fc_b", -0.1f, 0.1f, 1, KN_DIMS(10))};
    kn_attrs_init(KN_OP_GEMM, &a);
    a.gemm.trans_b = true;
    kn_pb_output(&b, kn_pb_node(&b, "fc", KN_OP_GEMM, &a, 3, in));
    kn_attrs_init(KN_OP_FLATTEN, &a);
    a.axis.axis = 2;
    int v = kn_pb_input(&b, "v", 4, KN_DIMS(2, 3, 4, 5));
    kn_pb_output(&b, kn_pb_node(&b, "op2", KN_OP_FLATTEN, &a, 1, &v));
    return kn_pb_model(&b);
}

/* Reshape of a blocked value, and back into a Conv (the channel split must survive the layouts). */
static kn_model_t *t_reshape(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = chain_head(&b, 16);
    int r = kn_pb_binary(&b, "op", KN_OP_RESHAPE, c, kn_pb_ints(&b, "s1", 4, KN_DIMS(2, 12, 12, 4)));
    chain_tail(&b, r, 12);
    int v = kn_pb_input(&b, "v", 3, KN_DIMS(2, 3, 4));
    kn_pb_output(&b, kn_pb_binary(&b, "op2", KN_OP_RESHAPE, v, kn_pb_ints(&b, "s2", 2, KN_DIMS(-1, 6))));
    return kn_pb_model(&b);
}

static kn_model_t *t_transpose(void)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs a;
    kn_attrs_init(KN_OP_TRANSPOSE, &a);
    a.transpose.nperm = 4;
    int64_t perm[4] = {0, 1, 3, 2};
    memcpy(a.transpose.perm, perm, sizeof perm);
    int t = kn_pb_node(&b, "op", KN_OP_TRANSPOSE, &a, 1, (int[]){chain_head(&b, 12)});
    chain_tail(&b, t, 12);
    int64_t perm2[4] = {0, 2, 3, 1}; /* NCHW -> NHWC as a graph output */
    memcpy(a.transpose.perm, perm2, sizeof perm2);
    kn_pb_output(&b, kn_pb_node(&b, "op2", KN_OP_TRANSPOSE, &a, 1, &t));
    kn_attrs_init(KN_OP_TRANSPOSE, &a); /* reverse */
    kn_pb_output(&b, kn_pb_node(&b, "op3", KN_OP_TRANSPOSE, &a, 1, (int[]){kn_pb_input(&b, "v", 3, KN_DIMS(2, 3, 4))}));
    /* 6-D, the last two swapped (oneDNN's reorder) */
    a.transpose.nperm = 6;
    int64_t perm6[6] = {0, 1, 3, 2, 5, 4};
    memcpy(a.transpose.perm, perm6, sizeof perm6);
    int w6 = kn_pb_input(&b, "w6", 6, (const int64_t[]){2, 2, 3, 2, 3, 4});
    kn_pb_output(&b, kn_pb_node(&b, "op4", KN_OP_TRANSPOSE, &a, 1, &w6));
    /* the last dimension in place: kiln's row copies (by measurement), not in the expected list */
    a.transpose.nperm = 4;
    int64_t perm_rows[4] = {0, 2, 1, 3};
    memcpy(a.transpose.perm, perm_rows, sizeof perm_rows);
    kn_pb_output(&b, kn_pb_node(&b, "op5", KN_OP_TRANSPOSE, &a, 1, (int[]){kn_pb_input(&b, "u", 4, KN_DIMS(2, 3, 4, 5))}));
    return kn_pb_model(&b);
}

/* Split of a 16-channel Conv output into 4 + 12 (sizes given) and into two equal halves along H. */
static kn_model_t *t_split(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = chain_head(&b, 16);
    kn_attrs a;
    kn_attrs_init(KN_OP_SPLIT, &a);
    a.axis.axis = 1;
    int parts[2];
    kn_pb_node_n(&b, "op", KN_OP_SPLIT, &a, 2, (int[]){c, kn_pb_ints(&b, "sizes", 2, KN_DIMS(4, 12))}, 2, parts);
    kn_pb_output(&b, kn_pb_conv(&b, "c2", parts[1], 12, 8, 3, 1, 1, 1));
    kn_pb_output(&b, kn_pb_conv(&b, "c3", parts[0], 4, 8, 1, 1, 0, 1));
    int halves[2];
    a.axis.axis = 2;
    kn_pb_node_n(&b, "op2", KN_OP_SPLIT, &a, 1, (int[]){c}, 2, halves);
    kn_pb_output(&b, halves[0]);
    kn_pb_output(&b, halves[1]);
    return kn_pb_model(&b);
}

/* Slice channels (with a step) and spatial ranges of a blocked value. */
static kn_model_t *t_slice(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = chain_head(&b, 16);
    int in[5] = {c, kn_pb_ints(&b, "st", 2, KN_DIMS(1, 1)), kn_pb_ints(&b, "en", 2, KN_DIMS(13, 6)),
                 kn_pb_ints(&b, "ax", 2, KN_DIMS(1, 3)), kn_pb_ints(&b, "sp", 2, KN_DIMS(1, 1))};
    int s = kn_pb_node(&b, "op", KN_OP_SLICE, NULL, 5, in); /* [2, 12, 6, 5] */
    chain_tail(&b, s, 12);
    int in2[5] = {c, kn_pb_ints(&b, "st2", 1, KN_DIMS(-1)), kn_pb_ints(&b, "en2", 1, KN_DIMS(-100)),
                  kn_pb_ints(&b, "ax2", 1, KN_DIMS(2)), kn_pb_ints(&b, "sp2", 1, KN_DIMS(-2))};
    kn_pb_output(&b, kn_pb_node(&b, "op2", KN_OP_SLICE, NULL, 5, in2)); /* H reversed, every other row */
    return kn_pb_model(&b);
}

/* Pad (constant with a value, reflect, edge) between Convs and on inputs. */
static kn_model_t *t_pad(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = relu_head(&b, 12);
    int pads = kn_pb_ints(&b, "pads", 8, KN_DIMS(0, 0, 1, 2, 0, 0, 2, 1));
    int p = kn_pb_node(&b, "op", KN_OP_PAD, NULL, 3, (int[]){c, pads, kn_pb_scalar(&b, "val", 0.25f)});
    kn_pb_output(&b, kn_pb_conv(&b, "c2", p, 12, 8, 3, 1, 0, 1));
    kn_attrs a;
    kn_attrs_init(KN_OP_PAD, &a);
    a.pad.mode = KN_PAD_REFLECT;
    int v = kn_pb_input(&b, "v", 4, KN_DIMS(1, 3, 5, 5));
    pads = kn_pb_ints(&b, "pads2", 8, KN_DIMS(0, 0, 2, 1, 0, 0, 1, 2));
    kn_pb_output(&b, kn_pb_node(&b, "op2", KN_OP_PAD, &a, 2, (int[]){v, pads}));
    a.pad.mode = KN_PAD_EDGE;
    pads = kn_pb_ints(&b, "pads3", 8, KN_DIMS(0, 1, 1, 0, 0, 2, 0, 1)); /* channels too */
    kn_pb_output(&b, kn_pb_node(&b, "op3", KN_OP_PAD, &a, 2, (int[]){c, pads}));
    return kn_pb_model(&b);
}

/* Conv -> GlobalAveragePool -> Squeeze -> Gemm, and Unsqueeze back to 4-D for a Conv. */
static kn_model_t *t_squeeze_unsqueeze(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int g = kn_pb_unary(&b, "gap", KN_OP_GLOBAL_AVERAGE_POOL, relu_head(&b, 12));
    int s = kn_pb_node(&b, "op", KN_OP_SQUEEZE, NULL, 2, (int[]){g, kn_pb_ints(&b, "axes", 2, KN_DIMS(2, 3))});
    kn_attrs a;
    kn_attrs_init(KN_OP_GEMM, &a);
    int fc = kn_pb_node(&b, "fc", KN_OP_GEMM, &a, 3,
                        (int[]){s, kn_pb_param(&b, "fc_w", -0.3f, 0.3f, 2, KN_DIMS(12, 16)),
                                kn_pb_param(&b, "fc_b", -0.1f, 0.1f, 1, KN_DIMS(16))});
    int u = kn_pb_node(&b, "op2", KN_OP_UNSQUEEZE, NULL, 2, (int[]){fc, kn_pb_ints(&b, "axes2", 2, KN_DIMS(2, -1))});
    kn_pb_output(&b, kn_pb_conv(&b, "c2", u, 16, 8, 1, 1, 0, 1));
    int v = kn_pb_input(&b, "v", 4, KN_DIMS(2, 1, 3, 1));
    kn_pb_output(&b, kn_pb_node(&b, "op3", KN_OP_SQUEEZE, NULL, 1, &v));
    return kn_pb_model(&b);
}

/* Gather channels of a blocked value (int64 indices, a negative one) and rows of a matrix. */
static kn_model_t *t_gather(void)
{
    kn_pb b;
    kn_pb_init(&b);
    kn_attrs a;
    kn_attrs_init(KN_OP_GATHER, &a);
    a.axis.axis = 1;
    int idx = kn_pb_ints(&b, "idx", 12, KN_DIMS(15, 0, 3, 3, 7, -1, 2, 9, 11, 4, 5, 6));
    int g = kn_pb_node(&b, "op", KN_OP_GATHER, &a, 2, (int[]){chain_head(&b, 16), idx});
    chain_tail(&b, g, 12);
    a.axis.axis = 0;
    int v = kn_pb_input(&b, "v", 2, KN_DIMS(5, 4));
    idx = kn_pb_ints(&b, "idx2", 3, KN_DIMS(4, 0, 2));
    kn_pb_output(&b, kn_pb_node(&b, "op2", KN_OP_GATHER, &a, 2, (int[]){v, idx}));
    return kn_pb_model(&b);
}

/* Shape (an int64 output, compared exactly), ConstantOfShape of it added to x, Cast f32 -> i32 / f32. */
static kn_model_t *t_shape_cast(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = relu_head(&b, 12);
    int sh = kn_pb_unary(&b, "shape", KN_OP_SHAPE, c);
    kn_pb_output(&b, sh);
    kn_attrs a;
    kn_attrs_init(KN_OP_CONSTANT_OF_SHAPE, &a);
    a.dtype.value = 0.5;
    int k = kn_pb_node(&b, "cos", KN_OP_CONSTANT_OF_SHAPE, &a, 1, &sh);
    chain_tail(&b, kn_pb_binary(&b, "plus", KN_OP_ADD, c, k), 12);
    kn_attrs_init(KN_OP_CAST, &a);
    a.dtype.to = KN_I32;
    /* a graph input times 10 (exact on both backends: the int32 output is compared bit for bit) */
    int v = kn_pb_input(&b, "v", 2, KN_DIMS(3, 4));
    int sc = kn_pb_binary(&b, "scale", KN_OP_MUL, v, kn_pb_scalar(&b, "ten", 10.0f));
    kn_pb_output(&b, kn_pb_node(&b, "cast_i32", KN_OP_CAST, &a, 1, &sc));
    a.dtype.to = KN_F32;
    kn_pb_output(&b, kn_pb_node(&b, "cast_f32", KN_OP_CAST, &a, 1, &v));
    return kn_pb_model(&b);
}

/* Identity and inference Dropout between Convs (removed by the passes) and as graph outputs. */
static kn_model_t *t_identity_dropout(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = relu_head(&b, 12);
    int i = kn_pb_unary(&b, "ident", KN_OP_IDENTITY, c);
    int d = kn_pb_unary(&b, "drop", KN_OP_DROPOUT, i);
    chain_tail(&b, d, 12);
    int v = kn_pb_input(&b, "v", 2, KN_DIMS(3, 4));
    kn_pb_output(&b, kn_pb_unary(&b, "ident2", KN_OP_IDENTITY, v));
    kn_pb_output(&b, kn_pb_unary(&b, "drop2", KN_OP_DROPOUT, kn_pb_unary(&b, "tanh", KN_OP_TANH, v)));
    return kn_pb_model(&b);
}

/* Every element-wise op alone on a blocked Conv output (the op reads and writes blocked). */
static kn_model_t *t_eltwise_blocked(void)
{
    static const kn_op ops[] = {KN_OP_LEAKY_RELU, KN_OP_SIGMOID, KN_OP_TANH, KN_OP_HARD_SIGMOID,
                                KN_OP_HARD_SWISH, KN_OP_ELU, KN_OP_EXP, KN_OP_ERF,
                                KN_OP_ABS, KN_OP_NEG, KN_OP_ROUND, KN_OP_SOFTPLUS, KN_OP_SIN};
    kn_pb b;
    kn_pb_init(&b);
    int c = chain_head(&b, 12);
    int r = kn_pb_unary(&b, "relu", KN_OP_RELU, c); /* c has several readers: nothing is fused into c1 */
    /* every op once: CSE would merge a second Relu of c */
    for (size_t i = 0; i < COUNT(ops); i++) {
        char name[32];
        snprintf(name, sizeof name, "e%zu", i);
        int e = kn_pb_unary(&b, name, ops[i], c);
        snprintf(name, sizeof name, "s%zu", i);
        r = kn_pb_binary(&b, name, KN_OP_ADD, r, e);
    }
    chain_tail(&b, r, 12);
    return kn_pb_model(&b);
}

/* SiLU written the other way round (Sigmoid(x) * x), after a Gemm, and with the Sigmoid also read elsewhere. */
static kn_model_t *t_silu_variants(void)
{
    kn_pb b;
    kn_pb_init(&b);
    int c = chain_head(&b, 12);
    chain_tail(&b, kn_pb_binary(&b, "silu", KN_OP_MUL, kn_pb_unary(&b, "sig", KN_OP_SIGMOID, c), c), 12);
    kn_attrs a;
    kn_attrs_init(KN_OP_GEMM, &a);
    int v = kn_pb_input(&b, "v", 2, KN_DIMS(4, 16));
    int fc = kn_pb_node(&b, "fc", KN_OP_GEMM, &a, 3,
                        (int[]){v, kn_pb_param(&b, "fc_w", -0.3f, 0.3f, 2, KN_DIMS(16, 8)),
                                kn_pb_param(&b, "fc_b", -0.1f, 0.1f, 1, KN_DIMS(8))});
    kn_pb_output(&b, kn_pb_binary(&b, "silu2", KN_OP_MUL, fc, kn_pb_unary(&b, "sig2", KN_OP_SIGMOID, fc)));
    int u = kn_pb_input(&b, "u", 4, KN_DIMS(2, 5, 4, 4));
    int s = kn_pb_unary(&b, "sig3", KN_OP_SIGMOID, u);
    kn_pb_output(&b, s); /* the Sigmoid has a second reader: the pair stays two nodes */
    kn_pb_output(&b, kn_pb_binary(&b, "silu3", KN_OP_MUL, u, s));
    return kn_pb_model(&b);
}

typedef struct tensor_case {
    const char *name;
    kn_model_t *(*build)(void);
    const char *expect;
} tensor_case;

static const tensor_case tensor_cases[] = {
    {"pow", t_pow, "pos,c1,c2"},
    {"sqrt_erf", t_sqrt_erf, "c1,c2,sqrt,sqrt2"},
    {"min_max", t_min_max, "c1,c2,max,min,min_b,max_b,sum,sum_b"},
    {"log_unary", t_log_unary, "c1,c2,abs,softplus,softplus2,neg2,rec,rec2"},
    {"reduce_mean", t_reduce_mean, "c1,c2,op,op2"},
    {"reduce_family", t_reduce_family, "sum,max,min,prod,sum13"},
    {"resize", t_resize, "c1,c2,near_asym,near_half,lin_half"},
    {"layer_norm", t_layer_norm, "ln,ln1,c1,c2"},
    {"flatten_gemm", t_flatten, "c1,fc"},
    {"reshape", t_reshape, "c1,c2"},
    {"transpose", t_transpose, "c1,c2,op,op2,op3,op4"},
    {"split", t_split, "c1,c2,c3"},
    {"slice", t_slice, "c1,c2"},
    {"pad", t_pad, "c1,c2"},
    {"squeeze_unsqueeze", t_squeeze_unsqueeze, "c1,gap,fc,c2"},
    {"gather", t_gather, "c1,c2"},
    {"shape_constant_of_shape_cast", t_shape_cast, "c1,plus,c2,scale"},
    {"identity_dropout", t_identity_dropout, "c1,c2,tanh"},
    {"eltwise_all_c12", t_eltwise_blocked, "c1,c2,relu,e0,e1,e2,e4,e5,e6,e8,e9,e10,e11"},
    {"silu_variants", t_silu_variants, "*"},
};

void kn_dnnl_test_tensor_ops(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(tensor_cases); i++)
        check(tensor_cases[i].build(), tensor_cases[i].expect, 0, tensor_cases[i].name);
}

/* ------------------------------------------------------------ Flatten -> Gemm */

typedef struct flat_case {
    const char *name;
    int64_t c;        /* channels of Conv "c1" (x [N, 8, 5, 5] -> c): the blocked input of the Flatten */
    bool reshape;     /* Reshape to [N, c * 25] rather than Flatten */
    bool trans_b;     /* Gemm B as [n, K] (else [K, n]) */
    int bias_rank;    /* C: absent (0), [n] (1) or [1, n] (2) */
    bool relu;        /* Relu after the Gemm (fused) */
    int gemms;        /* Gemms reading the Flatten (1 or 2) */
    bool flat_output; /* the Flatten's output is a graph output too */
    bool flat_relu;   /* a Relu reads the Flatten's output too */
    int folded;       /* Flattens expected as no op at batch 1 (at batch 3 none: dnnl_flatten.c) */
    const char *expect;
} flat_case;

static const flat_case flat_cases[] = {
    {"flatten_gemm", 16, false, true, 1, false, 1, false, false, 1, "c1,fc0"},
    {"flatten_gemm_c12_relu", 12, false, true, 1, true, 1, false, false, 1, "c1,fc0"},
    {"reshape_gemm_b_kn_bias2d", 16, true, false, 2, false, 1, false, false, 1, "c1,fc0"},
    {"flatten_gemm_nobias", 12, false, false, 0, false, 1, false, false, 1, "c1,fc0"},
    {"flatten_two_gemms", 16, false, true, 1, true, 2, false, false, 1, "c1,fc0,fc1"},
    {"flatten_also_output", 16, false, true, 1, false, 1, true, false, 0, "c1,fc0"},
    {"flatten_also_relu", 16, false, true, 1, false, 1, false, true, 0, "c1,fc0"},
};

static kn_model_t *build_flat(const flat_case *c, int64_t batch)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = kn_pb_input(&b, "x", 4, KN_DIMS(batch, 8, 5, 5));
    int h = kn_pb_conv(&b, "c1", x, 8, c->c, 3, 1, 1, 1), f;
    const int64_t k = c->c * 25, n = 10;
    if (c->reshape) {
        int in[2] = {h, kn_pb_ints(&b, "shape", 2, KN_DIMS(batch, k))};
        f = kn_pb_node(&b, "flat", KN_OP_RESHAPE, NULL, 2, in);
    } else {
        f = kn_pb_unary(&b, "flat", KN_OP_FLATTEN, h);
    }
    for (int j = 0; j < c->gemms; j++) {
        char name[16], wname[16], cname[16], rname[16];
        snprintf(name, sizeof name, "fc%d", j);
        snprintf(wname, sizeof wname, "w%d", j);
        snprintf(cname, sizeof cname, "b%d", j);
        snprintf(rname, sizeof rname, "relu%d", j);
        kn_attrs a;
        kn_attrs_init(KN_OP_GEMM, &a);
        a.gemm.trans_b = c->trans_b;
        int in[3] = {f, kn_pb_param(&b, wname, -0.1f, 0.1f, 2, c->trans_b ? KN_DIMS(n, k) : KN_DIMS(k, n)), -1};
        if (c->bias_rank)
            in[2] = kn_pb_param(&b, cname, -0.5f, 0.5f, c->bias_rank, c->bias_rank == 1 ? KN_DIMS(n) : KN_DIMS(1, n));
        int y = kn_pb_node(&b, name, KN_OP_GEMM, &a, c->bias_rank ? 3 : 2, in);
        kn_pb_output(&b, c->relu ? kn_pb_unary(&b, rname, KN_OP_RELU, y) : y);
    }
    if (c->flat_output)
        kn_pb_output(&b, f);
    if (c->flat_relu)
        kn_pb_output(&b, kn_pb_unary(&b, "frelu", KN_OP_RELU, f));
    return kn_pb_model(&b);
}

/* Flatten (or Reshape to [N, rest]) of a blocked Conv output read by Gemm: at batch 1 no op and an inner product,
 * unless the flat value is needed as such (a graph output, another reader); at batch 3 a copy and a matmul */
void kn_dnnl_test_flatten(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(flat_cases); i++) {
        const flat_case *c = &flat_cases[i];
        for (int64_t batch = 1; batch <= 3; batch += 2) {
            kn_model_t *m = build_flat(c, batch);
            char name[64];
            snprintf(name, sizeof name, "%s_b%lld", c->name, (long long)batch);
            kn_parity p = kn_parity_check(m, 0, 0, c->expect, true, name);
            /* a Flatten whose Gemm has only oneDNN's reference inner product on this CPU runs after all */
            if (!kn_parity_trained_weights() && batch == 1 && p.folded_nodes + p.cpu_flatten_fallbacks != c->folded)
                fail_msg("%s: %d Flattens run as no op (%d left for this CPU), expected %d", name, p.folded_nodes,
                         p.cpu_flatten_fallbacks, c->folded);
            if (batch > 1 && p.folded_nodes != 0)
                fail_msg("%s: %d Flattens run as no op at batch %lld, expected a copy", name, p.folded_nodes,
                         (long long)batch);
            kn_model_free(m);
        }
    }
}
