#pragma once
// teectl's command line, parsed apart from main() so that it can be tested without a bus.
//
//   auto args = parse_arguments({"invoke", uuid, "0", "--value-inout", "42"});
//   if (!args.ok()) { std::cerr << args.error().message(); return 2; }

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "teed/client.h"

namespace teed::teectl {

enum class Command { Help, Devices, Status, Open, Invoke, ClientInfo, ReloadPolicy, Supplicant };

struct Arguments {
    Command command = Command::Help;
    std::string bus_address;  // empty: the system bus
    bool json = false;

    // open and invoke
    std::string uuid;  // canonical lower-case form
    // open and invoke: --device; supplicant: its DEVICE argument. Empty: teed or the library
    // picks one.
    std::string device;
    uint32_t login = client::kLoginPublic;
    uint32_t connection_data = 0;  // the group id of group logins
    std::optional<uint32_t> cancel_id;
    // The parameters of OpenSession (open) or of Invoke (invoke), in command-line order.
    std::vector<client::Param> params;

    // invoke
    uint32_t ta_command = 0;
};

// Parses the arguments after the program name. Every usage error is an InvalidArgument whose
// message says what is wrong with which argument.
Result<Arguments> parse_arguments(const std::vector<std::string>& args);

// The DATA of --in, --inout and --inout-sized: "hex:0011ff" (bytes), "@FILE" (the file's
// contents, at most 32 MiB), else the text's own bytes.
Result<std::vector<uint8_t>> decode_data(std::string_view text);

// A decimal or 0x-prefixed hexadecimal number no larger than `max`.
Result<uint64_t> parse_number(std::string_view text, uint64_t max);

// public, user, group, application, user-application, group-application, or a TEEC_LOGIN_* code.
Result<uint32_t> parse_login(std::string_view text);

std::string usage();

}  // namespace teed::teectl
