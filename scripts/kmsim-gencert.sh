#!/usr/bin/env bash
# Generates kmsim's TEST-ONLY TLS material in sim/tls/ (run once; the output
# is committed): a CA (ca.pem, its key is discarded) and a server certificate
# (server.pem, server.key) for *.aliyuncs.com, *.kms.aliyuncs.com,
# *.cryptoservice.kms.aliyuncs.com, *.<region>.aliyuncs.com for every KMS
# region of the reference (a wildcard covers one label only, so
# kms.cn-hangzhou.aliyuncs.com needs *.cn-hangzhou.aliyuncs.com), localhost
# and 127.0.0.1, valid 30 years.
# Never trust this CA outside tests: its private key is thrown away, but the
# server key is public in the repository.
set -euo pipefail
out=${1:-$(cd "$(dirname "$0")/.." && pwd)/sim/tls}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=10958

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" \
  -out "$out/ca.pem" -days $days -sha256 \
  -subj "/O=kmsim test-only CA/CN=kmsim test-only root CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"

openssl req -newkey rsa:2048 -nodes -keyout "$out/server.key" \
  -out "$tmp/server.csr" -subj "/O=kmsim test-only/CN=*.aliyuncs.com"

regions="ap-northeast-1 ap-northeast-2 ap-southeast-1 ap-southeast-2
ap-southeast-3 ap-southeast-5 ap-southeast-6 ap-southeast-7 ap-south-1
cn-hangzhou cn-shanghai cn-qingdao cn-beijing cn-zhangjiakou cn-huhehaote
cn-shenzhen cn-heyuan cn-wulanchabu cn-guangzhou cn-chengdu cn-hongkong
eu-central-1 eu-west-1 me-east-1 us-east-1 us-west-1 cn-hangzhou-finance
cn-shanghai-finance-1 cn-shenzhen-finance-1"
san="DNS:*.aliyuncs.com,DNS:*.kms.aliyuncs.com,DNS:*.cryptoservice.kms.aliyuncs.com"
for r in $regions; do san="$san,DNS:*.$r.aliyuncs.com"; done
san="$san,DNS:localhost,IP:127.0.0.1"
cat >"$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san
EXT

openssl x509 -req -in "$tmp/server.csr" -CA "$out/ca.pem" -CAkey "$tmp/ca.key" \
  -CAcreateserial -out "$out/server.pem" -days $days -sha256 \
  -extfile "$tmp/ext.cnf"
chmod 644 "$out/server.key"
echo "kmsim-gencert: wrote $out/ca.pem, server.pem, server.key (test-only)"
