#include "client/teectl_args.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/stat.h>
#include <utility>
#include <unistd.h>

#include "common/unique_fd.h"
#include "common/uuid.h"

namespace teed::teectl {

namespace {

constexpr size_t kMaxParams = 4;  // TEEC_CONFIG_PAYLOAD_REF_COUNT
// dbus-daemon's max_message_size on the system bus: no call carrying more can reach teed.
constexpr uint64_t kMaxDataBytes = 32u << 20;
constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

Error usage_error() { return Error(ErrorKind::InvalidArgument); }

enum class Opt {
    BusAddress, Json, Help, Device, Login, Group, CancelId,
    ValueIn, ValueOut, ValueInout, In, Out, Inout, InoutSized,
};

struct OptionSpec {
    std::string_view name;
    Opt opt;
    bool takes_value;
    bool session_only;  // meaningful for open and invoke only
};

constexpr OptionSpec kOptions[] = {
    {"--bus-address", Opt::BusAddress, true, false},
    {"--json", Opt::Json, false, false},
    {"--help", Opt::Help, false, false},
    {"--device", Opt::Device, true, true},
    {"--login", Opt::Login, true, true},
    {"--group", Opt::Group, true, true},
    {"--cancel-id", Opt::CancelId, true, true},
    {"--value-in", Opt::ValueIn, true, true},
    {"--value-out", Opt::ValueOut, false, true},
    {"--value-inout", Opt::ValueInout, true, true},
    {"--in", Opt::In, true, true},
    {"--out", Opt::Out, true, true},
    {"--inout", Opt::Inout, true, true},
    {"--inout-sized", Opt::InoutSized, true, true},
};

const OptionSpec* find_option(std::string_view name) {
    for (const auto& spec : kOptions) {
        if (spec.name == name) return &spec;
    }
    return nullptr;
}

struct ParseState {
    Arguments out;
    std::vector<std::string> positional;
    std::string first_session_option;  // to name it if the command takes none
    std::optional<uint32_t> group;
    bool help = false;
};

Error too_large(const std::string& path) {
    return usage_error() << "'@" << path << "' holds more than " << kMaxDataBytes
                         << " bytes, the most one call can carry over the system bus";
}

// Reads at most kMaxDataBytes: a FILE such as /dev/zero or a growing log never ends, and a
// larger one could not reach teed anyway.
Result<std::vector<uint8_t>> read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return usage_error() << "cannot read '" << path << "': " << std::strerror(errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<uint64_t>(st.st_size) > kMaxDataBytes)
        return too_large(path);
    std::vector<uint8_t> bytes;
    uint8_t chunk[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return usage_error() << "cannot read '" << path << "': " << std::strerror(errno);
        if (n == 0) return bytes;
        if (bytes.size() + static_cast<size_t>(n) > kMaxDataBytes) return too_large(path);
        bytes.insert(bytes.end(), chunk, chunk + n);
    }
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Result<std::vector<uint8_t>> decode_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return usage_error() << "'hex:" << hex << "' has an odd number of hex digits";
    }
    std::vector<uint8_t> bytes;
    bytes.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        int high = hex_digit(hex[i]);
        int low = hex_digit(hex[i + 1]);
        if (high < 0 || low < 0) return usage_error() << "'hex:" << hex << "' is not hexadecimal";
        bytes.push_back(static_cast<uint8_t>(high * 16 + low));
    }
    return bytes;
}

// A[,B] of --value-in and --value-inout.
Result<client::Param> parse_value_param(uint32_t type, std::string_view text) {
    auto comma = text.find(',');
    client::Param param;
    param.type = type;
    param.a = TEED_TRY(parse_number(text.substr(0, comma), kMaxU64));
    if (comma != std::string_view::npos) param.b = TEED_TRY(parse_number(text.substr(comma + 1), kMaxU64));
    return param;
}

// SIZE,DATA of --inout-sized: SIZE is everything before the first ',' (a number has none), so
// DATA may hold any character.
Result<client::Param> parse_sized_inout_param(std::string_view text) {
    auto comma = text.find(',');
    if (comma == std::string_view::npos)
        return usage_error() << "--inout-sized '" << text << "' is not SIZE,DATA";
    const uint64_t capacity = TEED_TRY(parse_number(text.substr(0, comma), kMaxU64));
    auto bytes = TEED_TRY(decode_data(text.substr(comma + 1)));
    if (capacity < bytes.size()) {
        return usage_error() << "--inout-sized capacity " << capacity << " is smaller than its "
                             << bytes.size() << " bytes of data";
    }
    return client::Param::temp_inout(std::move(bytes), capacity);
}

