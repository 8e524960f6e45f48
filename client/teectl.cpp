// teectl: talks to teed through the client library. `teectl help` lists the commands.

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "client/teectl_args.h"
#include "client/teectl_output.h"
#include "teed/client.h"

namespace teed::teectl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitTeeError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBusError = 3;

int exit_code(const client::Reply& reply) { return reply.ok() ? kExitOk : kExitTeeError; }

client::Client connect(const Arguments& args) {
    if (args.bus_address.empty()) return client::Client::connect_system();
    return client::Client::connect(args.bus_address);
}

int run_devices(client::Client& client, const Arguments& args) {
    auto devices = client.devices();
    std::cout << (args.json ? json_line(devices_json(devices)) : format_devices(devices));
    return kExitOk;
}

int run_status(client::Client& client, const Arguments& args) {
    auto version = client.daemon_version();
    auto status = client.daemon_status();
    std::cout << (args.json ? json_line(status_json(version, status)) : format_status(version, status));
    return kExitOk;
}

int run_client_info(client::Client& client, const Arguments& args) {
    auto info = client.client_info();
    std::cout << (args.json ? json_line(client_info_json(info)) : format_client_info(info));
    return kExitOk;
}

int run_reload_policy(client::Client& client, const Arguments& args) {
    auto reload = client.reload_policy();
    std::cout << (args.json ? json_line(policy_reload_json(reload)) : format_policy_reload(reload));
    return kExitOk;
}

int run_supplicant(client::Client& client, const Arguments& args) {
    auto info = client.supplicant(args.device);
    std::cout << (args.json ? json_line(supplicant_json(info)) : format_supplicant(info));
    return kExitOk;
}

client::OpenOptions open_options(const Arguments& args) {
    client::OpenOptions options;
    options.device = args.device;
    options.login = args.login;
    options.connection_data = args.connection_data;
    return options;
}

int run_open(client::Client& client, const Arguments& args) {
    auto options = open_options(args);
    options.params = args.params;
    options.cancel_id = args.cancel_id;
    auto [session, reply] = client.open_session(args.uuid, options);
    std::string path = session ? session->path() : "/";
    // Closed before printing, so that a failure to close is the one thing reported.
    if (session) session->close();
    if (args.json) {
        auto out = reply_json(reply);
        out["session"] = path;
        std::cout << json_line(out);
    } else {
        std::cout << format_reply(reply);
        if (path != "/") std::cout << "session: " << path << " (closed)\n";
    }
    return exit_code(reply);
}

int run_invoke(client::Client& client, const Arguments& args) {
    auto [session, opened] = client.open_session(args.uuid, open_options(args));
    if (!session) {
        if (args.json) {
            auto out = reply_json(opened);
            out["stage"] = "open_session";
            std::cout << json_line(out);
        } else {
            std::cout << format_reply(opened, "open session");
        }
        return exit_code(opened);
    }
    client::InvokeOptions options;
    options.cancel_id = args.cancel_id;
    auto reply = session->invoke(args.ta_command, args.params, options);
    session->close();
    std::cout << (args.json ? json_line(reply_json(reply)) : format_reply(reply));
    return exit_code(reply);
}

int report_bus_error(const Arguments& args, const std::string& name, const std::string& message) {
    if (args.json) {
        std::cout << json_line(error_json(name, message));
    } else {
        std::cerr << "teectl: " << name << ": " << message << "\n";
    }
    return kExitBusError;
}

int run(const Arguments& args) {
    try {
        auto client = connect(args);
        switch (args.command) {
            case Command::Devices: return run_devices(client, args);
            case Command::Status: return run_status(client, args);
            case Command::Open: return run_open(client, args);
            case Command::Invoke: return run_invoke(client, args);
            case Command::ClientInfo: return run_client_info(client, args);
            case Command::ReloadPolicy: return run_reload_policy(client, args);
            case Command::Supplicant: return run_supplicant(client, args);
            case Command::Help: break;
        }
        std::cout << usage();
        return kExitOk;
    } catch (const client::Error& e) {
        return report_bus_error(args, e.name(), e.message());
    } catch (const std::exception& e) {
        return report_bus_error(args, "org.freedesktop.DBus.Error.Failed", e.what());
    }
}

}  // namespace
}  // namespace teed::teectl

int main(int argc, char** argv) {
    using namespace teed::teectl;
    auto args = parse_arguments(std::vector<std::string>(argv + 1, argv + argc));
    if (!args.ok()) {
        std::cerr << "teectl: " << args.error().message() << "\n\n" << usage();
        return kExitUsage;
    }
    if (args->command == Command::Help) {
        std::cout << usage();
        return kExitOk;
    }
    int status = run(*args);
    std::cout.flush();
    return status;
}
