/*
 * spec_check.c - checks the `model` blocks of a parsed spec: names (given
 * or automatic, Keras style), inputs (named, or the previous layer in the
 * sequential shorthand), arity, outputs, unused layers; layer parameters and
 * shapes are resolved by spec_layers.c.
 */
#include <stdio.h>
#include <string.h>

#include "spec_priv.h"

static const char *const kn_model_params[] = {"seed", NULL};

/* Index of the layer named `name` among the first `count` layers of m, or -1. */
static int kn_find_layer(const kn_spec_model *m, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (m->layers[i].name && strcmp(m->layers[i].name, name) == 0)
            return i;
    return -1;
}

/* Whether `name` is the target of some statement of block b. */
static bool kn_is_target(const kn_block *b, const char *name)
{
    for (int i = 0; i < b->num_stmts; i++)
        if (b->stmts[i].kind == KN_STMT_EXPR && b->stmts[i].target && strcmp(b->stmts[i].target, name) == 0)
            return true;
    return false;
}

/* Next free suffix per layer type (Keras keeps one counter per class). */
typedef struct kn_name_counter {
    const char *type;
    int next;
} kn_name_counter;

/* Keras-style automatic name: type, type_1, type_2, ... skipping names in use. */
static char *kn_auto_name(kn_spec *spec, const kn_block *b, const kn_spec_model *m, int count, const char *type,
                          kn_name_counter *counters, int *num_counters)
{
    kn_name_counter *c = NULL;
    for (int i = 0; i < *num_counters; i++)
        if (strcmp(counters[i].type, type) == 0)
            c = &counters[i];
    if (!c) {
        c = &counters[(*num_counters)++];
        c->type = type;
        c->next = 0;
    }
    for (int k = c->next; k < 1000000; k++) {
        char name[160];
        if (k == 0)
            snprintf(name, sizeof name, "%s", type);
        else
            snprintf(name, sizeof name, "%s_%d", type, k);
        if (!kn_is_target(b, name) && kn_find_layer(m, count, name) < 0) {
            c->next = k + 1;
            return kn_arena_strdup(spec->arena, name);
        }
    }
    return NULL;
}

/* Collect the names listed as inputs: `outer` call arguments, or a merge layer's positional names. */
static bool kn_collect_inputs(kn_spec *spec, const kn_ast *outer, const kn_ast *call, const kn_ast_arg **names,
                              int *count, int cap)
{
    *count = 0;
    bool ok = true;
    const char *type = kn_ast_call_name(call);
    bool merge = kn_spec_layer_is_merge(type);
    for (int i = 0; merge && call->kind == KN_AST_CALL && i < call->nargs; i++) {
        const kn_ast *v = call->args[i].value;
        if (call->args[i].name || (v->kind != KN_AST_IDENT && v->kind != KN_AST_TUPLE))
            continue;
        /* add(a, b) or Keras's list form add([a, b]) */
        int n = v->kind == KN_AST_TUPLE ? v->nargs : 1;
        for (int k = 0; k < n; k++) {
            if (*count >= cap) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "too many inputs (the limit is %d)", cap);
                return false;
            }
            names[(*count)++] = v->kind == KN_AST_TUPLE ? &v->args[k] : &call->args[i];
        }
    }
    if (!outer)
        return true;
    if (merge && *count > 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, outer->loc,
                    "%s already names its inputs; write either %s(a, b) or %s()(a, b), not both", type, type, type);
        return false;
    }
    const kn_ast *list = outer->nargs == 1 && !outer->args[0].name && outer->args[0].value->kind == KN_AST_TUPLE
                             ? outer->args[0].value : NULL; /* layer()([a, b]) */
    for (int i = 0; i < (list ? list->nargs : outer->nargs); i++) {
        const kn_ast_arg *a = list ? &list->args[i] : &outer->args[i];
        if (a->name) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name_loc,
                        "inputs are layer names, not parameters: write %s(..., %s=...)(x) to set '%s'", type, a->name,
                        a->name);
            ok = false;
            continue;
        }
        if (a->value->kind != KN_AST_IDENT) {
            char b[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc, "expected the name of a layer as input, got %s",
                        kn_ast_describe(a->value, b, sizeof b));
            ok = false;
            continue;
        }
        if (*count >= cap) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc, "too many inputs (the limit is %d)", cap);
            return false;
        }
        names[(*count)++] = a;
    }
    return ok;
}

