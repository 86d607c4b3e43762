#include "common/log.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace certbridge {
namespace {

// Written once in main() before any thread starts; read-only afterwards.
std::string& Component() {
  static std::string* component = new std::string("certbridge");
  return *component;
}

void AppendJsonString(std::string& out, absl::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void Emit(absl::string_view level, absl::string_view event, LogFields fields) {
  std::string line = "{\"time\":";
  AppendJsonString(line, absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()));
  line += ",\"level\":";
  AppendJsonString(line, level);
  line += ",\"component\":";
  AppendJsonString(line, Component());
  line += ",\"event\":";
  AppendJsonString(line, event);
  for (const auto& [key, value] : fields) {
    line.push_back(',');
    AppendJsonString(line, key);
    line.push_back(':');
    AppendJsonString(line, value);
  }
  line += "}\n";
  // One fwrite per line keeps lines whole when threads log at once. The flush matters on
  // Windows: msvcrt buffers stderr when it is a file or pipe (a service, a redirected run),
  // and a killed process would lose its last lines.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void SetLogComponent(absl::string_view component) { Component() = std::string(component); }
void LogInfo(absl::string_view event, LogFields fields) { Emit("info", event, fields); }
void LogWarning(absl::string_view event, LogFields fields) { Emit("warning", event, fields); }
void LogError(absl::string_view event, LogFields fields) { Emit("error", event, fields); }

}  // namespace certbridge
