#!/bin/sh
# Generates a throwaway PKI for TLS tests into directory $1:
#   ca.pem/ca.key         test CA          other-ca.pem   an unrelated CA
#   server-rsa.{pem,key}  mail.example.com, *.wild.example.com (RSA 2048)
#   server-ec.{pem,key}   the same names (ECDSA P-256)
#   server-chain.pem      RSA key+cert, then ECDSA key+cert (for *_chain_files)
#   client.{pem,key}      client.example.com (RSA), signed by the test CA
#   rogue.{pem,key}       mail.example.com signed by other-ca
#   dh2048.pem            DH parameters (ffdhe2048)
#   capath/               the test CA, hashed (for *_tls_CApath)
set -eu
d=$1
mkdir -p "$d"
cd "$d"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=Postern Test CA"
ossl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj "/CN=Other CA"
ext="subjectAltName=DNS:mail.example.com,DNS:*.wild.example.com"
sign() { # name keytype cn ca ext
  if [ "$2" = ec ]; then
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
  else
    ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key"
  fi
  ossl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3"
  printf '%s\n' "$5" > "$1.ext"
  ossl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem"
}
sign server-rsa rsa mail.example.com ca "$ext"
sign server-ec ec mail.example.com ca "$ext"
sign client rsa client.example.com ca "extendedKeyUsage=clientAuth"
sign rogue rsa mail.example.com other-ca "$ext"
cat server-rsa.key server-rsa.pem server-ec.key server-ec.pem > server-chain.pem
openssl x509 -in server-rsa.pem -noout -fingerprint -sha256 | sed 's/.*=//' > server-rsa.fpr
openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dh2048.pem 2>/dev/null
mkdir -p capath && cp ca.pem capath/ && openssl rehash capath 2>/dev/null