/* Resolve the input names of layer `idx` into l->inputs. */
static bool kn_resolve_inputs(kn_spec *spec, const kn_block *b, kn_spec_model *m, int idx, kn_spec_layer *l,
                              const kn_ast_arg **names, int count, int prev, bool *inputs_ok)
{
    *inputs_ok = true;
    int min_in = 1, max_in = 1;
    const char *example = "";
    kn_spec_layer_arity(l->type, &min_in, &max_in, &example);
    if (count == 0 && l->kind != KN_SPEC_INPUT) {
        if (prev < 0) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, l->loc,
                        "%s has no input: it is the first layer of model '%s'; start the model with an input layer, "
                        "e.g. x = input(shape=(1, 28, 28))",
                        l->type, m->name);
            *inputs_ok = false;
            return false;
        }
        if (min_in > 1) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, l->loc, "%s needs at least %d inputs, e.g. %s", l->type, min_in, example);
            *inputs_ok = false;
            return false;
        }
        l->inputs = kn_arena_alloc(spec->arena, 1, sizeof(int));
        if (!l->inputs)
            return false;
        l->inputs[0] = prev;
        l->num_inputs = 1;
        *inputs_ok = m->layers[prev].ok;
        return true;
    }
    if (l->kind == KN_SPEC_INPUT && count > 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, names[0]->value->loc, "input layers take no inputs");
        return false;
    }
    if (count < min_in || (max_in >= 0 && count > max_in)) {
        if (max_in == 1)
            KN_SPEC_ERR(spec, KN_ERR_PARSE, names[count > 1 ? 1 : 0]->value->loc, "%s takes one input, got %d", l->type,
                        count);
        else
            KN_SPEC_ERR(spec, KN_ERR_PARSE, count ? names[0]->value->loc : l->loc,
                        "%s needs at least %d inputs, got %d, e.g. %s", l->type, min_in, count, example);
        return false;
    }
    l->inputs = kn_arena_alloc(spec->arena, (size_t)count, sizeof(int));
    if (!l->inputs)
        return false;
    bool ok = true;
    for (int i = 0; i < count; i++) {
        const kn_ast *v = names[i]->value;
        int j = kn_find_layer(m, idx, v->text);
        if (j < 0) {
            /* defined later? */
            int line = 0;
            for (int s = 0; s < b->num_stmts; s++)
                if (b->stmts[s].kind == KN_STMT_EXPR && b->stmts[s].target &&
                    strcmp(b->stmts[s].target, v->text) == 0)
                    line = b->stmts[s].target_loc.line;
            if (line > 0 && strcmp(v->text, l->name) == 0)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "layer '%s' cannot read its own output", l->name);
            else if (line > 0)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' is used before it is defined (at line %d)", v->text,
                            line);
            else {
                const char **cands = kn_arena_alloc(spec->arena, (size_t)idx + 1, sizeof(char *));
                for (int k = 0; cands && k < idx; k++)
                    cands[k] = m->layers[k].name;
                char hint[96] = "";
                if (cands)
                    kn_spec_did_you_mean(v->text, cands, hint, sizeof hint);
                KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "model '%s' has no layer named '%s'%s", m->name, v->text,
                            hint);
            }
            ok = false;
            continue;
        }
        l->inputs[i] = j;
        if (!m->layers[j].ok)
            *inputs_ok = false;
    }
    l->num_inputs = ok ? count : 0;
    return ok;
}

