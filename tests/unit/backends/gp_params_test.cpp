#include "backends/optee/gp_params.h"

#include <gtest/gtest.h>

#include "backends/kernel/gp.h"

namespace teed {
namespace {

GpParam param(uint32_t type) {
    GpParam p;
    p.type = type;
    return p;
}

ErrorKind kind_of(const GpParams& params, GpLimits limits = {}) {
    auto r = validate_gp_params(params, limits);
    EXPECT_FALSE(r.ok());
    return r.ok() ? ErrorKind::Internal : r.error().kind();
}

TEST(GpParamValidation, AcceptsValuesAndTemporaryMemrefs) {
    GpParams params{GpParam::value_inout(1), GpParam::temp_input({1, 2, 3}),
                    GpParam::temp_output(16), param(gp::kNone)};
    EXPECT_TRUE(validate_gp_params(params, {}).ok());
}

TEST(GpParamValidation, RejectsMoreThanFourParams) {
    GpParams params(5, param(gp::kNone));
    EXPECT_EQ(kind_of(params), ErrorKind::InvalidArgument);
}

TEST(GpParamValidation, RejectsTypeCodesThatAreNotGlobalPlatform) {
    for (uint32_t type : {0x4u, 0x8u, 0xBu, 0x10u, 0x100u}) {
        SCOPED_TRACE(type);
        EXPECT_EQ(kind_of({param(type)}), ErrorKind::InvalidArgument);
    }
}

TEST(GpParamValidation, RejectsTemporaryMemrefsNamingShmAndRegisteredOnesWithout) {
    GpParam p = GpParam::temp_input({1});
    p.shm = "/org/teed/Teed1/shm/abc";
    EXPECT_EQ(kind_of({p}), ErrorKind::InvalidArgument);
    EXPECT_EQ(kind_of({param(gp::kMemrefWhole)}), ErrorKind::InvalidArgument);
    EXPECT_EQ(kind_of({param(gp::kMemrefPartialInout)}), ErrorKind::InvalidArgument);
}

TEST(GpParamValidation, RejectsMemrefsAboveTheConfiguredMaximum) {
    GpLimits limits{.max_memref_bytes = 100, .max_total_bytes = 1000};
    EXPECT_TRUE(validate_gp_params({GpParam::temp_output(100)}, limits).ok());
    EXPECT_EQ(kind_of({GpParam::temp_output(101)}, limits), ErrorKind::LimitExceeded);
    auto r = validate_gp_params({GpParam::temp_output(101)}, limits);
    EXPECT_NE(r.error().message().find("max_memref_bytes=100"), std::string::npos);
}

TEST(GpParamValidation, RejectsMemrefsWhoseSumExceedsTheCallLimit) {
    GpLimits limits{.max_memref_bytes = 100, .max_total_bytes = 150};
    EXPECT_EQ(kind_of({GpParam::temp_output(100), GpParam::temp_output(100)}, limits),
              ErrorKind::LimitExceeded);
}

TEST(GpParamValidation, RejectsInconsistentTemporaryMemrefs) {
    GpParam out = GpParam::temp_output(4);
    out.data = {1};
    EXPECT_EQ(kind_of({out}), ErrorKind::InvalidArgument);
    GpParam in = GpParam::temp_input({1, 2});
    in.size = 3;
    EXPECT_EQ(kind_of({in}), ErrorKind::InvalidArgument);
    GpParam inout = param(gp::kMemrefTempInout);
    inout.data = {1, 2, 3};
    inout.size = 2;
    EXPECT_EQ(kind_of({inout}), ErrorKind::InvalidArgument);
    GpParam value = GpParam::value_inout(1);
    value.data = {1};
    EXPECT_EQ(kind_of({value}), ErrorKind::InvalidArgument);
}

}  // namespace
}  // namespace teed
