// The one place where store records become API messages: the API classes (AdminApi,
// CertificateApi) and the Watch stream build every response from these.
#ifndef CERTBRIDGE_BROKER_SERVICE_PROTO_MAPPING_H_
#define CERTBRIDGE_BROKER_SERVICE_PROTO_MAPPING_H_

#include "absl/time/time.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"
#include "certbridge/v1/admin.pb.h"
#include "certbridge/v1/certificate.pb.h"
#include "common/pki/pki.h"
#include "google/protobuf/timestamp.pb.h"

namespace certbridge::broker {

void ToProto(absl::Time t, google::protobuf::Timestamp* out);
v1::Tenant ToProto(const Tenant& tenant);
v1::ApiKey ToProto(const ApiKeyRecord& key);
v1::Connector ToProto(const ConnectorRecord& connector);
v1::CertificateAuthority ToProto(const CertificateAuthorityRecord& ca);
v1::AuditEvent ToProto(const AuditEventRecord& event);
v1::CertificateRequest ToProto(const CertificateRequestRecord& request);
// One Watch event: the request as this change left it, with the change's cursor.
v1::CertificateRequestEvent ToEvent(const CertificateRequestRecord& change);
// The tenant's delivery certificate, as parsed from its stored PEM.
v1::DeliveryCertificate DeliveryCertificateToProto(const pki::CertificateInfo& cert);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_PROTO_MAPPING_H_
