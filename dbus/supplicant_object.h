#pragma once
// org.teed.Teed1.Supplicant on a device's object: what teed's supplicant for that TEE uses and
// has done. Adaptor only; every handler catches everything.

#include <sdbus-c++/sdbus-c++.h>

#include "org.teed.Teed1.Supplicant_adaptor.h"

namespace teed {

struct ServedSupplicant;

class SupplicantObject final
    : public sdbus::AdaptorInterfaces<org::teed::Teed1::Supplicant_adaptor> {
public:
    SupplicantObject(sdbus::IConnection& connection, const ServedSupplicant& served);
    ~SupplicantObject();

private:
    std::string DevicePath() override;
    uint32_t Workers() override;
    std::vector<std::string> TaPath() override;
    std::string StorageDirectory() override;
    std::string Rpmb() override;
    std::map<std::string, sdbus::Struct<uint64_t, uint64_t, uint64_t>> GetCounters() override;
    std::map<std::string, sdbus::Variant> GetStatus() override;

    const ServedSupplicant& served_;
};

}  // namespace teed
