#!/usr/bin/env node
// An MDM back end's certbridge client, in Node.js with @grpc/grpc-js.
//
// What it shows, in order (docs/certificates.md describes each call):
//   1. CSR mode: the device made its key; the back end sends the CSR and gets the certificate.
//   2. Key-generation mode: the agent makes the key; the back end recovers the PKCS#12
//      password from the CMS envelope with the tenant's delivery key, and opens the PKCS#12.
//   3. A Watch loop that keeps its cursor and resumes from it after the stream ends; when the
//      broker no longer keeps that cursor (CURSOR_EXPIRED) it lists the requests and resumes
//      from the list's watch_cursor.
//   4. Errors: the google.rpc.Status details in grpc-status-details-bin (ErrorInfo.reason is
//      the stable certbridge code to act on), falling back to the message when there are none.
//
// The protos are loaded at run time from the repository's proto/ folder (--protos) and
// Debian's golang-github-gogo-googleapis-dev (google/rpc). The API key comes from the
// CERTBRIDGE_API_KEY environment variable or --api-key-file, never from the command line.
// Exits 0 when every step did what it should.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const GOOGLEAPIS = '/usr/share/gocode/src/github.com/gogo/googleapis';
// The broker waits at most this long inside CreateCertificateRequest; the gRPC deadline must
// be longer, or the call ends DEADLINE_EXCEEDED while the broker would still have answered.
const WAIT_TIMEOUT_SECONDS = 30;
const TERMINAL_STATES = new Set(['STATE_ISSUED', 'STATE_DENIED', 'STATE_FAILED',
  'STATE_REVOKED', 'STATE_EXPIRED', 'STATE_CANCELLED']);

function fail(message) {
  throw new Error(message);
}

