// teed-mkta: writes a `.ta` file for teed's simulated secure world (docs/simulator.md, "TA files").
//
//   teed-mkta --uuid 91dcca81-d6f5-48f7-b3c0-bab814aab298 --ta-version 1 --program loadable
//             --name "Example TA" -o ta/91dcca81-d6f5-48f7-b3c0-bab814aab298.ta
//
// The file is replaced atomically, so a supplicant reading the old one never sees half of each.

#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/sim/sim_ta_image.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "common/uuid.h"

namespace teed {
namespace {

constexpr int kExitUsage = 2;

struct MktaOptions {
    Uuid uuid;
    uint32_t ta_version = 0;
    std::string manifest;  // the manifest's text, checked
    std::string output;
};

void print_usage(std::FILE* to) {
    std::fprintf(
        to,
        "Usage: teed-mkta --uuid UUID --ta-version N --program NAME [--name TEXT] -o FILE\n"
        "Writes a .ta file for teed's simulated TEE (see docs/simulator.md).\n"
        "  --uuid UUID        the TA's UUID\n"
        "  --ta-version N     the version in the bootstrap header (0 to 4294967295)\n"
        "  --program NAME     what the simulator runs; known:");
    for (std::string_view program : sim::kSimTaPrograms)
        std::fprintf(to, " %.*s", static_cast<int>(program.size()), program.data());
    std::fprintf(to,
                 "\n"
                 "  --name TEXT        the TA's name (default: the program)\n"
                 "  -o, --output FILE  where to write; usually <dir>/<uuid>.ta\n");
}

Result<uint32_t> parse_version(std::string_view text) {
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
        return Error(ErrorKind::InvalidArgument)
               << "--ta-version '" << text << "' is not a 32-bit number";
    return value;
}

// The command line as given, before any of it is checked.
struct Arguments {
    std::optional<std::string> uuid, version, program, name, output;
    bool help = false;
};

Result<Arguments> read_arguments(int argc, char** argv) {
    static const option kOptions[] = {{"uuid", required_argument, nullptr, 'u'},
                                      {"ta-version", required_argument, nullptr, 'v'},
                                      {"program", required_argument, nullptr, 'p'},
                                      {"name", required_argument, nullptr, 'n'},
                                      {"output", required_argument, nullptr, 'o'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    Arguments args;
    opterr = 0;  // reported by the caller, with the usage
    for (int opt = 0; (opt = getopt_long(argc, argv, "o:h", kOptions, nullptr)) != -1;) {
        switch (opt) {
            case 'u': args.uuid = optarg; break;
            case 'v': args.version = optarg; break;
            case 'p': args.program = optarg; break;
            case 'n': args.name = optarg; break;
            case 'o': args.output = optarg; break;
            case 'h': args.help = true; break;
            default:
                return Error(ErrorKind::InvalidArgument)
                       << "unknown option or missing value: '" << argv[optind - 1] << "'";
        }
    }
    if (optind != argc)
        return Error(ErrorKind::InvalidArgument) << "unexpected '" << argv[optind] << "'";
    return args;
}

Result<MktaOptions> check_arguments(const Arguments& args) {
    if (!args.uuid || !args.version || !args.program || !args.output)
        return Error(ErrorKind::InvalidArgument)
               << "--uuid, --ta-version, --program and -o are required";
    if (!sim::is_known_sim_ta_program(*args.program))
        return Error(ErrorKind::InvalidArgument)
               << "the simulator has no program '" << *args.program << "'";
    const sim::SimTaManifest manifest{.program = *args.program,
                                      .name = args.name.value_or(*args.program)};
    return MktaOptions{.uuid = TEED_TRY(Uuid::parse(*args.uuid)),
                       .ta_version = TEED_TRY(parse_version(*args.version)),
                       .manifest = TEED_TRY(sim::format_sim_ta_manifest(manifest)),
                       .output = *args.output};
}

Result<void> write_all(int fd, const std::vector<uint8_t>& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoError();
        done += static_cast<size_t>(n);
    }
    return {};
}

// Into a temporary file next to `path`, then renamed over it.
Result<void> write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::string temporary = path + ".XXXXXX";
    UniqueFd fd(::mkstemp(temporary.data()));
    if (!fd.valid()) return ErrnoError() << "creating '" << temporary << "'";
    auto written = [&]() -> Result<void> {
        if (::fchmod(fd.get(), 0644) != 0) return ErrnoError() << "chmod '" << temporary << "'";
        auto result = write_all(fd.get(), bytes);
        if (!result.ok()) return std::move(result).error() << "writing '" << temporary << "'";
        if (::close(fd.release()) != 0) return ErrnoError() << "closing '" << temporary << "'";
        if (::rename(temporary.c_str(), path.c_str()) != 0)
            return ErrnoError() << "renaming '" << temporary << "' to '" << path << "'";
        return {};
    }();
    if (!written.ok()) ::unlink(temporary.c_str());
    return written;
}

Result<void> make_ta(const MktaOptions& options) {
    return write_file_atomically(
        options.output, sim::build_sim_ta_file(options.uuid, options.ta_version, options.manifest));
}

}  // namespace
}  // namespace teed

int main(int argc, char** argv) {
    auto args = teed::read_arguments(argc, argv);
    if (args.ok() && args->help) {
        teed::print_usage(stdout);
        return EXIT_SUCCESS;
    }
    auto options = args.ok() ? teed::check_arguments(*args) : std::move(args).error();
    if (!options.ok()) {
        std::fprintf(stderr, "teed-mkta: %s\n", options.error().message().c_str());
        teed::print_usage(stderr);
        return teed::kExitUsage;
    }
    auto made = teed::make_ta(*options);
    if (!made.ok()) {
        std::fprintf(stderr, "teed-mkta: %s\n", made.error().message().c_str());
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
