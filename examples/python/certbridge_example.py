#!/usr/bin/env python3
"""An MDM back end's certbridge client, in Python with grpcio.

What it shows, in order (docs/certificates.md describes each call):
  1. CSR mode: the device made its key; the back end sends the CSR and gets the certificate.
  2. Key-generation mode: the agent makes the key; the back end recovers the PKCS#12
     password from the CMS envelope with the tenant's delivery key, and opens the PKCS#12.
  3. A Watch loop that keeps its cursor and resumes from it after the stream ends; when the
     broker no longer keeps that cursor (CURSOR_EXPIRED) it lists the requests and resumes
     from the list's watch_cursor.
  4. Errors: the google.rpc.Status details in grpc-status-details-bin (ErrorInfo.reason is
     the stable certbridge code to act on), falling back to the message when there are none.

Stubs are generated, not committed: examples/python/generate_stubs.sh DIR, then --stubs DIR.
The API key comes from the CERTBRIDGE_API_KEY environment variable or --api-key-file, never
from the command line. Exits 0 when every step did what it should.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

# Set by load_stubs(): the generated modules.
certificate_pb2 = certificate_pb2_grpc = status_pb2 = error_details_pb2 = None

# The broker waits at most this long inside CreateCertificateRequest; the gRPC deadline must
# be longer, or the call ends DEADLINE_EXCEEDED while the broker would still have answered.
WAIT_TIMEOUT_SECONDS = 30

TERMINAL_STATES = ("STATE_ISSUED", "STATE_DENIED", "STATE_FAILED", "STATE_REVOKED",
                   "STATE_EXPIRED", "STATE_CANCELLED")


def load_stubs(directory):
    global certificate_pb2, certificate_pb2_grpc, status_pb2, error_details_pb2
    sys.path.insert(0, directory)
    from certbridge.v1 import certificate_pb2, certificate_pb2_grpc  # noqa: F401
    from google.rpc import status_pb2, error_details_pb2  # noqa: F401


class Client:
    """CertificateService with the API key on every call."""

    def __init__(self, endpoint, ca_cert_pem, api_key):
        credentials = grpc.ssl_channel_credentials(root_certificates=ca_cert_pem)
        self.channel = grpc.secure_channel(endpoint, credentials)
        self.stub = certificate_pb2_grpc.CertificateServiceStub(self.channel)
        self.metadata = (("authorization", "Bearer " + api_key),)

    def create(self, request, wait_seconds=WAIT_TIMEOUT_SECONDS):
        request.wait_timeout.seconds = wait_seconds
        return self.stub.CreateCertificateRequest(
            request, metadata=self.metadata, timeout=wait_seconds + 10)

    def get(self, name):
        return self.stub.GetCertificateRequest(
            certificate_pb2.GetCertificateRequestRequest(name=name),
            metadata=self.metadata, timeout=10)

    def list(self):
        return self.stub.ListCertificateRequests(
            certificate_pb2.ListCertificateRequestsRequest(),
            metadata=self.metadata, timeout=10)

    def watch(self, cursor):
        # No deadline: the stream is meant to stay open; the caller cancels it.
        return self.stub.WatchCertificateRequests(
            certificate_pb2.WatchCertificateRequestsRequest(cursor=cursor),
            metadata=self.metadata)


def describe_error(error):
    """What a program can act on in a failed call: (code name, reason, field, text)."""
    reason, field, parts = "", "", []
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                parts.append("reason=%s domain=%s %s" % (
                    info.reason, info.domain, dict(info.metadata)))
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                parts += ["field %s: %s" % (v.field, v.description)
                          for v in bad.field_violations]
                if bad.field_violations:
                    field = bad.field_violations[0].field
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                parts.append("retry after %ss" % retry.retry_delay.seconds)
    # No details (an older broker, or a failure before the broker): the message is all.
    text = "; ".join(parts) if parts else error.details()
    return error.code().name, reason, field, text


def new_csr(common_name):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def state_name(request):
    return certificate_pb2.CertificateRequest.State.Name(request.state)


def issue_with_csr(client, args):
    request = certificate_pb2.CreateCertificateRequestRequest(
        request_id="py-csr-" + uuid.uuid4().hex,  # keep it: a retry with it is safe
        ca_id=args.ca_id, template_name=args.template, csr_pem=new_csr("py-device-1"))
    issued = client.create(request)
    if state_name(issued) != "STATE_ISSUED":
        raise SystemExit("CSR mode: %s %s %s" % (
            state_name(issued), issued.error_code, issued.error_message))
    again = client.create(request)  # the same request_id: the same request, no new certificate
    if again.name != issued.name or again.serial_number != issued.serial_number:
        raise SystemExit("CSR mode: a retry with the same request_id made another request")
    certificate = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    print("csr: %s ISSUED serial %s expires %s (retry returned the same request)" % (
        issued.name, issued.serial_number, issued.expire_time.ToJsonString()))
    return issued.name, certificate


def issue_with_key_generation(client, args):
    request = certificate_pb2.CreateCertificateRequestRequest(
        request_id="py-keygen-" + uuid.uuid4().hex, ca_id=args.ca_id,
        template_name=args.template)
    keygen = request.key_generation
    keygen.key_spec = certificate_pb2.KEY_SPEC_EC_P256
    keygen.subject.rfc4514 = "CN=py-device-2,O=Example"
    keygen.pkcs12_profile = certificate_pb2.PKCS12_PROFILE_MODERN
    san = keygen.subject_alt_names.add()
    san.type = certificate_pb2.SubjectAltName.TYPE_UPN
    san.value = "py-device-2@corp.example"
    issued = client.create(request)
    if state_name(issued) != "STATE_ISSUED":
        raise SystemExit("key generation: %s %s" % (state_name(issued), issued.error_message))
    password = open_envelope(issued.enveloped_password, args.delivery_key, args.delivery_cert)
    key, certificate, _ = pkcs12.load_key_and_certificates(issued.pkcs12, password)
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():
        raise SystemExit("key generation: the PKCS#12's key does not match its certificate")
    if certificate.serial_number != int(issued.serial_number, 16):
        raise SystemExit("key generation: the PKCS#12 holds another certificate")
    print("keygen: %s ISSUED, PKCS#12 opened with the password from the CMS envelope" %
          issued.name)
    return issued.name


def open_envelope(enveloped_password, delivery_key, delivery_cert):
    """The PKCS#12 password: CMS EnvelopedData to the tenant's delivery certificate.

    The password goes from openssl's stdout to us, never through a command line or a file.
    """
    with tempfile.NamedTemporaryFile(suffix=".cms") as envelope:
        envelope.write(enveloped_password)
        envelope.flush()
        result = subprocess.run(
            ["openssl", "cms", "-decrypt", "-inform", "DER", "-in", envelope.name,
             "-recip", delivery_cert, "-inkey", delivery_key],
            capture_output=True, check=False)
    if result.returncode != 0:
        raise SystemExit("openssl cms -decrypt: " + result.stderr.decode())
    return result.stdout


def watch_until(client, cursor, wanted_names, seconds):
    """Reads events after `cursor` until every wanted request is terminal; returns the cursor
    of the last event read. Reconnects from that cursor when the stream ends early, as a
    long-running Watch loop does after a broker restart or a load balancer's GOAWAY. A cursor
    the broker no longer keeps (CURSOR_EXPIRED): the current state comes from a list, and
    watching resumes from the list's watch_cursor."""
    pending = set(wanted_names)

    def seen(request, cursor):
        if request.name in pending and state_name(request) in TERMINAL_STATES:
            pending.discard(request.name)
            print("watch: %s %s at cursor %s" % (request.name, state_name(request), cursor))

    deadline = time.monotonic() + seconds
    while pending and time.monotonic() < deadline:
        stream = client.watch(cursor)
        try:
            for event in stream:
                cursor = event.cursor  # persist this to resume after a restart
                seen(event.certificate_request, cursor)
                if not pending:
                    break
        except grpc.RpcError as error:
            code, reason, _, text = describe_error(error)
            if reason == "CURSOR_EXPIRED":
                listing = client.list()  # one page is enough here; a back end reads them all
                cursor = listing.watch_cursor or "0"  # "": a broker older than watch_cursor
                for request in listing.certificate_requests:
                    seen(request, cursor)
                print("watch: cursor expired, re-listed and resumed from cursor %s" % cursor)
                continue
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise SystemExit("watch: %s %s %s" % (code, reason, text))
            time.sleep(1)  # then resume from `cursor`
        finally:
            stream.cancel()
    if pending:
        raise SystemExit("watch: no terminal event for %s" % sorted(pending))
    return cursor


