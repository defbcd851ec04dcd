#!/usr/bin/env node
// Stream records to vawg-hub and query a metric: the Node.js integrator's starting point.
//
// Usage:
//   node stream_and_query.js HOST:PORT --ca CA.pem --cert AGENCY.pem --key AGENCY.key \
//     --token TOKEN [--agency police-e23000001] [--area E23000001] [--count 12] [--prefix node]
//
// The contracts are loaded from proto/ at start-up by @grpc/proto-loader (no generated files to
// keep in step), and called with @grpc/grpc-js:
// 1. a channel with mutual TLS (the agency's certificate, the hub's CA) and the agency's bearer
//    token (JWT) on every call;
// 2. StreamRecords (bidirectional streaming) with at most IN_FLIGHT chunks unacknowledged: the
//    hub answers each chunk, in order, once its records are committed, one result per record;
// 3. the first chunk again: ingest is idempotent, so every record comes back DUPLICATE;
// 4. QueryMetric: recorded crimes in the agency's area, with disclosure control on every cell.
//
// Exits non-zero if any answer is not what the contract promises, so CI can run it as a check.
// The people are synthetic (obviously fake names); never point this at a production hub.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const CHUNK = 5;
const IN_FLIGHT = 2;

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    token: { type: 'string' },
    'server-name': { type: 'string', default: 'localhost' },
    agency: { type: 'string', default: 'police-e23000001' },
    area: { type: 'string', default: 'E23000001' },
    count: { type: 'string', default: '12' },
    prefix: { type: 'string', default: 'node' },
    proto: { type: 'string', default: path.join(__dirname, '..', '..', '..', 'proto') },
  },
});
const target = positionals[0];
for (const required of ['ca', 'cert', 'key', 'token']) {
  if (!target || !opts[required]) {
    console.error('usage: stream_and_query.js HOST:PORT --ca CA.pem --cert AGENCY.pem --key AGENCY.key --token TOKEN');
    process.exit(2);
  }
}
const count = Number(opts.count);

// Field names as in the proto (snake_case), enums as their names, 64-bit integers as strings.
const definition = protoLoader.loadSync(['vawg/v1/ingest.proto', 'vawg/v1/metrics.proto'], {
  includeDirs: [opts.proto],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const vawg = grpc.loadPackageDefinition(definition).vawg.v1;

function credentials() {
  const tls = grpc.credentials.createSsl(
    fs.readFileSync(opts.ca),
    fs.readFileSync(opts.key),
    fs.readFileSync(opts.cert),
  );
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const md = new grpc.Metadata();
    md.add('authorization', `Bearer ${opts.token}`);
    callback(null, md);
  });
  return grpc.credentials.combineChannelCredentials(tls, bearer);
}

// The development PKI's server certificate names "localhost".
const channelOptions = { 'grpc.ssl_target_name_override': opts['server-name'] };
const ingest = new vawg.IngestService(target, credentials(), channelOptions);
const metrics = new vawg.MetricsService(target, credentials(), channelOptions);

const ts = (day) => ({ seconds: String(Date.UTC(2025, 2, day, 12) / 1000), nanos: 0 });
// Names are normalised to letters only, so a number becomes letters (0 -> a, 1 -> b…).
const letters = (n) => String(n).replace(/\d/g, (d) => String.fromCharCode(97 + Number(d)));

function person(role, i) {
  return {
    identifiers: {
      given_name: `Node${role}given${letters(i)}`,
      family_name: `Node${role}family`,
      date_of_birth: { year: 1990, month: 2, day: 1 + (i % 28) },
    },
    demographics: { sex: role === 'v' ? 'SEX_FEMALE' : 'SEX_MALE', age_at_event: 35 },
  };
}

// One synthetic stalking crime (Home Office offence code 8Q) recorded by the agency.
function crime(i) {
  const id = `${opts.prefix}-${String(i).padStart(4, '0')}`;
  return {
    source_record_id: id,
    revision: 1,
    source_agency_id: opts.agency,
    event_time: ts(1 + (i % 20)),
    recorded_time: ts(2 + (i % 20)),
    reference_period: { start: { year: 2025, month: 3, day: 1 }, end: { year: 2025, month: 3, day: 31 } },
    counting_unit: 'COUNTING_UNIT_CRIME',
    area: { gss_code: opts.area, level: 'AREA_LEVEL_POLICE_FORCE_AREA' },
    classification: { scheme: 'HO_OFFENCE', code: '8Q' },
    victim: person('v', i),
    suspect: person('s', i),
    case_references: { police_crime_reference: `${opts.prefix}/CR/${i}` },
    crime_recorded: { domestic_abuse_flag: true, relationship: 'RELATIONSHIP_EX_PARTNER' },
  };
}

