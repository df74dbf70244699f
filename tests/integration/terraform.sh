#!/usr/bin/env bash
# The Terraform hand-off as an operator gets it (docs/terraform.md): after
# the demo run, run/terraform/ holds per account a .tf with one block per
# migrated key and secret, import blocks and import commands, all private;
# they are the golden files in tests/golden/terraform (kmsim's demo ids come
# from the fixture, so no normalisation is needed), they parse as HCL
# (@cdktf/hcl2json: HashiCorp's HCL parser), with one resource per key and
# secret the report counts as migrated, each with the instance it is in;
# report.json lists them; `kmsmig terraform RUN_DIR` writes the same files
# again, and --style ignore the lifecycle form.  A second run with secret
# names holding quotes, "${", "%{", newlines, tabs and a bidi override: the
# files still parse and every name reads back exactly, in HCL and in the
# shell, and the override appears only as an escape.
. "$(dirname "$0")/lib/kmsim.sh"
mods="$KM_SRC/tests/conformance/node_modules"
if [ ! -d "$mods/@cdktf/hcl2json" ]; then
  if [ "${KM_ALLOW_SKIP:-0}" = 1 ]; then
    echo "terraform: SKIP: $mods/@cdktf/hcl2json missing (KM_ALLOW_SKIP=1)"
    exit 0
  fi
  echo "FAIL: $mods/@cdktf/hcl2json is missing: run scripts/npm-deps.sh" >&2
  exit 1
fi
export NODE_PATH="$mods"
parse() { node "$KM_SRC/tests/integration/lib/hcl2json.js" "$@"; }
golden="$KM_SRC/tests/golden/terraform"
demo_env
cd "$TMP"
umask 022

# ---- 1. the demo ----
start_kmsim "$KM_SRC/sim/fixtures/demo.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" demo.yaml
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >run.txt 2>run.err || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: run exited $rc"; tail -20 run.err; exit 1; }
grep -q "^terraform run/terraform/\*.tf: 118 keys and secrets need a change" run.txt ||
  { echo "FAIL: the run does not point at the Terraform files"; cat run.txt; exit 1; }