static void kn_check_model(kn_spec *spec, const kn_block *b, kn_spec_model *m, int index)
{
    int errors_before = spec->num_errors;
    m->loc = b->loc;
    if (b->name) {
        m->name = kn_arena_strdup(spec->arena, b->name);
    } else {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, b->loc, "a model needs a name: model NAME { ... }");
        m->name = kn_arena_printf(spec->arena, "model_%d", index);
    }
    if (!m->name)
        return;
    for (int i = 0; i < b->num_params; i++) {
        const kn_ast_arg *a = &b->params[i];
        char hint[96];
        if (!a->name || strcmp(a->name, "seed") != 0) {
            if (a->name)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name_loc, "unknown model parameter '%s'%s; expected seed", a->name,
                            kn_spec_did_you_mean(a->name, kn_model_params, hint, sizeof hint));
            else
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc, "model parameters are named: model %s(seed=42)",
                            m->name);
            continue;
        }
        int64_t seed;
        if (kn_spec_get_int(spec, a->value, "seed", 0, INT64_MAX, &seed))
            m->seed = (uint64_t)seed;
    }
    if (b->num_stmts > KN_SPEC_MAX_LAYERS) {
        KN_SPEC_ERR(spec, KN_ERR_OVERFLOW, b->name ? b->name_loc : b->loc,
                    "model '%s' has %d statements; a model may have at most %d", m->name, b->num_stmts,
                    KN_SPEC_MAX_LAYERS);
        return;
    }
    /* duplicate names */
    for (int i = 0; i < b->num_stmts; i++) {
        const kn_stmt *s = &b->stmts[i];
        if (s->kind != KN_STMT_EXPR || !s->target)
            continue;
        for (int k = 0; k < i; k++)
            if (b->stmts[k].kind == KN_STMT_EXPR && b->stmts[k].target && strcmp(b->stmts[k].target, s->target) == 0) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, s->target_loc, "'%s' is already defined at line %d", s->target,
                            b->stmts[k].target_loc.line);
                break;
            }
    }
    m->layers = kn_arena_alloc(spec->arena, (size_t)b->num_stmts + 1, sizeof(kn_spec_layer));
    if (!m->layers)
        return;
    kn_spec_layer_ctx ctx = {spec, m};
    kn_name_counter counters[KN_SPEC_LAYER_KIND_COUNT + 16]; /* one per layer name, "?" and "invalid" */
    int num_counters = 0;
    int prev = -1;
    int out_cap = 0;
    for (int i = 0; i < b->num_stmts && !spec->stopped; i++) {
        const kn_stmt *s = &b->stmts[i];
        if (s->kind == KN_STMT_BLOCK) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, s->block->loc, "'%s' blocks belong in a 'train' block, not in a model",
                        s->block->keyword);
            continue;
        }
        if (s->kind == KN_STMT_OUTPUT) {
            for (int k = 0; k < s->num_names; k++) {
                int j = kn_find_layer(m, m->num_layers, s->names[k]);
                if (j < 0) {
                    bool later = kn_is_target(b, s->names[k]);
                    const char **cands = kn_arena_alloc(spec->arena, (size_t)m->num_layers + 1, sizeof(char *));
                    for (int c = 0; cands && c < m->num_layers; c++)
                        cands[c] = m->layers[c].name;
                    char hint[96] = "";
                    if (cands && !later)
                        kn_spec_did_you_mean(s->names[k], cands, hint, sizeof hint);
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, s->name_locs[k], "%s '%s'%s",
                                later ? "'output' must follow the layer it names:" : "no layer named", s->names[k],
                                hint);
                    continue;
                }
                bool dup = false;
                for (int c = 0; c < m->num_outputs; c++)
                    dup |= m->outputs[c] == j;
                if (dup) {
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, s->name_locs[k], "'%s' is already an output", s->names[k]);
                    continue;
                }
                if (m->layers[j].kind == KN_SPEC_INPUT) {
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, s->name_locs[k], "'%s' is an input layer; outputs must be computed",
                                s->names[k]);
                    continue;
                }
                if (!kn_arena_grow(spec->arena, (void **)&m->outputs, &out_cap, m->num_outputs + 1, sizeof(int)))
                    return;
                m->outputs[m->num_outputs++] = j;
            }
            continue;
        }
        if (!s->value) {
            /* a statement with a syntax error: a layer of unknown shape, so later layers do not cascade */
            kn_spec_layer *l = &m->layers[m->num_layers];
            memset(l, 0, sizeof *l);
            l->type = "?";
            l->kind = KN_SPEC_LAYER_KIND_COUNT;
            l->loc = s->loc;
            l->name = s->target ? kn_arena_strdup(spec->arena, s->target)
                                : kn_auto_name(spec, b, m, m->num_layers, "invalid", counters, &num_counters);
            if (!l->name)
                return;
            prev = m->num_layers++;
            continue;
        }
        /* [target =] layer(params)[(inputs)] */
        const kn_ast *v = s->value, *call = v, *outer = NULL;
        if (v->kind == KN_AST_CALL && v->callee->kind == KN_AST_CALL) {
            outer = v;
            call = v->callee;
        }
        const char *type = kn_ast_call_name(call);
        if (!type || (call->kind == KN_AST_IDENT && !kn_spec_is_layer(type) && kn_find_layer(m, m->num_layers, type) >= 0) ||
            (call->kind == KN_AST_CALL && call->callee->kind != KN_AST_IDENT)) {
            char d[128];
            if (type && call->kind == KN_AST_IDENT)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc,
                            "expected a layer, got the layer name '%s'; to apply a layer to it, write e.g. "
                            "relu()(%s)",
                            type, type);
            else
                KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected a layer such as dense(10) or dense(10)(x), got %s",
                            kn_ast_describe(v, d, sizeof d));
            continue;
        }
        if (v->kind != KN_AST_CALL && v->kind != KN_AST_IDENT) {
            char d[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected a layer such as dense(10), got %s",
                        kn_ast_describe(v, d, sizeof d));
            continue;
        }
        int idx = m->num_layers;
        kn_spec_layer *l = &m->layers[idx];
        memset(l, 0, sizeof *l);
        l->loc = call->kind == KN_AST_CALL ? call->callee->loc : call->loc;
        bool resolved = kn_spec_layer_resolve(&ctx, call, l);
        if (!l->type) { /* unknown layer: keep the name so later references do not cascade */
            l->type = "?";
            l->kind = KN_SPEC_LAYER_KIND_COUNT;
        }
        l->name = s->target ? kn_arena_strdup(spec->arena, s->target)
                            : kn_auto_name(spec, b, m, idx, l->type, counters, &num_counters);
        if (!l->name)
            return;
        m->num_layers++;
        const kn_ast_arg *names[64];
        int count = 0;
        bool inputs_ok = false;
        bool ok = resolved && kn_collect_inputs(spec, outer, call, names, &count, 64);
        if (ok && resolved)
            ok = kn_resolve_inputs(spec, b, m, idx, l, names, count, prev, &inputs_ok);
        prev = idx;
        if (!ok || !inputs_ok) {
            l->ok = false;
            continue;
        }
        l->ok = kn_spec_layer_infer(&ctx, l);
        if (s->trainable == 0) { /* trainable=false: its weights are constants of the graph, never updated */
            l->frozen = true;
            l->trainable_params = 0;
        }
    }
    if (m->num_layers == 0) {
        if (!b->no_body) /* a missing '{' was reported as such */
            KN_SPEC_ERR(spec, KN_ERR_PARSE, b->name ? b->name_loc : b->loc,
                        "model '%s' has no layers; expected e.g. x = input(shape=(784,)) then dense(10)", m->name);
        return;
    }
    bool has_input = false, broken = false;
    for (int i = 0; i < m->num_layers; i++) {
        has_input |= m->layers[i].kind == KN_SPEC_INPUT && strcmp(m->layers[i].type, "?") != 0;
        broken |= strcmp(m->layers[i].type, "?") == 0;
    }
    if (!has_input && !broken && spec->num_errors == errors_before)
        KN_SPEC_ERR(spec, KN_ERR_PARSE, b->name ? b->name_loc : b->loc,
                    "model '%s' has no input layer; expected e.g. x = input(shape=(1, 28, 28))", m->name);
    if (m->num_outputs == 0) {
        m->outputs = kn_arena_alloc(spec->arena, 1, sizeof(int));
        if (!m->outputs)
            return;
        m->outputs[0] = m->num_layers - 1;
        m->num_outputs = 1;
        if (m->layers[m->num_layers - 1].kind == KN_SPEC_INPUT && !broken && spec->num_errors == errors_before)
            KN_SPEC_ERR(spec, KN_ERR_PARSE, b->name ? b->name_loc : b->loc,
                        "model '%s' computes nothing: its last layer is the input '%s'", m->name,
                        m->layers[m->num_layers - 1].name);
    }
    int64_t total = 0;
    for (int i = 0; i < m->num_layers; i++)
        total += m->layers[i].params; /* each is below KN_SPEC_MAX_PARAM_ELEMENTS * 2 */
    if (total > KN_SPEC_MAX_MODEL_PARAMS)
        KN_SPEC_ERR(spec, KN_ERR_OVERFLOW, b->name ? b->name_loc : b->loc,
                    "model '%s' has %lld parameters; a spec model may have at most %lld (4 GiB of float32)", m->name,
                    (long long)total, (long long)KN_SPEC_MAX_MODEL_PARAMS);
    m->ok = spec->num_errors == errors_before && !broken;
    if (!m->ok)
        return;
    /* layers nothing reads */
    for (int i = 0; i < m->num_layers; i++) {
        bool used = false;
        for (int k = 0; k < m->num_outputs && !used; k++)
            used = m->outputs[k] == i;
        for (int j = i + 1; j < m->num_layers && !used; j++)
            for (int k = 0; k < m->layers[j].num_inputs && !used; k++)
                used = m->layers[j].inputs[k] == i;
        if (!used)
            kn_spec_diag_add(spec, KN_SPEC_WARNING, KN_OK, m->layers[i].loc,
                             "layer '%s' is never used: no layer reads it and it is not an output", m->layers[i].name);
    }
}

void kn_spec_check_models(kn_spec *spec, const kn_spec_file *file)
{
    int count = 0;
    for (int i = 0; i < file->num_blocks; i++)
        count += strcmp(file->blocks[i].keyword, "model") == 0;
    spec->models = kn_arena_alloc(spec->arena, (size_t)count + 1, sizeof(kn_spec_model));
    if (!spec->models)
        return;
    for (int i = 0; i < file->num_blocks && !spec->stopped; i++) {
        const kn_block *b = &file->blocks[i];
        if (strcmp(b->keyword, "model") != 0)
            continue;
        kn_spec_model *m = &spec->models[spec->num_models];
        kn_check_model(spec, b, m, spec->num_models);
        if (!m->name)
            return;
        for (int k = 0; k < spec->num_models; k++)
            if (strcmp(spec->models[k].name, m->name) == 0) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, b->name ? b->name_loc : b->loc,
                            "model '%s' is already defined at line %d", m->name, spec->models[k].loc.line);
                m->ok = false;
                break;
            }
        spec->num_models++;
    }
}
