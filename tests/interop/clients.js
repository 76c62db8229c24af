// clients: the interop lane's npm clients against a running kvmove (test_clients.sh drives it).
//
//   node clients.js produce BROKERS KEY FILE [NAME=VALUE...]
//       kafkajs publishes FILE's bytes to kvmove.requests with KEY and the given headers.
//   node clients.js consume BROKERS EXPECTED_EVENTS EXPECTED_DEAD_LETTERS SUMMARY
//       kafkajs reads kvmove.events (until EXPECTED_EVENTS distinct events) and
//       kvmove.requests.dlq from the beginning; every event goes through the CloudEvents SDK
//       (Kafka.toEvent, then the SDK's validate), ajv with schema/event.schema.json and the
//       AsyncAPI document's key, header and payload schemas (contract.js); dead letters through
//       the document's dead-letter message. Writes what it found to SUMMARY (JSON) for the
//       shell test to assert on; exits 0 unless it could not read the topics.
'use strict';
const fs = require('fs');
const path = require('path');
const { Kafka, logLevel } = require('kafkajs');
const { Kafka: CeKafka } = require('cloudevents');
const Ajv2020 = require('ajv/dist/2020');
const contract = require('./contract');

const top = process.env.KVMOVE_SOURCE_DIR || path.resolve(__dirname, '../..');
const PATIENCE_MS = 120000; // bound on waiting for messages, not an assertion on speed

function client(brokers) {
    return new Kafka({ clientId: 'kvmove-interop', brokers: [brokers], logLevel: logLevel.ERROR });
}

async function produce(brokers, key, file, headerArgs) {
    const headers = {};
    for (const h of headerArgs) {
        const eq = h.indexOf('=');
        headers[h.slice(0, eq)] = h.slice(eq + 1);
    }
    const producer = client(brokers).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const res = await producer.send({
        topic: 'kvmove.requests',
        acks: -1,
        messages: [{ key, value: fs.readFileSync(file), headers }],
    });
    await producer.disconnect();
    console.log(`[kafkajs] produced ${path.basename(file)} to kvmove.requests [${res[0].partition}] at offset ${res[0].baseOffset}`);
}

// Reads TOPIC from the beginning in a consumer group of its own until ENOUGH(message) returns
// true (or PATIENCE_MS passes); returns the messages read.
async function readTopic(kafka, topic, enough) {
    const consumer = kafka.consumer({ groupId: `kvmove-interop-${topic}-${process.pid}-${Date.now()}` });
    const got = [];
    let finish;
    const finished = new Promise((resolve) => { finish = resolve; });
    const timer = setTimeout(finish, PATIENCE_MS);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
        eachMessage: async ({ partition, message }) => {
            got.push({ partition, message });
            if (enough(message)) finish();
        },
    });
    await finished;
    clearTimeout(timer);
    await consumer.disconnect();
    return got;
}

