// Shared helpers of the SDK conformance scripts (tests/conformance/sdk_*.js).
//
// Every call goes through an OFFICIAL Alibaba Cloud SDK from npm, unchanged,
// configured only the way a real user configures it (AccessKey, optional
// SecurityToken, regionId or endpoint).  The scripts run inside the private
// network namespace set up by lib/sdk_ns.sh, where the real Alibaba Cloud
// host names resolve to kmsim on 127.0.0.1:443 and kmsim's test CA is trusted
// through NODE_EXTRA_CA_CERTS.
//
// Three SDK families are in play and each surfaces errors differently:
//   'rpc'  @alicloud/kms20160120 1.2.0 (its own client, @alicloud/rpc-client,
//          V1 HMAC-SHA1): err.code = '<Code>Error', err.data = body,
//          status only in err.message ('code: 404, ...').
//   'oc'   @alicloud/openapi-client 0.4.15 generic callApi (V3 by default,
//          V1 via doRPCRequest when signatureAlgorithm 'v2'): err.code =
//          Code, err.data = body + statusCode.
//   'core' @alicloud/openapi-core (sts/resourcemanager/cms SDKs):
//          err.code, err.statusCode, err.requestId, err.data.
// errInfo() normalises them to {code, status, requestId, data}.
'use strict';

const https = require('https');
const assert = require('assert');
const KmsMod = require('@alicloud/kms20160120');
const RpcMod = require('@alicloud/rpc-client');
const OC = require('@alicloud/openapi-client');
const OpenApiUtil = require('@alicloud/openapi-util').default;
const $tea = require('@alicloud/tea-typescript');
const Core = require('@alicloud/openapi-core');

// Test-only AccessKeys of sim/fixtures/demo.yaml (mean nothing elsewhere).
const MGMT = {
  uid: '1000000000000001',
  id: 'KSIMDEMOMGMTAK000001',
  secret: 'ksim-demo-mgmt-secret-not-a-real-key-0001',
};
const APP_A = { uid: '1000000000000002', name: 'app-a' };
const APP_B = { uid: '1000000000000003', name: 'app-b' };

let suite = 'sdk';
let passed = 0;
let failed = 0;

function setSuite(name) { suite = name; }

function short(v) {
  let s;
  try { s = typeof v === 'string' ? v : JSON.stringify(v); } catch (e) { s = String(v); }
  if (s === undefined) s = String(v);
  return s.length > 400 ? s.slice(0, 400) + '...' : s;
}

// One case: prints exactly one line, PASS or FAIL with the reason.
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`PASS ${suite}: ${name}`);
  } catch (e) {
    failed++;
    let why = e && e.message ? e.message : String(e);
    if (e && e.code && !(e instanceof assert.AssertionError)) {
      const i = errInfo(e);
      why = `unexpected error code=${i.code} status=${i.status} ${short(e.message)}`;
    }
    console.log(`FAIL ${suite}: ${name}: ${why.replace(/\s*\n\s*/g, ' ')}`);
  }
}

function done() {
  process.exitCode = failed > 0 ? 1 : 0;
}

// ---- assertions -----------------------------------------------------------
function eq(got, want, what) {
  if (got !== want)
    throw new assert.AssertionError({
      message: `${what}: expected ${short(want)}, got ${short(got)}`,
    });
}
function ok(cond, what) {
  if (!cond) throw new assert.AssertionError({ message: what });
}
function isStr(v, what) { ok(typeof v === 'string', `${what}: expected a string, got ${short(v)} (${typeof v})`); }
function isNum(v, what) { ok(typeof v === 'number', `${what}: expected a number, got ${short(v)} (${typeof v})`); }
function isArr(v, what) { ok(Array.isArray(v), `${what}: expected a bare JSON array, got ${short(v)}`); }
// The XML-converted wrapper {"Outer":{"Inner":[...]}}: returns the array.
function wrapped(body, outer, inner) {
  const o = body[outer];
  ok(o !== null && typeof o === 'object' && !Array.isArray(o),
    `${outer}: expected the wrapper object {"${inner}":[...]}, got ${short(o)}`);
  isArr(o[inner], `${outer}.${inner}`);
  return o[inner];
}
function requestId(body, what) {
  ok(typeof body.RequestId === 'string' && body.RequestId.length > 0,
    `${what || 'body'}.RequestId missing: ${short(body)}`);
}

// ---- errors ---------------------------------------------------------------
function errInfo(e) {
  const data = (e && e.data) || {};
  let code = e && e.code;
  if (typeof code === 'string' && data.Code !== undefined && code === `${data.Code}Error`)
    code = data.Code; // rpc-client appends 'Error'
  let status = (e && e.statusCode) || data.statusCode;
  if (status === undefined && e && typeof e.message === 'string') {
    const m = /(?:^|: )code: (\d+),/.exec(e.message);
    if (m) status = Number(m[1]);
  }
  const rid = (e && e.requestId) || data.RequestId;
  return { code, status, requestId: rid, data, rawCode: e && e.code, message: e && e.message };
}

