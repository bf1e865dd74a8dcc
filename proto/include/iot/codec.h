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

/**
 * @brief A bump allocator for decoding many messages that are all released together (one ingest
 * batch): allocations come from 64 KiB blocks, freeing one is a no-op, iot_pb_arena_release()
 * returns everything at once. protobuf-c has no arena of its own; on the ingest worker, malloc and
 * free per decoded field were ~10% of its time (callgrind). One arena per thread; do not copy the
 * struct after iot_pb_arena_init() (the allocator points at it).
 */
struct iot_pb_arena {
    ProtobufCAllocator alloc;    /**< pass &arena->alloc to __unpack */
    struct iot_pb_block *blocks; /**< newest first; the head is being filled */
    size_t used;                 /**< bytes taken from the head block */
    size_t bytes;                /**< heap bytes held now */
    size_t failed;               /**< allocations refused (out of memory) */
};

/** @brief Ready @p a for use (no allocation until the first unpack). */
void iot_pb_arena_init(struct iot_pb_arena *a);

/** @brief Return every block to the heap; @p a stays ready for use. */
void iot_pb_arena_release(struct iot_pb_arena *a);

#endif
