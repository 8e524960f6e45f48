// OPTEE_RPC_CMD_LOAD_TA served from real files in temporary directories.

#include "backends/optee/supplicant/ta_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/kernel/gp.h"
#include "tests/unit/backends/ta_file_test_support.h"

namespace teed::supplicant {
namespace {

using tatest::load_ta_request;
using tatest::loadable_ta;
using tatest::TempDirectory;
using testing::HasSubstr;

const Uuid kTa = tatest::uuid("91dcca81-d6f5-48f7-b3c0-bab814aab298");
const Uuid kOther = tatest::uuid("4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6");

class ATaLoader : public testing::Test {
protected:
    // A loader with `options`, searching first/ then second/ unless they name another path.
    TaLoader loader(TaLoaderOptions options = {}) {
        if (options.ta_path == TaLoaderOptions{}.ta_path) options.ta_path = {first(), second()};
        return TaLoader(std::move(options));
    }
    std::string first() const { return root_.file("first"); }
    std::string second() const { return root_.file("second"); }
    std::string put(const std::string& directory, const std::string& name,
                    const std::vector<uint8_t>& bytes) {
        return root_.write(directory + "/" + name, bytes);
    }
    std::string put_ta(const std::string& directory, const std::vector<uint8_t>& bytes) {
        return put(directory, tatest::ta_name(kTa), bytes);
    }

    // The size query, then the fetch into a buffer of the size answered.
    std::vector<uint8_t> load(TaLoader& loader, const Uuid& uuid = kTa) {
        auto query = load_ta_request(uuid);
        RpcOutcome sized = loader.serve(query);
        EXPECT_EQ(sized.code, gp::kSuccess) << sized.reason;
        std::vector<uint8_t> buffer(query.params[1].b);
        auto fetch = load_ta_request(uuid, &buffer);
        RpcOutcome fetched = loader.serve(fetch);
        EXPECT_EQ(fetched.code, gp::kSuccess) << fetched.reason;
        EXPECT_EQ(fetch.params[1].b, buffer.size());
        return buffer;
    }

