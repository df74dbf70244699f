#!/usr/bin/env python3
"""Regenerates the seed corpora of tests/fuzz from real kmsim replies and the
repository's manifests (docs/fuzzing.md).

usage: tests/fuzz/make_corpus.py BUILD_DIR [SRC_DIR]

BUILD_DIR is a plain build (bin/kmsim, bin/km_signtool, bin/kmsmig).  It
starts kmsim on the demo fixture, signs each request with kmsmig's own
signer (km_signtool), sends it with curl and writes the reply body in each
target's input format; it copies the manifests and runs the demo once for a
real journal.  Seeds are named seed-*: regression inputs (crash-*, kept
after a fix) are never touched.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1])
src = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else
                      os.path.join(os.path.dirname(__file__), "..", ".."))
corpus = os.path.join(src, "tests", "fuzz", "corpus")
ca = os.path.join(src, "sim", "tls", "ca.pem")
AK, SK = "KSIMDEMOMGMTAK000001", "ksim-demo-mgmt-secret-not-a-real-key-0001"
TS = "2026-12-01T00:00:00Z"


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def start_kmsim(tmp):
    ports = os.path.join(tmp, "ports")
    p = subprocess.Popen([os.path.join(build, "bin", "kmsim"), "--fixture",
                          os.path.join(src, "sim", "fixtures", "demo.yaml"),
                          "--https-port", "0", "--port-file", ports],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(ports) and "https=" in open(ports).read():
            break
        time.sleep(0.05)
    port = [l.split("=")[1] for l in open(ports).read().split()
            if l.startswith("https=")][0]
    return p, port


HOSTS = {"kms": ("kms.cn-hangzhou.aliyuncs.com", "2016-01-20"),
         "sts": ("sts.aliyuncs.com", "2015-04-01"),
         "rm": ("resourcemanager.aliyuncs.com", "2020-03-31")}
NONCE = [0]


def call(port, product, action, params, secret=SK, token=None):
    host, version = HOSTS[product]
    NONCE[0] += 1
    case = {"name": action, "sigver": 3, "method": "POST", "host": host,
            "action": action, "version": version, "form_body": False,
            "params": [[k, v] for k, v in params],
            "access_key_id": AK, "access_key_secret": secret,
            "nonce": "%032x" % (NONCE[0] + int(time.time() * 1000)),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if token:
        case["security_token"] = token
    signed = json.loads(subprocess.run(
        [os.path.join(build, "bin", "km_signtool")], input=json.dumps([case]),
        capture_output=True, text=True, check=True).stdout)[0]
    # The URL keeps the real host (V3 signs the Host header); the
    # connection goes to kmsim.
    cmd = ["curl", "-sS", "--cacert", ca, "--connect-to",
           "%s:443:127.0.0.1:%s" % (host, port), "-X", signed["method"]]
    for k, v in signed["headers"].items():
        cmd += ["-H", "%s: %s" % (k, v)]
    return subprocess.run(cmd + [signed["url"]], capture_output=True,
                          check=True).stdout


def replies(port):
    inst = "kst-hzz6500a1b2c3d4e5f6"
    keys = json.loads(call(port, "kms", "ListKeys",
                           [("PageNumber", "1"), ("PageSize", "100")]))
    key = keys["Keys"]["Key"][3]["KeyId"]
    flt = '[{"Key":"CreatorType","Values":["Service"]}]'
    dkms = '[{"Key":"DKMSInstanceId","Values":["%s"]}]' % inst
    secrets = json.loads(call(port, "kms", "ListSecrets",
                              [("PageSize", "100")]))
    secret = secrets["SecretList"]["Secret"][0]["SecretName"]
    # parse: the selector byte is the parser's index in fuzz_parse.c.
    parse = [
        (0, "list_keys", call(port, "kms", "ListKeys", [("PageSize", "10")])),
        (1, "list_keys_service", call(port, "kms", "ListKeys",
                                      [("Filters", flt)])),
        (2, "describe_key", call(port, "kms", "DescribeKey",
                                 [("KeyId", key)])),
        (3, "key_versions", call(port, "kms", "ListKeyVersions",
                                 [("KeyId", key)])),
        (4, "aliases", call(port, "kms", "ListAliasesByKeyId",
                            [("KeyId", key)])),
        (5, "list_secrets", call(port, "kms", "ListSecrets",
                                 [("PageSize", "10")])),
        (6, "describe_secret", call(port, "kms", "DescribeSecret",
                                    [("SecretName", secret)])),
        (7, "dest_secrets", call(port, "kms", "ListSecrets",
                                 [("Filters", dkms)])),
        (8, "kms_instance", call(port, "kms", "GetKmsInstance",
                                 [("KmsInstanceId", inst)])),
        (9, "quota_infos", call(port, "kms", "GetKmsInstanceQuotaInfos",
                                [("KmsInstanceId", inst)])),
        (10, "default_instance", call(port, "kms", "GetDefaultKmsInstance",
                                      [])),
        (11, "list_aliases", call(port, "kms", "ListAliases",
                                  [("PageSize", "10")])),
    ]
    for sel, name, body in parse:
        put("parse", name, bytes([sel]) + body)
    # One inventory fed a list, then a describe of a listed key, as
    # discovery does.
    put("parse", "list_then_describe",
        bytes([0]) + parse[0][2] + b"\0" + bytes([2]) + parse[2][2] +
        b"\0" + bytes([3]) + parse[3][2])
    put("detect", "keys", b"\0" + call(port, "kms", "ListKeys",
                                       [("Filters", dkms)]))
    put("detect", "secrets", b"\1" + parse[7][2])
    put("detect", "keys_page2", b"\2" + parse[0][2])
    role = "acs:ram::1000000000000002:role/ResourceDirectoryAccountAccessRole"
    sts = call(port, "sts", "AssumeRole", [("RoleArn", role),
                                           ("RoleSessionName", "kmsmig")])
    put("sts", "assume_role", sts)
    accts = call(port, "rm", "ListAccounts", [("PageSize", "100"),
                                              ("IncludeTags", "true")])
    put("directory", "list_accounts", b"\0" + accts)
    put("directory", "list_accounts_tag", b"\x08" + accts)
    put("directory", "for_parent", b"\0" + call(
        port, "rm", "ListAccountsForParent",
        [("ParentFolderId", "fd-demoapps"), ("IncludeTags", "true")]))
    # error: two bytes of HTTP status, then the body.
    errors = [
        (404, "not_found", call(port, "kms", "DescribeKey",
                                [("KeyId", "key-nosuchkey0000000000")])),
        (400, "signature", call(port, "kms", "ListKeys", [], secret="wrong")),
        (400, "bad_param", call(port, "kms", "ListKeys",
                                [("PageSize", "1000000")])),
        (404, "no_action", call(port, "kms", "NoSuchAction", [])),
        (403, "sts_denied", call(port, "sts", "AssumeRole",
                                 [("RoleArn", "acs:ram::1:role/none"),
                                  ("RoleSessionName", "x")])),
    ]
    for status, name, body in errors:
        put("error", name, status.to_bytes(2, "big") + body)


def static_seeds():
    # The KMS-native error shape and throttling, as the service sends them.
    put("error", "native_throttling", (400).to_bytes(2, "big") + json.dumps(
        {"HttpStatus": 400, "Code": "Rejected.Throttling",
         "Message": "QPS Limit Exceeded", "RequestId": "abc"}).encode())
    put("error", "native_no_status", b"\0\0" + json.dumps(
        {"HttpStatus": 503, "Code": "ServiceUnavailableTemporary",
         "Message": "busy", "RequestId": "r"}).encode())
    put("error", "html", (502).to_bytes(2, "big") + b"<html>bad gateway</html>")
    # sign: flags byte, then NUL-separated fields (fuzz_sign.c).
    fixed = ["kms.cn-hangzhou.aliyuncs.com", "DescribeKey", "2016-01-20",
             AK, SK, "CAIS-token+/=", "kmsmig/0.1", "3c9b1a2f" * 4, TS]
    params = ["KeyId", "key-hzz653edf87da6dc2bd9", "Filters",
              '[{"Key":"CreatorType","Values":["User"]}]', "Name", "a b*~%/é"]
    body = "\0".join(fixed + params).encode()
    for flags, name in [(0, "v3"), (1, "v1"), (2, "v3_form"), (3, "v1_form"),
                        (4, "v3_get"), (5, "v1_get"), (8 | 16, "v3_token"),
                        (1 | 8 | 16, "v1_token"), (32, "v3_own_nonce")]:
        put("sign", name, bytes([flags]) + body)
    # aliyun CLI config: every profile mode kmsmig reads (test-only values).
    profiles = [
        {"name": "base", "mode": "AK", "access_key_id": "LTAIbase",
         "access_key_secret": "CANARY-PROFILE-SECRET", "region_id": "cn-hangzhou"},
        {"name": "sts", "mode": "StsToken", "access_key_id": "STS.tmp",
         "access_key_secret": "CANARY-STS", "sts_token": "CANARY-TOKEN"},
        {"name": "role", "mode": "RamRoleArn", "access_key_id": "LTAIrole",
         "access_key_secret": "CANARY-ROLE", "ram_role_arn":
         "acs:ram::1111:role/migrator", "ram_session_name": "kmsmig",
         "expired_seconds": 900},
        {"name": "chain", "mode": "ChainableRamRoleArn",
         "source_profile": "role", "ram_role_arn":
         "acs:ram::2222:role/ResourceDirectoryAccountAccessRole"},
        {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "r"},
        {"name": "loop1", "mode": "ChainableRamRoleArn",
         "source_profile": "loop1", "ram_role_arn": "acs:ram::1:role/a"}]
    put("aliyun_config", "profiles", json.dumps(
        {"current": "base", "profiles": profiles}, indent=1))
    put("aliyun_config", "current_sts", json.dumps(
        {"current": "sts", "profiles": profiles[:2]}))
    # manifests: the repository's own.
    dirs = [os.path.join(src, "manifests"), os.path.join(src, "tests",
                                                        "manifest", "cases"),
            os.path.join(src, "tests", "manifest")]
    for d in dirs:
        for f in sorted(os.listdir(d)):
            if f.endswith(".yaml"):
                put("manifest", os.path.basename(d) + "-" + f,
                    open(os.path.join(d, f), "rb").read())


def journal_seeds(port, tmp):
    """The demo's journal: one run against kmsim, cut into pieces small
    enough to mutate quickly (whole lines, and one torn tail)."""
    shutil.copy(os.path.join(src, "manifests", "demo.yaml"), tmp)
    text = open(os.path.join(tmp, "demo.yaml")).read()
    text = text.replace("127.0.0.1:18443", "127.0.0.1:" + port)
    text = text.replace("ca_file: ../sim/tls/ca.pem", "ca_file: " + ca)
    text = text.replace("include: ../accounts/",
                        "include: " + os.path.join(src, "accounts") + "/")
    open(os.path.join(tmp, "demo.yaml"), "w").write(text)
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=AK,
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=SK)
    subprocess.run([os.path.join(build, "bin", "kmsmig"), "plan", "demo.yaml",
                    "--out", "plan.json"], cwd=tmp, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The saved plan before the run: every key and secret still to move.
    put("planfile", "demo", open(os.path.join(tmp, "plan.json"), "rb").read())
    subprocess.run([os.path.join(build, "bin", "kmsmig"), "run", "demo.yaml",
                    "--yes", "--run-dir", "run"], cwd=tmp, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = open(os.path.join(tmp, "run", "journal.jsonl"), "rb").readlines()
    journal_pieces(lines)


def rechain(lines):
    """Renumbers lines 1..n and recomputes the hash chain (docs/journal.md)
    from the anchor of a directory without manifest.sha256 (64 zeros), the
    fuzz target's, so that a seed is a valid journal and mutations start
    from records the reader accepts."""
    import hashlib
    out, prev = [], "sha256:" + "0" * 64
    for i, ln in enumerate(lines, 1):
        r = json.loads(ln)
        r["seq"], r["prev"] = i, prev
        b = json.dumps(r, separators=(",", ":")).encode() + b"\n"
        prev = "sha256:" + hashlib.sha256(b).hexdigest()
        out.append(b)
    return out


def journal_pieces(lines):
    types = {}
    for ln in lines:
        t = json.loads(ln).get("type", "")
        types.setdefault(t, []).append(ln)
    # One run of consecutive records per kind of record, plus the start.
    put("journal", "start", b"".join(rechain(lines[:12])))
    for t, lns in sorted(types.items()):
        put("journal", "type-" + t, b"".join(rechain(lns[:6])))
    ch = rechain(lines[:6])
    put("journal", "torn_tail", b"".join(ch[:5]) + ch[5][:40])
    put("journal", "empty", b"")


def main():
    tmp = tempfile.mkdtemp()
    p, port = start_kmsim(tmp)
    try:
        replies(port)
        journal_seeds(port, tmp)
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(tmp)
    static_seeds()
    for t in sorted(os.listdir(corpus)):
        print("%-10s %d seeds" % (t, len(os.listdir(os.path.join(corpus, t)))))


main()