// Streams the chunks with at most IN_FLIGHT unacknowledged; resolves with the acknowledgements
// once every chunk is acknowledged, each checked against what was sent.
function stream(chunks) {
  return new Promise((resolve, reject) => {
    const call = ingest.StreamRecords({ deadline: Date.now() + 60_000 });
    const acks = [];
    let sent = 0;
    const sendMore = () => {
      while (sent < chunks.length && sent - acks.length < IN_FLIGHT) {
        call.write({ records: chunks[sent] });
        sent += 1;
      }
      if (sent === chunks.length) call.end();
    };
    call.on('data', (ack) => {
      const n = acks.length;
      try {
        if (Number(ack.chunk) !== n) throw new Error(`acknowledgement ${n} is for chunk ${ack.chunk}`);
        const ids = ack.results.map((r) => r.source_record_id);
        const want = chunks[n].map((r) => r.source_record_id);
        if (ids.join() !== want.join()) throw new Error(`chunk ${n}: results for ${ids} not ${want}`);
        for (const r of ack.results) {
          if (!['RECORD_STATUS_ACCEPTED', 'RECORD_STATUS_DUPLICATE'].includes(r.status)) {
            const why = r.violations.map((v) => `${v.field}: ${v.reason}`).join('; ');
            throw new Error(`${r.source_record_id}: ${r.status} ${why}`);
          }
        }
      } catch (e) {
        call.cancel();
        reject(e);
        return;
      }
      acks.push(ack);
      sendMore();
    });
    call.on('error', reject);
    call.on('end', () => {
      if (acks.length === chunks.length) resolve(acks);
      else reject(new Error(`${acks.length} acknowledgements for ${chunks.length} chunks`));
    });
    sendMore();
  });
}

function queryMetric() {
  const query = {
    metric_id: 'recorded_crimes',
    victim_scope: 'VICTIM_SCOPE_ALL_VICTIMS',
    counting_rule: 'COUNTING_RULE_ALL_OFFENCES',
    period: { start: { year: 2025, month: 1, day: 1 }, end: { year: 2025, month: 12, day: 31 } },
    grain: 'TIME_GRAIN_WHOLE_PERIOD',
    area_level: 'AREA_LEVEL_POLICE_FORCE_AREA',
    area_codes: [opts.area],
  };
  return new Promise((resolve, reject) => {
    metrics.QueryMetric({ query }, { deadline: Date.now() + 30_000 }, (err, response) =>
      err ? reject(err) : resolve(response.table),
    );
  });
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function main() {
  const records = Array.from({ length: count }, (_, i) => crime(i));
  const chunks = [];
  for (let i = 0; i < records.length; i += CHUNK) chunks.push(records.slice(i, i + CHUNK));

  const acks = await stream(chunks);
  const accepted = acks.reduce((n, a) => n + a.summary.accepted, 0);
  console.log(`StreamRecords: ${acks.length} chunks acknowledged, ${accepted} accepted`);
  check(accepted === count, `${accepted} of ${count} accepted`);

  const again = await stream(chunks.slice(0, 1));
  console.log(`StreamRecords again: ${again[0].summary.duplicate} duplicate (idempotent)`);
  check(again[0].summary.duplicate === chunks[0].length, 'resent records were not DUPLICATE');

  const table = await queryMetric();
  check(table.totals.length > 0, 'no total row');
  const total = table.totals[0].cell;
  console.log(`QueryMetric recorded_crimes in ${opts.area}: ${total.value} (${total.status})`);
  // An agency's figures are protected by cell-key perturbation (docs/disclosure.md): within 5
  // of the true count, and the same in every query.
  check(total.status === 'DISCLOSURE_STATUS_PERTURBED', total.status);
  check(total.value >= count - 5, `total ${total.value} is not within 5 of ${count}`);
  const repeated = await queryMetric();
  check(repeated.totals[0].cell.value === total.value, 'the same query, the same answer');
  console.log('node stream_and_query: ok');
}

main()
  .then(() => {
    ingest.close();
    metrics.close();
  })
  .catch((e) => {
    console.error(`node stream_and_query: FAILED: ${e.message || e}`);
    process.exit(1);
  });
