#!/usr/bin/env node
/*
 * ort_reference.js - reference outputs from ONNX Runtime for kiln's model tests.
 *
 * Two modes:
 *
 *   node scripts/ort_reference.js --ort ORT_DIR CACHE_DIR [NAME ...]
 *       For every model of CACHE_DIR/manifest.txt (written by
 *       scripts/export_classifiers.py; lines "name input_name output_name H W"),
 *       or only the NAMEs given, run NAME.onnx on NAME_b1.npy and NAME_b4.npy
 *       and write the output as NAME_b1_ort.npy and NAME_b4_ort.npy. A result
 *       newer than its model and input is kept.
 *
 *   node scripts/ort_reference.js --ort ORT_DIR --model M.onnx
 *        --input NAME=FILE.npy [--input ...] --out-dir DIR
 *       Run one model and write every output to DIR/<output name>.npy.
 *
 * ORT_DIR is a directory where onnxruntime-node was installed with
 * scripts/setup_ort.sh (npm install --ignore-scripts; the CPU runtime is
 * bundled in the npm package, the skipped postinstall step only fetches
 * optional CUDA binaries). Runs on the CPU execution provider with all graph
 * optimisations and 2 intra-op threads. .npy files are read and written here
 * (version 1.0-3.0 little-endian float32/float64/int64/int32/uint8/int8/bool
 * in; the output dtype out), no numpy needed.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const DTYPES = {
    '<f4': { ort: 'float32', Array: Float32Array, size: 4 },
    '<f8': { ort: 'float64', Array: Float64Array, size: 8 },
    '<i8': { ort: 'int64', Array: BigInt64Array, size: 8 },
    '<i4': { ort: 'int32', Array: Int32Array, size: 4 },
    '|u1': { ort: 'uint8', Array: Uint8Array, size: 1 },
    '|i1': { ort: 'int8', Array: Int8Array, size: 1 },
    '|b1': { ort: 'bool', Array: Uint8Array, size: 1 },
};

function fail(msg) {
    process.stderr.write(`ort_reference: ${msg}\n`);
    process.exit(1);
}

/** Read a .npy file into { descr, shape, data (typed array) }. */
function readNpy(file) {
    const buf = fs.readFileSync(file);
    if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
        throw new Error(`${file}: not a .npy file`);
    }
    const major = buf[6];
    let hlen, off;
    if (major === 1) {
        hlen = buf.readUInt16LE(8);
        off = 10;
    } else if (major === 2 || major === 3) {
        hlen = buf.readUInt32LE(8);
        off = 12;
    } else {
        throw new Error(`${file}: unsupported .npy version ${major}`);
    }
    if (off + hlen > buf.length) throw new Error(`${file}: truncated header`);
    const header = buf.toString('latin1', off, off + hlen);
    const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
    const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
    const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
    if (!descr || !fortran || !shapeM) throw new Error(`${file}: malformed header ${header}`);
    if (fortran[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
    const dt = DTYPES[descr[1]];
    if (!dt) throw new Error(`${file}: unsupported dtype ${descr[1]}`);
    const shape = shapeM[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
    const count = shape.reduce((a, b) => a * b, 1);
    const start = off + hlen;
    if (buf.length - start < count * dt.size) throw new Error(`${file}: truncated data`);
    // copy into an aligned buffer
    const bytes = new Uint8Array(count * dt.size);
    bytes.set(buf.subarray(start, start + count * dt.size));
    return { descr: descr[1], shape, data: new dt.Array(bytes.buffer) };
}

/** Write a typed array as a version 1.0 .npy file (via a temporary file). */
function writeNpy(file, ortType, dims, data) {
    const descr = Object.keys(DTYPES).find((k) => DTYPES[k].ort === ortType);
    if (!descr) throw new Error(`${file}: cannot write dtype ${ortType}`);
    const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
    let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
    const total = 10 + header.length + 1;
    header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
    const pre = Buffer.alloc(10);
    pre[0] = 0x93;
    pre.write('NUMPY', 1, 'latin1');
    pre[6] = 1;
    pre[7] = 0;
    pre.writeUInt16LE(header.length, 8);
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const tmp = `${file}.tmp${process.pid}`;
    fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
    fs.renameSync(tmp, file);
}

function loadOrt(dir) {
    const mod = path.join(path.resolve(dir), 'node_modules', 'onnxruntime-node');
    try {
        return require(mod);
    } catch (e) {
        fail(`cannot load onnxruntime-node from ${mod} (run scripts/setup_ort.sh ${dir}): ${e.message}`);
    }
    return null;
}

async function runModel(ort, modelPath, feeds) {
    const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: 2,
    });
    const ortFeeds = {};
    for (const [name, arr] of Object.entries(feeds)) {
        ortFeeds[name] = new ort.Tensor(DTYPES[arr.descr].ort, arr.data, arr.shape);
    }
    const results = await session.run(ortFeeds);
    if (session.release) await session.release();
    return results;
}

