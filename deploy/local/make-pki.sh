#!/usr/bin/env bash
# Creates the broker's key material for a local stack or a test, with the openssl CLI:
#   DIR/tls-ca.pem                 root that clients (certbridgectl, agents) trust
#   DIR/broker.pem, broker.key     the broker's TLS certificate (localhost, 127.0.0.1, ::1)
#   DIR/connector-ca.pem, .key     the CA that signs agent certificates
#   DIR/operator.key               a random operator API key
# Production deployments bring their own (Kubernetes secrets); see docs/operations.md.
set -euo pipefail
dir=${1:?usage: make-pki.sh DIR [extra DNS names...]}
shift || true
mkdir -p "$dir"
cd "$dir"
umask 077

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do san="$san,DNS:$name"; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/O=certbridge local/CN=certbridge local TLS root" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout tls-ca.key -out tls-ca.pem 2>/dev/null

openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/O=certbridge local/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" > broker.ext
openssl x509 -req -in broker.csr -CA tls-ca.pem -CAkey tls-ca.key -CAcreateserial \
  -days 825 -sha256 -extfile broker.ext -out broker.pem 2>/dev/null
rm -f broker.csr broker.ext tls-ca.srl

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/O=certbridge local/CN=certbridge connector CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout connector-ca.key -out connector-ca.pem 2>/dev/null

[ -f operator.key ] || openssl rand -hex 32 > operator.key
chmod 600 ./*.key
chmod 644 ./*.pem
echo "$dir"
