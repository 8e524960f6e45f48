#pragma once
// RPMB for the secure world (OPTEE_RPC_CMD_RPMB): OP-TEE keeps its rollback-protected storage in
// an eMMC's Replay Protected Memory Block and reaches it through the supplicant, which passes the
// JEDEC frames to the partition and its answers back (../docs/supplicant.md, section rpmb).
//
//   auto device = TEED_TRY(open_emulated_rpmb("/var/lib/teed/rpmb.img", {}));
//   // or: TEED_TRY(open_mmc_rpmb("/dev/mmcblk0rpmb"));
//   RpmbService rpmb(std::move(device));
//   RpcOutcome outcome = rpmb.serve(request);   // request.command == kCmdRpmb
//
// The supplicant checks no MAC: that is between the secure world and the device. It sees the key
// only in the PROGRAM_KEY frame, once. The emulation plays the device, so it keeps the key in its
// file.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "backends/optee/supplicant/rpc_service.h"
#include "backends/optee/supplicant/rpmb_frame.h"
#include "common/result.h"

namespace teed::supplicant {

// What holds the RPMB partition. Not thread-safe: RpmbService serialises its calls.
class RpmbDevice {
public:
    virtual ~RpmbDevice() = default;
    virtual Result<RpmbDevInfo> dev_info() = 0;
    // One data request as the eMMC protocol runs it, by the first request frame's msg_type:
    //   PROGRAM_KEY, WRITE_DATA: the request frames (a reliable write), a RESULT_READ request,
    //       then one result frame read into `response` (1 frame)
    //   GET_WRITE_COUNTER: 1 request frame, 1 response frame
    //   READ_DATA: 1 request frame, `response.size()` data frames
    // Errors are failures to run the exchange (I/O, a count the protocol does not allow); what
    // the device thinks of the request is in the response frames' op_result.
    virtual Result<void> transfer(std::span<const RpmbFrame> request,
                                  std::span<RpmbFrame> response) = 0;
    // Why the last transfer's result frame reports a failure, when the device knows more than
    // the result code says (the emulation: the file error behind a WRITE_FAILURE). Empty if not.
    virtual std::string last_failure() const { return {}; }
};

// A CID of a made-up eMMC (manufacturer 0, product "TEEDEM", serial 1, with a valid CRC7).
constexpr RpmbCid kDefaultEmulatedCid = {0x00, 0x01, 0x00, 'T',  'E',  'E',  'D',  'E',
                                         'M',  0x10, 0x00, 0x00, 0x00, 0x01, 0x11, 0x7b};

struct EmulatedRpmbOptions {
    uint8_t size_mult = 1;     // partition size in 128 KiB (1-255)
    uint8_t rel_wr_sec_c = 1;  // reliable write sector count: up to 2 × this frames per write
    RpmbCid cid = kDefaultEmulatedCid;
};

// A file-backed emulation of an eMMC RPMB partition with JEDEC semantics: a key programmed once,
// a write counter that only grows (and expires at 0xFFFFFFFF), HMAC-SHA256 over each frame's
// bytes [228, 512), authenticated writes (key, block count, address, MAC and counter checked, in
// the standard's order) and reads (the response signed with the request's nonce).
//
// The file holds the whole device; it is created (with its directory's permission, mode 0600)
// when missing. Each change (key programming, authenticated write) writes the new state to
// `file`.tmp, fsyncs it, renames it over `file` and fsyncs the directory before the device
// answers, so that a crash leaves the old or the new state, and an answered write is on disk.
// A `file`.tmp left by a crash is removed at open. `file`.lock is held (flock) while the
// device is open: a second emulation of the same file is refused with Busy.
//
// Refused at open, naming the file: a file that is not an emulation file, is truncated or whose
// checksum does not match its contents (InvalidArgument), and one made with another size,
// reliable write count or CID than `options` ask for.
Result<std::unique_ptr<RpmbDevice>> open_emulated_rpmb(const std::string& file,
                                                       const EmulatedRpmbOptions& options);

// A real eMMC RPMB partition, `device_path` = /dev/mmcblkNrpmb, driven with MMC_IOC_MULTI_CMD
// (linux/mmc/ioctl.h) as tee-supplicant does. The CID, RPMB size and reliable write count come
// from the card's sysfs attributes (cid, raw_rpmb_size_mult, rel_sectors) under
// `sysfs_root`/class/block/mmcblkN/device/. Errors name the path that failed. Not run on hardware.
Result<std::unique_ptr<RpmbDevice>> open_mmc_rpmb(const std::string& device_path,
                                                  const std::string& sysfs_root = "/sys");
// The sysfs half of open_mmc_rpmb, for `device_path` = /dev/mmcblkNrpmb.
Result<RpmbDevInfo> read_mmc_rpmb_info(const std::string& device_path,
                                       const std::string& sysfs_root);

// Serves kCmdRpmb: memref[0] (MEMREF_INPUT) = struct rpmb_req + frames, memref[1]
// (MEMREF_OUTPUT) = the answer. Requests malformed for the protocol (types, sizes, frame counts,
// dev_id, commands, mixed or unknown message types) get TEEC_ERROR_BAD_PARAMETERS without
// reaching the device; what the device refuses comes back in the frames' op_result with
// TEEC_SUCCESS, as from an eMMC. All requests are serialised by one mutex, as RPMB needs.
class RpmbService final : public RpcService {
public:
    // `dev_id` is the one the secure world was built to ask for (CFG_RPMB_FS_DEV_ID, 0 unless
    // configured otherwise); teed serves a single RPMB device.
    explicit RpmbService(std::unique_ptr<RpmbDevice> device, uint16_t dev_id = 0);
    RpcOutcome serve(RpcRequest& request) override;

private:
    // `payload`: the request's bytes after its header.
    RpcOutcome get_dev_info_unlocked(std::span<const uint8_t> payload, RpcParam& response);
    RpcOutcome data_request_unlocked(const RpmbRequestHeader& header,
                                     std::span<const uint8_t> payload, RpcParam& response);

    std::mutex mutex_;
    std::unique_ptr<RpmbDevice> device_;  // guarded by mutex_
    const uint16_t dev_id_;
};

}  // namespace teed::supplicant
