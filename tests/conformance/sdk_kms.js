// KMS 2016-01-20 management actions against kmsim (demo fixture, account
// mgmt, cn-hangzhou) through two official transports:
//   V1: @alicloud/kms20160120 1.2.0's own client (typed methods, model
//       objects; its public doRequest for actions 1.2.0 predates);
//   V3: @alicloud/openapi-client 0.4.15 callApi (ACS3-HMAC-SHA256).
// Expected values follow /work/shared/reference/alibaba-kms-api.md §0–§1 and
// sim/fixtures/demo.yaml.  One output line per case (lib/harness.js).
'use strict';

const crypto = require('crypto');
const H = require('./lib/harness');
const { MGMT, KmsMod, check, eq, ok, isStr, isNum, isArr, wrapped, requestId } = H;

const R = 'cn-hangzhou';
const INST = 'kst-hzz6500a1b2c3d4e5f6';
const DISABLED_KEY = 'cb097b91-124a-1e69-4df9-ec1d297945c5';
const ROT_KEY = '10851a59-9470-3082-75c0-aca0a2ba495d'; // rotation 365d
const TAGGED_KEY = '84c5be05-0f90-f6da-0065-36b08fe03877'; // app=billing, owner=team-a
const VER_KEY = 'd9be9e9e-b02b-736c-9a07-cfb17b9a1691'; // 3 versions
const PENDING_IMPORT = '5eb0e0f2-58a2-9e69-3c26-5af873fe452b';
const BYOK_ENABLED = 'f21c37d1-ea77-8d8f-9e54-f10614409237';

const v1 = H.kmsV1(MGMT, R);
const v3 = H.kmsV3(MGMT, R);
const raw1 = (action, params) => H.kmsV1Raw(v1, action, params);
const raw3 = (action, params, inBody) => H.kmsCallV3(v3, action, params, inBody);
const both = [['V1', raw1], ['V3', raw3]];

function keyMetaStrings(m, what) {
  for (const [k, v] of Object.entries(m))
    if (typeof v !== 'string') throw new Error(`${what}.${k} must be a string, got ${H.short(v)}`);
}

