/*
 * test_spec.c - the .kiln spec frontend: valid specs (sequential shorthand,
 * named values, Keras defaults, padding and transposed-convolution sizes,
 * training sections), every diagnostic of a table of invalid specs with its
 * exact text, the limits (error cap, size, nesting, binary data) and a
 * mutation fuzz run that must never crash.
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

#include "spec.h"

/* The first uniform(0, 1) draws of weight "conv2d/kernel" of model "mnist_cnn" at seed 0. */
#define KN_GOLDEN_UNIFORM "0.161040 0.498905 0.257674 0.694728"

/* Parse `src` as "t.kiln"; *spec must be freed by the caller. */
static kn_status parse(const char *src, kn_spec *spec)
{
    kn_error err = {0};
    return kn_spec_parse(src, strlen(src), "t.kiln", spec, &err);
}

/* Every diagnostic of `spec`, formatted and joined with newlines (malloc'd). */
static char *all_diags(const kn_spec *spec)
{
    size_t cap = 1 << 16, used = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    char one[4096];
    for (int i = 0; i < spec->num_diags; i++) {
        kn_spec_format_diag(spec, &spec->diags[i], one, sizeof one);
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "\n" : "", one);
    }
    return out;
}

static const kn_spec_model *parse_ok(const char *src, kn_spec *spec)
{
    kn_error err = {0};
    kn_status st = kn_spec_parse(src, strlen(src), "t.kiln", spec, &err);
    if (st != KN_OK) {
        char *d = all_diags(spec);
        fprintf(stderr, "unexpected errors:\n%s\n", d);
        free(d);
    }
    assert_int_equal(st, KN_OK);
    assert_true(spec->num_models >= 1);
    return &spec->models[0];
}