[ "$(stat -c %a run/terraform)" = 700 ] || { echo "FAIL: run/terraform is $(stat -c %a run/terraform)"; exit 1; }
loose=$(find run/terraform -type f ! -perm 600 -printf '%m %p\n')
[ -z "$loose" ] || { echo "FAIL: not 0600: $loose"; exit 1; }
if [ "${KM_UPDATE_GOLDEN:-0}" = 1 ]; then
  rm -f "$golden"/*; cp run/terraform/* "$golden"/
fi
diff -ru "$golden" run/terraform || { echo "FAIL: run/terraform differs from tests/golden/terraform (KM_UPDATE_GOLDEN=1 rewrites it after review)"; exit 1; }

# report.html and report.md list every resource of report.json's
# terraform section (streamed one row at a time, like the pipelines)
python3 - run <<'PY' || exit 1
import json, re, sys
d = sys.argv[1]
res = json.load(open(d + "/report.json"))["terraform"]["resources"]
html = open(d + "/report.html").read()
table = html.split('<table id="terraform-resources">', 1)[1].split("</table>", 1)[0]
rows = table.count("<tr>") - 1
md = open(d + "/report.md").read().split("## Terraform", 1)[1]
md_rows = [l for l in md.splitlines()
           if l.startswith("| ") and re.search(r"alicloud\\?_kms\\?_", l)]
if not (len(res) == rows == len(md_rows) == 118):
    sys.exit("FAIL: terraform resources: %d in report.json, %d rows in report.html, "
             "%d in report.md" % (len(res), rows, len(md_rows)))
if res[0]["address"] not in table:
    sys.exit("FAIL: report.html's terraform table does not name " + res[0]["address"])
PY

parse run/terraform/*.tf >parsed.json
python3 - run/report.json parsed.json <<'PY'
import json, sys
from collections import Counter
rep = json.load(open(sys.argv[1]))
parsed = json.load(open(sys.argv[2]))
# What the report itself says ended in an instance, from its pipelines.
want = Counter()
for p in rep["pipelines"]:
    for kind, rtype in (("keys", "alicloud_kms_key"), ("secrets", "alicloud_kms_secret")):
        assert p[kind]["already_migrated"] == 0, "the demo has nothing migrated before"
        for rid in p[kind]["migrated"]:
            want[(p["account"], rtype, rid, p["instance_id"])] += 1
assert sum(want.values()) == 118, sum(want.values())
imports = {}  # (account, address) -> import id
for f, doc in parsed.items():
    if f.endswith(".imports.tf"):
        acct = f.split("/")[-1][:-len(".imports.tf")]
        for blk in doc["import"]:
            imports[(acct, blk["to"].strip("${}"))] = blk["id"]
got = Counter()
for f, doc in parsed.items():
    if f.endswith(".imports.tf"):
        continue
    acct = f.split("/")[-1][:-len(".tf")]
    for rtype, blocks in doc["resource"].items():
        for name, (body,) in blocks.items():
            rid = imports[(acct, f"{rtype}.{name}")]
            if rtype == "alicloud_kms_secret":
                assert body["secret_name"] == rid, body
            got[(acct, rtype, rid, body["dkms_instance_id"])] += 1
assert got == want, f"parsed {sum(got.values())}, report {sum(want.values())}: {got ^ want}"
tf = rep["terraform"]
listed = Counter((r["account"], r["resource_type"], r["id"], r["instance_id"]) for r in tf["resources"])
assert listed == want, listed ^ want
assert {(r["account"], r["address"], r["id"]) for r in tf["resources"]} == \
    {(a, t, i) for (a, t), i in imports.items()}
for r in tf["resources"]:
    assert r["change"] == f'add dkms_instance_id = "{r["instance_id"]}"', r
assert sorted(f["path"] for f in tf["files"]) == ["terraform/app-a.tf", "terraform/app-b.tf", "terraform/mgmt.tf"], tf["files"]
print(f"terraform: {sum(got.values())} resources parsed, one per migrated key and secret")
PY
if grep -rqF "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" run/terraform; then
  echo "FAIL: the AccessKey secret is in a Terraform file"; exit 1
fi

# Written again from report.json: the same files; the other style parses
# and ignores dkms_instance_id on every resource instead of setting it.
rm -rf run/terraform
"$KM_BIN/kmsmig" terraform run >tf.txt
diff -ru "$golden" run/terraform || { echo "FAIL: kmsmig terraform wrote other files"; exit 1; }
"$KM_BIN/kmsmig" terraform run --out ignore --style ignore >tf2.txt
[ "$(stat -c %a ignore)" = 700 ]
parse ignore/*.tf >ignore.json
python3 - ignore.json <<'PY'
import json, sys
n = 0
for f, doc in json.load(open(sys.argv[1])).items():
    for rtype, blocks in doc.get("resource", {}).items():
        for name, (body,) in blocks.items():
            ign = body["lifecycle"][0]["ignore_changes"]
            assert "${dkms_instance_id}" in ign and "dkms_instance_id" not in body, (name, body)
            n += 1
assert n == 118, n
print(f"terraform --style ignore: {n} resources with ignore_changes")
PY
rc=0
"$KM_BIN/kmsmig" terraform run --style nope 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: a bad --style exited $rc"; exit 1; }
# Files that cannot be written: the resumed run says so and how to get
# them, exits 70, and its report lists the resources (migrated or already
# migrated, as its totals count them) but no files.
rm -rf run/terraform; touch run/terraform
rc=0
"$KM_BIN/kmsmig" run demo.yaml --yes --run-dir run >resume.txt 2>resume.err || rc=$?
[ "$rc" -eq 70 ] || { echo "FAIL: unwritable Terraform files: exit $rc, not 70"; cat resume.err; exit 1; }
grep -q "Terraform files not written: terraform: run/terraform is not a directory" resume.err &&
  grep -q "write them with \`kmsmig terraform run\`" resume.err ||
  { echo "FAIL: no error naming run/terraform and the fix"; cat resume.err; exit 1; }
python3 - run/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t, tot = r["terraform"], r["totals"]
assert t["files"] == [], t["files"]
done = tot["keys"]["already_migrated"] + tot["secrets"]["already_migrated"]
moved = tot["keys"]["migrated"] + tot["secrets"]["migrated"]
assert len(t["resources"]) == done + moved == 118, (len(t["resources"]), done, moved)
assert sum(x["already_migrated"] for x in t["resources"]) == done
print(f"resume: {len(t['resources'])} resources listed, no files, exit 70")
PY
kill "$KMSIM_PID"; wait "$KMSIM_PID" 2>/dev/null || true; KMSIM_PID=

# ---- 2. hostile secret names ----
python3 - "$KM_SRC/sim/fixtures/demo.yaml" fx.yaml <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("        secrets:")  # mgmt, cn-hangzhou
lines[i + 1:i + 1] = [
    r'          - {name: "tf/quote\"dollar${var.x}%{if true}x%{endif}", type: Generic}',
    r'          - {name: "tf/new\nline\\back\ttab } # not a comment", type: Generic}',
    r'          - {name: "tf/a.b", type: Generic}',
    r'          - {name: "tf/a_b", type: Generic}',
    r"          - {name: 'tf/sq''uote $(touch pwned)', type: Generic}",
    r'          - {name: "tf/rlo\u202Eevil", type: Generic}',
]
open(sys.argv[2], "w").write("\n".join(lines))
PY
rm -f "$TMP/ports" # start_kmsim waits for a new port file
start_kmsim "$TMP/fx.yaml"
demo_manifest "$KM_SRC/manifests/demo.yaml" demo2.yaml
rc=0
"$KM_BIN/kmsmig" run demo2.yaml --yes --run-dir run2 >run2.txt 2>run2.err || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: run2 exited $rc"; tail -20 run2.txt; tail -20 run2.err; exit 1; }
parse run2/terraform/mgmt.tf run2/terraform/mgmt.imports.tf >hostile.json
# The import commands, run by a shell with `terraform` printing its words.
python3 - hostile.json run2/report.json <<'PY' >want-names.txt
import json, sys
doc = json.load(open(sys.argv[1]))
rep = json.load(open(sys.argv[2]))
# hcl2json shows a template sequence as it is and a literal "${" or "%{"
# (written "$${", "%%{") doubled: a name must come back as a literal.
def literal(s):
    assert "${" not in s.replace("$${", "") and "%{" not in s.replace("%%{", ""), \
        f"{s!r} is a template, not a literal string"
    return s.replace("$${", "${").replace("%%{", "%{")
names = {literal(b[0]["secret_name"])
         for b in doc["run2/terraform/mgmt.tf"]["resource"]["alicloud_kms_secret"].values()}
ids = {literal(b["id"]) for b in doc["run2/terraform/mgmt.imports.tf"]["import"]}
want = {s for p in rep["pipelines"] if p["account"] == "mgmt"
        for s in p["secrets"]["migrated"]}
hostile = {s for s in want if s.startswith("tf/")}
assert len(hostile) == 6, hostile
assert names == want, (names ^ want)
assert hostile <= ids, hostile - ids
for s in sorted(hostile):
    print(json.dumps(s))
print(f"hostile names: {len(hostile)} read back exactly", file=sys.stderr)
PY
(
  terraform() { python3 -c 'import json,sys; print(json.dumps(sys.argv[3]))' "$@"; }
  . run2/terraform/mgmt.imports.txt
) | grep '"tf/' | sort >got-names.txt
sort want-names.txt | diff - got-names.txt || { echo "FAIL: the import commands do not give the secret names back"; exit 1; }
[ ! -e pwned ] || { echo "FAIL: a secret name ran a command"; exit 1; }
# A right-to-left override is shown as an escape, never as itself.
if grep -qF $'\xe2\x80\xae' run2/terraform/*; then
  echo "FAIL: a bidi override reached a Terraform file as is"; exit 1
fi
echo "terraform: ok"
