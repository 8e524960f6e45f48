#pragma once
// teectl --json output, parsed for the tests that check it: a test failure (with the text) when
// it is not one JSON document.

#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <json/reader.h>

namespace teed::test {

inline Json::Value parse_json(const std::string& text) {
    Json::CharReaderBuilder builder;
    std::unique_ptr<Json::CharReader> reader(builder.newCharReader());
    Json::Value value;
    std::string errors;
    EXPECT_TRUE(reader->parse(text.data(), text.data() + text.size(), &value, &errors))
        << errors << "\n" << text;
    return value;
}

}  // namespace teed::test