function newer(a, b) {
    return fs.existsSync(a) && fs.statSync(a).mtimeMs >= fs.statSync(b).mtimeMs;
}

async function manifestMode(ort, cacheDir, only) {
    const manifest = path.join(cacheDir, 'manifest.txt');
    if (!fs.existsSync(manifest)) fail(`${manifest} not found (run scripts/export_classifiers.py first)`);
    const lines = fs.readFileSync(manifest, 'utf8').split('\n').filter((l) => l.trim());
    for (const line of lines) {
        const [name, inputName, outputName] = line.trim().split(/\s+/);
        if (only.length && !only.includes(name)) continue;
        const model = path.join(cacheDir, `${name}.onnx`);
        for (const b of [1, 4]) {
            const input = path.join(cacheDir, `${name}_b${b}.npy`);
            const out = path.join(cacheDir, `${name}_b${b}_ort.npy`);
            if (newer(out, model) && newer(out, input)) {
                console.log(`${name} batch ${b}: cached`);
                continue;
            }
            const t0 = Date.now();
            const res = await runModel(ort, model, { [inputName]: readNpy(input) });
            const t = res[outputName];
            if (!t) fail(`${name}: ONNX Runtime gave no output named ${outputName}`);
            writeNpy(out, t.type, t.dims, t.data);
            console.log(`${name} batch ${b}: ${out} [${t.dims}] in ${Date.now() - t0} ms`);
        }
    }
}

async function singleMode(ort, model, inputs, outDir) {
    const feeds = {};
    for (const spec of inputs) {
        const eq = spec.indexOf('=');
        if (eq <= 0) fail(`--input needs NAME=FILE.npy, got ${spec}`);
        feeds[spec.slice(0, eq)] = readNpy(spec.slice(eq + 1));
    }
    const res = await runModel(ort, model, feeds);
    fs.mkdirSync(outDir, { recursive: true });
    for (const [name, t] of Object.entries(res)) {
        const file = path.join(outDir, `${name.replace(/[/\\]/g, '_')}.npy`);
        writeNpy(file, t.type, t.dims, t.data);
        console.log(`output '${name}': ${t.type} [${t.dims}] -> ${file}`);
    }
}

async function main() {
    const args = process.argv.slice(2);
    let ortDir = null;
    let model = null;
    let outDir = null;
    const inputs = [];
    const rest = [];
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        const need = () => {
            if (i + 1 >= args.length) fail(`${a} needs a value`);
            return args[++i];
        };
        if (a === '--ort') ortDir = need();
        else if (a === '--model') model = need();
        else if (a === '--input') inputs.push(need());
        else if (a === '--out-dir') outDir = need();
        else if (a === '-h' || a === '--help') {
            console.log('usage: ort_reference.js --ort DIR CACHE_DIR [NAME...]\n' +
                '       ort_reference.js --ort DIR --model M.onnx --input NAME=FILE.npy ... --out-dir DIR');
            return;
        } else if (a.startsWith('-')) fail(`unknown option ${a}`);
        else rest.push(a);
    }
    if (!ortDir) fail('--ort DIR is required');
    const ort = loadOrt(ortDir);
    if (model) {
        if (!outDir || !inputs.length) fail('--model needs --input and --out-dir');
        await singleMode(ort, model, inputs, outDir);
    } else {
        if (!rest.length) fail('CACHE_DIR is required');
        await manifestMode(ort, rest[0], rest.slice(1));
    }
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
