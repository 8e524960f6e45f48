#pragma once
// A fixed user and group database for the policy tests, so they do not depend on the machine's.

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "daemon/policy.h"
#include "daemon/policy_parser.h"

namespace teed::test {

inline constexpr uid_t kAlice = 1000;
inline constexpr uid_t kBob = 1001;
inline constexpr gid_t kTee = 500;
inline constexpr gid_t kStaff = 600;

inline NameResolver fake_resolver() {
    static const std::map<std::string, uid_t> users = {{"root", 0}, {"alice", kAlice}, {"bob", kBob}};
    static const std::map<std::string, gid_t> groups = {{"root", 0}, {"tee", kTee}, {"staff", kStaff}};
    return NameResolver{
        .user = [](const std::string& n) -> std::optional<uid_t> {
            auto it = users.find(n);
            if (it == users.end()) return std::nullopt;
            return it->second;
        },
        .group = [](const std::string& n) -> std::optional<gid_t> {
            auto it = groups.find(n);
            if (it == groups.end()) return std::nullopt;
            return it->second;
        },
    };
}

// The rules of `text`, which must have no errors.
inline Policy policy_from(const std::string& text, const std::string& file = "test.json") {
    PolicyFileResult r = parse_policy_text(text, file, fake_resolver());
    for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
    return Policy(std::move(r.rules));
}

}  // namespace teed::test
