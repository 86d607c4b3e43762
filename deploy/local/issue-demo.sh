#!/usr/bin/env bash
# Part of deploy/local/stack.sh: issues one certificate in each mode through the broker and
# shows it. Usage: issue-demo.sh STATE_DIR CA_ID
set -euo pipefail
state=$1
ca=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="${CERTBRIDGE_BUILD:-$root/build}/bin"
api_port=$(sed -n 's/^api=//p' "$state/broker.ports")
ctl() { "$bin/certbridgectl" --broker "127.0.0.1:$api_port" --ca-cert "$state/pki/tls-ca.pem" "$@"; }
export CERTBRIDGE_API_KEY
CERTBRIDGE_API_KEY=$(cat "$state/admin.key")
out="$state/issued"
mkdir -p "$out"
emulator_ca="$state/emulator/ca.cert.pem"

show() {  # show CERT_FILE
  openssl x509 -in "$1" -noout -nameopt utf8,sep_comma_plus -subject -issuer -serial -enddate -ext subjectAltName,extendedKeyUsage 2>/dev/null
  printf 'openssl verify against the emulator CA: '
  openssl verify -CAfile "$emulator_ca" "$1"
}

echo "-- CSR mode: the device made its key; only the CSR travels"
openssl req -new -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/O=Example, Inc./CN=iPad 42 (Müller, Jörg)" -keyout "$out/device-csr-mode.key" \
  -out "$out/device.csr" 2>/dev/null
ctl certificates request --ca "$ca" --template CertbridgeDevice --csr "$out/device.csr" \
  --san dns:ipad-42.devices.example --device-id ipad-42 --wait 30s --out-cert "$out/csr-mode.pem"
show "$out/csr-mode.pem"

echo
echo "-- Key-generation mode: the agent makes the key and returns an encrypted PKCS#12"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=MDM delivery key" \
  -keyout "$out/delivery.key" -out "$out/delivery.pem" 2>/dev/null
ctl delivery-certificate set "$out/delivery.pem" >/dev/null
ctl certificates request --ca "$ca" --template CertbridgeDevice --key-spec ec-p256 \
  --subject "CN=mac-7,OU=Devices,O=Example" --san upn:mac-7@corp.example --wait 30s \
  --out-cert "$out/keygen-mode.pem" --out-pkcs12 "$out/keygen-mode.p12" \
  --out-password-cms "$out/keygen-mode.password.cms"
show "$out/keygen-mode.pem"
password=$(openssl cms -decrypt -inform DER -in "$out/keygen-mode.password.cms" \
  -recip "$out/delivery.pem" -inkey "$out/delivery.key")
printf 'PKCS#12 opened with the password recovered by openssl cms -decrypt: '
openssl pkcs12 -in "$out/keygen-mode.p12" -passin "pass:$password" -nokeys -clcerts 2>/dev/null \
  | openssl x509 -noout -subject
