#pragma once
// What the objects a client owns (sessions, shared memory) have in common on the bus: they are
// served from sd-bus fallback vtables whose lookup asks whether the calling connection owns the
// object, so to anyone else they answer exactly as paths that never existed.

#include <string>

#include "common/result.h"

struct sd_bus_message;

namespace teed {

// Holds a method call until its asynchronous reply is sent.
struct CallRef {
    explicit CallRef(sd_bus_message* m);
    ~CallRef();
    CallRef(const CallRef&) = delete;
    CallRef& operator=(const CallRef&) = delete;
    sd_bus_message* message;
};

std::string sender_of(sd_bus_message* m);
// The id in <prefix>/<id>, or "" for any other path.
std::string object_id_of(const char* prefix, const char* path);
// The object went away between the lookup and the handler (closed, or its owner left).
int reply_unknown_object(sd_bus_message* call);
// Replies with the error's D-Bus name and logs the refusal once.
void reply_error(sd_bus_message* call, const char* method, const Error& error);

}  // namespace teed
