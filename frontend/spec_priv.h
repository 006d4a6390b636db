/*
 * spec_priv.h - internals of the .kiln spec frontend shared by its source
 * files: the arena, the syntax tree, diagnostics helpers and the phases.
 */
#ifndef KN_FRONTEND_SPEC_PRIV_H
#define KN_FRONTEND_SPEC_PRIV_H

#include "spec.h"

/* ------------------------------------------------------------- arena */

/** Bump allocator owning everything a kn_spec holds; freed at once. */
typedef struct kn_spec_arena kn_spec_arena;

kn_spec_arena *kn_arena_new(void);
void kn_arena_free(kn_spec_arena *a);
/** Zeroed memory of count * size bytes, or NULL (overflow or out of memory). */
void *kn_arena_alloc(kn_spec_arena *a, size_t count, size_t size);
/** Copy of s[0..n) plus a terminator, or NULL. */
char *kn_arena_strndup(kn_spec_arena *a, const char *s, size_t n);
char *kn_arena_strdup(kn_spec_arena *a, const char *s);
/** printf into the arena. */
char *kn_arena_printf(kn_spec_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/**
 * Grow an array living in the arena to hold at least `need` elements of
 * `size` bytes (*cap is updated); the old block is abandoned. False when out of memory.
 */
bool kn_arena_grow(kn_spec_arena *a, void **items, int *cap, int need, size_t size);

/* ------------------------------------------------------- syntax tree */

typedef enum kn_ast_kind {
    KN_AST_NUMBER = 0,
    KN_AST_STRING,
    KN_AST_IDENT,
    KN_AST_TUPLE,    /**< (a, b) or [a, b]: args are the elements */
    KN_AST_CALL,     /**< callee(args) */
    KN_AST_SUM       /**< a + b + ...: args are the terms */
} kn_ast_kind;

typedef struct kn_ast kn_ast;

/** An argument: `name = value` or a positional `value` (name NULL). */
typedef struct kn_ast_arg {
    const char *name;
    kn_spec_loc name_loc;
    kn_ast *value;
} kn_ast_arg;

struct kn_ast {
    kn_ast_kind kind;
    kn_spec_loc loc;       /**< the token (atoms), the callee's name (calls), the bracket (tuples) */
    double num;            /**< NUMBER */
    bool is_int;           /**< NUMBER written without '.' or exponent, and fits int64 */
    int64_t ival;
    const char *text;      /**< IDENT, STRING */
    kn_ast *callee;        /**< CALL */
    kn_ast_arg *args;      /**< CALL arguments, TUPLE elements, SUM terms */
    int nargs;
};

typedef enum kn_stmt_kind {
    KN_STMT_EXPR = 0,      /**< [target =] value */
    KN_STMT_OUTPUT,        /**< output a, b */
    KN_STMT_BLOCK          /**< a nested block (train: step NAME { ... }) */
} kn_stmt_kind;

typedef struct kn_block kn_block;

typedef struct kn_stmt {
    kn_stmt_kind kind;
    kn_spec_loc loc;           /**< first token */
    const char *target;        /**< EXPR: the name before '=', or NULL */
    kn_spec_loc target_loc;
    kn_ast *value;             /**< EXPR */
    int trainable;             /**< EXPR in a model: trainable=false (0), true (1), not given (-1) */
    const char **names;        /**< OUTPUT */
    kn_spec_loc *name_locs;
    int num_names;
    kn_block *block;           /**< BLOCK */
} kn_stmt;

/** keyword [name] [(params)] { statements } */
struct kn_block {
    const char *keyword;       /**< "model", "train", "step" */
    kn_spec_loc loc;           /**< the keyword */
    const char *name;          /**< may be NULL */
    kn_spec_loc name_loc;
    kn_ast_arg *params;
    int num_params;
    kn_stmt *stmts;
    int num_stmts;
    bool no_body;              /**< the '{' is missing (reported): no statements to check */
};

/** A whole file. */
typedef struct kn_spec_file {
    kn_block *blocks;
    int num_blocks;
} kn_spec_file;

/* ------------------------------------------------------ diagnostics */

/**
 * Record a diagnostic (message printf-style). Errors beyond
 * KN_SPEC_MAX_ERRORS are dropped and set spec->stopped. Returns false when
 * out of memory (then spec->stopped is set as well).
 */
bool kn_spec_diag_add(kn_spec *spec, kn_spec_severity sev, kn_status status, kn_spec_loc loc,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define KN_SPEC_ERR(spec, status, loc, ...) kn_spec_diag_add((spec), KN_SPEC_ERROR, (status), (loc), __VA_ARGS__)

/** Levenshtein distance, case-insensitive, capped at 100. */
int kn_spec_edit_distance(const char *a, const char *b);

/**
 * The candidate closest to `word` when it is close enough to be a likely
 * typo (distance <= max(1, strlen / 3), or equal once case and underscores
 * are ignored); NULL otherwise. `candidates` is NULL-terminated.
 */
const char *kn_spec_suggest(const char *word, const char *const *candidates);

/** " (did you mean 'x'?)" or "" into buf. */
const char *kn_spec_did_you_mean(const char *word, const char *const *candidates, char *buf, size_t len);

/** Human description of an expression for messages: "'relu'", "the number 3", "a tuple". */
const char *kn_ast_describe(const kn_ast *v, char *buf, size_t len);

/** Format shape with N for the batch as "(N, 1, 28, 28)". */
const char *kn_spec_shape_str(const kn_shape *s, char *buf, size_t len);

/* ------------------------------------------------------------ phases */

/** Parse spec->text into *file (allocated in spec->arena); syntax errors become diagnostics. */
void kn_spec_parse_text(kn_spec *spec, kn_spec_file *file);

/** Check the model blocks of `file` into spec->models. */
void kn_spec_check_models(kn_spec *spec, const kn_spec_file *file);

/** Check the train blocks of `file` into spec->trainings (after the models). */
void kn_spec_check_trainings(kn_spec *spec, const kn_spec_file *file);

/**
 * Resolve one layer statement of a model (spec_layers.c): the layer kind and
 * parameters from `call` (a CALL or bare IDENT), with inputs already given in
 * layer->inputs; infers the output shape and parameter counts. Records
 * diagnostics; returns false when the layer is unusable.
 * `explicit_inputs` is filled with positional identifiers that a merge layer
 * takes as its inputs (add(a, b)); *num_explicit receives their count.
 */
typedef struct kn_spec_layer_ctx {
    kn_spec *spec;
    kn_spec_model *model;
} kn_spec_layer_ctx;

/** Layer names known to the language (NULL-terminated), for suggestions and docs. */
extern const char *const kn_spec_layer_names[];

/** Whether `name` is a layer known to the language. */
bool kn_spec_is_layer(const char *name);
/** Whether the layer named `name` is a merge (add, multiply, concat): positional names are its inputs. */
bool kn_spec_layer_is_merge(const char *name);

/**
 * Resolve the parameters of `call` (the layer call, whose callee names a
 * known layer, or a bare IDENT) into *layer (kind, type, p); positional
 * arguments of merge layers are skipped (they are inputs).
 */
bool kn_spec_layer_resolve(kn_spec_layer_ctx *ctx, const kn_ast *call, kn_spec_layer *layer);

/**
 * Infer layer->shape and parameter counts from its inputs (whose shapes are
 * known); diagnostics name both layers and shapes on a mismatch.
 */
bool kn_spec_layer_infer(kn_spec_layer_ctx *ctx, kn_spec_layer *layer);
/** prelu: the shape of its slopes for an input of shape `in` (a sample's, 1 along shared_axes); false if bad. */
bool kn_spec_prelu_alpha_shape(const kn_spec_layer *l, const kn_shape *in, kn_shape *alpha);

/** Input count limits of layer `type` (max -1: any) and an example call; false if unknown. */
bool kn_spec_layer_arity(const char *type, int *min_inputs, int *max_inputs, const char **example);

/** Value conversions shared by the layer and training checkers; each reports its own error. */
bool kn_spec_get_int(kn_spec *spec, const kn_ast *v, const char *what, int64_t min, int64_t max, int64_t *out);

/**
 * images(dir) (spec_data.c): list the class subfolders of ds->dir (or of its train/ subfolder) into
 * ds->num_classes, checking at compile time that the directory exists, has class folders holding pictures and (with
 * train/ and test/) the same classes in both; `classes`, when given, must agree. Errors at dir_arg.
 */
bool kn_spec_images_classes(kn_spec *spec, const kn_ast *dir_arg, const kn_ast *classes_arg, kn_spec_dataset *ds);
bool kn_spec_get_float(kn_spec *spec, const kn_ast *v, const char *what, double min, double max, double *out);
/** A number in [0, 1) (dropout rate, momentum, Adam's betas). */
bool kn_spec_get_fraction(kn_spec *spec, const kn_ast *v, const char *what, double *out);
bool kn_spec_get_bool(kn_spec *spec, const kn_ast *v, const char *what, bool *out);
/** An identifier or string naming one of `choices` (NULL-terminated); *out gets its index. */
bool kn_spec_get_enum(kn_spec *spec, const kn_ast *v, const char *what, const char *const *choices, int *out);
/**
 * Like kn_spec_get_enum, with `hints`: NULL-terminated pairs (other
 * spelling, kiln name) suggested for the Keras/PyTorch spellings of a choice.
 */
bool kn_spec_get_enum_hinted(kn_spec *spec, const kn_ast *v, const char *what, const char *const *choices,
                             const char *const *hints, int *out);
/** A string (or identifier) into an arena copy. */
bool kn_spec_get_string(kn_spec *spec, const kn_ast *v, const char *what, const char **out);
/** A shape: an int or a tuple of ints, each in [min, max]; up to `cap` entries. */
bool kn_spec_get_shape(kn_spec *spec, const kn_ast *v, const char *what, int64_t min, int64_t max, int cap,
                       int64_t *dims, int *rank);
/** An initializer: a name (glorot_uniform) or a call (normal(stddev=0.02)). */
bool kn_spec_get_init(kn_spec *spec, const kn_ast *v, const char *what, kn_spec_init *out);

/** The callee name of a call or the identifier itself; NULL for other expressions. */
const char *kn_ast_call_name(const kn_ast *v);

#endif /* KN_FRONTEND_SPEC_PRIV_H */
