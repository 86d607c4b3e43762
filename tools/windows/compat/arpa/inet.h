// <arpa/inet.h> for the mingw build (tools/windows/CMakeLists.txt puts compat/ on the
// include path): inet_pton/inet_ntop and AF_INET/AF_INET6 live in Winsock's ws2tcpip.h.
#ifndef CERTBRIDGE_TOOLS_WINDOWS_COMPAT_ARPA_INET_H_
#define CERTBRIDGE_TOOLS_WINDOWS_COMPAT_ARPA_INET_H_

#include <winsock2.h>
#include <ws2tcpip.h>

#endif  // CERTBRIDGE_TOOLS_WINDOWS_COMPAT_ARPA_INET_H_