def show_error_handling(client, args):
    """A bad request: the program reads the reason and the field, not the English text."""
    bad = certificate_pb2.CreateCertificateRequestRequest(
        request_id="py-bad-" + uuid.uuid4().hex, ca_id=args.ca_id,
        template_name=args.template, csr_pem="not a CSR")
    try:
        client.create(bad)
    except grpc.RpcError as error:
        code, reason, field, text = describe_error(error)
        print("error: %s reason=%s field=%s: %s" % (
            code, reason or "(no details)", field or "(none)", text))
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise SystemExit("error handling: expected INVALID_ARGUMENT, got " + code)
        return
    raise SystemExit("error handling: a request with a bad CSR was accepted")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the broker's API port, host:port")
    parser.add_argument("--ca-cert", required=True, help="PEM: the CA of the broker's TLS")
    parser.add_argument("--api-key-file", help="else $CERTBRIDGE_API_KEY")
    parser.add_argument("--ca-id", required=True)
    parser.add_argument("--template", required=True, help="the template's cn")
    parser.add_argument("--delivery-key", required=True, help="PEM key of the delivery cert")
    parser.add_argument("--delivery-cert", required=True, help="PEM delivery certificate")
    parser.add_argument("--stubs", default=os.path.join(os.path.dirname(__file__), "gen"))
    args = parser.parse_args()
    load_stubs(args.stubs)

    if args.api_key_file:
        with open(args.api_key_file) as f:
            api_key = f.read().strip()
    else:
        api_key = os.environ.get("CERTBRIDGE_API_KEY", "")
    if not api_key:
        raise SystemExit("set CERTBRIDGE_API_KEY or --api-key-file")
    with open(args.ca_cert, "rb") as f:
        client = Client(args.endpoint, f.read(), api_key)

    csr_name, _ = issue_with_csr(client, args)
    keygen_name = issue_with_key_generation(client, args)
    # A Watch loop starts from a stored cursor; "" means "from now on" and "0" from the
    # oldest change kept, which here includes both requests.
    cursor = watch_until(client, "0", [csr_name, keygen_name], 30)

    # Resume: a request made while no stream is open is seen from the stored cursor.
    later = certificate_pb2.CreateCertificateRequestRequest(
        request_id="py-later-" + uuid.uuid4().hex, ca_id=args.ca_id,
        template_name=args.template, csr_pem=new_csr("py-device-3"))
    created = client.create(later, wait_seconds=0)  # returns at once, QUEUED
    watch_until(client, cursor, [created.name], 30)
    print("watch: resumed from cursor %s and saw %s" % (cursor, created.name))

    # A stored cursor the broker no longer keeps (older than the retention; made up here):
    # the loop re-lists and resumes from the list's watch_cursor.
    expired = client.create(certificate_pb2.CreateCertificateRequestRequest(
        request_id="py-expired-" + uuid.uuid4().hex, ca_id=args.ca_id,
        template_name=args.template, csr_pem=new_csr("py-device-4")), wait_seconds=0)
    watch_until(client, "999999999999", [expired.name], 30)

    show_error_handling(client, args)
    print("ok")


if __name__ == "__main__":
    main()
