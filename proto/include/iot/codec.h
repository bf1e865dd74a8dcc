/* SPDX-License-Identifier: Apache-2.0 */
/* Thin helpers over the protoc-c output (iot.pb-c.h, generated into the build tree). */
#ifndef IOT_CODEC_H
#define IOT_CODEC_H
#include <stddef.h>
#include <stdint.h>

#include "iot.pb-c.h"

/** Largest message either side accepts off the wire (oversize payloads are rejected before decoding). */
#define IOT_MAX_PAYLOAD (256u * 1024u)

/** @brief A ProtobufCAllocator that allocates through iot_malloc/iot_free; pass it to every __unpack. */
ProtobufCAllocator *iot_pb_allocator(void);

#endif
