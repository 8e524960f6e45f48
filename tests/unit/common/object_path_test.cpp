#include "common/object_path.h"

#include <gtest/gtest.h>

namespace teed {
namespace {

TEST(AnObjectPath, NamesTheIdDirectlyUnderItsPrefix) {
    EXPECT_EQ(object_id_under(kSharedMemoryPath, "/org/teed/Teed1/shm/4f2a"), "4f2a");
}

TEST(AnObjectPath, NamesNothingElseThatEndsInAnId) {
    for (const char* path : {"/org/teed/Teed1/sessions/4f2a", "/4f2a", "/org/teed/Teed1/shm",
                             "/org/teed/Teed1/shm/", "/org/teed/Teed1/shmx/4f2a",
                             "/org/teed/Teed1/shm/a/4f2a", "/x/org/teed/Teed1/shm/4f2a", "", "/"}) {
        EXPECT_EQ(object_id_under(kSharedMemoryPath, path), "") << path;
    }
}

}  // namespace
}  // namespace teed