function loadApi(protoDir) {
  const definition = protoLoader.loadSync('certbridge/v1/certificate.proto', {
    includeDirs: [protoDir],
    keepCase: true, // field names as in the .proto: request_id, csr_pem, ...
    enums: String, // 'STATE_ISSUED' rather than 4
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const v1 = grpc.loadPackageDefinition(definition).certbridge.v1;
  // google.rpc.Status and its details, to decode grpc-status-details-bin.
  const rpc = new protobuf.Root();
  rpc.resolvePath = (origin, target) =>
    target.startsWith('google/protobuf/') ? protobuf.util.path.resolve(origin, target)
      : path.join(GOOGLEAPIS, target);
  rpc.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  return { v1, rpc };
}

class Client {
  constructor(v1, endpoint, caCertPem, apiKey) {
    this.stub = new v1.CertificateService(endpoint, grpc.credentials.createSsl(caCertPem));
    this.metadata = new grpc.Metadata();
    this.metadata.set('authorization', `Bearer ${apiKey}`);
  }

  create(request, waitSeconds = WAIT_TIMEOUT_SECONDS) {
    request.wait_timeout = { seconds: waitSeconds };
    const deadline = new Date(Date.now() + (waitSeconds + 10) * 1000);
    return new Promise((resolve, reject) => {
      this.stub.CreateCertificateRequest(request, this.metadata, { deadline },
        (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  list() {
    const deadline = new Date(Date.now() + 10 * 1000);
    return new Promise((resolve, reject) => {
      this.stub.ListCertificateRequests({}, this.metadata, { deadline },
        (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  // No deadline: the stream is meant to stay open; the caller cancels it.
  watch(cursor) {
    return this.stub.WatchCertificateRequests({ cursor }, this.metadata);
  }
}

// What a program can act on in a failed call: { code, reason, field, text }.
function describeError(rpc, error) {
  const Status = rpc.lookupType('google.rpc.Status');
  const parts = [];
  let reason = '';
  let field = '';
  const details = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
  for (const bytes of details) {
    for (const any of Status.decode(bytes).details) {
      const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
      const type = rpc.lookupType(typeName);
      const detail = type.toObject(type.decode(any.value), { longs: String });
      if (typeName === 'google.rpc.ErrorInfo') {
        reason = detail.reason;
        parts.push(`reason=${detail.reason} domain=${detail.domain} ` +
          JSON.stringify(detail.metadata || {}));
      } else if (typeName === 'google.rpc.BadRequest') {
        for (const v of detail.fieldViolations || []) {
          parts.push(`field ${v.field}: ${v.description}`);
          if (!field) field = v.field;
        }
      } else if (typeName === 'google.rpc.RetryInfo') {
        parts.push(`retry after ${detail.retryDelay ? detail.retryDelay.seconds : 0}s`);
      }
    }
  }
  // No details (an older broker, or a failure before the broker): the message is all.
  const code = Object.keys(grpc.status).find((k) => grpc.status[k] === error.code) || error.code;
  return { code, reason, field, text: parts.length ? parts.join('; ') : error.details };
}

function withTempDir(body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certbridge-example-'));
  try {
    return body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function newCsr(commonName) {
  // Node's crypto makes keys but not CSRs: the openssl command line does both.
  return withTempDir((dir) => execFileSync('openssl', ['req', '-new', '-newkey', 'ec',
    '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'device.key'),
    '-subj', `/CN=${commonName}`], { stdio: ['ignore', 'pipe', 'pipe'] }).toString());
}

async function issueWithCsr(client, args) {
  const request = {
    request_id: `node-csr-${crypto.randomUUID()}`, // keep it: a retry with it is safe
    ca_id: args['ca-id'],
    template_name: args.template,
    csr_pem: newCsr('node-device-1'),
  };
  const issued = await client.create(request);
  if (issued.state !== 'STATE_ISSUED') {
    fail(`CSR mode: ${issued.state} ${issued.error_code} ${issued.error_message}`);
  }
  const again = await client.create(request); // same request_id: same request, no new certificate
  if (again.name !== issued.name || again.serial_number !== issued.serial_number) {
    fail('CSR mode: a retry with the same request_id made another request');
  }
  const certificate = new crypto.X509Certificate(issued.certificate_pem);
  console.log(`csr: ${issued.name} ISSUED serial ${issued.serial_number} ` +
    `expires ${certificate.validTo} (retry returned the same request)`);
  return issued.name;
}

// The PKCS#12 password: CMS EnvelopedData to the tenant's delivery certificate. It goes from
// openssl's stdout to openssl's stdin, never through a command line or a file.
function openEnvelope(envelope, args) {
  return withTempDir((dir) => {
    const file = path.join(dir, 'password.cms');
    fs.writeFileSync(file, envelope);
    return execFileSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-in', file,
      '-recip', args['delivery-cert'], '-inkey', args['delivery-key']],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  });
}

function openPkcs12(pkcs12, password) {
  return withTempDir((dir) => {
    const file = path.join(dir, 'device.p12');
    fs.writeFileSync(file, pkcs12);
    return execFileSync('openssl', ['pkcs12', '-in', file, '-passin', 'stdin', '-nodes'],
      { input: Buffer.concat([password, Buffer.from('\n')]), stdio: ['pipe', 'pipe', 'pipe'] })
      .toString();
  });
}

async function issueWithKeyGeneration(client, args) {
  const issued = await client.create({
    request_id: `node-keygen-${crypto.randomUUID()}`,
    ca_id: args['ca-id'],
    template_name: args.template,
    key_generation: {
      key_spec: 'KEY_SPEC_EC_P256',
      subject: { rfc4514: 'CN=node-device-2,O=Example' },
      subject_alt_names: [{ type: 'TYPE_UPN', value: 'node-device-2@corp.example' }],
      pkcs12_profile: 'PKCS12_PROFILE_MODERN',
    },
  });
  if (issued.state !== 'STATE_ISSUED') fail(`key generation: ${issued.state} ${issued.error_message}`);
  const password = openEnvelope(issued.enveloped_password, args);
  const pem = openPkcs12(issued.pkcs12, password);
  const key = crypto.createPrivateKey(pem.slice(pem.indexOf('-----BEGIN PRIVATE KEY-----')));
  const certificate = new crypto.X509Certificate(
    pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----')));
  if (!certificate.checkPrivateKey(key)) fail('key generation: the key does not match the certificate');
  if (BigInt(`0x${certificate.serialNumber}`) !== BigInt(`0x${issued.serial_number}`)) {
    fail('key generation: the PKCS#12 holds another certificate');
  }
  console.log(`keygen: ${issued.name} ISSUED, PKCS#12 opened with the password from the CMS envelope`);
  return issued.name;
}

// Reads events after `cursor` until every wanted request is terminal; resolves to the cursor
// of the last event read. Reconnects from that cursor when the stream ends early, as a
// long-running Watch loop does after a broker restart or a load balancer's GOAWAY. A cursor
// the broker no longer keeps (CURSOR_EXPIRED): the current state comes from a list, and
// watching resumes from the list's watch_cursor.
async function watchUntil(client, rpc, cursor, wantedNames, seconds) {
  const pending = new Set(wantedNames);
  const seen = (request, at) => {
    if (pending.has(request.name) && TERMINAL_STATES.has(request.state)) {
      pending.delete(request.name);
      console.log(`watch: ${request.name} ${request.state} at cursor ${at}`);
    }
  };
  const deadline = Date.now() + seconds * 1000;
  while (pending.size && Date.now() < deadline) {
    cursor = await new Promise((resolve, reject) => {
      const stream = client.watch(cursor);
      let last = cursor;
      const timer = setTimeout(() => stream.cancel(), Math.max(deadline - Date.now(), 0));
      stream.on('data', (event) => {
        last = event.cursor; // persist this to resume after a restart
        seen(event.certificate_request, last);
        if (!pending.size) stream.cancel();
      });
      let failed = false; // 'end' may follow 'error': the error decides
      stream.on('error', (error) => {
        failed = true;
        clearTimeout(timer);
        const { code, reason, text } = describeError(rpc, error);
        if (reason === 'CURSOR_EXPIRED') {
          // One page is enough here; a back end reads them all.
          client.list().then((listing) => {
            const from = listing.watch_cursor || '0'; // '': a broker older than watch_cursor
            for (const request of listing.certificate_requests) seen(request, from);
            console.log(`watch: cursor expired, re-listed and resumed from cursor ${from}`);
            resolve(from);
          }, reject);
        } else if (error.code === grpc.status.CANCELLED || error.code === grpc.status.UNAVAILABLE) {
          setTimeout(() => resolve(last), pending.size ? 1000 : 0); // then resume from `last`
        } else {
          reject(new Error(`watch: ${code} ${reason} ${text}`));
        }
      });
      stream.on('end', () => {
        clearTimeout(timer);
        if (!failed) resolve(last);
      });
    });
  }
  if (pending.size) fail(`watch: no terminal event for ${[...pending].join(', ')}`);
  return cursor;
}

// A bad request: the program reads the reason and the field, not the English text.
async function showErrorHandling(client, rpc, args) {
  try {
    await client.create({
      request_id: `node-bad-${crypto.randomUUID()}`,
      ca_id: args['ca-id'],
      template_name: args.template,
      csr_pem: 'not a CSR',
    });
  } catch (error) {
    const { code, reason, field, text } = describeError(rpc, error);
    console.log(`error: ${code} reason=${reason || '(no details)'} field=${field || '(none)'}: ${text}`);
    if (error.code !== grpc.status.INVALID_ARGUMENT) fail(`error handling: expected INVALID_ARGUMENT, got ${code}`);
    return;
  }
  fail('error handling: a request with a bad CSR was accepted');
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      endpoint: { type: 'string' }, // the broker's API port, host:port
      'ca-cert': { type: 'string' }, // PEM: the CA of the broker's TLS
      'api-key-file': { type: 'string' }, // else $CERTBRIDGE_API_KEY
      'ca-id': { type: 'string' },
      template: { type: 'string' }, // the template's cn
      'delivery-key': { type: 'string' },
      'delivery-cert': { type: 'string' },
      protos: { type: 'string', default: path.join(__dirname, '..', '..', 'proto') },
    },
  });
  for (const name of ['endpoint', 'ca-cert', 'ca-id', 'template', 'delivery-key', 'delivery-cert']) {
    if (!args[name]) fail(`--${name} is required`);
  }
  const apiKey = args['api-key-file'] ? fs.readFileSync(args['api-key-file'], 'utf8').trim()
    : (process.env.CERTBRIDGE_API_KEY || '');
  if (!apiKey) fail('set CERTBRIDGE_API_KEY or --api-key-file');
  const { v1, rpc } = loadApi(args.protos);
  const client = new Client(v1, args.endpoint, fs.readFileSync(args['ca-cert']), apiKey);

  const csrName = await issueWithCsr(client, args);
  const keygenName = await issueWithKeyGeneration(client, args);
  // A Watch loop starts from a stored cursor; '' means "from now on" and '0' from the
  // oldest change kept, which here includes both requests.
  const cursor = await watchUntil(client, rpc, '0', [csrName, keygenName], 30);

  // Resume: a request made while no stream is open is seen from the stored cursor.
  const created = await client.create({
    request_id: `node-later-${crypto.randomUUID()}`,
    ca_id: args['ca-id'],
    template_name: args.template,
    csr_pem: newCsr('node-device-3'),
  }, 0); // returns at once, QUEUED
  await watchUntil(client, rpc, cursor, [created.name], 30);
  console.log(`watch: resumed from cursor ${cursor} and saw ${created.name}`);

  // A stored cursor the broker no longer keeps (older than the retention; made up here):
  // the loop re-lists and resumes from the list's watch_cursor.
  const expired = await client.create({
    request_id: `node-expired-${crypto.randomUUID()}`,
    ca_id: args['ca-id'],
    template_name: args.template,
    csr_pem: newCsr('node-device-4'),
  }, 0);
  await watchUntil(client, rpc, '999999999999', [expired.name], 30);

  await showErrorHandling(client, rpc, args);
  client.stub.close();
  console.log('ok');
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
