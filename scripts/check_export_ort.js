#!/usr/bin/env node
/*
 * check_export_ort.js - run an ONNX model that kiln exported in ONNX Runtime
 * and compare its outputs with kiln's.
 *
 *   node scripts/check_export_ort.js --ort ORT_DIR --model M.onnx
 *        --input NAME=FILE.npy [--input ...] --expected EXPECTED [--atol 1e-5]
 *       Run M.onnx on the inputs; every output NAME of ONNX Runtime must
 *       match the expected array: same shape and dtype, and
 *       max |ort - expected| <= atol for floats, equality for integers and
 *       booleans. EXPECTED is a directory holding NAME.npy per output
 *       (kiln's outputs, as `kiln run --output DIR` or
 *       `kn_export_check roundtrip --output-dir DIR` write them; '/' and '\'
 *       in names become '_'), or "NAME=FILE.npy[,NAME=FILE.npy...]" (for
 *       example ONNX Runtime's outputs on the model before export).
 *
 *   node scripts/check_export_ort.js --ort ORT_DIR --manifest FILE [--manifest ...] [--atol A]
 *       The same for every line of each FILE: "MODEL EXPECTED NAME=FILE.npy ..."
 *       (blank-separated; lines starting with '#' are comments).
 *
 * ORT_DIR holds onnxruntime-node installed by scripts/setup_ort.sh. With
 * --skip-if-missing, an ORT_DIR without it prints a line starting with
 * "KILN_SKIP:" and exits 0 (for ctest's skip regex). The CPU execution
 * provider runs with all graph optimisations. .npy files (version 1-3,
 * little-endian, C order) are read here; no numpy needed.
 *
 * Exit status: 0 every output matches, 1 a mismatch or failure, 2 usage.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const NPY_TYPES = {
    '<f4': { ort: 'float32', Array: Float32Array, float: true },
    '<f8': { ort: 'float64', Array: Float64Array, float: true },
    '<i8': { ort: 'int64', Array: BigInt64Array, float: false },
    '<i4': { ort: 'int32', Array: Int32Array, float: false },
    '|u1': { ort: 'uint8', Array: Uint8Array, float: false },
    '|i1': { ort: 'int8', Array: Int8Array, float: false },
    '|b1': { ort: 'bool', Array: Uint8Array, float: false },
};

function usage(msg) {
    if (msg) process.stderr.write(`check_export_ort: ${msg}\n`);
    process.stderr.write(
        'usage: check_export_ort.js --ort DIR --model M.onnx --input NAME=FILE.npy ... --expected DIR [--atol A]\n' +
        '       check_export_ort.js --ort DIR --manifest FILE [--manifest FILE ...] [--atol A] [--skip-if-missing]\n');
    process.exit(2);
}

/** Read a .npy file into { type, shape, data }. */
function readNpy(file) {
    const buf = fs.readFileSync(file);
    if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
        throw new Error(`${file}: not a .npy file`);
    }
    const major = buf[6];
    const wide = major >= 2;
    if (major < 1 || major > 3) throw new Error(`${file}: .npy version ${major} is not supported`);
    const hlen = wide ? buf.readUInt32LE(8) : buf.readUInt16LE(8);
    const start = (wide ? 12 : 10) + hlen;
    if (start > buf.length) throw new Error(`${file}: truncated header`);
    const header = buf.toString('latin1', wide ? 12 : 10, start);
    const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
    const order = /'fortran_order'\s*:\s*(True|False)/.exec(header);
    const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
    if (!descr || !order || !shape) throw new Error(`${file}: malformed header`);
    if (order[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
    const type = NPY_TYPES[descr[1]];
    if (!type) throw new Error(`${file}: dtype ${descr[1]} is not supported`);
    const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
    const count = dims.reduce((a, b) => a * b, 1);
    const bytes = count * type.Array.BYTES_PER_ELEMENT;
    if (buf.length - start < bytes) throw new Error(`${file}: truncated data`);
    const copy = new Uint8Array(bytes); // aligned
    copy.set(buf.subarray(start, start + bytes));
    return { type, shape: dims, data: new type.Array(copy.buffer) };
}

function loadOrt(dir, skipIfMissing) {
    const mod = path.join(path.resolve(dir), 'node_modules', 'onnxruntime-node');
    if (!fs.existsSync(path.join(mod, 'package.json'))) {
        const msg = `onnxruntime-node is not installed in ${dir} (run scripts/setup_ort.sh ${dir})`;
        if (skipIfMissing) {
            console.log(`KILN_SKIP: ${msg}`);
            process.exit(0);
        }
        throw new Error(msg);
    }
    return require(mod);
}

function fileName(name) {
    return `${name.replace(/[/\\]/g, '_')}.npy`;
}

/** Compare ORT's tensor with kiln's array; returns { ok, text }. */
function compare(name, got, want, atol) {
    const gotShape = Array.from(got.dims, Number);
    if (gotShape.length !== want.shape.length || gotShape.some((d, i) => d !== want.shape[i])) {
        return { ok: false, text: `shape [${gotShape}] from ONNX Runtime, [${want.shape}] from kiln` };
    }
    if (got.type !== want.type.ort) {
        return { ok: false, text: `dtype ${got.type} from ONNX Runtime, ${want.type.ort} from kiln` };
    }
    const a = got.data;
    const b = want.data;
    if (a.length !== b.length) return { ok: false, text: `${a.length} elements vs ${b.length}` };
    let maxAbs = 0;
    let bad = -1;
    for (let i = 0; i < a.length; i++) {
        if (want.type.float) {
            const x = Number(a[i]);
            const y = Number(b[i]);
            if (Number.isNaN(x) && Number.isNaN(y)) continue;
            if (x === y) continue; // same infinities too
            const d = Math.abs(x - y);
            if (!(d <= atol) && bad < 0) bad = i;
            if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
        } else if (a[i] !== b[i] && bad < 0) {
            bad = i;
        }
    }
    const summary = `${a.length} elements, max abs diff ${maxAbs === 0 ? '0' : maxAbs.toPrecision(3)}`;
    if (bad >= 0) {
        return { ok: false, text: `${summary}; element ${bad}: ONNX Runtime ${a[bad]}, kiln ${b[bad]} (atol ${atol})` };
    }
    return { ok: true, text: summary };
}

/** Where kiln's output `name` is: EXPECTED is a directory, or "OUT=FILE.npy[,OUT=FILE.npy...]". */
function expectedFile(expected, name) {
    if (!expected.includes('=')) return path.join(expected, fileName(name));
    for (const pair of expected.split(',')) {
        const eq = pair.indexOf('=');
        if (eq > 0 && pair.slice(0, eq) === name) return pair.slice(eq + 1);
    }
    return null;
}

async function checkOne(ort, model, inputs, expected, atol) {
    const feeds = {};
    for (const spec of inputs) {
        const eq = spec.indexOf('=');
        if (eq <= 0) throw new Error(`input '${spec}' is not NAME=FILE.npy`);
        const arr = readNpy(spec.slice(eq + 1));
        feeds[spec.slice(0, eq)] = new ort.Tensor(arr.type.ort, arr.data, arr.shape);
    }
    const session = await ort.InferenceSession.create(model, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: 2,
    });
    const results = await session.run(feeds);
    if (session.release) await session.release();
    let ok = true;
    for (const name of Object.keys(results)) {
        const file = expectedFile(expected, name);
        if (!file || !fs.existsSync(file)) {
            console.log(`${model}: FAIL: output '${name}': ${file ? `${file} does not exist` : 'no expected file given'}`);
            ok = false;
            continue;
        }
        const r = compare(name, results[name], readNpy(file), atol);
        console.log(`${model}: ${r.ok ? '' : 'FAIL: '}output '${name}': ${r.text}`);
        ok = ok && r.ok;
    }
    return ok;
}

