// Structured logging without a journal: key=value lines on stderr.
#include "common/log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace teed {
namespace {

class TheLog : public testing::Test {
protected:
    void SetUp() override {
        set_log_to_journal(false);
        set_log_level(LogLevel::Info);
    }
    void TearDown() override { set_log_level(LogLevel::Info); }

    template <typename Fields>
    static std::string written(LogLevel level, std::string_view message, const Fields& fields) {
        testing::internal::CaptureStderr();
        log_message(level, message, fields);
        return testing::internal::GetCapturedStderr();
    }
};

TEST_F(TheLog, WritesFieldsKnownOnlyAtRunTimeAsKeyValuePairs) {
    std::vector<LogField> fields{{"TEED_A", "1"}, {"TEED_B", "two words"}};
    std::string out = written(LogLevel::Warning, "something happened", fields);
    EXPECT_NE(out.find("]: level=warning message=\"something happened\" TEED_A=1 "
                       "TEED_B=\"two words\"\n"),
              std::string::npos)
        << out;
}

TEST_F(TheLog, WritesNamedFieldsTheSameWay) {
    testing::internal::CaptureStderr();
    log_warning("something happened", {{"TEED_A", "1"}, {"TEED_B", "two words"}});
    std::string out = testing::internal::GetCapturedStderr();
    EXPECT_NE(out.find("]: level=warning message=\"something happened\" TEED_A=1 "
                       "TEED_B=\"two words\"\n"),
              std::string::npos)
        << out;
}

TEST_F(TheLog, LeavesOutWhatIsBelowItsLevel) {
    set_log_level(LogLevel::Warning);
    std::vector<LogField> fields{{"TEED_A", "1"}};
    EXPECT_EQ(written(LogLevel::Info, "chatter", fields), "");
}

}  // namespace
}  // namespace teed