static const kn_spec_layer *layer(const kn_spec_model *m, const char *name)
{
    for (int i = 0; i < m->num_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return &m->layers[i];
    fail_msg("no layer '%s'", name);
    return NULL;
}

static void assert_shape(const kn_shape *s, int rank, ...)
{
    va_list ap;
    va_start(ap, rank);
    assert_int_equal(s->rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(s->dims[i], va_arg(ap, int));
    va_end(ap);
}

/* ------------------------------------------------------------ valid */

static void test_sequential_mnist(void **state)
{
    (void)state;
    kn_spec spec;
    const kn_spec_model *m = parse_ok("# the Keras MNIST convnet\n"
                                      "model mnist_cnn(seed=42) {\n"
                                      "    image = input(shape=(1, 28, 28))\n"
                                      "    conv2d(32, 3, activation=relu)\n"
                                      "    conv2d(64, kernel_size=(3, 3), activation=\"relu\")\n"
                                      "    maxpool2d(2)\n"
                                      "    dropout(0.25)\n"
                                      "    flatten()\n"
                                      "    dense(128, activation=relu)\n"
                                      "    dropout(rate=0.5)\n"
                                      "    probs = dense(10, activation=softmax)\n"
                                      "}\n",
                                      &spec);
    assert_string_equal(m->name, "mnist_cnn");
    assert_int_equal(m->seed, 42);
    assert_int_equal(m->num_layers, 9);
    const char *names[] = {"image", "conv2d", "conv2d_1", "maxpool2d", "dropout",
                           "flatten", "dense", "dropout_1", "probs"};
    for (int i = 0; i < 9; i++) {
        assert_string_equal(m->layers[i].name, names[i]);
        if (i > 0) { /* sequential shorthand: each layer reads the one above */
            assert_int_equal(m->layers[i].num_inputs, 1);
            assert_int_equal(m->layers[i].inputs[0], i - 1);
        }
    }
    assert_shape(&layer(m, "image")->shape, 4, -1, 1, 28, 28);
    assert_shape(&layer(m, "conv2d_1")->shape, 4, -1, 64, 24, 24);
    assert_shape(&layer(m, "maxpool2d")->shape, 4, -1, 64, 12, 12);
    assert_shape(&layer(m, "flatten")->shape, 2, -1, 9216);
    assert_shape(&layer(m, "probs")->shape, 2, -1, 10);
    int64_t total = 0;
    for (int i = 0; i < m->num_layers; i++)
        total += m->layers[i].params;
    assert_int_equal(total, 1199882); /* as Keras reports for this model */
    assert_int_equal(layer(m, "conv2d")->p.conv.activation.kind, KN_SPEC_ACT_RELU);
    assert_int_equal(layer(m, "probs")->p.dense.activation.kind, KN_SPEC_ACT_SOFTMAX);
    assert_int_equal(m->num_outputs, 1);
    assert_int_equal(m->outputs[0], 8);
    assert_int_equal(spec.num_diags, 0);
    kn_spec_free(&spec);
}

static void test_keras_defaults(void **state)
{
    (void)state;
    kn_spec spec;
    const kn_spec_model *m = parse_ok("model m {\n"
                                      "    x = input(shape=(3, 16, 16))\n"
                                      "    c = conv2d(8, 3)\n"
                                      "    b = batchnorm()\n"
                                      "    l = leaky_relu()\n"
                                      "    e = elu()\n"
                                      "    p = maxpool2d()\n"
                                      "    a = avgpool2d(3, strides=1, padding=same)\n"
                                      "    f = flatten()\n"
                                      "    d = dense(4)\n"
                                      "}\n",
                                      &spec);
    const kn_spec_conv *c = &layer(m, "c")->p.conv;
    assert_int_equal(c->strides[0], 1);
    assert_int_equal(c->dilation[1], 1);
    assert_int_equal(c->groups, 1);
    assert_int_equal(c->padding, KN_SPEC_PAD_VALID);
    assert_true(c->use_bias);
    assert_int_equal(c->activation.kind, KN_SPEC_ACT_LINEAR);
    assert_int_equal(c->kernel_init.kind, KN_SPEC_INIT_GLOROT_UNIFORM);
    assert_int_equal(c->bias_init.kind, KN_SPEC_INIT_ZEROS);
    const kn_spec_batchnorm *bn = &layer(m, "b")->p.batchnorm;
    assert_float_equal(bn->momentum, 0.99f, 1e-7);
    assert_float_equal(bn->epsilon, 0.001f, 1e-9);
    assert_true(bn->center && bn->scale);
    assert_int_equal(layer(m, "b")->params, 32);
    assert_int_equal(layer(m, "b")->trainable_params, 16);
    assert_float_equal(layer(m, "l")->p.activation.alpha, 0.3f, 1e-7); /* Keras, not PyTorch's 0.01 */
    assert_float_equal(layer(m, "e")->p.activation.alpha, 1.0f, 1e-7);
    const kn_spec_pool *p = &layer(m, "p")->p.pool;
    assert_int_equal(p->pool[0], 2);
    assert_int_equal(p->strides[0], 2); /* strides default to the pool size */
    assert_shape(&layer(m, "p")->shape, 4, -1, 8, 7, 7);
    assert_shape(&layer(m, "a")->shape, 4, -1, 8, 7, 7);
    assert_int_equal(layer(m, "a")->p.pool.pad_begin[0], 1);
    assert_int_equal(layer(m, "a")->p.pool.pad_end[0], 1);
    assert_int_equal(layer(m, "d")->p.dense.kernel_init.kind, KN_SPEC_INIT_GLOROT_UNIFORM);
    kn_spec_free(&spec);
}

/* TensorFlow 'same' padding: total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), the odd one at the end. */
static void test_same_padding(void **state)
{
    (void)state;
    kn_spec spec;
    const kn_spec_model *m = parse_ok("model m {\n"
                                      "    x = input(shape=(1, 16, 28))\n"
                                      "    a = conv2d(4, 3, strides=2, padding=same)(x)\n"
                                      "    b = conv2d(4, 5, strides=2, padding=same)(x)\n"
                                      "    c = conv2d(4, 3, strides=1, padding=same, dilation=2)(x)\n"
                                      "    d = conv2d(4, (1, 3), strides=(1, 3), padding=same)(x)\n"
                                      "    output a, b, c, d\n"
                                      "}\n",
                                      &spec);
    const kn_spec_conv *a = &layer(m, "a")->p.conv, *b = &layer(m, "b")->p.conv;
    const kn_spec_conv *c = &layer(m, "c")->p.conv, *d = &layer(m, "d")->p.conv;
    assert_shape(&layer(m, "a")->shape, 4, -1, 4, 8, 14);
    /* in 16, k 3, s 2: out 8, total 1 -> 0 before, 1 after (PyTorch's padding=1 would put 1 on each side) */
    assert_int_equal(a->pad_begin[0], 0);
    assert_int_equal(a->pad_end[0], 1);
    /* in 28: out 14, total 1 */
    assert_int_equal(a->pad_begin[1], 0);
    assert_int_equal(a->pad_end[1], 1);
    /* k 5, in 28: total 3 -> 1 and 2 */
    assert_shape(&layer(m, "b")->shape, 4, -1, 4, 8, 14);
    assert_int_equal(b->pad_begin[1], 1);
    assert_int_equal(b->pad_end[1], 2);
    /* dilation 2: extent 5, total 4 */
    assert_shape(&layer(m, "c")->shape, 4, -1, 4, 16, 28);
    assert_int_equal(c->pad_begin[0], 2);
    assert_int_equal(c->pad_end[0], 2);
    /* in 28, k 3, s 3: out 10, total 2 */
    assert_shape(&layer(m, "d")->shape, 4, -1, 4, 16, 10);
    assert_int_equal(d->pad_begin[1], 1);
    assert_int_equal(d->pad_end[1], 1);
    assert_int_equal(m->num_outputs, 4);
    kn_spec_free(&spec);
}

/* Keras Conv2DTranspose output sizes and the pads/output_padding that give them. */
static void test_conv_transpose_sizes(void **state)
{
    (void)state;
    kn_spec spec;
    const kn_spec_model *m = parse_ok("model m {\n"
                                      "    x = input(shape=(8, 7, 7))\n"
                                      "    same = conv2d_transpose(4, 5, strides=2, padding=same)(x)\n"
                                      "    valid = conv2d_transpose(4, 5, strides=2)(x)\n"
                                      "    small = conv2d_transpose(4, 1, strides=2, padding=same)(x)\n"
                                      "    op = conv2d_transpose(4, 3, strides=2, padding=same, output_padding=0)(x)\n"
                                      "    vk = conv2d_transpose(4, 1, strides=3)(x)\n"
                                      "    output same, valid, small, op, vk\n"
                                      "}\n",
                                      &spec);
    const kn_spec_conv *c = &layer(m, "same")->p.conv;
    assert_shape(&layer(m, "same")->shape, 4, -1, 4, 14, 14); /* in * stride */
    assert_int_equal(c->pad_begin[0], 1);                     /* full 17, total 3 */
    assert_int_equal(c->pad_end[0], 2);
    assert_int_equal(c->output_padding[0], 0);
    assert_int_equal(layer(m, "same")->params, 8 * 4 * 25 + 4);
    assert_shape(&layer(m, "valid")->shape, 4, -1, 4, 17, 17); /* in*s + max(k - s, 0) */
    c = &layer(m, "small")->p.conv;
    assert_shape(&layer(m, "small")->shape, 4, -1, 4, 14, 14); /* full 13: one row of output padding */
    assert_int_equal(c->pad_begin[0], 0);
    assert_int_equal(c->output_padding[0], 1);
    /* given output_padding: (in-1)*s + k - 2*(k//2) + op = 12 + 3 - 2 + 0 */
    assert_shape(&layer(m, "op")->shape, 4, -1, 4, 13, 13);
    assert_shape(&layer(m, "vk")->shape, 4, -1, 4, 21, 21); /* 7*3 + max(1-3, 0) */
    assert_int_equal(layer(m, "vk")->p.conv.output_padding[0], 2);
    kn_spec_free(&spec);
}

/* Named values, functional calls, merges, several outputs, syntax niceties. */
static void test_dag_and_syntax(void **state)
{
    (void)state;
    kn_spec spec;
    const kn_spec_model *m = parse_ok("model net {   # a comment\n"
                                      "    x = input((3, 8, 8)); y = input(shape=[3, 8, 8])\n"
                                      "    a = conv2d(\n"
                                      "        filters=4,\n"
                                      "        kernel=3,\n"
                                      "        padding=same,     # trailing comma next\n"
                                      "    )(x)\n"
                                      "    b = conv2d(4, 1)(y)\n"
                                      "    s = add(a, b)\n"
                                      "    p = multiply()(s, a, b)\n"
                                      "    c = concat(s, p, x, axis=-3)\n"
                                      "    q = \\\n"
                                      "        relu\n"
                                      "    h = dense(2 * 3 * 2)\n"
                                      "    g = global_avgpool(keepdims=true)(q)\n"
                                      "    r = reshape((-1, 4))(h)\n"
                                      "    output r, g\n"
                                      "    output h\n"
                                      "}\n",
                                      &spec);
    const kn_spec_layer *s = layer(m, "s"), *p = layer(m, "p"), *c = layer(m, "c");
    assert_int_equal(s->num_inputs, 2);
    assert_string_equal(m->layers[s->inputs[0]].name, "a");
    assert_string_equal(m->layers[s->inputs[1]].name, "b");
    assert_int_equal(p->num_inputs, 3);
    assert_int_equal(c->p.concat_axis, 1);
    assert_shape(&c->shape, 4, -1, 11, 8, 8);
    assert_shape(&layer(m, "h")->shape, 4, -1, 11, 8, 12); /* dense acts on the last axis */
    assert_shape(&layer(m, "g")->shape, 4, -1, 11, 1, 1);
    assert_int_equal(layer(m, "q")->kind, KN_SPEC_ACTIVATION); /* a bare layer name after a line continuation */
    assert_int_equal(layer(m, "q")->p.activation.kind, KN_SPEC_ACT_RELU);
    assert_int_equal(spec.num_warnings, 0);
    assert_shape(&layer(m, "r")->shape, 3, -1, 264, 4);
    assert_int_equal(m->num_outputs, 3);
    assert_string_equal(m->layers[m->outputs[0]].name, "r");
    assert_string_equal(m->layers[m->outputs[2]].name, "h");
    kn_spec_free(&spec);
}

static void test_initializer_params(void **state)
{
    (void)state;
    kn_spec spec;
    const kn_spec_model *m = parse_ok("model m {\n"
                                      "    x = input(shape=(10,))\n"
                                      "    a = dense(4, kernel_initializer=normal(stddev=0.02), bias_initializer=constant(0.1))\n"
                                      "    b = dense(4, kernel_initializer=uniform(-1, 1), bias_initializer=\"ones\")\n"
                                      "    c = dense(4, kernel_initializer=he_normal, use_bias=false, activation=leaky_relu(0.2))\n"
                                      "    d = dense(4, activation=softmax(axis=-1))\n"
                                      "}\n",
                                      &spec);
    const kn_spec_dense *a = &layer(m, "a")->p.dense, *b = &layer(m, "b")->p.dense, *c = &layer(m, "c")->p.dense;
    assert_int_equal(a->kernel_init.kind, KN_SPEC_INIT_NORMAL);
    assert_true(a->kernel_init.a == 0.0 && a->kernel_init.b == 0.02);
    assert_int_equal(a->bias_init.kind, KN_SPEC_INIT_CONSTANT);
    assert_true(a->bias_init.a == 0.1);
    assert_int_equal(b->kernel_init.kind, KN_SPEC_INIT_UNIFORM);
    assert_true(b->kernel_init.a == -1.0 && b->kernel_init.b == 1.0);
    assert_int_equal(b->bias_init.kind, KN_SPEC_INIT_ONES);
    assert_int_equal(c->kernel_init.kind, KN_SPEC_INIT_HE_NORMAL);
    assert_false(c->use_bias);
    assert_int_equal(layer(m, "c")->params, 16);
    assert_int_equal(c->activation.kind, KN_SPEC_ACT_LEAKY_RELU);
    assert_float_equal(c->activation.alpha, 0.2f, 1e-7);
    kn_spec_free(&spec);
}

static const char *const kn_gan_spec =
    "model generator(seed=1) {\n"
    "    z = input(shape=(100,))\n"
    "    dense(784, activation=sigmoid)\n"
    "    image = reshape((1, 28, 28))\n"
    "}\n"
    "model discriminator(seed=2) {\n"
    "    image = input(shape=(1, 28, 28))\n"
    "    flatten()\n"
    "    real = dense(1, activation=sigmoid)\n"
    "}\n"
    "train gan {\n"
    "    dataset = idx(\"data/mnist\", split=test, shuffle=false)\n"
    "    noise = normal(shape=(100,), stddev=0.5)\n"
    "    batch_size = 64\n"
    "    epochs = 5\n"
    "    optimizer = adam(learning_rate=0.0002, beta_1=0.5)\n"
    "    metrics = [binary_accuracy, \"mae\"]\n"
    "    step discriminator {\n"
    "        update = discriminator\n"
    "        loss = binary_cross_entropy(discriminator(images), ones) +\n"
    "               binary_cross_entropy(discriminator(generator(noise)), zeros, weight=0.5)\n"
    "    }\n"
    "    step generator {\n"
    "        update = [generator]\n"
    "        loss = binary_cross_entropy(discriminator(generator(noise)), ones, from_logits=false)\n"
    "        optimizer = sgd(lr=0.1, momentum=0.9)\n"
    "    }\n"
    "}\n";

static void test_training_gan(void **state)
{
    (void)state;
    kn_spec spec;
    kn_error err = {0};
    assert_int_equal(kn_spec_parse(kn_gan_spec, strlen(kn_gan_spec), "specs/gan.kiln", &spec, &err), KN_OK);
    assert_int_equal(spec.num_models, 2);
    assert_int_equal(spec.num_trainings, 1);
    const kn_spec_training *t = &spec.trainings[0];
    assert_string_equal(t->name, "gan");
    assert_int_equal(t->dataset.kind, KN_SPEC_DATA_IDX);
    assert_string_equal(t->dataset.dir, "specs/data/mnist"); /* relative to the spec file */
    assert_false(t->dataset.train_split);
    assert_false(t->dataset.shuffle);
    assert_shape(&t->dataset.image_shape, 3, 1, 28, 28);
    assert_int_equal(t->batch_size, 64);
    assert_int_equal(t->epochs, 5);
    assert_int_equal(t->metrics, KN_SPEC_METRIC_BINARY_ACCURACY | KN_SPEC_METRIC_MAE);
    assert_true(t->has_noise);
    assert_shape(&t->noise_shape, 1, 100);
    assert_int_equal(t->noise.kind, KN_SPEC_INIT_NORMAL);
    assert_true(t->noise.b == 0.5);
    assert_int_equal(t->num_steps, 2);
    const kn_spec_step *d = &t->steps[0], *g = &t->steps[1];
    assert_string_equal(d->name, "discriminator");
    assert_int_equal(d->num_update, 1);
    assert_int_equal(d->update[0], 1);
    assert_int_equal(d->num_terms, 2);
    assert_int_equal(d->terms[0].loss, KN_SPEC_LOSS_BINARY_CROSS_ENTROPY);
    assert_int_equal(d->terms[0].source, KN_SPEC_SRC_IMAGES);
    assert_int_equal(d->terms[0].chain_len, 1);
    assert_int_equal(d->terms[0].target, KN_SPEC_TARGET_ONES);
    assert_int_equal(d->terms[1].source, KN_SPEC_SRC_NOISE);
    assert_int_equal(d->terms[1].chain_len, 2);
    assert_int_equal(d->terms[1].chain[0], 0); /* generator first, then discriminator */
    assert_int_equal(d->terms[1].chain[1], 1);
    assert_int_equal(d->terms[1].target, KN_SPEC_TARGET_ZEROS);
    assert_true(d->terms[1].weight == 0.5);
    assert_int_equal(d->optimizer.kind, KN_SPEC_OPT_ADAM);
    assert_true(d->optimizer.learning_rate == 0.0002 && d->optimizer.beta_1 == 0.5);
    assert_true(d->optimizer.beta_2 == 0.999 && d->optimizer.epsilon == 1e-7); /* Keras defaults */
    assert_int_equal(g->update[0], 0);
    assert_int_equal(g->num_terms, 1);
    assert_int_equal(g->optimizer.kind, KN_SPEC_OPT_MOMENTUM); /* Keras' SGD(momentum=...) */
    assert_true(g->optimizer.learning_rate == 0.1 && g->optimizer.momentum == 0.9);
    kn_spec_free(&spec);
}

static void test_training_simple(void **state)
{
    (void)state;
    kn_spec spec;
    parse_ok("model m {\n"
             "    x = input(shape=(3, 32, 32))\n"
             "    flatten()\n"
             "    dense(10, activation=softmax)\n"
             "}\n"
             "train {\n"
             "    dataset = cifar10(\"/data/cifar\")\n"
             "    loss = cross_entropy\n"
             "    optimizer = momentum(0.05, nesterov=true)\n"
             "    metrics = accuracy\n"
             "    augment = shift(4)\n"
             "    schedule = cosine(final=0.1)\n"
             "    ema = 0.999\n"
             "}\n",
             &spec);
    const kn_spec_training *t = &spec.trainings[0];
    assert_true(t->ema == 0.999);
    assert_int_equal(t->augment_shift, 4);
    assert_true(t->cosine && t->cosine_final == 0.1);
    assert_string_equal(t->name, "train");
    assert_string_equal(t->dataset.dir, "/data/cifar");
    assert_shape(&t->dataset.image_shape, 3, 3, 32, 32);
    assert_int_equal(t->batch_size, 32); /* Keras' fit() default */
    assert_int_equal(t->epochs, 1);
    assert_int_equal(t->metrics, KN_SPEC_METRIC_ACCURACY);
    assert_int_equal(t->num_steps, 1);
    const kn_spec_step *s = &t->steps[0];
    assert_int_equal(s->num_update, 1);
    assert_int_equal(s->update[0], 0);
    assert_int_equal(s->num_terms, 1);
    assert_int_equal(s->terms[0].loss, KN_SPEC_LOSS_CROSS_ENTROPY);
    assert_int_equal(s->terms[0].target, KN_SPEC_TARGET_LABELS);
    assert_int_equal(s->optimizer.kind, KN_SPEC_OPT_MOMENTUM);
    assert_true(s->optimizer.learning_rate == 0.05 && s->optimizer.momentum == 0.9 && s->optimizer.nesterov);
    kn_spec_free(&spec);
}

/* -------------------------------------------------- invalid: messages */

typedef struct kn_case {
    const char *name, *src, *expected;
} kn_case;

static const kn_case kn_cases[] = {
    {"unknown_layer",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    Dense(10)\n"
     "}\n",
     "t.kiln:3:5: error: unknown layer 'Dense' (did you mean 'dense'?)\n"
     "    3 |     Dense(10)\n"
     "      |     ^~~~~"},
    {"unknown_param",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10, activaton=relu)\n"
     "}\n",
     "t.kiln:3:15: error: unknown parameter 'activaton' for dense (did you mean 'activation'?); expected one of: units, activation, use_bias, kernel_initializer, bias_initializer\n"
     "    3 |     dense(10, activaton=relu)\n"
     "      |               ^~~~~~~~~"},
    {"missing_units",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(activation=relu)\n"
     "}\n",
     "t.kiln:3:5: error: dense needs 'units' (the number of output features), e.g. dense(128, activation=relu)\n"
     "    3 |     dense(activation=relu)\n"
     "      |     ^~~~~"},
    {"float_units",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(0.5)\n"
     "}\n",
     "t.kiln:3:11: error: expected an integer for 'units', got 0.5\n"
     "    3 |     dense(0.5)\n"
     "      |           ^~~"},
    {"add_mismatch",
     "model m {\n"
     "    x = input(shape=(3, 8, 8))\n"
     "    a = conv2d(8, 3, padding=same)\n"
     "    b = conv2d(16, 3, padding=same)(x)\n"
     "    add(a, b)\n"
     "}\n",
     "t.kiln:5:5: error: add 'add': input shapes differ: 'a' has shape (N, 8, 8, 8) but 'b' has shape (N, 16, 8, 8)\n"
     "    5 |     add(a, b)\n"
     "      |     ^~~"},
    {"conv_on_flat",
     "model m {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    conv2d(8, 3)\n"
     "}\n",
     "t.kiln:4:5: error: conv2d 'conv2d' needs a 4-D input (N, C, H, W), but 'flatten' has shape (N, 784); reshape it first, e.g. reshape((C, H, W))\n"
     "    4 |     conv2d(8, 3)\n"
     "      |     ^~~~~~"},
    {"kernel_too_big",
     "model m {\n"
     "    x = input(shape=(1, 4, 4))\n"
     "    conv2d(8, 5)\n"
     "}\n",
     "t.kiln:3:5: error: conv2d 'conv2d': the window of size 5 (kernel 5, dilation 1) does not fit dimension 2 of 'x' with shape (N, 1, 4, 4) (padding=valid); use padding=same or a smaller kernel\n"
     "    3 |     conv2d(8, 5)\n"
     "      |     ^~~~~~"},
    {"missing_paren",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10, activation=relu\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:3:30: error: expected ',' or ')' to close the arguments of 'dense' opened at line 3, column 10, got end of line\n"
     "    3 |     dense(10, activation=relu\n"
     "      |                              ^"},
    {"missing_brace",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10)\n",
     "t.kiln:1:1: error: 'model m' is not closed: expected '}' before the end of the file\n"
     "    1 | model m {\n"
     "      | ^~~~~"},
    {"dup_name",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    h = dense(10)\n"
     "    h = dense(10)\n"
     "}\n",
     "t.kiln:4:5: error: 'h' is already defined at line 3\n"
     "    4 |     h = dense(10)\n"
     "      |     ^"},
    {"use_before",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    a = dense(10)(b)\n"
     "    b = dense(10)(x)\n"
     "}\n",
     "t.kiln:3:19: error: 'b' is used before it is defined (at line 4)\n"
     "    3 |     a = dense(10)(b)\n"
     "      |                   ^"},
    {"comments_only",
     "# nothing here\n"
     "\n"
     "   # still nothing\n",
     "t.kiln:1:1: error: the file defines no model; expected a block like 'model mnist { x = input(shape=(1, 28, 28)) ... }'\n"
     "    1 | # nothing here\n"
     "      | ^"},
    {"positional_after",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(units=10, relu)\n"
     "}\n",
     "t.kiln:3:21: error: a positional argument cannot follow named ones; write it as name=value\n"
     "    3 |     dense(units=10, relu)\n"
     "      |                     ^~~~"},
    {"model_param",
     "model m(sed=1) {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:1:9: error: unknown model parameter 'sed' (did you mean 'seed'?); expected seed\n"
     "    1 | model m(sed=1) {\n"
     "      |         ^~~"},
    {"reshape_two",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    reshape((-1, -1))\n"
     "}\n",
     "t.kiln:3:13: error: 'shape' may contain at most one -1, got 2\n"
     "    3 |     reshape((-1, -1))\n"
     "      |             ^~~~~~~~"},
    {"merge_both",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    a = dense(10)\n"
     "    b = dense(10)(x)\n"
     "    add(a, b)(a, b)\n"
     "}\n",
     "t.kiln:5:5: error: add already names its inputs; write either add(a, b) or add()(a, b), not both\n"
     "    5 |     add(a, b)(a, b)\n"
     "      |     ^~~"},
    {"layer_name_value",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    h = dense(10)\n"
     "    y = h\n"
     "}\n",
     "t.kiln:4:9: error: expected a layer, got the layer name 'h'; to apply a layer to it, write e.g. relu()(h)\n"
     "    4 |     y = h\n"
     "      |         ^"},
    {"no_input",
     "model m {\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:2:5: error: dense has no input: it is the first layer of model 'm'; start the model with an input layer, e.g. x = input(shape=(1, 28, 28))\n"
     "    2 |     dense(10)\n"
     "      |     ^~~~~"},
    {"empty_model",
     "model m {\n"
     "}\n",
     "t.kiln:1:7: error: model 'm' has no layers; expected e.g. x = input(shape=(784,)) then dense(10)\n"
     "    1 | model m {\n"
     "      |       ^"},
    {"top_level",
     "x = input(shape=(784,))\n"
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:1:1: error: 'x = ...' must be inside a block: expected 'model NAME {' or 'train {'\n"
     "    1 | x = input(shape=(784,))\n"
     "      | ^"},
    {"unterminated",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10, activation=\"relu)\n"
     "}\n",
     "t.kiln:3:26: error: unterminated string: expected a closing \" on the same line\n"
     "    3 |     dense(10, activation=\"relu)\n"
     "      |                          ^"},
    {"bad_number",
     "model m {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    conv2d(8, 3x3)\n"
     "}\n",
     "t.kiln:3:15: error: invalid number '3x3'; write sizes as 3 or (3, 3)\n"
     "    3 |     conv2d(8, 3x3)\n"
     "      |               ^~~"},
    {"colon",
     "model m {\n"
     "    x: input(shape=(784,))\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:2:6: error: expected '=' (settings are written 'name = value'), got ':'\n"
     "    2 |     x: input(shape=(784,))\n"
     "      |      ^"},
    /* junk after a statement: the statement stays as a placeholder, so no error about a missing input follows */
    {"trailing_junk",
     "model m {\n"
     "    x = input(shape=(4,)) $\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:2:27: error: unexpected '$'; expected a name, a number, a string or one of ( ) [ ] { } , = + - * ;\n"
     "    2 |     x = input(shape=(4,)) $\n"
     "      |                           ^"},
    /* a missing '{' is the one error about the block (not "model 'm' has no layers") */
    {"missing_brace",
     "model m\n"
     "    x = input(shape=(4,))\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:1:8: error: expected '{' to open the body of 'model m', got end of line\n"
     "    1 | model m\n"
     "      |        ^\n"
     "t.kiln:2:5: error: 'x = ...' must be inside a block: expected 'model NAME {' or 'train {'\n"
     "    2 |     x = input(shape=(4,))\n"
     "      |     ^"},
    /* a positional argument after named ones is the error, not the parameter it might have been */
    {"positional_after_named",
     "model m {\n"
     "    x = input(shape=(4,))\n"
     "    dense(activation=relu, 10)\n"
     "}\n",
     "t.kiln:3:28: error: a positional argument cannot follow named ones; write it as name=value\n"
     "    3 |     dense(activation=relu, 10)\n"
     "      |                            ^~"},
    {"positional_after_named_train",
     "model m {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    dense(10)\n"
     "}\n"
     "train {\n"
     "    dataset = synthetic()\n"
     "    loss = cross_entropy\n"
     "    optimizer = sgd(learning_rate=0.1, 0.9)\n"
     "}\n",
     "t.kiln:9:40: error: a positional argument cannot follow named ones; write it as name=value\n"
     "    9 |     optimizer = sgd(learning_rate=0.1, 0.9)\n"
     "      |                                        ^~~"},
    /* an unknown escape is an error, and the string is no value (not "unknown activation 'reluq'") */
    {"unknown_escape",
     "model m {\n"
     "    x = input(shape=(4,))\n"
     "    dense(10, activation=\"relu\\q\")\n"
     "    dense(3)\n"
     "}\n",
     "t.kiln:3:31: error: unknown escape '\\q' in a string (use \\\\, \\\", \\', \\n or \\t)\n"
     "    3 |     dense(10, activation=\"relu\\q\")\n"
     "      |                               ^~"},
    {"unknown_escape_utf8",
     "model m {\n"
     "    x = input(shape=(4,))\n"
     "    dense(10, activation='\\\xc3\xa9')\n"
     "}\n",
     "t.kiln:3:27: error: unknown escape '\\\xc3\xa9' in a string (use \\\\, \\\", \\', \\n or \\t)\n"
     "    3 |     dense(10, activation='\\\xc3\xa9')\n"
     "      |                           ^~"},
    /* a backslash at the end of a line escapes nothing */
    {"backslash_newline_in_string",
     "model m {\n"
     "    x = input(shape=(4,))\n"
     "    dense(10, activation=\"relu\\\n"
     "}\n",
     "t.kiln:3:26: error: unterminated string: expected a closing \" on the same line\n"
     "    3 |     dense(10, activation=\"relu\\\n"
     "      |                          ^"},
    /* a byte-order mark after the start, and other invisible characters, are named by code point */
    {"bom_inside",
     "model m {\n"
     "    x = input(shape=(4,))\xef\xbb\xbf\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:2:26: error: unexpected byte-order mark (U+FEFF): it is allowed only at the start of the file\n"
     "    2 |     x = input(shape=(4,))\xef\xbb\xbf\n"
     "      |                          ^"},
    {"zero_width_space",
     "model m {\n"
     "    x = input(shape=(4,))\n"
     "\xe2\x80\x8b    dense(10)\n"
     "}\n",
     "t.kiln:3:1: error: unexpected invisible character U+200B; use plain spaces\n"
     "    3 | \xe2\x80\x8b    dense(10)\n"
     "      | ^"},
    {"keras_init",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10, kernel_initializer=xavier_uniform)\n"
     "}\n",
     "t.kiln:3:34: error: unknown initializer 'xavier_uniform' (did you mean 'glorot_uniform'? kiln uses the Keras names); expected glorot_uniform, glorot_normal, he_normal, he_uniform, lecun_normal, lecun_uniform, zeros, ones, constant(value), normal(mean, stddev) or uniform(minval, maxval)\n"
     "    3 |     dense(10, kernel_initializer=xavier_uniform)\n"
     "      |                                  ^~~~~~~~~~~~~~"},
    {"pair_bad",
     "model m {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    conv2d(8, (3, 3, 3))\n"
     "}\n",
     "t.kiln:3:15: error: expected an integer or a pair like (3, 3) for 'kernel', got 3 values\n"
     "    3 |     conv2d(8, (3, 3, 3))\n"
     "      |               ^~~~~~~~~"},
    {"strides_zero",
     "model m {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    conv2d(8, 3, strides=0)\n"
     "}\n",
     "t.kiln:3:26: error: 'strides' must be between 1 and 65536, got 0\n"
     "    3 |     conv2d(8, 3, strides=0)\n"
     "      |                          ^"},
    {"groups_bad",
     "model m {\n"
     "    x = input(shape=(3, 28, 28))\n"
     "    conv2d(8, 3, groups=2)\n"
     "}\n",
     "t.kiln:3:5: error: conv2d 'conv2d': groups=2 must divide both the 3 input channels of 'x' (N, 3, 28, 28) and filters=8\n"
     "    3 |     conv2d(8, 3, groups=2)\n"
     "      |     ^~~~~~"},
    {"tp_outpad",
     "model m {\n"
     "    x = input(shape=(8, 7, 7))\n"
     "    conv2d_transpose(4, 3, strides=2, output_padding=2)\n"
     "}\n",
     "t.kiln:3:5: error: conv2d_transpose 'conv2d_transpose': output_padding 2 must be smaller than the stride 2\n"
     "    3 |     conv2d_transpose(4, 3, strides=2, output_padding=2)\n"
     "      |     ^~~~~~~~~~~~~~~~"},
    {"dropout_rate",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dropout(1.5)\n"
     "}\n",
     "t.kiln:3:13: error: 'rate' must be at least 0 and below 1, got 1.5\n"
     "    3 |     dropout(1.5)\n"
     "      |             ^~~"},
    {"concat_axis0",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    concat(x, x, axis=0)\n"
     "}\n",
     "t.kiln:3:5: error: concat 'concat': axis 0 is the batch; concatenate along 1 (channels/features) or a later axis\n"
     "    3 |     concat(x, x, axis=0)\n"
     "      |     ^~~~~~"},
    {"concat_mismatch",
     "model m {\n"
     "    x = input(shape=(3, 8, 8))\n"
     "    a = maxpool2d(2)\n"
     "    concat(x, a)\n"
     "}\n",
     "t.kiln:4:5: error: concat 'concat': 'x' has shape (N, 3, 8, 8) but 'a' has shape (N, 3, 4, 4); only axis 1 may differ\n"
     "    4 |     concat(x, a)\n"
     "      |     ^~~~~~"},
    {"output_unknown",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    logits = dense(10)\n"
     "    output logit\n"
     "}\n",
     "t.kiln:4:12: error: no layer named 'logit' (did you mean 'logits'?)\n"
     "    4 |     output logit\n"
     "      |            ^~~~~"},
    {"unused",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    a = dense(10)\n"
     "    b = dense(5)(x)\n"
     "    output b\n"
     "}\n",
     "t.kiln:3:9: warning: layer 'a' is never used: no layer reads it and it is not an output\n"
     "    3 |     a = dense(10)\n"
     "      |         ^~~~~"},
    {"dup_model",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10)\n"
     "}\n"
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10)\n"
     "}\n",
     "t.kiln:5:7: error: model 'm' is already defined at line 1\n"
     "    5 | model m {\n"
     "      |       ^"},
    {"step_in_model",
     "model m {\n"
     "    x = input(shape=(784,))\n"
     "    dense(10)\n"
     "    step s {\n"
     "        update = m\n"
     "    }\n"
     "}\n",
     "t.kiln:4:5: error: 'step' blocks belong in a 'train' block, not in a model\n"
     "    4 |     step s {\n"
     "      |     ^~~~"},
    {"train_errs",
     "model m {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    dataset = mnist(\"data\")\n"
     "    loss = categorical_crossentropy\n"
     "    optimiser = adam()\n"
     "    epoch = 3\n"
     "}\n",
     "t.kiln:7:15: error: unknown dataset 'mnist' (did you mean 'idx'?); expected idx, cifar10, synthetic, npy or images\n"
     "    7 |     dataset = mnist(\"data\")\n"
     "      |               ^~~~~\n"
     "t.kiln:8:12: error: unknown loss 'categorical_crossentropy' (did you mean 'cross_entropy'?); expected cross_entropy, binary_cross_entropy or mse\n"
     "    8 |     loss = categorical_crossentropy\n"
     "      |            ^~~~~~~~~~~~~~~~~~~~~~~~\n"
     "t.kiln:9:5: error: unknown setting 'optimiser' in a train block (did you mean 'optimizer'?)\n"
     "    9 |     optimiser = adam()\n"
     "      |     ^~~~~~~~~\n"
     "t.kiln:10:5: error: unknown setting 'epoch' in a train block (did you mean 'epochs'?)\n"
     "   10 |     epoch = 3\n"
     "      |     ^~~~~"},
    {"train_missing",
     "model m {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    batch_size = 0\n"
     "}\n",
     "t.kiln:6:1: error: the train block needs a dataset, e.g. dataset = idx(\"data/mnist\")\n"
     "    6 | train {\n"
     "      | ^~~~~\n"
     "t.kiln:6:1: error: the train block needs a loss, e.g. loss = cross_entropy\n"
     "    6 | train {\n"
     "      | ^~~~~\n"
     "t.kiln:6:1: error: the train block needs an optimizer, e.g. optimizer = adam(learning_rate=0.001)\n"
     "    6 | train {\n"
     "      | ^~~~~\n"
     "t.kiln:7:18: error: 'batch_size' must be between 1 and 1048576, got 0\n"
     "    7 |     batch_size = 0\n"
     "      |                  ^"},
    {"train_augment",
     "model m {\n"
     "    x = input(shape=(1, 8, 8))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    dataset = synthetic(shape=(1, 8, 8))\n"
     "    loss = cross_entropy\n"
     "    optimizer = sgd(0.1)\n"
     "    augment = flip\n"
     "    schedule = linear(0.1)\n"
     "}\n",
     "t.kiln:10:15: error: expected augment = shift(N): random shifts of up to N pixels\n"
     "   10 |     augment = flip\n"
     "      |               ^~~~\n"
     "t.kiln:11:16: error: expected schedule = cosine(final=0.0) or constant\n"
     "   11 |     schedule = linear(0.1)\n"
     "      |                ^~~~~~"},
    {"train_ema_range",
     "model m {\n"
     "    x = input(shape=(1, 8, 8))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    dataset = synthetic(shape=(1, 8, 8))\n"
     "    loss = cross_entropy\n"
     "    optimizer = sgd(0.1)\n"
     "    ema = 1\n"
     "}\n",
     "t.kiln:10:11: error: 'ema' is a decay above 0 and below 1 (e.g. 0.999), got 1\n"
     "   10 |     ema = 1\n"
     "      |           ^"},
    {"train_ema_kind",
     "model m {\n"
     "    x = input(shape=(1, 8, 8))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    dataset = synthetic(shape=(1, 8, 8))\n"
     "    loss = cross_entropy\n"
     "    optimizer = sgd(0.1)\n"
     "    ema = fast\n"
     "}\n",
     "t.kiln:10:11: error: expected ema = a decay such as 0.999, or off; got 'fast'\n"
     "   10 |     ema = fast\n"
     "      |           ^~~~"},
    {"train_ema_zero",
     "model m {\n"
     "    x = input(shape=(1, 8, 8))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    dataset = synthetic(shape=(1, 8, 8))\n"
     "    loss = cross_entropy\n"
     "    optimizer = sgd(0.1)\n"
     "    ema = 0.0\n"
     "}\n",
     "t.kiln:10:11: error: 'ema' is a decay above 0 and below 1 (e.g. 0.999), got 0\n"
     "   10 |     ema = 0.0\n"
     "      |           ^~~"},
    {"train_classes",
     "model m {\n"
     "    x = input(shape=(3, 32, 32))\n"
     "    flatten()\n"
     "    dense(5, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    dataset = cifar10(\"c\")\n"
     "    loss = cross_entropy\n"
     "    optimizer = sgd(0.1)\n"
     "}\n",
     "t.kiln:8:12: error: cross_entropy with labels needs a prediction of shape (N, 10) (one score per class of the dataset), but model 'm' gives (N, 5)\n"
     "    8 |     loss = cross_entropy\n"
     "      |            ^~~~~~~~~~~~~"},
    {"gan_errs",
     "model gen {\n"
     "    z = input(shape=(100,))\n"
     "    dense(784)\n"
     "}\n"
     "model disc {\n"
     "    img = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    dense(1, activation=sigmoid)\n"
     "}\n"
     "train {\n"
     "    dataset = idx(\"data\")\n"
     "    optimizer = adam(lr=0.0002, beta_1=0.5)\n"
     "    step d {\n"
     "        update = [disc, gen]\n"
     "        loss = binary_cross_entropy(disc(images), ones) + binary_cross_entropy(disc(gen(noise)), zeros)\n"
     "    }\n"
     "    step g {\n"
     "        update = gen\n"
     "        loss = binary_cross_entropy(dics(gen(noise)), ones)\n"
     "    }\n"
     "    noise = normal(shape=(100,))\n"
     "}\n",
     "t.kiln:15:80: error: model 'disc' takes (N, 1, 28, 28) but the output of model 'gen' has shape (N, 784)\n"
     "   15 |         loss = binary_cross_entropy(disc(images), ones) + binary_cross_entropy(disc(gen(noise)), zeros)\n"
     "      |                                                                                ^~~~\n"
     "t.kiln:19:37: error: no model named 'dics' in this file (did you mean 'disc'?)\n"
     "   19 |         loss = binary_cross_entropy(dics(gen(noise)), ones)\n"
     "      |                                     ^~~~"},
    {"gan_chain",
     "model gen {\n"
     "    z = input(shape=(100,))\n"
     "    dense(784)\n"
     "}\n"
     "model disc {\n"
     "    img = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    dense(1, activation=sigmoid)\n"
     "}\n"
     "train {\n"
     "    dataset = idx(\"data\")\n"
     "    noise = normal(shape=(100,))\n"
     "    optimizer = adam()\n"
     "    step g {\n"
     "        update = gen\n"
     "        loss = binary_cross_entropy(disc(gen(noise)), ones)\n"
     "    }\n"
     "}\n",
     "t.kiln:16:37: error: model 'disc' takes (N, 1, 28, 28) but the output of model 'gen' has shape (N, 784)\n"
     "   16 |         loss = binary_cross_entropy(disc(gen(noise)), ones)\n"
     "      |                                     ^~~~"},
    {"multi_model_simple",
     "model a {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "model b {\n"
     "    x = input(shape=(1, 28, 28))\n"
     "    flatten()\n"
     "    dense(10, activation=softmax)\n"
     "}\n"
     "train {\n"
     "    dataset = idx(\"data\")\n"
     "    loss = cross_entropy\n"
     "    optimizer = adam()\n"
     "}\n",
     "t.kiln:13:12: error: the file defines 2 models: set 'model = NAME' to train one, or say what 'cross_entropy' compares, e.g. cross_entropy(a(images), labels)\n"
     "   13 |     loss = cross_entropy\n"
     "      |            ^~~~~~~~~~~~~"},
    {"tab_line",
     "model m {\n"
     "\tx = input(shape=(784,))\n"
     "\tdense(10, unit=3)\n"
     "}\n",
     "t.kiln:3:12: error: unknown parameter 'unit' for dense (did you mean 'units'?); expected one of: units, activation, use_bias, kernel_initializer, bias_initializer\n"
     "    3 | \tdense(10, unit=3)\n"
     "      | \t          ^~~~"},
    {"utf8",
     "model m {\n"
     "    x = input(shape=(784,))  # café\n"
     "    dense(10, activation=relü)\n"
     "}\n",
     "t.kiln:3:29: error: unexpected 'ü'; expected a name, a number, a string or one of ( ) [ ] { } , = + - * ;\n"
     "    3 |     dense(10, activation=relü)\n"
     "      |                             ^"},
};