    TempDirectory root_;
};

TEST_F(ATaLoader, AnswersTheSizeOfTheFileWhenAskedWithoutABuffer) {
    auto file = loadable_ta(kTa);
    put_ta("first", file);
    auto ta_loader = loader();
    auto request = load_ta_request(kTa);
    RpcOutcome outcome = ta_loader.serve(request);
    EXPECT_EQ(outcome.code, gp::kSuccess) << outcome.reason;
    EXPECT_EQ(request.params[1].b, file.size());
}

TEST_F(ATaLoader, CopiesTheFileIntoABufferLargeEnough) {
    auto file = loadable_ta(kTa, 3, "copied");
    put_ta("first", file);
    auto ta_loader = loader();
    EXPECT_EQ(load(ta_loader), file);

    std::vector<uint8_t> larger(file.size() + 100, 0xEE);
    auto request = load_ta_request(kTa, &larger);
    EXPECT_EQ(ta_loader.serve(request).code, gp::kSuccess);
    EXPECT_EQ(request.params[1].b, file.size()) << "the size is the file's, not the buffer's";
    EXPECT_TRUE(std::equal(file.begin(), file.end(), larger.begin()));
    EXPECT_EQ(larger.back(), 0xEE) << "nothing written past the file";
}

TEST_F(ATaLoader, AnswersShortBufferWithTheSizeAndWritesNothingIntoASmallerBuffer) {
    auto file = loadable_ta(kTa);
    put_ta("first", file);
    auto ta_loader = loader();
    std::vector<uint8_t> small(file.size() - 1, 0xEE);
    auto request = load_ta_request(kTa, &small);
    RpcOutcome outcome = ta_loader.serve(request);
    EXPECT_EQ(outcome.code, gp::kErrorShortBuffer);
    EXPECT_EQ(request.params[1].b, file.size());
    EXPECT_EQ(small, std::vector<uint8_t>(file.size() - 1, 0xEE));
}

TEST_F(ATaLoader, AnswersItemNotFoundAtDebugLevelWhenNoDirectoryHasTheTa) {
    put_ta("first", loadable_ta(kTa));
    auto ta_loader = loader();
    auto request = load_ta_request(kOther);
    RpcOutcome outcome = ta_loader.serve(request);
    EXPECT_EQ(outcome.code, gp::kErrorItemNotFound);
    EXPECT_EQ(outcome.level, LogLevel::Debug) << "an ordinary answer: the TA is not installed";
    EXPECT_THAT(outcome.reason, HasSubstr("no 4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6.ta in '" +
                                          first() + ":" + second() + "'"));

    auto missing_dirs = loader({.ta_path = {root_.file("nowhere"), root_.file("first/file")}});
    EXPECT_EQ(missing_dirs.serve(request).code, gp::kErrorItemNotFound)
        << "missing directories (ENOENT, ENOTDIR) are simply not there";
}

TEST_F(ATaLoader, ReadsTheUuidFromTheOctetsOfAThenB) {
    const Uuid hello = tatest::uuid("8aaaf200-2450-11e4-abe2-0002a5d5c51b");
    put("first", tatest::ta_name(hello), loadable_ta(hello));
    auto ta_loader = loader();
    RpcRequest request = load_ta_request(hello);
    if (std::endian::native == std::endian::little) {
        // tee_uuid_to_octets() writes the RFC 4122 octets into the value struct's memory.
        EXPECT_EQ(request.params[0].a, 0xe411502400f2aa8aull);
        EXPECT_EQ(request.params[0].b, 0x1bc5d5a50200e2abull);
    }
    EXPECT_EQ(ta_loader.serve(request).code, gp::kSuccess);
}

TEST_F(ATaLoader, FindsTheDeprecatedNameWithoutTheFourthDash) {
    auto file = loadable_ta(kTa);
    put("first", "91dcca81-d6f5-48f7-b3c0bab814aab298.ta", file);
    auto ta_loader = loader();
    EXPECT_EQ(load(ta_loader), file);
}

TEST_F(ATaLoader, PrefersTheCanonicalNameInADirectory) {
    auto canonical = loadable_ta(kTa, 1, "canonical");
    put_ta("first", canonical);
    put("first", tatest::deprecated_ta_name(kTa), loadable_ta(kTa, 2, "deprecated name"));
    auto ta_loader = loader();
    EXPECT_EQ(load(ta_loader), canonical);
}

TEST_F(ATaLoader, SearchesTheDirectoriesInOrder) {
    auto in_first = loadable_ta(kTa, 1, "first");
    auto in_second = loadable_ta(kTa, 2, "second, longer");
    put_ta("second", in_second);
    auto ta_loader = loader();
    EXPECT_EQ(load(ta_loader), in_second) << "found in the second directory";

    // Even the deprecated name in an earlier directory wins over a later canonical one.
    put("first", tatest::deprecated_ta_name(kTa), in_first);
    EXPECT_EQ(load(ta_loader), in_first);

    auto reversed = loader({.ta_path = {second(), first()}});
    EXPECT_EQ(load(reversed), in_second);
}

TEST_F(ATaLoader, FollowsSymlinks) {
    auto file = loadable_ta(kTa);
    std::string target = put("elsewhere", "real.ta", file);
    std::filesystem::create_directories(first());
    std::filesystem::create_symlink(target, first() + "/" + tatest::ta_name(kTa));
    std::filesystem::create_directory_symlink(root_.file("elsewhere"), root_.file("linked"));
    auto ta_loader = loader();
    EXPECT_EQ(load(ta_loader), file);
    std::filesystem::rename(root_.file("elsewhere/real.ta"),
                            root_.file("elsewhere/" + tatest::ta_name(kTa)));
    auto via_linked_dir = loader({.ta_path = {root_.file("linked")}});
    EXPECT_EQ(load(via_linked_dir), file);
}

TEST_F(ATaLoader, StopsAtAnEntryItCannotOpenInsteadOfTakingALaterOne) {
    put_ta("second", loadable_ta(kTa));
    std::filesystem::create_directories(first());
    std::string loop = first() + "/" + tatest::ta_name(kTa);
    std::filesystem::create_symlink(loop, loop);  // ELOOP
    auto ta_loader = loader();
    auto request = load_ta_request(kTa);
    RpcOutcome outcome = ta_loader.serve(request);
    EXPECT_EQ(outcome.code, gp::kErrorGeneric);
    EXPECT_EQ(outcome.level, LogLevel::Warning);
    EXPECT_THAT(outcome.reason, HasSubstr("opening '" + loop + "'"));
}

TEST_F(ATaLoader, RefusesWhatIsNotARegularFileWithoutHanging) {
    std::filesystem::create_directories(first() + "/" + tatest::ta_name(kTa));
    auto ta_loader = loader();
    auto request = load_ta_request(kTa);
    RpcOutcome directory = ta_loader.serve(request);
    EXPECT_EQ(directory.code, gp::kErrorGeneric);
    EXPECT_THAT(directory.reason, HasSubstr("is not a regular file"));

    std::filesystem::create_directories(second());
    ASSERT_EQ(::mkfifo((second() + "/" + tatest::ta_name(kTa)).c_str(), 0600), 0);
    auto fifo_loader = loader({.ta_path = {second()}});
    RpcOutcome fifo = fifo_loader.serve(request);  // a FIFO without a writer would block open()
    EXPECT_EQ(fifo.code, gp::kErrorGeneric);
    EXPECT_THAT(fifo.reason, HasSubstr("is not a regular file"));
}

TEST_F(ATaLoader, RefusesFilesLargerThanItsLimit) {
    auto file = loadable_ta(kTa);
    put_ta("first", file);
    auto limited = loader({.max_ta_bytes = file.size() - 1});
    auto request = load_ta_request(kTa);
    RpcOutcome outcome = limited.serve(request);
    EXPECT_EQ(outcome.code, gp::kErrorExcessData);
    EXPECT_THAT(outcome.reason,
                HasSubstr("more than max_ta_bytes=" + std::to_string(file.size() - 1)));
    auto exact = loader({.max_ta_bytes = file.size()});
    EXPECT_EQ(load(exact), file);
}

// Malformed files: what OP-TEE's REE TA store would refuse with TEE_ERROR_SECURITY is refused
// with the same code, at the size query already, naming the file and the fault.
class AMalformedTaFile : public ATaLoader {
protected:
    void expect_refused(const std::vector<uint8_t>& file, const std::string& fault) {
        std::string path = put_ta("first", file);
        auto ta_loader = loader();
        auto query = load_ta_request(kTa);
        RpcOutcome sized = ta_loader.serve(query);
        EXPECT_EQ(sized.code, gp::kErrorSecurity) << sized.reason;
        EXPECT_EQ(sized.level, LogLevel::Warning);
        EXPECT_THAT(sized.reason, HasSubstr("'" + path + "' is not a TA image"));
        EXPECT_THAT(sized.reason, HasSubstr(fault));

        std::vector<uint8_t> buffer(file.size() + 64, 0xEE);
        auto fetch = load_ta_request(kTa, &buffer);
        EXPECT_EQ(ta_loader.serve(fetch).code, gp::kErrorSecurity);
    }
    std::vector<uint8_t> good_ = loadable_ta(kTa);
};

TEST_F(AMalformedTaFile, CutInsideItsHeaderIsRefused) {
    expect_refused({}, "signed header at offset 0 needs 20 bytes, the file has 0");
    expect_refused(std::vector<uint8_t>(good_.begin(), good_.begin() + 12), "needs 20 bytes");
    expect_refused(std::vector<uint8_t>(good_.begin(), good_.begin() + 90),
                   "bootstrap header at offset 84 needs 20 bytes, the file has 6");
}

TEST_F(AMalformedTaFile, WithABadMagicIsRefused) {
    auto file = good_;
    file[3] = 0;
    expect_refused(file, "magic 0x00545348, expected 0x4f545348");
}

TEST_F(AMalformedTaFile, OfAnUnknownImageTypeIsRefused) {
    auto file = good_;
    file[4] = 9;
    expect_refused(file, "unknown img_type 9");
}

TEST_F(AMalformedTaFile, WhoseSizesDisagreeIsRefused) {
    auto truncated = std::vector<uint8_t>(good_.begin(), good_.end() - 1);
    expect_refused(truncated, "(truncated)");
    auto trailing = good_;
    trailing.push_back('\n');
    expect_refused(trailing, "(trailing bytes)");
    auto img_size = good_;
    img_size[9] = 0x10;  // img_size + 4096
    expect_refused(img_size, "does not match the file");
}

TEST_F(AMalformedTaFile, WithAHugeHashSizeIsRefused) {
    auto file = good_;
    file[16] = 0xFF;
    file[17] = 0xFF;
    expect_refused(file, "hash_size 65535");
}

TEST_F(ATaLoader, ChecksTheBytesItFetchesNotTheFileItSizedUp) {
    auto file = loadable_ta(kTa);
    std::string path = put_ta("first", file);
    auto ta_loader = loader();
    auto query = load_ta_request(kTa);
    ASSERT_EQ(ta_loader.serve(query).code, gp::kSuccess);
    ASSERT_EQ(query.params[1].b, file.size());

    // Rewritten in place between the two requests, shorter: a torn image if it were passed on.
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(file.size() - 10)), 0);
    std::vector<uint8_t> buffer(file.size(), 0xEE);
    auto fetch = load_ta_request(kTa, &buffer);
    RpcOutcome outcome = ta_loader.serve(fetch);
    EXPECT_EQ(outcome.code, gp::kErrorSecurity);
    EXPECT_THAT(outcome.reason, HasSubstr("(truncated)"));

