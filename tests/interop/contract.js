// contract: schema/asyncapi.yaml read with the AsyncAPI parser (the one `asyncapi validate`
// uses), as per-topic validators for live messages: key, headers and payload of each channel's
// message. Used by clients.js; run alone it checks the document against kvmove's sources.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020');
const { Parser, fromFile } = require('@asyncapi/parser');

const top = process.env.KVMOVE_SOURCE_DIR || path.resolve(__dirname, '../..');
const docPath = path.join(top, 'schema/asyncapi.yaml');

// The parser adds x-parser-* annotations to every schema: not keywords, so not strict.
function compile(schema) {
    if (schema === undefined) return null;
    const ajv = new Ajv2020({ strict: false, validateSchema: false });
    return ajv.compile(schema);
}

// Returns {topic: {key, headers, payload}} of ajv validators (null where the document gives no
// schema) for each channel of the document, and the parser's diagnostics.
async function load() {
    const { document, diagnostics } = await fromFile(new Parser(), docPath).parse();
    if (!document) {
        throw new Error(`${docPath} does not parse: ${diagnostics.map((d) => d.message).join('; ')}`);
    }
    const topics = {};
    for (const ch of document.channels().all()) {
        const messages = ch.messages().all();
        if (messages.length !== 1) throw new Error(`channel ${ch.address()}: expected one message`);
        const m = messages[0];
        const kafka = m.bindings().get('kafka');
        topics[ch.address()] = {
            message: m.id(),
            contentType: m.contentType(),
            key: compile(kafka ? kafka.value().key : undefined),
            headers: compile(m.hasHeaders() ? m.headers().json() : undefined),
            headerNames: m.hasHeaders() ? Object.keys(m.headers().json().properties || {}) : [],
            payload: compile(m.hasPayload() ? m.payload().json() : undefined),
            payloadId: m.hasPayload() ? m.payload().json().$id : undefined,
            headersJson: m.hasHeaders() ? m.headers().json() : undefined,
        };
    }
    return { topics, diagnostics };
}

module.exports = { load, docPath };

// Run alone: the document names what kvmove's C sources do (topics, the events' content-type,
// the dead-letter headers, the payload schemas), so it cannot drift from the code unnoticed.
if (require.main === module) {
    (async () => {
        let passed = 0;
        let failed = 0;
        const check = (what, ok, detail) => {
            if (ok) passed++;
            else failed++;
            console.log(`[interop.asyncapi] ${ok ? 'ok' : 'FAILED'}: ${what}${ok || !detail ? '' : `\n    ${detail}`}`);
        };
        const src = (f) => fs.readFileSync(path.join(top, f), 'utf8');
        const { topics, diagnostics } = await load();
        const errors = diagnostics.filter((d) => d.severity === 0);
        check('the parser reports no error', errors.length === 0, errors.map((d) => d.message).join('; '));
        const busTopics = [...src('lib/bus.h').matchAll(/#define BUS_TOPIC_\w+ "([^"]+)"/g)].map((m) => m[1]).sort();
        check(`channels are the topics of lib/bus.h (${busTopics.join(', ')})`,
            JSON.stringify(Object.keys(topics).sort()) === JSON.stringify(busTopics), Object.keys(topics).join(', '));
        const ct = /#define EVENT_KAFKA_CONTENT_TYPE "([^"]+)"/.exec(src('lib/event.h'))[1];
        const ev = topics['kvmove.events'];
        check(`kvmove.events: content-type header is "${ct}" (lib/event.h)`,
            ev && ev.headersJson.properties['content-type'].const === ct && ev.contentType === ct);
        const bus = src('lib/bus.c');
        const body = bus.slice(bus.indexOf('int bus_dead_letter('));
        const dlqNames = [...new Set([...body.matchAll(/\(bus_header\)\{"([^"]+)"/g)].map((m) => m[1]))].sort();
        const dlq = topics['kvmove.requests.dlq'];
        check(`kvmove.requests.dlq: the ${dlqNames.length} headers bus_dead_letter adds are described`,
            dlq && JSON.stringify([...dlq.headerNames].sort()) === JSON.stringify(dlqNames),
            `lib/bus.c: ${dlqNames.join(' ')}\n    asyncapi: ${dlq ? [...dlq.headerNames].sort().join(' ') : '-'}`);
        for (const [topic, file] of [['kvmove.requests', 'request'], ['kvmove.events', 'event']]) {
            const id = JSON.parse(src(`schema/${file}.schema.json`)).$id;
            check(`${topic}: payload is schema/${file}.schema.json`, topics[topic] && topics[topic].payloadId === id);
        }
        console.log(`${passed} passed, ${failed} failed`);
        process.exit(failed === 0 ? 0 : 1);
    })().catch((e) => {
        console.error(e);
        process.exit(1);
    });
}