static void test_diagnostics(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof kn_cases / sizeof kn_cases[0]; i++) {
        kn_spec spec;
        kn_status st = parse(kn_cases[i].src, &spec);
        char *got = all_diags(&spec);
        bool has_error = spec.num_errors > 0;
        if (strcmp(got, kn_cases[i].expected) != 0 || (st == KN_OK) == has_error) {
            fprintf(stderr, "case %s:\n--- expected:\n%s\n--- got:\n%s\n", kn_cases[i].name, kn_cases[i].expected,
                    got);
            failures++;
        }
        free(got);
        kn_spec_free(&spec);
    }
    assert_int_equal(failures, 0);
}

/* A UTF-8 byte-order mark at the start of a file is skipped: no error, and columns count from after it. */
static void test_bom(void **state)
{
    (void)state;
    kn_spec spec;
    const char *src = "\xef\xbb\xbfmodel m {\n    x = input(shape=(4,))\n    dense(10)\n}\n";
    const kn_spec_model *m = parse_ok(src, &spec);
    assert_int_equal(m->num_layers, 2);
    kn_spec_free(&spec);
    src = "\xef\xbb\xbfmodel m {\n    x = input(shape=(4,))\n    dense(10, 3)\n}\n";
    kn_error err = {0};
    assert_int_equal(kn_spec_parse(src, strlen(src), "t.kiln", &spec, &err), KN_ERR_PARSE);
    assert_non_null(strstr(err.message, "t.kiln:3:15: error: dense takes 1 positional argument"));
    kn_spec_free(&spec);
    src = "\xef\xbb\xbf\xef\xbb\xbfmodel m {\n}\n"; /* only one is skipped */
    assert_int_equal(kn_spec_parse(src, strlen(src), "t.kiln", &spec, &err), KN_ERR_PARSE);
    assert_non_null(strstr(err.message, "t.kiln:1:1: error: unexpected byte-order mark"));
    kn_spec_free(&spec);
}

