#!/usr/bin/env bash
# Migrate detection is proportional to the batch, not to the instance
# (issue 13): the destination already holds 1,500 keys (an earlier run's)
# and the run moves 120 keys and 60 secrets (3 key batches, 2 with
# secrets).  Following each batch must not page through the whole
# instance: ListKeys in the migrate stage stays within 6 calls a batch
# (page 1 learns the instance's size, then the batch's unseen keys 10 at a
# time), where listing the instance at each look took 16 pages a batch.
# Every pending key and secret is still migrated.
. "$(dirname "$0")/lib/kmsim.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$TMP"
INST=kst-hzz6e0c0a1b2c3d4e5f7
python3 - fixture.yaml "$INST" <<'PY'
import sys
inst = sys.argv[2]
keys = ["{id: key-old%04d, instance: %s}" % (i, inst) for i in range(1500)]
keys += ["{id: key-p%03d}" % i for i in range(120)]
secrets = ["{name: sec-p%03d, type: Generic}" % i for i in range(60)]
out = """kmsim: 1
regions: [cn-hangzhou]
accounts:
  - id: "1100000000000102"
    name: big
    access_keys:
      - {id: KSIMTESTBIGAK00001, secret: ksim-test-big-secret}
    regions:
      cn-hangzhou:
        instances:
          - {id: %s, type: software, image_version: "2.9.3", key_num: 4000, secret_num: 1000, vpc_num: 3}
        keys:
""" % inst + "".join("          - %s\n" % k for k in keys) + "        secrets:\n" + \
    "".join("          - %s\n" % s for s in secrets)
open(sys.argv[1], "w").write(out)
PY
start_kmsim fixture.yaml
kmsim_post /_kmsim/faults '{"task_seconds": 0, "throttle": "off"}' >/dev/null
cat >big.yaml <<EOF
version: 1
name: detect-incremental
accounts:
  - {name: big, id: "1100000000000102", credentials: {env: true}}
regions: [cn-hangzhou]
instances:
  cn-hangzhou: {id: $INST, owner: big, type: software, image_version: "2.9.3", auto_renew: true, share_with: all}
select: {keys: all-pending, secrets: all-pending}
migrate: {driver: sim, when: now, task_timeout: 10m}
concurrency: {qps: {key-read: 5000}}   # kmsim does not throttle here
endpoints:
  overrides:
    - {host: "*.aliyuncs.com", address: "127.0.0.1:$KMSIM_PORT", scheme: https, ca_file: "$KM_SRC/sim/tls/ca.pem"}
EOF
export ALIBABA_CLOUD_ACCESS_KEY_ID=KSIMTESTBIGAK00001
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=ksim-test-big-secret
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_PROFILE || true
rc=0
"$KM_BIN/kmsmig" run big.yaml --yes -v --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" = 0 ] || { tail -20 run.err; fail "run exited $rc, want 0"; }
python3 - run.err run/report.json <<'PY'
import collections, json, re, sys
per = collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r": (\w+) by (\w+): call kms\.(\w+)$", line.rstrip("\n"))
    if m:
        per[(m.group(1), m.group(3))] += 1
t = json.load(open(sys.argv[2]))["totals"]
print("migrate stage: ListKeys %d, ListSecrets %d; migrated: %d keys, %d secrets"
      % (per[("migrate", "ListKeys")], per[("migrate", "ListSecrets")],
         t["keys"]["migrated"], t["secrets"]["migrated"]))
errs = []
if per[("migrate", "ListKeys")] > 3 * 6:
    errs.append("ListKeys in migrate: %d calls for 3 batches, want <= 18"
                % per[("migrate", "ListKeys")])
if per[("migrate", "ListSecrets")] > 2 * 6:
    errs.append("ListSecrets in migrate: %d calls, want <= 12"
                % per[("migrate", "ListSecrets")])
if t["keys"]["migrated"] != 120 or t["secrets"]["migrated"] != 60:
    errs.append("migrated %s keys, %s secrets; want 120 and 60"
                % (t["keys"]["migrated"], t["secrets"]["migrated"]))
if errs:
    print("\n".join("FAIL: " + e for e in errs))
    sys.exit(1)
PY
echo "detect_incremental: ok"
