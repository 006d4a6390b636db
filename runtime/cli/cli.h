/*
 * cli.h - internals of the `kiln` command line (runtime/cli/).
 *
 * The command line is a thin client of the public API in kiln.h: each
 * command lives in its own file and is a function taking the arguments after
 * the command name. Exit codes: 0 success, 1 a runtime failure (printed as
 * "kiln: error: <message>"), 2 a usage error (printed with the usage text).
 */
#ifndef KN_CLI_H
#define KN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/* the project version, from CMake (runtime/CMakeLists.txt) */
#ifndef KN_CLI_VERSION
#define KN_CLI_VERSION "0.1.0"
#endif

enum { KN_CLI_OK = 0, KN_CLI_FAIL = 1, KN_CLI_USAGE = 2 };

/** `kiln run`: argv[0] is "run". Returns the exit code. */
int kn_cli_run(int argc, char **argv);
/** `kiln info`: argv[0] is "info". Returns the exit code. */
int kn_cli_info(int argc, char **argv);

/** Print "kiln: error: <message>" to stderr; returns KN_CLI_FAIL. */
int kn_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** What kn_cli_fail puts after "kiln: error: " ("rank 1 of 2: " in an MPI job; "" otherwise). */
extern char kn_cli_error_prefix[64];

/* ---- MPI (cli/mpi.c), for `mpirun -np N kiln train` */

/**
 * When launched by an MPI launcher: start MPI and set *out to the job's
 * collective (waits give up after timeout_s); otherwise *out = NULL and MPI
 * stays untouched. KN_CLI_FAIL (reported) when MPI cannot start, or when
 * the build has no MPI and the launch has several ranks.
 */
int kn_cli_mpi_init(double timeout_s, const kn_collective **out);
/** End MPI after kn_cli_mpi_init: MPI_Abort of the whole job when rc is a failure (others may wait on us). */
void kn_cli_mpi_finish(int rc);
/** Whether this kiln was built with MPI. */
bool kn_cli_mpi_built(void);

/**
 * Print "kiln <command>: <message>", a blank line and `usage` to stderr;
 * returns KN_CLI_USAGE.
 */
int kn_cli_usage_error(const char *command, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** True when `arg` is "--help" or "-h". */
bool kn_cli_is_help(const char *arg);

/**
 * Match option `name` (e.g. "--output") at argv[*i], in the forms
 * "--output VALUE" and "--output=VALUE". Returns 1 and sets *value (advancing
 * *i past a separate value) on a match, 0 when argv[*i] is another option,
 * -1 when the value is missing.
 */
int kn_cli_option(int argc, char **argv, int *i, const char *name, const char **value);

/** The pass options `kiln run` and `kiln compile` share. */
typedef struct kn_cli_pass_opts {
    bool explain, verify_each;
    char dump_pass[128];      /**< --dump-after PASS (empty: none) */
    const char *dump_file;    /**< its =FILE part, or NULL */
} kn_cli_pass_opts;

/**
 * Consume argv[*i] when it is --explain, --verify-each or --dump-after
 * PASS[=FILE]: returns 1 when consumed, 0 when argv[*i] is another argument,
 * KN_CLI_USAGE after printing a usage error for `command`.
 */
int kn_cli_pass_option(int argc, char **argv, int *i, const char *command, const char *usage,
                       kn_cli_pass_opts *p);

/**
 * Load MODEL for a command: model `name` (--model NAME) of a .kiln file, or
 * with `name` NULL the file's first model (a spec) or its one model (ONNX).
 * A name with an .onnx file, or one the spec does not define, is an error
 * (the latter listing the file's models). Prints the error; returns
 * KN_CLI_OK or KN_CLI_FAIL.
 */
int kn_cli_load_model(const char *path, const char *name, kn_model_t **model);

/** True when `path` ends in `suffix`. */
bool kn_cli_has_suffix(const char *path, const char *suffix);

/** Parse a decimal integer in [min, max]; false when `s` is not one. */
bool kn_cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/** Parse a number of seconds, > 0 and <= max (a decimal, "1.5"); false if s is anything else. */
bool kn_cli_parse_seconds(const char *s, double max, double *out);

/** Format a shape as "[N,1,28,28]" (KN_DIM_BATCH as N). */
const char *kn_cli_shape_str(const kn_shape *shape, char *buf, size_t len);

/** Format `v` with an SI prefix and `unit`: "1.82 GFLOPs", "512 FLOPs". */
const char *kn_cli_human(double v, const char *unit, char *buf, size_t len);

/** Format `v` with thousands separators: "1,234,567". */
const char *kn_cli_grouped(int64_t v, char *buf, size_t len);

/** Format a byte count with a binary prefix: "512 B", "3.06 MiB". */
const char *kn_cli_bytes(size_t bytes, char *buf, size_t len);

/** Print a memory plan's totals and its lifetime chart (100 columns) to stdout (info_memory.c). */
void kn_cli_print_memory_plan(const kn_memory_plan *plan);

/** Draw a memory plan as an SVG picture into `path`; returns an exit code (printing the error). */
int kn_cli_write_memory_svg(const kn_memory_plan *plan, const char *model, const char *path);

/** Create directory `path` and its parents (like mkdir -p); false with errno set on failure. */
bool kn_cli_mkdirs(const char *path);

#endif /* KN_CLI_H */