async function main() {
    const args = process.argv.slice(2);
    let ortDir = null;
    let model = null;
    let expected = null;
    const manifests = [];
    let atol = 1e-5;
    let skipIfMissing = false;
    const inputs = [];
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        const value = () => {
            if (i + 1 >= args.length) usage(`${a} needs a value`);
            return args[++i];
        };
        if (a === '--ort') ortDir = value();
        else if (a === '--model') model = value();
        else if (a === '--input') inputs.push(value());
        else if (a === '--expected') expected = value();
        else if (a === '--manifest') manifests.push(value());
        else if (a === '--atol') atol = Number(value());
        else if (a === '--skip-if-missing') skipIfMissing = true;
        else if (a === '-h' || a === '--help') usage();
        else usage(`unknown argument '${a}'`);
    }
    if (!ortDir) usage('--ort DIR is required');
    if (!(atol >= 0)) usage('--atol needs a non-negative number');
    const checks = [];
    for (const manifest of manifests) {
        const before = checks.length;
        for (const line of fs.readFileSync(manifest, 'utf8').split('\n')) {
            const words = line.trim().split(/\s+/).filter((w) => w.length);
            if (!words.length || words[0].startsWith('#')) continue;
            if (words.length < 2) throw new Error(`${manifest}: '${line}': expected MODEL EXPECTED [NAME=FILE.npy ...]`);
            checks.push({ model: words[0], expected: words[1], inputs: words.slice(2) });
        }
        if (checks.length === before) throw new Error(`${manifest} lists no models`);
    }
    if (!manifests.length) {
        if (!model || !expected) usage('--model and --expected are required (or --manifest)');
        checks.push({ model, expected, inputs });
    }
    const ort = loadOrt(ortDir, skipIfMissing);
    let failed = 0;
    for (const c of checks) {
        let ok;
        try {
            ok = await checkOne(ort, c.model, c.inputs, c.expected, atol);
        } catch (e) {
            console.log(`${c.model}: FAIL: ${e && e.message ? e.message : e}`);
            ok = false;
        }
        if (!ok) failed++;
    }
    console.log(`check_export_ort: ${checks.length - failed} of ${checks.length} models match ONNX Runtime (atol ${atol})`);
    process.exit(failed ? 1 : 0);
}

main().catch((e) => {
    process.stderr.write(`check_export_ort: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
});