/* The error message of kn_spec_parse: formatted diagnostics while they fit, then a count. */
static void test_error_message(void **state)
{
    (void)state;
    kn_spec spec;
    kn_error err = {0};
    const char *src = "model m {\n    x = input(shape=(4,))\n    dens(3)\n}\n";
    assert_int_equal(kn_spec_parse(src, strlen(src), "t.kiln", &spec, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "t.kiln:3:5: error: unknown layer 'dens' (did you mean 'dense'?)\n"
                                     "    3 |     dens(3)\n"
                                     "      |     ^~~~");
    kn_spec_free(&spec);
    /* a shape error carries KN_ERR_SHAPE */
    src = "model m {\n    x = input(shape=(4,))\n    maxpool2d(2)\n}\n";
    assert_int_equal(kn_spec_parse(src, strlen(src), "t.kiln", &spec, &err), KN_ERR_SHAPE);
    kn_spec_free(&spec);
    /* many errors: as many as fit, then how many are left */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "model m {\n    x = input(shape=(4,))\n");
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "    dense(4, nope_%d=1)\n", i);
    snprintf(big + n, sizeof big - n, "}\n");
    assert_int_equal(kn_spec_parse(big, strlen(big), "t.kiln", &spec, &err), KN_ERR_PARSE);
    assert_int_equal(spec.num_errors, 12);
    assert_non_null(strstr(err.message, "t.kiln:3:14: error: unknown parameter 'nope_0' for dense"));
    const char *more = strstr(err.message, "more errors)");
    assert_non_null(more);
    assert_true(strlen(err.message) < sizeof err.message);
    kn_spec_free(&spec);
}

