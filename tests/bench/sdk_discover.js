// The discovery of one account x region written with the OFFICIAL Node.js SDK
// (@alicloud/kms20160120 1.2.0 as pinned by tests/conformance/package.json),
// the way a user would write it, making the same calls as `kmsmig plan`
// (plugins/share/share.c, plugins/keys/keys.c, plugins/secrets/secrets.c):
//
//   share    GetKmsInstance, GetKmsInstanceQuotaInfos (KmsInstanceId),
//            GetDefaultKmsInstance, ListSecrets Filters DKMSInstanceId (the
//            names already in the instance; pages while TotalCount says so)
//   keys     ListKeys Filters CreatorType=User, then =Service, 100 a page,
//            page 1 then the other pages at once from TotalCount;
//            ListAliases, 100 a page, every page (each alias names its
//            KeyId); DescribeKey of every key; ListKeyVersions (page 1: the
//            count comes from TotalCount) of a user key whose DescribeKey
//            shows a rotation (LastRotationDate other than CreationDate)
//   secrets  ListSecrets FetchTags=false, 100 a page, page 1 then the rest;
//            DescribeSecret of every secret
//
// The three parts run one after the other, as kmsmig's plugins do, each with
// at most --concurrency calls in flight (kmsmig: 32 per plugin stage).  The
// typed client methods are used where 1.2.0 has them (listKeys has no
// Filters in 1.2.0, so ListKeys goes through the same client's doRequest and
// is cast to the typed ListKeysResponse exactly as listKeysEx does; the
// instance actions postdate 1.2.0 and come back as the raw map).
// Answers are kept in an in-memory inventory, as a real tool would.
//
// The SDK is configured only as a user configures it: AccessKey
// (ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET, the variables kmsmig reads), regionId,
// endpoint kms.<region>.aliyuncs.com, protocol http or https.  The host name
// must reach kmsim: tests/bench/client_cost.py runs this script inside a
// private network namespace where it resolves to 127.0.0.1 and kmsim's test
// CA is trusted through NODE_EXTRA_CA_CERTS.
//
// usage: node sdk_discover.js --region R --instance KST [--protocol http|https]
//          [--concurrency 32] [--qps N]
//   --qps N   pace each API group (key-read, secret-meta, instance-read) to N
//             calls/s with kmsmig's token bucket (default 0: unpaced, as
//             client_cost.py runs it by default; --regime paced passes 50,
//             the published key-read QPS that kmsmig keeps to and a client of
//             the real service must too)
// Prints one JSON line: calls by action, inventory sizes, max in flight.
'use strict';

const path = require('path');

const MODS = path.join(__dirname, '..', 'conformance', 'node_modules');
const KmsMod = require(path.join(MODS, '@alicloud/kms20160120'));
const RpcMod = require(path.join(MODS, '@alicloud/rpc-client'));
const $tea = require(path.join(MODS, '@alicloud/tea-typescript'));
const $Util = require(path.join(MODS, '@alicloud/tea-util'));

const PAGE = 100;

function args() {
  const a = { protocol: 'https', concurrency: 32, qps: 0 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i];
    if (k === '--region') a.region = v[++i];
    else if (k === '--instance') a.instance = v[++i];
    else if (k === '--protocol') a.protocol = v[++i];
    else if (k === '--concurrency') a.concurrency = Number(v[++i]);
    else if (k === '--qps') a.qps = Number(v[++i]);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.region || !a.instance) throw new Error('--region and --instance are required');
  if (a.protocol !== 'http' && a.protocol !== 'https') throw new Error('--protocol http|https');
  return a;
}

