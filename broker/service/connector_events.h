// Told when a connector's row changes in a way live streams and registration long-polls
// must see at once (approve, reject, disable, enable, delete, CA assignment).
#ifndef CERTBRIDGE_BROKER_SERVICE_CONNECTOR_EVENTS_H_
#define CERTBRIDGE_BROKER_SERVICE_CONNECTOR_EVENTS_H_

#include <string>

namespace certbridge::broker {

class ConnectorEvents {
 public:
  virtual ~ConnectorEvents() = default;
  // Thread-safe, non-blocking.
  virtual void ConnectorChanged(const std::string& connector_id) = 0;
};

}  // namespace certbridge::broker

#endif  // CERTBRIDGE_BROKER_SERVICE_CONNECTOR_EVENTS_H_
