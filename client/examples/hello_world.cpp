// The smallest teed client: opens a session with the hello_world TA and increments 42.
//
//   c++ hello_world.cpp $(pkg-config --cflags --libs --static teed-client) -o hello_world
//   ./hello_world                      # the system bus
//   ./hello_world unix:path=/run/...   # another bus

#include <cstdio>
#include <exception>

#include <teed/client.h>

int main(int argc, char** argv) {
    try {
        auto teed = argc > 1 ? teed::client::Client::connect(argv[1])
                             : teed::client::Client::connect_system();
        auto [session, opened] = teed.open_session("8aaaf200-2450-11e4-abe2-0002a5d5c51b");
        if (!session) {
            std::fprintf(stderr, "open: 0x%08x (origin %u)\n", opened.return_code, opened.return_origin);
            return 1;
        }
        auto reply = session->invoke(0, {teed::client::Param::value_inout(42)});
        std::printf("42 -> %llu\n", static_cast<unsigned long long>(reply.params.at(0).a));
        return reply.ok() ? 0 : 1;
    } catch (const teed::client::Error& e) {
        std::fprintf(stderr, "%s: %s\n", e.name().c_str(), e.what());
        return 3;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 3;
    }
}