async function main() {
  H.setSuite('kms');
  await H.admin('POST', '/_kmsim/faults', { throttle: 'off' });

  // ---- ListKeys -----------------------------------------------------------
  await check('V1 ListKeys (typed model: keys.key[].keyId/keyArn, totalCount)', async () => {
    const r = await v1.listKeys(new KmsMod.ListKeysRequest({ pageNumber: 1, pageSize: 100 }));
    isNum(r.totalCount, 'totalCount');
    eq(r.totalCount, 66, 'totalCount (60 customer + signing + 2 service + 2 BYOK + retired)');
    eq(r.pageNumber, 1, 'pageNumber');
    eq(r.pageSize, 100, 'pageSize');
    isStr(r.requestId, 'requestId');
    ok(r.keys && Array.isArray(r.keys.key), 'keys.key not an array');
    eq(r.keys.key.length, 66, 'keys.key length');
    eq(r.keys.key[0].keyId, ROT_KEY, 'keys.key[0].keyId');
    eq(r.keys.key[0].keyArn, `acs:kms:${R}:${MGMT.uid}:key/${ROT_KEY}`, 'keys.key[0].keyArn');
  });
  await check('V1 ListKeys paging (PageSize 10, PageNumber 7)', async () => {
    const r = await v1.listKeys(new KmsMod.ListKeysRequest({ pageNumber: 7, pageSize: 10 }));
    eq(r.keys.key.length, 6, 'page 7 length');
    eq(r.pageNumber, 7, 'pageNumber');
  });
  for (const [t, call] of both) {
    await check(`${t} ListKeys Filters KeyState=Disabled`, async () => {
      const b = await call('ListKeys', {
        PageSize: '100', Filters: JSON.stringify([{ Key: 'KeyState', Values: ['Disabled'] }]),
      });
      requestId(b);
      const keys = wrapped(b, 'Keys', 'Key');
      eq(keys.map((k) => k.KeyId).join(','), DISABLED_KEY, 'KeyIds');
      eq(b.TotalCount, 1, 'TotalCount');
    });
    await check(`${t} ListKeys Filters CreatorType=User AND ProtectionLevel=HSM (OR in Values)`, async () => {
      const b = await call('ListKeys', {
        PageSize: '100',
        Filters: JSON.stringify([
          { Key: 'CreatorType', Values: ['User'] },
          { Key: 'KeyState', Values: ['Enabled', 'PendingImport'] },
          { Key: 'ProtectionLevel', Values: ['HSM'] },
        ]),
      });
      const ids = wrapped(b, 'Keys', 'Key').map((k) => k.KeyId).sort();
      eq(ids.join(','), [BYOK_ENABLED, PENDING_IMPORT].sort().join(','), 'KeyIds');
    });
    await check(`${t} ListKeys Filters CreatorType=User excludes service keys`, async () => {
      const b = await call('ListKeys', {
        PageSize: '100', Filters: JSON.stringify([{ Key: 'CreatorType', Values: ['User'] }]),
      });
      const ids = wrapped(b, 'Keys', 'Key').map((k) => k.KeyId);
      eq(b.TotalCount, 64, 'TotalCount');
      ok(!ids.includes('822bf22f-24ef-a6c2-b07d-a14fc1de5f0c'), 'service key 822bf22f-24ef-a6c2-b07d-a14fc1de5f0c listed');
    });
  }

  // ---- DescribeKey --------------------------------------------------------
  await check('V1 DescribeKey (typed keyMetadata, rotation 365d)', async () => {
    const r = await v1.describeKey(new KmsMod.DescribeKeyRequest({ keyId: ROT_KEY }));
    const m = r.keyMetadata;
    ok(m, 'keyMetadata missing');
    eq(m.keyId, ROT_KEY, 'keyId');
    eq(m.arn, `acs:kms:${R}:${MGMT.uid}:key/${ROT_KEY}`, 'arn');
    eq(m.keyState, 'Enabled', 'keyState');
    eq(m.keySpec, 'Aliyun_AES_256', 'keySpec');
    eq(m.keyUsage, 'ENCRYPT/DECRYPT', 'keyUsage');
    eq(m.origin, 'Aliyun_KMS', 'origin');
    eq(m.protectionLevel, 'SOFTWARE', 'protectionLevel');
    eq(m.automaticRotation, 'Enabled', 'automaticRotation');
    eq(m.rotationInterval, '31536000s', 'rotationInterval');
    isStr(m.nextRotationDate, 'nextRotationDate');
    ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(m.creationDate), `creationDate format: ${m.creationDate}`);
    eq(m.creator, MGMT.uid, 'creator');
    eq(m.description, 'demo key 00', 'description');
    isStr(m.primaryKeyVersion, 'primaryKeyVersion');
  });
  for (const [t, call] of both) {
    await check(`${t} DescribeKey by alias: KeyMetadata all strings, no DKMSInstanceId for 1.0`, async () => {
      const b = await call('DescribeKey', { KeyId: 'alias/demo-app-01' });
      requestId(b);
      const m = b.KeyMetadata;
      ok(m && typeof m === 'object', 'KeyMetadata missing');
      eq(m.KeyId, '9123e43b-b2bd-bac2-74a1-f2d2b9fecca4', 'KeyId');
      keyMetaStrings(m, 'KeyMetadata');
      eq(m.AutomaticRotation, 'Disabled', 'AutomaticRotation');
      ok(m.DKMSInstanceId === undefined || m.DKMSInstanceId === '', `DKMSInstanceId of a 1.0 key: ${m.DKMSInstanceId}`);
      ok(m.DeleteDate === undefined || m.DeleteDate === '', 'DeleteDate on an Enabled key');
    });
    await check(`${t} DescribeKey by ARN of a PendingDeletion key has DeleteDate`, async () => {
      const id = '07cdbca0-5f3d-f5fe-eec2-2714cb8a9534';
      const b = await call('DescribeKey', { KeyId: `acs:kms:${R}:${MGMT.uid}:key/${id}` });
      eq(b.KeyMetadata.KeyId, id, 'KeyId');
      eq(b.KeyMetadata.KeyState, 'PendingDeletion', 'KeyState');
      isStr(b.KeyMetadata.DeleteDate, 'DeleteDate');
    });
  }

  // ---- aliases -------------------------------------------------------------
  await check('V1 ListAliases (typed aliases.alias[])', async () => {
    const r = await v1.listAliases(new KmsMod.ListAliasesRequest({ pageSize: 100 }));
    isNum(r.totalCount, 'totalCount');
    const a = r.aliases.alias;
    ok(Array.isArray(a), 'aliases.alias not an array');
    const x = a.find((e) => e.aliasName === 'alias/demo-app-01');
    ok(x, 'alias/demo-app-01 not listed');
    eq(x.keyId, '9123e43b-b2bd-bac2-74a1-f2d2b9fecca4', 'keyId');
    eq(x.aliasArn, `acs:kms:${R}:${MGMT.uid}:alias/demo-app-01`, 'aliasArn');
    for (let n = 0; n < 60; n++) {
      const want = `alias/demo-app-${String(n).padStart(2, '0')}`;
      ok(a.some((e) => e.aliasName === want), `${want} not listed`);
    }
    ok(r.totalCount >= 64 && r.totalCount === a.length, `totalCount ${r.totalCount} vs ${a.length} listed`);
  });
  await check('V1 ListAliasesByKeyId (typed)', async () => {
    const r = await v1.listAliasesByKeyId(new KmsMod.ListAliasesByKeyIdRequest({ keyId: '9123e43b-b2bd-bac2-74a1-f2d2b9fecca4' }));
    eq(r.aliases.alias.map((e) => e.aliasName).join(','), 'alias/demo-app-01', 'aliasName');
    eq(r.totalCount, 1, 'totalCount');
  });
  for (const [t, call] of both) {
    await check(`${t} ListAliases wrapper Aliases.Alias`, async () => {
      const b = await call('ListAliases', { PageSize: '5', PageNumber: '2' });
      const a = wrapped(b, 'Aliases', 'Alias');
      eq(a.length, 5, 'page length');
      isNum(b.TotalCount, 'TotalCount');
      eq(b.PageNumber, 2, 'PageNumber');
      for (const e of a) { isStr(e.AliasName, 'AliasName'); isStr(e.AliasArn, 'AliasArn'); isStr(e.KeyId, 'KeyId'); }
    });
    await check(`${t} ListAliasesByKeyId`, async () => {
      const b = await call('ListAliasesByKeyId', { KeyId: 'e4e1eae1-119e-866c-daa0-f74563bd90dd' });
      eq(wrapped(b, 'Aliases', 'Alias').map((e) => e.AliasName).join(','), 'alias/demo-signing', 'AliasName');
    });
  }

  // ---- key versions ------------------------------------------------------
  // VER_KEY has versions: 3 in the fixture and rotation 90d enabled: kmsim
  // adds the rotations that came due since its creation (docs/kmsim.md), so
  // the count is 3 + due rotations; it must agree everywhere.
  let verCount;
  await check('V1 ListKeyVersions (typed keyVersions.keyVersion[])', async () => {
    const r = await v1.listKeyVersions(new KmsMod.ListKeyVersionsRequest({ keyId: VER_KEY, pageSize: 100 }));
    isNum(r.totalCount, 'totalCount');
    ok(r.totalCount >= 3, `totalCount ${r.totalCount} < 3 fixture versions`);
    eq(r.keyVersions.keyVersion.length, r.totalCount, 'keyVersion length');
    eq(r.keyVersions.keyVersion[0].keyId, VER_KEY, 'keyVersion[0].keyId');
    isStr(r.keyVersions.keyVersion[0].keyVersionId, 'keyVersionId');
    verCount = r.totalCount;
  });
  await check('V3 ListKeyVersions by alias agrees with DescribeKey rotation dates', async () => {
    const b = await raw3('ListKeyVersions', { KeyId: 'alias/demo-app-03', PageSize: '100' });
    const v = wrapped(b, 'KeyVersions', 'KeyVersion');
    eq(v.length, verCount, 'versions (same as V1)');
    eq(b.TotalCount, v.length, 'TotalCount');
    isStr(v[0].CreationDate, 'CreationDate');
    const m = (await raw3('DescribeKey', { KeyId: VER_KEY })).KeyMetadata;
    ok(v.some((x) => x.KeyVersionId === m.PrimaryKeyVersion), 'PrimaryKeyVersion not among the versions');
    eq(m.RotationInterval, '7776000s', 'RotationInterval (90d)');
    ok(Date.parse(m.NextRotationDate) > Date.now(), `NextRotationDate ${m.NextRotationDate} is not in the future`);
    if (v.length > 3) {
      isStr(m.LastRotationDate, 'LastRotationDate');
      const newest = v.map((x) => x.CreationDate).sort().pop();
      eq(m.LastRotationDate, newest, 'LastRotationDate = newest version CreationDate');
    }
  });

  // ---- UpdateRotationPolicy -------------------------------------------------
  const rotCases = [
    ['V1 typed', '418c14c7-91a3-be80-5e42-eae1b2a1af64', async (id, en, iv) => {
      const r = await v1.updateRotationPolicy(new KmsMod.UpdateRotationPolicyRequest({
        keyId: id, enableAutomaticRotation: en, rotationInterval: iv,
      }));
      isStr(r.requestId, 'requestId');
    }],
    ['V3', '5928fb7a-5471-6e5e-5c16-a35b38fa3959', async (id, en, iv) => {
      const p = { KeyId: id, EnableAutomaticRotation: String(en) };
      if (iv) p.RotationInterval = iv;
      requestId(await raw3('UpdateRotationPolicy', p));
    }],
  ];
  for (const [t, id, set] of rotCases) {
    await check(`${t} UpdateRotationPolicy enable 30d -> DescribeKey 2592000s, then off`, async () => {
      await set(id, true, '30d');
      let m = (await raw3('DescribeKey', { KeyId: id })).KeyMetadata;
      eq(m.AutomaticRotation, 'Enabled', 'AutomaticRotation after enable');
      eq(m.RotationInterval, '2592000s', 'RotationInterval after enable');
      isStr(m.NextRotationDate, 'NextRotationDate');
      await set(id, false, undefined);
      m = (await raw3('DescribeKey', { KeyId: id })).KeyMetadata;
      eq(m.AutomaticRotation, 'Disabled', 'AutomaticRotation after disable');
    });
  }
  await check('V3 UpdateRotationPolicy 604800s on a 365d key, then restored', async () => {
    await raw3('UpdateRotationPolicy', { KeyId: ROT_KEY, EnableAutomaticRotation: 'true', RotationInterval: '604800s' });
    eq((await raw3('DescribeKey', { KeyId: ROT_KEY })).KeyMetadata.RotationInterval, '604800s', 'RotationInterval');
    await raw3('UpdateRotationPolicy', { KeyId: ROT_KEY, EnableAutomaticRotation: 'true', RotationInterval: '365d' });
    eq((await raw3('DescribeKey', { KeyId: ROT_KEY })).KeyMetadata.RotationInterval, '31536000s', 'RotationInterval restored');
  });
  await check('V3 UpdateRotationPolicy 6d (below 7 d) -> InvalidParameter', async () => {
    await H.expectError(raw3('UpdateRotationPolicy', { KeyId: 'd0e10b19-c31d-5f7e-ab77-7f4b848b0d2d', EnableAutomaticRotation: 'true', RotationInterval: '6d' }), 'InvalidParameter', 400);
  });
  await check('V1 UpdateRotationPolicy on a BYOK key -> Unsupported.Origin', async () => {
    await H.expectError(raw1('UpdateRotationPolicy', { KeyId: BYOK_ENABLED, EnableAutomaticRotation: 'true', RotationInterval: '30d' }), 'Unsupported.Origin', 400);
  });

  // ---- secrets -------------------------------------------------------------
  await check('V1 ListSecrets (typed secretList.secret[])', async () => {
    const r = await v1.listSecrets(new KmsMod.ListSecretsRequest({ pageSize: 100 }));
    isNum(r.totalCount, 'totalCount');
    const s = r.secretList.secret;
    ok(Array.isArray(s), 'secretList.secret not an array');
    ok(s.some((x) => x.secretName === 'demo/rds-01'), 'demo/rds-01 missing');
    isStr(s[0].createTime, 'createTime');
  });
  for (const [t, call] of both) {
    await check(`${t} ListSecrets Filters SecretType=Rds, FetchTags`, async () => {
      const b = await call('ListSecrets', {
        PageSize: '100', FetchTags: 'true',
        Filters: JSON.stringify([{ Key: 'SecretType', Values: ['Rds'] }]),
      });
      requestId(b);
      const s = wrapped(b, 'SecretList', 'Secret');
      const names = s.map((x) => x.SecretName).sort();
      eq(names.join(','), ['demo/rds-01', 'demo/rds-05', 'demo/rds-09', 'payments/db-password'].join(','), 'SecretNames');
      for (const x of s) eq(x.SecretType, 'Rds', `${x.SecretName} SecretType`);
      eq(b.TotalCount, 4, 'TotalCount');
      ok(s.every((x) => x.DKMSInstanceId === undefined && x.EncryptionKeyId === undefined),
        'list items must not carry DKMSInstanceId/EncryptionKeyId (reference §1 ListSecrets)');
    });
    await check(`${t} ListSecrets Filters SecretName`, async () => {
      const b = await call('ListSecrets', {
        Filters: JSON.stringify([{ Key: 'SecretName', Values: ['demo/generic-00'] }]),
      });
      eq(wrapped(b, 'SecretList', 'Secret').map((x) => x.SecretName).join(','), 'demo/generic-00', 'SecretNames');
    });
  }
  await check('V1 DescribeSecret (typed: arn, secretName, encryptionKeyId)', async () => {
    const r = await v1.describeSecret(new KmsMod.DescribeSecretRequest({ secretName: 'demo/generic-00' }));
    eq(r.secretName, 'demo/generic-00', 'secretName');
    eq(r.arn, `acs:kms:${R}:${MGMT.uid}:secret/demo/generic-00`, 'arn');
    eq(r.encryptionKeyId, ROT_KEY, 'encryptionKeyId');
    isStr(r.createTime, 'createTime');
  });
  for (const [t, call] of both) {
    await check(`${t} DescribeSecret of a rotating Rds secret`, async () => {
      const b = await call('DescribeSecret', { SecretName: 'demo/rds-01', FetchTags: 'true' });
      requestId(b);
      eq(b.SecretName, 'demo/rds-01', 'SecretName');
      eq(b.SecretType, 'Rds', 'SecretType');
      eq(b.AutomaticRotation, 'Enabled', 'AutomaticRotation');
      eq(b.RotationInterval, '604800s', 'RotationInterval');
      isStr(b.NextRotationDate, 'NextRotationDate');
      isStr(b.Arn, 'Arn');
      ok(b.DKMSInstanceId === undefined || b.DKMSInstanceId === '', `DKMSInstanceId of a 1.0 secret: ${b.DKMSInstanceId}`);
      if (b.ExtendedConfig !== undefined) {
        isStr(b.ExtendedConfig, 'ExtendedConfig (a JSON string)');
        JSON.parse(b.ExtendedConfig);
      }
    });
  }
  const secRot = [['V1', raw1, 'demo/ramcredentials-02'], ['V3', raw3, 'demo/ramcredentials-10']];
  for (const [t, call, name] of secRot) {
    await check(`${t} UpdateSecretRotationPolicy RAMCredentials 240h -> 864000s, then off`, async () => {
      requestId(await call('UpdateSecretRotationPolicy', { SecretName: name, EnableAutomaticRotation: 'true', RotationInterval: '240h' }));
      let b = await call('DescribeSecret', { SecretName: name });
      eq(b.AutomaticRotation, 'Enabled', 'AutomaticRotation');
      eq(b.RotationInterval, '864000s', 'RotationInterval');
      requestId(await call('UpdateSecretRotationPolicy', { SecretName: name, EnableAutomaticRotation: 'false' }));
      b = await call('DescribeSecret', { SecretName: name });
      eq(b.AutomaticRotation, 'Disabled', 'AutomaticRotation after disable');
    });
  }
  await check('V3 UpdateSecretRotationPolicy Rds 168h -> 336h and back', async () => {
    await raw3('UpdateSecretRotationPolicy', { SecretName: 'demo/rds-05', EnableAutomaticRotation: 'true', RotationInterval: '336h' });
    eq((await raw3('DescribeSecret', { SecretName: 'demo/rds-05' })).RotationInterval, '1209600s', 'RotationInterval');
    await raw3('UpdateSecretRotationPolicy', { SecretName: 'demo/rds-05', EnableAutomaticRotation: 'true', RotationInterval: '168h' });
    eq((await raw3('DescribeSecret', { SecretName: 'demo/rds-05' })).RotationInterval, '604800s', 'RotationInterval restored');
  });
  await check('V3 UpdateSecretRotationPolicy on a Generic secret -> Rejected.UnsupportedOperation (kmsim choice)', async () => {
    await H.expectError(raw3('UpdateSecretRotationPolicy', { SecretName: 'demo/generic-08', EnableAutomaticRotation: 'true', RotationInterval: '240h' }), 'Rejected.UnsupportedOperation', 400);
  });
  await check('V1 UpdateSecretRotationPolicy 167h (below 168 h) -> InvalidParameter', async () => {
    await H.expectError(raw1('UpdateSecretRotationPolicy', { SecretName: 'demo/rds-09', EnableAutomaticRotation: 'true', RotationInterval: '167h' }), 'InvalidParameter', 400);
  });

  // ---- BYOK ------------------------------------------------------------------
  await check('V1 GetParametersForImport (typed) on the EXTERNAL PendingImport key', async () => {
    const r = await v1.getParametersForImport(new KmsMod.GetParametersForImportRequest({
      keyId: PENDING_IMPORT, wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048',
    }));
    eq(r.keyId, PENDING_IMPORT, 'keyId');
    isStr(r.importToken, 'importToken');
    const pk = crypto.createPublicKey({ key: Buffer.from(r.publicKey, 'base64'), format: 'der', type: 'spki' });
    eq(pk.asymmetricKeyType, 'rsa', 'public key type');
    eq(pk.asymmetricKeyDetails.modulusLength, 2048, 'modulus length');
    const ttl = Date.parse(r.tokenExpireTime) - Date.now();
    ok(ttl > 23 * 3600e3 && ttl <= 24 * 3600e3 + 60e3, `TokenExpireTime ${r.tokenExpireTime} not ~24 h ahead`);
  });
  await check('V3 GetParametersForImport twice gives different token and key (Enabled BYOK key)', async () => {
    const p = { KeyId: BYOK_ENABLED, WrappingAlgorithm: 'RSAES_PKCS1_V1_5', WrappingKeySpec: 'RSA_2048' };
    const a = await raw3('GetParametersForImport', p);
    const b = await raw3('GetParametersForImport', p);
    requestId(a);
    ok(a.ImportToken !== b.ImportToken, 'ImportToken repeated');
    ok(a.PublicKey !== b.PublicKey, 'PublicKey repeated');
  });
  await check('V3 GetParametersForImport on an Aliyun_KMS key -> Unsupported.Origin', async () => {
    await H.expectError(raw3('GetParametersForImport', { KeyId: ROT_KEY, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }), 'Unsupported.Origin', 400);
  });

  // ---- instances -------------------------------------------------------------
  for (const [t, call] of both) {
    await check(`${t} ListKmsInstances wrapper KmsInstances.KmsInstance`, async () => {
      const b = await call('ListKmsInstances', { PageSize: '20' });
      requestId(b);
      const l = wrapped(b, 'KmsInstances', 'KmsInstance');
      eq(l.length, 1, 'instances');
      eq(l[0].KmsInstanceId, INST, 'KmsInstanceId');
      eq(l[0].KmsInstanceArn, `acs:kms:${R}:${MGMT.uid}:keystore/${INST}`, 'KmsInstanceArn');
      isNum(b.TotalCount, 'TotalCount');
      eq(b.TotalCount, 1, 'TotalCount');
    });
    await check(`${t} GetKmsInstance types (SecretNum string, KeyNum/VpcNum/Spec int, ZoneIds array)`, async () => {
      const b = await call('GetKmsInstance', { KmsInstanceId: INST });
      requestId(b);
      const i = b.KmsInstance;
      ok(i && typeof i === 'object', 'KmsInstance missing');
      eq(i.InstanceId, INST, 'InstanceId');
      eq(i.InstanceName, 'demo-hangzhou', 'InstanceName');
      eq(i.SecretNum, '100', 'SecretNum (string)');
      eq(i.KeyNum, 1000, 'KeyNum (int)');
      eq(i.VpcNum, 7, 'VpcNum (int)');
      eq(i.Spec, 1000, 'Spec (int)');
      eq(i.ProductVersion, '3', 'ProductVersion');
      isArr(i.ZoneIds, 'ZoneIds');
      isArr(i.VswitchIds, 'VswitchIds');
      isStr(i.Status, 'Status');
      ok(i.ImageVersion === undefined && i.AutoRenew === undefined && i.RenewalStatus === undefined,
        'GetKmsInstance must not expose image version or renewal (reference §1)');
      if (i.BindVpcs !== undefined) wrapped(i, 'BindVpcs', 'BindVpc');
    });
    await check(`${t} GetKmsInstanceQuotaInfos bare array of ints`, async () => {
      const b = await call('GetKmsInstanceQuotaInfos', { KmsInstanceId: INST });
      requestId(b);
      eq(b.KmsInstanceId, INST, 'KmsInstanceId');
      const q = b.KmsInstanceQuotaInfos;
      isArr(q, 'KmsInstanceQuotaInfos');
      const key = q.find((x) => x.ResourceType === 'key');
      ok(key, 'no key quota row');
      eq(key.ResourceQuota, 1000, 'key ResourceQuota');
      isNum(key.UsedQuantity, 'key UsedQuantity');
      const sec = q.find((x) => x.ResourceType === 'secret');
      ok(sec, 'no secret quota row');
      eq(sec.ResourceQuota, 100, 'secret ResourceQuota');
    });
    await check(`${t} GetKmsInstanceQuotaInfos ResourceType=key`, async () => {
      const b = await call('GetKmsInstanceQuotaInfos', { KmsInstanceId: INST, ResourceType: 'key' });
      isArr(b.KmsInstanceQuotaInfos, 'KmsInstanceQuotaInfos');
      eq(b.KmsInstanceQuotaInfos.map((x) => x.ResourceType).join(','), 'key', 'ResourceTypes');
    });
    await check(`${t} GetDefaultKmsInstance (none set in the demo)`, async () => {
      const b = await call('GetDefaultKmsInstance', {});
      requestId(b);
      ok(b.DefaultKmsInstanceId === undefined || b.DefaultKmsInstanceId === '',
        `DefaultKmsInstanceId: ${b.DefaultKmsInstanceId}`);
    });
    await check(`${t} GetKmsInstance unknown -> Forbidden.DKMSInstanceNotFound 403`, async () => {
      await H.expectError(call('GetKmsInstance', { KmsInstanceId: 'kst-hzz00000000000000000' }), 'Forbidden.DKMSInstanceNotFound', 403);
    });
  }

  // ---- policies of 1.0 resources ------------------------------------------
  for (const [t, call] of both) {
    await check(`${t} GetKeyPolicy on a 1.0 key -> Rejected.UnsupportedOperation`, async () => {
      await H.expectError(call('GetKeyPolicy', { KeyId: ROT_KEY, PolicyName: 'default' }), 'Rejected.UnsupportedOperation', 400);
    });
    await check(`${t} GetSecretPolicy on a 1.0 secret -> Rejected.UnsupportedOperation`, async () => {
      await H.expectError(call('GetSecretPolicy', { SecretName: 'demo/generic-00', PolicyName: 'default' }), 'Rejected.UnsupportedOperation', 400);
    });
  }

  // ---- tags ----------------------------------------------------------------
  for (const [t, call] of both) {
    await check(`${t} ListTagResources ResourceId.1 (flattened) -> TagResources.TagResource`, async () => {
      const b = await call('ListTagResources', { RegionId: R, ResourceType: 'key', ResourceId: [TAGGED_KEY] });
      requestId(b);
      const rows = wrapped(b, 'TagResources', 'TagResource');
      const got = rows.map((x) => `${x.ResourceId}|${x.ResourceType}|${x.TagKey}=${x.TagValue}`).sort();
      eq(got.join(','), `${TAGGED_KEY}|key|app=billing,${TAGGED_KEY}|key|owner=team-a`, 'rows');
      ok(b.NextToken === undefined || b.NextToken === '', `NextToken on the last page: ${b.NextToken}`);
    });
    await check(`${t} ListTagResources Tag.1.Key/Value filter`, async () => {
      const b = await call('ListTagResources', { RegionId: R, ResourceType: 'key', Tag: [{ Key: 'app', Value: 'billing' }] });
      const rows = wrapped(b, 'TagResources', 'TagResource');
      ok(rows.length > 0 && rows.every((x) => x.ResourceId === TAGGED_KEY), `rows: ${H.short(rows)}`);
    });
  }
  await check('V1 ListResourceTags (typed tags.tag[])', async () => {
    const r = await v1.listResourceTags(new KmsMod.ListResourceTagsRequest({ keyId: TAGGED_KEY }));
    const t = r.tags.tag.map((x) => `${x.tagKey}=${x.tagValue}`).sort();
    eq(t.join(','), 'app=billing,owner=team-a', 'tags');
  });

  // ---- V3 with the parameters in a form body ----------------------------------
  await check('V3 DescribeKey with parameters in a form body', async () => {
    const b = await raw3('DescribeKey', { KeyId: TAGGED_KEY }, true);
    eq(b.KeyMetadata.KeyId, TAGGED_KEY, 'KeyId');
  });
  // ---- the other region --------------------------------------------------------
  await check('V3 cn-shanghai ListKeys and GetKmsInstance (region from the host)', async () => {
    const c = H.kmsV3(MGMT, 'cn-shanghai');
    const b = await H.kmsCallV3(c, 'ListKeys', { PageSize: '100' });
    eq(b.TotalCount, 9, 'TotalCount');
    ok(wrapped(b, 'Keys', 'Key').every((k) => k.KeyArn.startsWith('acs:kms:cn-shanghai:')), 'KeyArn region');
    const i = await H.kmsCallV3(c, 'GetKmsInstance', { KmsInstanceId: 'kst-shh6500f6e5d4c3b2a1' });
    eq(i.KmsInstance.KeyNum, 500, 'KeyNum');
  });
}

main().catch((e) => { console.log(`FAIL kms: script aborted: ${e && e.stack}`); process.exitCode = 1; })
  .then(() => { if (!process.exitCode) H.done(); });