/* ---------------------------------------------------------- limits */

static void test_error_cap(void **state)
{
    (void)state;
    char src[8192];
    size_t n = (size_t)snprintf(src, sizeof src, "model m {\n    x = input(shape=(4,))\n");
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "    nosuch(%d)\n", i);
    snprintf(src + n, sizeof src - n, "}\n");
    kn_spec spec;
    assert_int_equal(parse(src, &spec), KN_ERR_PARSE);
    assert_int_equal(spec.num_errors, KN_SPEC_MAX_ERRORS);
    assert_true(spec.stopped);
    kn_spec_free(&spec);
}

static void test_empty_and_binary(void **state)
{
    (void)state;
    kn_spec spec;
    kn_error err = {0};
    assert_int_equal(kn_spec_parse("", 0, "e.kiln", &spec, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "e.kiln:1:1: error: the file is empty; expected a block like 'model mnist { x = "
                                     "input(shape=(1, 28, 28)) ... }'");
    kn_spec_free(&spec);
    assert_int_equal(kn_spec_parse(NULL, 0, "e.kiln", &spec, &err), KN_ERR_PARSE);
    kn_spec_free(&spec);
    static const char bin[] = "model m {\n\x00\x01\x02\x03 garbage";
    assert_int_equal(kn_spec_parse(bin, sizeof bin - 1, "b.kiln", &spec, &err), KN_ERR_PARSE);
    assert_int_equal(spec.num_errors, 1);
    assert_string_equal(spec.diags[0].message,
                        "byte 0x00 is not printable text: a .kiln spec is UTF-8 text (is this a binary file?)");
    assert_int_equal(spec.diags[0].loc.line, 2);
    kn_spec_free(&spec);
    static const char latin1[] = "model m { # caf\xe9\n}\n";
    assert_int_equal(kn_spec_parse(latin1, sizeof latin1 - 1, "l.kiln", &spec, &err), KN_ERR_PARSE);
    assert_int_equal(spec.num_errors, 1);
    assert_string_equal(spec.diags[0].message,
                        "byte 0xe9 is not valid UTF-8: a .kiln spec is UTF-8 text (is this a binary file?)");
    kn_spec_free(&spec);
}

static void test_huge_and_deep(void **state)
{
    (void)state;
    kn_spec spec;
    kn_error err = {0};
    size_t size = KN_SPEC_MAX_FILE_SIZE + 1;
    char *huge = malloc(size);
    assert_non_null(huge);
    memset(huge, ' ', size);
    assert_int_equal(kn_spec_parse(huge, size, "h.kiln", &spec, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "h.kiln: error: the file is too large (more than 4194304 bytes)");
    kn_spec_free(&spec);
    free(huge);
    /* nesting: brackets, calls and tuples deeper than the limit */
    const char *opens[] = {"(", "[", "f("};
    for (int k = 0; k < 3; k++) {
        size_t cap = 100000, n = 0;
        char *src = malloc(cap);
        assert_non_null(src);
        n += (size_t)snprintf(src, cap, "model m {\n    x = input(shape=");
        for (int i = 0; i < 5000; i++)
            n += (size_t)snprintf(src + n, cap - n, "%s", opens[k]);
        for (int i = 0; i < 5000; i++)
            n += (size_t)snprintf(src + n, cap - n, "%s", k == 1 ? "]" : ")");
        snprintf(src + n, cap - n, ")\n    dense(3)\n}\n");
        assert_int_equal(parse(src, &spec), KN_ERR_PARSE);
        assert_int_equal(spec.num_errors, 1);
        assert_non_null(strstr(spec.diags[0].message, "nested too deeply"));
        kn_spec_free(&spec);
        free(src);
    }
    /* a long statement list is fine (no recursion over statements) */
    size_t cap = 200000, n = 0;
    char *src = malloc(cap);
    assert_non_null(src);
    n += (size_t)snprintf(src, cap, "model m {\n    x = input(shape=(2,))\n");
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(src + n, cap - n, "    relu()\n");
    snprintf(src + n, cap - n, "}\n");
    const kn_spec_model *m = parse_ok(src, &spec);
    assert_int_equal(m->num_layers, 3001);
    assert_string_equal(m->layers[3000].name, "relu_2999");
    kn_spec_free(&spec);
    free(src);
}

/* Random byte mutations of a valid spec: any outcome but a crash (run under KILN_SANITIZE). */
static void test_fuzz_mutations(void **state)
{
    (void)state;
    size_t n = strlen(kn_gan_spec);
    char *buf = malloc(n + 64);
    assert_non_null(buf);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    static const char alphabet[] = "(){}[],=+-*;:#\"'\n\t x0129._aZ\\";
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, kn_gan_spec, n);
        size_t len = n;
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t pos = (size_t)(rng % (len ? len : 1));
            int op = (int)((rng >> 32) % 3);
            char c = alphabet[(rng >> 40) % (sizeof alphabet - 1)];
            if (op == 0 && len > 0) { /* delete */
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
            } else if (op == 1) { /* insert */
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = c;
                len++;
            } else if (len > 0) {
                buf[pos] = c;
            }
        }
        kn_spec spec;
        kn_error err = {0};
        kn_status st = kn_spec_parse(buf, len, "f.kiln", &spec, &err);
        if (st == KN_OK) {
            for (int i = 0; i < spec.num_models; i++) {
                kn_graph g;
                kn_spec_build_graph(&spec, i, &g, &err);
                kn_graph_free(&g);
            }
        } else {
            assert_true(spec.num_errors > 0);
            assert_true(err.message[0] != '\0');
        }
        kn_spec_free(&spec);
    }
    free(buf);
}

