// Errors the real service gives, as the official SDKs surface them: code
// (err.code; rpc-client appends 'Error', normalised by harness.errInfo), HTTP
// status and the POP error body {RequestId, HostId, Code, Message, Recommend}
// (reference §5, §9; kmsim choices per docs/kmsim.md).  Ends with the
// throttling case (published QPS re-enabled for a burst, then off again).
'use strict';

const H = require('./lib/harness');
const { MGMT, KmsMod, Core, check, eq, ok, expectError } = H;

const R = 'cn-hangzhou';
const KEY = '10851a59-9470-3082-75c0-aca0a2ba495d';
const BAD_SECRET = { id: MGMT.id, secret: 'not-the-secret' };
const UNKNOWN_AK = { id: 'KSIMNOSUCHACCESSKEY1', secret: MGMT.secret };

function popBody(i, code) {
  const d = i.data;
  eq(d.Code, code, 'body Code');
  H.isStr(d.Message, 'body Message');
  eq(d.HostId, `kms.${R}.aliyuncs.com`, 'body HostId');
  ok(typeof d.Recommend === 'string' && d.Recommend.includes(code), `body Recommend: ${d.Recommend}`);
}

async function main() {
  H.setSuite('errors');
  await H.admin('POST', '/_kmsim/faults', { throttle: 'off' });
  const v1ok = H.kmsV1(MGMT, R);
  const v3ok = H.kmsV3(MGMT, R);

  // ---- authentication ------------------------------------------------------
  await check('V1 (kms20160120) wrong AccessKey secret -> SignatureDoesNotMatch 400 with server string to sign', async () => {
    const c = H.kmsV1(BAD_SECRET, R);
    const i = await expectError(c.describeKey(new KmsMod.DescribeKeyRequest({ keyId: KEY })), 'SignatureDoesNotMatch', 400);
    eq(i.rawCode, 'SignatureDoesNotMatchError', 'rpc-client err.code');
    ok(/server string to sign is:POST&%2F&/.test(i.data.Message), `Message: ${i.data.Message}`);
    popBody(i, 'SignatureDoesNotMatch');
  });
  await check('V3 (openapi-client) wrong AccessKey secret -> SignatureDoesNotMatch 400', async () => {
    const i = await expectError(H.kmsCallV3(H.kmsV3(BAD_SECRET, R), 'DescribeKey', { KeyId: KEY }), 'SignatureDoesNotMatch', 400);
    ok(/server string to sign is:/.test(i.data.Message), `Message: ${i.data.Message}`);
    popBody(i, 'SignatureDoesNotMatch');
  });
  await check('V1 (openapi-client doRPCRequest) wrong AccessKey secret -> SignatureDoesNotMatch 400', async () => {
    const c = H.generic(BAD_SECRET, `kms.${R}.aliyuncs.com`, 'v1');
    await expectError(H.rpc(c, 'DescribeKey', '2016-01-20', { KeyId: KEY }), 'SignatureDoesNotMatch', 400);
  });
  await check('openapi-core (resourcemanager SDK) wrong secret -> ClientError SignatureDoesNotMatch 400', async () => {
    const RM = require('@alicloud/resourcemanager20200331');
    const c = new RM.default(H.coreConfig(BAD_SECRET, { regionId: R }));
    const i = await expectError(c.listAccounts(new RM.ListAccountsRequest({})), 'SignatureDoesNotMatch', 400);
    ok(i.requestId && i.requestId !== 'undefined', 'err.requestId');
  });
  await check('V1 unknown AccessKeyId -> InvalidAccessKeyId.NotFound 404', async () => {
    const i = await expectError(H.kmsV1(UNKNOWN_AK, R).listKeys(new KmsMod.ListKeysRequest({})), 'InvalidAccessKeyId.NotFound', 404);
    popBody(i, 'InvalidAccessKeyId.NotFound');
  });
  await check('V3 unknown AccessKeyId -> InvalidAccessKeyId.NotFound 404', async () => {
    await expectError(H.kmsCallV3(H.kmsV3(UNKNOWN_AK, R), 'ListKeys', {}), 'InvalidAccessKeyId.NotFound', 404);
  });
  await check('openapi-core (sts SDK) unknown AccessKeyId -> InvalidAccessKeyId.NotFound 404', async () => {
    const Sts = require('@alicloud/sts20150401');
    const c = new Sts.default(H.coreConfig(UNKNOWN_AK, { regionId: R }));
    const i = await expectError(c.getCallerIdentity(), 'InvalidAccessKeyId.NotFound', 404);
    ok(i.rawCode === 'InvalidAccessKeyId.NotFound', `err.code ${i.rawCode}`);
  });

  // ---- parameters --------------------------------------------------------------
  await check('V1 DescribeKey without KeyId -> MissingParameter 400', async () => {
    const i = await expectError(v1ok.describeKey(new KmsMod.DescribeKeyRequest({})), 'MissingParameter', 400);
    ok(/KeyId/.test(i.data.Message), `Message names KeyId: ${i.data.Message}`);
  });
  await check('V3 UpdateRotationPolicy without EnableAutomaticRotation -> MissingParameter 400', async () => {
    await expectError(H.kmsCallV3(v3ok, 'UpdateRotationPolicy', { KeyId: KEY }), 'MissingParameter', 400);
  });
  await check('V3 UpdateRotationPolicy enable without RotationInterval -> MissingParameter 400', async () => {
    await expectError(H.kmsCallV3(v3ok, 'UpdateRotationPolicy', { KeyId: 'a65819e8-3dff-29b8-89aa-e84c5aae5c3b', EnableAutomaticRotation: 'true' }), 'MissingParameter', 400);
  });
  await check('V3 ListTagResources without ResourceType -> MissingParameter 400', async () => {
    await expectError(H.kmsCallV3(v3ok, 'ListTagResources', { RegionId: R }), 'MissingParameter', 400);
  });
  await check('V1 ListKeys PageSize 101 -> InvalidParameter 400', async () => {
    await expectError(v1ok.listKeys(new KmsMod.ListKeysRequest({ pageSize: 101 })), 'InvalidParameter', 400);
  });
  await check('V3 ListKeys Filters not JSON -> InvalidParameter 400', async () => {
    await expectError(H.kmsCallV3(v3ok, 'ListKeys', { Filters: '[{"Key":"KeyState"' }), 'InvalidParameter', 400);
  });
  await check('V3 GetKmsInstanceQuotaInfos ResourceType=disk -> InvalidParameter 400', async () => {
    await expectError(H.kmsCallV3(v3ok, 'GetKmsInstanceQuotaInfos', { KmsInstanceId: 'kst-hzz6500a1b2c3d4e5f6', ResourceType: 'disk' }), 'InvalidParameter', 400);
  });
  await check('V1 UpdateRotationPolicy RotationInterval 30x -> InvalidParameter 400', async () => {
    await expectError(H.kmsV1Raw(v1ok, 'UpdateRotationPolicy', { KeyId: 'a65819e8-3dff-29b8-89aa-e84c5aae5c3b', EnableAutomaticRotation: 'true', RotationInterval: '30x' }), 'InvalidParameter', 400);
  });

  // ---- not found -------------------------------------------------------------------
  await check('V1 DescribeKey unknown key -> Forbidden.KeyNotFound 404', async () => {
    const i = await expectError(v1ok.describeKey(new KmsMod.DescribeKeyRequest({ keyId: 'e021c7a8-16b1-9602-d217-e498f9cdf290' })), 'Forbidden.KeyNotFound', 404);
    eq(i.rawCode, 'Forbidden.KeyNotFoundError', 'rpc-client err.code');
    popBody(i, 'Forbidden.KeyNotFound');
  });
  await check('V3 DescribeKey unknown key -> Forbidden.KeyNotFound 404', async () => {
    await expectError(H.kmsCallV3(v3ok, 'DescribeKey', { KeyId: 'e021c7a8-16b1-9602-d217-e498f9cdf290' }), 'Forbidden.KeyNotFound', 404);
  });
  await check('V3 DescribeKey of a cn-shanghai key on the cn-hangzhou endpoint -> Forbidden.KeyNotFound', async () => {
    await expectError(H.kmsCallV3(v3ok, 'DescribeKey', { KeyId: '518f3e74-7089-97dd-ebb5-2158b2d9c447' }), 'Forbidden.KeyNotFound', 404);
  });
  await check('V3 DescribeKey unknown alias -> Forbidden.AliasNotFound 404', async () => {
    await expectError(H.kmsCallV3(v3ok, 'DescribeKey', { KeyId: 'alias/no-such-alias' }), 'Forbidden.AliasNotFound', 404);
  });
  await check('V1 ListKeyVersions unknown key -> Forbidden.KeyNotFound 404', async () => {
    await expectError(v1ok.listKeyVersions(new KmsMod.ListKeyVersionsRequest({ keyId: 'e021c7a8-16b1-9602-d217-e498f9cdf290' })), 'Forbidden.KeyNotFound', 404);
  });
  await check('V1 DescribeSecret unknown secret -> Forbidden.ResourceNotFound 404', async () => {
    await expectError(v1ok.describeSecret(new KmsMod.DescribeSecretRequest({ secretName: 'no/such/secret' })), 'Forbidden.ResourceNotFound', 404);
  });
  await check('V3 GetKeyPolicy PolicyName other than default -> Forbidden.ResourceNotFound 404', async () => {
    await expectError(H.kmsCallV3(v3ok, 'GetKeyPolicy', { KeyId: KEY, PolicyName: 'custom' }), 'Forbidden.ResourceNotFound', 404);
  });

  // ---- state conflicts ------------------------------------------------------------
  await check('V3 UpdateRotationPolicy on a Disabled key -> Rejected.Disabled 409', async () => {
    await expectError(H.kmsCallV3(v3ok, 'UpdateRotationPolicy', { KeyId: 'cb097b91-124a-1e69-4df9-ec1d297945c5', EnableAutomaticRotation: 'true', RotationInterval: '30d' }), 'Rejected.Disabled', 409);
  });
  await check('V1 UpdateRotationPolicy on a service key -> Forbidden.NoPermission 403', async () => {
    await expectError(H.kmsV1Raw(v1ok, 'UpdateRotationPolicy', { KeyId: '822bf22f-24ef-a6c2-b07d-a14fc1de5f0c', EnableAutomaticRotation: 'true', RotationInterval: '30d' }), 'Forbidden.NoPermission', 403);
  });
  await check('V3 UpdateRotationPolicy on an asymmetric key -> Rejected.UnsupportedOperation 400', async () => {
    await expectError(H.kmsCallV3(v3ok, 'UpdateRotationPolicy', { KeyId: 'e4e1eae1-119e-866c-daa0-f74563bd90dd', EnableAutomaticRotation: 'true', RotationInterval: '30d' }), 'Rejected.UnsupportedOperation', 400);
  });

  // ---- gateway ------------------------------------------------------------------------
  await check('V1 unknown action -> InvalidAction.NotFound 404', async () => {
    await expectError(H.kmsV1Raw(v1ok, 'DescribeKeyz', { KeyId: KEY }), 'InvalidAction.NotFound', 404);
  });
  await check('V3 unknown action -> InvalidAction.NotFound 404', async () => {
    const i = await expectError(H.kmsCallV3(v3ok, 'MigrateKeyToInstance', { KeyId: KEY }), 'InvalidAction.NotFound', 404);
    popBody(i, 'InvalidAction.NotFound');
  });
  await check('V3 wrong Version -> InvalidVersion 400', async () => {
    await expectError(H.rpc(v3ok, 'DescribeKey', '2015-01-01', { KeyId: KEY }), 'InvalidVersion', 400);
  });

  // ---- throttling (last: re-enables the published QPS for a burst) ---------------------
  // A 1 QPS limit, not the published 50: 80 parallel calls can spread over more
  // than a second on a loaded machine, 20 calls over 20 seconds cannot.
  await check('V3 burst over a 1 QPS key-read limit -> Rejected.Throttling 429', async () => {
    await H.admin('POST', '/_kmsim/faults', { throttle: { 'key-read': 1 } });
    try {
      const calls = [];
      for (let n = 0; n < 20; n++) calls.push(H.kmsCallV3(v3ok, 'DescribeKey', { KeyId: KEY }).then(() => null, (e) => e));
      const errs = (await Promise.all(calls)).filter((e) => e !== null);
      ok(errs.length > 0, 'no request of 20 parallel was throttled');
      const i = H.errInfo(errs[0]);
      eq(i.code, 'Rejected.Throttling', 'code');
      eq(i.status, 429, 'HTTP status');
      ok(errs.every((e) => H.errInfo(e).code === 'Rejected.Throttling'), 'other error codes in the burst');
    } finally {
      await H.admin('POST', '/_kmsim/faults', { throttle: 'off' });
    }
  });
  await check('V1 (kms20160120) throttled request surfaces Rejected.ThrottlingError', async () => {
    await H.admin('POST', '/_kmsim/faults', { throttle: { 'key-read': 1 } });
    try {
      const calls = [];
      for (let n = 0; n < 5; n++) calls.push(v1ok.describeKey(new KmsMod.DescribeKeyRequest({ keyId: KEY })).then(() => null, (e) => e));
      const errs = (await Promise.all(calls)).filter((e) => e !== null);
      ok(errs.length > 0, 'nothing throttled at 1 QPS');
      eq(errs[0].code, 'Rejected.ThrottlingError', 'rpc-client err.code');
      eq(H.errInfo(errs[0]).status, 429, 'HTTP status');
    } finally {
      await H.admin('POST', '/_kmsim/faults', { throttle: 'off' });
    }
  });
  void Core;
}

main().catch((e) => { console.log(`FAIL errors: script aborted: ${e && e.stack}`); process.exitCode = 1; })
  .then(() => { if (!process.exitCode) H.done(); });
