// ResourceSharing 2020-01-10 (no npm SDK: the generic @alicloud/openapi-client,
// RPC style, V3 and V1) on resourcesharing.cn-hangzhou.aliyuncs.com: share the
// demo KMS instance with app-a, add app-b, follow the asynchronous
// associations, then see the instance as the member.  Reference §3: lists are
// bare arrays, Resources.N.* / Targets.N flattened, ResourceType KMSInstance,
// permission AliyunRSDefaultPermissionKMSInstance.
'use strict';

const H = require('./lib/harness');
const { MGMT, APP_A, APP_B, check, eq, ok, isStr, isArr, expectError } = H;

const R = 'cn-hangzhou';
const V = '2020-01-10';
const INST = 'kst-hzz6500a1b2c3d4e5f6';
const PERM = 'AliyunRSDefaultPermissionKMSInstance';
const STATUS = ['Associating', 'Associated', 'Failed', 'Disassociating', 'Disassociated'];

async function main() {
  H.setSuite('share');
  await H.admin('POST', '/_kmsim/faults', { throttle: 'off' });
  const rs3 = H.generic(MGMT, `resourcesharing.${R}.aliyuncs.com`, 'v3');
  const rs1 = H.generic(MGMT, `resourcesharing.${R}.aliyuncs.com`, 'v1');
  const call = (c, action, p) => H.rpc(c, action, V, p).then((r) => { eq(r.statusCode, 200, `${action} status`); return r.body; });
  let shareId;

  async function targets(id) {
    const b = await call(rs3, 'ListResourceShareAssociations', { AssociationType: 'Target', ResourceShareIds: [id] });
    isArr(b.ResourceShareAssociations, 'ResourceShareAssociations (bare array)');
    return b.ResourceShareAssociations;
  }
  async function waitTarget(id, uid) {
    for (let n = 0; n < 40; n++) {
      const a = (await targets(id)).find((x) => x.EntityId === uid);
      if (a && a.AssociationStatus !== 'Associating') return a;
      await H.sleep(250);
    }
    throw new Error(`association of ${uid} still Associating after 10 s`);
  }

  await check('V3 CreateResourceShare KMSInstance -> app-a (ResourceShare object)', async () => {
    const b = await call(rs3, 'CreateResourceShare', {
      ResourceShareName: 'kmsmig-conformance',
      Resources: [{ ResourceId: INST, ResourceType: 'KMSInstance' }],
      Targets: [APP_A.uid],
      PermissionNames: [PERM],
    });
    H.requestId(b);
    const s = b.ResourceShare;
    ok(s && typeof s === 'object', `ResourceShare: ${H.short(b)}`);
    ok(/^rs-/.test(s.ResourceShareId), `ResourceShareId ${s.ResourceShareId}`);
    shareId = s.ResourceShareId;
    eq(s.ResourceShareName, 'kmsmig-conformance', 'ResourceShareName');
    eq(s.ResourceShareOwner, MGMT.uid, 'ResourceShareOwner');
    ok(['Active', 'Pending'].includes(s.ResourceShareStatus), `ResourceShareStatus ${s.ResourceShareStatus}`);
    eq(s.AllowExternalTargets, false, 'AllowExternalTargets (boolean)');
    isStr(s.CreateTime, 'CreateTime');
  });
  await check('V3 ListResourceShares ResourceOwner=Self (bare array)', async () => {
    const b = await call(rs3, 'ListResourceShares', { ResourceOwner: 'Self' });
    isArr(b.ResourceShares, 'ResourceShares');
    const s = b.ResourceShares.find((x) => x.ResourceShareId === shareId);
    ok(s, `${shareId} not listed`);
    eq(s.ResourceShareName, 'kmsmig-conformance', 'ResourceShareName');
    eq(s.ResourceShareOwner, MGMT.uid, 'ResourceShareOwner');
  });
  await check('V1 ListResourceShares by ResourceShareIds.1 and name', async () => {
    const b = await call(rs1, 'ListResourceShares', { ResourceOwner: 'Self', ResourceShareIds: [shareId], ResourceShareName: 'kmsmig-conformance' });
    eq(b.ResourceShares.map((x) => x.ResourceShareId).join(','), shareId, 'ids');
  });
  await check('V3 ListResourceShareAssociations Resource -> the instance', async () => {
    const b = await call(rs3, 'ListResourceShareAssociations', { AssociationType: 'Resource', ResourceShareIds: [shareId] });
    isArr(b.ResourceShareAssociations, 'ResourceShareAssociations');
    const a = b.ResourceShareAssociations.find((x) => x.EntityId === INST);
    ok(a, `instance not associated: ${H.short(b)}`);
    eq(a.EntityType, 'KMSInstance', 'EntityType');
    eq(a.AssociationType, 'Resource', 'AssociationType');
    eq(a.ResourceShareId, shareId, 'ResourceShareId');
    ok(STATUS.includes(a.AssociationStatus), `AssociationStatus ${a.AssociationStatus}`);
  });
  await check('V3 ListResourceShareAssociations Target: app-a Associating -> Associated', async () => {
    const first = (await targets(shareId)).find((x) => x.EntityId === APP_A.uid);
    ok(first, 'app-a not a target');
    eq(first.AssociationType, 'Target', 'AssociationType');
    ok(STATUS.includes(first.AssociationStatus), `AssociationStatus ${first.AssociationStatus}`);
    eq(typeof first.External, 'boolean', 'External type');
    const a = await waitTarget(shareId, APP_A.uid);
    eq(a.AssociationStatus, 'Associated', `final AssociationStatus (${H.short(a.AssociationFailedDetails)})`);
  });
  await check('V1 AssociateResourceShare Targets.1=app-b -> ResourceShareAssociations, then Associated', async () => {
    const b = await call(rs1, 'AssociateResourceShare', { ResourceShareId: shareId, Targets: [APP_B.uid] });
    H.requestId(b);
    isArr(b.ResourceShareAssociations, 'ResourceShareAssociations');
    const a = b.ResourceShareAssociations.find((x) => x.EntityId === APP_B.uid);
    ok(a, `app-b missing: ${H.short(b)}`);
    eq(a.AssociationType, 'Target', 'AssociationType');
    eq(a.ResourceShareId, shareId, 'ResourceShareId');
    ok(['Associating', 'Associated'].includes(a.AssociationStatus), `AssociationStatus ${a.AssociationStatus}`);
    eq((await waitTarget(shareId, APP_B.uid)).AssociationStatus, 'Associated', 'final status');
  });
  await check('V3 ListResourceShareAssociations Target=<app-b> filter', async () => {
    const b = await call(rs3, 'ListResourceShareAssociations', { AssociationType: 'Target', Target: APP_B.uid });
    ok(b.ResourceShareAssociations.length > 0 && b.ResourceShareAssociations.every((x) => x.EntityId === APP_B.uid), H.short(b));
  });
  await check('V3 target outside the resource directory -> Failed with AssociationFailedDetails', async () => {
    const outsider = '1999999999999999';
    await call(rs3, 'AssociateResourceShare', { ResourceShareId: shareId, Targets: [outsider] });
    const a = await waitTarget(shareId, outsider);
    eq(a.AssociationStatus, 'Failed', 'AssociationStatus');
    isArr(a.AssociationFailedDetails, 'AssociationFailedDetails');
    const d = a.AssociationFailedDetails[0];
    ok(d && ['Unavailable', 'LimitExceeded', 'ZonalResourceInaccessible', 'InternalError', 'UnsupportedOperation'].includes(d.FailureReason),
      `FailureReason: ${H.short(d)}`);
  });

  // ---- the member's view ---------------------------------------------------------
  await check('app-a (STS) sees the share (OtherAccounts) and GetKmsInstance of the shared instance', async () => {
    const sts = H.generic(MGMT, 'sts.aliyuncs.com', 'v3');
    const r = await H.rpc(sts, 'AssumeRole', '2015-04-01', {
      RoleArn: `acs:ram::${APP_A.uid}:role/ResourceDirectoryAccountAccessRole`, RoleSessionName: 'share-check',
    });
    const c = r.body.Credentials;
    const cred = { id: c.AccessKeyId, secret: c.AccessKeySecret, token: c.SecurityToken };
    const rsA = H.generic(cred, `resourcesharing.${R}.aliyuncs.com`, 'v3');
    const b = await call(rsA, 'ListResourceShares', { ResourceOwner: 'OtherAccounts' });
    ok(b.ResourceShares.some((x) => x.ResourceShareId === shareId), `share not visible to app-a: ${H.short(b)}`);
    const i = await H.kmsCallV3(H.kmsV3(cred, R), 'GetKmsInstance', { KmsInstanceId: INST });
    eq(i.KmsInstance.InstanceId, INST, 'InstanceId');
  });

  // ---- errors --------------------------------------------------------------------
  await check('V3 ListResourceShares without ResourceOwner -> MissingParameter', async () => {
    await expectError(H.rpc(rs3, 'ListResourceShares', V, {}), 'MissingParameter', 400);
  });
  await check('V3 ListResourceShares ResourceOwner=Everyone -> InvalidParameter', async () => {
    await expectError(H.rpc(rs3, 'ListResourceShares', V, { ResourceOwner: 'Everyone' }), 'InvalidParameter', 400);
  });
  await check('V3 CreateResourceShare with a bad name -> InvalidParameter', async () => {
    await expectError(H.rpc(rs3, 'CreateResourceShare', V, { ResourceShareName: 'bad name!' }), 'InvalidParameter', 400);
  });
  await check('V3 ListResourceShareAssociations without AssociationType -> MissingParameter', async () => {
    await expectError(H.rpc(rs3, 'ListResourceShareAssociations', V, { ResourceShareIds: [shareId] }), 'MissingParameter', 400);
  });
}

main().catch((e) => { console.log(`FAIL share: script aborted: ${e && e.stack}`); process.exitCode = 1; })
  .then(() => { if (!process.exitCode) H.done(); });