/* ------------------------------------------------------ initializers */

static void test_init_determinism(void **state)
{
    (void)state;
    enum { N = 4096 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    kn_spec_init glorot = {.kind = KN_SPEC_INIT_GLOROT_UNIFORM};
    kn_spec_init_fill(&glorot, 7, "m", "dense/kernel", 64, 64, a, N);
    kn_spec_init_fill(&glorot, 7, "m", "dense/kernel", 64, 64, b, N);
    assert_memory_equal(a, b, N * sizeof(float));
    double limit = sqrt(6.0 / 128.0), sum = 0;
    for (int i = 0; i < N; i++) {
        assert_true(fabs(a[i]) <= limit);
        sum += a[i];
    }
    assert_true(fabs(sum / N) < 0.01);
    kn_spec_init_fill(&glorot, 8, "m", "dense/kernel", 64, 64, b, N); /* another seed */
    assert_true(memcmp(a, b, N * sizeof(float)) != 0);
    kn_spec_init_fill(&glorot, 7, "m", "dense_1/kernel", 64, 64, b, N); /* another weight */
    assert_true(memcmp(a, b, N * sizeof(float)) != 0);
    /* he_normal: truncated at 2 stddev of sqrt(2 / fan_in) / 0.8796 */
    kn_spec_init he = {.kind = KN_SPEC_INIT_HE_NORMAL};
    kn_spec_init_fill(&he, 1, "m", "c/kernel", 50, 10, a, N);
    double sd = sqrt(2.0 / 50) / 0.87962566103423978, sq = 0;
    for (int i = 0; i < N; i++) {
        assert_true(fabs(a[i]) <= 2 * sd + 1e-6);
        sq += (double)a[i] * a[i];
    }
    assert_true(fabs(sqrt(sq / N) - sqrt(2.0 / 50)) < 0.02); /* the truncation fix restores the variance */
    kn_spec_init normal = {.kind = KN_SPEC_INIT_NORMAL, .a = 1.0, .b = 0.02};
    kn_spec_init_fill(&normal, 1, "m", "x", 1, 1, a, N);
    sum = 0;
    for (int i = 0; i < N; i++)
        sum += a[i];
    assert_true(fabs(sum / N - 1.0) < 0.002);
    kn_spec_init c = {.kind = KN_SPEC_INIT_CONSTANT, .a = 0.25};
    kn_spec_init_fill(&c, 1, "m", "x", 1, 1, a, 3);
    assert_true(a[0] == 0.25f && a[2] == 0.25f);
    free(a);
    free(b);
}

/* Golden values: the generator must not change between machines or versions. */
static void test_init_golden(void **state)
{
    (void)state;
    float v[4];
    kn_spec_init u = {.kind = KN_SPEC_INIT_UNIFORM, .a = 0.0, .b = 1.0};
    kn_spec_init_fill(&u, 0, "mnist_cnn", "conv2d/kernel", 9, 288, v, 4);
    char got[128];
    snprintf(got, sizeof got, "%.6f %.6f %.6f %.6f", v[0], v[1], v[2], v[3]);
    assert_string_equal(got, KN_GOLDEN_UNIFORM);
}

/* ------------------------------------------------------------ graph */

static void test_build_graph(void **state)
{
    (void)state;
    kn_spec spec;
    parse_ok("model m(seed=3) {\n"
             "    x = input(shape=(3, 8, 8))\n"
             "    conv2d(4, 3, strides=2, padding=same, activation=relu)\n"
             "    batchnorm()\n"
             "    flatten()\n"
             "    h = dense(5, activation=softmax)\n"
             "    r = reshape((5, 1))\n"
             "    d = dense(2, use_bias=false)\n"
             "}\n",
             &spec);
    kn_graph g;
    kn_error err = {0};
    assert_int_equal(kn_spec_build_graph(&spec, 0, &g, &err), KN_OK);
    assert_string_equal(g.name, "m");
    assert_int_equal(g.num_inputs, 1);
    assert_int_equal(g.num_outputs, 1);
    assert_string_equal(g.values[g.outputs[0]].name, "d");
    const char *ops[] = {"Conv", "Relu", "BatchNormalization", "Flatten", "Gemm", "Softmax", "Reshape", "MatMul"};
    assert_int_equal(g.num_nodes, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(kn_op_get(g.nodes[i].op)->name, ops[i]);
    const kn_node *conv = &g.nodes[0];
    assert_string_equal(conv->name, "conv2d");
    assert_int_equal(conv->attrs.window.stride[0], 2);
    assert_int_equal(conv->attrs.window.pad_begin[0], 0);
    assert_int_equal(conv->attrs.window.pad_end[0], 1);
    assert_string_equal(g.values[conv->outputs[0]].name, "conv2d/linear");
    assert_string_equal(g.values[g.nodes[1].outputs[0]].name, "conv2d");
    assert_string_equal(g.nodes[1].name, "conv2d/relu");
    const kn_node *bn = &g.nodes[2];
    assert_float_equal(bn->attrs.batch_norm.epsilon, 0.001f, 1e-9);
    assert_float_equal(bn->attrs.batch_norm.momentum, 0.99f, 1e-7);
    assert_string_equal(g.values[bn->inputs[3]].name, "batchnorm/moving_mean");
    const kn_node *gemm = &g.nodes[4];
    assert_true(gemm->attrs.gemm.trans_b);
    const kn_value *w = &g.values[gemm->inputs[1]];
    assert_string_equal(w->name, "h/kernel");
    assert_int_equal(w->kind, KN_VALUE_PARAM);
    assert_shape(&w->shape, 2, 5, 64);
    const kn_value *shape = &g.values[g.nodes[6].inputs[1]];
    assert_int_equal(shape->kind, KN_VALUE_CONST);
    const int64_t *dims = shape->data;
    assert_true(dims[0] == -1 && dims[1] == 5 && dims[2] == 1);
    assert_shape(&g.values[g.outputs[0]].shape, 3, -1, 5, 2);
    /* the same seed gives the same weights; weights come from kn_spec_init_fill */
    float expect[4];
    kn_spec_init_fill(&(kn_spec_init){.kind = KN_SPEC_INIT_GLOROT_UNIFORM}, 3, "m", "h/kernel", 64, 5, expect, 4);
    assert_memory_equal(w->data, expect, sizeof expect);
    kn_graph_free(&g);
    kn_spec_free(&spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_mnist),
        cmocka_unit_test(test_keras_defaults),
        cmocka_unit_test(test_same_padding),
        cmocka_unit_test(test_conv_transpose_sizes),
        cmocka_unit_test(test_dag_and_syntax),
        cmocka_unit_test(test_initializer_params),
        cmocka_unit_test(test_training_gan),
        cmocka_unit_test(test_training_simple),
        cmocka_unit_test(test_diagnostics),
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_empty_and_binary),
        cmocka_unit_test(test_huge_and_deep),
        cmocka_unit_test(test_fuzz_mutations),
        cmocka_unit_test(test_init_determinism),
        cmocka_unit_test(test_init_golden),
        cmocka_unit_test(test_build_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
