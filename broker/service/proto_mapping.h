// The one place where store records become API messages.
#ifndef CERTBRIDGE_BROKER_SERVICE_PROTO_MAPPING_H_
#define CERTBRIDGE_BROKER_SERVICE_PROTO_MAPPING_H_

#include "absl/time/time.h"
#include "broker/store/store.h"
#include "certbridge/v1/admin.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace certbridge::broker {

void ToProto(absl::Time t, google::protobuf::Timestamp* out);
v1::Tenant ToProto(const Tenant& tenant);
v1::ApiKey ToProto(const ApiKeyRecord& key);
v1::Connector ToProto(const ConnectorRecord& connector);
v1::CertificateAuthority ToProto(const CertificateAuthorityRecord& ca);
v1::AuditEvent ToProto(const AuditEventRecord& event);

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_PROTO_MAPPING_H_
