// What the SCEP back end works with: the broker's stores, its certificate pipeline, the RA
// key vault and the clock. ScepEnrollmentService (the device's side) and ScepRaCertificates
// (the RA certificate's renewal) take the same set, so it is named once here.
#ifndef CERTBRIDGE_BROKER_SCEP_SCEP_BACK_END_H_
#define CERTBRIDGE_BROKER_SCEP_SCEP_BACK_END_H_

#include "broker/scep/ra_key_vault.h"
#include "broker/scep/scep_store.h"
#include "broker/service/certificate_api.h"
#include "broker/store/certificate_store.h"
#include "broker/store/store.h"
#include "common/clock.h"

namespace certbridge::broker::scep {

// Nothing is owned; all must be set and outlive the services built with it.
struct ScepBackEnd {
  Store* store = nullptr;                // tenants and the audit log
  CertificateStore* requests = nullptr;  // the certificate requests enrollments become
  ScepStore* scep_store = nullptr;       // profiles and challenges
  CertificateApi* certificates = nullptr;
  const RaKeyVault* vault = nullptr;     // opens and seals RA private keys
  const Clock* clock = nullptr;
};

}  // namespace certbridge::broker::scep

#endif  // CERTBRIDGE_BROKER_SCEP_SCEP_BACK_END_H_
