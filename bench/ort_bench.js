#!/usr/bin/env node
/*
 * ort_bench.js - time one model in ONNX Runtime (CPU), the way `kiln bench`
 * times kiln, for bench/compare_ort.sh.
 *
 *   node bench/ort_bench.js --ort ORT_DIR --model M.onnx --batch B
 *        [--threads N] [--warmup W] [--iters N] [--seed S]
 *        [--input NAME:DTYPE:D0,D1,...]...
 *
 * ORT_DIR holds onnxruntime-node (scripts/setup_ort.sh). The session uses the
 * CPU execution provider, all graph optimisations, intraOpNumThreads = N
 * (0: ORT's default) and one inter-op thread. Inputs are seeded random
 * float32 in [-1, 1) (other dtypes zero); their shapes come from --input
 * (a -1 dimension is the batch) or, without --input, from the model's
 * metadata with symbolic dimensions set to the batch. W untimed runs, then
 * N timed ones (process.hrtime, around session.run only). Prints one JSON
 * object: {"init_ms", "iters", "min_ms", "median_ms", "p90_ms", "p99_ms",
 * "max_ms", "mean_ms"}; percentiles interpolate linearly between ranks,
 * as in kiln bench. Several inputs: one --input each (NAME may contain ':';
 * DTYPE and the dims are the last two fields). On failure it prints one line
 * naming the model and what failed (loading it, its inputs, or a run) on
 * stderr and exits with status 1.
 */
'use strict';

const path = require('path');

let modelName = null; /* named in every failure once --model is known */

function fail(msg) {
    const where = modelName ? `${modelName}: ` : '';
    process.stderr.write(`ort_bench: ${where}${String(msg).replace(/\s+/g, ' ').trim()}\n`);
    process.exit(1);
}

/* the text of whatever ORT threw (an Error, or sometimes a bare string) */
function errorText(e) {
    return e && e.message ? e.message : String(e);
}

function parseArgs(argv) {
    const a = { ort: null, model: null, batch: 1, threads: 0, warmup: 3, iters: 20, seed: 1, inputs: [] };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = argv[i + 1];
        if (v === undefined) fail(`option '${k}' needs a value`);
        i++;
        switch (k) {
        case '--ort': a.ort = v; break;
        case '--model': a.model = v; break;
        case '--batch': a.batch = parseInt(v, 10); break;
        case '--threads': a.threads = parseInt(v, 10); break;
        case '--warmup': a.warmup = parseInt(v, 10); break;
        case '--iters': a.iters = parseInt(v, 10); break;
        case '--seed': a.seed = parseInt(v, 10); break;
        case '--input': {
            const parts = v.split(':');
            const dims = parts.pop();
            const dtype = parts.pop();
            const name = parts.join(':');
            if (!name || !dtype || dims === undefined) fail(`--input needs NAME:DTYPE:D0,D1,..., got '${v}'`);
            const shape = dims === '' ? [] : dims.split(',').map(Number);
            if (shape.some(d => !Number.isInteger(d) || d < -1)) fail(`--input '${v}': bad dimension`);
            a.inputs.push({ name, dtype, dims: shape });
            break;
        }
        default: fail(`unknown option '${k}'`);
        }
    }
    if (!a.ort || !a.model) fail('--ort and --model are required');
    modelName = a.model;
    for (const key of ['batch', 'threads', 'warmup', 'iters', 'seed'])
        if (!Number.isInteger(a[key]) || a[key] < 0) fail(`--${key} needs a non-negative integer`);
    if (a.batch < 1 || a.iters < 1) fail('--batch and --iters must be positive');
    return a;
}

/* splitmix-style generator on BigInt-free 32-bit math (mulberry32) */
function rng(seed) {
    let s = seed >>> 0;
    return () => {
        s = (s + 0x6D2B79F5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const ARRAYS = {
    float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
    uint8: Uint8Array, int8: Int8Array, bool: Uint8Array,
};

function makeFeeds(ort, session, a) {
    let specs = a.inputs;
    if (specs.length === 0) {
        const meta = session.inputMetadata;
        if (!meta) fail('this onnxruntime-node has no inputMetadata: pass --input');
        specs = session.inputNames.map((name, i) => {
            const m = Array.isArray(meta) ? meta[i] : meta[name];
            if (!m || !m.shape) fail(`no shape for input '${name}': pass --input`);
            return { name, dtype: m.type || 'float32', dims: m.shape.map(d => (typeof d === 'number' ? d : -1)) };
        });
    }
    const next = rng(a.seed);
    const feeds = {};
    for (const s of specs) {
        const dims = s.dims.map(d => (d < 0 ? a.batch : d));
        const count = dims.reduce((x, y) => x * y, 1);
        const Arr = ARRAYS[s.dtype];
        if (!Arr) fail(`input '${s.name}': dtype ${s.dtype} is not supported`);
        const data = new Arr(count);
        if (s.dtype === 'float32') for (let k = 0; k < count; k++) data[k] = next() * 2 - 1;
        feeds[s.name] = new ort.Tensor(s.dtype, data, dims);
    }
    return feeds;
}

function percentile(v, p) {
    const pos = (p / 100) * (v.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, v.length - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const mod = path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node');
    let ort;
    try {
        ort = require(mod);
    } catch (e) {
        fail(`cannot load onnxruntime-node from ${mod} (run scripts/setup_ort.sh ${a.ort}): ${e.message}`);
    }
    const t0 = nowMs();
    const opts = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', interOpNumThreads: 1 };
    if (a.threads > 0) opts.intraOpNumThreads = a.threads;
    let session;
    try {
        session = await ort.InferenceSession.create(a.model, opts);
    } catch (e) {
        fail(`ONNX Runtime cannot load the model: ${errorText(e)}`);
    }
    const initMs = nowMs() - t0;
    const feeds = makeFeeds(ort, session, a);
    const known = new Set(session.inputNames);
    for (const name of Object.keys(feeds))
        if (!known.has(name)) fail(`no input named '${name}' (inputs: ${session.inputNames.join(', ')})`);
    for (const name of session.inputNames)
        if (!(name in feeds)) fail(`input '${name}' is not given (pass --input ${name}:DTYPE:DIMS)`);
    const lat = [];
    try {
        for (let i = 0; i < a.warmup; i++) await session.run(feeds);
        for (let i = 0; i < a.iters; i++) {
            const s = nowMs();
            await session.run(feeds);
            lat.push(nowMs() - s);
        }
    } catch (e) {
        fail(`ONNX Runtime failed to run the model at batch ${a.batch}: ${errorText(e)}`);
    }
    lat.sort((x, y) => x - y);
    const r = {
        init_ms: initMs, iters: lat.length, min_ms: lat[0], median_ms: percentile(lat, 50),
        p90_ms: percentile(lat, 90), p99_ms: percentile(lat, 99), max_ms: lat[lat.length - 1],
        mean_ms: lat.reduce((x, y) => x + y, 0) / lat.length,
    };
    if (session.release) await session.release();
    process.stdout.write(JSON.stringify(r) + '\n');
}

main().catch(e => fail(errorText(e)));
