// CloudMonitor cms 2019-01-01 (@alicloud/cms20190101: DescribeMetricList,
// DescribeMetricLast) and ActionTrail 2020-07-06 LookupEvents (no npm SDK:
// the generic openapi-client, RPC style, V3 and V1) over traffic this script
// sends to kmsim first.  Reference §6; metric names (requests, code_4xx_1m,
// ...) are kmsim's documented choice (the vendor's are UNCONFIRMED).
'use strict';

const H = require('./lib/harness');
const { MGMT, check, eq, ok, isStr, isNum, isArr, expectError } = H;
const Cms = require('@alicloud/cms20190101');

const R = 'cn-hangzhou';
const KEY = '857dcfe1-085f-2a00-222d-a32b3f3c4344';
const AT_VERSION = '2020-07-06';

async function main() {
  H.setSuite('observe');
  await H.admin('POST', '/_kmsim/faults', { throttle: 'off' });
  const t0 = Date.now() - 2000;
  const v3 = H.kmsV3(MGMT, R);
  const ids = [];
  let errId;
  // traffic to observe: 5 DescribeKey and one 404
  await check('traffic: 5 DescribeKey + 1 unknown key (404) on the shared gateway', async () => {
    for (let n = 0; n < 5; n++) {
      const r = await H.rpc(v3, 'DescribeKey', '2016-01-20', { KeyId: KEY });
      ids.push(r.body.RequestId);
    }
    const i = await expectError(H.kmsCallV3(v3, 'DescribeKey', { KeyId: '0e2e4745-5ea0-9d17-d981-d4f3207a551d' }), 'Forbidden.KeyNotFound', 404);
    errId = i.requestId;
  });

  // ---- CloudMonitor ----------------------------------------------------------
  const cms = new Cms.default(H.coreConfig(MGMT, { regionId: R }));
  const window = () => ({ startTime: String(t0 - 3600e3), endTime: String(Date.now() + 1000) });
  await check('cms20190101 DescribeMetricList acs_kms requests (Datapoints is a JSON string)', async () => {
    const r = await cms.describeMetricList(new Cms.DescribeMetricListRequest(Object.assign({
      namespace: 'acs_kms', metricName: 'requests', period: '60',
    }, window())));
    eq(r.statusCode, 200, 'statusCode');
    const b = r.body;
    eq(b.code, '200', 'code');
    eq(b.success, true, 'success');
    eq(b.period, '60', 'period');
    isStr(b.requestId, 'requestId');
    isStr(b.datapoints, 'datapoints (JSON-encoded string)');
    const dps = JSON.parse(b.datapoints);
    isArr(dps, 'parsed datapoints');
    ok(dps.length > 0, 'no datapoints');
    for (const p of dps) { isNum(p.timestamp, 'timestamp'); isNum(p.Average, 'Average'); ok(p.timestamp % 60000 === 0, `timestamp ${p.timestamp} not on the period`); }
    const total = dps.reduce((s, p) => s + (p.Sum !== undefined ? p.Sum : p.Average), 0);
    ok(total >= 6, `requests counted ${total} < the 6 sent`);
  });
  await check('cms20190101 DescribeMetricList code_4xx_1m counts the 404', async () => {
    const r = await cms.describeMetricList(new Cms.DescribeMetricListRequest(Object.assign({
      namespace: 'acs_kms', metricName: 'code_4xx_1m', period: '60',
    }, window())));
    const dps = JSON.parse(r.body.datapoints);
    ok(dps.reduce((s, p) => s + p.Maximum, 0) >= 1, `4xx datapoints: ${H.short(dps)}`);
  });
  await check('cms20190101 DescribeMetricLast acs_kms requests', async () => {
    const r = await cms.describeMetricLast(new Cms.DescribeMetricLastRequest(Object.assign({
      namespace: 'acs_kms', metricName: 'requests', period: '60',
    }, window())));
    eq(r.body.code, '200', 'code');
    const dps = JSON.parse(r.body.datapoints);
    eq(dps.length, 1, 'last datapoint only');
  });
  await check('cms20190101 DescribeMetricList Period 30 -> InvalidParameter', async () => {
    await expectError(cms.describeMetricList(new Cms.DescribeMetricListRequest({
      namespace: 'acs_kms', metricName: 'requests', period: '30',
    })), 'InvalidParameter', 400);
  });
  await check('cms20190101 DescribeMetricList without MetricName (generic V3) -> MissingParameter', async () => {
    const g = H.generic(MGMT, `metrics.${R}.aliyuncs.com`, 'v3');
    await expectError(H.rpc(g, 'DescribeMetricList', '2019-01-01', { Namespace: 'acs_kms' }), 'MissingParameter', 400);
  });
  await check('cms20190101 unknown metric -> ResourceNotFound (kmsim choice)', async () => {
    await expectError(cms.describeMetricList(new Cms.DescribeMetricListRequest({
      namespace: 'acs_kms', metricName: 'no_such_metric',
    })), 'ResourceNotFound');
  });

  // ---- ActionTrail -------------------------------------------------------------
  const at3 = H.generic(MGMT, `actiontrail.${R}.aliyuncs.com`, 'v3');
  const at1 = H.generic(MGMT, `actiontrail.${R}.aliyuncs.com`, 'v1');
  for (const [t, at] of [['V3', at3], ['V1', at1]]) {
    await check(`${t} LookupEvents EventName=DescribeKey AND ResourceName=<key>`, async () => {
      const r = await H.rpc(at, 'LookupEvents', AT_VERSION, {
        LookupAttribute: [{ Key: 'EventName', Value: 'DescribeKey' }, { Key: 'ResourceName', Value: KEY }],
        MaxResults: 50,
      });
      const b = r.body;
      H.requestId(b);
      isArr(b.Events, 'Events (bare array)');
      isStr(b.StartTime, 'StartTime');
      isStr(b.EndTime, 'EndTime');
      const got = b.Events.map((e) => e.requestId);
      for (const id of ids) ok(got.includes(id), `request ${id} not in the trail`);
      const e = b.Events.find((x) => x.requestId === ids[0]);
      eq(e.eventName, 'DescribeKey', 'eventName');
      eq(e.serviceName, 'Kms', 'serviceName');
      eq(e.acsRegion, R, 'acsRegion');
      eq(e.eventRW, 'Read', 'eventRW');
      eq(e.apiVersion, '2016-01-20', 'apiVersion');
      eq(e.eventSource, `kms.${R}.aliyuncs.com`, 'eventSource');
      eq(e.userIdentity.accountId, MGMT.uid, 'userIdentity.accountId');
      eq(e.userIdentity.accessKeyId, MGMT.id, 'userIdentity.accessKeyId');
      ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(e.eventTime), `eventTime ${e.eventTime}`);
    });
  }
  await check('V3 LookupEvents EventId of the failed call carries errorCode', async () => {
    const r = await H.rpc(at3, 'LookupEvents', AT_VERSION, { LookupAttribute: [{ Key: 'EventId', Value: errId }] });
    eq(r.body.Events.length, 1, 'events');
    eq(r.body.Events[0].errorCode, 'Forbidden.KeyNotFound', 'errorCode');
  });
  await check('V3 LookupEvents MaxResults 2 pages with NextToken', async () => {
    const p = { LookupAttribute: [{ Key: 'ResourceName', Value: KEY }], MaxResults: 2 };
    const a = await H.rpc(at3, 'LookupEvents', AT_VERSION, p);
    eq(a.body.Events.length, 2, 'page 1');
    ok(typeof a.body.NextToken === 'string' && a.body.NextToken !== '', 'NextToken on page 1');
    const b = await H.rpc(at3, 'LookupEvents', AT_VERSION, Object.assign({ NextToken: a.body.NextToken }, p));
    eq(b.body.Events.length, 2, 'page 2');
    ok(b.body.Events[0].eventId !== a.body.Events[0].eventId, 'page 2 repeats page 1');
  });
  await check('V3 LookupEvents StartTime without EndTime -> MissingParameter', async () => {
    await expectError(H.rpc(at3, 'LookupEvents', AT_VERSION, { StartTime: new Date(t0).toISOString().replace(/\.\d+Z$/, 'Z') }), 'MissingParameter', 400);
  });
}

main().catch((e) => { console.log(`FAIL observe: script aborted: ${e && e.stack}`); process.exitCode = 1; })
  .then(() => { if (!process.exitCode) H.done(); });