// Awaits p, which must fail with `code` (and `status` when given); checks
// the RequestId of the error body.  Returns the normalised error.
async function expectError(p, code, status, opts) {
  let res;
  try {
    res = await p;
  } catch (e) {
    const i = errInfo(e);
    if (i.code === undefined)
      throw new assert.AssertionError({ message: `expected ${code}, got a non-API error: ${short(e && e.message)}` });
    eq(i.code, code, 'error code');
    if (status !== undefined && status !== null) eq(i.status, status, `HTTP status of ${code}`);
    if (!(opts && opts.noRequestId))
      ok(typeof i.requestId === 'string' && i.requestId.length > 0 && i.requestId !== 'undefined',
        `${code}: error body has no RequestId: ${short(i.data)}`);
    return i;
  }
  throw new assert.AssertionError({ message: `expected error ${code}, got success ${short(res && (res.body || res))}` });
}

// ---- clients ----------------------------------------------------------------
// @alicloud/kms20160120 1.2.0 (V1).  That release derives no endpoint from
// regionId (its product id is unset), so a user sets endpoint, as here.
function kmsV1(cred, region) {
  const C = KmsMod.default;
  return new C(new RpcMod.Config({
    accessKeyId: cred.id,
    accessKeySecret: cred.secret,
    securityToken: cred.token,
    regionId: region,
    endpoint: `kms.${region}.aliyuncs.com`,
  }));
}
// The same client's public doRequest for actions that 1.2.0 predates
// (instances, policies, tags, filters): still its V1 signer, raw map back.
function kmsV1Raw(client, action, params) {
  return client.doRequest(action, 'HTTPS', 'POST', '2016-01-20', 'AK',
    params || {}, null, new (require('@alicloud/tea-util').RuntimeOptions)({}));
}

// @alicloud/openapi-client generic client.  sig 'v3' (default,
// ACS3-HMAC-SHA256 through doRequest) or 'v1' (signatureAlgorithm 'v2' selects
// doRPCRequest, HMAC-SHA1).
function generic(cred, endpoint, sig) {
  const cfg = {
    accessKeyId: cred.id,
    accessKeySecret: cred.secret,
    endpoint,
  };
  if (cred.token) cfg.securityToken = cred.token;
  if (sig === 'v1') cfg.signatureAlgorithm = 'v2';
  return new OC.default(new OC.Config(cfg));
}
// An RPC action through callApi, parameters in the query (how the generated
// SDKs send RPC parameters) or, with inBody, as a form body.  Returns the
// {body, headers, statusCode} of callApi.
function rpc(client, action, version, params, inBody) {
  const p = new OC.Params({
    action, version, protocol: 'HTTPS', pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  const q = OpenApiUtil.query(params || {});
  const req = inBody ? new OC.OpenApiRequest({ body: q })
                     : new OC.OpenApiRequest({ query: q });
  return client.callApi(p, req, new (require('@alicloud/tea-util').RuntimeOptions)({}));
}

function coreConfig(cred, extra) {
  const cfg = Object.assign({
    accessKeyId: cred.id,
    accessKeySecret: cred.secret,
  }, extra || {});
  if (cred.token) cfg.securityToken = cred.token;
  return new Core.$OpenApiUtil.Config(cfg);
}

// The KMS V3 transport: generic client on kms.<region>.aliyuncs.com.
function kmsV3(cred, region) { return generic(cred, `kms.${region}.aliyuncs.com`, 'v3'); }
async function kmsCallV3(client, action, params, inBody) {
  const r = await rpc(client, action, '2016-01-20', params, inBody);
  eq(r.statusCode, 200, `${action} HTTP status`);
  return r.body;
}

// ---- kmsim's own admin paths (not cloud APIs; test setup only) -------------
function admin(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? '' : JSON.stringify(body);
    const req = https.request({
      host: 'kms.cn-hangzhou.aliyuncs.com', port: 443, path, method,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      let s = '';
      res.on('data', (c) => { s += c; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`admin ${path}: ${res.statusCode} ${s}`));
        try { resolve(JSON.parse(s)); } catch (e) { resolve(s); }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = {
  MGMT, APP_A, APP_B, KmsMod, RpcMod, OC, OpenApiUtil, $tea, Core,
  setSuite, check, done, eq, ok, isStr, isNum, isArr, wrapped, requestId,
  errInfo, expectError, kmsV1, kmsV1Raw, generic, rpc, coreConfig, kmsV3,
  kmsCallV3, admin, sleep, short,
  stats: () => ({ passed, failed }),
};
