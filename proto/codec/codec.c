/* SPDX-License-Identifier: Apache-2.0 */
#include "iot/codec.h"

#include "iot/mem.h"

static void *pb_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return iot_malloc(n);
}

static void pb_free(void *ctx, void *p)
{
    (void)ctx;
    iot_free(p);
}

ProtobufCAllocator *iot_pb_allocator(void)
{
    static ProtobufCAllocator a = {pb_alloc, pb_free, NULL};
    return &a;
}