// API group of an action, as kmsmig's limiter groups them
// (core/src/engine/ratelimit.c); only used with --qps.
const GROUP = {
  GetKmsInstance: 'instance-read', GetKmsInstanceQuotaInfos: 'instance-read',
  GetDefaultKmsInstance: 'instance-read', ListSecrets: 'secret-meta',
  DescribeSecret: 'secret-meta',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A FIFO of calls with at most `max` in flight (waiting for a pace slot
// counts as in flight, as in kmsmig), and an optional pace per API group.
class Pool {
  constructor(max, qps, stats, buckets) {
    this.max = max;
    this.qps = qps;
    this.stats = stats;
    this.buckets = buckets;
    this.q = [];
    this.inflight = 0;
    this.idle = null;
  }
  add(action, fn) {
    this.q.push([action, fn]);
    this.pump();
  }
  // kmsmig's bucket (core/src/engine/ratelimit.c): created with 1 token on
  // first use, refilled at qps, at most qps tokens (1 s of burst); waiters
  // served in order (a reservation may take the count below 0).
  async pace(action) {
    if (!this.qps) return;
    const g = GROUP[action] || 'key-read';
    const now = Date.now();
    let b = this.buckets[g];
    if (!b) b = this.buckets[g] = { tokens: 1, last: now };
    b.tokens = Math.min(this.qps, b.tokens + (now - b.last) * this.qps / 1000);
    b.last = now;
    b.tokens -= 1;
    if (b.tokens < 0) await sleep(-b.tokens / this.qps * 1000);
  }
  pump() {
    while (this.inflight < this.max && this.q.length > 0) {
      const [action, fn] = this.q.shift();
      this.inflight++;
      if (this.inflight > this.stats.maxInflight) this.stats.maxInflight = this.inflight;
      this.pace(action)
        .then(() => {
          this.stats.byAction[action] = (this.stats.byAction[action] || 0) + 1;
          this.stats.calls++;
          return fn();
        })
        .catch((e) => {
          this.stats.errors++;
          if (this.stats.firstError === null)
            this.stats.firstError = `${action}: ${e && e.code} ${e && e.message}`;
        })
        .finally(() => {
          this.inflight--;
          this.pump();
          if (this.inflight === 0 && this.q.length === 0 && this.idle) {
            const r = this.idle;
            this.idle = null;
            r();
          }
        });
    }
  }
  drain() {
    if (this.inflight === 0 && this.q.length === 0) return Promise.resolve();
    return new Promise((r) => { this.idle = r; });
  }
}

async function main() {
  const a = args();
  const client = new KmsMod.default(new RpcMod.Config({
    accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID,
    accessKeySecret: process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    regionId: a.region,
    endpoint: `kms.${a.region}.aliyuncs.com`,
    protocol: a.protocol,
  }));
  const buckets = {}; // one per API group, for the whole discovery
  const stats = { calls: 0, byAction: {}, maxInflight: 0, errors: 0, firstError: null };
  const runtime = () => new $Util.RuntimeOptions({});
  // The client's own V1 transport for what 1.2.0 has no typed method (or no
  // Filters parameter) for; the protocol argument is overridden by
  // Config.protocol, as in the typed methods.
  const raw = (action, params) =>
    client.doRequest(action, 'HTTPS', 'POST', '2016-01-20', 'AK', params, null, runtime());

  const inv = {
    instance: null, quota: null, defaultInstance: null, destSecrets: new Set(),
    keys: new Map(), secrets: new Map(),
  };
  const t0 = Date.now();

  // ---- share: the destination instance --------------------------------------
  let pool = new Pool(a.concurrency, a.qps, stats, buckets);
  pool.add('GetKmsInstance', async () => {
    inv.instance = (await raw('GetKmsInstance', { KmsInstanceId: a.instance })).KmsInstance;
  });
  pool.add('GetKmsInstanceQuotaInfos', async () => {
    inv.quota = (await raw('GetKmsInstanceQuotaInfos', { KmsInstanceId: a.instance })).KmsInstanceQuotaInfos;
  });
  pool.add('GetDefaultKmsInstance', async () => {
    inv.defaultInstance = (await raw('GetDefaultKmsInstance', {})).DefaultKmsInstanceId || '';
  });
  const destFilter = JSON.stringify([{ Key: 'DKMSInstanceId', Values: [a.instance] }]);
  const listDest = (page) => pool.add('ListSecrets', async () => {
    const b = await raw('ListSecrets', { PageNumber: String(page), PageSize: String(PAGE), Filters: destFilter });
    const s = (b.SecretList && b.SecretList.Secret) || [];
    for (const x of s) inv.destSecrets.add(x.SecretName);
    if (s.length > 0 && b.TotalCount > page * PAGE) listDest(page + 1);
  });
  listDest(1);
  await pool.drain();

  // ---- keys ----------------------------------------------------------------
  pool = new Pool(a.concurrency, a.qps, stats, buckets);
  const filters = {
    User: JSON.stringify([{ Key: 'CreatorType', Values: ['User'] }]),
    Service: JSON.stringify([{ Key: 'CreatorType', Values: ['Service'] }]),
  };
  // The pages after `page` to ask for (kmsmig's more_pages): all the others
  // at once from page 1 when TotalCount is known, else the next one while
  // pages come back full.
  const morePages = (total, got, page) => {
    const out = [];
    if (typeof total === 'number') {
      if (page === 1) for (let p = 2; p <= Math.ceil(total / PAGE); p++) out.push(p);
    } else if (got >= PAGE) {
      out.push(page + 1);
    }
    return out;
  };
  const describeKey = (id) => pool.add('DescribeKey', async () => {
    const r = await client.describeKey(new KmsMod.DescribeKeyRequest({ keyId: id }));
    const k = inv.keys.get(id);
    k.meta = r.keyMetadata;
    const m = r.keyMetadata || {};
    if (k.creator === 'User') {
      if (m.creationDate && m.creationDate === m.lastRotationDate) k.versions = 1;
      else keyVersions(id, 1);
    }
  });
  const keyVersions = (id, page) => pool.add('ListKeyVersions', async () => {
    const r = await client.listKeyVersions(new KmsMod.ListKeyVersionsRequest({ keyId: id, pageNumber: page, pageSize: PAGE }));
    const k = inv.keys.get(id);
    const got = (r.keyVersions && r.keyVersions.keyVersion) || [];
    if (typeof r.totalCount === 'number') {
      k.versions = r.totalCount;
    } else {
      k.versions = (k.versions || 0) + got.length;
      if (got.length >= PAGE) keyVersions(id, page + 1);
    }
  });
  const aliasesSeen = [];
  const listAliases = (page) => pool.add('ListAliases', async () => {
    const r = await client.listAliases(new KmsMod.ListAliasesRequest({ pageNumber: page, pageSize: PAGE }));
    const got = (r.aliases && r.aliases.alias) || [];
    for (const x of got) aliasesSeen.push(x);
    for (const p of morePages(r.totalCount, got.length, page)) listAliases(p);
  });
  const listKeys = (creator, page) => pool.add('ListKeys', async () => {
    const req = new KmsMod.ListKeysRequest({ pageNumber: page, pageSize: PAGE });
    $Util.default.validateModel(req);
    const params = Object.assign($tea.toMap(req), { Filters: filters[creator] });
    const r = $tea.cast(await raw('ListKeys', params), new KmsMod.ListKeysResponse({}));
    const got = (r.keys && r.keys.key) || [];
    for (const x of got) {
      if (inv.keys.has(x.keyId)) continue;
      inv.keys.set(x.keyId, { creator, arn: x.keyArn, meta: null, versions: 0, aliases: [] });
      describeKey(x.keyId);
    }
    for (const p of morePages(r.totalCount, got.length, page)) listKeys(creator, p);
  });
  listKeys('User', 1);
  listKeys('Service', 1);
  listAliases(1);
  await pool.drain();
  for (const x of aliasesSeen) {
    const k = inv.keys.get(x.keyId);
    if (k) k.aliases.push(x.aliasName);
  }

  // ---- secrets ---------------------------------------------------------------
  pool = new Pool(a.concurrency, a.qps, stats, buckets);
  const describeSecret = (name) => pool.add('DescribeSecret', async () => {
    const r = await client.describeSecret(new KmsMod.DescribeSecretRequest({ secretName: name }));
    inv.secrets.set(name, r);
  });
  const listSecrets = (page) => pool.add('ListSecrets', async () => {
    const r = await client.listSecrets(new KmsMod.ListSecretsRequest({ fetchTags: 'false', pageNumber: page, pageSize: PAGE }));
    const got = (r.secretList && r.secretList.secret) || [];
    for (const x of got) {
      if (inv.secrets.has(x.secretName)) continue;
      inv.secrets.set(x.secretName, null);
      describeSecret(x.secretName);
    }
    for (const p of morePages(r.totalCount, got.length, page)) listSecrets(p);
  });
  listSecrets(1);
  await pool.drain();

  let user = 0, service = 0, described = 0;
  for (const k of inv.keys.values()) {
    if (k.creator === 'User') user++; else service++;
    if (k.meta) described++;
  }
  let secretsDescribed = 0;
  for (const s of inv.secrets.values()) if (s) secretsDescribed++;
  console.log(JSON.stringify(Object.assign(stats, {
    wall_s: (Date.now() - t0) / 1000,
    user_keys: user, service_keys: service, keys_described: described,
    secrets: inv.secrets.size, secrets_described: secretsDescribed,
    dest_secrets: inv.destSecrets.size,
    instance: inv.instance ? inv.instance.KmsInstanceId : null,
  })));
  if (stats.errors > 0) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`sdk_discover: ${e && e.stack ? e.stack : e}`);
  process.exitCode = 1;
});
