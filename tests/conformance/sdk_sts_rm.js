// STS 2015-04-01 (@alicloud/sts20150401 and the generic client, V1) and
// ResourceManager 2020-03-31 (@alicloud/resourcemanager20200331) against
// kmsim; the STS credentials then drive KMS as the member (kms20160120 V1 and
// openapi-client V3).  Runs LAST: its final case advances kmsim's clock
// (POST /_kmsim/clock) to expire a token.  Reference §3.
'use strict';

const H = require('./lib/harness');
const { MGMT, APP_A, APP_B, KmsMod, check, eq, ok, isStr, isNum, expectError } = H;
const Sts = require('@alicloud/sts20150401');
const RM = require('@alicloud/resourcemanager20200331');

const R = 'cn-hangzhou';
const ROLE = (uid) => `acs:ram::${uid}:role/ResourceDirectoryAccountAccessRole`;

async function main() {
  H.setSuite('sts-rm');
  await H.admin('POST', '/_kmsim/faults', { throttle: 'off' });
  const sts = new Sts.default(H.coreConfig(MGMT, { regionId: R }));
  let credA; // app-a STS credentials
  let credB;

  // ---- AssumeRole -------------------------------------------------------------
  await check('sts20150401 AssumeRole into app-a (typed body.credentials, assumedRoleUser)', async () => {
    const r = await sts.assumeRole(new Sts.AssumeRoleRequest({
      roleArn: ROLE(APP_A.uid), roleSessionName: 'kmsmig-conformance', durationSeconds: 900,
    }));
    eq(r.statusCode, 200, 'statusCode');
    const b = r.body;
    isStr(b.requestId, 'requestId');
    const c = b.credentials;
    ok(c && /^STS\./.test(c.accessKeyId), `credentials.accessKeyId: ${c && c.accessKeyId}`);
    credA = { id: c.accessKeyId, secret: c.accessKeySecret, token: c.securityToken };
    isStr(c.accessKeySecret, 'accessKeySecret');
    isStr(c.securityToken, 'securityToken');
    ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c.expiration), `expiration format: ${c.expiration}`);
    const ttl = Date.parse(c.expiration) - Date.now();
    ok(ttl > 840e3 && ttl <= 905e3, `expiration ${c.expiration} is not now+900 s`);
    isStr(b.assumedRoleUser.assumedRoleId, 'assumedRoleUser.assumedRoleId');
    // SDK model example: acs:ram::123456789012****:role/adminrole/alice
    const arn = b.assumedRoleUser.arn;
    ok(arn.toLowerCase() === `acs:ram::${APP_A.uid}:role/resourcedirectoryaccountaccessrole/kmsmig-conformance`,
      `assumedRoleUser.arn: ${arn}`);
    ok(b.assumedRoleUser.assumedRoleId.endsWith(':kmsmig-conformance'), `assumedRoleId: ${b.assumedRoleUser.assumedRoleId}`);
  });
  await check('generic client V1 (doRPCRequest) AssumeRole into app-b on sts.aliyuncs.com', async () => {
    const g = H.generic(MGMT, 'sts.aliyuncs.com', 'v1');
    const r = await H.rpc(g, 'AssumeRole', '2015-04-01', { RoleArn: ROLE(APP_B.uid), RoleSessionName: 'conf-b' });
    const c = r.body.Credentials;
    ok(c && /^STS\./.test(c.AccessKeyId), `Credentials: ${H.short(r.body)}`);
    H.requestId(r.body);
    const ttl = Date.parse(c.Expiration) - Date.now();
    ok(ttl > 3500e3 && ttl <= 3605e3, `default DurationSeconds 3600: ${c.Expiration}`);
    credB = { id: c.AccessKeyId, secret: c.AccessKeySecret, token: c.SecurityToken };
  });
  await check('sts20150401 GetCallerIdentity with the STS token = app-a assumed role', async () => {
    const c = new Sts.default(H.coreConfig(credA, { regionId: R }));
    const r = await c.getCallerIdentity();
    eq(r.body.accountId, APP_A.uid, 'accountId');
    eq(r.body.identityType, 'AssumedRoleUser', 'identityType');
  });

  // ---- KMS as the member -------------------------------------------------------
  await check('kms20160120 V1 with securityToken: ListKeys lists app-a keys', async () => {
    const c = H.kmsV1(credA, R);
    const r = await c.listKeys(new KmsMod.ListKeysRequest({ pageSize: 100 }));
    eq(r.totalCount, 14, 'app-a cn-hangzhou keys');
    ok(r.keys.key.every((k) => k.keyArn.startsWith(`acs:kms:${R}:${APP_A.uid}:key/`)), 'KeyArn account');
  });
  await check('openapi-client V3 with x-acs-security-token: DescribeKey of an app-a key', async () => {
    const b = await H.kmsCallV3(H.kmsV3(credA, R), 'DescribeKey', { KeyId: 'alias/app-a-hzz-01' });
    eq(b.KeyMetadata.KeyId, 'af7d4d2f-d973-091a-c4eb-2420ca16bda7', 'KeyId');
    eq(b.KeyMetadata.Creator, APP_A.uid, 'Creator');
    eq(b.KeyMetadata.RotationInterval, '2592000s', 'RotationInterval');
  });
  await check('V3 as app-b (STS): DescribeSecret common/app-config is app-b\'s', async () => {
    const b = await H.kmsCallV3(H.kmsV3(credB, 'cn-shanghai'), 'DescribeSecret', { SecretName: 'common/app-config' });
    eq(b.Arn, `acs:kms:cn-shanghai:${APP_B.uid}:secret/common/app-config`, 'Arn');
  });
  await check('V3 as app-a (STS): a mgmt key is not visible -> Forbidden.KeyNotFound', async () => {
    await expectError(H.kmsCallV3(H.kmsV3(credA, R), 'DescribeKey', { KeyId: '10851a59-9470-3082-75c0-aca0a2ba495d' }), 'Forbidden.KeyNotFound', 404);
  });
  await check('V3 garbled security token -> InvalidSecurityToken.MismatchWithAccessKey', async () => {
    const bad = Object.assign({}, credA, { token: credA.token.slice(0, -6) + 'XXXXXX' });
    await expectError(H.kmsCallV3(H.kmsV3(bad, R), 'ListKeys', {}), 'InvalidSecurityToken.MismatchWithAccessKey', 400);
  });
  await check('V1 (kms20160120) token of another STS key -> InvalidSecurityToken.MismatchWithAccessKey', async () => {
    const bad = Object.assign({}, credA, { token: credB.token });
    await expectError(H.kmsV1(bad, R).listKeys(new KmsMod.ListKeysRequest({})), 'InvalidSecurityToken.MismatchWithAccessKey', 400);
  });
  await check('V3 STS AccessKey without a token -> MissingSecurityToken (kmsim choice)', async () => {
    await expectError(H.kmsCallV3(H.kmsV3({ id: credA.id, secret: credA.secret }, R), 'ListKeys', {}), 'MissingSecurityToken', 400);
  });

  // ---- AssumeRole refusals ----------------------------------------------------------
  await check('AssumeRole by app-a (STS) into app-b -> NoPermission 403', async () => {
    const c = new Sts.default(H.coreConfig(credA, { regionId: R }));
    await expectError(c.assumeRole(new Sts.AssumeRoleRequest({ roleArn: ROLE(APP_B.uid), roleSessionName: 'hop' })), 'NoPermission', 403);
  });
  await check('AssumeRole of a role that does not exist -> EntityNotExist.Role 404', async () => {
    await expectError(sts.assumeRole(new Sts.AssumeRoleRequest({ roleArn: `acs:ram::${APP_A.uid}:role/NoSuchRole`, roleSessionName: 'x1' })), 'EntityNotExist.Role', 404);
  });
  await check('AssumeRole DurationSeconds 100 -> InvalidParameter 400', async () => {
    await expectError(sts.assumeRole(new Sts.AssumeRoleRequest({ roleArn: ROLE(APP_A.uid), roleSessionName: 'x1', durationSeconds: 100 })), 'InvalidParameter', 400);
  });
  await check('AssumeRole without RoleSessionName (generic V3) -> MissingParameter 400', async () => {
    const g = H.generic(MGMT, 'sts.aliyuncs.com', 'v3');
    await expectError(H.rpc(g, 'AssumeRole', '2015-04-01', { RoleArn: ROLE(APP_A.uid) }), 'MissingParameter', 400);
  });

  // ---- ResourceManager --------------------------------------------------------------
  const rm = new RM.default(H.coreConfig(MGMT, { regionId: R }));
  await check('resourcemanager20200331 ListAccounts (typed accounts.account[], IncludeTags)', async () => {
    const r = await rm.listAccounts(new RM.ListAccountsRequest({ pageSize: 100, includeTags: true }));
    const b = r.body;
    eq(b.totalCount, 3, 'totalCount');
    isNum(b.pageNumber, 'pageNumber');
    const a = b.accounts.account;
    eq(a.map((x) => x.accountId).sort().join(','), [MGMT.uid, APP_A.uid, APP_B.uid].join(','), 'accountIds');
    const x = a.find((e) => e.accountId === APP_A.uid);
    eq(x.displayName, 'app-a', 'displayName');
    eq(x.folderId, 'fd-demoapps', 'folderId');
    eq(x.resourceDirectoryId, 'rd-demo0001', 'resourceDirectoryId');
    isStr(x.resourceDirectoryPath, 'resourceDirectoryPath');
    ok(['CreateSuccess', 'InviteSuccess', 'PromoteSuccess'].includes(x.status), `status ${x.status}`);
    ok(['CloudAccount', 'ResourceAccount'].includes(x.type), `type ${x.type}`);
    ok(['invited', 'created'].includes(x.joinMethod), `joinMethod ${x.joinMethod}`);
    const tags = (x.tags && x.tags.tag || []).map((t) => `${t.key}=${t.value}`).sort();
    eq(tags.join(','), 'env=prod,team=app-a', 'tags');
  });
  await check('generic V3 ListAccounts raw wrapper Accounts.Account, paging', async () => {
    const g = H.generic(MGMT, 'resourcemanager.aliyuncs.com', 'v3');
    const r = await H.rpc(g, 'ListAccounts', '2020-03-31', { PageSize: 2, PageNumber: 2 });
    const a = H.wrapped(r.body, 'Accounts', 'Account');
    eq(a.length, 1, 'page 2 of size 2');
    eq(r.body.TotalCount, 3, 'TotalCount');
    eq(r.body.PageSize, 2, 'PageSize');
  });
  await check('resourcemanager20200331 ListAccountsForParent fd-demoapps', async () => {
    const r = await rm.listAccountsForParent(new RM.ListAccountsForParentRequest({ parentFolderId: 'fd-demoapps' }));
    eq(r.body.accounts.account.map((x) => x.accountId).sort().join(','), [APP_A.uid, APP_B.uid].join(','), 'accountIds');
    eq(r.body.totalCount, 2, 'totalCount');
  });
  await check('ListAccountsForParent QueryKeyword app-b', async () => {
    const r = await rm.listAccountsForParent(new RM.ListAccountsForParentRequest({ parentFolderId: 'fd-demoapps', queryKeyword: 'app-b' }));
    eq(r.body.accounts.account.map((x) => x.accountId).join(','), APP_B.uid, 'accountIds');
  });
  await check('ListAccountsForParent unknown folder -> EntityNotExists.Folder 404', async () => {
    await expectError(rm.listAccountsForParent(new RM.ListAccountsForParentRequest({ parentFolderId: 'fd-nosuch' })), 'EntityNotExists.Folder', 404);
  });
  await check('ListAccounts by a member (STS) -> NoPermission 403 (kmsim choice)', async () => {
    const c = new RM.default(H.coreConfig(credA, { regionId: R }));
    await expectError(c.listAccounts(new RM.ListAccountsRequest({})), 'NoPermission', 403);
  });

  // ---- expiry (last: moves kmsim's clock) ------------------------------------------
  await check('token expired on kmsim\'s clock -> InvalidSecurityToken.Expired (V1 and V3)', async () => {
    await H.admin('POST', '/_kmsim/clock', { advance: 1000 });
    await expectError(H.kmsCallV3(H.kmsV3(credA, R), 'ListKeys', {}), 'InvalidSecurityToken.Expired', 400);
    await expectError(H.kmsV1(credA, R).listKeys(new KmsMod.ListKeysRequest({})), 'InvalidSecurityToken.Expired', 400);
    // the 3600 s token of app-b is still good
    await H.kmsCallV3(H.kmsV3(credB, R), 'ListKeys', {});
  });
}

main().catch((e) => { console.log(`FAIL sts-rm: script aborted: ${e && e.stack}`); process.exitCode = 1; })
  .then(() => { if (!process.exitCode) H.done(); });
