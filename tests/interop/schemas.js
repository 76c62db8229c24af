// interop.schemas: ajv (JSON Schema 2020-12, ajv/dist/2020) and lib/jschema.c must give the
// same verdict on a corpus of requests and events (tests/fixtures/messages and
// tests/interop/corpus), each as its directory expects; and on the cases of
// JSON-Schema-Test-Suite (Debian's json-schema-test-suite) whose schemas jschema loads (it
// refuses any keyword it does not implement), each as the suite expects.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const Ajv2020 = require('ajv/dist/2020');

const top = process.env.KVMOVE_SOURCE_DIR || path.resolve(__dirname, '../..');
const build = process.env.KVMOVE_BUILD_DIR || path.join(top, 'build');
const verdictBin = path.join(build, 'kvmove-jschema-verdict');
const suiteDir = process.env.KVMOVE_JSON_SCHEMA_SUITE || '/usr/share/json-schema-test-suite/tests';
let failed = 0;
let passed = 0;

function fail(msg) {
    failed++;
    console.log(`[interop.schemas] FAILED: ${msg}`);
}

function jschemaVerdicts(args) {
    const out = execFileSync(verdictBin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    return out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// ---- corpus: kvmove's schemas, every file with the verdict its directory says ----
const msgs = path.join(top, 'tests/fixtures/messages');
const corpus = path.join(top, 'tests/interop/corpus');
const sets = [
    ['request', path.join(msgs, 'requests/good'), 'valid'],
    ['request', path.join(msgs, 'requests/bad'), 'invalid'],
    ['request', path.join(msgs, 'requests/bad-semantic'), 'valid'], // a rule no schema can say
    ['event', path.join(msgs, 'events/good'), 'valid'],
    ['event', path.join(msgs, 'events/bad'), 'invalid'],
    ['request', path.join(corpus, 'requests/valid'), 'valid'],
    ['request', path.join(corpus, 'requests/invalid'), 'invalid'],
    ['event', path.join(corpus, 'events/valid'), 'valid'],
    ['event', path.join(corpus, 'events/invalid'), 'invalid'],
];
// ajv's strict mode: an unknown keyword in kvmove's schemas is an error.
// (strictTypes off: it asks for "type" beside every "required", a style rule, not 2020-12.)
const strictAjv = new Ajv2020({ strictTypes: false });
const validators = {};
for (const name of ['request', 'event']) {
    const file = path.join(top, 'schema', `${name}.schema.json`);
    validators[name] = { file, validate: strictAjv.compile(JSON.parse(fs.readFileSync(file, 'utf8'))) };
}

function ajvVerdict(validate, text) {
    let v;
    try {
        v = JSON.parse(text);
    } catch (e) {
        return ['notjson', e.message];
    }
    const ok = validate(v);
    return [ok ? 'valid' : 'invalid', ok ? '' : JSON.stringify(validate.errors[0])];
}

const counts = { files: 0, agree: 0, valid: 0, invalid: 0, notjson: 0 };
for (const [schema, dir, expected] of sets) {
    if (!fs.existsSync(dir)) {
        fail(`corpus directory ${dir} is missing`);
        continue;
    }
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f));
    if (files.length === 0) continue;
    const js = jschemaVerdicts([validators[schema].file, ...files]);
    files.forEach((file, i) => {
        const [av, areason] = ajvVerdict(validators[schema].validate, fs.readFileSync(file, 'utf8'));
        const jv = js[i].verdict;
        // Files that are not JSON at all have no schema verdict: both parsers must refuse them.
        // Files named not_json_* are for the parsers: both must agree (a duplicate key is
        // JSON to both, last one wins), whatever the directory says.
        const parserCase = path.basename(file).startsWith('not_json_');
        const want = parserCase ? av : expected;
        const rel = path.relative(top, file);
        counts.files++;
        if (jv === av && av === want) {
            counts.agree++;
            counts[av]++;
            passed++;
        } else {
            fail(`${rel}: expected ${want}, jschema says ${jv} (${js[i].reason}), ajv says ${av} (${areason})`);
        }
    });
}
console.log(`[interop.schemas] corpus: ${counts.agree} of ${counts.files} files with the same verdict from jschema and ajv ` +
    `(${counts.valid} valid, ${counts.invalid} invalid, ${counts.notjson} not JSON)`);

// ---- JSON-Schema-Test-Suite ----
// The Debian package has drafts 3 to 7; draft 7 is the nearest to 2020-12, and for the keywords
// jschema implements (type, required, properties, additionalProperties, enum, const, pattern,
// minLength, maxLength, minimum, maximum, items as one schema, oneOf, anyOf, allOf, not, $ref
// to #/$defs) the two drafts agree. A draft-7 rule that 2020-12 changed must be listed here.
const draft = path.join(suiteDir, 'draft7');
if (!fs.existsSync(draft)) {
    fail(`${draft} is missing (scripts/deps installs Debian's json-schema-test-suite)`);
} else {
    const looseAjv = () => new Ajv2020({ strict: false, validateSchema: false });
    const perFile = [];
    let run = 0;
    let skipped = 0;
    // Of the optional cases, zeroTerminatedFloats (1.0 is an integer) applies; bignum does not
    // (jansson holds 64-bit integers and refuses the file), nor ecmascript-regex (jschema's
    // patterns are POSIX extended expressions, kvmove's schemas use the common subset).
    const files = fs.readdirSync(draft).filter((x) => x.endsWith('.json')).sort();
    files.push('optional/zeroTerminatedFloats.json');
    for (const f of files) {
        const file = path.join(draft, f);
        const groups = JSON.parse(fs.readFileSync(file, 'utf8'));
        const js = jschemaVerdicts(['--suite', file]);
        let k = 0;
        let fileRun = 0;
        groups.forEach((g, gi) => {
            let validate = null;
            try {
                validate = looseAjv().compile(g.schema);
            } catch (e) {
                validate = null; // e.g. a remote $ref: no verdict from ajv either
            }
            g.tests.forEach((t, ti) => {
                const j = js[k++];
                if (j.group !== gi || j.test !== ti) throw new Error(`${f}: verdicts out of step`);
                if (j.verdict === 'unsupported') {
                    skipped++;
                    return;
                }
                const want = t.valid ? 'valid' : 'invalid';
                const av = validate === null ? 'uncompiled' : validate(t.data) ? 'valid' : 'invalid';
                run++;
                fileRun++;
                if (j.verdict === av && av === want) {
                    passed++;
                } else {
                    fail(`${f} "${g.description}" / "${t.description}": suite says ${want}, jschema ${j.verdict}` +
                        `${j.reason ? ` (${j.reason})` : ''}, ajv ${av}`);
                }
            });
        });
        if (fileRun > 0) perFile.push(`${f.replace('.json', '')} ${fileRun}`);
    }
    console.log(`[interop.schemas] JSON-Schema-Test-Suite draft7: ${run} cases whose schema jschema loads, ` +
        `${skipped} skipped (a keyword jschema does not implement); by file: ${perFile.join(', ')}`);
    if (run === 0) fail('no test-suite case ran');
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