// Kafka headers as the CloudEvents SDK wants them: names to string values.
function textHeaders(headers) {
    const out = {};
    for (const [k, v] of Object.entries(headers || {})) out[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
    return out;
}

function firstError(validate) {
    return JSON.stringify(validate.errors && validate.errors[0]);
}

async function consume(brokers, expectedEvents, expectedDead, summaryFile) {
    const kafka = client(brokers);
    const { topics } = await contract.load();
    const eventSchema = JSON.parse(fs.readFileSync(path.join(top, 'schema/event.schema.json'), 'utf8'));
    const ajvEvent = new Ajv2020({ strictTypes: false }).compile(eventSchema);
    const s = {
        expected: expectedEvents, received: 0, distinct: 0, duplicates: 0, decoded: 0, sdkValid: 0,
        ajvValid: 0, contractValid: 0, keyIsJob: 0, partitionKeyIsKey: 0, types: {}, ids: [], failures: [],
        deadLetters: { expected: expectedDead, received: 0, contractValid: 0, messages: [] },
    };
    const fail = (what) => { if (s.failures.length < 30) s.failures.push(what); };

    const seen = new Set();
    const events = await readTopic(kafka, 'kvmove.events', (m) => {
        try {
            seen.add(JSON.parse(m.value.toString()).id);
        } catch (e) { /* counted below */ }
        return seen.size >= expectedEvents;
    });
    const ids = new Set();
    for (const { message } of events) {
        s.received++;
        const value = message.value.toString('utf8');
        const key = message.key ? message.key.toString('utf8') : null;
        const headers = textHeaders(message.headers);
        let ce;
        try {
            ce = CeKafka.toEvent({ key, value, headers });
            s.decoded++;
        } catch (e) {
            fail(`Kafka.toEvent: ${e.message} (headers ${JSON.stringify(headers)})`);
            continue;
        }
        if (ids.has(ce.id)) {
            s.duplicates++; // at least once: a re-sent event is the same event
            continue;
        }
        ids.add(ce.id);
        try {
            ce.validate();
            s.sdkValid++;
        } catch (e) {
            fail(`CloudEvent ${ce.id} (${ce.type}): the SDK's validate: ${e.message} ${JSON.stringify(e.errors || '')}`);
        }
        const short = ce.type.replace(/^io\.kvmove\./, '');
        s.types[short] = (s.types[short] || 0) + 1;
        const parsed = JSON.parse(value);
        if (ajvEvent(parsed)) s.ajvValid++;
        else fail(`ajv: event ${ce.id}: ${firstError(ajvEvent)}`);
        const c = topics['kvmove.events'];
        if (c.key(key) && c.headers(headers) && c.payload(parsed)) s.contractValid++;
        else fail(`asyncapi: event ${ce.id}: key ${firstError(c.key)} headers ${firstError(c.headers)} payload ${firstError(c.payload)}`);
        if (ce.data && key === ce.data.job_id) s.keyIsJob++;
        else fail(`event ${ce.id} (${ce.type}): key ${key} is not data.job_id ${ce.data && ce.data.job_id}`);
        if (ce.partitionkey === key) s.partitionKeyIsKey++;
    }
    s.distinct = ids.size;
    s.ids = [...ids].sort();

    if (expectedDead > 0) {
        let n = 0;
        const dead = await readTopic(kafka, 'kvmove.requests.dlq', () => ++n >= expectedDead);
        const c = topics['kvmove.requests.dlq'];
        for (const { message } of dead) {
            const headers = textHeaders(message.headers);
            s.deadLetters.received++;
            if (c.headers(headers) && c.key(message.key ? message.key.toString() : '')) s.deadLetters.contractValid++;
            else fail(`asyncapi: dead letter: headers ${firstError(c.headers)}`);
            s.deadLetters.messages.push({ key: message.key && message.key.toString(), value: message.value.toString(), headers });
        }
    }
    fs.writeFileSync(summaryFile, JSON.stringify(s, null, 1));
    const types = Object.entries(s.types).sort().map(([t, n]) => `${t} ${n}`).join(', ');
    console.log(`[cloudevents] decoded ${s.decoded} of ${s.received} messages on kvmove.events with Kafka.toEvent ` +
        `(${s.distinct} distinct events, ${s.duplicates} re-sent), ${s.sdkValid} pass the SDK's validate(); types: ${types}`);
    console.log(`[ajv] ${s.ajvValid} of ${s.distinct} events match schema/event.schema.json; ` +
        `[asyncapi] ${s.contractValid} match the document's key, headers and payload; ` +
        `${s.deadLetters.contractValid} of ${s.deadLetters.received} dead letters match its dead-letter message`);
    for (const f of s.failures) console.log(`    ${f}`);
}

const [cmd, ...args] = process.argv.slice(2);
const run = cmd === 'produce' ? produce(args[0], args[1], args[2], args.slice(3))
    : cmd === 'consume' ? consume(args[0], Number(args[1]), Number(args[2]), args[3])
        : Promise.reject(new Error('usage: clients.js produce|consume ...'));
run.then(() => process.exit(0), (e) => {
    console.error(`[interop] ${e.stack || e}`);
    process.exit(1);
});