    // Replaced by a larger valid one: the buffer no longer fits it.
    auto larger = loadable_ta(kTa, 2, "a longer name than before");
    put_ta("first", larger);
    RpcOutcome grown = ta_loader.serve(fetch);
    EXPECT_EQ(grown.code, gp::kErrorShortBuffer);
    EXPECT_EQ(fetch.params[1].b, larger.size());
}

TEST_F(ATaLoader, AsksThePolicyWithTheUuidBeforeLookingForAFile) {
    put_ta("first", loadable_ta(kTa));
    std::mutex mutex;
    std::vector<Uuid> asked;
    auto policed = loader({.may_load = [&](const Uuid& uuid) {
        std::lock_guard lock(mutex);
        asked.push_back(uuid);
        return uuid != kTa;
    }});
    auto request = load_ta_request(kTa);
    RpcOutcome outcome = policed.serve(request);
    EXPECT_EQ(outcome.code, gp::kErrorAccessDenied);
    EXPECT_EQ(outcome.level, LogLevel::Warning);
    EXPECT_THAT(outcome.reason, HasSubstr("91dcca81-d6f5-48f7-b3c0-bab814aab298"));
    EXPECT_THAT(outcome.reason, HasSubstr("refused by policy"));
    EXPECT_EQ(request.params[1].b, 0u) << "no size is given away";

    auto other = load_ta_request(kOther);
    EXPECT_EQ(policed.serve(other).code, gp::kErrorItemNotFound) << "allowed, then looked for";
    EXPECT_EQ(asked, (std::vector<Uuid>{kTa, kOther}));
}