Result<client::Param> parse_param(Opt opt, const std::string& value) {
    switch (opt) {
        case Opt::ValueIn: return parse_value_param(client::kParamValueInput, value);
        case Opt::ValueOut: return client::Param::value_out();
        case Opt::ValueInout: return parse_value_param(client::kParamValueInout, value);
        case Opt::In: return client::Param::temp_in(TEED_TRY(decode_data(value)));
        case Opt::Out: return client::Param::temp_out(TEED_TRY(parse_number(value, kMaxU64)));
        case Opt::Inout: {
            auto bytes = TEED_TRY(decode_data(value));
            const uint64_t size = bytes.size();
            return client::Param::temp_inout(std::move(bytes), size);
        }
        case Opt::InoutSized: return parse_sized_inout_param(value);
        default: return usage_error() << "not a parameter option";
    }
}

Result<void> apply_option(ParseState& state, const OptionSpec& spec, const std::string& value) {
    Arguments& out = state.out;
    if (spec.session_only && state.first_session_option.empty()) {
        state.first_session_option = std::string(spec.name);
    }
    switch (spec.opt) {
        case Opt::BusAddress: out.bus_address = value; return {};
        case Opt::Json: out.json = true; return {};
        case Opt::Help: state.help = true; return {};
        case Opt::Device: out.device = value; return {};
        case Opt::Login: out.login = TEED_TRY(parse_login(value)); return {};
        case Opt::Group:
            state.group = static_cast<uint32_t>(TEED_TRY(parse_number(value, kMaxU32)));
            return {};
        case Opt::CancelId:
            out.cancel_id = static_cast<uint32_t>(TEED_TRY(parse_number(value, kMaxU32)));
            return {};
        default: break;
    }
    if (out.params.size() == kMaxParams) {
        return usage_error() << "at most " << kMaxParams << " parameters are allowed; '"
                             << spec.name << "' would be the " << kMaxParams + 1 << "th";
    }
    out.params.push_back(TEED_TRY(parse_param(spec.opt, value)));
    return {};
}

// One "--name", "--name=value" or "--name value"; advances `i` past what it used.
Result<void> parse_option(ParseState& state, const std::vector<std::string>& args, size_t& i) {
    std::string_view arg = args[i];
    auto eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    const OptionSpec* spec = find_option(name);
    if (spec == nullptr) return usage_error() << "unknown option '" << name << "'";
    std::string value;
    if (eq != std::string_view::npos) {
        if (!spec->takes_value) return usage_error() << "option '" << name << "' takes no value";
        value = std::string(arg.substr(eq + 1));
    } else if (spec->takes_value) {
        if (i + 1 >= args.size()) return usage_error() << "option '" << name << "' needs a value";
        value = args[++i];
    }
    return apply_option(state, *spec, value);
}

Result<Command> parse_command(std::string_view name) {
    if (name == "devices") return Command::Devices;
    if (name == "status") return Command::Status;
    if (name == "open") return Command::Open;
    if (name == "invoke") return Command::Invoke;
    if (name == "client-info") return Command::ClientInfo;
    if (name == "reload-policy") return Command::ReloadPolicy;
    if (name == "supplicant") return Command::Supplicant;
    if (name == "help") return Command::Help;
    return usage_error() << "unknown command '" << name << "'";
}

Result<void> check_login(ParseState& state) {
    bool group_login = state.out.login == client::kLoginGroup ||
                       state.out.login == client::kLoginGroupApplication;
    if (group_login && !state.group) return usage_error() << "a group login needs --group GID";
    if (!group_login && state.group) return usage_error() << "--group applies to group logins only";
    state.out.connection_data = state.group.value_or(0);
    return {};
}

// How many positional arguments `command` needs and allows, its own name included.
std::pair<size_t, size_t> positional_counts(Command command) {
    switch (command) {
        case Command::Open: return {2, 2};        // open UUID
        case Command::Invoke: return {3, 3};      // invoke UUID COMMAND
        case Command::Supplicant: return {1, 2};  // supplicant [DEVICE]
        default: return {1, 1};
    }
}

// Checks the positional arguments and options against the command they follow.
Result<void> finish(ParseState& state) {
    if (state.help || state.positional.empty()) {
        if (!state.help) return usage_error() << "no command given";
        state.out.command = Command::Help;
        return {};
    }
    Arguments& out = state.out;
    out.command = TEED_TRY(parse_command(state.positional[0]));
    auto [wanted, allowed] = positional_counts(out.command);
    const std::string& name = state.positional[0];
    if (state.positional.size() < wanted) {
        return usage_error() << "'" << name << "' needs "
                             << (out.command == Command::Invoke ? "a UUID and a COMMAND" : "a UUID");
    }
    if (state.positional.size() > allowed) {
        return usage_error() << "unexpected argument '" << state.positional[allowed] << "'";
    }
    if (out.command != Command::Open && out.command != Command::Invoke) {
        if (!state.first_session_option.empty()) {
            return usage_error() << "'" << name << "' does not take '" << state.first_session_option << "'";
        }
        if (out.command == Command::Supplicant && state.positional.size() == 2) {
            out.device = state.positional[1];
        }
        return {};
    }
    auto uuid = Uuid::parse(state.positional[1]);
    if (!uuid.ok()) {
        return usage_error() << "'" << state.positional[1]
                             << "' is not a UUID (expected 8-4-4-4-12 hex digits)";
    }
    out.uuid = uuid->to_string();
    if (out.command == Command::Invoke) {
        auto command = parse_number(state.positional[2], kMaxU32);
        if (!command.ok()) return usage_error() << "COMMAND: " << command.error().message();
        out.ta_command = static_cast<uint32_t>(command.value());
    }
    return check_login(state);
}

}  // namespace

