/* SPDX-License-Identifier: BSD-2-Clause */
/* The properties of teed's rig TA (see include/teed_rig_ta.h). */
#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <teed_rig_ta.h>

#define TA_UUID TEED_RIG_TA_UUID

/* A new instance for each session; no state is kept between sessions. */
#define TA_FLAGS 0
#define TA_STACK_SIZE (4 * 1024)
#define TA_DATA_SIZE (32 * 1024)

#define TA_VERSION "1.0"
#define TA_DESCRIPTION "teed rig TA: cancellation, large memrefs, shared memory, identity"

#endif