TEST_F(ATaLoader, RefusesRequestsWithOtherParams) {
    put_ta("first", loadable_ta(kTa));
    auto ta_loader = loader();
    auto expect_bad = [&](RpcRequest request, const char* why) {
        RpcOutcome outcome = ta_loader.serve(request);
        EXPECT_EQ(outcome.code, gp::kErrorBadParameters) << why;
        EXPECT_EQ(outcome.level, LogLevel::Warning) << why;
        EXPECT_FALSE(outcome.reason.empty()) << why;
    };
    auto one = load_ta_request(kTa);
    one.params.pop_back();
    expect_bad(one, "one param");
    auto three = load_ta_request(kTa);
    three.params.push_back({.type = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT});
    expect_bad(three, "three params");
    auto inout_value = load_ta_request(kTa);
    inout_value.params[0].type = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
    expect_bad(inout_value, "value inout");
    auto input_memref = load_ta_request(kTa);
    input_memref.params[1].type = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
    expect_bad(input_memref, "memref input");
    auto swapped = load_ta_request(kTa);
    std::swap(swapped.params[0], swapped.params[1]);
    expect_bad(swapped, "swapped");

    auto not_load_ta = load_ta_request(kTa);
    not_load_ta.command = kCmdFs;
    EXPECT_EQ(ta_loader.serve(not_load_ta).code, gp::kErrorNotSupported);
}

TEST_F(ATaLoader, ServesFromSeveralThreadsAtOnce) {
    auto file = loadable_ta(kTa);
    put_ta("first", file);
    auto ta_loader = loader();
    std::atomic<int> loaded{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                std::vector<uint8_t> buffer(file.size());
                auto request = load_ta_request(kTa, &buffer);
                if (ta_loader.serve(request).code == gp::kSuccess && buffer == file) ++loaded;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(loaded.load(), 100);
}

TEST(TheSupplicantsImageCheck, IsTheStructureCheck) {
    EXPECT_TRUE(check_ta_image(loadable_ta(kTa)).ok());
    auto bad = loadable_ta(kTa);
    bad[0] = 0;
    auto checked = check_ta_image(bad);
    ASSERT_FALSE(checked.ok());
    EXPECT_EQ(checked.error().kind(), ErrorKind::InvalidArgument);
    EXPECT_THAT(checked.error().message(), HasSubstr("magic"));
}

TEST(TheTaPath, IsSplitAtColonsDroppingEmptyEntries) {
    EXPECT_EQ(parse_ta_path("/a:/b/c:d"), (std::vector<std::string>{"/a", "/b/c", "d"}));
    EXPECT_EQ(parse_ta_path("::/a::/b:"), (std::vector<std::string>{"/a", "/b"}));
    EXPECT_TRUE(parse_ta_path("").empty());
    EXPECT_TRUE(parse_ta_path(":::").empty());
}

TEST(TheTaPath, DefaultsToOpteesDirectoryAndIsReportedAsGiven) {
    EXPECT_EQ(TaLoader(TaLoaderOptions{}).ta_path(),
              (std::vector<std::string>{"/lib/optee_armtz"}));
    EXPECT_EQ(TaLoader({.ta_path = {"/x", "/y/"}}).ta_path(),
              (std::vector<std::string>{"/x", "/y/"}));
}

}  // namespace
}  // namespace teed::supplicant