Result<uint64_t> parse_number(std::string_view text, uint64_t max) {
    int base = 10;
    std::string_view digits = text;
    if (text.starts_with("0x") || text.starts_with("0X")) {
        base = 16;
        digits = text.substr(2);
    }
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (digits.empty() || ec == std::errc::invalid_argument || end != digits.data() + digits.size()) {
        return usage_error() << "'" << text << "' is not a number";
    }
    if (ec == std::errc::result_out_of_range || value > max) {
        return usage_error() << "'" << text << "' is larger than " << max;
    }
    return value;
}

Result<uint32_t> parse_login(std::string_view text) {
    static constexpr std::pair<std::string_view, uint32_t> kNames[] = {
        {"public", client::kLoginPublic},
        {"user", client::kLoginUser},
        {"group", client::kLoginGroup},
        {"application", client::kLoginApplication},
        {"user-application", client::kLoginUserApplication},
        {"group-application", client::kLoginGroupApplication},
    };
    for (const auto& [name, code] : kNames) {
        if (text == name) return code;
    }
    auto number = parse_number(text, kMaxU32);
    if (!number.ok()) {
        return usage_error() << "unknown login '" << text
                             << "' (public, user, group, application, user-application, "
                                "group-application or a number)";
    }
    return static_cast<uint32_t>(number.value());
}

Result<std::vector<uint8_t>> decode_data(std::string_view text) {
    if (text.starts_with("hex:")) return decode_hex(text.substr(4));
    if (text.starts_with("@")) return read_file(std::string(text.substr(1)));
    return std::vector<uint8_t>(text.begin(), text.end());
}

Result<Arguments> parse_arguments(const std::vector<std::string>& args) {
    ParseState state;
    bool options_done = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (!options_done && arg == "--") {
            options_done = true;
        } else if (!options_done && arg.starts_with("--")) {
            TEED_TRY(parse_option(state, args, i));
        } else if (!options_done && arg == "-h") {
            state.help = true;
        } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
            return usage_error() << "unknown option '" << arg << "'";
        } else {
            state.positional.push_back(arg);
        }
    }
    TEED_TRY(finish(state));
    return std::move(state.out);
}

std::string usage() {
    return R"(Usage: teectl [--bus-address ADDR] [--json] COMMAND ...

Commands:
  devices                 list the TEE devices teed serves
  status                  show the daemon's version and status
  open UUID [SESSION OPTIONS] [PARAMS]
                          open a session with the TA UUID, print the result, close it
  invoke UUID COMMAND [SESSION OPTIONS] [--cancel-id N] [PARAMS]
                          open a session, invoke COMMAND once, print the output parameters,
                          close the session
  client-info             what teed knows of you: identity, matching policy rules, limits,
                          usage
  reload-policy           re-read teed's policy files; root or teed's user
  supplicant [DEVICE]     teed's supplicant for DEVICE (default: the first device that has
                          one): its paths, requests per command, shared memory; members of
                          group tee and root
  help                    show this text

Options:
  --bus-address ADDR      talk to teed on the bus at ADDR (default: the system bus)
  --json                  print one JSON value instead of text

Session options:
  --device NAME           the device to use, e.g. tee0 (default: teed picks one)
  --login METHOD          public (default), user, group, application, user-application,
                          group-application, or a TEEC_LOGIN_* number
  --group GID             the group of a group login
  --cancel-id N           a cancellation id for the call

Parameters (in order, at most 4):
  --value-in A[,B]        value input
  --value-out             value output
  --value-inout A[,B]     value input and output
  --in DATA               temporary memory reference, input
  --out SIZE              temporary memory reference, output, SIZE bytes
  --inout DATA            temporary memory reference, input and output, the size of DATA
  --inout-sized SIZE,DATA the same with room for SIZE bytes (SIZE ends at the first ',')
  DATA is text, hex:0011ff, or @FILE (at most 32 MiB). Numbers are decimal or 0x-prefixed hexadecimal.

Exit status: 0 success, 1 the TA or TEE returned an error, 2 usage error, 3 D-Bus error.
)";
}

}  // namespace teed::teectl
